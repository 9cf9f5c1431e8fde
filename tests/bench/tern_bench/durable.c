/* durable.c - durable mode and its three phases: an offline persistent
 * subscriber, QoS 1 publishers to it, and its drain with order checks. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tern_bench.h"

/* A fresh bench for one phase: subs subscriber conns then pubs publishers. */
static struct bench *dur_new(const struct opts *o, enum bench_mode mode, unsigned subs,
                             unsigned pubs)
{
    struct bench *b = xcalloc(1, sizeof(*b));
    b->o = *o;
    b->o.mode = mode;
    b->o.qos = 1;
    b->session_present = -1;
    bench_init(b, subs + pubs);
    b->fan = 1;
    b->topics = xcalloc(o->pubs, sizeof(*b->topics));
    b->recv_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->resolved_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->next_seq = xcalloc(o->pubs, sizeof(uint32_t));
    b->payload = xcalloc(o->payload, 1);
    memset(b->payload, 'x', o->payload);
    for (unsigned i = 0; i < subs + pubs; i++) {
        b->conns[i].role = i < subs ? ROLE_SUB : ROLE_PUB;
        b->conns[i].idx = i < subs ? i : i - subs;
    }
    for (unsigned i = 0; i < o->pubs; i++) {
        snprintf(b->topics[i], sizeof(b->topics[i]), "%s", o->topic);
    }
    b->o.subs = subs;
    return b;
}

/* CONNECT (clean session 0) + SUBSCRIBE QoS 1, then DISCONNECT: offline. */
static int run_dur_sub(const struct opts *o)
{
    struct bench *b = dur_new(o, MODE_DUR_SUB, 1, 0);
    connect_all(b);
    uint64_t end = now_ns() + 100ull * 1000000ull; /* ack anything already queued */
    while (now_ns() < end) {
        handle_events(b, 10);
    }
    close_all(b, false);
    fprintf(stderr, "durable-sub: '%s' subscribed to '%s' QoS 1 (clean session 0), offline%s\n",
            o->client_id, o->topic, b->stale ? " (WARNING: it had queued messages)" : "");
    printf("RESULT mode=durable-sub client_id=%s topic=%s stale=%" PRIu64 " ok=1\n", o->client_id,
           o->topic, b->stale);
    (void)fflush(stdout);
    return 0;
}

/* P publishers, QoS 1, W unacked each, for -d seconds or -n messages; then
 * up to -D seconds for the last PUBACKs. Figure: PUBACKs/s. */
static int run_dur_pub(const struct opts *o, uint64_t *acked_out)
{
    struct bench *b = dur_new(o, MODE_DUR_PUB, 0, o->pubs);
    connect_all(b);
    b->t_start = now_ns();
    b->t_last_ack = b->t_start;
    uint64_t pub_end = b->t_start + (uint64_t)(o->duration_s * (double)NS_PER_S);
    uint64_t drain_end = 0;
    uint64_t cpu0 = cpu_ns();
    bool publishing = true;
    for (;;) {
        uint64_t now = now_ns();
        if (publishing &&
            (now >= pub_end || g_stop || (o->count > 0 && b->total_sent >= o->count))) {
            publishing = false;
            drain_end = now + (uint64_t)(o->drain_s * (double)NS_PER_S);
        }
        if (publishing) {
            pump_publishers(b);
            flush_dirty(b);
        } else if (b->total_acked == b->total_sent || now >= drain_end) {
            break;
        }
        handle_events(b, 5);
    }
    double gen_cpu_s = (double)(cpu_ns() - cpu0) / (double)NS_PER_S;
    double elapsed_s = (double)(b->t_last_ack - b->t_start) / (double)NS_PER_S;
    double rate = elapsed_s > 0 ? (double)b->total_acked / elapsed_s : 0.0;
    double gen_pct = elapsed_s > 0 ? 100.0 * gen_cpu_s / elapsed_s : 0.0;
    bool ok = b->total_acked == b->total_sent;
    fprintf(stderr,
            "durable-pub %u pubs window %u: sent=%" PRIu64 " acked=%" PRIu64
            " in %.3f s = %.0f PUBACKs/s (generator cpu %.0f%%)\n",
            o->pubs, o->window, b->total_sent, b->total_acked, elapsed_s, rate, gen_pct);
    if (!ok) {
        fprintf(stderr, "WARNING: %" PRIu64 " of %" PRIu64 " PUBLISHes not acknowledged after %.1f s\n",
                b->total_sent - b->total_acked, b->total_sent, o->drain_s);
    }
    printf("RESULT mode=durable-pub pubs=%u window=%u payload=%zu sent=%" PRIu64 " acked=%" PRIu64
           " elapsed_s=%.3f acks_per_s=%.0f gen_cpu_pct=%.0f ok=%d\n",
           o->pubs, o->window, o->payload, b->total_sent, b->total_acked, elapsed_s, rate, gen_pct,
           ok ? 1 : 0);
    (void)fflush(stdout);
    close_all(b, false);
    if (acked_out != NULL) {
        *acked_out = b->total_acked;
    }
    return ok ? 0 : 2;
}

