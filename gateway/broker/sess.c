/* sess.c - session state: inflight window, queue, inbound QoS 2 ids and
 * will (its subscriptions: sess_sub.c). See sess.h. */
#include "sess.h"

#include "alloc.h"
#include "clock.h"
#include "gw_err.h"
#include "log.h"
#include "sess_priv.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct sess *sess_create(struct gw_bytes id, bool clean, const struct sess_limits *lim,
                         struct sess_counters *cnt)
{
    if (id.n > UINT16_MAX) {
        return NULL;
    }
    struct sess *s = gw_calloc(1, offsetof(struct sess, id) + id.n + 1);
    if (!s) {
        return NULL;
    }
    if (id.n) {
        memcpy(s->id, id.p, id.n);
    }
    s->id[id.n] = '\0';
    s->id_len = (uint16_t)id.n;
    s->clean = clean;
    s->next_pid = 1;
    s->lim = lim;
    s->cnt = cnt;
    return s;
}

static void queue_clear(struct sess *s)
{
    struct sess_queued *q = s->q_head;
    while (q) {
        struct sess_queued *next = q->next;
        msg_unref(q->m);
        sess_tag_unref(q->tag);
        gw_free(q);
        q = next;
    }
    s->cnt->queued -= s->q_len;
    s->q_head = NULL;
    s->q_tail = NULL;
    s->q_len = 0;
    s->q_bytes = 0;
}

void sess_unroute(struct sess *s, struct route *r)
{
    for (size_t i = 0; i < s->n_subs; i++) {
        struct gw_bytes f = {(const uint8_t *)s->subs[i].filter, s->subs[i].filter_len};
        (void)route_sub_del(r, f, &s->ep);
    }
    sess_sub_free_all(s);
}

void sess_destroy(struct sess *s, struct route *r)
{
    if (!s) {
        return;
    }
    sess_unroute(s, r);
    sess_rel_forget(s);
    for (size_t i = 0; i < s->n_out; i++) {
        msg_unref(s->out[i].m);
        sess_tag_unref(s->out[i].tag);
    }
    s->cnt->inflight -= s->n_out;
    gw_free(s->out);
    gw_free(s->pid_bits);
    queue_clear(s);
    gw_free(s->in_qos2);
    msg_unref(s->will);
    gw_free(s->username);
    gw_free(s->link_state);
    gw_free(s->link_recs);
    gw_free(s);
}

/* Replace the blob *dst (*dst_len bytes) by a copy of p[0..n); on failure
 * it stays as it was. */
static int set_blob(uint8_t **dst, uint32_t *dst_len, const uint8_t *p, size_t n)
{
    uint8_t *copy = NULL;
    if (n > UINT32_MAX) {
        return -EINVAL;
    }
    if (n) {
        copy = gw_alloc(n);
        if (!copy) {
            return -ENOMEM;
        }
        memcpy(copy, p, n);
    }
    gw_free(*dst);
    *dst = copy;
    *dst_len = (uint32_t)n;
    return 0;
}

int sess_set_link_state(struct sess *s, const uint8_t *p, size_t n)
{
    return set_blob(&s->link_state, &s->link_state_len, p, n);
}

int sess_set_link_recs(struct sess *s, const uint8_t *p, size_t n)
{
    return set_blob(&s->link_recs, &s->link_recs_len, p, n);
}

/* Room for n bytes: capacities are powers of two, so appending records one
 * by one costs O(total), not a copy per record. */
static size_t pow2_at_least(size_t n)
{
    size_t c = 64;
    while (c < n) {
        c *= 2;
    }
    return c;
}

