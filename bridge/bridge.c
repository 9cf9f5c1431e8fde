/* bridge.c - a bridge's life cycle: its local session, connecting with
 * failover and back-off, keepalive, notifications, shutdown. The packets
 * themselves are bridge_proto.c's. See bridge.h and bridge_priv.h. */
#include "alloc.h"
#include "auth_psk.h"
#include "bridge_priv.h"
#include "bridge_topic.h"
#include "broker.h"
#include "clock.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_props.h"
#include "persist.h"
#include "route.h"
#include "store.h"
#include "svc.h"
#include "topic.h"
#include "uplink_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *bridge_state_name(enum bridge_state st)
{
    switch (st) {
    case BRIDGE_WAITING:
        return "disconnected";
    case BRIDGE_CONNECTING:
    case BRIDGE_CONNACK:
        return "connecting";
    case BRIDGE_UP:
        return "connected";
    default:
        return "stopped";
    }
}

/* ---- configuration copy (bridges are restart-only; the broker's config
 * is replaced on SIGHUP) ---- */

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = gw_strdup(src))) {
        return -ENOMEM;
    }
    return 0;
}

static void free_cfg(struct cfg_bridge *c)
{
    char **strs[] = {&c->name,
                     &c->origin,
                     &c->remote_clientid,
                     &c->local_clientid,
                     &c->remote_username,
                     &c->remote_password,
                     &c->local_username,
                     &c->local_password,
                     &c->notification_topic,
                     &c->cafile,
                     &c->capath,
                     &c->certfile,
                     &c->keyfile,
                     &c->alpn,
                     &c->tls_version,
                     &c->remote_prefix};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        gw_free(*strs[i]);
    }
    for (size_t i = 0; c->addrs && i < c->n_addrs; i++) {
        gw_free(c->addrs[i].host);
    }
    gw_free(c->addrs);
    for (size_t i = 0; c->topics && i < c->n_topics; i++) {
        gw_free(c->topics[i].pattern);
        gw_free(c->topics[i].local_prefix);
        gw_free(c->topics[i].remote_prefix);
    }
    gw_free(c->topics);
    memset(c, 0, sizeof(*c));
}

static int copy_cfg(struct cfg_bridge *d, const struct cfg_bridge *s)
{
    *d = *s;
    char **dst[] = {&d->name,
                    &d->origin,
                    &d->remote_clientid,
                    &d->local_clientid,
                    &d->remote_username,
                    &d->remote_password,
                    &d->local_username,
                    &d->local_password,
                    &d->notification_topic,
                    &d->cafile,
                    &d->capath,
                    &d->certfile,
                    &d->keyfile,
                    &d->alpn,
                    &d->tls_version,
                    &d->remote_prefix};
    const char *src[] = {s->name,
                         s->origin,
                         s->remote_clientid,
                         s->local_clientid,
                         s->remote_username,
                         s->remote_password,
                         s->local_username,
                         s->local_password,
                         s->notification_topic,
                         s->cafile,
                         s->capath,
                         s->certfile,
                         s->keyfile,
                         s->alpn,
                         s->tls_version,
                         s->remote_prefix};
    int rc = 0;
    for (size_t i = 0; i < sizeof(dst) / sizeof(dst[0]); i++) {
        if (dup_str(dst[i], src[i]) < 0) {
            rc = -ENOMEM;
        }
    }
    d->addrs = gw_calloc(s->n_addrs ? s->n_addrs : 1, sizeof(*d->addrs));
    d->topics = gw_calloc(s->n_topics ? s->n_topics : 1, sizeof(*d->topics));
    if (!d->addrs || !d->topics) {
        d->n_addrs = 0;
        d->n_topics = 0;
        free_cfg(d);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n_addrs; i++) {
        d->addrs[i].port = s->addrs[i].port;
        rc = dup_str(&d->addrs[i].host, s->addrs[i].host) < 0 ? -ENOMEM : rc;
    }
    for (size_t i = 0; i < s->n_topics; i++) {
        struct cfg_bridge_topic *t = &d->topics[i];
        *t = s->topics[i];
        rc = dup_str(&t->pattern, s->topics[i].pattern) < 0 ? -ENOMEM : rc;
        rc = dup_str(&t->local_prefix, s->topics[i].local_prefix) < 0 ? -ENOMEM : rc;
        rc = dup_str(&t->remote_prefix, s->topics[i].remote_prefix) < 0 ? -ENOMEM : rc;
    }
    if (rc < 0) {
        free_cfg(d);
    }
    return rc;
}

