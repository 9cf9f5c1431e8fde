/* sys.c - mosquitto's $SYS/broker/... topics, retained, every sys_interval
 * seconds while a subscription can match them. Load figures are
 * exponentially weighted moving averages per minute, over 1, 5 and 15
 * minutes, as mosquitto computes them.
 *
 * Nobody subscribed to $SYS: the timer rests, so an idle broker does not
 * wake (issue 15). The retained values then age; the first $SYS
 * subscription publishes them again before its retained messages are sent
 * if they are a sys_interval old or more, so a subscriber never gets
 * values older than mosquitto's would be. */
#include "sys.h"

#include "alloc.h"
#include "broker.h"
#include "log.h"
#include "route.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct load {
    const char *name; /* under $SYS/broker/load/ */
    size_t offset;    /* counter in struct broker_counters */
    uint64_t last;
    double avg[3];
};

static struct load loads[] = {
        {"messages/received", offsetof(struct broker_counters, msgs_received), 0, {0}},
        {"messages/sent", offsetof(struct broker_counters, msgs_sent), 0, {0}},
        {"publish/received", offsetof(struct broker_counters, pub_msgs_received), 0, {0}},
        {"publish/sent", offsetof(struct broker_counters, pub_msgs_sent), 0, {0}},
        {"publish/dropped", offsetof(struct broker_counters, pub_dropped), 0, {0}},
        {"bytes/received", offsetof(struct broker_counters, bytes_received), 0, {0}},
        {"bytes/sent", offsetof(struct broker_counters, bytes_sent), 0, {0}},
        {"connections", offsetof(struct broker_counters, connections_accepted), 0, {0}},
};

static void pub(struct broker *b, const char *topic, const char *value)
{
    struct gw_bytes t = gw_bytes_str(topic);
    struct gw_bytes v = gw_bytes_str(value);
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(t, v, none, 0, true);
    if (!m) {
        return;
    }
    broker_publish(b, m);
    msg_unref(m);
}

static void pub_u64(struct broker *b, const char *topic, uint64_t v)
{
    char s[32];
    (void)snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    pub(b, topic, s);
}

/* e^-x for x >= 0, to about 1e-12: the loads' decay. Not libm's exp:
 * it is the only function Tern took from libm, and mapping libm cost an
 * idle tern 330 KiB of its resident set (issue 15). x = k ln 2 + r with
 * 0 <= r < ln 2: e^-x = 2^-k e^-r, e^-r by its series (r^15 / 15! < 1e-14). */
static double decay(double x)
{
    static const double ln2 = 0.69314718055994530942;
    if (!(x > 0.0)) {
        return 1.0;
    }
    if (x > 745.0) {
        return 0.0; /* below the smallest double */
    }
    unsigned k = (unsigned)(x / ln2);
    double r = x - (double)k * ln2;
    double term = 1.0;
    double sum = 1.0;
    for (int n = 1; n <= 15; n++) {
        term *= -r / (double)n;
        sum += term;
    }
    while (k-- > 0) {
        sum *= 0.5;
    }
    return sum;
}

static void update_loads(struct broker *b, double interval_s)
{
    static const double minutes[3] = {1.0, 5.0, 15.0};
    static const char *const suffix[3] = {"1min", "5min", "15min"};
    for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
        struct load *ld = &loads[i];
        uint64_t now;
        memcpy(&now, (const uint8_t *)&b->st + ld->offset, sizeof(now));
        double per_min = (double)(now - ld->last) * 60.0 / interval_s; /* > 0: sys_publish */
        ld->last = now;
        for (int k = 0; k < 3; k++) {
            double alpha = decay(interval_s / (60.0 * minutes[k]));
            ld->avg[k] = per_min + alpha * (ld->avg[k] - per_min);
            char topic[96];
            char val[32];
            (void)snprintf(topic, sizeof(topic), "$SYS/broker/load/%s/%s", ld->name, suffix[k]);
            (void)snprintf(val, sizeof(val), "%.2f", ld->avg[k]);
            pub(b, topic, val);
        }
    }
}

/* The durable store's figures, under $SYS/broker/store/ (Tern's own). */
static void store_figures(struct broker *b)
{
    struct store_stats ss;
    if (!b->persist.store || store_stats(b->persist.store, &ss) < 0) {
        return;
    }
    pub_u64(b, "$SYS/broker/store/sessions", ss.sessions);
    pub_u64(b, "$SYS/broker/store/queued", ss.queued);
    pub_u64(b, "$SYS/broker/store/messages", ss.messages);
    pub_u64(b, "$SYS/broker/store/inflight", ss.inflight);
    pub_u64(b, "$SYS/broker/store/retained", ss.retained);
    pub_u64(b, "$SYS/broker/store/bytes", ss.used_bytes);
    pub_u64(b, "$SYS/broker/store/map_bytes", ss.map_bytes);
    pub_u64(b, "$SYS/broker/store/batches", ss.batches);
    pub_u64(b, "$SYS/broker/store/batch_ops_max", ss.batch_ops_max);
    pub_u64(b, "$SYS/broker/store/batch_ops_total", ss.batch_ops_total);
    pub_u64(b, "$SYS/broker/store/refused", b->persist.refused);
    pub_u64(b, "$SYS/broker/store/dropped", b->persist.dropped);
    pub_u64(b, "$SYS/broker/store/errors", b->persist.errors);
}

