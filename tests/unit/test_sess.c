/* Unit tests for the session state machine (sess.c) with a fake link. */
#include "alloc.h"
#include "route.h"
#include "sess.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define MAX_SENT 64

struct sent {
    char kind; /* 'P' publish, 'R' pubrel */
    uint16_t pid;
    uint8_t qos;
    bool dup;
    bool retain;
    char topic[32];
    uint32_t first_id; /* first Subscription Identifier of the tag, 0 = none */
};

struct fake_link {
    struct sent sent[MAX_SENT];
    size_t n;
    bool writable;
};

static int fake_publish(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup, bool retain)
{
    struct fake_link *f = link;
    assert_true(f->n < MAX_SENT);
    struct sent *s = &f->sent[f->n++];
    s->kind = 'P';
    s->pid = pid;
    s->qos = qos;
    s->dup = dup;
    s->retain = retain;
    strncpy(s->topic, m->topic, sizeof(s->topic) - 1);
    return 0;
}

static int fake_pubrel(void *link, uint16_t pid)
{
    struct fake_link *f = link;
    f->sent[f->n++] = (struct sent){.kind = 'R', .pid = pid};
    return 0;
}

static bool fake_writable(void *link)
{
    return ((struct fake_link *)link)->writable;
}

static int fake_publish_tag(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                            bool retain, struct sess_tag *tag)
{
    struct fake_link *f = link;
    int rc = fake_publish(link, m, qos, pid, dup, retain);
    f->sent[f->n - 1].first_id = tag->n_ids ? tag->ids[0] : 0;
    return rc;
}

static const struct sess_link_ops fake_ops = {fake_publish, fake_pubrel, fake_writable, NULL,
                                              fake_publish_tag};

struct fixture {
    struct sess_limits lim;
    struct sess_counters cnt;
    struct route *r;
    struct sess *s;
    struct fake_link link;
};

static int setup(void **state)
{
    struct fixture *fx = gw_calloc(1, sizeof(*fx));
    fx->lim = (struct sess_limits){.max_inflight = 2, .max_queued = 3};
    assert_int_equal(route_create(&fx->r), 0);
    fx->s = sess_create(gw_bytes_str("c1"), false, &fx->lim, &fx->cnt);
    assert_non_null(fx->s);
    fx->link.writable = true;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    sess_destroy(fx->s, fx->r);
    route_destroy(fx->r);
    gw_free(fx);
    assert_int_equal(gw_alloc_bytes(), 0);
    return 0;
}

static struct msg *mk(const char *topic, uint8_t qos)
{
    struct gw_bytes none = {NULL, 0};
    return msg_create(gw_bytes_str(topic), gw_bytes_str("x"), none, qos, false);
}

static void deliver(struct fixture *fx, const char *topic, uint8_t qos)
{
    struct msg *m = mk(topic, qos);
    sess_deliver(fx->s, m, qos, false);
    msg_unref(m);
}

static void test_sess_qos1_window_then_queue(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "a", 1);
    deliver(fx, "b", 1);
    deliver(fx, "c", 1);
    assert_int_equal(fx->link.n, 2); /* window of 2 */
    assert_int_equal(fx->s->q_len, 1);
    assert_int_equal(fx->link.sent[0].pid, 1);
    assert_int_equal(fx->link.sent[1].pid, 2);
    assert_int_equal(sess_on_puback(fx->s, 1), 0);
    assert_int_equal(fx->link.n, 3); /* queue moved into the window */
    assert_string_equal(fx->link.sent[2].topic, "c");
    assert_int_equal(fx->link.sent[2].pid, 3);
    assert_int_equal(fx->cnt.inflight, 2);
}

static void test_sess_unknown_puback_protocol_error(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    assert_true(sess_on_puback(fx->s, 77) < 0);
}

static void test_sess_qos2_outbound_flow(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "a", 2);
    assert_int_equal(fx->link.sent[0].qos, 2);
    assert_true(sess_on_puback(fx->s, 1) < 0); /* wrong ack for QoS 2 */
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    assert_int_equal(fx->link.sent[1].kind, 'R');
    assert_true(sess_on_pubrec(fx->s, 1) == 0); /* repeated PUBREC: PUBREL again */
    assert_int_equal(fx->link.sent[2].kind, 'R');
    assert_int_equal(sess_on_pubcomp(fx->s, 1), 0);
    assert_int_equal(fx->s->n_out, 0);
    assert_true(sess_on_pubcomp(fx->s, 1) < 0);
}

static void test_sess_reconnect_resends_with_dup(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "a", 1);
    deliver(fx, "b", 2);
    assert_int_equal(sess_on_pubrec(fx->s, 2), 0);
    sess_detach(fx->s);
    deliver(fx, "c", 1); /* offline: queued */
    assert_int_equal(fx->s->q_len, 1);
    struct fake_link second = {.writable = true};
    assert_int_equal(sess_attach(fx->s, &fake_ops, &second), 0);
    /* [MQTT-4.4.0-1]: PUBLISH with DUP, PUBREL resent, in order. */
    assert_int_equal(second.n, 2);
    assert_int_equal(second.sent[0].kind, 'P');
    assert_true(second.sent[0].dup);
    assert_int_equal(second.sent[0].pid, 1);
    assert_int_equal(second.sent[1].kind, 'R');
    assert_int_equal(second.sent[1].pid, 2);
    /* The queued message waits for the window (2 in flight). */
    assert_int_equal(fx->s->q_len, 1);
    assert_int_equal(sess_on_puback(fx->s, 1), 0);
    assert_int_equal(second.n, 3);
    assert_false(second.sent[2].dup);
    assert_string_equal(second.sent[2].topic, "c");
}