/* ---- the local side ---- */

static void set_limits(struct bridge *br)
{
    const struct cfg_bridge *c = &br->cfg;
    br->lim = (struct sess_limits){
            .loop = br->b->loop,
            .max_inflight = c->max_inflight,
            .max_queued = c->backlog_max_messages > UINT32_MAX ? UINT32_MAX
                                                               : (uint32_t)c->backlog_max_messages,
            .max_queued_bytes = c->backlog_max_bytes,
            .queue_qos0 = c->queue_qos0,
            .mem_queue_max = BRIDGE_MEM_QUEUE,
            .max_age_s = c->backlog_max_age_s,
    };
    switch (c->backlog_policy) {
    case CFG_BACKLOG_DROP_NEWEST:
        br->lim.full_policy = SESS_FULL_DROP_NEW;
        break;
    case CFG_BACKLOG_REFUSE:
        br->lim.full_policy = SESS_FULL_REFUSE;
        break;
    default:
        br->lim.full_policy = SESS_FULL_DROP_OLDEST;
        break;
    }
}

static int count_bytes(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    (void)e;
    *(uint64_t *)arg += m->payload.n;
    return 0;
}

/* A restored backlog's payload bytes (for bridge_backlog_max_bytes): one
 * cursor walk of the stored queue at start; nothing is kept in memory. */
static void count_stored_bytes(struct bridge *br)
{
    struct sess *s = br->s;
    struct store *st = br->b->persist.store;
    if (!st || s->q_store_len == 0 || !br->cfg.backlog_max_bytes) {
        return;
    }
    uint64_t bytes = 0;
    if (store_queue_read(st, s->owner, s->q_store_after, (size_t)s->q_store_len, count_bytes,
                         &bytes) >= 0) {
        s->q_store_bytes = bytes;
    }
}

/* The local session: the one restored from the store under the local
 * client id, or a new durable one. Taken out of the session table so no
 * local client can take it over. */
static int take_session(struct bridge *br)
{
    struct broker *b = br->b;
    struct gw_bytes id = gw_bytes_str(br->cfg.local_clientid);
    struct sess *s = sess_table_get(&b->sessions, id);
    if (s) {
        sess_table_del(&b->sessions, s);
        broker_expiry_disarm(b, s);
        /* Its counts move from the broker's totals to the bridge's. */
        b->scnt.inflight -= s->n_out;
        b->scnt.queued -= s->q_len;
        br->cnt.inflight += s->n_out;
        br->cnt.queued += s->q_len;
        s->lim = &br->lim;
        s->cnt = &br->cnt;
        s->expire_at_ms = 0;
        s->expiry_s = 0;
    } else {
        s = sess_create(id, false, &br->lim, &br->cnt);
        if (!s) {
            return -ENOMEM;
        }
    }
    br->s = s;
    /* The local side's identity for ACL checks: deliveries to the bridge
     * are read by local_username, what it brings in is written by it. */
    gw_free(s->username);
    s->username = NULL;
    if (br->cfg.local_username && !(s->username = gw_strdup(br->cfg.local_username))) {
        return -ENOMEM;
    }
    int prc = persist_session_connected(b, s, br->cfg.protocol);
    if (prc < 0) {
        return prc;
    }
    count_stored_bytes(br);
    return 0;
}

