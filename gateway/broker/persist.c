/* persist.c - durable sessions, retained messages and deferred
 * acknowledgements on top of storage/store.h. See persist.h. */
#include "persist.h"

#include "alloc.h"
#include "broker.h"
#include "clock.h"
#include "gw_err.h"
#include "log.h"
#include "persist_priv.h"
#include "sess.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What waits for one batch: a front-end's callback (persist_after_commit),
 * which sends the acknowledgements it held back. */
struct ack_wait {
    persist_commit_cb *fn;
    void *fn_arg;
    uint32_t fn_data;
};

struct ack_batch {
    struct broker *b;
    struct ack_wait *acks;
    size_t n;
    size_t cap;
};

static void note_error(struct broker *b, const char *what, int rc)
{
    b->persist.errors++;
    gw_log(GW_ERROR, "persist", "%s: %s", what, gw_strerror(rc));
}

/* Put m in the current batch once, giving it an id on first use. False:
 * the store refused it, and nothing may refer to it. */
static bool put_msg(struct broker *b, struct msg *m)
{
    if (m->id == 0) {
        m->id = b->persist.next_msg_id++;
    }
    if (m->store_gen == b->persist.batch_gen) {
        return true;
    }
    struct store_msg sm = {
            .id = m->id,
            .qos = m->qos,
            .retain = m->retain,
            .created_s = (uint64_t)(m->created_s ? m->created_s : gw_clock_wall_s()),
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
        return false;
    }
    m->store_gen = b->persist.batch_gen;
    return true;
}

/* ---- session hooks (struct sess_persist_ops) ---- */

static struct broker *sess_broker(const struct sess *s)
{
    return s->persist_arg;
}

struct first_entry {
    uint64_t seq;
    uint64_t bytes;
};

static int on_first_entry(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    struct first_entry *fe = arg;
    fe->seq = e->seq;
    fe->bytes = m->payload.n;
    return 0;
}

/* sess_persist_ops.queue_drop_stored: drop the oldest queue entry that
 * is on disk only (committed entries after q_store_after). */
static bool hook_queue_drop_stored(struct sess *s)
{
    struct broker *b = sess_broker(s);
    struct first_entry fe = {0};
    if (s->q_store_len == 0 ||
        store_queue_read(b->persist.store, s->owner, s->q_store_after, 1, on_first_entry, &fe) !=
                1 ||
        store_queue_del(b->persist.store, s->owner, fe.seq) < 0) {
        return false;
    }
    s->q_store_after = fe.seq;
    s->q_store_len--;
    s->q_store_bytes = s->q_store_bytes > fe.bytes ? s->q_store_bytes - fe.bytes : 0;
    return true;
}

static uint32_t hook_batch_gen(struct sess *s)
{
    return persist_batch_gen(sess_broker(s));
}

/* sess_persist_ops.after_commit: a held PUBREL (sess_pubrel.c) waits like
 * any acknowledgement, so its batch is committed at once, not lazily. */
static int hook_after_commit(struct sess *s, sess_commit_cb *fn, void *arg, uint32_t data)
{
    return persist_after_commit(sess_broker(s), fn, arg, data);
}

static void hook_refused(struct sess *s)
{
    sess_broker(s)->persist.refused++;
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
    if (drop && sess_drop_oldest_any(s)) {
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
    if (!put_msg(b, q->m)) {
        return false; /* an entry without its message would be lost on restart */
    }
    struct store_qentry e = {
            .owner = s->owner,
            .seq = q->seq,
            .msg_id = q->m->id,
            .qos = q->qos,
            /* bit 1: came through a shared subscription (sess_tag_rebuild) */
            .flags = (uint8_t)((q->retain ? 1u : 0u) | (sess_tag_share(q->tag).n ? 2u : 0u)),
    };
    int rc = store_queue_add(b->persist.store, &e);
    if (rc < 0) {
        note_error(b, "store queue entry", rc);
        return false;
    }
    return true;
}

static void hook_queue_del(struct sess *s, uint64_t seq)
{
    struct broker *b = sess_broker(s);
    int rc = store_queue_del(b->persist.store, s->owner, seq);
    if (rc < 0) {
        note_error(b, "delete queue entry", rc);
    }
}

static bool hook_inflight_put(struct sess *s, const struct sess_inflight *o)
{
    struct broker *b = sess_broker(s);
    /* A message read back from the store is there already: its queue entry
     * (deleted in this same batch by sess_pump) or its inflight record
     * (replaced here) holds it, and the batch moves that reference to the
     * new record at once. Putting it again would copy its payload into
     * the batch and make the writer look it up, once per replayed message
     * (issue 15). Any other message is put as before. */
    if (!o->m->from_store && !put_msg(b, o->m)) {
        return false;
    }
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
        return false;
    }
    return true;
}