static void test_sess_offline_qos0_dropped_unless_configured(void **state)
{
    struct fixture *fx = *state;
    deliver(fx, "a", 0);
    assert_int_equal(fx->s->q_len, 0);
    fx->lim.queue_qos0 = true;
    deliver(fx, "a", 0);
    assert_int_equal(fx->s->q_len, 1);
}

static void test_sess_queue_limit_drops_newest(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 5; i++) {
        deliver(fx, "q", 1);
    }
    assert_int_equal(fx->s->q_len, 3);
    assert_int_equal(fx->cnt.dropped_queue_full, 2);
}

static void test_sess_queue_bytes_limit(void **state)
{
    struct fixture *fx = *state;
    fx->lim.max_queued = 0;
    fx->lim.max_queued_bytes = 2; /* payload "x" is one byte */
    for (int i = 0; i < 4; i++) {
        deliver(fx, "q", 1);
    }
    assert_int_equal(fx->s->q_len, 2);
}

static void test_sess_qos0_dropped_when_not_writable(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    fx->link.writable = false;
    deliver(fx, "a", 0);
    deliver(fx, "b", 1);
    assert_int_equal(fx->link.n, 0);
    assert_int_equal(fx->cnt.dropped_qos0_slow, 1);
    assert_int_equal(fx->s->q_len, 1); /* QoS 1 waits, not dropped */
    fx->link.writable = true;
    sess_pump(fx->s);
    assert_int_equal(fx->link.n, 1);
}

static void test_sess_inbound_qos2_dedup(void **state)
{
    struct fixture *fx = *state;
    int err;
    assert_true(sess_in_qos2_begin(fx->s, 7, &err));
    assert_false(sess_in_qos2_begin(fx->s, 7, &err)); /* [MQTT-4.3.3-2] */
    assert_true(sess_in_qos2_begin(fx->s, 8, &err));
    assert_int_equal(sess_in_qos2_release(fx->s, 7), 0);
    assert_true(sess_in_qos2_begin(fx->s, 7, &err)); /* a new message after PUBREL */
    assert_int_equal(sess_in_qos2_release(fx->s, 99), -ENOENT);
}

/* A client may leave every packet id unreleased: 65535 ids awaiting
 * PUBREL must all be remembered (the table once wrapped its 16-bit
 * capacity to 0 at 32768 ids and wrote past its end). */
static void test_sess_inbound_qos2_all_ids_awaiting_pubrel(void **state)
{
    struct fixture *fx = *state;
    int err;
    for (uint32_t pid = 1; pid <= 65535; pid++) {
        assert_true(sess_in_qos2_begin(fx->s, (uint16_t)pid, &err));
        assert_int_equal(err, 0);
    }
    assert_int_equal(fx->s->n_in_qos2, 65535);
    assert_false(sess_in_qos2_begin(fx->s, 1, &err)); /* still a duplicate */
    assert_false(sess_in_qos2_begin(fx->s, 32768, &err));
    assert_false(sess_in_qos2_begin(fx->s, 65535, &err));
    assert_int_equal(err, 0);
    assert_int_equal(sess_in_qos2_release(fx->s, 40000), 0);
    assert_true(sess_in_qos2_begin(fx->s, 40000, &err)); /* a new message after PUBREL */
    assert_int_equal(err, 0);
}

static void test_sess_pid_skips_ids_in_use(void **state)
{
    struct fixture *fx = *state;
    fx->lim.max_inflight = 0;
    fx->s->next_pid = 65535;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "a", 1);
    deliver(fx, "b", 1);
    assert_int_equal(fx->link.sent[0].pid, 65535);
    assert_int_equal(fx->link.sent[1].pid, 1); /* wraps, never 0 [MQTT-2.3.1-1] */
}

static void test_sess_inflight_bytes_limit(void **state)
{
    struct fixture *fx = *state;
    fx->lim.max_inflight = 0;
    fx->lim.max_inflight_bytes = 2; /* payload "x" is one byte */
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "a", 1);
    deliver(fx, "b", 1);
    deliver(fx, "c", 1);
    assert_int_equal(fx->link.n, 2);
    assert_int_equal(fx->s->q_len, 1);
    assert_int_equal(sess_on_puback(fx->s, 1), 0);
    assert_int_equal(fx->link.n, 3);
}

/* A fake store behind the persistence hooks: records calls as letters. */
static char plog[256];
static size_t plog_n;
static bool refuse_queue;

static void plog_add(char ch)
{
    if (plog_n + 1 < sizeof(plog)) {
        plog[plog_n++] = ch;
        plog[plog_n] = '\0';
    }
}

