/* test_store_journal.c - the commit journal (persistence_durability
 * journal): record framing, and replay at open against a real LMDB
 * directory. A crash where LMDB's unsynced pages never reached the disk is
 * simulated with real files: data.mdb as it was at a checkpoint (a clean
 * close) put back beside a journal copied after later commits. */
#include "gw_err.h"
#include "store.h"
#include "store_codec.h"
#include "store_fixture.h"
#include "store_journal_codec.h"
#include "store_schema.h"

#include <fcntl.h>
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

static void commit_wait(struct store *s)
{
    assert_int_equal(store_fx_commit(s), 0);
}

/* One batch: message id queued for owner 1 at seq id. */
static void queue_msg(struct store *s, uint64_t id, size_t payload_len)
{
    static uint8_t payload[1u << 18];
    assert_true(payload_len <= sizeof payload);
    memset(payload, (int)(id & 0xFF), payload_len);
    struct store_msg m = {
            .id = id, .qos = 1, .topic = gw_bytes_str("j/t"), .payload = {payload, payload_len}};
    struct store_qentry e = {.owner = 1, .seq = id, .msg_id = id, .qos = 1};
    assert_int_equal(store_msg_put(s, &m), 0);
    assert_int_equal(store_queue_add(s, &e), 0);
    commit_wait(s);
}

static struct store_stats stats(struct store *s)
{
    struct store_stats st;
    assert_int_equal(store_stats(s, &st), 0);
    return st;
}

static void path_in(const struct store_fx *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* Offsets of the records at the start of the journal file: one after the
 * other, or at the next page where the writer skipped to it
 * (store_jrec_place). */
static size_t record_offsets(const char *path, size_t *offs, size_t max, uint8_t **bytes,
                             size_t *len)
{
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    static uint8_t buf[16u << 20];
    *len = fread(buf, 1, sizeof buf, in);
    fclose(in);
    *bytes = buf;
    size_t n = 0;
    size_t off = 0;
    uint64_t seq;
    uint64_t prev = 0;
    struct gw_bytes pl;
    unsigned ver;
    while (n < max && off < *len) {
        ssize_t used = store_jrec_decode(buf + off, *len - off, &seq, &pl, &ver);
        if ((used <= 0 || (n > 0 && seq != prev + 1)) && n > 0 && off % STORE_JREC_ALIGN != 0) {
            size_t next = off - off % STORE_JREC_ALIGN + STORE_JREC_ALIGN;
            used = next < *len ? store_jrec_decode(buf + next, *len - next, &seq, &pl, &ver) : -1;
            off = used > 0 && seq == prev + 1 ? next : off;
        }
        if (used <= 0 || (n > 0 && seq != prev + 1)) {
            break;
        }
        offs[n++] = off;
        prev = seq;
        off += (size_t)used;
    }
    offs[n] = off;
    return n;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(p, 1, n, out), n);
    assert_int_equal(fclose(out), 0);
}

/* The crash: a store with message 1 at a checkpoint (data.mdb saved), then
 * messages 2..4 committed (journal saved), then data.mdb put back. The
 * journal records of 2..4 are the only copy. */
static void crash_after_three(struct store_fx *f, char *journal, size_t cap, size_t payload_len)
{
    char data[128];
    char saved[128];
    path_in(f, "data.mdb", data, sizeof data);
    path_in(f, "data.saved", saved, sizeof saved);
    path_in(f, "journal", journal, cap);
    char ckpt[128];
    char ckpt_saved[128];
    path_in(f, "checkpoint", ckpt, sizeof ckpt);
    path_in(f, "checkpoint.saved", ckpt_saved, sizeof ckpt_saved);
    store_fx_open(f);
    queue_msg(f->s, 1, payload_len);
    store_fx_close(f);
    copy_file(data, saved); /* the disk at the checkpoint: data.mdb and its meta copy */
    copy_file(ckpt, ckpt_saved);
    store_fx_open(f);
    queue_msg(f->s, 2, payload_len);
    queue_msg(f->s, 3, payload_len);
    queue_msg(f->s, 4, payload_len);
    char jsaved[128];
    path_in(f, "journal.saved", jsaved, sizeof jsaved);
    copy_file(journal, jsaved); /* what the disk had: records 2..4 synced */
    store_fx_close(f);
    copy_file(saved, data);
    copy_file(ckpt_saved, ckpt);
    copy_file(jsaved, journal);
}