int sess_add_link_rec(struct sess *s, struct gw_bytes key, struct gw_bytes value)
{
    size_t have = s->link_recs_len;
    size_t add = 6u + key.n + value.n;
    if (key.n > UINT16_MAX || value.n > UINT32_MAX || add > UINT32_MAX - have) {
        return -EINVAL;
    }
    size_t cap = have ? pow2_at_least(have) : 0;
    if (have + add > cap) {
        uint8_t *p = gw_realloc(s->link_recs, pow2_at_least(have + add));
        if (!p) {
            return -ENOMEM;
        }
        s->link_recs = p;
    }
    uint8_t *w = s->link_recs + have;
    gw_put_be16(w, (uint16_t)key.n);
    memcpy(w + 2, key.p, key.n);
    gw_put_be32(w + 2 + key.n, (uint32_t)value.n);
    if (value.n) {
        memcpy(w + 6 + key.n, value.p, value.n);
    }
    s->link_recs_len = (uint32_t)(have + add);
    return 0;
}

/* At most this many messages in flight, whatever max_inflight says (0,
 * "unlimited", included): one per packet id [MQTT-2.3.1-1]. With all ids
 * taken, allocating another could only loop forever. */
#define SESS_PIDS 65535u

/* From this many ids in flight on, a bitmap (8 KiB) answers "is this id
 * taken" instead of a scan of the window: a client that acknowledges
 * nothing must not make each new id cost a scan of 65,535 entries. */
#define SESS_PID_BITS_FROM 256u

static bool window_open(const struct sess *s)
{
    uint32_t max = s->lim->max_inflight;
    uint64_t max_bytes = s->lim->max_inflight_bytes;
    /* max_inflight_bytes never blocks an empty window: one message always
     * goes, however large (mosquitto's rule). */
    return s->n_out < SESS_PIDS && (max == 0 || s->n_out < max) &&
           (s->recv_max == 0 || s->n_out < s->recv_max) &&
           (max_bytes == 0 || s->n_out == 0 || s->out_bytes < max_bytes);
}

static void pid_mark(struct sess *s, uint16_t pid, bool on)
{
    if (!s->pid_bits) {
        return;
    }
    uint64_t bit = UINT64_C(1) << (pid & 63u);
    if (on) {
        s->pid_bits[pid >> 6] |= bit;
    } else {
        s->pid_bits[pid >> 6] &= ~bit;
    }
}

static bool pid_in_use(struct sess *s, uint16_t pid)
{
    if (!s->pid_bits && s->n_out >= SESS_PID_BITS_FROM) {
        /* Built once, kept for the session's life; on ENOMEM the scan
         * below is slower but still right. */
        s->pid_bits = gw_calloc(65536u / 64u, sizeof(uint64_t));
        for (size_t i = 0; s->pid_bits && i < s->n_out; i++) {
            pid_mark(s, s->out[i].pid, true);
        }
    }
    if (s->pid_bits) {
        return (s->pid_bits[pid >> 6] >> (pid & 63u)) & 1u;
    }
    for (size_t i = 0; i < s->n_out; i++) {
        if (s->out[i].pid == pid) {
            return true;
        }
    }
    return false;
}

/* Packet ids are unique among a session's unacknowledged packets
 * [MQTT-2.3.1-2]; 0 is never used [MQTT-2.3.1-1]. Callers keep fewer than
 * SESS_PIDS in flight (window_open), so a free id exists. */
static uint16_t next_pid(struct sess *s)
{
    for (;;) {
        uint16_t pid = s->next_pid;
        s->next_pid = (uint16_t)(pid == 65535 ? 1 : pid + 1);
        if (!pid_in_use(s, pid)) {
            return pid;
        }
    }
}

static int send_pub(const struct sess *s, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                    bool retain, struct sess_tag *tag)
{
    if (tag && s->ops->send_publish_tag) {
        return s->ops->send_publish_tag(s->link, m, qos, pid, dup, retain, tag);
    }
    return s->ops->send_publish(s->link, m, qos, pid, dup, retain);
}

static void remove_out(struct sess *s, size_t i);

/* Put m in flight and send it. Takes a new reference to m and to tag.
 * Returns SESS_DLV_* flags. */
