/* sn_frame.h - pure streaming decoders and encoders of the three serial
 * framings of MQTT-SN (L0, issue 13): raw, slip and xbee.
 *
 * A serial line is a stream of octets, not datagrams: a decoder takes
 * octets as they come (any split, one at a time or a whole read) and hands
 * out whole MQTT-SN messages, one at a time, exactly as sn_decode wants
 * them (one message per datagram, possibly a §5.5 Encapsulated Message).
 * Damaged input is dropped and counted, never handed out: slip and xbee
 * lose only the damaged frame; raw resynchronises on the next plausible
 * message start.
 *
 *   raw   MQTT-SN messages back to back with their own Length field (one
 *         octet 0x02..0xFF, or 0x01 and a 16-bit total, MQTT-SN 1.2 §5.2.1),
 *         each optionally a Forwarder Encapsulation (0xFE, §5.5) whose
 *         inner message follows its header. This is what mqtt-sn-tools'
 *         mqtt-sn-serial-bridge reads and writes.
 *   slip  RFC 1055: END 0xC0 starts and ends a frame, ESC 0xDB escapes
 *         (ESC ESC_END 0xDC = 0xC0, ESC ESC_ESC 0xDD = 0xDB); the frame is
 *         the message followed by CRC-16/CCITT-FALSE of the message (poly
 *         0x1021, init 0xFFFF, no reflection, no final XOR), high octet
 *         first.
 *   xbee  Digi API frames: 0x7E, 16-bit length, frame data, checksum (0xFF
 *         minus the low octet of the sum of the frame data); API mode 2
 *         escapes 0x7E 0x7D 0x11 0x13 as 0x7D, octet ^ 0x20 (everything but
 *         the start delimiter). Received: 0x90 (receive packet) and 0x80
 *         (802.15.4 receive, 64-bit source); 0x8B / 0x89 transmit status.
 *         Sent: 0x10 transmit request.
 *
 * Pure: no allocation, no I/O, no clock, no logging; the caller owns the
 * buffer. A message handed out is a view into that buffer, valid until the
 * next call on the decoder. Any thread, one decoder per thread. */
#ifndef SN_FRAME_H
#define SN_FRAME_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sn_framing { SN_FRAMING_RAW = 0, SN_FRAMING_SLIP, SN_FRAMING_XBEE };

#define SN_SLIP_END     0xC0u
#define SN_SLIP_ESC     0xDBu
#define SN_SLIP_ESC_END 0xDCu
#define SN_SLIP_ESC_ESC 0xDDu

#define SN_XBEE_START       0x7Eu
#define SN_XBEE_ESC         0x7Du
#define SN_XBEE_RX64        0x80u /* 802.15.4 receive packet, 64-bit source */
#define SN_XBEE_TX_STATUS15 0x89u /* 802.15.4 transmit status */
#define SN_XBEE_TX_STATUS   0x8Bu /* transmit status */
#define SN_XBEE_RX          0x90u /* receive packet */
#define SN_XBEE_TX_REQ      0x10u /* transmit request */
#define SN_XBEE_TX_HDR      14u   /* type, frame id, dest64, dest16, radius, options */

/* What a decoder counted. */
struct sn_frame_counters {
    uint64_t octets;         /* octets fed */
    uint64_t frames;         /* messages handed out */
    uint64_t framing_errors; /* broken frames (bad escape, bad length, too long, cut
                                off) and raw resynchronisation episodes */
    uint64_t crc_errors;     /* slip CRC or xbee checksum mismatches: frame dropped */
    uint64_t skipped;        /* octets dropped outside any frame (resynchronising) */
    uint64_t tx_failed;      /* xbee transmit status reporting a failure */
    uint64_t ignored;        /* xbee frames of other types (AT responses, modem status) */
};

enum sn_frame_kind {
    SN_FRAME_NONE = 0,  /* nothing complete yet */
    SN_FRAME_MSG,       /* msg holds one MQTT-SN message (addr: xbee source) */
    SN_FRAME_TX_STATUS, /* xbee transmit status: frame_id, status (0 = delivered) */
};