static bool p_queue_add(struct sess *s, const struct sess_queued *q)
{
    (void)s;
    (void)q;
    if (refuse_queue) {
        return false;
    }
    plog_add('Q');
    return true;
}

static void p_queue_del(struct sess *s, uint64_t seq)
{
    (void)s;
    (void)seq;
    plog_add('q');
}

static bool p_inflight_put(struct sess *s, const struct sess_inflight *o)
{
    (void)s;
    plog_add(o->state == SESS_OUT_WAIT_PUBCOMP ? 'C' : 'I');
    return true;
}

static void p_inflight_del(struct sess *s, uint16_t pid)
{
    (void)s;
    (void)pid;
    plog_add('i');
}

static bool p_in_put(struct sess *s, uint16_t pid)
{
    (void)s;
    (void)pid;
    plog_add('R');
    return true;
}

static void p_in_del(struct sess *s, uint16_t pid)
{
    (void)s;
    (void)pid;
    plog_add('r');
}

static ssize_t p_queue_load(struct sess *s, size_t max)
{
    /* Two entries "on disk" (seq 1, 2) come before the in-memory queue. */
    (void)max;
    struct gw_bytes none = {NULL, 0};
    struct sess_queued *a = gw_calloc(1, sizeof(*a));
    struct sess_queued *b = gw_calloc(1, sizeof(*b));
    a->m = msg_create(gw_bytes_str("disk/1"), gw_bytes_str("x"), none, 1, false);
    b->m = msg_create(gw_bytes_str("disk/2"), gw_bytes_str("x"), none, 1, false);
    a->seq = 1;
    a->qos = 1;
    b->seq = 2;
    b->qos = 1;
    a->next = b;
    sess_queue_splice_loaded(s, a, b, 2, 2);
    s->q_store_after = 2;
    s->q_store_len = 0;
    plog_add('L');
    return 2;
}

/* A fake store batch: commit callbacks wait here until fake_commit runs
 * them, as the writer thread would. */
#define MAX_WAITS 8
static struct {
    sess_commit_cb *fn;
    void *arg;
    uint32_t data;
} waits[MAX_WAITS];
static size_t n_waits;
static uint32_t fake_gen;

static uint32_t p_batch_gen(struct sess *s)
{
    (void)s;
    return fake_gen;
}

static int p_after_commit(struct sess *s, sess_commit_cb *fn, void *arg, uint32_t data)
{
    (void)s;
    assert_true(n_waits < MAX_WAITS);
    waits[n_waits].fn = fn;
    waits[n_waits].arg = arg;
    waits[n_waits].data = data;
    n_waits++;
    return 0;
}

/* The current batch committed (rc 0) or failed: run what waits for it. */
static void fake_commit(int rc)
{
    size_t n = n_waits;
    n_waits = 0;
    fake_gen++;
    for (size_t i = 0; i < n; i++) {
        waits[i].fn(waits[i].arg, waits[i].data, rc);
    }
}

static const struct sess_persist_ops fake_pops = {
        .queue_add = p_queue_add,
        .queue_del = p_queue_del,
        .inflight_put = p_inflight_put,
        .inflight_del = p_inflight_del,
        .in_qos2_put = p_in_put,
        .in_qos2_del = p_in_del,
        .queue_load = p_queue_load,
        .batch_gen = p_batch_gen,
        .after_commit = p_after_commit,
};

static void test_sess_persist_hooks_follow_state(void **state)
{
    struct fixture *fx = *state;
    plog_n = 0;
    plog[0] = '\0';
    refuse_queue = false;
    fx->s->pops = &fake_pops;
    deliver(fx, "a", 1);                                           /* offline: queued */
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0); /* queue -> inflight */
    assert_int_equal(sess_on_puback(fx->s, 1), 0);
    deliver(fx, "b", 2);
    assert_int_equal(sess_on_pubrec(fx->s, 2), 0);
    fake_commit(0);
    assert_int_equal(sess_on_pubcomp(fx->s, 2), 0);
    int err;
    assert_true(sess_in_qos2_begin(fx->s, 9, &err));
    assert_int_equal(sess_in_qos2_release(fx->s, 9), 0);
    assert_string_equal(plog, "QqIiICiRr");
}

static void test_sess_persist_refused_queue_drops(void **state)
{
    struct fixture *fx = *state;
    plog_n = 0;
    refuse_queue = true;
    fx->s->pops = &fake_pops;
    deliver(fx, "a", 1);
    assert_int_equal(fx->s->q_len, 0);
    assert_int_equal(fx->cnt.dropped_queue_full, 1);
    refuse_queue = false;
}

static void test_sess_persist_stored_queue_comes_first(void **state)
{
    struct fixture *fx = *state;
    plog_n = 0;
    refuse_queue = false;
    fx->lim.max_inflight = 0;
    fx->s->pops = &fake_pops;
    fx->s->q_store_len = 2; /* restored from disk, not in memory */
    fx->s->q_store_after = 0;
    fx->s->q_seq_next = 2;
    deliver(fx, "mem/3", 1); /* queued in memory behind the stored ones */
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    assert_int_equal(fx->link.n, 3);
    assert_string_equal(fx->link.sent[0].topic, "disk/1");
    assert_string_equal(fx->link.sent[1].topic, "disk/2");
    assert_string_equal(fx->link.sent[2].topic, "mem/3");
}

