/* ops_priv.h - what ops.c and ops_broker.c share; included only by those. */
#ifndef OPS_PRIV_H
#define OPS_PRIV_H

#include "loop.h"
#include "ops.h"

struct cfg_listener;

/* One `protocol http` listener and its server. */
struct ops_lsn {
    struct ops_lsn *next;
    struct ops *o;
    struct http_server *srv;
    bool basic_auth;
    char name[80]; /* "addr:port" */
};

struct ops {
    struct broker *b;
    struct ops_lsn *lsns;
    struct ops_source *src;
    size_t n_src;
    bool ready;
    struct loop_timer beat;
    bool watching;        /* ops_watch_loop called: the hook arms beat on activity */
    uint64_t beat_events; /* loop_fd_events() at the last beat (or re-arm) */
    unsigned quiet_beats; /* beats in a row with no fd event between them */
    uint64_t last_beat_ms;
    uint64_t last_lag_ms;   /* how late the last heartbeat fired */
    uint64_t last_stall_ms; /* loop time of the last stall, 0 = none */
    uint64_t stall_lag_ms;  /* its lateness */
    uint64_t stalls;
    /* The last Authorization value that verified, good until cache_until:
     * a scraper every 15 s costs one PBKDF2 check a minute, not four. */
    uint8_t cred[512];
    size_t cred_n;
    uint64_t cred_until_ms;
};

/* ops_broker.c: the broker core's, the store's and the HTTP servers'
 * metric families, and their status members. */
void ops_broker_metrics(struct ops *o, struct http_reply *r);
void ops_broker_status(struct ops *o, struct http_reply *r);

#endif
