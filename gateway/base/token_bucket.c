/* token_bucket.c - rate limits. See token_bucket.h. */
#include "token_bucket.h"

#include <string.h>

static void refill(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
    int64_t cap = (int64_t)(burst ? burst : 1) * 1000;
    if (b->last_ms == 0) {
        b->milli = cap;
    } else if (now_ms > b->last_ms) {
        uint64_t add = (now_ms - b->last_ms) * rate; /* rate/s x ms = milli-tokens */
        int64_t room = cap - b->milli;
        b->milli = room > 0 && add >= (uint64_t)room ? cap : b->milli + (int64_t)add;
        if (b->milli > cap) {
            b->milli = cap;
        }
    }
    b->last_ms = now_ms ? now_ms : 1;
}

bool tb_take(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t n, uint64_t now_ms)
{
    refill(b, rate, burst, now_ms);
    int64_t want = (int64_t)n * 1000;
    if (b->milli < want) {
        return false;
    }
    b->milli -= want;
    return true;
}

uint64_t tb_take_debt(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t n,
                      uint64_t now_ms)
{
    refill(b, rate, burst, now_ms);
    b->milli -= (int64_t)n * 1000;
    if (b->milli >= 0 || rate == 0) {
        return 0;
    }
    return ((uint64_t)(-b->milli) + rate - 1) / rate;
}

struct tb_slot *tb_table_get(struct tb_table *t, const uint8_t addr[16], uint64_t now_ms)
{
    struct tb_slot *victim = &t->slot[0];
    for (unsigned i = 0; i < TB_TABLE_SLOTS; i++) {
        struct tb_slot *s = &t->slot[i];
        if (s->seen_ms && memcmp(s->addr, addr, 16) == 0) {
            s->seen_ms = now_ms ? now_ms : 1;
            return s;
        }
        if (victim->seen_ms && (!s->seen_ms || s->seen_ms < victim->seen_ms)) {
            victim = s;
        }
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->addr, addr, 16);
    victim->seen_ms = now_ms ? now_ms : 1;
    return victim;
}