/* A fake disk for a spilling session: entries that did not stay in memory
 * are kept here by seq and read back by queue_load. */
#define DISK_MAX 32

static struct {
    uint64_t seq;
    char topic[16];
    bool used;
} disk[DISK_MAX];

static size_t refused_calls;

static bool d_queue_add(struct sess *s, const struct sess_queued *q)
{
    (void)s;
    for (size_t i = 0; i < DISK_MAX; i++) {
        if (!disk[i].used) {
            disk[i].used = true;
            disk[i].seq = q->seq;
            snprintf(disk[i].topic, sizeof(disk[i].topic), "%s", q->m->topic);
            return true;
        }
    }
    return false;
}

static void d_queue_del(struct sess *s, uint64_t seq)
{
    (void)s;
    for (size_t i = 0; i < DISK_MAX; i++) {
        if (disk[i].used && disk[i].seq == seq) {
            disk[i].used = false;
        }
    }
}

static bool d_nop_out(struct sess *s, const struct sess_inflight *o)
{
    (void)s;
    (void)o;
    return true;
}

static bool d_nop_put(struct sess *s, uint16_t pid)
{
    (void)s;
    (void)pid;
    return true;
}

static void d_nop_pid(struct sess *s, uint16_t pid)
{
    (void)s;
    (void)pid;
}

/* Oldest disk entry after q_store_after, or -1. */
static ssize_t d_first_after(uint64_t after)
{
    ssize_t best = -1;
    for (size_t i = 0; i < DISK_MAX; i++) {
        if (disk[i].used && disk[i].seq > after && (best < 0 || disk[i].seq < disk[best].seq)) {
            best = (ssize_t)i;
        }
    }
    return best;
}

static ssize_t d_queue_load(struct sess *s, size_t max)
{
    struct gw_bytes none = {NULL, 0};
    struct sess_queued *first = NULL;
    struct sess_queued *last = NULL;
    size_t n = 0;
    ssize_t i;
    while (n < max && (i = d_first_after(s->q_store_after)) >= 0) {
        struct sess_queued *q = gw_calloc(1, sizeof(*q));
        q->m = msg_create(gw_bytes_str(disk[i].topic), gw_bytes_str("x"), none, 1, false);
        q->seq = disk[i].seq;
        q->qos = 1;
        if (last) {
            last->next = q;
        } else {
            first = q;
        }
        last = q;
        n++;
        s->q_store_after = disk[i].seq;
    }
    if (n) {
        sess_queue_splice_loaded(s, first, last, n, n);
        s->q_store_len -= n;
        s->q_store_bytes -= n;
    }
    return (ssize_t)n;
}

static bool d_queue_drop_stored(struct sess *s)
{
    ssize_t i = d_first_after(s->q_store_after);
    if (i < 0) {
        return false;
    }
    disk[i].used = false;
    s->q_store_after = disk[i].seq;
    s->q_store_len--;
    s->q_store_bytes--;
    return true;
}

static void d_refused(struct sess *s)
{
    (void)s;
    refused_calls++;
}

static const struct sess_persist_ops disk_pops = {
        d_queue_add, d_queue_del,  d_nop_out,           d_nop_pid, d_nop_put,
        d_nop_pid,   d_queue_load, d_queue_drop_stored, d_refused,
};

static void spill_setup(struct fixture *fx, uint32_t mem, uint32_t inflight, uint32_t max_q,
                        uint8_t policy)
{
    memset(disk, 0, sizeof(disk));
    refused_calls = 0;
    fx->lim.mem_queue_max = mem;
    fx->lim.max_inflight = inflight;
    fx->lim.max_queued = max_q;
    fx->lim.full_policy = policy;
    fx->s->pops = &disk_pops;
}

/* Ack every message as it is sent; returns the topics in send order. */
static void drain_acks(struct fixture *fx, char *out, size_t cap)
{
    size_t done = 0;
    out[0] = '\0';
    while (done < fx->link.n) {
        struct sent *t = &fx->link.sent[done++];
        strncat(out, t->topic, cap - strlen(out) - 1);
        strncat(out, " ", cap - strlen(out) - 1);
        assert_int_equal(sess_on_puback(fx->s, t->pid), 0);
    }
}

/* ---- the PUBREL waits for the commit of its PUBREC's record ---- */

/* A durable session (fake store) with QoS 2 message "a" sent as id 1. */
static void durable_qos2_sent(struct fixture *fx)
{
    plog_n = 0;
    plog[0] = '\0';
    refuse_queue = false;
    n_waits = 0;
    fx->s->pops = &fake_pops;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "a", 2);
    assert_int_equal(fx->link.n, 1);
    assert_int_equal(fx->link.sent[0].pid, 1);
}

static size_t count_pubrel(const struct fake_link *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        n += l->sent[i].kind == 'R';
    }
    return n;
}

