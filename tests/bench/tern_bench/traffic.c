/* traffic.c - throughput and latency mode: P publishers -> S subscribers
 * in one of three layouts; latency is the same loop at a fixed rate with
 * its deliveries sampled (latency.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tern_bench.h"

static void traffic_setup(struct bench *b)
{
    const struct opts *o = &b->o;
    bench_init(b, o->subs + o->pubs);
    b->fan = o->layout == LAYOUT_PAIRS ? 1 : o->subs;
    b->topics = xcalloc(o->pubs, sizeof(*b->topics));
    b->recv_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->resolved_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->next_seq = xcalloc((size_t)o->pubs * o->subs, sizeof(uint32_t));
    b->payload = xcalloc(o->payload, 1);
    memset(b->payload, 'x', o->payload);
    for (unsigned i = 0; i < o->subs + o->pubs; i++) {
        struct conn *c = &b->conns[i];
        c->role = i < o->subs ? ROLE_SUB : ROLE_PUB;
        c->idx = i < o->subs ? i : i - o->subs;
    }
    for (unsigned i = 0; i < o->pubs; i++) {
        unsigned t = o->layout == LAYOUT_FANOUT ? 0 : o->layout == LAYOUT_PAIRS ? i % o->subs : i;
        snprintf(b->topics[i], sizeof(b->topics[i]), "%s/%u", b->prefix, t);
    }
}





/* QoS 0 may legitimately lose messages; a lost message would hold its
 * publisher's window forever, so after a stall count the missing as lost. */
static void forgive_stall(struct bench *b)
{
    for (unsigned i = 0; i < b->o.pubs; i++) {
        const struct conn *c = &b->conns[b->o.subs + i];
        uint64_t due = c->sent * b->fan;
        if (b->resolved_from[i] < due) {
            b->forgiven += due - b->resolved_from[i];
            b->resolved_from[i] = due;
        }
    }
}

static bool traffic_done(const struct bench *b)
{
    return b->received >= b->total_sent * b->fan &&
           (b->o.qos == 0 || b->total_acked == b->total_sent);
}



static int traffic_report(struct bench *b, double elapsed_s, double gen_cpu_s)
{
    const struct opts *o = &b->o;
    uint64_t expected = b->total_sent * b->fan;
    uint64_t lost = expected > b->received ? expected - b->received : 0;
    bool ok = b->received == expected && b->dup == 0 && b->total_acked == b->total_sent;
    if (o->qos == 0) {
        ok = b->dup == 0;
    }
    latency_sort(b);
    double rate = elapsed_s > 0 ? (double)b->received / elapsed_s : 0.0;
    double gen_pct = elapsed_s > 0 ? 100.0 * gen_cpu_s / elapsed_s : 0.0;
    fprintf(stderr,
            "%s %s %u->%u qos%u %zuB: sent=%" PRIu64 " expected=%" PRIu64 " received=%" PRIu64
            " lost=%" PRIu64 " (mid-stream %" PRIu64 ") dup=%" PRIu64
            " in %.3f s = %.0f deliveries/s (generator cpu %.0f%%)\n",
            o->mode == MODE_LATENCY ? "latency" : "throughput", layout_names[o->layout], o->pubs,
            o->subs, o->qos, o->payload, b->total_sent, expected, b->received, lost, b->gaps,
            b->dup, elapsed_s, rate, gen_pct);
    if (!ok) {
        fprintf(stderr,
                "WARNING: count mismatch: QoS %u must deliver every message exactly once"
                " (expected=%" PRIu64 " received=%" PRIu64 " dup=%" PRIu64 " acked=%" PRIu64
                "/%" PRIu64 ")\n",
                o->qos, expected, b->received, b->dup, b->total_acked, b->total_sent);
    }
    if (o->mode == MODE_LATENCY) {
        fprintf(stderr,
                "latency (%zu samples after %.1f s warm-up): p50=%.1f us p99=%.1f us max=%.1f us\n",
                b->nlat, o->warmup_s, pct_us(b->lat_ns, b->nlat, 50),
                pct_us(b->lat_ns, b->nlat, 99), pct_us(b->lat_ns, b->nlat, 100));
    }
    printf("RESULT mode=%s layout=%s pubs=%u subs=%u qos=%u payload=%zu sent=%" PRIu64
           " expected=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64
           " gaps=%" PRIu64 " acked=%" PRIu64
           " elapsed_s=%.3f msgs_per_s=%.0f gen_cpu_pct=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f"
           " samples=%zu ok=%d\n",
           o->mode == MODE_LATENCY ? "latency" : "throughput", layout_names[o->layout], o->pubs,
           o->subs, o->qos, o->payload, b->total_sent, expected, b->received, lost, b->dup, b->gaps,
           b->total_acked, elapsed_s, rate, gen_pct, pct_us(b->lat_ns, b->nlat, 50),
           pct_us(b->lat_ns, b->nlat, 99), pct_us(b->lat_ns, b->nlat, 100), b->nlat, ok ? 1 : 0);
    (void)fflush(stdout);
    return ok ? 0 : 2;
}

int run_traffic(struct bench *b)
{
    const struct opts *o = &b->o;
    traffic_setup(b);
    connect_all(b);
    b->t_start = now_ns();
    b->t_warm = b->t_start + (uint64_t)(o->warmup_s * (double)NS_PER_S);
    b->t_last_recv = b->t_start;
    b->t_progress = b->t_start;
    uint64_t pub_end = b->t_start + (uint64_t)(o->duration_s * (double)NS_PER_S);
    uint64_t drain_end = 0;
    uint64_t cpu0 = cpu_ns();
    bool publishing = true;
    if (o->rate > 0) {
        start_rate_timer(b);
    }
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
        } else if (traffic_done(b) || now >= drain_end ||
                   (o->qos == 0 && now - b->t_progress > QOS0_STALL_NS)) {
            break;
        }
        if (o->qos == 0 && publishing && now - b->t_progress > QOS0_STALL_NS) {
            forgive_stall(b);
            b->t_progress = now;
        }
        handle_events(b, 5);
    }
    double gen_cpu_s = (double)(cpu_ns() - cpu0) / (double)NS_PER_S;
    double elapsed_s = (double)(b->t_last_recv - b->t_start) / (double)NS_PER_S;
    int rc = traffic_report(b, elapsed_s, gen_cpu_s);
    close_all(b, false);
    return rc;
}