static unsigned send_inflight(struct sess *s, struct msg *m, uint8_t qos, bool retain,
                              struct sess_tag *tag)
{
    if (s->n_out == s->cap_out) {
        uint32_t cap = s->cap_out ? s->cap_out * 2 : 4;
        struct sess_inflight *o = gw_realloc(s->out, cap * sizeof(*o));
        if (!o) {
            s->cnt->dropped_queue_full++;
            return SESS_DLV_NOMEM;
        }
        s->out = o;
        s->cap_out = cap;
    }
    uint16_t pid = next_pid(s);
    pid_mark(s, pid, true);
    struct sess_inflight *o = &s->out[s->n_out++];
    *o = (struct sess_inflight){
            .m = msg_ref(m),
            .tag = sess_tag_ref(tag),
            .seq = ++s->out_seq_next,
            .pid = pid,
            .qos = qos,
            .state = qos == 1 ? SESS_OUT_WAIT_PUBACK : SESS_OUT_WAIT_PUBREC,
            .retain = retain,
    };
    unsigned dlv = 0;
    if (s->pops) {
        if (!s->pops->inflight_put(s, o)) {
            /* Not on disk: it must not be acknowledged as kept. */
            msg_unref(o->m);
            sess_tag_unref(o->tag);
            pid_mark(s, pid, false);
            s->n_out--;
            s->out_seq_next--;
            s->cnt->dropped_queue_full++;
            return SESS_DLV_NOMEM;
        }
        dlv = SESS_DLV_STORED;
    }
    s->cnt->inflight++;
    s->out_bytes += m->payload_len;
    if (send_pub(s, m, qos, pid, false, retain, tag) == SESS_SEND_DISCARDED) {
        remove_out(s, s->n_out - 1); /* [MQTT-3.1.2-25] */
    }
    return dlv;
}

static void note_drop(struct sess *s, const char *why)
{
    if (!s->dropping) {
        s->dropping = true;
        gw_log(GW_WARN, "sess", "client=\"%s\" dropping messages: %s", s->id, why);
    }
}

uint64_t sess_queue_len(const struct sess *s)
{
    return s->q_len + s->q_store_len;
}

uint64_t sess_queue_bytes(const struct sess *s)
{
    return s->q_bytes + s->q_store_bytes;
}

static bool spills(const struct sess *s)
{
    return s->pops && s->lim->mem_queue_max;
}

static bool queue_full(const struct sess *s, const struct msg *m)
{
    const struct sess_limits *lim = s->lim;
    return (lim->max_queued && sess_queue_len(s) >= lim->max_queued) ||
           (lim->max_queued_bytes && sess_queue_bytes(s) + m->payload_len > lim->max_queued_bytes);
}

/* A full queue: apply the policy. True when m may still be queued. */
static bool make_room(struct sess *s, const struct msg *m)
{
    switch (s->lim->full_policy) {
    case SESS_FULL_REFUSE:
        s->cnt->refused++;
        note_drop(s, "queue full, refusing new messages");
        if (s->pops && s->pops->refused) {
            s->pops->refused(s);
        }
        return false;
    case SESS_FULL_DROP_OLDEST:
        while (queue_full(s, m) && sess_drop_oldest_any(s)) {
            s->cnt->dropped_queue_full++;
        }
        if (!queue_full(s, m)) {
            note_drop(s, "queue full, dropping the oldest messages");
            return true;
        }
        break;
    default:
        break;
    }
    s->cnt->dropped_queue_full++;
    note_drop(s, "queue full (max_queued_messages / max_queued_bytes)");
    return false;
}

/* The queue goes on on disk only: the entry is in the store's batch, the
 * message is not kept in memory. Entries on disk come after those in
 * memory, so the region starts after everything queued so far. (Its
 * subscription identifiers are found again when it is loaded.) */