static void hook_inflight_del(struct sess *s, uint16_t pid)
{
    struct broker *b = sess_broker(s);
    int rc = store_inflight_del(b->persist.store, s->owner, STORE_OUT, pid);
    if (rc < 0) {
        note_error(b, "delete inflight", rc);
    }
}

static bool hook_in_qos2_put(struct sess *s, uint16_t pid)
{
    struct broker *b = sess_broker(s);
    struct store_inflight f = {.owner = s->owner, .dir = STORE_IN, .pid = pid, .qos = 2};
    int rc = store_inflight_put(b->persist.store, &f);
    if (rc < 0) {
        note_error(b, "store inbound QoS 2 id", rc);
        return false;
    }
    return true;
}

static void hook_in_qos2_del(struct sess *s, uint16_t pid)
{
    struct broker *b = sess_broker(s);
    int rc = store_inflight_del(b->persist.store, s->owner, STORE_IN, pid);
    if (rc < 0) {
        note_error(b, "delete inbound QoS 2 id", rc);
    }
}

struct load_ctx {
    struct sess *s;
    struct sess_queued *first;
    struct sess_queued *last;
    size_t n;
    uint64_t bytes;
    uint64_t last_seq;
};

struct msg *persist_msg_from_store(const struct store_msg *sm)
{
    struct msg *m = msg_create(sm->topic, sm->payload, sm->props, sm->qos, sm->retain);
    if (m) {
        m->id = sm->id;
        m->from_store = true;
        m->created_s = (int64_t)sm->created_s;
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
    struct msg *m = q ? persist_msg_from_store(sm) : NULL;
    if (!m) {
        gw_free(q);
        return -ENOMEM;
    }
    /* The store keeps no Subscription Identifiers per entry: the
     * session's matching subscriptions give them again. */
    struct sess *s = ctx->s;
    bool shared = (e->flags & 2) != 0;
    struct sess_tag *tag = s->protocol == 5 ? sess_tag_rebuild(s, msg_topic(m), shared) : NULL;
    *q = (struct sess_queued){
            .m = m, .tag = tag, .seq = e->seq, .qos = e->qos, .retain = e->flags & 1};
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
    struct load_ctx ctx = {.s = s};
    ssize_t n = store_queue_read(b->persist.store, s->owner, s->q_store_after, max,
                                 on_queue_entry, &ctx);
    if (ctx.n > 0) {
        sess_queue_splice_loaded(s, ctx.first, ctx.last, ctx.n, ctx.bytes);
        s->q_store_after = ctx.last_seq;
        s->q_store_len = s->q_store_len > ctx.n ? s->q_store_len - ctx.n : 0;
        s->q_store_bytes = s->q_store_bytes > ctx.bytes ? s->q_store_bytes - ctx.bytes : 0;
    }
    if (n < 0) {
        note_error(b, "read stored queue", (int)n);
        return n;
    }
    if (n == 0 && !s->lim->mem_queue_max) {
        /* Nothing left on disk after q_store_after. (A spilling session's
         * newest entries may wait for their commit: its owner pumps it
         * again once they are on disk, see persist_on_commit.) */
        s->q_store_len = 0;
        s->q_store_bytes = 0;
    }
    return (ssize_t)ctx.n;
}

const struct sess_persist_ops persist_sess_ops = {
        .queue_add = hook_queue_add,
        .queue_del = hook_queue_del,
        .inflight_put = hook_inflight_put,
        .inflight_del = hook_inflight_del,
        .in_qos2_put = hook_in_qos2_put,
        .in_qos2_del = hook_in_qos2_del,
        .queue_load = hook_queue_load,
        .queue_drop_stored = hook_queue_drop_stored,
        .refused = hook_refused,
        .batch_gen = hook_batch_gen,
        .after_commit = hook_after_commit,
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

/* The record's extra: the waiting will (version byte 1, encode_will), then
 * the link state as u8 PERSIST_LINK_STATE_TAG, be32 length, bytes, then the
 * owner as u8 PERSIST_IDENTITY_TAG, be16 length, username (length 0:
 * anonymous). */
static int put_session(struct broker *b, const struct sess *s, uint64_t disconnected_s)
{
    uint8_t stack[1024];
    uint8_t *heap = NULL;
    uint8_t *wbuf = stack;
    size_t wcap = sizeof(stack);
    size_t uname_len = s->username ? strlen(s->username) : 0;
    size_t need = 5u + s->link_state_len + 3u + uname_len;
    if (s->will_wait && s->will) {
        need += 32u + s->will->topic_len + s->will->payload_len + s->will->props_len;
    }
    if (need > wcap && (heap = gw_alloc(need)) != NULL) {
        wbuf = heap;
        wcap = need;
    }
    size_t wlen = s->will_wait ? encode_will(s, wbuf, wcap) : 0;
    if (s->link_state_len && wlen + 5u + s->link_state_len <= wcap) {
        wbuf[wlen] = PERSIST_LINK_STATE_TAG;
        gw_put_be32(wbuf + wlen + 1, s->link_state_len);
        memcpy(wbuf + wlen + 5, s->link_state, s->link_state_len);
        wlen += 5u + s->link_state_len;
    }
    if (uname_len <= UINT16_MAX && wlen + 3u + uname_len <= wcap) {
        wbuf[wlen] = PERSIST_IDENTITY_TAG;
        gw_put_be16(wbuf + wlen + 1, (uint16_t)uname_len);
        if (uname_len) {
            memcpy(wbuf + wlen + 3, s->username, uname_len);
        }
        wlen += 3u + uname_len;
    }
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
    return rc;
}

int persist_session_connected(struct broker *b, struct sess *s, uint8_t protocol)
{
    if (!b->persist.store || s->clean) {
        return 0;
    }
    s->protocol = protocol;
    if (s->owner) {
        return put_session(b, s, 0);
    }
    s->owner = b->persist.next_owner++;
    s->pops = &persist_sess_ops;
    s->persist_arg = b;
    int rc = put_session(b, s, 0);
    if (rc < 0) {
        s->owner = 0;
        s->pops = NULL;
        s->persist_arg = NULL;
        return rc;
    }
    /* A live session that turned persistent keeps what it had. */
    for (uint32_t i = 0; i < s->n_subs; i++) {
        struct gw_bytes f = {(const uint8_t *)s->subs[i].filter, s->subs[i].filter_len};
        persist_sub_add(b, s, f, s->subs[i].qos, s->subs[i].options);
    }
    return 0;
}

void persist_session_update(struct broker *b, struct sess *s)
{
    if (b->persist.store && s->owner) {
        put_session(b, s, s->link ? 0 : (uint64_t)gw_clock_wall_s());
    }
}

void persist_link_put(struct broker *b, struct sess *s, struct gw_bytes key,
                      struct gw_bytes value)
{
    if (!b->persist.store || !s->owner) {
        return;
    }
    int rc = store_link_put(b->persist.store, s->owner, key, value);
    if (rc < 0) {
        note_error(b, "store link record", rc);
    }
}

void persist_link_del(struct broker *b, struct sess *s, struct gw_bytes key)
{
    if (!b->persist.store || !s->owner) {
        return;
    }
    int rc = store_link_del(b->persist.store, s->owner, key);
    if (rc < 0) {
        note_error(b, "delete link record", rc);
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
    s->owner = 0;
    s->pops = NULL;
}

void persist_sub_add(struct broker *b, struct sess *s, struct gw_bytes filter, uint8_t qos,
                     uint8_t options)
{
    if (!b->persist.store || !s->owner) {
        return;
    }
    /* The Subscription Identifier comes from the session's record of the
     * subscription (sess_sub_add_v5). */
    const struct sess_sub *ss = sess_sub_find(s, filter);
    struct store_sub sub = {.owner = s->owner,
                            .filter = filter,
                            .qos = qos,
                            .options = options,
                            .sub_id = ss ? ss->sub_id : 0};
    int rc = store_sub_put(b->persist.store, &sub);
    if (rc < 0) {
        note_error(b, "store subscription", rc);
    }
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
}

bool persist_retain(struct broker *b, struct msg *m)
{
    if (!b->persist.store) {
        return false;
    }
    int rc;
    if (m->payload_len == 0) {
        rc = store_retain_del(b->persist.store, msg_topic(m));
    } else {
        if (!put_msg(b, m)) {
            return true; /* logged; what was retained before stays */
        }
        rc = store_retain_put(b->persist.store, msg_topic(m), m->id);
    }
    if (rc < 0) {
        note_error(b, "store retained message", rc);
    }
    return true;
}

bool persist_over_quota(const struct broker *b)
{
    return b->persist.store && store_over_quota(b->persist.store);
}

bool persist_enabled(const struct broker *b)
{
    return b->persist.store != NULL;
}

/* ---- acknowledgements that wait for a commit ---- */

static struct ack_wait *wait_slot(struct broker *b)
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
    return &ab->acks[ab->n++];
}

int persist_after_commit(struct broker *b, persist_commit_cb *fn, void *arg, uint32_t data)
{
    if (!b->persist.store) {
        fn(arg, data, 0);
        return 0;
    }
    struct ack_wait *w = wait_slot(b);
    if (!w) {
        return -ENOMEM;
    }
    *w = (struct ack_wait){fn, arg, data};
    return 0;
}

uint32_t persist_batch_gen(const struct broker *b)
{
    return b->persist.batch_gen;
}

static void on_batch_done(void *arg, int rc)
{
    struct ack_batch *ab = arg;
    if (rc < 0) {
        note_error(ab->b, "commit", rc);
    }
    /* In the order they were queued: a front-end's acknowledgements keep
     * the order of the packets they answer. */
    for (size_t i = 0; i < ab->n; i++) {
        ab->acks[i].fn(ab->acks[i].fn_arg, ab->acks[i].fn_data, rc);
    }
    gw_free(ab->acks);
    gw_free(ab);
}

/* Hand the current batch and its waiting acknowledgements to the writer. */
static void commit_now(struct broker *b)
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
    loop_timer_stop(b->loop, &b->persist.lazy_timer);
}

/* A batch nobody waits for (no acknowledgement depends on it: the deletes
 * after a PUBACK, the inflight records of messages going out, a session's
 * record ...) is not committed at the end of every loop turn: it goes with
 * the next batch someone waits for, or once it holds PERSIST_LAZY_OPS
 * operations, or PERSIST_LAZY_MS after it was first left, whichever comes
 * first. A bridge replaying into a slow upstream ran ten loop turns per
 * window and committed (and, with `sync`, fsynced) most of them, each for a
 * few deletes: 700 commits for 30,000 messages, and most of the replay's
 * CPU (issue 15). What a crash can cost by this is a deletion of up to
 * PERSIST_LAZY_MS: a message the receiver had acknowledged is sent again
 * (QoS 1 allows it; QoS 2 keeps its packet id, [MQTT-4.3.3-9]); nothing
 * acknowledged to a sender waits here, so nothing acknowledged is lost. */
#define PERSIST_LAZY_MS  10u
#define PERSIST_LAZY_OPS 2048u

static void on_lazy_due(struct loop *l, void *arg)
{
    (void)l;
    commit_now(arg);
}

void persist_lazy_init(struct broker *b)
{
    loop_timer_init(&b->persist.lazy_timer, on_lazy_due, b);
}

void persist_flush(struct broker *b)
{
    struct store *st = b->persist.store;
    if (!st || (store_batch_empty(st) && !b->persist.acks)) {
        return;
    }
    if (!b->persist.acks && store_batch_ops(st) < PERSIST_LAZY_OPS) {
        if (loop_timer_armed(&b->persist.lazy_timer) ||
            loop_timer_start(b->loop, &b->persist.lazy_timer,
                             loop_now_ms(b->loop) + PERSIST_LAZY_MS) == 0) {
            return;
        }
    }
    commit_now(b);
}

void persist_commit_pending(struct broker *b)
{
    commit_now(b);
    loop_timer_stop(b->loop, &b->persist.lazy_timer);
}
