/* fuzz_journal.c - the commit journal's record parser on arbitrary bytes,
 * walked as store_journal.c's replay walks a journal file that may be
 * damaged: records one after another (or at the next page boundary, where
 * the writer skips to one) until one does not decode, each payload
 * checked, every batch and op decoded.
 *
 * Invariants: a record that decodes spans bytes inside the input and
 * re-encodes (header, payload, crc) to exactly those bytes; in a checked
 * payload every op decodes the same measured or rebuilt, its rebuilt key
 * and value fit the bound the replay allocates by (consumed +
 * STORE_JOP_GROW), and encoding the decoded op again (from the same delta
 * context) decodes to the same op and moves the context the same way.
 *
 * Input: one selector byte, then the bytes. Selector bit 0 clear: a journal
 * file (records). Set: a record payload alone, so that mutations reach the
 * batch and op checks without first having to match a CRC. */
#include "store_journal_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(struct gw_bytes b)
{
    for (size_t i = 0; i < b.n; i++) {
        sink ^= b.p[i];
    }
}

static void same_op(const struct store_jop *a, const struct store_jop *b)
{
    if (a->type != b->type || a->owner != b->owner || a->seq != b->seq || a->msg_id != b->msg_id ||
        a->key.n != b->key.n || a->val.n != b->val.n ||
        (a->key.n && memcmp(a->key.p, b->key.p, a->key.n) != 0) ||
        (a->val.n && memcmp(a->val.p, b->val.p, a->val.n) != 0)) {
        abort();
    }
}

static void same_ctx(const struct store_jctx *a, const struct store_jctx *b)
{
    if (a->msg_id != b->msg_id || a->seq != b->seq || a->created_s != b->created_s) {
        abort();
    }
}

/* Decode the op at p[0..n) every way, re-encode it, decode that. */
static size_t check_op(const uint8_t *p, size_t n, struct store_jctx *ctx, uint8_t *out, size_t cap)
{
    struct store_jctx before = *ctx;
    struct store_jctx measured = *ctx;
    struct store_jop m;
    struct store_jop op;
    ssize_t used0 = store_jop_decode(p, n, &measured, &m, NULL, 0);
    ssize_t used = store_jop_decode(p, n, ctx, &op, out, cap);
    if (used0 <= 0 || used != used0 || m.key.n != op.key.n || m.val.n != op.val.n ||
        op.key.n + op.val.n > (size_t)used + STORE_JOP_GROW) {
        abort(); /* the payload check said every op decodes */
    }
    same_ctx(&measured, ctx);
    touch(op.key);
    touch(op.val);
    size_t cap2 = op.key.n + op.val.n + STORE_JOP_MAX_OVER;
    uint8_t *enc = malloc(cap2);
    uint8_t *out2 = malloc(cap2 + STORE_JOP_GROW);
    if (!enc || !out2) {
        abort();
    }
    struct store_jctx e = before;
    size_t n2 = store_jop_encode(enc, cap2, &e, &op);
    struct store_jctx d = before;
    struct store_jop again;
    if (n2 > cap2 ||
        store_jop_decode(enc, n2, &d, &again, out2, cap2 + STORE_JOP_GROW) != (ssize_t)n2) {
        abort();
    }
    same_op(&op, &again);
    same_ctx(&e, &d);
    free(enc);
    free(out2);
    return (size_t)used;
}

static void walk_payload(struct gw_bytes pl)
{
    uint64_t count;
    size_t pos = 0;
    struct store_jctx ctx = {0};
    if (store_jpayload_check(pl) != 0) {
        return;
    }
    if (store_jpayload_count(pl, &pos, &count) != 0) {
        abort();
    }
    uint8_t *out = malloc(pl.n + STORE_JOP_GROW);
    if (!out) {
        abort();
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t nops;
        if (store_jbatch_count(pl, &pos, &nops) != 0) {
            abort();
        }
        for (uint64_t k = 0; k < nops; k++) {
            pos += check_op(pl.p + pos, pl.n - pos, &ctx, out, pl.n + STORE_JOP_GROW);
        }
    }
    free(out);
    if (pos != pl.n) {
        abort();
    }
}

/* The record at off, as store_journal.c's replay looks for it. */
static ssize_t record_at(const uint8_t *data, size_t size, size_t *off, bool first, uint64_t prev,
                         uint64_t *seq, struct gw_bytes *pl, unsigned *ver)
{
    size_t at = *off;
    for (int tries = 0; tries < 2 && at < size; tries++) {
        ssize_t used = store_jrec_decode(data + at, size - at, seq, pl, ver);
        if (used > 0 && (first || *seq == prev + 1)) {
            *off = at;
            return used;
        }
        if (first || at % STORE_JREC_ALIGN == 0) {
            break;
        }
        at = at - at % STORE_JREC_ALIGN + STORE_JREC_ALIGN;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if (data[0] & 1u) {
        struct gw_bytes pl = {data + 1, size - 1};
        walk_payload(pl);
        return 0;
    }
    data++;
    size--;
    size_t off = 0;
    uint64_t prev = 0;
    for (bool first = true;; first = false) {
        uint64_t seq;
        struct gw_bytes pl;
        unsigned ver;
        ssize_t used = record_at(data, size, &off, first, prev, &seq, &pl, &ver);
        if (used <= 0) {
            break;
        }
        if ((size_t)used > size - off || pl.p != data + off + STORE_JREC_HDR ||
            pl.n + STORE_JREC_OVER != (size_t)used || (ver != 1 && ver != 2)) {
            abort();
        }
        uint8_t hdr[STORE_JREC_HDR];
        uint8_t crc[4];
        uint32_t c = store_jrec_put_hdr(hdr, seq, (uint32_t)pl.n);
        store_jrec_put_crc(crc, store_crc32(c, pl.p, pl.n));
        if (memcmp(hdr + 4, data + off + 4, sizeof hdr - 4) != 0 ||
            memcmp(crc, data + off + STORE_JREC_HDR + pl.n, sizeof crc) != 0) {
            abort();
        }
        if (ver == 2) {
            walk_payload(pl);
        }
        prev = seq;
        off += (size_t)used;
    }
    return 0;
}