/* Encode ops[0..n) as a one-batch payload into out; the length. */
static size_t payload_of(uint8_t *out, const struct store_jop *ops, size_t n)
{
    struct store_jctx ctx = {0};
    size_t len = store_jvar_put(out, 1);
    len += store_jvar_put(out + len, n);
    for (size_t i = 0; i < n; i++) {
        len += store_jop_encode(out + len, ops[i].key.n + ops[i].val.n + STORE_JOP_MAX_OVER, &ctx,
                                &ops[i]);
    }
    return len;
}

static void assert_jop_equal(const struct store_jop *a, const struct store_jop *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->owner, b->owner);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->msg_id, b->msg_id);
    assert_int_equal(a->key.n, b->key.n);
    assert_memory_equal(a->key.p, b->key.p, a->key.n);
    assert_int_equal(a->val.n, b->val.n);
    if (a->val.n) {
        assert_memory_equal(a->val.p, b->val.p, a->val.n);
    }
}

/* The ops of one queued 64-byte message and its delivery, as store_ops.c
 * builds them, plus a session put (generic form) and a queue entry whose
 * key disagrees with its fields (generic too, never "corrected"). */
struct sample {
    uint8_t mkey[8], mval[128], qkey[16], qval[10], dkey[16], ikey[11], ival[18], skey[8];
    uint8_t bad_qkey[16];
    struct store_jop ops[8];
};

static void sample_ops(struct sample *x)
{
    static const uint8_t payload[64] = {1, 2, 3};
    struct store_msg m = {.id = 1000001,
                          .qos = 1,
                          .created_s = 1796000000,
                          .topic = gw_bytes_str("tb/durable"),
                          .payload = {payload, sizeof payload}};
    size_t mlen = store_msg_size(&m);
    store_id_encode(x->mkey, m.id);
    store_msg_encode(x->mval, sizeof x->mval, &m);
    struct store_qentry e = {.owner = 3, .seq = 500000, .msg_id = m.id, .qos = 1};
    store_qkey_encode(x->qkey, e.owner, e.seq);
    store_qval_encode(x->qval, &e);
    store_qkey_encode(x->dkey, 3, 499999);
    struct store_inflight fl = {3, STORE_OUT, 17, 1, 2, m.id, 500000};
    store_ifkey_encode(x->ikey, 3, STORE_OUT, 17);
    store_ifval_encode(x->ival, &fl);
    store_id_encode(x->skey, 3);
    store_qkey_encode(x->bad_qkey, 4, 500000); /* owner 4, the op says 3 */
    struct store_jop ops[8] = {
            {1, 0, 0, m.id, {x->mkey, 8}, {x->mval, mlen}},           /* MSG_PUT */
            {2, 3, 500000, m.id, {x->qkey, 16}, {x->qval, 10}},       /* QUEUE_ADD */
            {3, 3, 499999, 0, {x->dkey, 16}, {NULL, 0}},              /* QUEUE_DEL */
            {5, 3, 0, m.id, {x->ikey, 11}, {x->ival, 18}},            /* INFLIGHT_PUT */
            {6, 3, 0, 0, {x->ikey, 11}, {NULL, 0}},                   /* INFLIGHT_DEL */
            {7, 3, 0, 0, {x->skey, 8}, {(const uint8_t *)"sess", 4}}, /* SESSION_PUT */
            {2, 3, 500000, m.id, {x->bad_qkey, 16}, {x->qval, 10}},
            {4, 3, 7, 0, {x->skey, 8}, {NULL, 0}}, /* QUEUE_TRIM */
    };
    memcpy(x->ops, ops, sizeof ops);
}