/* The subscriber reconnects (clean session 0, no SUBSCRIBE) and receives its
 * queue: every publisher's sequence must start at 0 and have no gap or
 * duplicate. Stops after -n messages (the rest left unacked, in the store),
 * after -e messages plus a short grace (extras would be counted), after -D
 * seconds without a delivery, or after -d seconds in all. */
static int run_dur_drain(const struct opts *o)
{
    struct bench *b = dur_new(o, MODE_DUR_DRAIN, 1, 0);
    uint64_t t0 = now_ns();
    connect_all(b);
    b->t_start = now_ns();
    b->t_last_recv = b->t_start;
    b->t_progress = b->t_start;
    fprintf(stderr, "durable-drain '%s': connected, session present %d\n", o->client_id,
            b->session_present);
    uint64_t end = b->t_start + (uint64_t)(o->duration_s * (double)NS_PER_S);
    uint64_t quiet_ns = (uint64_t)(o->drain_s * (double)NS_PER_S);
    uint64_t cpu0 = cpu_ns();
    uint64_t t_expect = 0;
    const char *why = "deadline";
    for (;;) {
        uint64_t now = now_ns();
        if (o->count > 0 && b->received >= o->count) {
            why = "count";
            break;
        }
        if (o->expect > 0 && b->received >= o->expect && t_expect == 0) {
            t_expect = now;
        }
        if (t_expect != 0 && now - t_expect >= DUR_GRACE_NS) {
            why = "expected";
            break;
        }
        if (now - b->t_progress >= quiet_ns) {
            why = "quiet";
            break;
        }
        if (now >= end || g_stop) {
            break;
        }
        handle_events(b, 5);
    }
    flush_dirty(b); /* the last PUBACKs */
    double gen_cpu_s = (double)(cpu_ns() - cpu0) / (double)NS_PER_S;
    double elapsed_s = (double)(b->t_last_recv - b->t_start) / (double)NS_PER_S;
    double rate = elapsed_s > 0 ? (double)b->received / elapsed_s : 0.0;
    /* First to last delivery: the stream's own duration, whenever it began. */
    uint64_t t_first = b->t_first_recv ? b->t_first_recv : b->t_last_recv;
    double stream_s = (double)(b->t_last_recv - t_first) / (double)NS_PER_S;
    bool ok = b->dup == 0 && b->gaps == 0 && b->session_present == 1 &&
              (o->expect == 0 || b->received == o->expect) &&
              (o->count == 0 || b->received == o->count);
    fprintf(stderr,
            "durable-drain '%s': session_present=%d received=%" PRIu64 " gaps=%" PRIu64
            " dup=%" PRIu64 " in %.3f s = %.0f msgs/s (connect %.3f s, stop: %s, generator cpu"
            " %.0f%%)\n",
            o->client_id, b->session_present, b->received, b->gaps, b->dup, elapsed_s, rate,
            (double)(b->t_start - t0) / (double)NS_PER_S, why,
            elapsed_s > 0 ? 100.0 * gen_cpu_s / elapsed_s : 0.0);
    if (!ok) {
        fprintf(stderr,
                "WARNING: drain mismatch: received=%" PRIu64 " expected=%" PRIu64
                " (-n %" PRIu64 ") gaps=%" PRIu64 " dup=%" PRIu64 " session_present=%d\n",
                b->received, o->expect, o->count, b->gaps, b->dup, b->session_present);
    }
    printf("RESULT mode=durable-drain client_id=%s session_present=%d received=%" PRIu64
           " expected=%" PRIu64 " gaps=%" PRIu64 " dup=%" PRIu64 " beyond=%" PRIu64
           " connect_s=%.3f elapsed_s=%.3f msgs_per_s=%.0f stream_s=%.3f first_at=%.6f"
           " last_at=%.6f stop=%s ok=%d\n",
           o->client_id, b->session_present, b->received, o->expect, b->gaps, b->dup, b->beyond,
           (double)(b->t_start - t0) / (double)NS_PER_S, elapsed_s, rate, stream_s, wall_s(t_first),
           wall_s(b->t_last_recv), why, ok ? 1 : 0);
    (void)fflush(stdout);
    close_all(b, false);
    return ok ? 0 : 2;
}

int run_durable(struct opts *o)
{
    if (o->mode == MODE_DUR_SUB) {
        return run_dur_sub(o);
    }
    if (o->mode == MODE_DUR_PUB) {
        return run_dur_pub(o, NULL);
    }
    if (o->mode == MODE_DUR_DRAIN) {
        return run_dur_drain(o);
    }
    uint64_t acked = 0;
    int rc = run_dur_sub(o);
    int rc_pub = run_dur_pub(o, &acked);
    if (rc_pub == 1) {
        return 1;
    }
    struct opts d = *o;
    d.expect = acked;
    d.count = 0;
    d.duration_s = o->drain_max_s;
    d.drain_s = 3.0;
    int rc_drain = run_dur_drain(&d);
    return rc != 0 ? rc : rc_pub != 0 ? rc_pub : rc_drain;
}