/* Subscribe the local side to the local filter of every out/both line,
 * replacing whatever a restored session had (the config may have changed).
 * No Local: what the bridge brings in does not go back up; Retain As
 * Published: the upstream sees the retain flag as it was published. */
static int subscribe_local(struct bridge *br)
{
    struct broker *b = br->b;
    struct sess *s = br->s;
    while (s->n_subs > 0) {
        struct sess_sub *old = &s->subs[s->n_subs - 1];
        struct gw_bytes f = {(const uint8_t *)old->filter, old->filter_len};
        (void)route_sub_del(b->route, f, &s->ep);
        persist_sub_del(b, s, f);
        (void)sess_sub_del(s, f);
    }
    char *buf = gw_alloc(BRIDGE_TOPIC_BUF);
    if (!buf) {
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < br->cfg.n_topics; i++) {
        const struct cfg_bridge_topic *t = &br->cfg.topics[i];
        if (!bridge_topic_is_out(t)) {
            continue;
        }
        ssize_t n = bridge_topic_local_filter(t, buf, BRIDGE_TOPIC_BUF);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        struct gw_bytes f = {(const uint8_t *)buf, (size_t)n};
        uint8_t opts = MQTT_SUB_OPT_NO_LOCAL | MQTT_SUB_OPT_RAP;
        bool replaced = false;
        if (sess_sub_add(s, f, t->qos) < 0 ||
            route_sub_add(b->route, f, &s->ep, t->qos, opts, 0, &replaced) < 0) {
            rc = -ENOMEM;
            break;
        }
        persist_sub_add(b, s, f, t->qos, opts);
        gw_log(GW_INFO, "bridge", "%s: local subscription \"%s\" qos=%u", br->cfg.name, buf,
               t->qos);
    }
    gw_free(buf);
    return rc;
}

/* ---- connecting ---- */

static void on_connected(void *arg);
static void on_data(void *arg, const uint8_t *p, size_t n);
static void on_drained(void *arg);
static void on_closed(void *arg, const char *reason);

static const struct uplink_io_cb io_cb = {on_connected, on_data, on_drained, on_closed};

static const struct cfg_bridge_addr *cur_addr(const struct bridge *br)
{
    return &br->cfg.addrs[br->addr_idx % br->cfg.n_addrs];
}

static void free_dead(struct bridge *br)
{
    uplink_io_free(br->dead);
    br->dead = NULL;
}

static void schedule_retry(struct bridge *br)
{
    /* Decorrelated jitter (mosquitto's restart_timeout BASE CAP): the next
     * delay is random between BASE and three times the last, capped. */
    uint32_t base = br->cfg.restart_timeout_base_s;
    uint32_t cap = br->cfg.restart_timeout_cap_s;
    uint32_t delay = base;
    if (cap > base) {
        uint64_t hi = (uint64_t)(br->delay_s ? br->delay_s : base) * 3u;
        if (hi > cap) {
            hi = cap;
        }
        delay = hi > base ? base + (uint32_t)((uint64_t)rand() % (hi - base + 1u)) : base;
    }
    if (br->retry_now) {
        /* The same address again at once, only with another protocol
         * level: not a failure of the address. */
        br->retry_now = false;
        delay = 0;
    }
    br->delay_s = delay;
    br->state = BRIDGE_WAITING;
    (void)loop_timer_start(br->b->loop, &br->retry_timer,
                           loop_now_ms(br->b->loop) + (uint64_t)delay * 1000u);
}

static void connect_now(struct bridge *br)
{
    free_dead(br);
    const struct cfg_bridge_addr *a = cur_addr(br);
    gw_log(GW_INFO, "bridge", "%s: connecting to %s:%u%s", br->cfg.name, a->host, a->port,
           br->tls ? " (TLS)" : "");
    int rc = uplink_io_open(br->b->loop, a->host, a->port, br->tls, &io_cb, br, &br->io);
    if (rc < 0) {
        gw_log(GW_WARN, "bridge", "%s: cannot connect to %s:%u: %s", br->cfg.name, a->host, a->port,
               gw_strerror(rc));
        br->io = NULL;
        br->failures++;
        br->addr_idx++;
        schedule_retry(br);
        return;
    }
    br->state = BRIDGE_CONNECTING;
}