/* Every op decodes back byte for byte; the per-message ones are compact:
 * a queued 64-byte message on a 10-byte topic costs under 90 bytes where
 * format 1 took 218 (issue 15). */
static void test_jop_round_trip_compact_forms(void **state)
{
    (void)state;
    struct sample x;
    sample_ops(&x);
    uint8_t pl[1024];
    /* The next message (id + 1, seq + 1) after this one in a record. */
    uint8_t mkey2[8];
    uint8_t qkey2[16];
    uint8_t qval2[10];
    struct store_qentry e2 = {.owner = 3, .seq = 500001, .msg_id = 1000002, .qos = 1};
    store_id_encode(mkey2, e2.msg_id);
    store_qkey_encode(qkey2, e2.owner, e2.seq);
    store_qval_encode(qval2, &e2);
    struct store_jop two[4] = {x.ops[0], x.ops[1], x.ops[0], x.ops[1]};
    two[2].msg_id = e2.msg_id;
    two[2].key.p = mkey2;
    two[3] = (struct store_jop){2, 3, 500001, e2.msg_id, {qkey2, 16}, {qval2, 10}};
    size_t one_len = payload_of(pl, two, 2);
    size_t len = payload_of(pl, two, 4);
    assert_true(len - one_len <= 64 + 10 + 16);
    len = payload_of(pl, x.ops, 8);
    struct gw_bytes p = {pl, len};
    assert_int_equal(store_jpayload_check(p), 0);
    size_t pos = 0;
    uint64_t count;
    uint64_t nops;
    assert_int_equal(store_jpayload_count(p, &pos, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(store_jbatch_count(p, &pos, &nops), 0);
    assert_int_equal(nops, 8);
    struct store_jctx ctx = {0};
    uint8_t out[256];
    for (size_t i = 0; i < 8; i++) {
        struct store_jop back;
        ssize_t used = store_jop_decode(pl + pos, len - pos, &ctx, &back, out, sizeof out);
        assert_true(used > 0);
        assert_jop_equal(&x.ops[i], &back);
        if (i == 6) {
            assert_true(pl[pos] & STORE_JOP_GENERIC); /* its key is not rebuilt */
        }
        pos += (size_t)used;
        /* The rebuilt bytes never outgrow what was read by more than GROW. */
        assert_true(back.key.n + back.val.n <= (size_t)used + STORE_JOP_GROW);
    }
    assert_int_equal(pos, len);
}

static void test_jrec_round_trip_truncations_and_bit_flips(void **state)
{
    (void)state;
    struct sample x;
    sample_ops(&x);
    uint8_t pl[512];
    size_t plen = payload_of(pl, x.ops, 2);
    uint8_t rec[600];
    uint32_t crc = store_jrec_put_hdr(rec, 42, (uint32_t)plen);
    memcpy(rec + STORE_JREC_HDR, pl, plen);
    crc = store_crc32(crc, pl, plen);
    store_jrec_put_crc(rec + STORE_JREC_HDR + plen, crc);
    size_t n = STORE_JREC_OVER + plen;

    uint64_t seq = 0;
    unsigned ver = 0;
    struct gw_bytes got;
    assert_int_equal(store_jrec_decode(rec, n, &seq, &got, &ver), (ssize_t)n);
    assert_int_equal(seq, 42);
    assert_int_equal(ver, 2);
    assert_int_equal(got.n, plen);
    assert_int_equal(store_jpayload_check(got), 0);
    for (size_t i = 0; i < n; i++) { /* a torn tail: every strict prefix */
        assert_int_equal(store_jrec_decode(rec, i, &seq, &got, &ver), GW_E_INCOMPLETE);
    }
    for (size_t i = 0; i < n * 8; i++) { /* any one flipped bit is caught */
        rec[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_true(store_jrec_decode(rec, n, &seq, &got, &ver) < 0);
        rec[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    gw_put_be32(rec, STORE_JREC_MAGIC_V1); /* format 1: recognised as such */
    assert_int_equal(store_jrec_decode(rec, n, &seq, &got, &ver), (ssize_t)n);
    assert_int_equal(ver, 1);
    /* The CRC-32 check value of "123456789". */
    assert_int_equal(store_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
}

static void test_jpayload_damaged_is_malformed(void **state)
{
    (void)state;
    struct sample x;
    sample_ops(&x);
    uint8_t pl[1024];
    size_t len = payload_of(pl, x.ops, 8);
    for (size_t i = 0; i < len; i++) { /* every strict prefix */
        struct gw_bytes p = {pl, i};
        assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    }
    struct gw_bytes longer = {pl, len + 1};
    pl[len] = 0;
    assert_int_equal(store_jpayload_check(longer), GW_E_MALFORMED);
    struct gw_bytes p = {pl, len};
    pl[0] = 2; /* a second batch that is not there */
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    pl[0] = 1;
    uint8_t tag = pl[2];
    pl[2] = 0; /* type 0 */
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    pl[2] = STORE_JOP_TYPE_MAX + 1;
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    pl[2] = tag;
    assert_int_equal(store_jpayload_check(p), 0);
    pl[1] = 0x7F; /* more ops than bytes could hold */
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);

    /* Compact fields the store's codec would refuse: qos 3, dir 2. */
    uint8_t q[] = {1, 1, 2, 3, 0, 0, 3, 0};
    struct gw_bytes qp = {q, sizeof q};
    assert_int_equal(store_jpayload_check(qp), GW_E_MALFORMED);
    q[6] = 1;
    assert_int_equal(store_jpayload_check(qp), 0);
    uint8_t d[] = {1, 1, 6, 3, 2, 17};
    struct gw_bytes dp = {d, sizeof d};
    assert_int_equal(store_jpayload_check(dp), GW_E_MALFORMED);
    d[4] = 1;
    assert_int_equal(store_jpayload_check(dp), 0);
    /* A generic key longer than LMDB takes. */
    uint8_t g[8 + 600] = {1, 1, 7 | STORE_JOP_GENERIC, 0, 0, 0, 0xD8, 0x04};
    struct gw_bytes gp = {g, sizeof g};
    assert_int_equal(store_jpayload_check(gp), GW_E_MALFORMED);
    /* A varint past 64 bits. */
    uint8_t v[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    uint64_t out;
    assert_int_equal(store_jvar_get(v, sizeof v, &out), 0);
    v[9] = 1;
    assert_int_equal(store_jvar_get(v, sizeof v, &out), 10);
    assert_true(out == UINT64_MAX);
}

/* A record goes where it dirties the fewest pages: after its predecessor
 * when that costs no extra page, at the next page otherwise. */
static void test_jrec_place_saves_a_page_rewrite(void **state)
{
    (void)state;
    assert_int_equal(store_jrec_place(0, 100), 0);
    assert_int_equal(store_jrec_place(100, 200), 100);
    assert_int_equal(store_jrec_place(4000, 200), 4096);
    assert_int_equal(store_jrec_place(4000, 5000), 4096);
    assert_int_equal(store_jrec_place(1000, 5000), 1000);
    assert_int_equal(store_jrec_place(8192, 9000), 8192);
    assert_int_equal(store_jrec_place(8192 + 3000, 1096), 8192 + 3000);
    assert_int_equal(store_jrec_place(8192 + 3000, 1097), 12288);
}

static void test_journal_replay_after_crash_restores_all(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal, 100);
    store_fx_open(f);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.messages, 4);
    assert_int_equal(st.journal_replayed, 3);
    store_fx_close(f);
    store_fx_open(f); /* replayed once: a second open finds them stored */
    st = stats(f->s);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.journal_replayed, 0);
}

static void test_journal_torn_tail_is_the_end(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal, 100);
    size_t offs[8];
    uint8_t *bytes;
    size_t len;
    assert_int_equal(record_offsets(journal, offs, 7, &bytes, &len), 3);
    /* The last record half written: never acknowledged. */
    write_file(journal, bytes, offs[2] + (offs[3] - offs[2]) / 2);
    store_fx_open(f);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.journal_replayed, 2);
    char damaged[128];
    path_in(f, "journal.damaged", damaged, sizeof damaged);
    assert_int_not_equal(access(damaged, F_OK), 0);
}

/* A bad CRC in the middle (media damage, not a torn write): the replay
 * stops there, because the records after it were written against a state
 * that includes the damaged one; they are reported lost and the journal is
 * kept as journal.damaged for inspection. */
static void test_journal_bad_crc_in_middle_stops_and_keeps_copy(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal, 100);
    size_t offs[8];
    uint8_t *bytes;
    size_t len;
    assert_int_equal(record_offsets(journal, offs, 7, &bytes, &len), 3);
    bytes[offs[1] + STORE_JREC_HDR + 2] ^= 0x40;
    write_file(journal, bytes, len);
    store_fx_open(f);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.journal_replayed, 1);
    char damaged[128];
    path_in(f, "journal.damaged", damaged, sizeof damaged);
    assert_int_equal(access(damaged, F_OK), 0);
}

