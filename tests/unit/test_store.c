/* test_store.c - the LMDB store end to end: a real environment in a mkdtemp
 * directory per test, the real writer thread. Tests never sleep: they wait
 * for completions by polling store_event_fd (with a timeout). */
#include "alloc.h"
#include "gw_err.h"
#include "store.h"
#include "store_fixture.h"
#include "store_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

struct done {
    int fired;
    int rc;
};

static void on_done(void *arg, int rc)
{
    struct done *d = arg;
    d->fired = 1;
    d->rc = rc;
}

static void put_msg(struct store *s, uint64_t id, const char *topic, size_t payload_len)
{
    static uint8_t payload[1u << 20];
    assert_true(payload_len <= sizeof payload);
    memset(payload, (int)(id & 0xFF), payload_len);
    struct store_msg m = {
            .id = id, .qos = 1, .topic = gw_bytes_str(topic), .payload = {payload, payload_len}};
    assert_int_equal(store_msg_put(s, &m), 0);
}

static void queue_add(struct store *s, uint64_t owner, uint64_t seq, uint64_t msg_id)
{
    struct store_qentry e = {.owner = owner, .seq = seq, .msg_id = msg_id, .qos = 1};
    assert_int_equal(store_queue_add(s, &e), 0);
}

static struct store_stats stats(struct store *s)
{
    struct store_stats st;
    assert_int_equal(store_stats(s, &st), 0);
    return st;
}

/* ---- load recorder ---- */

struct rec {
    int sessions;
    int subs;
    int inflight;
    int retained;
    uint64_t owners[16];
    uint64_t first[16];
    uint64_t last[16];
    uint64_t len[16];
    char client[16][32];
    uint64_t if_seq[16];
    uint64_t if_msg[16];
    int if_has_msg[16];
    uint64_t ret_msg[16];
    int links;
    uint64_t link_owner[16];
    char link_key[16][8];
    char link_val[16][32];
};

static int rec_session(void *arg, const struct store_session *ss, uint64_t first, uint64_t last,
                       uint64_t len)
{
    struct rec *r = arg;
    if (r->sessions < 16) {
        int i = r->sessions;
        r->owners[i] = ss->owner;
        r->first[i] = first;
        r->last[i] = last;
        r->len[i] = len;
        snprintf(r->client[i], sizeof r->client[i], "%.*s", (int)ss->client_id.n,
                 (const char *)ss->client_id.p);
    }
    r->sessions++;
    return 0;
}

static int rec_sub(void *arg, const struct store_sub *sub)
{
    (void)sub;
    ((struct rec *)arg)->subs++;
    return 0;
}

static int rec_inflight(void *arg, const struct store_inflight *fl, const struct store_msg *m)
{
    struct rec *r = arg;
    if (r->inflight < 16) {
        r->if_seq[r->inflight] = fl->seq;
        r->if_msg[r->inflight] = fl->msg_id;
        r->if_has_msg[r->inflight] = m != NULL;
    }
    r->inflight++;
    return 0;
}

static int rec_retained(void *arg, const struct store_msg *m)
{
    struct rec *r = arg;
    if (r->retained < 16) {
        r->ret_msg[r->retained] = m->id;
    }
    r->retained++;
    return 0;
}

static int rec_link(void *arg, uint64_t owner, struct gw_bytes key, struct gw_bytes value)
{
    struct rec *r = arg;
    if (r->links < 16) {
        r->link_owner[r->links] = owner;
        snprintf(r->link_key[r->links], sizeof r->link_key[0], "%.*s", (int)key.n,
                 (const char *)key.p);
        snprintf(r->link_val[r->links], sizeof r->link_val[0], "%.*s", (int)value.n,
                 (const char *)value.p);
    }
    r->links++;
    return 0;
}

static const struct store_load_ops rec_ops = {rec_session, rec_sub, rec_inflight, rec_retained,
                                              rec_link};

static struct rec load(struct store *s)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    assert_int_equal(store_load(s, &rec_ops, &r), 0);
    return r;
}

static void put_session(struct store *s, uint64_t owner, const char *client)
{
    struct store_session ss = {.owner = owner,
                               .client_id = gw_bytes_str(client),
                               .protocol = 5,
                               .expiry_s = 3600,
                               .next_pid = 7};
    assert_int_equal(store_session_put(s, &ss), 0);
}

