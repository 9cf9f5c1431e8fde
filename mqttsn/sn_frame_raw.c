/* sn_frame_raw.c - raw framing (sn_frame.h): MQTT-SN messages back to back,
 * delimited only by their own Length field (MQTT-SN 1.2 §5.2.1), each
 * possibly a Forwarder Encapsulation (§5.5).
 *
 * Octets are buffered; a message is handed out once all its octets are
 * in. A start that cannot begin a message (Length 0x00, a 3-octet Length
 * below 4, a Length over max_msg, an encapsulation header shorter than 3
 * or with an implausible inner Length) is not a message: its first octet
 * is dropped and parsing restarts at the next one (resynchronisation),
 * one framing error per episode, every dropped octet counted. A complete
 * message of a reserved or unexpected type is handed out whole: the
 * gateway drops it as it would a bad datagram. */
#include "sn_frame.h"

#include <string.h>

#define SN_ENCAP_TYPE 0xFEu

enum scan { SCAN_NEED, SCAN_BAD, SCAN_WHOLE };

/* Length field at p: the total length in *total. */
static enum scan length_at(const uint8_t *p, size_t avail, size_t *hdr, size_t *total)
{
    if (avail < 1) {
        return SCAN_NEED;
    }
    if (p[0] == 0x00) {
        return SCAN_BAD;
    }
    if (p[0] != 0x01) {
        *hdr = 1;
        *total = p[0];
        return SCAN_WHOLE;
    }
    if (avail < 3) {
        return SCAN_NEED;
    }
    *hdr = 3;
    *total = (size_t)p[1] << 8 | p[2];
    return *total < 4 ? SCAN_BAD : SCAN_WHOLE; /* Length field + MsgType at least */
}

/* Is there a message at p, and how long is it? */
static enum scan message_at(const uint8_t *p, size_t avail, size_t max, size_t *total)
{
    size_t hdr = 0;
    size_t len = 0;
    enum scan s = length_at(p, avail, &hdr, &len);
    if (s != SCAN_WHOLE) {
        return s;
    }
    if (len > max) {
        return SCAN_BAD;
    }
    if (hdr == 1 && len >= 3) {
        /* §5.5: Length (one octet, the header only), 0xFE, Ctrl, node id,
         * then the inner message with its own Length. */
        if (avail < 2) {
            return SCAN_NEED;
        }
        if (p[1] == SN_ENCAP_TYPE) {
            size_t ihdr = 0;
            size_t ilen = 0;
            s = length_at(p + len, avail > len ? avail - len : 0, &ihdr, &ilen);
            if (s != SCAN_WHOLE) {
                return s;
            }
            if (ilen < 2 || len + ilen > max) {
                return SCAN_BAD;
            }
            len += ilen;
        }
    }
    *total = len;
    return len <= avail ? SCAN_WHOLE : SCAN_NEED;
}

/* Take what fits of in[0..n) into the buffer, compacting first. */
static size_t take(struct sn_frame_dec *d, const uint8_t *in, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (d->off > 0) {
        memmove(d->buf, d->buf + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    size_t room = d->cap - d->len;
    size_t k = n < room ? n : room;
    memcpy(d->buf + d->len, in, k);
    d->len += k;
    d->ctr.octets += k;
    d->idle = false; /* octets are still coming: a partial message may complete */
    return k;
}

size_t sn_frame_raw_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                           struct sn_frame_out *out)
{
    size_t used = take(d, in, n);
    while (d->off < d->len) {
        size_t total = 0;
        enum scan s = message_at(d->buf + d->off, d->len - d->off, d->max_msg, &total);
        if (s == SCAN_WHOLE) {
            out->kind = SN_FRAME_MSG;
            out->msg = (struct gw_bytes){d->buf + d->off, total};
            d->off += total;
            d->ctr.frames++;
            d->resyncing = false;
            return used;
        }
        if (s == SCAN_NEED && !d->idle) {
            return used; /* wait for the rest */
        }
        /* Not a message start (or one that will never complete): drop one
         * octet and look again from the next. */
        if (!d->resyncing) {
            d->resyncing = true;
            d->ctr.framing_errors++;
        }
        d->ctr.skipped++;
        d->off++;
    }
    d->idle = false;
    d->off = 0;
    d->len = 0;
    return used;
}