static void test_sess_pubrel_waits_for_commit(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    assert_int_equal(fx->link.n, 1); /* nothing yet: the record is not on disk */
    assert_int_equal(n_waits, 1);
    assert_int_equal(fx->s->out[0].state, SESS_OUT_WAIT_PUBREC);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0); /* repeated: still held, no second wait */
    assert_int_equal(fx->link.n, 1);
    assert_int_equal(n_waits, 1);
    assert_true(sess_on_pubcomp(fx->s, 1) < 0); /* no PUBREL went out: not a valid PUBCOMP */
    assert_string_equal(plog, "IC");            /* one WAIT_PUBCOMP record in the batch */
    fake_commit(0);
    assert_int_equal(fx->link.n, 2);
    assert_int_equal(fx->link.sent[1].kind, 'R');
    assert_int_equal(fx->link.sent[1].pid, 1);
    assert_int_equal(fx->s->out[0].state, SESS_OUT_WAIT_PUBCOMP);
    /* Repeated PUBREC after the commit: PUBREL again at once. */
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    assert_int_equal(count_pubrel(&fx->link), 2);
    assert_int_equal(n_waits, 0);
    assert_int_equal(sess_on_pubcomp(fx->s, 1), 0);
    assert_int_equal(fx->s->n_out, 0);
}

/* Two PUBRECs in one batch wait for one callback; one in the next batch
 * is not released by the first batch's commit. */
static void test_sess_pubrel_released_per_batch(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    deliver(fx, "b", 2);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    assert_int_equal(sess_on_pubrec(fx->s, 2), 0);
    assert_int_equal(n_waits, 1);
    fake_gen++; /* batch 0 went to the writer; 1 is current */
    deliver(fx, "c", 2);       /* window of 2: queued */
    assert_int_equal(fx->link.n, 2);
    /* Commit batch 0 by hand (fake_commit would bump the gen again). */
    size_t n = n_waits;
    n_waits = 0;
    for (size_t i = 0; i < n; i++) {
        waits[i].fn(waits[i].arg, waits[i].data, 0);
    }
    assert_int_equal(count_pubrel(&fx->link), 2);
    assert_int_equal(sess_on_pubcomp(fx->s, 1), 0); /* c enters the window as id 3 */
    assert_int_equal(fx->link.sent[fx->link.n - 1].pid, 3);
    assert_int_equal(sess_on_pubrec(fx->s, 3), 0); /* held in batch 1 */
    assert_int_equal(count_pubrel(&fx->link), 2);
    fake_commit(0);
    assert_int_equal(count_pubrel(&fx->link), 3);
    assert_int_equal(fx->link.sent[fx->link.n - 1].pid, 3);
}

/* A failed commit leaves nothing on disk: the message stays at
 * WAIT_PUBREC, no PUBREL; a repeated PUBREC tries again. */
static void test_sess_pubrel_failed_commit_keeps_wait_pubrec(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    fake_commit(-EIO);
    assert_int_equal(fx->link.n, 1);
    assert_int_equal(fx->s->out[0].state, SESS_OUT_WAIT_PUBREC);
    assert_false(fx->s->out[0].rel_held);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    assert_int_equal(fx->link.n, 1);
    fake_commit(0);
    assert_int_equal(count_pubrel(&fx->link), 1);
    assert_int_equal(fx->s->out[0].state, SESS_OUT_WAIT_PUBCOMP);
}

/* The link went away before the commit: nothing is sent then; the next
 * link gets the PUBREL [MQTT-4.4.0-1]. */
static void test_sess_pubrel_link_gone_before_commit(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    sess_detach(fx->s);
    fake_commit(0);
    assert_int_equal(fx->link.n, 1);
    assert_int_equal(fx->s->out[0].state, SESS_OUT_WAIT_PUBCOMP);
    struct fake_link second = {.writable = true};
    assert_int_equal(sess_attach(fx->s, &fake_ops, &second), 0);
    assert_int_equal(second.n, 1);
    assert_int_equal(second.sent[0].kind, 'R');
    assert_int_equal(second.sent[0].pid, 1);
}

/* Reconnected before the commit: the receiver never got PUBREL, so the
 * PUBLISH goes again with DUP and the old hold is dropped (its commit
 * sends nothing); the new PUBREC starts a new one. */
static void test_sess_pubrel_reconnect_before_commit_resends_publish(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    sess_detach(fx->s);
    struct fake_link second = {.writable = true};
    assert_int_equal(sess_attach(fx->s, &fake_ops, &second), 0);
    assert_int_equal(second.n, 1);
    assert_int_equal(second.sent[0].kind, 'P');
    assert_true(second.sent[0].dup);
    fake_commit(0);
    assert_int_equal(second.n, 1);
    assert_int_equal(fx->s->out[0].state, SESS_OUT_WAIT_PUBREC);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    fake_commit(0);
    assert_int_equal(second.n, 2);
    assert_int_equal(second.sent[1].kind, 'R');
}

/* The session is freed before the commit (expired, or replaced by a
 * clean one): the callback finds it gone (ASan: no use after free; the
 * teardown: nothing leaked). */
static void test_sess_pubrel_session_gone_before_commit(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    sess_destroy(fx->s, fx->r);
    fx->s = NULL;
    fake_commit(0);
    assert_int_equal(fx->link.n, 1);
}