static void on_retry(struct loop *l, void *arg)
{
    (void)l;
    struct bridge *br = arg;
    if (br->state == BRIDGE_WAITING) {
        connect_now(br);
    }
}

static int flush_out(struct bridge *br)
{
    size_t n = buf_len(&br->out);
    if (n == 0 || !br->io) {
        return 0;
    }
    int rc = uplink_io_write(br->io, buf_head(&br->out), n);
    buf_consume(&br->out, n);
    return rc;
}

int bridge_write(struct bridge *br, const void *p, size_t n)
{
    if (!br->io || br->state < BRIDGE_CONNACK || br->state == BRIDGE_STOPPED) {
        return GW_E_CLOSED;
    }
    if (buf_reserve(&br->out, n) < 0) {
        return -ENOMEM;
    }
    memcpy(buf_tail(&br->out), p, n);
    buf_commit(&br->out, n);
    br->last_tx_ms = loop_now_ms(br->b->loop);
    return buf_len(&br->out) >= BRIDGE_OUT_BATCH ? flush_out(br) : 0;
}

size_t bridge_out_pending(const struct bridge *br)
{
    return buf_len(&br->out) + (br->io ? uplink_io_pending(br->io) : 0);
}

static void on_keepalive(struct loop *l, void *arg)
{
    struct bridge *br = arg;
    uint64_t now = loop_now_ms(l);
    if (br->state == BRIDGE_CONNACK) {
        bridge_drop(br, "no CONNACK from the upstream");
        return;
    }
    if (br->state != BRIDGE_UP || br->cfg.keepalive_s == 0) {
        return;
    }
    uint64_t ka = (uint64_t)br->cfg.keepalive_s * 1000u;
    /* The upstream answers PINGREQ: nothing heard for 1.5 keepalives means
     * the link is dead (a cellular link often drops without a FIN). */
    if (now - br->last_rx_ms > ka + ka / 2) {
        bridge_drop(br, "keepalive timeout: nothing from the upstream");
        return;
    }
    if (now - br->last_tx_ms >= ka / 2 || now - br->last_rx_ms >= ka / 2) {
        (void)bridge_proto_send_pingreq(br);
    }
    (void)loop_timer_start(l, &br->ka_timer, now + ka / 2);
}

static void on_connected(void *arg)
{
    struct bridge *br = arg;
    br->state = BRIDGE_CONNACK;
    br->last_rx_ms = loop_now_ms(br->b->loop);
    buf_consume(&br->in, buf_len(&br->in));
    buf_consume(&br->out, buf_len(&br->out));
    if (bridge_proto_send_connect(br) < 0) {
        bridge_drop(br, "cannot send CONNECT");
        return;
    }
    (void)loop_timer_start(br->b->loop, &br->ka_timer,
                           loop_now_ms(br->b->loop) + BRIDGE_CONNACK_TIMEOUT_MS);
}

static void on_data(void *arg, const uint8_t *p, size_t n)
{
    struct bridge *br = arg;
    if (br->state != BRIDGE_CONNACK && br->state != BRIDGE_UP) {
        return;
    }
    if (buf_reserve(&br->in, n) < 0) {
        bridge_drop(br, "out of memory");
        return;
    }
    memcpy(buf_tail(&br->in), p, n);
    buf_commit(&br->in, n);
    br->last_rx_ms = loop_now_ms(br->b->loop);
    char why[160];
    if (bridge_proto_input(br, why, sizeof(why)) < 0) {
        bridge_drop(br, why);
    }
}

static void on_drained(void *arg)
{
    struct bridge *br = arg;
    if (br->state == BRIDGE_UP) {
        sess_pump(br->s);
    }
}