/* ---- tests ---- */

static void test_store_reopen_keeps_data(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 4, "dev-4");
    struct store_sub sub = {.owner = 4, .filter = gw_bytes_str("a/#"), .qos = 1};
    assert_int_equal(store_sub_put(f->s, &sub), 0);
    put_msg(f->s, 100, "a/b", 10);
    queue_add(f->s, 4, 1, 100);
    assert_int_equal(store_retain_put(f->s, gw_bytes_str("a/b"), 100), 0);
    assert_false(store_batch_empty(f->s));
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_true(store_batch_empty(f->s));
    store_fx_reopen(f);
    struct rec r = load(f->s);
    assert_int_equal(r.sessions, 1);
    assert_int_equal(r.owners[0], 4);
    assert_string_equal(r.client[0], "dev-4");
    assert_int_equal(r.first[0], 1);
    assert_int_equal(r.last[0], 1);
    assert_int_equal(r.len[0], 1);
    assert_int_equal(r.subs, 1);
    assert_int_equal(r.retained, 1);
    assert_int_equal(r.ret_msg[0], 100);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.messages, 1);
    /* The saved bounds run ahead of the ids in use (store_schema.h), so
     * new ids continue above them and meta is not written every commit. */
    assert_int_equal(st.max_msg_id, 100 + STORE_IDS_AHEAD_MSG);
    assert_int_equal(st.max_owner, 4 + STORE_IDS_AHEAD_OWNER);
}

struct reader {
    uint64_t next_seq;
    int n;
};

static int read_check(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    struct reader *r = arg;
    assert_int_equal(e->seq, r->next_seq);
    assert_int_equal(e->msg_id, 1000 + e->seq);
    assert_int_equal(m->id, e->msg_id);
    assert_int_equal(m->payload.n, 16);
    assert_int_equal(m->payload.p[0], (uint8_t)((1000 + e->seq) & 0xFF));
    r->next_seq++;
    r->n++;
    return 0;
}

static int read_stop_at_3(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    (void)e;
    (void)m;
    return ++*(int *)arg == 3 ? -ENOENT : 0;
}