static unsigned enqueue_on_disk(struct sess *s, struct msg *m, uint8_t qos, bool retain,
                                struct sess_tag *tag)
{
    struct sess_queued q = {
            .m = m, .tag = tag, .seq = ++s->q_seq_next, .qos = qos, .retain = retain};
    if (!s->pops->queue_add(s, &q)) {
        s->cnt->dropped_queue_full++;
        note_drop(s, "store quota reached");
        return SESS_DLV_REFUSED;
    }
    if (s->q_store_len == 0) {
        s->q_store_after = q.seq - 1;
    }
    s->q_store_len++;
    s->q_store_bytes += m->payload_len;
    return SESS_DLV_STORED;
}

/* Returns SESS_DLV_* flags: a store write joined the batch, or the store
 * (or the refuse policy) refused the message. */
static unsigned enqueue(struct sess *s, struct msg *m, uint8_t qos, bool retain,
                        struct sess_tag *tag)
{
    if (queue_full(s, m) && !make_room(s, m)) {
        return s->lim->full_policy == SESS_FULL_REFUSE ? SESS_DLV_REFUSED : 0;
    }
    if (spills(s) && (s->q_store_len > 0 || s->q_len >= s->lim->mem_queue_max)) {
        return enqueue_on_disk(s, m, qos, retain, tag);
    }
    struct sess_queued *q = gw_alloc(sizeof(*q));
    if (!q) {
        s->cnt->dropped_queue_full++;
        note_drop(s, "out of memory");
        return SESS_DLV_NOMEM;
    }
    *q = (struct sess_queued){
            .m = m, .tag = tag, .seq = ++s->q_seq_next, .qos = qos, .retain = retain};
    if (s->pops && !s->pops->queue_add(s, q)) {
        gw_free(q);
        s->cnt->dropped_queue_full++;
        note_drop(s, "store quota reached");
        return SESS_DLV_REFUSED;
    }
    msg_ref(m);
    sess_tag_ref(tag);
    if (s->q_tail) {
        s->q_tail->next = q;
    } else {
        s->q_head = q;
    }
    s->q_tail = q;
    s->q_len++;
    s->q_bytes += m->payload_len;
    s->cnt->queued++;
    return s->pops ? SESS_DLV_STORED : 0;
}

bool sess_drop_oldest(struct sess *s)
{
    struct sess_queued *q = s->q_head;
    if (!q) {
        return false;
    }
    s->q_head = q->next;
    if (!s->q_head) {
        s->q_tail = NULL;
    }
    s->q_len--;
    s->q_bytes -= q->m->payload_len;
    s->cnt->queued--;
    if (s->pops) {
        s->pops->queue_del(s, q->seq);
    }
    msg_unref(q->m);
    sess_tag_unref(q->tag);
    gw_free(q);
    return true;
}

bool sess_drop_oldest_any(struct sess *s)
{
    bool disk = s->pops && s->pops->queue_drop_stored && s->q_store_len > 0;
    /* A spilling session's disk entries are its newest; a restored one's
     * are its oldest. */
    if (disk && (!spills(s) || s->q_len == 0)) {
        return s->pops->queue_drop_stored(s);
    }
    return sess_drop_oldest(s);
}

void sess_queue_splice_loaded(struct sess *s, struct sess_queued *first, struct sess_queued *last,
                              size_t n, uint64_t bytes)
{
    if (spills(s)) {
        last->next = NULL;
        if (s->q_tail) {
            s->q_tail->next = first;
        } else {
            s->q_head = first;
        }
        s->q_tail = last;
    } else {
        last->next = s->q_head;
        s->q_head = first;
        if (!s->q_tail) {
            s->q_tail = last;
        }
    }
    s->q_len += (uint32_t)n;
    s->q_bytes += bytes;
    s->cnt->queued += n;
}

/* MQTT 5 Message Expiry Interval: an expired message is not delivered
 * [MQTT-3.3.2-5]. */
static bool expired(const struct sess *s, const struct msg *m)
{
    return m->expiry_ms && s->lim->loop && loop_now_ms(s->lim->loop) >= m->expiry_ms;
}