/* A message that leaves the window while held (abandoned) takes its hold
 * along: the id's next message is not released by the old commit. */
static void test_sess_pubrel_abandoned_while_held(void **state)
{
    struct fixture *fx = *state;
    durable_qos2_sent(fx);
    assert_int_equal(sess_on_pubrec(fx->s, 1), 0);
    assert_int_equal(sess_out_abandon(fx->s, 1), 0);
    assert_int_equal(fx->s->n_out, 0);
    fake_commit(0);
    assert_int_equal(fx->link.n, 1);
}

static void test_sess_spill_keeps_order_through_disk(void **state)
{
    struct fixture *fx = *state;
    spill_setup(fx, 2, 1, 0, SESS_FULL_DROP_NEW);
    const char *topics[] = {"m1", "m2", "m3", "m4", "m5"};
    for (size_t i = 0; i < 5; i++) {
        deliver(fx, topics[i], 1); /* offline */
    }
    assert_int_equal(fx->s->q_len, 2);
    assert_int_equal(fx->s->q_store_len, 3);
    assert_int_equal(sess_queue_len(fx->s), 5);
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver(fx, "m6", 1); /* live: waits behind the disk backlog */
    char order[128];
    drain_acks(fx, order, sizeof(order));
    assert_string_equal(order, "m1 m2 m3 m4 m5 m6 ");
    assert_int_equal(sess_queue_len(fx->s), 0);
}

static void test_sess_spill_full_drops_oldest(void **state)
{
    struct fixture *fx = *state;
    spill_setup(fx, 1, 1, 3, SESS_FULL_DROP_OLDEST);
    const char *topics[] = {"m1", "m2", "m3", "m4", "m5"};
    for (size_t i = 0; i < 5; i++) {
        deliver(fx, topics[i], 1);
    }
    assert_int_equal(sess_queue_len(fx->s), 3);
    assert_int_equal(fx->cnt.dropped_queue_full, 2);
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    char order[128];
    drain_acks(fx, order, sizeof(order));
    assert_string_equal(order, "m3 m4 m5 ");
}

static void test_sess_full_refuse_tells_the_store(void **state)
{
    struct fixture *fx = *state;
    spill_setup(fx, 1, 1, 2, SESS_FULL_REFUSE);
    deliver(fx, "m1", 1);
    deliver(fx, "m2", 1);
    deliver(fx, "m3", 1);
    assert_int_equal(sess_queue_len(fx->s), 2);
    assert_int_equal(fx->cnt.refused, 1);
    assert_int_equal(refused_calls, 1);
    assert_int_equal(fx->cnt.dropped_queue_full, 0);
}

static void test_sess_queued_too_old_is_dropped(void **state)
{
    struct fixture *fx = *state;
    fx->lim.max_age_s = 60;
    struct msg *old = mk("old", 1);
    old->created_s = 1000; /* 1970: far older than a minute */
    sess_deliver(fx->s, old, 1, false);
    msg_unref(old);
    deliver(fx, "new", 1); /* created_s 0: age unknown, kept */
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    assert_int_equal(fx->link.n, 1);
    assert_string_equal(fx->link.sent[0].topic, "new");
    assert_int_equal(fx->cnt.dropped_age, 1);
}

static void test_sess_subs_add_replace_del(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_sub_add(fx->s, gw_bytes_str("a/#"), 1), 0);
    assert_int_equal(sess_sub_add(fx->s, gw_bytes_str("a/#"), 2), 0);
    assert_int_equal(fx->s->n_subs, 1);
    assert_int_equal(fx->s->subs[0].qos, 2);
    assert_int_equal(sess_sub_del(fx->s, gw_bytes_str("a/#")), 0);
    assert_int_equal(sess_sub_del(fx->s, gw_bytes_str("a/#")), -ENOENT);
}

/* A single subscription keeps its filter in the array's block
 * (sess_sub.c): 1 -> 2 moves it out, with every allocation of that move
 * failed in turn leaving the first one as it was; 2 -> 1 -> 0 -> 1 keeps
 * exactly what is left (teardown checks nothing leaked). */
static void test_sess_subs_inline_filter_grow_shrink(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_sub_add_v5(fx->s, gw_bytes_str("s/one"), 1, 4, 7), 0);
    assert_int_equal(fx->s->n_subs, 1);
    for (long n = 0;; n++) {
        gw_alloc_fail_at(n, 0);
        int rc = sess_sub_add(fx->s, gw_bytes_str("s/two"), 2);
        gw_alloc_fail_at(-1, 0);
        const struct sess_sub *one = sess_sub_find(fx->s, gw_bytes_str("s/one"));
        assert_non_null(one);
        assert_int_equal(one->qos, 1);
        assert_int_equal(one->options, 4);
        assert_int_equal(one->sub_id, 7);
        assert_string_equal(one->filter, "s/one");
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(fx->s->n_subs, 1);
        assert_null(sess_sub_find(fx->s, gw_bytes_str("s/two")));
    }
    assert_int_equal(fx->s->n_subs, 2);
    assert_int_equal(sess_sub_del(fx->s, gw_bytes_str("s/one")), 0);
    assert_string_equal(sess_sub_find(fx->s, gw_bytes_str("s/two"))->filter, "s/two");
    assert_int_equal(sess_sub_del(fx->s, gw_bytes_str("s/two")), 0);
    assert_int_equal(fx->s->n_subs, 0);
    assert_null(fx->s->subs);
    /* Out of memory for the first one: refused, nothing half made. */
    gw_alloc_fail_at(0, 0);
    assert_int_equal(sess_sub_add(fx->s, gw_bytes_str("s/three"), 0), -ENOMEM);
    gw_alloc_fail_at(-1, 0);
    assert_int_equal(fx->s->n_subs, 0);
    assert_int_equal(sess_sub_add(fx->s, gw_bytes_str("s/three"), 0), 0);
    assert_string_equal(sess_sub_find(fx->s, gw_bytes_str("s/three"))->filter, "s/three");
}