static void test_store_queue_order_across_reopen(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 1, "one");
    put_session(f->s, 2, "two");
    for (uint64_t seq = 1; seq <= 1000; seq++) {
        put_msg(f->s, 1000 + seq, "q", 16);
        queue_add(f->s, 1, seq, 1000 + seq);
    }
    queue_add(f->s, 2, 5, 1001); /* a neighbour owner bounds the range */
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_reopen(f);
    struct rec r = load(f->s);
    assert_int_equal(r.sessions, 2);
    assert_int_equal(r.first[0], 1);
    assert_int_equal(r.last[0], 1000);
    assert_int_equal(r.len[0], 1000);
    assert_int_equal(r.first[1], 5);
    assert_int_equal(r.last[1], 5);
    assert_int_equal(r.len[1], 1);
    struct reader rd = {1, 0};
    uint64_t after = 0;
    ssize_t n;
    while ((n = store_queue_read(f->s, 1, after, 64, read_check, &rd)) > 0) {
        after += (uint64_t)n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(rd.n, 1000);
    /* Trim the first half: bounds, length and messages follow. */
    assert_int_equal(store_queue_trim(f->s, 1, 500), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    r = load(f->s);
    assert_int_equal(r.first[0], 501);
    assert_int_equal(r.len[0], 500);
    assert_int_equal(stats(f->s).messages, 501); /* 1001 still queued for owner 2 */
    rd.next_seq = 501;
    rd.n = 0;
    assert_int_equal(store_queue_read(f->s, 1, 0, 10, read_check, &rd), 10);
    int calls = 0; /* a callback's error stops the walk and is returned */
    assert_int_equal(store_queue_read(f->s, 1, 0, 10, read_stop_at_3, &calls), -ENOENT);
    assert_int_equal(calls, 3);
}

static void test_store_refcount_fanout_and_retained(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_msg(f->s, 1, "t", 8);
    put_msg(f->s, 1, "t", 8); /* same id again: no-op */
    queue_add(f->s, 1, 1, 1);
    queue_add(f->s, 2, 1, 1);
    queue_add(f->s, 3, 1, 1);
    put_msg(f->s, 2, "unref", 8); /* no reference: gone at the end of the batch */
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 1);
    assert_int_equal(store_queue_del(f->s, 1, 1), 0);
    assert_int_equal(store_queue_del(f->s, 2, 1), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 1);
    assert_int_equal(store_queue_del(f->s, 3, 1), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 0);

    put_msg(f->s, 10, "r", 4);
    assert_int_equal(store_retain_put(f->s, gw_bytes_str("r"), 10), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    put_msg(f->s, 11, "r", 4);
    assert_int_equal(store_retain_put(f->s, gw_bytes_str("r"), 11), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    struct rec r = load(f->s);
    assert_int_equal(r.retained, 1);
    assert_int_equal(r.ret_msg[0], 11);
    assert_int_equal(stats(f->s).messages, 1); /* 10 released */
    assert_int_equal(store_retain_del(f->s, gw_bytes_str("r")), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 0);
    assert_int_equal(stats(f->s).retained, 0);
}

static void inflight(struct store *s, uint64_t owner, uint8_t dir, uint16_t pid, uint64_t seq,
                     uint64_t msg)
{
    struct store_inflight fl = {.owner = owner,
                                .dir = dir,
                                .pid = pid,
                                .qos = 2,
                                .state = 1,
                                .msg_id = msg,
                                .seq = seq};
    assert_int_equal(store_inflight_put(s, &fl), 0);
}

static void test_store_inflight_replace_del_load_order(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_msg(f->s, 21, "a", 1);
    put_msg(f->s, 22, "b", 1);
    put_msg(f->s, 23, "c", 1);
    inflight(f->s, 1, STORE_OUT, 5, 3, 21);
    inflight(f->s, 1, STORE_OUT, 2, 1, 22);
    inflight(f->s, 1, STORE_IN, 9, 2, 0);
    inflight(f->s, 2, STORE_OUT, 1, 1, 22);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 2); /* 23 had no reference */
    put_msg(f->s, 23, "c", 1);
    inflight(f->s, 1, STORE_OUT, 5, 3, 23); /* replace: 21 released */
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_reopen(f);
    struct rec r = load(f->s);
    assert_int_equal(r.inflight, 4);
    /* owner 1 by seq, then owner 2 */
    assert_int_equal(r.if_seq[0], 1);
    assert_int_equal(r.if_msg[0], 22);
    assert_int_equal(r.if_seq[1], 2);
    assert_int_equal(r.if_msg[1], 0);
    assert_false(r.if_has_msg[1]);
    assert_int_equal(r.if_seq[2], 3);
    assert_int_equal(r.if_msg[2], 23);
    assert_true(r.if_has_msg[2]);
    assert_int_equal(r.if_msg[3], 22);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.messages, 2); /* 22 and 23 */
    assert_int_equal(store_inflight_del(f->s, 1, STORE_OUT, 2), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 2); /* 22 still held by owner 2 */
    assert_int_equal(store_inflight_del(f->s, 2, STORE_OUT, 1), 0);
    assert_int_equal(store_inflight_del(f->s, 1, STORE_OUT, 5), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    st = stats(f->s);
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.inflight, 1);
}

static void test_store_session_del_cascades(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 1, "a");
    put_session(f->s, 2, "b");
    put_msg(f->s, 1, "shared", 4);
    put_msg(f->s, 2, "own", 4);
    for (uint64_t o = 1; o <= 2; o++) {
        struct store_sub sub = {.owner = o, .filter = gw_bytes_str("x/#"), .qos = 1};
        assert_int_equal(store_sub_put(f->s, &sub), 0);
        queue_add(f->s, o, 1, 1);
    }
    queue_add(f->s, 1, 2, 2);
    inflight(f->s, 1, STORE_OUT, 1, 1, 2);
    inflight(f->s, 1, STORE_IN, 2, 2, 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(store_session_del(f->s, 1), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    struct rec r = load(f->s);
    assert_int_equal(r.sessions, 1);
    assert_int_equal(r.owners[0], 2);
    assert_int_equal(r.len[0], 1);
    assert_int_equal(r.subs, 1);
    assert_int_equal(r.inflight, 0);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.messages, 1); /* "own" released, "shared" kept */
    assert_int_equal(st.max_owner, 2);
    /* A session put again starts with an empty queue count. */
    put_session(f->s, 1, "a");
    assert_int_equal(store_fx_commit(f->s), 0);
    r = load(f->s);
    assert_int_equal(r.len[0], 0);
    assert_int_equal(r.first[0], 0);
    assert_int_equal(r.last[0], 0);
}