static void test_journal_checkpoint_rewinds(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    path_in(f, "journal", journal, sizeof journal);
    store_fx_open(f);
    struct stat sb;
    assert_int_equal(stat(journal, &sb), 0);
    assert_true(sb.st_size >= (4 << 20));   /* preallocated */
    for (uint64_t id = 1; id <= 24; id++) { /* 24 x 200 KB: over 4 MiB */
        queue_msg(f->s, id, 200000);
    }
    struct store_stats st = stats(f->s);
    assert_true(st.journal_checkpoints >= 1);
    assert_int_equal(st.journal_records, 24);
    /* After the checkpoint the next records start again at offset 0. */
    size_t offs[16];
    uint8_t *bytes;
    size_t len;
    assert_true(record_offsets(journal, offs, 15, &bytes, &len) >= 1);
    assert_true(gw_be64(bytes + 4) > 1);
    store_fx_close(f);
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 24);
    assert_int_equal(stats(f->s).journal_replayed, 0);
}

/* Opened in sync mode (a config change, or `tern --store-info` beside a
 * running tern): the records are applied, the file is left alone. */
static void test_journal_opened_in_sync_mode_applied_and_kept(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal, 100);
    f->cfg.sync = STORE_SYNC_BATCH;
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 4);
    assert_int_equal(stats(f->s).journal_replayed, 3);
    assert_int_equal(access(journal, F_OK), 0);
    store_fx_close(f);
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 4);
    assert_int_equal(stats(f->s).journal_replayed, 0);
}

