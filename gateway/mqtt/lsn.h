/* lsn.h - TCP listeners: bind, listen, accept into connections. */
#ifndef LSN_H
#define LSN_H

#include "cfg.h"
#include "loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct broker;
struct mqtt_fe;
struct stream;
struct stream_tls_conf;
struct tb_table;

struct lsn {
    struct broker *b;
    struct mqtt_fe *fe;
    const struct cfg_listener *cfg; /* borrowed from the broker's config */
    int fd;
    int max_connections; /* -1 = unlimited */
    bool allow_anonymous;
    bool websockets; /* protocol websockets: MQTT inside WebSocket frames */
    size_t n_conns;
    /* Out of descriptors (EMFILE/ENFILE) or kernel memory: accepting
     * stops until a connection closes or the timer retries. */
    struct loop_timer pause_timer;
    bool paused;
    bool fd_episode;    /* logged the failure; cleared by the next accept */
    bool full_episode;  /* logged max_connections; cleared likewise */
    uint64_t refused;   /* over max_connections in this episode */
    struct tb_table *rates; /* max_connection_rate per source address, made on first use */
    struct stream_tls_conf *tls; /* TLS listener: the conf new connections get; NULL = plain */
    char name[80]; /* "addr:port" */
    struct lsn *next;
};

/* Open a listener for cl (IPv4 or IPv6 by its address; NULL address = all
 * addresses, dual-stack). Returns 0 and *out, or -errno. */
int lsn_open(struct mqtt_fe *fe, const struct cfg_listener *cl, struct lsn **out);

/* One of l's connections closed: a descriptor is free again, so a
 * listener paused by EMFILE accepts again at once. */
void lsn_conn_closed(struct lsn *l);

/* The stream an accepted socket of a plain (not TLS) listener l speaks
 * through: TCP in tcp (storage inside the connection), wrapped in a
 * WebSocket for protocol websockets. NULL: no memory (fd is not closed). */
struct stream *lsn_stream(struct lsn *l, int fd, struct stream *tcp);

/* inner wrapped in a WebSocket with l's limits (ws:// over TCP, wss://
 * over TLS). NULL: no memory; inner is then destroyed but its socket left
 * open (the caller closes it). */
struct stream *lsn_wrap_websocket(struct lsn *l, struct stream *inner);

/* lsn_tls.c: an accepted socket of TLS listener l goes to the handshake
 * worker (counted in l->n_conns and connections_accepted from here).
 * Returns 0, or -ENOMEM (fd is closed then). */
int lsn_tls_accept(struct lsn *l, int fd, const struct sockaddr_storage *peer);

/* lsn_tls.c: the handshake worker's done callback (ctx: the mqtt_fe):
 * an established stream becomes a connection, a failed one is logged with
 * its reason and closed. */
struct tls_hs_result;
void lsn_tls_done(void *ctx, const struct tls_hs_result *r);
/* lsn_tls.c: read and check cl's TLS files without opening anything
 * (--check-config). Returns 0 (also without TLS), or GW_E_CONFIG / -ENOMEM
 * with the file and mbedTLS's reason in err. */
int lsn_tls_check(const struct cfg_listener *cl, char *err, size_t errcap);

/* lsn_tls.c: read the TLS files of l's configuration into l->tls (no-op
 * without TLS options). Returns 0, or GW_E_CONFIG / -ENOMEM after logging
 * the file and mbedTLS's reason. */
int lsn_tls_open(struct lsn *l);

/* SIGHUP: read the TLS files again; on success new connections get the
 * new conf (open ones keep theirs), on failure the old one stays and the
 * reason is logged. */
void lsn_tls_reload(struct lsn *l);

/* Close and free. */
void lsn_close(struct lsn *l);

#endif