/* Replace the meta "version" value (NULL: delete it) with raw LMDB. */
/* Entries of database name, read with raw LMDB (the store must be closed). */
static size_t raw_entries(const char *dir, const char *name)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return st.ms_entries;
}

/* The meta "version" value's number, read with raw LMDB. */
/* Version 3: a message with one reference has no refs record; one over 1
 * has; the record goes when the count falls to 1, the message at 0. */
static void test_store_single_reference_has_no_refs_record(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_msg(f->s, 1, "one", 8);
    queue_add(f->s, 1, 1, 1);
    put_msg(f->s, 2, "two", 8);
    queue_add(f->s, 1, 2, 2);
    queue_add(f->s, 2, 1, 2);
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_close(f);
    assert_int_equal(raw_entries(f->dir, "msgs"), 2);
    assert_int_equal(raw_entries(f->dir, "refs"), 1); /* only message 2's count of 2 */
    store_fx_open(f);
    assert_int_equal(store_queue_del(f->s, 2, 1), 0); /* message 2: 2 -> 1 */
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_close(f);
    assert_int_equal(raw_entries(f->dir, "refs"), 0);
    assert_int_equal(raw_entries(f->dir, "msgs"), 2);
    store_fx_open(f);
    /* 1 -> 2 -> 1 in one batch, then the last references go. */
    queue_add(f->s, 3, 1, 1);
    assert_int_equal(store_queue_del(f->s, 3, 1), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 2);
    assert_int_equal(store_queue_del(f->s, 1, 1), 0);
    assert_int_equal(store_queue_del(f->s, 1, 2), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 0);
    store_fx_close(f);
    assert_int_equal(raw_entries(f->dir, "refs"), 0);
    assert_int_equal(raw_entries(f->dir, "msgs"), 0);
}

/* The bridge replay's move (issue 15): a queued message goes into flight
 * in one batch (queue entry deleted, inflight record put, no second put of
 * the message). Its count does not change, so neither does anything of it
 * in msgs or refs; the PUBACK's delete then releases it. */
static void test_store_queue_to_inflight_move_keeps_the_message(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_msg(f->s, 1, "one", 8);
    queue_add(f->s, 1, 1, 1);
    put_msg(f->s, 2, "two", 8);
    queue_add(f->s, 1, 2, 2);
    queue_add(f->s, 2, 1, 2); /* message 2 also waits for owner 2: count 2 */
    assert_int_equal(store_batch_ops(f->s), 5);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(store_batch_ops(f->s), 0);
    assert_int_equal(store_queue_del(f->s, 1, 1), 0);
    inflight(f->s, 1, STORE_OUT, 1, 1, 1);
    assert_int_equal(store_queue_del(f->s, 1, 2), 0);
    inflight(f->s, 1, STORE_OUT, 2, 2, 2);
    assert_int_equal(store_batch_ops(f->s), 4);
    assert_int_equal(store_fx_commit(f->s), 0);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.queued, 1); /* owner 2's */
    assert_int_equal(st.inflight, 2);
    store_fx_close(f);
    assert_int_equal(raw_entries(f->dir, "refs"), 1); /* message 2 still counts 2 */
    store_fx_open(f);
    struct rec r = load(f->s);
    assert_int_equal(r.inflight, 2);
    assert_true(r.if_has_msg[0]);
    assert_true(r.if_has_msg[1]);
    /* The PUBACKs: message 1 goes, message 2 stays for owner 2. */
    assert_int_equal(store_inflight_del(f->s, 1, STORE_OUT, 1), 0);
    assert_int_equal(store_inflight_del(f->s, 1, STORE_OUT, 2), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    st = stats(f->s);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.inflight, 0);
    store_fx_close(f);
    assert_int_equal(raw_entries(f->dir, "refs"), 0);
    assert_int_equal(raw_entries(f->dir, "msgs"), 1);
}

