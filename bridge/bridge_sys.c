/* bridge_sys.c - a bridge's figures under $SYS/broker/bridge/NAME/, every
 * sys_interval seconds, retained like the broker's own $SYS topics:
 *
 *   state                 connected | connecting | disconnected
 *   address               host:port of the current or last attempt
 *   connects              connections accepted by the upstream
 *   backlog/messages      queued + in flight, memory and disk
 *   backlog/bytes         their payload bytes
 *   backlog/inflight      sent, not yet acknowledged
 *   backlog/oldest_age    seconds since the oldest one was received
 *   replay/rate           messages acknowledged per second, last interval
 *   messages/sent         PUBLISH packets sent upstream (resends included)
 *   messages/acknowledged messages the upstream acknowledged
 *   messages/received     PUBLISH packets from the upstream
 *   dropped/full          backlog full (bridge_backlog_policy)
 *   dropped/age           older than bridge_backlog_max_age
 *   dropped/expired       MQTT 5 message expiry passed while queued
 *   dropped/too_large     over the upstream's maximum packet size
 *   dropped/unmapped      no out line maps the topic (any more), or the mapped
 *                         topic would pass 65,535 bytes
 *   dropped/rejected      refused by the upstream with an MQTT 5 reason code
 *   downgraded            QoS 2 messages the upstream answered with PUBACK
 *   dropped/poison        moved aside: the upstream closed on them every time
 *   refused               publishes refused (policy refuse)
 *   messages/refused_in   inbound messages not acknowledged: the store refused them */
#include "bridge_priv.h"
#include "broker.h"
#include "clock.h"
#include "store.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

static void publish_fig(struct bridge *br, const char *name, const char *value)
{
    char topic[256];
    int n = snprintf(topic, sizeof(topic), "$SYS/broker/bridge/%s/%s", br->cfg.name, name);
    if (n < 0 || (size_t)n >= sizeof(topic)) {
        return;
    }
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(gw_bytes_str(topic), gw_bytes_str(value), none, 0, true);
    if (m) {
        svc_publish_msg(br->b, m, NULL, NULL);
        msg_unref(m);
    }
}

static void publish_u64(struct bridge *br, const char *name, uint64_t v)
{
    char s[32];
    (void)snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    publish_fig(br, name, s);
}

static int first_created(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    (void)e;
    *(int64_t *)arg = (int64_t)m->created_s;
    return 0;
}

uint64_t bridge_oldest_age_s(struct bridge *br)
{
    const struct sess *s = br->s;
    if (!s) {
        return 0;
    }
    int64_t oldest = 0;
    if (s->n_out > 0) {
        oldest = s->out[0].m->created_s;
    } else if (s->q_head) {
        oldest = s->q_head->m->created_s;
    } else if (s->q_store_len > 0 && br->b->persist.store) {
        (void)store_queue_read(br->b->persist.store, s->owner, s->q_store_after, 1, first_created,
                               &oldest);
    }
    int64_t now = gw_clock_wall_s();
    return oldest > 0 && now > oldest ? (uint64_t)(now - oldest) : 0;
}

static void on_sys(struct loop *l, void *arg)
{
    struct bridge *br = arg;
    uint32_t every = br->b->cfg->sys_interval;
    if (every == 0 || !br->s) {
        return;
    }
    uint64_t now = loop_now_ms(l);
    if (br->rate_mark_ms && now > br->rate_mark_ms) {
        br->replay_rate = (double)(br->acked - br->rate_mark_acked) * 1000.0 /
                          (double)(now - br->rate_mark_ms);
    }
    br->rate_mark_ms = now;
    br->rate_mark_acked = br->acked;

    const struct sess *s = br->s;
    char v[64];
    publish_fig(br, "state", bridge_state_name(br->state));
    const struct cfg_bridge_addr *a = &br->cfg.addrs[br->addr_idx % br->cfg.n_addrs];
    (void)snprintf(v, sizeof(v), "%s:%u", a->host, a->port);
    publish_fig(br, "address", v);
    publish_u64(br, "connects", br->connects);
    publish_u64(br, "backlog/messages", sess_queue_len(s) + s->n_out);
    publish_u64(br, "backlog/bytes", sess_queue_bytes(s) + s->out_bytes);
    publish_u64(br, "backlog/inflight", s->n_out);
    publish_u64(br, "backlog/oldest_age", bridge_oldest_age_s(br));
    (void)snprintf(v, sizeof(v), "%.1f", br->replay_rate);
    publish_fig(br, "replay/rate", v);
    publish_u64(br, "messages/sent", br->sent);
    publish_u64(br, "messages/acknowledged", br->acked);
    publish_u64(br, "messages/received", br->received);
    publish_u64(br, "messages/refused_in", br->refused_in);
    publish_u64(br, "dropped/full", br->cnt.dropped_queue_full);
    publish_u64(br, "dropped/age", br->cnt.dropped_age);
    publish_u64(br, "dropped/expired", br->cnt.dropped_expired);
    publish_u64(br, "dropped/too_large", br->too_large);
    publish_u64(br, "dropped/unmapped", br->unmapped);
    publish_u64(br, "downgraded", br->downgraded);
    publish_u64(br, "dropped/poison", br->poison);
    publish_u64(br, "dropped/rejected", br->rejected);
    publish_u64(br, "refused", br->cnt.refused);
    (void)loop_timer_start(l, &br->sys_timer, now + (uint64_t)every * 1000u);
}

void bridge_sys_start(struct bridge *br)
{
    loop_timer_init(&br->sys_timer, on_sys, br);
    if (br->b->cfg->sys_interval) {
        (void)loop_timer_start(br->b->loop, &br->sys_timer, loop_now_ms(br->b->loop) + 1000u);
    }
}

bool bridge_figures_get(struct bridge *list, size_t i, struct bridge_figures *out)
{
    struct bridge *br = list;
    while (br && i > 0) {
        br = br->next;
        i--;
    }
    if (!br) {
        return false;
    }
    const struct sess *s = br->s;
    *out = (struct bridge_figures){
            .name = br->cfg.name,
            .state = bridge_state_name(br->state),
            .connected = br->state == BRIDGE_UP,
            .backlog_messages = s ? sess_queue_len(s) + s->n_out : 0,
            .backlog_bytes = s ? sess_queue_bytes(s) + s->out_bytes : 0,
            .inflight = s ? s->n_out : 0,
            .oldest_age_s = bridge_oldest_age_s(br),
            .replay_rate = br->replay_rate,
            .connects = br->connects,
            .sent = br->sent,
            .acknowledged = br->acked,
            .received = br->received,
            .refused_in = br->refused_in,
            .dropped_full = br->cnt.dropped_queue_full,
            .dropped_age = br->cnt.dropped_age,
            .dropped_expired = br->cnt.dropped_expired,
            .dropped_too_large = br->too_large,
            .dropped_rejected = br->rejected,
            .refused = br->cnt.refused,
    };
    return true;
}
