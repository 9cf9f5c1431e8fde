/* sn_frame_xbee.c - Digi XBee API frames (sn_frame.h), API mode 1
 * (unescaped) and 2 (escaped).
 *
 * Frame: 0x7E, length (2 octets, big-endian, of the frame data), frame
 * data, checksum = 0xFF - (sum of the frame data & 0xFF). In mode 2 every
 * octet after the start delimiter that is 0x7E, 0x7D, 0x11 or 0x13 is sent
 * as 0x7D, octet ^ 0x20; an unescaped 0x7E therefore always starts a frame
 * and cuts off any frame in progress. In mode 1 a frame's length and
 * checksum are all there is: a frame with a bad checksum is dropped and
 * the decoder waits for the next 0x7E.
 *
 * Received frame data (Digi XBee API reference):
 *   0x90 receive packet: type, 64-bit source, 16-bit source, options, RF data
 *   0x80 802.15.4 receive (64-bit): type, 64-bit source, RSSI, options, RF data
 *   0x8B transmit status: type, frame id, 16-bit dest, retries, delivery, discovery
 *   0x89 802.15.4 transmit status: type, frame id, status */
#include "sn_frame.h"

#include <string.h>

enum { ST_START = 0, ST_LEN_HI, ST_LEN_LO, ST_DATA, ST_SUM };

static bool needs_escape(uint8_t c)
{
    return c == 0x7E || c == 0x7D || c == 0x11 || c == 0x13;
}

size_t sn_frame_xbee_max(size_t n)
{
    return 1 + 2 * (2 + SN_XBEE_TX_HDR + n + 1);
}

static size_t put(uint8_t *dst, size_t at, bool escaped, uint8_t c)
{
    if (escaped && needs_escape(c)) {
        dst[at++] = SN_XBEE_ESC;
        dst[at++] = c ^ 0x20u;
    } else {
        dst[at++] = c;
    }
    return at;
}

size_t sn_frame_xbee_encode(uint8_t *dst, size_t cap, bool escaped, uint8_t frame_id,
                            const uint8_t dest[8], const uint8_t *msg, size_t n)
{
    if (n > 0xFFFFu - SN_XBEE_TX_HDR || cap < sn_frame_xbee_max(n)) {
        return 0;
    }
    uint8_t hdr[SN_XBEE_TX_HDR] = {SN_XBEE_TX_REQ, frame_id};
    memcpy(hdr + 2, dest, 8);
    hdr[10] = 0xFF; /* 16-bit destination unknown: 0xFFFE */
    hdr[11] = 0xFE;
    hdr[12] = 0x00; /* broadcast radius: the network's maximum */
    hdr[13] = 0x00; /* options */
    size_t len = SN_XBEE_TX_HDR + n;
    uint8_t sum = 0;
    size_t at = 0;
    dst[at++] = SN_XBEE_START;
    at = put(dst, at, escaped, (uint8_t)(len >> 8));
    at = put(dst, at, escaped, (uint8_t)len);
    for (size_t i = 0; i < SN_XBEE_TX_HDR; i++) {
        sum = (uint8_t)(sum + hdr[i]);
        at = put(dst, at, escaped, hdr[i]);
    }
    for (size_t i = 0; i < n; i++) {
        sum = (uint8_t)(sum + msg[i]);
        at = put(dst, at, escaped, msg[i]);
    }
    return put(dst, at, escaped, (uint8_t)(0xFFu - sum));
}

/* A frame with a good checksum: what is it? Returns true if out is set. */
static bool frame_done(struct sn_frame_dec *d, struct sn_frame_out *out)
{
    const uint8_t *f = d->buf;
    size_t len = d->len;
    size_t data_at = 0;
    switch (f[0]) {
    case SN_XBEE_RX:
        data_at = 12;
        break;
    case SN_XBEE_RX64:
        data_at = 11;
        break;
    case SN_XBEE_TX_STATUS:
    case SN_XBEE_TX_STATUS15: {
        size_t st_at = f[0] == SN_XBEE_TX_STATUS ? 5 : 2;
        if (len < st_at + 1) {
            d->ctr.framing_errors++;
            return false;
        }
        out->kind = SN_FRAME_TX_STATUS;
        out->frame_id = f[1];
        out->status = f[st_at];
        d->ctr.tx_failed += out->status != 0;
        return true;
    }
    default:
        d->ctr.ignored++;
        return false;
    }
    if (len < data_at + 2) { /* no room for even the shortest MQTT-SN message */
        d->ctr.framing_errors++;
        return false;
    }
    out->kind = SN_FRAME_MSG;
    memcpy(out->addr, f + 1, 8);
    out->msg = (struct gw_bytes){f + data_at, len - data_at};
    d->ctr.frames++;
    return true;
}

/* One octet after the start delimiter (unescaped). Returns true when a
 * result is in out. */
static bool step(struct sn_frame_dec *d, uint8_t c, struct sn_frame_out *out)
{
    switch (d->state) {
    case ST_LEN_HI:
        d->want = (uint16_t)(c << 8);
        d->state = ST_LEN_LO;
        return false;
    case ST_LEN_LO:
        d->want = (uint16_t)(d->want | c);
        if (d->want == 0 || d->want > d->max_msg) {
            d->ctr.framing_errors++;
            d->state = ST_START;
            return false;
        }
        d->len = 0;
        d->sum = 0;
        d->state = ST_DATA;
        return false;
    case ST_DATA:
        d->buf[d->len++] = c;
        d->sum = (uint8_t)(d->sum + c);
        d->state = d->len == d->want ? ST_SUM : ST_DATA;
        return false;
    default: /* ST_SUM */
        d->state = ST_START;
        if ((uint8_t)(d->sum + c) != 0xFFu) {
            d->ctr.crc_errors++;
            d->len = 0;
            return false;
        }
        bool got = frame_done(d, out);
        d->len = 0;
        return got;
    }
}

size_t sn_frame_xbee_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                            struct sn_frame_out *out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        d->ctr.octets++;
        if (d->state == ST_START || (d->escaped && c == SN_XBEE_START)) {
            if (c != SN_XBEE_START) {
                d->ctr.skipped++;
                continue;
            }
            if (d->state != ST_START) {
                d->ctr.framing_errors++; /* mode 2: a frame cut off by the next one */
            }
            d->state = ST_LEN_HI;
            d->esc = false;
            d->len = 0;
            continue;
        }
        if (d->escaped && c == SN_XBEE_ESC && !d->esc) {
            d->esc = true;
            continue;
        }
        if (d->esc) {
            c ^= 0x20u;
            d->esc = false;
        }
        if (step(d, c, out)) {
            return i + 1;
        }
    }
    return n;
}