/* A version 2 store (a refs record for every message, count 1 too) opens,
 * is marked 3, and its explicit counts still work. */
static void test_store_version_2_opens_and_is_marked_3(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 1, "old");
    put_msg(f->s, 7, "old", 8);
    queue_add(f->s, 1, 1, 7);
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_close(f);
    /* What a version 2 writer left: the record says 2, message 7 has an
     * explicit count of 1. */
    store_fx_raw_meta(f->dir, "version", "TERN\x00\x00\x00\x02", 8);
    {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        uint8_t id[8] = {0, 0, 0, 0, 0, 0, 0, 7};
        uint8_t one[4] = {0, 0, 0, 1};
        MDB_val k = {sizeof id, id};
        MDB_val v = {sizeof one, one};
        assert_int_equal(mdb_env_create(&env), 0);
        assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
        assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_dbi_open(txn, "refs", 0, &dbi), 0);
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
    }
    store_fx_open(f);
    store_fx_close(f);
    assert_int_equal(store_fx_raw_version(f->dir), STORE_FORMAT_VERSION);
    store_fx_open(f);
    assert_int_equal(load(f->s).len[0], 1);
    assert_int_equal(store_queue_del(f->s, 1, 1), 0); /* explicit 1 -> 0 */
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 0);
    store_fx_close(f);
    assert_int_equal(raw_entries(f->dir, "refs"), 0);
}

static void expect_config_error(struct store_fx *f)
{
    char err[256] = "";
    struct store *s = NULL;
    assert_int_equal(store_open(&f->cfg, &s, err, sizeof err), GW_E_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "move it away or run the matching tern version"));
}

static void test_store_version_mismatch_refused(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 1, "keep");
    assert_int_equal(store_fx_commit(f->s), 0);
    store_close(f->s);
    f->s = NULL;
    store_fx_raw_meta(f->dir, "version", "TERN\x00\x00\x00\x63", 8); /* version 99 */
    expect_config_error(f);
    char err[256] = "";
    struct store *s = NULL;
    assert_int_equal(store_open(&f->cfg, &s, err, sizeof err), GW_E_CONFIG);
    assert_non_null(strstr(err, "format version 99"));
    /* Nothing was wiped: the right version opens with the data. */
    store_fx_raw_meta(f->dir, "version", "TERN\x00\x00\x00\x03", 8); /* the current version */
    store_fx_open(f);
    assert_int_equal(load(f->s).sessions, 1);
}

static void test_store_corrupt_or_missing_meta_refused(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    store_close(f->s);
    f->s = NULL;
    store_fx_raw_meta(f->dir, "version", "XX", 2);
    expect_config_error(f);
    store_fx_raw_meta(f->dir, "version", NULL, 0);
    expect_config_error(f);
    store_fx_raw_meta(f->dir, "version", "TERN\x00\x00\x00\x03", 8); /* the current version */
    store_fx_raw_meta(f->dir, "ids", "short", 5);
    expect_config_error(f);
}

static void test_store_not_an_lmdb_file_refused(void **state)
{
    struct store_fx *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++) {
        fputc(i * 7, fp);
    }
    fclose(fp);
    expect_config_error(f);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 4096); /* never wiped */
}

static void write_mib(struct store *s, uint64_t first_id, int mib)
{
    for (int i = 0; i < mib * 16; i++) { /* 64 KiB messages */
        uint64_t id = first_id + (uint64_t)i;
        put_msg(s, id, "big", 64u << 10);
        queue_add(s, 1, id, id);
    }
}

static void test_store_map_grows(void **state)
{
    struct store_fx *f = *state;
    f->cfg.map_size = 1u << 20;
    f->cfg.map_size_max = 256u << 20;
    store_fx_open(f);
    assert_int_equal(stats(f->s).map_bytes, 1u << 20);
    for (int b = 0; b < 4; b++) {
        write_mib(f->s, 1 + (uint64_t)b * 80, 5);
        assert_int_equal(store_fx_commit(f->s), 0);
    }
    struct store_stats st = stats(f->s);
    assert_int_equal(st.messages, 320);
    assert_true(st.map_bytes >= 32u << 20);
    assert_true(st.used_bytes >= 20u << 20);
    store_fx_reopen(f);
    assert_int_equal(load(f->s).len[0], 0); /* no session, but data kept: */
    assert_int_equal(stats(f->s).queued, 320);
}

