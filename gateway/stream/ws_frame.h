/* ws_frame.h - the RFC 6455 framing, pure: frame headers, the rules of
 * a message's fragments, masking, close payloads and UTF-8.
 *
 * Stateless but for the small struct ws_msg_state the caller keeps per
 * connection (which data message is open, how long it is so far): a
 * stream decodes a header with ws_frame_decode_header, checks it against
 * the message rules with ws_msg_check, then moves the payload itself
 * (unmasking it with ws_unmask), so the payload never needs a copy.
 *
 * Pure: no allocation, no I/O, no log, no globals. */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opcodes, RFC 6455 section 5.2 (the others are reserved). */
enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

/* Close status codes, RFC 6455 section 7.4.1. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003, /* a data type it cannot accept (text for MQTT) */
    WS_CLOSE_NO_STATUS = 1005,   /* never sent: a close frame without a code */
    WS_CLOSE_BAD_DATA = 1007,    /* e.g. a close reason that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_FRAME_HDR_MAX 14u  /* 2 + 8 length + 4 mask */
#define WS_CONTROL_MAX   125u /* payload of a control frame, RFC 6455 5.5 */

struct ws_frame_hdr {
    bool fin;
    uint8_t opcode; /* enum ws_opcode */
    bool masked;
    uint8_t mask[4];
    uint64_t len;   /* payload length */
    size_t hdr_len; /* bytes of the header, 2..14 */
};

/* Decode one frame header from buf[0..n). from_client: the frame comes
 * from a client, which MUST mask (RFC 6455 5.1); else it must not be
 * masked. max_len bounds the payload length (0 = no bound but the
 * protocol's 2^63 - 1). Returns the header bytes (> 0) with *out filled,
 * GW_E_INCOMPLETE, GW_E_MALFORMED (reserved bits or opcode, masking
 * wrong, a length not in its minimal form or with the top bit set, a
 * control frame fragmented or over 125 bytes) or GW_E_TOO_LARGE (over
 * max_len; *out is filled then too, so the caller can name the size).
 * *out is garbage on other failures. */
ssize_t ws_frame_decode_header(const uint8_t *buf, size_t n, bool from_client, uint64_t max_len,
                               struct ws_frame_hdr *out);

/* Encode a frame header into dst (WS_FRAME_HDR_MAX bytes of room), in the
 * minimal length form. mask NULL: unmasked (a server's frame). Returns
 * the header bytes. */
size_t ws_frame_encode_header(uint8_t *dst, bool fin, uint8_t opcode, uint64_t len,
                              const uint8_t *mask);

/* XOR p[0..n) with the mask, p[0] being payload byte number offset
 * (RFC 6455 5.3: octet i is XORed with mask[i mod 4]). In place. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Which data message is open across frames (RFC 6455 5.4). Zero it at
 * the start of a connection. */
struct ws_msg_state {
    bool open;      /* a data frame without FIN came; continuations follow */
    uint8_t opcode; /* the open message's opcode (text or binary) */
    uint64_t len;   /* payload bytes of the open message so far */
};

/* Check a decoded header against the message rules and note it: a
 * continuation only inside a message, a new text or binary frame only
 * outside one (control frames may come between fragments), the message
 * no longer than max_msg (0 = no bound). Returns the opcode of the data
 * the payload belongs to (WS_OP_TEXT or WS_OP_BINARY for data, the
 * frame's own opcode for a control frame), GW_E_MALFORMED or
 * GW_E_TOO_LARGE. */
int ws_msg_check(struct ws_msg_state *st, const struct ws_frame_hdr *h, uint64_t max_msg);

/* A close frame's payload, RFC 6455 5.5.1: empty (code 1005, no reason)
 * or a 2-byte code and a UTF-8 reason. Returns 0 with *code and *reason
 * (a view into p) set, GW_E_MALFORMED (one byte, or a code an endpoint
 * must not send, section 7.4) or GW_E_PROTOCOL (the reason is not UTF-8:
 * answer 1007). */
int ws_close_decode(const uint8_t *p, size_t n, uint16_t *code, struct gw_bytes *reason);

/* Write a close frame (header and payload, unmasked) for code and reason
 * (cut to fit 123 bytes at a character boundary) into dst (cap bytes, at
 * least 4 + 2 + 123 is always enough). Returns the frame's bytes. */
size_t ws_close_encode(uint8_t *dst, size_t cap, uint16_t code, const char *reason);

/* True if code may appear in a close frame on the wire (RFC 6455 7.4:
 * 1000-1003, 1007-1014, 3000-4999). */
bool ws_close_code_valid(uint16_t code);

/* True if p[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool ws_utf8_valid(const uint8_t *p, size_t n);

#endif
