/* fuzz_journal.c - the commit journal's record parser on arbitrary bytes,
 * walked as store_journal.c's replay walks a journal file that may be
 * damaged: records one after another until one does not decode, each
 * payload checked, every batch and op decoded.
 *
 * Invariants: a record that decodes spans bytes inside the input and
 * re-encodes (header, payload, crc) to exactly those bytes; every op of a
 * checked payload has its key and value inside its batch's arena (read
 * here, so ASan sees any range past the input).
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

static void touch(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sink ^= p[i];
    }
}

static void walk_payload(struct gw_bytes pl)
{
    uint32_t count;
    size_t pos = 4;
    if (store_jpayload_check(pl) != 0 || store_jpayload_count(pl, &count) != 0) {
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        struct store_jbatch b;
        if (store_jbatch_next(pl, &pos, &b) != 0) {
            abort(); /* the check said every batch decodes */
        }
        for (uint32_t k = 0; k < b.nops; k++) {
            struct store_jop op;
            store_jop_decode(b.ops + (size_t)k * STORE_JOP_LEN, &op);
            uint8_t again[STORE_JOP_LEN];
            store_jop_encode(again, &op);
            if (memcmp(again, b.ops + (size_t)k * STORE_JOP_LEN, STORE_JOP_LEN) != 0) {
                abort();
            }
            touch(b.arena + op.key_off, op.key_len);
            touch(b.arena + op.val_off, op.val_len);
        }
    }
    if (pos != pl.n) {
        abort();
    }
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
    while (off < size) {
        uint64_t seq;
        struct gw_bytes pl;
        ssize_t used = store_jrec_decode(data + off, size - off, &seq, &pl);
        if (used <= 0) {
            break;
        }
        if ((size_t)used > size - off || pl.p != data + off + STORE_JREC_HDR ||
            pl.n + STORE_JREC_OVER != (size_t)used) {
            abort();
        }
        uint8_t hdr[STORE_JREC_HDR];
        uint8_t crc[4];
        uint32_t c = store_jrec_put_hdr(hdr, seq, (uint32_t)pl.n);
        store_jrec_put_crc(crc, store_crc32(c, pl.p, pl.n));
        if (memcmp(hdr, data + off, sizeof hdr) != 0 ||
            memcmp(crc, data + off + STORE_JREC_HDR + pl.n, sizeof crc) != 0) {
            abort();
        }
        walk_payload(pl);
        off += (size_t)used;
    }
    return 0;
}