/* The connection is gone (or never came): detach, tell, back off. */
static void went_down(struct bridge *br, const char *reason)
{
    const struct cfg_bridge_addr *a = cur_addr(br);
    bool was_up = br->state == BRIDGE_UP;
    loop_timer_stop(br->b->loop, &br->ka_timer);
    loop_timer_stop(br->b->loop, &br->rate_timer);
    br->gen++;
    br->n_abandon = 0; /* resent with DUP on the next connection instead */
    if (was_up) {
        sess_detach(br->s);
        uint64_t up_ms = loop_now_ms(br->b->loop) - br->up_since_ms;
        gw_log(GW_NOTICE, "bridge",
               "%s: connection to %s:%u lost: %s (up %llu s, backlog %llu messages, %llu in "
               "flight)",
               br->cfg.name, a->host, a->port, reason, (unsigned long long)(up_ms / 1000u),
               (unsigned long long)sess_queue_len(br->s), (unsigned long long)br->s->n_out);
        bridge_notify_local(br, false);
        /* Back off after every disconnect: a connection that dies soon
         * after CONNACK (an upstream closing on some message) is a failure
         * too, or the bridge reconnects in a storm. One that lived long
         * starts the back-off afresh. */
        if (up_ms >= BRIDGE_STABLE_MS) {
            br->failures = 0;
            br->delay_s = 0;
        } else {
            br->failures++;
        }
        bridge_poison_check(br, up_ms < BRIDGE_STABLE_MS);
        if (!br->cfg.round_robin) {
            br->addr_idx = 0; /* the first address is the main one */
        }
    } else if (br->state == BRIDGE_CONNACK && !br->connack_seen &&
               strstr(reason, UPLINK_IO_EOF_TEXT) &&
               bridge_fall_back_level(br, "closed the connection without a CONNACK")) {
        /* Only an orderly close is a refusal (RabbitMQ's answer to 0x84):
         * a reset or a timeout on a flapping link says nothing about the
         * level, and falling back for it would lose mosquitto's bridge
         * loop prevention on that address for the rest of the run. */
        gw_log(GW_WARN, "bridge", "%s: connecting to %s:%u failed: %s before any CONNACK",
               br->cfg.name, a->host, a->port, reason);
    } else if (br->retry_now) {
        gw_log(GW_WARN, "bridge", "%s: connecting to %s:%u failed: %s", br->cfg.name, a->host,
               a->port, reason);
    } else {
        bool no_connack = br->state == BRIDGE_CONNACK && !br->connack_seen;
        bool hint_v5 = no_connack && br->version == MQTT_V5 && !strstr(reason, "MQTT 5");
        gw_log(GW_WARN, "bridge", "%s: connecting to %s:%u failed: %s%s", br->cfg.name, a->host,
               a->port, reason,
               !no_connack ? ""
               : hint_v5   ? " before any CONNACK (an upstream without MQTT 5 "
                             "does that, e.g. RabbitMQ 3.10: use "
                             "bridge_protocol_version mqttv311)"
                           : " before any CONNACK");
        br->failures++;
        br->addr_idx++; /* fail over to the next address */
    }
    schedule_retry(br);
}

/* The stream is freed at the next turn: this may run inside one of its
 * callbacks. */
static void retire_io(struct bridge *br)
{
    buf_consume(&br->out, buf_len(&br->out)); /* meant for the dead connection */
    free_dead(br);
    br->dead = br->io;
    br->io = NULL;
    if (!loop_timer_armed(&br->abandon_timer)) {
        (void)loop_timer_start(br->b->loop, &br->abandon_timer, loop_now_ms(br->b->loop));
    }
}

static void on_closed(void *arg, const char *reason)
{
    struct bridge *br = arg;
    if (br->state == BRIDGE_STOPPED) {
        return;
    }
    retire_io(br);
    went_down(br, reason);
}

