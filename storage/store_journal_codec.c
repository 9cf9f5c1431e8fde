/* store_journal_codec.c - the commit journal's framing, see
 * store_journal_codec.h. */
#include "store_journal_codec.h"

#include "gw_err.h"

uint32_t store_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

uint32_t store_jrec_put_hdr(uint8_t out[STORE_JREC_HDR], uint64_t seq, uint32_t payload_len)
{
    gw_put_be32(out, STORE_JREC_MAGIC);
    gw_put_be64(out + 4, seq);
    gw_put_be32(out + 12, payload_len);
    return store_crc32(0, out + 4, 12);
}

void store_jrec_put_crc(uint8_t out[4], uint32_t crc)
{
    gw_put_be32(out, crc);
}

ssize_t store_jrec_decode(const uint8_t *buf, size_t len, uint64_t *seq, struct gw_bytes *payload)
{
    if (len < 4) {
        return GW_E_INCOMPLETE;
    }
    if (gw_be32(buf) != STORE_JREC_MAGIC) {
        return GW_E_MALFORMED;
    }
    if (len < STORE_JREC_HDR) {
        return GW_E_INCOMPLETE;
    }
    uint32_t plen = gw_be32(buf + 12);
    if (plen > STORE_JREC_MAX) {
        return GW_E_MALFORMED;
    }
    size_t total = (size_t)plen + STORE_JREC_OVER;
    if (len < total) {
        return GW_E_INCOMPLETE;
    }
    uint32_t crc = store_crc32(0, buf + 4, 12u + plen);
    if (crc != gw_be32(buf + STORE_JREC_HDR + plen)) {
        return GW_E_MALFORMED;
    }
    *seq = gw_be64(buf + 4);
    payload->p = buf + STORE_JREC_HDR;
    payload->n = plen;
    return (ssize_t)total;
}

void store_jop_encode(uint8_t out[STORE_JOP_LEN], const struct store_jop *op)
{
    out[0] = op->type;
    gw_put_be64(out + 1, op->owner);
    gw_put_be64(out + 9, op->seq);
    gw_put_be64(out + 17, op->msg_id);
    gw_put_be32(out + 25, op->key_off);
    gw_put_be32(out + 29, op->key_len);
    gw_put_be32(out + 33, op->val_off);
    gw_put_be32(out + 37, op->val_len);
}

void store_jop_decode(const uint8_t in[STORE_JOP_LEN], struct store_jop *op)
{
    op->type = in[0];
    op->owner = gw_be64(in + 1);
    op->seq = gw_be64(in + 9);
    op->msg_id = gw_be64(in + 17);
    op->key_off = gw_be32(in + 25);
    op->key_len = gw_be32(in + 29);
    op->val_off = gw_be32(in + 33);
    op->val_len = gw_be32(in + 37);
}

void store_jbatch_put_hdr(uint8_t out[STORE_JBATCH_HDR], uint32_t nops, uint32_t arena_len)
{
    gw_put_be32(out, nops);
    gw_put_be32(out + 4, arena_len);
}

int store_jpayload_count(struct gw_bytes payload, uint32_t *count)
{
    if (payload.n < 4) {
        return GW_E_MALFORMED;
    }
    *count = gw_be32(payload.p);
    return 0;
}

/* An op's ranges must lie inside the arena: a damaged record must never
 * make the writer read past the bytes it has. */
static int jop_valid(const struct store_jop *op, uint32_t arena_len)
{
    if (op->type == 0 || op->type > STORE_JOP_TYPE_MAX) {
        return 0;
    }
    if (op->key_off > arena_len || op->key_len > arena_len - op->key_off) {
        return 0;
    }
    return op->val_off <= arena_len && op->val_len <= arena_len - op->val_off;
}

int store_jbatch_next(struct gw_bytes payload, size_t *pos, struct store_jbatch *out)
{
    size_t p = *pos;
    if (p > payload.n || payload.n - p < STORE_JBATCH_HDR) {
        return GW_E_MALFORMED;
    }
    uint32_t nops = gw_be32(payload.p + p);
    uint32_t arena_len = gw_be32(payload.p + p + 4);
    p += STORE_JBATCH_HDR;
    size_t left = payload.n - p;
    if ((uint64_t)nops * STORE_JOP_LEN > left ||
        arena_len > left - (size_t)nops * STORE_JOP_LEN) {
        return GW_E_MALFORMED;
    }
    const uint8_t *ops = payload.p + p;
    for (uint32_t i = 0; i < nops; i++) {
        struct store_jop op;
        store_jop_decode(ops + (size_t)i * STORE_JOP_LEN, &op);
        if (!jop_valid(&op, arena_len)) {
            return GW_E_MALFORMED;
        }
    }
    p += (size_t)nops * STORE_JOP_LEN;
    out->nops = nops;
    out->ops = ops;
    out->arena_len = arena_len;
    out->arena = payload.p + p;
    *pos = p + arena_len;
    return 0;
}

int store_jpayload_check(struct gw_bytes payload)
{
    uint32_t count;
    size_t pos = 4;
    struct store_jbatch b;
    if (store_jpayload_count(payload, &count) < 0) {
        return GW_E_MALFORMED;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (store_jbatch_next(payload, &pos, &b) < 0) {
            return GW_E_MALFORMED;
        }
    }
    return pos == payload.n ? 0 : GW_E_MALFORMED;
}
