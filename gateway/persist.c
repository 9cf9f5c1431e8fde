/* persist.c - durable sessions, retained messages and deferred
 * acknowledgements on top of storage/store.h. See persist.h. */
#include "persist.h"

#include "alloc.h"
#include "broker.h"
#include "clock.h"
#include "conn.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_proto.h"
#include "sess.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Output waiting for one batch: an acknowledgement, a PUBREL, or a
 * PUBLISH (m set) whose exactly-once state must be on disk first. */
struct ack_wait {
    struct conn *c;
    struct msg *m; /* PUBLISH only: one reference */
    uint16_t pid;
    uint8_t type;
    uint8_t qos;
    bool dup;
    bool retain;
};

struct ack_batch {
    struct broker *b;
    struct ack_wait *acks;
    size_t n;
    size_t cap;
};

static const struct sess_persist_ops persist_sess_ops;

uint64_t persist_ops(const struct broker *b)
{
    return b->persist.ops;
}

uint64_t persist_refused(const struct broker *b)
{
    return b->persist.refused;
}

static void note_error(struct broker *b, const char *what, int rc)
{
    b->persist.errors++;
    gw_log(GW_ERROR, "persist", "%s: %s", what, gw_strerror(rc));
}

/* Put m in the current batch once, giving it an id on first use. */
static void put_msg(struct broker *b, struct msg *m)
{
    if (m->id == 0) {
        m->id = b->persist.next_msg_id++;
    }
    if (m->store_gen == b->persist.batch_gen) {
        return;
    }
    struct store_msg sm = {
            .id = m->id,
            .qos = m->qos,
            .retain = m->retain,
            .created_s = (uint64_t)gw_clock_wall_s(),
            .expiry_s = m->expiry_ms ? (uint64_t)gw_clock_wall_s() +
                                               (m->expiry_ms - gw_clock_now_ms()) / 1000u
                                     : 0,
            .topic = msg_topic(m),
            .payload = msg_payload(m),
            .props = {m->props, m->props_len},
    };
    int rc = store_msg_put(b->persist.store, &sm);
    if (rc < 0) {
        note_error(b, "store message", rc);
        return;
    }
    m->store_gen = b->persist.batch_gen;
    b->persist.ops++;
}

/* ---- session hooks (struct sess_persist_ops) ---- */

static struct broker *sess_broker(const struct sess *s)
{
    return s->persist_arg;
}

static int on_first_entry(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    (void)m;
    *(uint64_t *)arg = e->seq;
    return 0;
}

/* Quota policy drop_oldest: make room by dropping s's oldest queued
 * message, on disk (restored, not yet loaded) first, then in memory. */
static bool drop_oldest(struct broker *b, struct sess *s)
{
    if (s->q_store_len > 0) {
        uint64_t seq = 0;
        if (store_queue_read(b->persist.store, s->owner, s->q_store_after, 1, on_first_entry,
                             &seq) == 1 &&
            store_queue_del(b->persist.store, s->owner, seq) == 0) {
            s->q_store_after = seq;
            s->q_store_len--;
            b->persist.ops++;
            return true;
        }
        return false;
    }
    return sess_drop_oldest(s);
}

/* The store is over its quota: apply persistence_quota_policy. Returns
 * true when the new message may be stored. Logged once per episode. */
static bool over_quota(struct broker *b, struct sess *s)
{
    bool drop = b->cfg->persistence_quota_policy == CFG_QUOTA_DROP_OLDEST;
    if (!b->persist.quota_episode) {
        b->persist.quota_episode = true;
        gw_log(GW_WARN, "persist", "store at persistence_quota (%llu bytes): %s",
               (unsigned long long)b->cfg->persistence_quota_bytes,
               drop ? "dropping the oldest queued messages" : "refusing new durable messages");
    }
    if (drop && drop_oldest(b, s)) {
        b->persist.dropped++;
        return true;
    }
    b->persist.refused++;
    return false;
}