static void test_store_enospc_at_max_nothing_half_applied(void **state)
{
    struct store_fx *f = *state;
    f->cfg.map_size = 1u << 20;
    f->cfg.map_size_max = 2u << 20;
    f->cfg.quota_bytes = 512u << 10;
    store_fx_open(f);
    write_mib(f->s, 1, 1);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_true(store_over_quota(f->s));
    put_session(f->s, 9, "x");
    write_mib(f->s, 1000, 3);
    assert_int_equal(store_fx_commit(f->s), -ENOSPC);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.messages, 16);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.map_bytes, 2u << 20);
    /* Still usable: delete, then write small. */
    assert_int_equal(store_queue_trim(f->s, 1, UINT64_MAX), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).messages, 0);
    put_session(f->s, 9, "x");
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).sessions, 1);
}

/* The quota counts what is on its way to the writer: a slow or busy writer
 * must not let whole batches past it before the next commit reports the
 * size (a quota test failed under load that way). */
static void test_store_quota_counts_uncommitted_batches(void **state)
{
    struct store_fx *f = *state;
    f->cfg.quota_bytes = 1u << 20;
    store_fx_open(f);
    assert_false(store_over_quota(f->s));
    write_mib(f->s, 1, 1); /* 1 MiB in the current batch, nothing committed */
    assert_true(store_over_quota(f->s));
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_true(store_over_quota(f->s)); /* now measured */
    /* Deletes do not count as growth: once committed, back under. */
    assert_int_equal(store_queue_trim(f->s, 1, UINT64_MAX), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_false(store_over_quota(f->s));
}

struct order {
    int next;
    int bad;
    int all;
};

struct order_arg {
    struct order *o;
    int idx;
};

static void on_order(void *arg, int rc)
{
    struct order_arg *a = arg;
    if (rc != 0 || a->idx != a->o->next) {
        a->o->bad++;
    }
    a->o->next++;
    if (a->o->next == 101) {
        a->o->all = 1;
    }
}

static void test_store_group_commit_completes_in_order(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    struct order o = {0, 0, 0};
    struct order_arg args[101];
    for (int i = 0; i < 101; i++) {
        args[i].o = &o;
        args[i].idx = i;
        if (i % 10 != 9) { /* every tenth batch is empty: a barrier */
            put_msg(f->s, 1 + (uint64_t)i, "g", 8);
            queue_add(f->s, 1, 1 + (uint64_t)i, 1 + (uint64_t)i);
        }
        assert_int_equal(store_commit(f->s, on_order, &args[i]), 0);
    }
    store_fx_wait_flag(f->s, &o.all);
    assert_int_equal(o.bad, 0);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.batches, 101);
    assert_int_equal(st.batch_ops_total, 91 * 2);
    assert_int_equal(st.batch_ops_max, 2);
    assert_int_equal(st.queued, 91);
}

static void test_store_empty_batch_is_a_barrier(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    struct done a = {0, 0};
    struct done b = {0, 0};
    put_msg(f->s, 1, "t", 4);
    queue_add(f->s, 1, 1, 1);
    assert_int_equal(store_commit(f->s, on_done, &a), 0);
    assert_true(store_batch_empty(f->s));
    assert_int_equal(store_commit(f->s, on_done, &b), 0);
    store_fx_wait_flag(f->s, &b.fired);
    assert_true(a.fired);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(stats(f->s).queued, 1);
}

static void test_store_each_sync_mode_works(void **state)
{
    struct store_fx *f = *state;

    static const enum store_sync modes[] = {STORE_SYNC_BATCH, STORE_SYNC_PERIODIC, STORE_SYNC_NONE};

    for (size_t i = 0; i < 3; i++) {
        f->cfg.sync = modes[i];
        f->cfg.periodic_ms = 5;
        store_fx_reopen(f);
        put_msg(f->s, 1 + i, "s", 4);
        queue_add(f->s, 1, 1 + i, 1 + i);
        assert_int_equal(store_fx_commit(f->s), 0);
        assert_int_equal(store_fx_commit(f->s), 0); /* a second batch after a sync */
    }
    store_fx_reopen(f);
    assert_int_equal(stats(f->s).queued, 3);
}

