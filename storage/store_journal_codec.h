/* store_journal_codec.h - the commit journal's record framing (L0).
 *
 * The journal (store_journal.c) is a file of records, each one group of
 * batches that the writer committed in one LMDB transaction:
 *
 *   be32 magic "TJR2", be64 seq, be32 payload_len, payload, be32 crc
 *
 * crc is CRC-32 (IEEE 802.3, reflected 0xEDB88320) over seq, payload_len
 * and the payload, so a torn write or a flipped bit anywhere in a record
 * fails the check. seq numbers the records: consecutive within a journal,
 * never reused (the last one applied is kept in the LMDB meta database).
 * A record starts right after its predecessor or, when that saves the
 * rewrite of a page, at the next STORE_JREC_ALIGN boundary (the bytes
 * between are left as they were).
 *
 * The payload (format 2, issue 15: about 88 bytes per queued 64-byte
 * message where format 1 took 218) is a varint batch count, then per batch
 * a varint op count and the ops. An op starts with a tag byte: its type
 * (enum store_op_type) for the compact forms below, type | 0x80 for the
 * generic form. Integers are LEB128 varints; "delta" fields are zigzag
 * varints of the difference to the same field of the op before in the
 * record (0 at its start), so ids and sequence numbers that climb cost a
 * byte. No field is written twice: the LMDB key and value are rebuilt from
 * the fields with store_codec.h, byte for byte.
 *
 *   MSG_PUT       delta msg_id, u8 qos | retain << 2, varint expiry_s,
 *                 delta created_s, varint topic/payload/props lengths,
 *                 the three byte strings
 *   QUEUE_ADD     varint owner, delta seq, delta msg_id, u8 qos, u8 flags
 *   QUEUE_DEL     varint owner, delta seq
 *   INFLIGHT_PUT  varint owner, u8 dir, varint pid, u8 qos, u8 state,
 *                 delta msg_id, delta seq
 *   INFLIGHT_DEL  varint owner, u8 dir, varint pid
 *   generic       varint owner, seq, msg_id, key_len, key, val_len, val
 *
 * Format 1 ("TJR1": fixed 41-byte ops and a copied arena) is recognised by
 * its magic only, so that a store upgraded from it can tell whether its
 * journal still holds records (store_journal.c refuses it then).
 *
 * Pure functions: no allocation, no I/O, no logging. Decoders read bytes
 * from a file that may be damaged: every length is checked. */
#ifndef STORE_JOURNAL_CODEC_H
#define STORE_JOURNAL_CODEC_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_JREC_MAGIC      0x544A5232u  /* "TJR2" */
#define STORE_JREC_MAGIC_V1   0x544A5231u  /* "TJR1": format 1, read as "old" only */
#define STORE_JREC_HDR        16u          /* magic, seq, payload_len */
#define STORE_JREC_OVER       20u          /* header + crc */
#define STORE_JREC_MAX        (256u << 20) /* largest payload accepted */
#define STORE_JREC_ALIGN      4096u        /* a page of the page cache and of flash */
#define STORE_JOP_TYPE_MAX    14u          /* enum store_op_type's last value */
#define STORE_JOP_GENERIC     0x80u        /* tag bit: the generic form */
#define STORE_JOP_MAX_OVER    64u          /* an op's encoding <= key_len + val_len + this */
#define STORE_JOP_GROW        32u          /* rebuilt key + value <= encoded length + this */
#define STORE_JBATCH_MAX_OVER 10u          /* a batch's op count varint */

/* CRC-32 (IEEE) of p[0..n), continuing from crc (start with 0). */
uint32_t store_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Write a record's header (STORE_JREC_HDR bytes) and return the crc over
 * its seq and length, to be continued over the payload and written with
 * store_jrec_put_crc after it. */
uint32_t store_jrec_put_hdr(uint8_t out[STORE_JREC_HDR], uint64_t seq, uint32_t payload_len);
void store_jrec_put_crc(uint8_t out[4], uint32_t crc);

/* Decode one record at buf[0..len). Returns the bytes it spans (> 0) with
 * *seq, *payload (a view into buf) and *version (2, or 1 for a format-1
 * record, whose payload is not to be decoded), GW_E_INCOMPLETE when buf
 * ends inside it (a torn tail), or GW_E_MALFORMED (no magic, length over
 * STORE_JREC_MAX, bad crc). */
ssize_t store_jrec_decode(const uint8_t *buf, size_t len, uint64_t *seq, struct gw_bytes *payload,
                          unsigned *version);

/* Where a record of n bytes goes when the previous one ended at off: off,
 * or the next STORE_JREC_ALIGN boundary when starting there dirties fewer
 * pages (the page holding off was written and synced already: appending
 * into it writes it again). */
uint64_t store_jrec_place(uint64_t off, size_t n);

/* One op as the writer applies it (struct store_op of store_priv.h with
 * its key and value as byte views). */
struct store_jop {
    uint8_t type; /* enum store_op_type, 1..STORE_JOP_TYPE_MAX */
    uint64_t owner;
    uint64_t seq;
    uint64_t msg_id;
    struct gw_bytes key;
    struct gw_bytes val;
};

/* What the delta fields are relative to; zero it at a payload's start. */
struct store_jctx {
    uint64_t msg_id;
    uint64_t seq;
    uint64_t created_s;
};

/* Varints (LEB128): store_jvar_put writes at most 10 bytes and returns how
 * many; store_jvar_get returns the bytes read, 0 when p[0..n) ends first or
 * the value does not fit 64 bits. */
size_t store_jvar_put(uint8_t *out, uint64_t v);
size_t store_jvar_get(const uint8_t *p, size_t n, uint64_t *v);

/* Encode op at dst (cap >= key.n + val.n + STORE_JOP_MAX_OVER), in its
 * compact form when its key and value are exactly what the fields rebuild,
 * else in the generic one; ctx moves on. Returns the bytes written. */
size_t store_jop_encode(uint8_t *dst, size_t cap, struct store_jctx *ctx,
                        const struct store_jop *op);

/* Decode the op at p[0..n), moving ctx on. With out, its key and then its
 * value are rebuilt into out[0..cap) and op->key, op->val view them; out
 * NULL only measures (op->key.n and op->val.n set, the views NULL). A
 * rebuilt key and value never take more than the bytes consumed +
 * STORE_JOP_GROW. Returns the bytes consumed, or GW_E_MALFORMED (bad tag,
 * a length past n, a key over what LMDB takes, cap too small). */
ssize_t store_jop_decode(const uint8_t *p, size_t n, struct store_jctx *ctx, struct store_jop *op,
                         uint8_t *out, size_t cap);

/* Walk a payload: store_jpayload_count reads the batch count (*pos starts
 * at 0 and moves past it); store_jbatch_count reads one batch's op count
 * (checked against the bytes left: every op takes at least 3). Return 0 or
 * GW_E_MALFORMED. */
int store_jpayload_count(struct gw_bytes payload, size_t *pos, uint64_t *count);
int store_jbatch_count(struct gw_bytes payload, size_t *pos, uint64_t *nops);

/* A payload is valid when its count batches and their ops decode and end
 * exactly at its end. 0 or GW_E_MALFORMED. */
int store_jpayload_check(struct gw_bytes payload);

#endif