static bool hook_queue_add(struct sess *s, const struct sess_queued *q)
{
    struct broker *b = sess_broker(s);
    if (store_over_quota(b->persist.store)) {
        if (!over_quota(b, s)) {
            return false;
        }
    } else if (b->persist.quota_episode) {
        b->persist.quota_episode = false;
        gw_log(GW_NOTICE, "persist", "store back under persistence_quota");
    }
    put_msg(b, q->m);
    struct store_qentry e = {
            .owner = s->owner,
            .seq = q->seq,
            .msg_id = q->m->id,
            .qos = q->qos,
            .flags = q->retain ? 1 : 0,
    };
    int rc = store_queue_add(b->persist.store, &e);
    if (rc < 0) {
        note_error(b, "store queue entry", rc);
        return false;
    }
    b->persist.ops++;
    return true;
}

static void hook_queue_del(struct sess *s, uint64_t seq)
{
    struct broker *b = sess_broker(s);
    int rc = store_queue_del(b->persist.store, s->owner, seq);
    if (rc < 0) {
        note_error(b, "delete queue entry", rc);
    }
    b->persist.ops++;
}

static void hook_inflight_put(struct sess *s, const struct sess_inflight *o)
{
    struct broker *b = sess_broker(s);
    put_msg(b, o->m);
    struct store_inflight f = {
            .owner = s->owner,
            .dir = STORE_OUT,
            .pid = o->pid,
            .qos = o->qos,
            .state = o->state,
            .msg_id = o->m->id,
            .seq = o->seq,
    };
    int rc = store_inflight_put(b->persist.store, &f);
    if (rc < 0) {
        note_error(b, "store inflight", rc);
    }
    b->persist.ops++;
}

static void hook_inflight_del(struct sess *s, uint16_t pid)
{
    struct broker *b = sess_broker(s);
    int rc = store_inflight_del(b->persist.store, s->owner, STORE_OUT, pid);
    if (rc < 0) {
        note_error(b, "delete inflight", rc);
    }
    b->persist.ops++;
}

static void hook_in_qos2_put(struct sess *s, uint16_t pid)
{
    struct broker *b = sess_broker(s);
    struct store_inflight f = {.owner = s->owner, .dir = STORE_IN, .pid = pid, .qos = 2};
    int rc = store_inflight_put(b->persist.store, &f);
    if (rc < 0) {
        note_error(b, "store inbound QoS 2 id", rc);
    }
    b->persist.ops++;
}

static void hook_in_qos2_del(struct sess *s, uint16_t pid)
{
    struct broker *b = sess_broker(s);
    int rc = store_inflight_del(b->persist.store, s->owner, STORE_IN, pid);
    if (rc < 0) {
        note_error(b, "delete inbound QoS 2 id", rc);
    }
    b->persist.ops++;
}

struct load_ctx {
    struct sess_queued *first;
    struct sess_queued *last;
    size_t n;
    uint64_t bytes;
    uint64_t last_seq;
};

static struct msg *msg_from_store(const struct store_msg *sm)
{
    struct msg *m = msg_create(sm->topic, sm->payload, sm->props, sm->qos, sm->retain);
    if (m) {
        m->id = sm->id;
        if (sm->expiry_s) {
            /* Message expiry counts on across a restart (wall clock). */
            int64_t left = (int64_t)sm->expiry_s - gw_clock_wall_s();
            /* Already due: a deadline in the past (1 ms after boot), not
             * "now", which the loop's cached time may not have reached. */
            m->expiry_ms = left > 0 ? gw_clock_now_ms() + (uint64_t)left * 1000u : 1;
        }
    }
    return m;
}

static int on_queue_entry(void *arg, const struct store_qentry *e, const struct store_msg *sm)
{
    struct load_ctx *ctx = arg;
    struct sess_queued *q = gw_alloc(sizeof(*q));
    struct msg *m = q ? msg_from_store(sm) : NULL;
    if (!m) {
        gw_free(q);
        return -ENOMEM;
    }
    *q = (struct sess_queued){.m = m, .seq = e->seq, .qos = e->qos, .retain = e->flags & 1};
    if (ctx->last) {
        ctx->last->next = q;
    } else {
        ctx->first = q;
    }
    ctx->last = q;
    ctx->n++;
    ctx->bytes += m->payload_len;
    ctx->last_seq = e->seq;
    return 0;
}

