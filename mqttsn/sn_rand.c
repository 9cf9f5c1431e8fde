/* sn_rand.c - random MQTT-SN ids from getrandom(2) (sn_rand.h). */
#include "sn_rand.h"

#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/random.h>
#include <time.h>

#define SN_RAND_POOL 64u

static uint8_t pool[SN_RAND_POOL];
static size_t pool_left;
static uint32_t fallback_ctr;
static bool fallback_logged;

/* Without randomness from the kernel (it never fails once its pool is
 * initialised): a mix of the clock and a counter, logged once. */
static uint16_t fallback16(ssize_t got)
{
    if (!fallback_logged) {
        fallback_logged = true;
        gw_log(GW_ERROR, "mqttsn",
               "getrandom failed (%d): MQTT-SN ids are less unpredictable (logged once)",
               got < 0 ? -errno : 0);
    }
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    uint32_t x = (uint32_t)ts.tv_nsec ^ (++fallback_ctr * 2654435761u);
    return (uint16_t)(x ^ (x >> 16));
}

static uint16_t next16(void)
{
    if (pool_left < 2) {
        ssize_t got = getrandom(pool, sizeof(pool), 0);
        if (got != (ssize_t)sizeof(pool)) {
            return fallback16(got);
        }
        pool_left = sizeof(pool);
    }
    pool_left -= 2;
    return (uint16_t)(pool[pool_left] << 8 | pool[pool_left + 1]);
}

uint16_t sn_rand_range(uint16_t lo, uint16_t hi)
{
    uint32_t span = (uint32_t)hi - lo + 1u;
    /* Rejection sampling: no modulo bias. */
    uint32_t limit = 65536u - 65536u % span;
    for (;;) {
        uint32_t v = next16();
        if (v < limit) {
            return (uint16_t)(lo + v % span);
        }
    }
}