/* The subscription index against a model: 3,000 filters added, replaced
 * and deleted in a fixed pseudo-random order (through the index's growth
 * and its backward-shift deletions), every filter found exactly when the
 * model has it. */
static void test_sess_subs_index_matches_model(void **state)
{
    struct fixture *fx = *state;
    enum { N = 3000 };
    static bool have[N];
    memset(have, 0, sizeof(have));
    uint32_t x = 12345;
    char f[32];
    for (int step = 0; step < 20000; step++) {
        x = x * 1103515245u + 12345u;
        uint32_t k = (x >> 8) % N;
        (void)snprintf(f, sizeof(f), "t/%u/+", k);
        if ((x >> 4) % 3 != 0) {
            assert_int_equal(sess_sub_add(fx->s, gw_bytes_str(f), (uint8_t)(k % 3)), 0);
            have[k] = true;
        } else {
            assert_int_equal(sess_sub_del(fx->s, gw_bytes_str(f)), have[k] ? 0 : -ENOENT);
            have[k] = false;
        }
    }
    uint32_t n = 0;
    for (uint32_t k = 0; k < N; k++) {
        (void)snprintf(f, sizeof(f), "t/%u/+", k);
        const struct sess_sub *sub = sess_sub_find(fx->s, gw_bytes_str(f));
        assert_true((sub != NULL) == have[k]);
        if (sub) {
            assert_int_equal(sub->qos, k % 3);
            n++;
        }
    }
    assert_int_equal(fx->s->n_subs, n);
    assert_non_null(fx->s->sub_idx);
}

static void test_sess_table_add_get_del_grow(void **state)
{
    (void)state;
    struct sess_table t;
    struct sess_limits lim = {0};
    struct sess_counters cnt = {0};
    struct sess *ss[600];
    assert_int_equal(sess_table_init(&t), 0);
    for (int i = 0; i < 600; i++) {
        char id[16];
        (void)snprintf(id, sizeof(id), "c%d", i);
        ss[i] = sess_create(gw_bytes_str(id), true, &lim, &cnt);
        sess_table_add(&t, ss[i]);
    }
    assert_int_equal(t.count, 600);
    assert_ptr_equal(sess_table_get(&t, gw_bytes_str("c599")), ss[599]);
    assert_null(sess_table_get(&t, gw_bytes_str("c600")));
    for (int i = 0; i < 600; i++) {
        sess_table_del(&t, ss[i]);
        sess_destroy(ss[i], NULL);
    }
    assert_int_equal(t.count, 0);
    sess_table_fini(&t);
}

static void deliver_tagged(struct fixture *fx, const char *topic, uint8_t qos, uint32_t id,
                           const char *share)
{
    struct msg *m = mk(topic, qos);
    struct gw_bytes sh = share ? gw_bytes_str(share) : (struct gw_bytes){NULL, 0};
    struct sess_tag *t = sess_tag_create(&id, 1, sh);
    assert_non_null(t);
    sess_deliver_tag(fx->s, m, qos, false, t);
    sess_tag_unref(t); /* the session keeps its own references */
    msg_unref(m);
}

static void test_sess_tag_follows_queue_and_resend(void **state)
{
    struct fixture *fx = *state;
    deliver_tagged(fx, "a", 1, 7, NULL); /* offline: queued with its tag */
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    assert_int_equal(fx->link.n, 1);
    assert_int_equal(fx->link.sent[0].first_id, 7);
    sess_detach(fx->s);
    fx->link.n = 0;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    assert_int_equal(fx->link.n, 1); /* resent with DUP and the same id */
    assert_true(fx->link.sent[0].dup);
    assert_int_equal(fx->link.sent[0].first_id, 7);
    deliver(fx, "b", 1); /* no tag: plain send_publish */
    assert_int_equal(fx->link.sent[1].first_id, 0);
}

static bool take_all(void *arg, struct sess *s, struct msg *m, uint8_t qos, bool retain,
                     struct sess_tag *tag)
{
    (void)s;
    (void)qos;
    (void)retain;
    size_t *n = arg;
    assert_true(sess_tag_share(tag).n > 0); /* only shared deliveries are offered */
    assert_int_equal(m->topic[0], 'q');
    (*n)++;
    return true;
}