static ssize_t hook_queue_load(struct sess *s, size_t max)
{
    struct broker *b = sess_broker(s);
    struct load_ctx ctx = {0};
    ssize_t n = store_queue_read(b->persist.store, s->owner, s->q_store_after, max,
                                 on_queue_entry, &ctx);
    if (ctx.n > 0) {
        sess_queue_splice_loaded(s, ctx.first, ctx.last, ctx.n, ctx.bytes);
        s->q_store_after = ctx.last_seq;
        s->q_store_len = s->q_store_len > ctx.n ? s->q_store_len - ctx.n : 0;
    }
    if (n < 0) {
        note_error(b, "read stored queue", (int)n);
        return n;
    }
    if (n == 0) {
        s->q_store_len = 0; /* nothing left on disk after q_store_after */
    }
    return (ssize_t)ctx.n;
}

static const struct sess_persist_ops persist_sess_ops = {
        .queue_add = hook_queue_add,
        .queue_del = hook_queue_del,
        .inflight_put = hook_inflight_put,
        .inflight_del = hook_inflight_del,
        .in_qos2_put = hook_in_qos2_put,
        .in_qos2_del = hook_in_qos2_del,
        .queue_load = hook_queue_load,
};

/* ---- sessions, subscriptions, retained ---- */

/* A will waiting for its delay goes into the session record, so a restart
 * still sends it on time: u8 version 1, be64 due (wall s), u8 qos, u8
 * retain, be16 topic length, topic, be32 payload length, payload, be32
 * props length, props. Returns the bytes written to buf (cap), 0 = none. */
static size_t encode_will(const struct sess *s, uint8_t *buf, size_t cap)
{
    const struct msg *m = s->will;
    if (!s->will_wait || !m) {
        return 0;
    }
    int64_t due = broker_will_due_wall_s(s);
    size_t need = 13u + (size_t)m->topic_len + 4u + m->payload_len + 4u + m->props_len;
    if (need > cap) {
        return 0;
    }
    uint8_t *p = buf;
    *p++ = 1;
    gw_put_be64(p, (uint64_t)due);
    p += 8;
    *p++ = m->qos;
    *p++ = m->retain ? 1 : 0;
    gw_put_be16(p, m->topic_len);
    memcpy(p + 2, m->topic, m->topic_len);
    p += 2 + m->topic_len;
    gw_put_be32(p, m->payload_len);
    memcpy(p + 4, m->payload, m->payload_len);
    p += 4 + m->payload_len;
    gw_put_be32(p, m->props_len);
    memcpy(p + 4, m->props, m->props_len);
    p += 4 + m->props_len;
    return (size_t)(p - buf);
}

/* The inverse; arms the will's timer. Corrupt data is ignored (logged). */
static void restore_will(struct broker *b, struct sess *s, struct gw_bytes x)
{
    const uint8_t *p = x.p;
    size_t n = x.n;
    if (n < 1 + 8 + 2 + 2 || p[0] != 1) {
        return;
    }
    int64_t due = (int64_t)gw_be64(p + 1);
    uint8_t qos = p[9];
    bool retain = p[10] != 0;
    size_t off = 11;
    struct gw_bytes f[3];
    for (int i = 0; i < 3; i++) {
        size_t w = i == 0 ? 2u : 4u;
        if (off + w > n) {
            goto bad;
        }
        size_t len = w == 2 ? gw_be16(p + off) : gw_be32(p + off);
        off += w;
        if (off + len > n) {
            goto bad;
        }
        f[i] = (struct gw_bytes){p + off, len};
        off += len;
    }
    struct msg *m = msg_create(f[0], f[1], f[2], qos > 2 ? 2 : qos, retain);
    if (!m) {
        return;
    }
    sess_set_will(s, m);
    int64_t left = due - gw_clock_wall_s();
    (void)broker_delay_will(b, s, (uint64_t)(left > 0 ? left : 0) * 1000u);
    return;
bad:
    gw_log(GW_WARN, "persist", "client=\"%s\" stored will is damaged: dropped", s->id);
}

