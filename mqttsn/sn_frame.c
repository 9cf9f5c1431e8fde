/* sn_frame.c - the common part of the serial framings (sn_frame.h):
 * set-up, dispatch to the framing's decoder, idle handling. */
#include "sn_frame.h"

#include <string.h>

void sn_frame_dec_init(struct sn_frame_dec *d, enum sn_framing framing, bool escaped, uint8_t *buf,
                       size_t cap, size_t max_msg)
{
    memset(d, 0, sizeof(*d));
    d->framing = framing;
    d->escaped = escaped;
    d->buf = buf;
    d->cap = cap;
    /* slip keeps the CRC in buf: 2 octets more than the message */
    size_t room = framing == SN_FRAMING_SLIP ? (cap > 2 ? cap - 2 : 0) : cap;
    d->max_msg = max_msg < room ? max_msg : room;
}

size_t sn_frame_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                       struct sn_frame_out *out)
{
    memset(out, 0, sizeof(*out));
    switch (d->framing) {
    case SN_FRAMING_SLIP:
        return sn_frame_slip_decode(d, in, n, out);
    case SN_FRAMING_XBEE:
        return sn_frame_xbee_decode(d, in, n, out);
    default:
        return sn_frame_raw_decode(d, in, n, out);
    }
}

bool sn_frame_partial(const struct sn_frame_dec *d)
{
    if (d->framing == SN_FRAMING_RAW) {
        return d->len > d->off;
    }
    return d->state != 0 || d->len > 0 || d->esc;
}

void sn_frame_idle(struct sn_frame_dec *d)
{
    if (!sn_frame_partial(d)) {
        return;
    }
    if (d->framing == SN_FRAMING_RAW) {
        d->idle = true; /* sn_frame_raw_decode drops from the front */
        return;
    }
    d->ctr.framing_errors++; /* a frame cut off: its rest never came */
    d->state = 0;
    d->len = 0;
    d->esc = false;
}
