/* auth_backoff.h - back-off after failed authentications, per source
 * address.
 *
 * A guesser gets a few tries for free (AUTH_BACKOFF_FREE); from then on
 * each failure doubles the time the address must wait, from 1 s up to a
 * maximum. While an address waits, its CONNECTs with credentials are
 * refused at once, without a password check: guessing gets slow and
 * costs Tern nothing. A success clears the address.
 *
 * The table is fixed (AUTH_BACKOFF_SLOTS addresses, no allocation): when
 * it is full, the address seen least recently makes room, so spoofed or
 * many addresses cannot grow it. Pure: the caller passes the time. */
#ifndef AUTH_BACKOFF_H
#define AUTH_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define AUTH_BACKOFF_FREE  3u   /* failures before the first wait */
#define AUTH_BACKOFF_SLOTS 256u

struct auth_backoff_slot {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, or IPv6 */
    uint32_t fails;
    uint64_t until_ms; /* refused before this */
    uint64_t seen_ms;  /* last activity, 0 = free slot */
};

struct auth_backoff {
    uint64_t max_ms; /* 0: back-off off */
    struct auth_backoff_slot slot[AUTH_BACKOFF_SLOTS];
};

void auth_backoff_init(struct auth_backoff *t, uint64_t max_ms);

/* True if addr must wait: *retry_ms is when it may try again. */
bool auth_backoff_blocked(const struct auth_backoff *t, const uint8_t addr[16], uint64_t now_ms,
                          uint64_t *retry_ms);

/* A failed authentication from addr. Returns the wait it now has (ms, 0
 * while it still has free tries). */
uint64_t auth_backoff_failed(struct auth_backoff *t, const uint8_t addr[16], uint64_t now_ms);

/* A successful one: addr starts afresh. */
void auth_backoff_succeeded(struct auth_backoff *t, const uint8_t addr[16]);

#endif