static void put_session(struct broker *b, const struct sess *s, uint64_t disconnected_s)
{
    uint8_t stack[1024];
    uint8_t *heap = NULL;
    uint8_t *wbuf = stack;
    size_t wcap = sizeof(stack);
    if (s->will_wait && s->will) {
        size_t need = 32u + s->will->topic_len + s->will->payload_len + s->will->props_len;
        if (need > wcap && (heap = gw_alloc(need)) != NULL) {
            wbuf = heap;
            wcap = need;
        }
    }
    size_t wlen = s->will_wait ? encode_will(s, wbuf, wcap) : 0;
    struct store_session ss = {
            .owner = s->owner,
            .client_id = {(const uint8_t *)s->id, s->id_len},
            .protocol = s->protocol,
            .expiry_s = s->expiry_s ? s->expiry_s : 0xFFFFFFFFu,
            .disconnected_s = disconnected_s,
            .next_pid = s->next_pid,
            .extra = {wbuf, wlen},
    };
    int rc = store_session_put(b->persist.store, &ss);
    gw_free(heap);
    if (rc < 0) {
        note_error(b, "store session", rc);
    }
    b->persist.ops++;
}

void persist_session_connected(struct broker *b, struct sess *s, uint8_t protocol)
{
    if (!b->persist.store || s->clean) {
        return;
    }
    s->protocol = protocol;
    if (s->owner) {
        put_session(b, s, 0);
        return;
    }
    s->owner = b->persist.next_owner++;
    s->pops = &persist_sess_ops;
    s->persist_arg = b;
    put_session(b, s, 0);
    /* A live session that turned persistent keeps what it had. */
    for (uint32_t i = 0; i < s->n_subs; i++) {
        struct gw_bytes f = {(const uint8_t *)s->subs[i].filter, s->subs[i].filter_len};
        persist_sub_add(b, s, f, s->subs[i].qos, 0);
    }
}

void persist_session_disconnected(struct broker *b, struct sess *s)
{
    if (b->persist.store && s->owner) {
        put_session(b, s, (uint64_t)gw_clock_wall_s());
    }
}

void persist_session_delete(struct broker *b, struct sess *s)
{
    if (!b->persist.store || !s->owner) {
        return;
    }
    int rc = store_session_del(b->persist.store, s->owner);
    if (rc < 0) {
        note_error(b, "delete session", rc);
    }
    b->persist.ops++;
    s->owner = 0;
    s->pops = NULL;
}

void persist_sub_add(struct broker *b, struct sess *s, struct gw_bytes filter, uint8_t qos,
                     uint8_t options)
{
    if (!b->persist.store || !s->owner) {
        return;
    }
    struct store_sub sub = {.owner = s->owner, .filter = filter, .qos = qos, .options = options};
    int rc = store_sub_put(b->persist.store, &sub);
    if (rc < 0) {
        note_error(b, "store subscription", rc);
    }
    b->persist.ops++;
}

void persist_sub_del(struct broker *b, struct sess *s, struct gw_bytes filter)
{
    if (!b->persist.store || !s->owner) {
        return;
    }
    int rc = store_sub_del(b->persist.store, s->owner, filter);
    if (rc < 0) {
        note_error(b, "delete subscription", rc);
    }
    b->persist.ops++;
}

void persist_retain(struct broker *b, struct msg *m)
{
    if (!b->persist.store) {
        return;
    }
    int rc;
    if (m->payload_len == 0) {
        rc = store_retain_del(b->persist.store, msg_topic(m));
    } else {
        put_msg(b, m);
        rc = store_retain_put(b->persist.store, msg_topic(m), m->id);
    }
    if (rc < 0) {
        note_error(b, "store retained message", rc);
    }
    b->persist.ops++;
}

