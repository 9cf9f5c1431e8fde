/* sn_frame_slip.c - slip framing (sn_frame.h): RFC 1055 frames carrying
 * one MQTT-SN message and its CRC-16/CCITT-FALSE, high octet first.
 *
 * RFC 1055 receivers treat END as a delimiter and ignore empty frames, so
 * a sender that starts every frame with END flushes any line noise before
 * it into a frame of its own, which the CRC then rejects. An ESC followed
 * by anything but ESC_END / ESC_ESC, or a frame longer than max_msg + 2,
 * is a framing error: the rest of that frame is dropped up to its END. */
#include "sn_frame.h"

enum { ST_FRAME = 0, ST_DROP = 1 };

uint16_t sn_frame_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFFu; /* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF */
    for (size_t i = 0; i < n; i++) {
        unsigned c = crc ^ ((unsigned)p[i] << 8u);
        for (int b = 0; b < 8; b++) {
            c = (c & 0x8000u) ? (c << 1u) ^ 0x1021u : c << 1u;
        }
        crc = (uint16_t)c;
    }
    return crc;
}

size_t sn_frame_slip_max(size_t n)
{
    return 2 * (n + 2) + 2;
}

static size_t put_escaped(uint8_t *dst, size_t at, uint8_t c)
{
    if (c == SN_SLIP_END) {
        dst[at++] = SN_SLIP_ESC;
        dst[at++] = SN_SLIP_ESC_END;
    } else if (c == SN_SLIP_ESC) {
        dst[at++] = SN_SLIP_ESC;
        dst[at++] = SN_SLIP_ESC_ESC;
    } else {
        dst[at++] = c;
    }
    return at;
}

size_t sn_frame_slip_encode(uint8_t *dst, size_t cap, const uint8_t *msg, size_t n)
{
    if (cap < sn_frame_slip_max(n)) {
        return 0;
    }
    uint16_t crc = sn_frame_crc16(msg, n);
    size_t at = 0;
    dst[at++] = SN_SLIP_END;
    for (size_t i = 0; i < n; i++) {
        at = put_escaped(dst, at, msg[i]);
    }
    at = put_escaped(dst, at, (uint8_t)(crc >> 8));
    at = put_escaped(dst, at, (uint8_t)crc);
    dst[at++] = SN_SLIP_END;
    return at;
}

/* An END closed a frame of d->len octets: hand it out if it is sound. */
static bool frame_end(struct sn_frame_dec *d, struct sn_frame_out *out)
{
    size_t len = d->len;
    bool was_drop = d->state == ST_DROP;
    bool cut = d->esc; /* ESC END: the escape has nothing to escape */
    d->len = 0;
    d->esc = false;
    d->state = ST_FRAME;
    if (was_drop) {
        return false; /* counted when the drop began */
    }
    if (cut) {
        d->ctr.framing_errors++;
        return false;
    }
    if (len == 0) {
        return false; /* END END: empty frame, RFC 1055 */
    }
    if (len < 4) { /* the shortest MQTT-SN message is 2 octets, then the CRC */
        d->ctr.framing_errors++;
        return false;
    }
    uint16_t crc = (uint16_t)(d->buf[len - 2] << 8 | d->buf[len - 1]);
    if (sn_frame_crc16(d->buf, len - 2) != crc) {
        d->ctr.crc_errors++;
        return false;
    }
    out->kind = SN_FRAME_MSG;
    out->msg = (struct gw_bytes){d->buf, len - 2};
    d->ctr.frames++;
    return true;
}

static void drop_frame(struct sn_frame_dec *d)
{
    d->ctr.framing_errors++;
    d->state = ST_DROP;
    d->len = 0;
    d->esc = false;
}

size_t sn_frame_slip_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                            struct sn_frame_out *out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        d->ctr.octets++;
        if (c == SN_SLIP_END) {
            if (frame_end(d, out)) {
                return i + 1;
            }
            continue;
        }
        if (d->state == ST_DROP) {
            d->ctr.skipped++;
            continue;
        }
        if (d->esc) {
            d->esc = false;
            if (c != SN_SLIP_ESC_END && c != SN_SLIP_ESC_ESC) {
                drop_frame(d); /* RFC 1055 leaves this undefined: we refuse it */
                continue;
            }
            c = c == SN_SLIP_ESC_END ? SN_SLIP_END : SN_SLIP_ESC;
        } else if (c == SN_SLIP_ESC) {
            d->esc = true;
            continue;
        }
        if (d->len >= d->max_msg + 2) {
            drop_frame(d); /* too long for any message we accept */
            continue;
        }
        d->buf[d->len++] = c;
    }
    return n;
}