/* Records of about 3 KiB: the second and third start at a page each
 * (two pages written per record otherwise). The replay finds them there,
 * whatever the skipped bytes hold. */
static void test_journal_replay_of_page_aligned_records(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal, 3000);
    size_t offs[8];
    uint8_t *bytes;
    size_t len;
    assert_int_equal(record_offsets(journal, offs, 7, &bytes, &len), 3);
    assert_int_equal(offs[0], 0);
    assert_int_equal(offs[1], STORE_JREC_ALIGN);
    assert_int_equal(offs[2], 2 * STORE_JREC_ALIGN);
    for (size_t i = 0; i < 2; i++) { /* garbage where the writer skipped */
        uint64_t seq;
        struct gw_bytes pl;
        unsigned ver;
        ssize_t used = store_jrec_decode(bytes + offs[i], len - offs[i], &seq, &pl, &ver);
        assert_true(used > 0 && offs[i] + (size_t)used < offs[i + 1]);
        memset(bytes + offs[i] + used, 0x54, offs[i + 1] - offs[i] - (size_t)used);
    }
    write_file(journal, bytes, len);
    store_fx_open(f);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.journal_replayed, 3);
}

/* 64 queued 64-byte messages in one commit: one record of under 90 bytes
 * a message (format 1 took 218), and it replays to the same store. */