unsigned sess_deliver(struct sess *s, struct msg *m, uint8_t qos, bool retain)
{
    return sess_deliver_tag(s, m, qos, retain, NULL);
}

unsigned sess_deliver_tag(struct sess *s, struct msg *m, uint8_t qos, bool retain,
                          struct sess_tag *tag)
{
    if (expired(s, m)) {
        return 0;
    }
    if (!s->link) {
        /* Offline persistent session: QoS 1/2 are kept, QoS 0 only when
         * queue_qos0_messages is set (mosquitto's option). */
        if (qos > 0 || s->lim->queue_qos0) {
            return enqueue(s, m, qos, retain, tag);
        }
        return 0;
    }
    if (qos == 0) {
        if (!s->ops->writable(s->link)) {
            s->cnt->dropped_qos0_slow++;
            note_drop(s, "client not reading (QoS 0 dropped)");
            return 0;
        }
        (void)send_pub(s, m, 0, 0, false, retain, tag);
        return 0;
    }
    /* Behind a non-empty queue a message waits its turn: per-topic order
     * [MQTT-4.6.0-6]. */
    if (s->q_len == 0 && s->q_store_len == 0 && window_open(s) && s->ops->writable(s->link)) {
        return send_inflight(s, m, qos, retain, tag);
    }
    return enqueue(s, m, qos, retain, tag);
}

/* A durable session restored from the store may have queue entries on
 * disk only; they come before anything queued in memory since. A spilling
 * session reads its disk entries in chunks as the memory queue drains. */
static void load_stored(struct sess *s)
{
    if (!s->pops || s->q_store_len == 0) {
        return;
    }
    if (spills(s)) {
        uint32_t max = s->lim->mem_queue_max;
        if (s->q_len <= max / 2) {
            (void)s->pops->queue_load(s, max - s->q_len);
        }
        return;
    }
    if (s->q_head && s->q_head->seq <= s->q_store_after) {
        return;
    }
    uint32_t room = s->lim->max_inflight ? s->lim->max_inflight : 64;
    (void)s->pops->queue_load(s, room);
}

/* Too old for the backlog limit (sess_limits.max_age_s)? */
static bool too_old(const struct sess *s, const struct msg *m)
{
    return s->lim->max_age_s && m->created_s &&
           gw_clock_wall_s() - m->created_s > (int64_t)s->lim->max_age_s;
}

void sess_pump(struct sess *s)
{
    load_stored(s);
    while (s->link && s->q_head && window_open(s) && s->ops->writable(s->link)) {
        struct sess_queued *q = s->q_head;
        s->q_head = q->next;
        if (!s->q_head) {
            s->q_tail = NULL;
        }
        s->q_len--;
        s->q_bytes -= q->m->payload_len;
        s->cnt->queued--;
        if (s->pops) {
            s->pops->queue_del(s, q->seq);
        }
        if (expired(s, q->m)) {
            s->cnt->dropped_expired++; /* waited too long in the queue: dropped, not sent */
        } else if (too_old(s, q->m)) {
            s->cnt->dropped_age++;
            note_drop(s, "older than the backlog's maximum age");
        } else if (q->qos == 0) {
            (void)send_pub(s, q->m, 0, 0, false, q->retain, q->tag);
        } else {
            (void)send_inflight(s, q->m, q->qos, q->retain, q->tag);
        }
        msg_unref(q->m);
        sess_tag_unref(q->tag);
        gw_free(q);
        if (!s->q_head) {
            load_stored(s);
        }
    }
    if (s->q_len == 0 && s->q_store_len == 0) {
        s->dropping = false;
    }
}

