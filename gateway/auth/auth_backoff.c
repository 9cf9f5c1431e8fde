/* auth_backoff.c - back-off after failed authentications. See
 * auth_backoff.h. */
#include "auth_backoff.h"

#include <string.h>

void auth_backoff_init(struct auth_backoff *t, uint64_t max_ms)
{
    memset(t, 0, sizeof(*t));
    t->max_ms = max_ms;
}

static struct auth_backoff_slot *find(const struct auth_backoff *t, const uint8_t addr[16])
{
    for (unsigned i = 0; i < AUTH_BACKOFF_SLOTS; i++) {
        const struct auth_backoff_slot *s = &t->slot[i];
        if (s->seen_ms && memcmp(s->addr, addr, 16) == 0) {
            return (struct auth_backoff_slot *)s;
        }
    }
    return NULL;
}

bool auth_backoff_blocked(const struct auth_backoff *t, const uint8_t addr[16], uint64_t now_ms,
                          uint64_t *retry_ms)
{
    const struct auth_backoff_slot *s = t->max_ms ? find(t, addr) : NULL;
    if (!s || s->until_ms <= now_ms) {
        return false;
    }
    *retry_ms = s->until_ms;
    return true;
}

uint64_t auth_backoff_failed(struct auth_backoff *t, const uint8_t addr[16], uint64_t now_ms)
{
    if (!t->max_ms) {
        return 0;
    }
    struct auth_backoff_slot *s = find(t, addr);
    if (!s) {
        /* A free slot, or the one seen least recently. */
        s = &t->slot[0];
        for (unsigned i = 0; i < AUTH_BACKOFF_SLOTS && s->seen_ms; i++) {
            if (!t->slot[i].seen_ms || t->slot[i].seen_ms < s->seen_ms) {
                s = &t->slot[i];
            }
        }
        memset(s, 0, sizeof(*s));
        memcpy(s->addr, addr, 16);
    }
    s->seen_ms = now_ms ? now_ms : 1;
    if (++s->fails <= AUTH_BACKOFF_FREE) {
        return 0;
    }
    uint32_t doublings = s->fails - AUTH_BACKOFF_FREE - 1;
    uint64_t wait = doublings >= 32 ? t->max_ms : (uint64_t)1000u << doublings;
    if (wait > t->max_ms) {
        wait = t->max_ms;
    }
    s->until_ms = now_ms + wait;
    return wait;
}

void auth_backoff_succeeded(struct auth_backoff *t, const uint8_t addr[16])
{
    struct auth_backoff_slot *s = find(t, addr);
    if (s) {
        memset(s, 0, sizeof(*s));
    }
}
