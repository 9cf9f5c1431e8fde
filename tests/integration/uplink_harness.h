/* uplink_harness.h - what the uplink integration tests share: one
 * uplink_io on a real loop with callbacks that record what happened (struct
 * ctx), and a plain TCP peer on the same loop (struct peer). */
#ifndef UPLINK_HARNESS_H
#define UPLINK_HARNESS_H

#include "loop.h"
#include "uplink_io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUARD_MS 10000 /* bound of one loop run; no case should come near it */

struct ctx {
    struct loop *l;
    struct uplink_io *io;
    struct loop_timer guard;
    bool timed_out;
    int n_connected;
    int n_closed;
    int n_drained;
    char reason[256];
    char rx[4096]; /* the last bytes received, NUL-terminated */
    size_t rx_n;
    size_t rx_total;    /* bytes received in all */
    const char *say;    /* written on connected() */
    const char *expect; /* stop once rx holds this */
    bool stop_on_connected;
    size_t heap_before; /* gw_alloc_bytes() at ctx_init */
};

extern const struct uplink_io_cb ctx_cb;

void ctx_init(struct ctx *c);

/* Run the loop until a callback stops it or ms pass (then timed_out). */
void ctx_run(struct ctx *c, uint64_t ms);

/* uplink_io_open with ctx_cb; asserts no callback ran inside. */
void ctx_open(struct ctx *c, const char *host, uint16_t port, struct uplink_tls *tls);

/* Free the uplink and the loop; asserts the heap is back where it was. */
void ctx_fini(struct ctx *c);

/* The stream ended: closed() once, then nothing more, writes refused. */
void assert_closed_once(struct ctx *c);
void assert_reason_has(const struct ctx *c, const char *what);

struct peer {
    struct loop *l;
    int lfd;
    int cfd;
    size_t got;
    bool pattern_ok;
    char head[64]; /* the first bytes received */
    size_t want;   /* stop the loop after this many bytes (0 = no) */
    struct ctx *c; /* ... and once c was drained */
    bool hold;     /* accept, then say nothing */
};

/* A listening socket on 127.0.0.1 with a kernel-picked port. */
int listen_local(int backlog);
uint16_t bound_port(int fd);

/* Listen on 127.0.0.1; accepted connections are served on c's loop. */
void peer_start(struct peer *p, struct loop *l);
void peer_stop(struct peer *p);

#endif