struct sn_frame_out {
    enum sn_frame_kind kind;
    struct gw_bytes msg; /* view into the decoder's buffer */
    uint8_t addr[8];     /* xbee: 64-bit source address, big-endian; else zeros */
    uint8_t frame_id;
    uint8_t status;
};

/* Decoder state. Initialise with sn_frame_dec_init; fields are private. */
struct sn_frame_dec {
    enum sn_framing framing;
    bool escaped; /* xbee API mode 2 */
    uint8_t *buf;
    size_t cap;
    size_t max_msg; /* largest message accepted (raw: total Length) */
    size_t off;     /* raw: first unparsed octet */
    size_t len;     /* octets in buf */
    int state;
    bool esc;
    bool idle;      /* raw: the line went quiet; a partial message will not complete */
    bool resyncing; /* raw: inside a resynchronisation episode (counted once) */
    uint16_t want;  /* xbee: frame data length */
    uint8_t sum;    /* xbee: running checksum */
    struct sn_frame_counters ctr;
};

/* Set up d over buf[0..cap) (borrowed; it must outlive d). max_msg bounds
 * a message (raw: its Length; slip: without the CRC; xbee: the frame data);
 * it is clamped to what buf can hold. escaped: xbee API mode 2. */
void sn_frame_dec_init(struct sn_frame_dec *d, enum sn_framing framing, bool escaped, uint8_t *buf,
                       size_t cap, size_t max_msg);

/* Feed in[0..n) (n may be 0). Returns the octets taken (<= n); stops after
 * the first complete result, written to *out (kind SN_FRAME_NONE when
 * nothing completed). Call again with the rest, and with n == 0 until it
 * returns kind SN_FRAME_NONE: raw can hold several messages in its buffer.
 * The previous result's view dies at this call. */
size_t sn_frame_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                       struct sn_frame_out *out);

/* True when a frame is partly received. */
bool sn_frame_partial(const struct sn_frame_dec *d);

/* The line has been quiet while a frame was partial: it will not
 * complete. slip / xbee drop it (a framing error); raw drops octets from
 * the front until a whole message or nothing is left (call
 * sn_frame_decode with n == 0 until SN_FRAME_NONE to collect what it
 * finds), so a false length start cannot hold later messages hostage. */
void sn_frame_idle(struct sn_frame_dec *d);

/* ---- encoders: return the octets written, 0 when cap is too small ---- */

/* CRC-16/CCITT-FALSE of p[0..n): check value of "123456789" is 0x29B1. */
uint16_t sn_frame_crc16(const uint8_t *p, size_t n);

/* Worst-case slip frame size of an n-octet message (every octet escaped). */
size_t sn_frame_slip_max(size_t n);

/* END, msg and CRC escaped, END. */
size_t sn_frame_slip_encode(uint8_t *dst, size_t cap, const uint8_t *msg, size_t n);

/* Worst-case xbee transmit request size for an n-octet message. */
size_t sn_frame_xbee_max(size_t n);

/* A 0x10 transmit request of msg to dest (8 octets, big-endian; broadcast
 * is 00 00 00 00 00 00 FF FF), 16-bit address 0xFFFE, radius 0, options 0,
 * with frame_id (0: no transmit status wanted). */
size_t sn_frame_xbee_encode(uint8_t *dst, size_t cap, bool escaped, uint8_t frame_id,
                            const uint8_t dest[8], const uint8_t *msg, size_t n);

/* ---- per framing (sn_frame_raw.c, sn_frame_slip.c, sn_frame_xbee.c) ---- */

size_t sn_frame_raw_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                           struct sn_frame_out *out);
size_t sn_frame_slip_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                            struct sn_frame_out *out);
size_t sn_frame_xbee_decode(struct sn_frame_dec *d, const uint8_t *in, size_t n,
                            struct sn_frame_out *out);

#endif