int sess_attach(struct sess *s, const struct sess_link_ops *ops, void *link)
{
    s->ops = ops;
    s->link = link;
    s->dropping = false;
    /* Resend unacknowledged PUBLISH with DUP and PUBREL packets in their
     * original order on reconnect [MQTT-4.4.0-1] [MQTT-4.6.0-1]. */
    for (size_t i = 0; i < s->n_out; i++) {
        struct sess_inflight *o = &s->out[i];
        int rc;
        if (o->state == SESS_OUT_WAIT_PUBCOMP) {
            rc = ops->send_pubrel(link, o->pid);
        } else {
            if (o->rel_held) {
                /* Its PUBREC's record is not committed yet: PUBLISH again
                 * (the receiver never got PUBREL, it still holds the id);
                 * its PUBREC starts a new hold. */
                sess_rel_cancel(s, o);
            }
            rc = send_pub(s, o->m, o->qos, o->pid, true, o->retain, o->tag);
        }
        if (rc < 0) {
            return rc;
        }
        if (rc == SESS_SEND_DISCARDED) {
            remove_out(s, i--); /* [MQTT-3.1.2-25]: the new link's maximum is lower */
        }
    }
    sess_pump(s);
    return 0;
}

void sess_detach(struct sess *s)
{
    s->ops = NULL;
    s->link = NULL;
}

ssize_t sess_out_find(const struct sess *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->n_out; i++) {
        if (s->out[i].pid == pid) {
            return (ssize_t)i;
        }
    }
    return -1;
}

static void remove_out(struct sess *s, size_t i)
{
    if (s->out[i].rel_held) {
        sess_rel_cancel(s, &s->out[i]);
    }
    if (s->pops) {
        s->pops->inflight_del(s, s->out[i].pid);
    }
    pid_mark(s, s->out[i].pid, false);
    s->out_bytes -= s->out[i].m->payload_len;
    msg_unref(s->out[i].m);
    sess_tag_unref(s->out[i].tag);
    memmove(&s->out[i], &s->out[i + 1], (s->n_out - i - 1) * sizeof(s->out[0]));
    s->n_out--;
    s->cnt->inflight--;
}

int sess_on_puback(struct sess *s, uint16_t pid)
{
    ssize_t i = sess_out_find(s, pid);
    if (i < 0 || s->out[i].state != SESS_OUT_WAIT_PUBACK) {
        return GW_E_PROTOCOL;
    }
    remove_out(s, (size_t)i);
    sess_pump(s);
    return 0;
}

void sess_out_discard(struct sess *s, uint16_t pid, const struct msg *m)
{
    ssize_t i = sess_out_find(s, pid);
    if (i >= 0 && s->out[i].m == m && s->out[i].state != SESS_OUT_WAIT_PUBCOMP) {
        remove_out(s, (size_t)i);
    }
}

int sess_out_abandon(struct sess *s, uint16_t pid)
{
    ssize_t i = sess_out_find(s, pid);
    if (i < 0) {
        return GW_E_PROTOCOL;
    }
    remove_out(s, (size_t)i);
    sess_pump(s);
    return 0;
}

int sess_on_pubrec(struct sess *s, uint16_t pid)
{
    ssize_t i = sess_out_find(s, pid);
    if (i < 0) {
        return GW_E_PROTOCOL;
    }
    struct sess_inflight *o = &s->out[i];
    if (o->state == SESS_OUT_WAIT_PUBCOMP) {
        /* A repeated PUBREC. WAIT_PUBCOMP in memory means the record is
         * committed (or the session is not durable): PUBREL again at once
         * [MQTT-4.3.3-1]. */
        return s->ops ? s->ops->send_pubrel(s->link, pid) : 0;
    }
    if (o->state != SESS_OUT_WAIT_PUBREC) {
        return GW_E_PROTOCOL;
    }
    if (s->pops) {
        /* The message is delivered; only the id stays until PUBCOMP. The
         * PUBREL waits until that is on disk (sess_pubrel.c); a PUBREC
         * repeated meanwhile gets it then. */
        return o->rel_held ? 0 : sess_rel_hold(s, o);
    }
    o->state = SESS_OUT_WAIT_PUBCOMP;
    /* [MQTT-4.3.3-1]: answer PUBREC with PUBREL. */
    return s->ops ? s->ops->send_pubrel(s->link, pid) : 0;
}

