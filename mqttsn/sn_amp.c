/* sn_amp.c - anti-amplification accounting (sn_amp.h, RFC 9000 section 8.1). */
#include "sn_amp.h"

void sn_amp_on_rx(struct sn_amp *a, size_t n)
{
    a->rx += n;
}

uint64_t sn_amp_room(const struct sn_amp *a, uint32_t factor)
{
    if (a->validated || factor == 0) {
        return UINT64_MAX;
    }
    /* rx is bounded by the bytes a peer can send in the process' life:
     * no overflow in practice, but saturate rather than wrap. */
    uint64_t budget = a->rx > UINT64_MAX / factor ? UINT64_MAX : a->rx * factor;
    return budget > a->tx ? budget - a->tx : 0;
}

bool sn_amp_take(struct sn_amp *a, size_t n, uint32_t factor)
{
    if (sn_amp_room(a, factor) < n) {
        a->blocked++;
        return false;
    }
    a->tx += n;
    return true;
}

void sn_amp_validate(struct sn_amp *a)
{
    a->validated = true;
    a->limited = false;
}

bool sn_amp_strike(struct sn_amp *a)
{
    if (a->validated) {
        return false;
    }
    if (a->strikes <= SN_AMP_STRIKES_MAX) {
        a->strikes++;
    }
    return a->strikes > SN_AMP_STRIKES_MAX;
}