/* ---- acknowledgements that wait for a commit ---- */

static struct ack_wait *wait_slot(struct broker *b, struct conn *c)
{
    struct ack_batch *ab = b->persist.acks;
    if (!ab) {
        ab = gw_calloc(1, sizeof(*ab));
        if (!ab) {
            return NULL;
        }
        ab->b = b;
        b->persist.acks = ab;
    }
    if (ab->n == ab->cap) {
        size_t cap = ab->cap ? ab->cap * 2 : 16;
        struct ack_wait *a = gw_realloc(ab->acks, cap * sizeof(*a));
        if (!a) {
            return NULL;
        }
        ab->acks = a;
        ab->cap = cap;
    }
    c->acks_waiting++;
    struct ack_wait *w = &ab->acks[ab->n++];
    memset(w, 0, sizeof(*w));
    w->c = c;
    return w;
}

int persist_ack(struct broker *b, struct conn *c, uint8_t type, uint16_t pid, uint8_t rc,
                bool durable)
{
    if (!b->persist.store || (!durable && c->acks_waiting == 0)) {
        return mqtt_proto_send_ack(c, type, pid, rc);
    }
    struct ack_wait *w = wait_slot(b, c);
    if (!w) {
        return -ENOMEM;
    }
    w->type = type;
    w->pid = pid;
    w->qos = rc; /* reason code of an acknowledgement */
    return 0;
}

bool persist_must_wait(const struct broker *b, const struct conn *c, uint8_t qos)
{
    if (!b->persist.store) {
        return false;
    }
    return c->acks_waiting > 0 || (qos == 2 && c->sess && c->sess->pops);
}

int persist_defer_publish(struct broker *b, struct conn *c, struct msg *m, uint8_t qos,
                          uint16_t pid, bool dup, bool retain)
{
    struct ack_wait *w = wait_slot(b, c);
    if (!w) {
        return -ENOMEM;
    }
    w->type = 3; /* PUBLISH */
    w->m = msg_ref(m);
    w->qos = qos;
    w->pid = pid;
    w->dup = dup;
    w->retain = retain;
    return 0;
}

static void on_batch_done(void *arg, int rc)
{
    struct ack_batch *ab = arg;
    struct broker *b = ab->b;
    if (rc < 0) {
        note_error(b, "commit", rc);
    }
    for (size_t i = 0; i < ab->n; i++) {
        struct conn *c = ab->acks[i].c;
        c->acks_waiting--;
        /* A failed commit sends no acknowledgement: the client keeps the
         * message and sends it again (MQTT 3.1.1 has no negative ack). */
        struct ack_wait *w = &ab->acks[i];
        if (rc == 0 && c->state != CONN_ST_CLOSING) {
            if (w->m) {
                (void)mqtt_proto_send_publish_now(c, w->m, w->qos, w->pid, w->dup, w->retain);
            } else {
                (void)mqtt_proto_send_ack(c, w->type, w->pid, w->qos);
            }
        }
        msg_unref(w->m);
        if (c->acks_waiting == 0 && c->zombie) {
            conn_destroy(c);
        }
    }
    gw_free(ab->acks);
    gw_free(ab);
}

void persist_flush(struct broker *b)
{
    struct store *st = b->persist.store;
    if (!st || (store_batch_empty(st) && !b->persist.acks)) {
        return;
    }
    struct ack_batch *ab = b->persist.acks;
    if (!ab) {
        ab = gw_calloc(1, sizeof(*ab));
        if (!ab) {
            return; /* next iteration commits it */
        }
        ab->b = b;
    }
    if (store_commit(st, on_batch_done, ab) < 0) {
        if (ab != b->persist.acks) {
            gw_free(ab);
        }
        return; /* stays current; retried at the next iteration */
    }
    b->persist.acks = NULL;
    b->persist.batch_gen++;
    b->persist.batches++;
}

