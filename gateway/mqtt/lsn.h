/* lsn.h - TCP listeners: bind, listen, accept into connections. */
#ifndef LSN_H
#define LSN_H

#include "cfg.h"

#include <stddef.h>

struct broker;
struct mqtt_fe;

struct lsn {
    struct broker *b;
    struct mqtt_fe *fe;
    const struct cfg_listener *cfg; /* borrowed from the broker's config */
    int fd;
    int max_connections; /* -1 = unlimited */
    bool allow_anonymous;
    size_t n_conns;
    char name[80]; /* "addr:port" */
    struct lsn *next;
};

/* Open a listener for cl (IPv4 or IPv6 by its address; NULL address = all
 * addresses, dual-stack). Returns 0 and *out, or -errno. */
int lsn_open(struct mqtt_fe *fe, const struct cfg_listener *cl, struct lsn **out);

/* Close and free. */
void lsn_close(struct lsn *l);

#endif