void bridge_drop(struct bridge *br, const char *reason)
{
    if (!br->io || br->state == BRIDGE_STOPPED) {
        return;
    }
    retire_io(br);
    went_down(br, reason);
}

/* Inbound messages were refused (store quota) and not acknowledged: the
 * upstream keeps them in flight for this session and resends them only on
 * a new connection. Once the store has room again, reconnect. */
static void on_held(struct loop *l, void *arg)
{
    struct bridge *br = arg;
    if (br->state != BRIDGE_UP) {
        return; /* the next connection gets them anyway */
    }
    if (persist_over_quota(br->b) || broker_memory_full(br->b)) {
        (void)loop_timer_start(l, &br->held_timer, loop_now_ms(l) + 1000u);
        return;
    }
    bridge_drop(br, "room again: reconnecting for the messages it refused");
}

void bridge_hold_in(struct bridge *br)
{
    br->refused_in++;
    if (!loop_timer_armed(&br->held_timer)) {
        if (br->cfg.cleansession) {
            gw_log(GW_WARN, "bridge",
                   "%s: inbound message refused (store quota or memory_limit) with "
                   "cleansession true: "
                   "the upstream forgets it when the link drops",
                   br->cfg.name);
        }
        (void)loop_timer_start(br->b->loop, &br->held_timer, loop_now_ms(br->b->loop) + 1000u);
    }
}

void bridge_up(struct bridge *br, bool session_present)
{
    const struct cfg_bridge_addr *a = cur_addr(br);
    br->state = BRIDGE_UP;
    br->failures = 0;
    br->delay_s = 0;
    br->connects++;
    br->up_since_ms = loop_now_ms(br->b->loop);
    br->acked_at_up = br->acked;
    bridge_budget_fill(br);
    gw_log(GW_NOTICE, "bridge",
           "%s: connected to %s:%u (MQTT %s, session present %d, backlog %llu messages, %llu "
           "in flight)",
           br->cfg.name, a->host, a->port, br->version == 5 ? "5.0" : "3.1.1", session_present,
           (unsigned long long)sess_queue_len(br->s), (unsigned long long)br->s->n_out);
    bridge_notify_local(br, true);
    if (br->cfg.notifications && !br->cfg.notifications_local_only) {
        bridge_proto_notify_remote(br, true);
    }
    if (br->cfg.keepalive_s) {
        (void)loop_timer_start(br->b->loop, &br->ka_timer,
                               br->up_since_ms + (uint64_t)br->cfg.keepalive_s * 500u);
    } else {
        loop_timer_stop(br->b->loop, &br->ka_timer);
    }
    /* Replay starts now: the inflight ones again with DUP, then the
     * backlog in order [MQTT-4.4.0-1]. */
    if (sess_attach(br->s, &bridge_link_ops, br) < 0) {
        bridge_drop(br, "cannot write to the upstream");
    }
}

/* ---- refused or unsendable packets, and the disk backlog ---- */

void bridge_abandon_later(struct bridge *br, uint16_t pid)
{
    if (br->n_abandon == br->cap_abandon) {
        size_t cap = br->cap_abandon ? br->cap_abandon * 2 : 8;
        uint16_t *a = gw_realloc(br->abandon, cap * sizeof(*a));
        if (!a) {
            return; /* stays in flight: resent on the next connection */
        }
        br->abandon = a;
        br->cap_abandon = cap;
    }
    br->abandon[br->n_abandon++] = pid;
    if (!loop_timer_armed(&br->abandon_timer)) {
        (void)loop_timer_start(br->b->loop, &br->abandon_timer, loop_now_ms(br->b->loop));
    }
}

static void on_abandon(struct loop *l, void *arg)
{
    (void)l;
    struct bridge *br = arg;
    free_dead(br);
    while (br->n_abandon > 0 && br->s) {
        uint16_t pid = br->abandon[--br->n_abandon];
        (void)sess_out_abandon(br->s, pid);
    }
}

