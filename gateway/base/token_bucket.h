/* token_bucket.h - rate limits: token buckets, one per client or per
 * source address.
 *
 * A bucket holds up to `burst` tokens and refills at `rate` tokens per
 * second; each event takes some. Kept in thousandths of a token so that
 * rates below one per millisecond refill smoothly. Pure: the caller
 * passes the time (loop_now_ms), so tests drive it with a fake clock. */
#ifndef TOKEN_BUCKET_H
#define TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct token_bucket {
    int64_t milli;     /* tokens x 1000; below 0 = in debt */
    uint64_t last_ms;  /* last refill; 0 = never used (starts full) */
};

/* Take n tokens if the bucket has them; false (nothing taken) if not. */
bool tb_take(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t n, uint64_t now_ms);

/* Take n tokens even if that leaves the bucket in debt (for what is
 * slowed, not dropped). Returns the milliseconds until the bucket is out
 * of debt (0: it is not in debt). */
uint64_t tb_take_debt(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t n,
                      uint64_t now_ms);

/* A fixed table of buckets keyed by a 16-byte address (IPv4 in the first
 * 4 bytes, or IPv6): no allocation, so many or spoofed addresses cannot
 * grow it; when full, the slot used least recently is taken over. */
#define TB_TABLE_SLOTS 256u

struct tb_slot {
    uint8_t addr[16];
    struct token_bucket b;
    uint64_t seen_ms; /* 0 = free */
    bool over;        /* refused since it last had room: logged once */
};

struct tb_table {
    struct tb_slot slot[TB_TABLE_SLOTS];
};

/* The slot of addr, made (full bucket) if new. Never NULL. */
struct tb_slot *tb_table_get(struct tb_table *t, const uint8_t addr[16], uint64_t now_ms);

#endif
