/* ws_frame.c - the RFC 6455 framing of ws_frame.h. */
#include "ws_frame.h"

#include "gw_err.h"

#include <string.h>

static bool is_control(uint8_t op)
{
    return (op & 0x8u) != 0;
}

static bool opcode_known(uint8_t op)
{
    /* 0x3-0x7 and 0xb-0xf are reserved (RFC 6455 5.2). */
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

ssize_t ws_frame_decode_header(const uint8_t *buf, size_t n, bool from_client, uint64_t max_len,
                               struct ws_frame_hdr *out)
{
    if (n < 1) {
        return GW_E_INCOMPLETE;
    }
    uint8_t b0 = buf[0];
    /* RSV1-3 MUST be 0 unless an extension was negotiated; Tern
     * negotiates none (RFC 6455 5.2). */
    if (b0 & 0x70u) {
        return GW_E_MALFORMED;
    }
    out->fin = (b0 & 0x80u) != 0;
    out->opcode = (uint8_t)(b0 & 0x0fu);
    if (!opcode_known(out->opcode)) {
        return GW_E_MALFORMED;
    }
    /* Control frames MUST NOT be fragmented (RFC 6455 5.5). */
    if (is_control(out->opcode) && !out->fin) {
        return GW_E_MALFORMED;
    }
    if (n < 2) {
        return GW_E_INCOMPLETE;
    }
    uint8_t b1 = buf[1];
    out->masked = (b1 & 0x80u) != 0;
    /* A client MUST mask every frame, a server MUST NOT (RFC 6455 5.1). */
    if (out->masked != from_client) {
        return GW_E_MALFORMED;
    }
    uint8_t len7 = (uint8_t)(b1 & 0x7fu);
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    /* Control frames: payload of 125 bytes or less (RFC 6455 5.5). */
    if (is_control(out->opcode) && len7 > WS_CONTROL_MAX) {
        return GW_E_MALFORMED;
    }
    size_t hdr = 2 + ext + (out->masked ? 4 : 0);
    if (n < 2 + ext) {
        return GW_E_INCOMPLETE;
    }
    uint64_t len = len7;
    if (ext) {
        len = 0;
        for (size_t i = 0; i < ext; i++) {
            len = (len << 8) | buf[2 + i];
        }
        /* "the minimal number of bytes MUST be used to encode the
         * length", and the 64-bit form's top bit MUST be 0 (5.2). */
        if ((ext == 2 && len < 126) || (ext == 8 && (len <= 0xffffu || (len >> 63) != 0))) {
            return GW_E_MALFORMED;
        }
    }
    if (n < hdr) {
        return GW_E_INCOMPLETE;
    }
    out->len = len;
    out->hdr_len = hdr;
    if (out->masked) {
        memcpy(out->mask, buf + 2 + ext, 4);
    } else {
        memset(out->mask, 0, 4);
    }
    if (max_len && len > max_len) {
        return GW_E_TOO_LARGE;
    }
    return (ssize_t)hdr;
}

size_t ws_frame_encode_header(uint8_t *dst, bool fin, uint8_t opcode, uint64_t len,
                              const uint8_t *mask)
{
    size_t o = 0;
    dst[o++] = (uint8_t)((fin ? 0x80u : 0u) | (opcode & 0x0fu));
    uint8_t m = mask ? 0x80u : 0u;
    if (len < 126) {
        dst[o++] = (uint8_t)(m | len);
    } else if (len <= 0xffffu) {
        dst[o++] = (uint8_t)(m | 126u);
        dst[o++] = (uint8_t)(len >> 8);
        dst[o++] = (uint8_t)len;
    } else {
        dst[o++] = (uint8_t)(m | 127u);
        for (int i = 7; i >= 0; i--) {
            dst[o++] = (uint8_t)(len >> (8 * i));
        }
    }
    if (mask) {
        memcpy(dst + o, mask, 4);
        o += 4;
    }
    return o;
}

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    size_t k = (size_t)(offset & 3u);
    size_t i = 0;
    /* Eight bytes a step with the mask turned to this phase (memcpy:
     * no alignment assumed, as on ARM); then the tail byte by byte. */
    uint8_t m8[8];
    for (size_t j = 0; j < 8; j++) {
        m8[j] = mask[(k + j) & 3u];
    }
    uint64_t mw;
    memcpy(&mw, m8, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= mw;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) {
        p[i] ^= mask[(k + i) & 3u];
    }
}

int ws_msg_check(struct ws_msg_state *st, const struct ws_frame_hdr *h, uint64_t max_msg)
{
    if (is_control(h->opcode)) {
        return h->opcode; /* allowed between fragments (RFC 6455 5.4) */
    }
    if (h->opcode == WS_OP_CONT) {
        if (!st->open) {
            return GW_E_MALFORMED; /* a continuation with no message open */
        }
    } else {
        if (st->open) {
            return GW_E_MALFORMED; /* a new message inside a fragmented one */
        }
        st->opcode = h->opcode;
        st->len = 0;
    }
    if (h->len > UINT64_MAX - st->len || (max_msg && st->len + h->len > max_msg)) {
        return GW_E_TOO_LARGE;
    }
    st->len += h->len;
    st->open = !h->fin;
    return st->opcode;
}

bool ws_close_code_valid(uint16_t code)
{
    /* 1004, 1005, 1006 and 1015 are reserved or never sent; 1012-1014
     * are registered with IANA since RFC 6455. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int ws_close_decode(const uint8_t *p, size_t n, uint16_t *code, struct gw_bytes *reason)
{
    if (n == 0) {
        *code = WS_CLOSE_NO_STATUS;
        *reason = (struct gw_bytes){p, 0};
        return 0;
    }
    if (n == 1 || n > WS_CONTROL_MAX) {
        return GW_E_MALFORMED;
    }
    uint16_t c = (uint16_t)((p[0] << 8) | p[1]);
    if (!ws_close_code_valid(c)) {
        return GW_E_MALFORMED;
    }
    /* The reason's bytes are UTF-8 (RFC 6455 5.5.1); 1007 otherwise. */
    if (!ws_utf8_valid(p + 2, n - 2)) {
        return GW_E_PROTOCOL;
    }
    *code = c;
    *reason = (struct gw_bytes){p + 2, n - 2};
    return 0;
}

size_t ws_close_encode(uint8_t *dst, size_t cap, uint16_t code, const char *reason)
{
    size_t rn = reason ? strlen(reason) : 0;
    if (rn > WS_CONTROL_MAX - 2) {
        rn = WS_CONTROL_MAX - 2;
    }
    /* Cut at a character boundary: never before a continuation byte. */
    while (rn > 0 && ((uint8_t)reason[rn] & 0xc0u) == 0x80u) {
        rn--;
    }
    size_t need = 2 + 2 + rn;
    if (cap < need) {
        return 0;
    }
    size_t o = ws_frame_encode_header(dst, true, WS_OP_CLOSE, 2 + rn, NULL);
    dst[o++] = (uint8_t)(code >> 8);
    dst[o++] = (uint8_t)code;
    for (size_t i = 0; i < rn; i++) {
        dst[o++] = (uint8_t)reason[i]; /* bytes of the reason, no NUL on the wire */
    }
    return o;
}

/* The length of the UTF-8 sequence starting at p[0..n), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint8_t lo = 0x80;
    uint8_t hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong form */
        hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates U+D800-DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80; /* no overlong form */
        hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
    } else {
        return 0; /* continuation byte, overlong 0xc0/0xc1, or 0xf5.. */
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xc0u) != 0x80u) {
            return 0;
        }
    }
    return len;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            return false;
        }
        i += k;
    }
    return true;
}
