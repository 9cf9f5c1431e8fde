/* test_store_journal.c - the commit journal (persistence_durability
 * journal): record framing, and replay at open against a real LMDB
 * directory. A crash where LMDB's unsynced pages never reached the disk is
 * simulated with real files: data.mdb as it was at a checkpoint (a clean
 * close) put back beside a journal copied after later commits. */
#include "gw_err.h"
#include "store.h"
#include "store_fixture.h"
#include "store_journal_codec.h"

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

/* Offsets of the records at the start of the journal file. */
static size_t record_offsets(const char *path, size_t *offs, size_t max, uint8_t **bytes,
                             size_t *len)
{
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    static uint8_t buf[4u << 20];
    *len = fread(buf, 1, sizeof buf, in);
    fclose(in);
    *bytes = buf;
    size_t n = 0;
    size_t off = 0;
    uint64_t seq;
    struct gw_bytes pl;
    ssize_t used;
    while (n < max && (used = store_jrec_decode(buf + off, *len - off, &seq, &pl)) > 0) {
        offs[n++] = off;
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
static void crash_after_three(struct store_fx *f, char *journal, size_t cap)
{
    char data[128];
    char saved[128];
    path_in(f, "data.mdb", data, sizeof data);
    path_in(f, "data.saved", saved, sizeof saved);
    path_in(f, "journal", journal, cap);
    store_fx_open(f);
    queue_msg(f->s, 1, 100);
    store_fx_close(f);
    copy_file(data, saved);
    store_fx_open(f);
    queue_msg(f->s, 2, 100);
    queue_msg(f->s, 3, 100);
    queue_msg(f->s, 4, 100);
    char jsaved[128];
    path_in(f, "journal.saved", jsaved, sizeof jsaved);
    copy_file(journal, jsaved); /* what the disk had: records 2..4 synced */
    store_fx_close(f);
    copy_file(saved, data);
    copy_file(jsaved, journal);
}

static void test_jrec_round_trip_truncations_and_bit_flips(void **state)
{
    (void)state;
    uint8_t rec[256];
    uint8_t pl[4 + STORE_JBATCH_HDR + STORE_JOP_LEN + 8];
    gw_put_be32(pl, 1);
    store_jbatch_put_hdr(pl + 4, 1, 8);
    struct store_jop op = {2, 7, 9, 11, 0, 8, 8, 0};
    store_jop_encode(pl + 4 + STORE_JBATCH_HDR, &op);
    memcpy(pl + 4 + STORE_JBATCH_HDR + STORE_JOP_LEN, "abcdefgh", 8);
    uint32_t crc = store_jrec_put_hdr(rec, 42, sizeof pl);
    memcpy(rec + STORE_JREC_HDR, pl, sizeof pl);
    crc = store_crc32(crc, pl, sizeof pl);
    store_jrec_put_crc(rec + STORE_JREC_HDR + sizeof pl, crc);
    size_t n = STORE_JREC_OVER + sizeof pl;

    uint64_t seq = 0;
    struct gw_bytes got;
    assert_int_equal(store_jrec_decode(rec, n, &seq, &got), (ssize_t)n);
    assert_int_equal(seq, 42);
    assert_int_equal(got.n, sizeof pl);
    assert_int_equal(store_jpayload_check(got), 0);
    size_t pos = 4;
    struct store_jbatch jb;
    assert_int_equal(store_jbatch_next(got, &pos, &jb), 0);
    struct store_jop back;
    store_jop_decode(jb.ops, &back);
    assert_int_equal(back.owner, 7);
    assert_memory_equal(jb.arena, "abcdefgh", 8);

    for (size_t i = 0; i < n; i++) { /* a torn tail: every strict prefix */
        assert_int_equal(store_jrec_decode(rec, i, &seq, &got), GW_E_INCOMPLETE);
    }
    for (size_t i = 0; i < n * 8; i++) { /* any one flipped bit is caught */
        rec[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_true(store_jrec_decode(rec, n, &seq, &got) < 0);
        rec[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* The CRC-32 check value of "123456789". */
    assert_int_equal(store_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
}

static void test_jpayload_op_outside_arena_malformed(void **state)
{
    (void)state;
    uint8_t pl[4 + STORE_JBATCH_HDR + STORE_JOP_LEN + 8];
    gw_put_be32(pl, 1);
    store_jbatch_put_hdr(pl + 4, 1, 8);
    struct store_jop op = {2, 7, 9, 11, 4, 5, 0, 0}; /* key 4..9 of 8 bytes */
    store_jop_encode(pl + 4 + STORE_JBATCH_HDR, &op);
    struct gw_bytes p = {pl, sizeof pl};
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    op = (struct store_jop){0, 7, 9, 11, 0, 1, 0, 0}; /* type 0 */
    store_jop_encode(pl + 4 + STORE_JBATCH_HDR, &op);
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    op = (struct store_jop){2, 7, 9, 11, 0, 1, 0, 0};
    store_jop_encode(pl + 4 + STORE_JBATCH_HDR, &op);
    assert_int_equal(store_jpayload_check(p), 0);
    gw_put_be32(pl, 2); /* a second batch that is not there */
    assert_int_equal(store_jpayload_check(p), GW_E_MALFORMED);
    struct gw_bytes shorter = {pl, sizeof pl - 1};
    gw_put_be32(pl, 1);
    assert_int_equal(store_jpayload_check(shorter), GW_E_MALFORMED);
}

static void test_journal_replay_after_crash_restores_all(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal);
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
    crash_after_three(f, journal, sizeof journal);
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
    crash_after_three(f, journal, sizeof journal);
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
    assert_true(sb.st_size >= (1 << 20));   /* preallocated */
    for (uint64_t id = 1; id <= 12; id++) { /* 12 x 200 KB: over 1 MiB */
        queue_msg(f->s, id, 200000);
    }
    struct store_stats st = stats(f->s);
    assert_true(st.journal_checkpoints >= 1);
    assert_int_equal(st.journal_records, 12);
    /* After the checkpoint the next records start again at offset 0. */
    size_t offs[16];
    uint8_t *bytes;
    size_t len;
    assert_true(record_offsets(journal, offs, 15, &bytes, &len) >= 1);
    assert_true(gw_be64(bytes + 4) > 1);
    store_fx_close(f);
    store_fx_open(f);
    assert_int_equal(stats(f->s).queued, 12);
    assert_int_equal(stats(f->s).journal_replayed, 0);
}

/* Opened in sync mode (a config change, or `tern --store-info` beside a
 * running tern): the records are applied, the file is left alone. */
static void test_journal_opened_in_sync_mode_applied_and_kept(void **state)
{
    struct store_fx *f = *state;
    char journal[128];
    crash_after_three(f, journal, sizeof journal);
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

#define J(fn) cmocka_unit_test_setup_teardown(fn, store_fx_setup_journal, store_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            J(test_journal_replay_after_crash_restores_all),
            J(test_journal_torn_tail_is_the_end),
            J(test_journal_bad_crc_in_middle_stops_and_keeps_copy),
            J(test_journal_checkpoint_rewinds),
            J(test_journal_opened_in_sync_mode_applied_and_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
