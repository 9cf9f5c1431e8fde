/* store_codec.h - encode and decode the store's keys and values (L0).
 *
 * Layouts are documented in store_schema.h. Pure functions: no allocation,
 * no I/O, no logging, no globals. Encoders trust their input and assert the
 * destination is large enough (size first with the _size functions).
 * Decoders take bytes read from disk, check every length and field, accept
 * only the exact record length, and return 0 or GW_E_MALFORMED; byte views
 * in the decoded struct point into the input buffer. Because every layout is
 * canonical, encode(decode(x)) == x for any x that decodes. */
#ifndef STORE_CODEC_H
#define STORE_CODEC_H

#include "gw_bytes.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_ID_LEN      8u  /* be64 key: msgs, refs, qcount, sessions */
#define STORE_QKEY_LEN    16u /* queues key: owner, seq */
#define STORE_QVAL_LEN    10u
#define STORE_IFKEY_LEN   11u /* inflight key: owner, dir, pid */
#define STORE_IFVAL_LEN   18u
#define STORE_SUBVAL_LEN  6u
#define STORE_REFVAL_LEN  4u
#define STORE_COUNT_LEN   8u /* qcount value, retained value */
#define STORE_VERSION_LEN 8u
#define STORE_IDS_LEN     16u
#define STORE_MSG_HDR     28u
#define STORE_SESS_HDR    21u

/* Largest variable parts a value can carry. */
#define STORE_TOPIC_MAX     0xFFFFu
#define STORE_CLIENT_ID_MAX 0xFFFFu
#define STORE_BLOB_MAX      0xFFFFFFFFu

/* ---- keys ---- */

void store_id_encode(uint8_t out[STORE_ID_LEN], uint64_t id);
int store_id_decode(const uint8_t *p, size_t n, uint64_t *id);

void store_qkey_encode(uint8_t out[STORE_QKEY_LEN], uint64_t owner, uint64_t seq);
int store_qkey_decode(const uint8_t *p, size_t n, uint64_t *owner, uint64_t *seq);

void store_ifkey_encode(uint8_t out[STORE_IFKEY_LEN], uint64_t owner, uint8_t dir, uint16_t pid);
int store_ifkey_decode(const uint8_t *p, size_t n, uint64_t *owner, uint8_t *dir, uint16_t *pid);

/* Subscription key: owner then the filter bytes (1..STORE_FILTER_MAX). */
size_t store_subkey_size(struct gw_bytes filter);
size_t store_subkey_encode(uint8_t *dst, size_t cap, uint64_t owner, struct gw_bytes filter);
int store_subkey_decode(const uint8_t *p, size_t n, uint64_t *owner, struct gw_bytes *filter);

/* ---- values ---- */

/* msgs value; the id is the key and is not encoded (decode takes it). */
size_t store_msg_size(const struct store_msg *m);
size_t store_msg_encode(uint8_t *dst, size_t cap, const struct store_msg *m);
int store_msg_decode(const uint8_t *p, size_t n, uint64_t id, struct store_msg *out);

/* queues value: msg_id, qos, flags (owner and seq come from the key). */
void store_qval_encode(uint8_t out[STORE_QVAL_LEN], const struct store_qentry *e);
int store_qval_decode(const uint8_t *p, size_t n, struct store_qentry *out);

/* inflight value: qos, state, msg_id, seq (owner, dir, pid from the key). */
void store_ifval_encode(uint8_t out[STORE_IFVAL_LEN], const struct store_inflight *f);
int store_ifval_decode(const uint8_t *p, size_t n, struct store_inflight *out);

/* sessions value; owner is the key. */
size_t store_session_size(const struct store_session *ss);
size_t store_session_encode(uint8_t *dst, size_t cap, const struct store_session *ss);
int store_session_decode(const uint8_t *p, size_t n, uint64_t owner, struct store_session *out);

/* subs value: qos, options, sub_id (owner and filter from the key). */
void store_subval_encode(uint8_t out[STORE_SUBVAL_LEN], const struct store_sub *sub);
int store_subval_decode(const uint8_t *p, size_t n, struct store_sub *out);

/* refs value: be32 count. */
void store_ref_encode(uint8_t out[STORE_REFVAL_LEN], uint32_t count);
int store_ref_decode(const uint8_t *p, size_t n, uint32_t *count);

/* qcount and retained values: one be64. */
void store_u64_encode(uint8_t out[STORE_COUNT_LEN], uint64_t v);
int store_u64_decode(const uint8_t *p, size_t n, uint64_t *v);

/* meta "version": magic then be32 version. Decode checks the magic and
 * returns any version (the caller compares it). */
void store_version_encode(uint8_t out[STORE_VERSION_LEN], uint32_t version);
int store_version_decode(const uint8_t *p, size_t n, uint32_t *version);

/* meta "ids": max_msg_id, max_owner. */
void store_ids_encode(uint8_t out[STORE_IDS_LEN], uint64_t max_msg_id, uint64_t max_owner);
int store_ids_decode(const uint8_t *p, size_t n, uint64_t *max_msg_id, uint64_t *max_owner);

#endif