int sess_on_pubcomp(struct sess *s, uint16_t pid)
{
    ssize_t i = sess_out_find(s, pid);
    if (i < 0 || s->out[i].state != SESS_OUT_WAIT_PUBCOMP) {
        return GW_E_PROTOCOL;
    }
    remove_out(s, (size_t)i);
    sess_pump(s);
    return 0;
}

size_t sess_share_release(struct sess *s, sess_share_cb *cb, void *arg)
{
    size_t handed = 0;
    /* Sent and unacknowledged QoS 1 (in send order), then never sent. */
    for (uint32_t i = 0; i < s->n_out;) {
        struct sess_inflight *o = &s->out[i];
        if (o->state == SESS_OUT_WAIT_PUBACK && sess_tag_share(o->tag).n &&
            cb(arg, s, o->m, o->qos, o->retain, o->tag)) {
            remove_out(s, i);
            handed++;
            continue;
        }
        i++;
    }
    struct sess_queued **pp = &s->q_head;
    struct sess_queued *prev = NULL;
    while (*pp) {
        struct sess_queued *q = *pp;
        if (!sess_tag_share(q->tag).n || !cb(arg, s, q->m, q->qos, q->retain, q->tag)) {
            prev = q;
            pp = &q->next;
            continue;
        }
        *pp = q->next;
        if (s->q_tail == q) {
            s->q_tail = prev;
        }
        s->q_len--;
        s->q_bytes -= q->m->payload_len;
        s->cnt->queued--;
        if (s->pops) {
            s->pops->queue_del(s, q->seq);
        }
        msg_unref(q->m);
        sess_tag_unref(q->tag);
        gw_free(q);
        handed++;
    }
    return handed;
}

bool sess_in_qos2_has(const struct sess *s, uint16_t pid)
{
    for (size_t i = 0; i < s->n_in_qos2; i++) {
        if (s->in_qos2[i] == pid) {
            return true;
        }
    }
    return false;
}

bool sess_in_qos2_begin(struct sess *s, uint16_t pid, int *err)
{
    *err = 0;
    for (size_t i = 0; i < s->n_in_qos2; i++) {
        if (s->in_qos2[i] == pid) {
            return false;
        }
    }
    if (s->n_in_qos2 == s->cap_in_qos2) {
        /* At most 65535 ids (0 is never used) can await PUBREL: the
         * capacity stops there instead of doubling past 16 bits (32768 * 2
         * wrapped to 0 and the next id was written past the end). */
        uint32_t want = s->cap_in_qos2 ? 2u * s->cap_in_qos2 : 4u;
        uint16_t cap = (uint16_t)(want < UINT16_MAX ? want : UINT16_MAX);
        uint16_t *a = gw_realloc(s->in_qos2, cap * sizeof(*a));
        if (!a) {
            *err = -ENOMEM;
            return false;
        }
        s->in_qos2 = a;
        s->cap_in_qos2 = cap;
    }
    if (s->pops && !s->pops->in_qos2_put(s, pid)) {
        /* Unremembered on disk, a resend after a restart would be
         * delivered twice: the PUBLISH is not acknowledged. */
        *err = -ENOMEM;
        return false;
    }
    s->in_qos2[s->n_in_qos2++] = pid;
    return true;
}

int sess_in_qos2_release(struct sess *s, uint16_t pid)
{
    for (size_t i = 0; i < s->n_in_qos2; i++) {
        if (s->in_qos2[i] == pid) {
            s->in_qos2[i] = s->in_qos2[--s->n_in_qos2];
            if (s->pops) {
                s->pops->in_qos2_del(s, pid);
            }
            return 0;
        }
    }
    return -ENOENT;
}

void sess_set_will(struct sess *s, struct msg *m)
{
    msg_unref(s->will);
    s->will = m;
}

struct msg *sess_take_will(struct sess *s)
{
    struct msg *m = s->will;
    s->will = NULL;
    return m;
}