static bool take_none(void *arg, struct sess *s, struct msg *m, uint8_t qos, bool retain,
                      struct sess_tag *tag)
{
    (void)arg;
    (void)s;
    (void)m;
    (void)qos;
    (void)retain;
    (void)tag;
    return false;
}

static void test_sess_share_release_keeps_sent_qos2(void **state)
{
    struct fixture *fx = *state;
    fx->lim.max_queued = 10;
    assert_int_equal(sess_attach(fx->s, &fake_ops, &fx->link), 0);
    deliver_tagged(fx, "q1", 1, 1, "$share/g/q/#"); /* in flight, QoS 1 */
    deliver_tagged(fx, "q2", 2, 1, "$share/g/q/#"); /* in flight, QoS 2 */
    deliver_tagged(fx, "q3", 2, 1, "$share/g/q/#"); /* queued (window 2) */
    deliver_tagged(fx, "n1", 1, 2, NULL);           /* queued, not shared */
    deliver(fx, "n2", 1);                           /* queued, no tag */
    assert_int_equal(fx->s->n_out, 2);
    assert_int_equal(fx->s->q_len, 3);
    assert_int_equal(sess_share_release(fx->s, take_none, NULL), 0);
    assert_int_equal(fx->s->q_len, 3); /* nobody took them: unchanged */
    sess_detach(fx->s);
    size_t n = 0;
    assert_int_equal(sess_share_release(fx->s, take_all, &n), 2);
    assert_int_equal(n, 2);
    /* [MQTT-4.8.2-5]: the sent QoS 2 stays; the others are not shared */
    assert_int_equal(fx->s->n_out, 1);
    assert_string_equal(fx->s->out[0].m->topic, "q2");
    assert_int_equal(fx->s->q_len, 2);
    assert_string_equal(fx->s->q_head->m->topic, "n1");
    assert_string_equal(fx->s->q_tail->m->topic, "n2");
    assert_int_equal(fx->cnt.inflight, 1);
    assert_int_equal(fx->cnt.queued, 2);
}

static void test_sess_sub_v5_keeps_id_and_rebuilds_tags(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(sess_sub_add_v5(fx->s, gw_bytes_str("a/#"), 1, 0, 4), 0);
    assert_int_equal(sess_sub_add_v5(fx->s, gw_bytes_str("a/+"), 1, 0, 5), 0);
    assert_int_equal(sess_sub_add_v5(fx->s, gw_bytes_str("b"), 1, 0, 0), 0);
    assert_int_equal(sess_sub_add_v5(fx->s, gw_bytes_str("$share/g/a/b"), 1, 0, 6), 0);
    assert_int_equal(sess_sub_find(fx->s, gw_bytes_str("a/#"))->sub_id, 4);
    assert_int_equal(sess_sub_add_v5(fx->s, gw_bytes_str("a/#"), 1, 0, 9), 0); /* replaced */
    assert_int_equal(sess_sub_find(fx->s, gw_bytes_str("a/#"))->sub_id, 9);
    struct sess_tag *t = sess_tag_rebuild(fx->s, gw_bytes_str("a/b"), false);
    assert_non_null(t);
    assert_int_equal(t->n_ids, 2);
    assert_int_equal(t->ids[0] + t->ids[1], 14);
    assert_int_equal(sess_tag_share(t).n, 0);
    sess_tag_unref(t);
    t = sess_tag_rebuild(fx->s, gw_bytes_str("a/b"), true);
    assert_non_null(t);
    assert_int_equal(t->n_ids, 1);
    assert_int_equal(t->ids[0], 6);
    assert_memory_equal(sess_tag_share(t).p, "$share/g/a/b", 12);
    sess_tag_unref(t);
    assert_null(sess_tag_rebuild(fx->s, gw_bytes_str("b"), false)); /* no id: no tag */
    assert_null(sess_tag_rebuild(fx->s, gw_bytes_str("c"), false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_sess_qos1_window_then_queue, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_subs_index_matches_model, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_unknown_puback_protocol_error, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_qos2_outbound_flow, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_reconnect_resends_with_dup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_offline_qos0_dropped_unless_configured, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_queue_limit_drops_newest, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_queue_bytes_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_qos0_dropped_when_not_writable, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_inbound_qos2_dedup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_inbound_qos2_all_ids_awaiting_pubrel, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_pid_skips_ids_in_use, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_inflight_bytes_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_persist_hooks_follow_state, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_persist_refused_queue_drops, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_pubrel_waits_for_commit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_pubrel_released_per_batch, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_pubrel_failed_commit_keeps_wait_pubrec, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_pubrel_link_gone_before_commit, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                    test_sess_pubrel_reconnect_before_commit_resends_publish, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_pubrel_session_gone_before_commit, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_pubrel_abandoned_while_held, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_persist_stored_queue_comes_first, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_spill_keeps_order_through_disk, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_spill_full_drops_oldest, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_full_refuse_tells_the_store, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_queued_too_old_is_dropped, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_subs_add_replace_del, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sess_subs_inline_filter_grow_shrink, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_tag_follows_queue_and_resend, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_share_release_keeps_sent_qos2, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_sess_sub_v5_keeps_id_and_rebuilds_tags, setup,
                                            teardown),
            cmocka_unit_test(test_sess_table_add_get_del_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