static void on_repump(void *arg, uint32_t data, int rc)
{
    (void)data;
    (void)rc;
    struct bridge *br = arg;
    br->repump_armed = false;
    if (br->state == BRIDGE_UP && br->s) {
        sess_pump(br->s);
    }
}

/* Before the loop sleeps: this turn's output goes to the uplink in one
 * write, a replay owed acknowledgements has the loop look for them once
 * more before it sleeps, and a backlog whose next messages are still in
 * the store's current batch is pumped again once that batch is on disk. */
static void before_sleep(struct loop *l, void *arg)
{
    for (struct bridge *br = arg; br; br = br->next) {
        struct sess *s = br->s;
        (void)flush_out(br);
        /* Replaying, with acknowledgements owed: they are usually a few
         * microseconds away on a LAN (loop_expect_input). */
        if (br->state == BRIDGE_UP && s && s->n_out > br->n_abandon &&
            (s->q_len > 0 || s->q_store_len > 0)) {
            loop_expect_input(l);
        }
        if (br->state == BRIDGE_UP && s && s->q_len == 0 && s->q_store_len > 0 &&
            !br->repump_armed && persist_after_commit(br->b, on_repump, br, 0) == 0) {
            br->repump_armed = true;
            loop_skip_sleep(l);
        }
    }
}

/* ---- notifications ---- */

void bridge_notify_local(struct bridge *br, bool up)
{
    if (!br->cfg.notifications || !br->cfg.notification_topic) {
        return;
    }
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(gw_bytes_str(br->cfg.notification_topic),
                               gw_bytes_str(up ? "1" : "0"), none, 1, true);
    if (m) {
        svc_publish_msg(br->b, m, br->s, NULL);
        msg_unref(m);
    }
}

/* ---- start and stop ---- */

static int start_one(struct broker *b, const struct cfg_bridge *c, struct bridge **out)
{
    struct bridge *br = gw_calloc(1, sizeof(*br));
    if (!br) {
        return -ENOMEM;
    }
    br->b = b;
    buf_init(&br->in);
    buf_init(&br->out);
    int rc = copy_cfg(&br->cfg, c);
    if (rc < 0) {
        gw_free(br);
        return rc;
    }
    *out = br;
    rc = bridge_prefix_expand(br);
    if (rc < 0) {
        return rc;
    }
    if (br->cfg.n_addrs == 0) {
        gw_log(GW_ERROR, "bridge", "%s: no address", br->cfg.name);
        return GW_E_CONFIG;
    }
    if (br->cfg.cafile || br->cfg.capath || br->cfg.psk) {
        uint8_t psk[AUTH_PSK_MAX_KEY];
        ssize_t psk_len = 0;
        if (br->cfg.psk) {
            psk_len = auth_psk_hex_decode(br->cfg.psk, strlen(br->cfg.psk), psk, sizeof(psk));
            if (psk_len < 0) { /* cfg_bridges_validate checked the digits */
                gw_log(GW_ERROR, "bridge", "%s: bridge_psk is not a hex key", br->cfg.name);
                return GW_E_CONFIG;
            }
        }
        struct uplink_tls_cfg tc = {
                .cafile = br->cfg.cafile,
                .capath = br->cfg.capath,
                .certfile = br->cfg.certfile,
                .keyfile = br->cfg.keyfile,
                .insecure = br->cfg.insecure,
                .alpn = br->cfg.alpn,
                .tls_version = br->cfg.tls_version,
                .ciphers = br->cfg.ciphers,
                .psk_identity = br->cfg.psk_identity,
                .psk = psk_len > 0 ? psk : NULL,
                .psk_len = (size_t)psk_len,
        };
        char err[256] = "";
        rc = uplink_tls_create(&tc, &br->tls, err, sizeof(err));
        for (volatile uint8_t *w = psk; w < psk + sizeof(psk); w++) {
            *w = 0; /* the key lives on in the TLS conf only */
        }
        if (rc < 0) {
            gw_log(GW_ERROR, "bridge", "%s (%s): TLS: %s", br->cfg.name,
                   br->cfg.origin ? br->cfg.origin : "config", err[0] ? err : gw_strerror(rc));
            return rc;
        }
    }
    br->topic_buf = gw_alloc(BRIDGE_TOPIC_BUF);
    if (!br->topic_buf) {
        return -ENOMEM;
    }
    set_limits(br);
    rc = broker_reserve_id(b, br->cfg.local_clientid);
    if (rc == 0) {
        rc = take_session(br);
    }
    if (rc == 0) {
        rc = subscribe_local(br);
    }
    if (rc < 0) {
        return rc;
    }
    loop_timer_init(&br->retry_timer, on_retry, br);
    loop_timer_init(&br->ka_timer, on_keepalive, br);
    bridge_budget_init(br);
    loop_timer_init(&br->abandon_timer, on_abandon, br);
    loop_timer_init(&br->held_timer, on_held, br);
    gw_log(GW_NOTICE, "bridge", "%s: started (local client \"%s\", backlog %llu messages)",
           br->cfg.name, br->cfg.local_clientid, (unsigned long long)sess_queue_len(br->s));
    bridge_notify_local(br, false);
    bridge_sys_start(br);
    br->state = BRIDGE_WAITING;
    (void)loop_timer_start(b->loop, &br->retry_timer, loop_now_ms(b->loop));
    return 0;
}