static void on_store_event(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct broker *b = arg;
    store_process_completions(b->persist.store);
}

/* ---- restore at start ---- */

struct restore {
    struct broker *b;
    struct sess **by_owner; /* sorted by owner (the store walks in order) */
    size_t n;
    size_t cap;
    size_t subs;
    size_t inflight;
    size_t retained;
    uint64_t queued;
};

static struct sess *find_owner(const struct restore *r, uint64_t owner)
{
    size_t lo = 0;
    size_t hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->by_owner[mid]->owner < owner) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < r->n && r->by_owner[lo]->owner == owner ? r->by_owner[lo] : NULL;
}

static int on_session(void *arg, const struct store_session *ss, uint64_t first, uint64_t last,
                      uint64_t len)
{
    struct restore *r = arg;
    struct broker *b = r->b;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct sess **a = gw_realloc(r->by_owner, cap * sizeof(*a));
        if (!a) {
            return -ENOMEM;
        }
        r->by_owner = a;
        r->cap = cap;
    }
    struct sess *s = sess_create(ss->client_id, false, &b->lim, &b->scnt);
    if (!s) {
        return -ENOMEM;
    }
    s->owner = ss->owner;
    s->pops = &persist_sess_ops;
    s->persist_arg = b;
    s->protocol = ss->protocol;
    s->next_pid = ss->next_pid ? ss->next_pid : 1;
    s->q_seq_next = last;
    s->q_store_len = len;
    s->q_store_after = len ? first - 1 : last;
    uint32_t exp = b->cfg->persistent_client_expiration_s;
    if (ss->expiry_s != 0xFFFFFFFFu) {
        s->expiry_s = ss->expiry_s; /* MQTT 5 session expiry interval */
        exp = ss->expiry_s;
    }
    if (exp) {
        /* Offline time counts from the stored disconnect, on the wall
         * clock (the monotonic clock restarts with the process). */
        int64_t now = gw_clock_wall_s();
        int64_t gone = ss->disconnected_s ? now - (int64_t)ss->disconnected_s : 0;
        int64_t left = (int64_t)exp - (gone > 0 ? gone : 0);
        s->expire_at_ms = loop_now_ms(b->loop) + (uint64_t)(left > 0 ? left : 0) * 1000u;
    }
    (void)sess_table_add(&b->sessions, s);
    r->by_owner[r->n++] = s;
    if (ss->extra.n) {
        restore_will(b, s, ss->extra);
    }
    r->queued += len;
    if (ss->owner >= b->persist.next_owner) {
        b->persist.next_owner = ss->owner + 1;
    }
    return 0;
}

static int on_sub(void *arg, const struct store_sub *sub)
{
    struct restore *r = arg;
    struct sess *s = find_owner(r, sub->owner);
    if (!s) {
        return 0; /* orphan: the session delete cascades it next time */
    }
    if (sess_sub_add(s, sub->filter, sub->qos) < 0 ||
        route_sub_add(r->b->route, sub->filter, &s->ep, sub->qos, sub->options, sub->sub_id,
                      NULL) < 0) {
        return -ENOMEM;
    }
    r->subs++;
    return 0;
}

static int add_out(struct sess *s, const struct store_inflight *f, const struct store_msg *sm)
{
    if (s->n_out == s->cap_out) {
        uint32_t cap = s->cap_out ? s->cap_out * 2 : 4;
        struct sess_inflight *o = gw_realloc(s->out, cap * sizeof(*o));
        if (!o) {
            return -ENOMEM;
        }
        s->out = o;
        s->cap_out = cap;
    }
    struct msg *m = msg_from_store(sm);
    if (!m) {
        return -ENOMEM;
    }
    s->out[s->n_out++] = (struct sess_inflight){
            .m = m, .seq = f->seq, .pid = f->pid, .qos = f->qos, .state = f->state};
    s->out_bytes += m->payload_len;
    s->cnt->inflight++;
    if (f->seq > s->out_seq_next) {
        s->out_seq_next = f->seq;
    }
    return 0;
}