static void test_store_close_commits_pending(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    struct done a = {0, 0};
    put_msg(f->s, 1, "t", 4);
    queue_add(f->s, 1, 1, 1);
    assert_int_equal(store_commit(f->s, on_done, &a), 0);
    put_msg(f->s, 2, "t", 4);
    queue_add(f->s, 1, 2, 2); /* never committed by the caller */
    store_close(f->s);
    f->s = NULL;
    assert_true(a.fired); /* its callback ran inside store_close */
    assert_int_equal(a.rc, 0);
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 2);
}

/* Build a batch of many ops (arena and op array both grow), then commit. */
static int build_batch(struct store *s)
{
    static uint8_t big[20000];
    for (uint64_t i = 1; i <= 40; i++) {
        struct store_msg m = {
                .id = i, .qos = 1, .topic = gw_bytes_str("t"), .payload = {big, sizeof big}};
        struct store_qentry e = {.owner = 1, .seq = i, .msg_id = i, .qos = 1};
        int rc = store_msg_put(s, &m);
        if (rc == 0) {
            rc = store_queue_add(s, &e);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return store_fx_commit(s);
}

static void test_store_alloc_failure_clean(void **state)
{
    struct store_fx *f = *state;
    size_t base = gw_alloc_bytes();
    int ok = 0;
    for (long n = 0; n < 1000 && !ok; n++) {
        char err[256];
        struct store *s = NULL;
        gw_alloc_fail_at(n, 0);
        int rc = store_open(&f->cfg, &s, err, sizeof err);
        if (rc == 0) {
            bool first_empty = store_batch_empty(s);
            rc = build_batch(s);
            assert_true(first_empty);
        }
        gw_alloc_fail_at(-1, 0);
        if (rc == 0) {
            ok = 1;
            assert_int_equal(stats(s).queued, 40);
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
        store_close(s);
        assert_int_equal(gw_alloc_bytes(), base);
    }
    assert_true(ok);
}

static void test_store_load_200k_queued_is_fast(void **state)
{
    struct store_fx *f = *state;
    f->cfg.sync = STORE_SYNC_NONE;
    f->cfg.map_size_max = 1ull << 30;
    store_fx_open(f);
    const uint64_t owners = 10;
    const uint64_t per = 20000;
    for (uint64_t o = 1; o <= owners; o++) {
        char id[16];
        snprintf(id, sizeof id, "c%llu", (unsigned long long)o);
        put_session(f->s, o, id);
        for (uint64_t seq = 1; seq <= per; seq++) {
            uint64_t msg = o * 1000000 + seq;
            put_msg(f->s, msg, "load", 8);
            queue_add(f->s, o, seq, msg);
            if (seq % 10000 == 0) {
                assert_int_equal(store_fx_commit(f->s), 0);
            }
        }
    }
    store_fx_reopen(f);
    uint64_t t0 = store_fx_now_ms();
    struct rec r = load(f->s);
    uint64_t dt = store_fx_now_ms() - t0;
    print_message("store_load of %llu queued entries: %llu ms\n",
                  (unsigned long long)(owners * per), (unsigned long long)dt);
    assert_int_equal(r.sessions, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(r.first[i], 1);
        assert_int_equal(r.last[i], per);
        assert_int_equal(r.len[i], per);
    }
    assert_true(dt < 1000);
}

/* Link records: put replaces, del removes (absent: no-op), load walks them
 * in (owner, key) order, a session delete takes its owner's records, bad
 * keys are refused before they reach the batch. */
static void test_store_link_records(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 3, "sn-3");
    put_session(f->s, 9, "sn-9");
    assert_int_equal(store_link_put(f->s, 9, gw_bytes_str("tb"), gw_bytes_str("nine/b")), 0);
    assert_int_equal(store_link_put(f->s, 3, gw_bytes_str("ta"), gw_bytes_str("old")), 0);
    assert_int_equal(store_link_put(f->s, 3, gw_bytes_str("ta"), gw_bytes_str("three/a")), 0);
    assert_int_equal(store_link_put(f->s, 3, gw_bytes_str("tc"), gw_bytes_str("three/c")), 0);
    assert_int_equal(store_link_put(f->s, 9, gw_bytes_str("tz"), gw_bytes_str("")), 0);
    assert_int_equal(store_link_del(f->s, 3, gw_bytes_str("tc")), 0);
    assert_int_equal(store_link_del(f->s, 3, gw_bytes_str("never")), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_reopen(f);
    struct rec r = load(f->s);
    assert_int_equal(r.links, 3);
    assert_int_equal(r.link_owner[0], 3);
    assert_string_equal(r.link_key[0], "ta");
    assert_string_equal(r.link_val[0], "three/a");
    assert_int_equal(r.link_owner[1], 9);
    assert_string_equal(r.link_key[1], "tb");
    assert_string_equal(r.link_key[2], "tz");
    assert_string_equal(r.link_val[2], "");
    assert_int_equal(store_session_del(f->s, 9), 0);
    assert_int_equal(store_fx_commit(f->s), 0);
    r = load(f->s);
    assert_int_equal(r.links, 1);
    assert_int_equal(r.link_owner[0], 3);
    uint8_t big[STORE_FILTER_MAX + 1];
    memset(big, 'k', sizeof big);
    assert_int_equal(store_link_put(f->s, 3, (struct gw_bytes){big, sizeof big}, gw_bytes_str("v")),
                     GW_E_TOO_LARGE);
    assert_int_equal(store_link_put(f->s, 3, (struct gw_bytes){big, 0}, gw_bytes_str("v")),
                     -EINVAL);
    assert_int_equal(store_link_del(f->s, 3, (struct gw_bytes){big, 0}), -EINVAL);
}

/* The id bounds in meta run ahead of the ids in use: rewritten only when
 * an id passes them, and after a reopen no id at or below them is handed
 * out again (persist_restore continues at max_msg_id + 1). */
static void test_store_id_bounds_run_ahead(void **state)
{
    struct store_fx *f = *state;
    store_fx_open(f);
    put_session(f->s, 3, "dev-3");
    put_msg(f->s, 5, "a", 1);
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_reopen(f);
    assert_int_equal(stats(f->s).max_msg_id, 5 + STORE_IDS_AHEAD_MSG);
    assert_int_equal(stats(f->s).max_owner, 3 + STORE_IDS_AHEAD_OWNER);
    /* Below the bound: the bound stays, nothing in meta changes. */
    put_msg(f->s, 9, "b", 1);
    assert_int_equal(store_fx_commit(f->s), 0);
    store_fx_reopen(f);
    assert_int_equal(stats(f->s).max_msg_id, 5 + STORE_IDS_AHEAD_MSG);
    /* Past it: a new bound, ahead of the new id. */
    put_msg(f->s, 6 + STORE_IDS_AHEAD_MSG, "c", 1);
    assert_int_equal(store_fx_commit(f->s), 0);
    assert_int_equal(stats(f->s).max_msg_id, 6 + STORE_IDS_AHEAD_MSG);
    store_fx_reopen(f);
    assert_int_equal(stats(f->s).max_msg_id, 6 + 2 * (uint64_t)STORE_IDS_AHEAD_MSG);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fx_setup, store_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            T(test_store_reopen_keeps_data),
            T(test_store_id_bounds_run_ahead),
            T(test_store_link_records),
            T(test_store_queue_order_across_reopen),
            T(test_store_refcount_fanout_and_retained),
            T(test_store_single_reference_has_no_refs_record),
            T(test_store_queue_to_inflight_move_keeps_the_message),
            T(test_store_version_2_opens_and_is_marked_3),
            T(test_store_inflight_replace_del_load_order),
            T(test_store_session_del_cascades),
            T(test_store_version_mismatch_refused),
            T(test_store_corrupt_or_missing_meta_refused),
            T(test_store_not_an_lmdb_file_refused),
            T(test_store_map_grows),
            T(test_store_quota_counts_uncommitted_batches),
            T(test_store_enospc_at_max_nothing_half_applied),
            T(test_store_group_commit_completes_in_order),
            T(test_store_empty_batch_is_a_barrier),
            T(test_store_each_sync_mode_works),
            T(test_store_close_commits_pending),
            T(test_store_alloc_failure_clean),
            T(test_store_load_200k_queued_is_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