int bridge_start_all(struct broker *b, struct bridge **out)
{
    *out = NULL;
    const struct gw_config *cfg = b->cfg;
    struct bridge **tail = out;
    for (size_t i = 0; i < cfg->n_bridges; i++) {
        struct bridge *br = NULL;
        int rc = start_one(b, &cfg->bridges[i], &br);
        if (br) {
            *tail = br;
            tail = &br->next;
        }
        if (rc < 0) {
            gw_log(GW_ERROR, "bridge", "%s: cannot start: %s", cfg->bridges[i].name,
                   gw_strerror(rc));
            return rc;
        }
    }
    if (*out && loop_hook_add(b->loop, before_sleep, *out) < 0) {
        return -ENOMEM;
    }
    return 0;
}

void bridge_stop_all(struct bridge *list)
{
    for (struct bridge *br = list; br; br = br->next) {
        struct loop *l = br->b->loop;
        if (br->state == BRIDGE_UP) {
            if (br->cfg.notifications && !br->cfg.notifications_local_only) {
                bridge_proto_notify_remote(br, false);
            }
            (void)bridge_proto_send_disconnect(br);
            (void)flush_out(br);
            sess_detach(br->s);
            gw_log(GW_NOTICE, "bridge", "%s: disconnected (shutdown)", br->cfg.name);
        }
        if (br->s) {
            bridge_notify_local(br, false);
        }
        br->state = BRIDGE_STOPPED;
        loop_timer_stop(l, &br->retry_timer);
        loop_timer_stop(l, &br->ka_timer);
        loop_timer_stop(l, &br->rate_timer);
        loop_timer_stop(l, &br->sys_timer);
        loop_timer_stop(l, &br->abandon_timer);
        loop_timer_stop(l, &br->held_timer);
        uplink_io_free(br->io); /* flushes what it can, then closes */
        br->io = NULL;
        free_dead(br);
        if (br->s) {
            /* Its state is in the store; the memory goes with tern. */
            sess_destroy(br->s, br->b->route);
            br->s = NULL;
        }
    }
}

void bridge_free_all(struct bridge *list)
{
    while (list) {
        struct bridge *next = list->next;
        uplink_tls_free(list->tls);
        buf_fini(&list->in);
        buf_fini(&list->out);
        gw_free(list->abandon);
        gw_free(list->plain_level);
        gw_free(list->topic_buf);
        free_cfg(&list->cfg);
        gw_free(list);
        list = next;
    }
}