static int on_inflight(void *arg, const struct store_inflight *f, const struct store_msg *sm)
{
    struct restore *r = arg;
    struct sess *s = find_owner(r, f->owner);
    if (!s) {
        return 0;
    }
    r->inflight++;
    if (f->dir == STORE_IN) {
        int err;
        const struct sess_persist_ops *ops = s->pops;
        s->pops = NULL; /* already stored: do not write it again */
        (void)sess_in_qos2_begin(s, f->pid, &err);
        s->pops = ops;
        return err;
    }
    return sm ? add_out(s, f, sm) : 0;
}

static int on_retained(void *arg, const struct store_msg *sm)
{
    struct restore *r = arg;
    struct msg *m = msg_from_store(sm);
    if (!m) {
        return -ENOMEM;
    }
    int rc = route_retain_set(r->b->route, m);
    msg_unref(m);
    r->retained++;
    return rc;
}

static struct store_config store_config_of(const struct gw_config *cfg)
{
    struct store_config sc = {
            .dir = cfg->persistence_location,
            .map_size_max = cfg->persistence_map_max_bytes,
            .quota_bytes = cfg->persistence_quota_bytes,
            .sync = STORE_SYNC_BATCH,
            .periodic_ms = cfg->persistence_periodic_ms,
    };
    if (cfg->persistence_durability == CFG_DURABILITY_PERIODIC) {
        sc.sync = STORE_SYNC_PERIODIC;
    } else if (cfg->persistence_durability == CFG_DURABILITY_NONE) {
        sc.sync = STORE_SYNC_NONE;
    }
    if (sc.map_size_max && sc.map_size_max < 64u * 1024u * 1024u) {
        sc.map_size = sc.map_size_max; /* start at the maximum when it is small */
    }
    return sc;
}

void persist_reload(struct broker *b)
{
    if (b->persist.store) {
        store_set_quota(b->persist.store, b->cfg->persistence_quota_bytes);
    }
}

int persist_open(struct broker *b)
{
    b->persist.next_msg_id = 1;
    b->persist.next_owner = 1;
    b->persist.batch_gen = 1;
    if (!b->cfg->persistence) {
        return 0;
    }
    char err[512] = "";
    struct store_config sc = store_config_of(b->cfg);
    uint64_t t0 = gw_clock_now_ms();
    int rc = store_open(&sc, &b->persist.store, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "persist", "%s", err[0] ? err : gw_strerror(rc));
        return rc;
    }
    struct store_stats st;
    if (store_stats(b->persist.store, &st) == 0) {
        b->persist.next_msg_id = st.max_msg_id + 1;
        b->persist.next_owner = st.max_owner + 1;
    }
    struct restore r = {.b = b};
    static const struct store_load_ops ops = {on_session, on_sub, on_inflight, on_retained};
    rc = store_load(b->persist.store, &ops, &r);
    gw_free(r.by_owner);
    if (rc < 0) {
        gw_log(GW_ERROR, "persist", "restoring from %s failed: %s", sc.dir, gw_strerror(rc));
        return rc;
    }
    rc = loop_fd_add(b->loop, store_event_fd(b->persist.store), LOOP_READ, on_store_event, b);
    if (rc < 0) {
        return rc;
    }
    gw_log(GW_NOTICE, "persist",
           "store %s: %zu sessions, %llu queued, %zu subscriptions, %zu inflight, %zu retained "
           "restored in %llu ms",
           sc.dir, r.n, (unsigned long long)r.queued, r.subs, r.inflight, r.retained,
           (unsigned long long)(gw_clock_now_ms() - t0));
    return 0;
}

void persist_close(struct broker *b)
{
    if (!b->persist.store) {
        return;
    }
    persist_flush(b);
    (void)loop_fd_del(b->loop, store_event_fd(b->persist.store));
    store_close(b->persist.store); /* runs the last completions */
    b->persist.store = NULL;
}