void sys_publish(struct broker *b)
{
    const struct broker_counters *st = &b->st;
    char s[64];
    uint64_t up = (loop_now_ms(b->loop) - b->start_ms) / 1000u;
    (void)snprintf(s, sizeof(s), "%llu seconds", (unsigned long long)up);
    pub(b, "$SYS/broker/uptime", s);
    size_t total = b->sessions.count;
    pub_u64(b, "$SYS/broker/clients/connected", b->n_clients);
    pub_u64(b, "$SYS/broker/clients/active", b->n_clients);
    pub_u64(b, "$SYS/broker/clients/total", total);
    pub_u64(b, "$SYS/broker/clients/disconnected", total > b->n_clients ? total - b->n_clients : 0);
    pub_u64(b, "$SYS/broker/clients/inactive", total > b->n_clients ? total - b->n_clients : 0);
    pub_u64(b, "$SYS/broker/clients/maximum", st->clients_maximum);
    pub_u64(b, "$SYS/broker/messages/received", st->msgs_received);
    pub_u64(b, "$SYS/broker/messages/sent", st->msgs_sent);
    pub_u64(b, "$SYS/broker/messages/inflight", b->scnt.inflight);
    pub_u64(b, "$SYS/broker/messages/stored", b->scnt.queued + b->scnt.inflight);
    pub_u64(b, "$SYS/broker/publish/messages/received", st->pub_msgs_received);
    pub_u64(b, "$SYS/broker/publish/messages/sent", st->pub_msgs_sent);
    pub_u64(b, "$SYS/broker/publish/messages/dropped",
            st->pub_dropped + b->scnt.dropped_queue_full + b->scnt.dropped_qos0_slow);
    pub_u64(b, "$SYS/broker/publish/bytes/received", st->pub_bytes_received);
    pub_u64(b, "$SYS/broker/publish/bytes/sent", st->pub_bytes_sent);
    pub_u64(b, "$SYS/broker/bytes/received", st->bytes_received);
    pub_u64(b, "$SYS/broker/bytes/sent", st->bytes_sent);
    pub_u64(b, "$SYS/broker/subscriptions/count", route_sub_count(b->route));
    pub_u64(b, "$SYS/broker/retained messages/count", route_retain_count(b->route));
    pub_u64(b, "$SYS/broker/heap/current", gw_alloc_bytes());
    pub_u64(b, "$SYS/broker/connections/refused", st->connections_refused);
    pub_u64(b, "$SYS/broker/memory/refused", st->memory_refused);
    pub_u64(b, "$SYS/broker/rate/dropped", st->rate_dropped);
    pub_u64(b, "$SYS/broker/rate/slowed", st->rate_slowed);
    pub_u64(b, "$SYS/broker/rate/connections_refused", st->rate_refused);
    pub_u64(b, "$SYS/broker/connections/protocol_errors", st->protocol_errors);
    pub_u64(b, "$SYS/broker/mqttsn/unproven/evicted", st->sn_unproven_evicted);
    store_figures(b);
    /* The real time since the last round: the timer rests without readers. */
    uint64_t now = loop_now_ms(b->loop);
    uint64_t since = b->sys_last_ms ? now - b->sys_last_ms : (uint64_t)b->cfg->sys_interval * 1000u;
    update_loads(b, since ? (double)since / 1000.0 : 0.001);
    b->sys_last_ms = now;
    for (size_t i = 0; i < b->n_sys_src; i++) {
        b->sys_src[i].fn(b->sys_src[i].arg);
    }
}

static void on_sys_timer(struct loop *l, void *arg)
{
    struct broker *b = arg;
    if (b->cfg->sys_interval == 0 || route_sys_sub_count(b->route) == 0) {
        return; /* nobody reads $SYS: rest until sys_wake */
    }
    sys_publish(b);
    (void)loop_timer_start(l, &b->sys_timer, loop_now_ms(l) + (uint64_t)b->cfg->sys_interval * 1000u);
}

void sys_refresh(struct broker *b)
{
    uint64_t every = (uint64_t)b->cfg->sys_interval * 1000u;
    if (every && (!b->sys_last_ms || loop_now_ms(b->loop) - b->sys_last_ms >= every)) {
        sys_publish(b);
    }
}

void sys_wake(struct broker *b)
{
    if (b->cfg->sys_interval == 0 || loop_timer_armed(&b->sys_timer) ||
        route_sys_sub_count(b->route) == 0) {
        return;
    }
    sys_refresh(b);
    (void)loop_timer_start(b->loop, &b->sys_timer,
                           b->sys_last_ms + (uint64_t)b->cfg->sys_interval * 1000u);
}

int sys_start(struct broker *b)
{
    loop_timer_init(&b->sys_timer, on_sys_timer, b);
    pub(b, "$SYS/broker/version", "tern version " TERN_VERSION);
    sys_wake(b); /* subscriptions restored from the store */
    return 0;
}
