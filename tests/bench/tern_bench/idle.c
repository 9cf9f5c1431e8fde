/* idle.c - idle mode: N connections with CONNECT and one SUBSCRIBE, held
 * open (the broker's memory and wake-ups per idle client). */
#include <stdio.h>

#include "tern_bench.h"

int run_idle(struct bench *b)
{
    const struct opts *o = &b->o;
    bench_init(b, o->conns);
    for (unsigned i = 0; i < o->conns; i++) {
        b->conns[i].role = ROLE_IDLE;
        b->conns[i].idx = i;
    }
    uint64_t t0 = now_ns();
    connect_all(b);
    double setup_s = (double)(now_ns() - t0) / (double)NS_PER_S;
    fprintf(stderr, "idle: %u connections subscribed in %.2f s; holding\n", b->ready, setup_s);
    printf("READY conns=%u setup_s=%.2f\n", b->ready, setup_s);
    (void)fflush(stdout);
    uint64_t hold_end = now_ns() + (uint64_t)(o->duration_s * (double)NS_PER_S);
    while (!g_stop && now_ns() < hold_end) {
        handle_events(b, 200);
    }
    close_all(b, true);
    printf("RESULT mode=idle conns=%u setup_s=%.2f ok=1\n", b->ready, setup_s);
    return 0;
}
