/* store_journal_codec.h - the commit journal's record framing (L0).
 *
 * The journal (store_journal.c) is a file of records, each one group of
 * batches that the writer committed in one LMDB transaction:
 *
 *   be32 magic "TJR1", be64 seq, be32 payload_len, payload, be32 crc
 *
 * crc is CRC-32 (IEEE 802.3, reflected 0xEDB88320) over seq, payload_len
 * and the payload, so a torn write or a flipped bit anywhere in a record
 * fails the check. seq numbers the records: consecutive within a journal,
 * never reused (the last one applied is kept in the LMDB meta database).
 *
 * The payload is be32 batch count, then per batch be32 op count, be32
 * arena_len, the ops (STORE_JOP_LEN bytes each: u8 type, be64 owner, be64
 * seq, be64 msg_id, be32 key_off, be32 key_len, be32 val_off, be32
 * val_len) and arena_len bytes that the ops' key and value ranges point
 * into (the batch arena of store_priv.h, as the loop built it).
 *
 * Pure functions: no allocation, no I/O, no logging. Decoders read bytes
 * from a file that may be damaged: every length is checked. */
#ifndef STORE_JOURNAL_CODEC_H
#define STORE_JOURNAL_CODEC_H

#include "gw_bytes.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_JREC_MAGIC   0x544A5231u  /* "TJR1" */
#define STORE_JREC_HDR     16u          /* magic, seq, payload_len */
#define STORE_JREC_OVER    20u          /* header + crc */
#define STORE_JREC_MAX     (256u << 20) /* largest payload accepted */
#define STORE_JBATCH_HDR   8u
#define STORE_JOP_LEN      41u
#define STORE_JOP_TYPE_MAX 14u /* enum store_op_type's last value */

/* CRC-32 (IEEE) of p[0..n), continuing from crc (start with 0). */
uint32_t store_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Write a record's header (STORE_JREC_HDR bytes) and return the crc over
 * its seq and length, to be continued over the payload and written with
 * store_jrec_put_crc after it. */
uint32_t store_jrec_put_hdr(uint8_t out[STORE_JREC_HDR], uint64_t seq, uint32_t payload_len);
void store_jrec_put_crc(uint8_t out[4], uint32_t crc);

/* Decode one record at buf[0..len). Returns the bytes it spans (> 0) with
 * *seq and *payload (a view into buf), GW_E_INCOMPLETE when buf ends inside
 * it (a torn tail), or GW_E_MALFORMED (no magic, length over
 * STORE_JREC_MAX, bad crc). */
ssize_t store_jrec_decode(const uint8_t *buf, size_t len, uint64_t *seq, struct gw_bytes *payload);

/* One decoded op (key and value: offsets into the batch's arena). */
struct store_jop {
    uint8_t type;
    uint64_t owner;
    uint64_t seq;
    uint64_t msg_id;
    uint32_t key_off;
    uint32_t key_len;
    uint32_t val_off;
    uint32_t val_len;
};

/* A batch inside a payload, validated: nops ops at ops (STORE_JOP_LEN
 * each), arena_len bytes at arena. Views into the payload. */
struct store_jbatch {
    uint32_t nops;
    const uint8_t *ops;
    uint32_t arena_len;
    const uint8_t *arena;
};

void store_jop_encode(uint8_t out[STORE_JOP_LEN], const struct store_jop *op);
void store_jop_decode(const uint8_t in[STORE_JOP_LEN], struct store_jop *op);
void store_jbatch_put_hdr(uint8_t out[STORE_JBATCH_HDR], uint32_t nops, uint32_t arena_len);

/* Walk a payload: *count gets the batch count; then store_jbatch_next
 * decodes the batch at *pos (start at 4) and moves *pos past it. Every op
 * is checked (type 1..STORE_JOP_TYPE_MAX, key and value inside the arena).
 * Return 0 or GW_E_MALFORMED; a payload is valid only when count batches
 * decode and end exactly at its end (store_jpayload_check). */
int store_jpayload_count(struct gw_bytes payload, uint32_t *count);
int store_jbatch_next(struct gw_bytes payload, size_t *pos, struct store_jbatch *out);
int store_jpayload_check(struct gw_bytes payload);

#endif