static void test_journal_record_is_compact(void **state)
{
    struct store_fx *f = *state;
    static const uint8_t payload[64];
    store_fx_open(f);
    for (uint64_t id = 1; id <= 64; id++) {
        struct store_msg m = {.id = id,
                              .qos = 1,
                              .created_s = 1796000000,
                              .topic = gw_bytes_str("tb/durable"),
                              .payload = {payload, sizeof payload}};
        struct store_qentry e = {.owner = 1, .seq = id, .msg_id = id, .qos = 1};
        assert_int_equal(store_msg_put(f->s, &m), 0);
        assert_int_equal(store_queue_add(f->s, &e), 0);
    }
    commit_wait(f->s);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.journal_records, 1);
    assert_true(st.journal_bytes <= 64 * 90 + STORE_JREC_OVER + 16);
    store_fx_close(f);
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 64);
}

/* Put a format-1 record (an empty payload) with seq at the journal's start. */
static void put_format1_record(const struct store_fx *f, uint64_t seq)
{
    char journal[128];
    uint8_t rec[STORE_JREC_OVER + 4] = {0};
    uint32_t crc = store_jrec_put_hdr(rec, seq, 4);
    gw_put_be32(rec, STORE_JREC_MAGIC_V1); /* the crc does not cover the magic */
    store_jrec_put_crc(rec + STORE_JREC_HDR + 4, store_crc32(crc, rec + STORE_JREC_HDR, 4));
    path_in(f, "journal", journal, sizeof journal);
    FILE *out = fopen(journal, "r+b");
    assert_non_null(out);
    assert_int_equal(fwrite(rec, 1, sizeof rec, out), sizeof rec);
    assert_int_equal(fclose(out), 0);
}

/* A version-4 store whose journal still holds a format-1 record newer than
 * its jseq (that tern was killed) is refused and left at version 4, so the
 * older tern can apply it; after a clean stop of that tern (the record at
 * or below jseq) it opens and is marked 5. */
static void test_journal_format1_pending_refused_then_upgraded(void **state)
{
    struct store_fx *f = *state;
    char err[256] = "";
    store_fx_open(f);
    store_fx_close(f);
    store_fx_raw_meta(f->dir, "version", "TERN\x00\x00\x00\x04", 8);
    put_format1_record(f, 1);
    assert_int_equal(store_open(&f->cfg, &f->s, err, sizeof err), GW_E_CONFIG);
    assert_non_null(strstr(err, "older tern"));
    assert_int_equal(store_fx_raw_version(f->dir), 4);
    f->cfg.sync = STORE_SYNC_BATCH; /* refused in any mode */
    assert_int_equal(store_open(&f->cfg, &f->s, err, sizeof err), GW_E_CONFIG);
    f->cfg.sync = STORE_SYNC_JOURNAL;
    put_format1_record(f, 0);
    store_fx_open(f);
    queue_msg(f->s, 1, 10);
    store_fx_close(f);
    assert_int_equal(store_fx_raw_version(f->dir), STORE_FORMAT_VERSION);
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 1);
}

#define J(fn) cmocka_unit_test_setup_teardown(fn, store_fx_setup_journal, store_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            J(test_jop_round_trip_compact_forms),
            J(test_jrec_round_trip_truncations_and_bit_flips),
            J(test_jpayload_damaged_is_malformed),
            J(test_jrec_place_saves_a_page_rewrite),
            J(test_journal_replay_after_crash_restores_all),
            J(test_journal_replay_of_page_aligned_records),
            J(test_journal_record_is_compact),
            J(test_journal_format1_pending_refused_then_upgraded),
            J(test_journal_torn_tail_is_the_end),
            J(test_journal_bad_crc_in_middle_stops_and_keeps_copy),
            J(test_journal_checkpoint_rewinds),
            J(test_journal_opened_in_sync_mode_applied_and_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
