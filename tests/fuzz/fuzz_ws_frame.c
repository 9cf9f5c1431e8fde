/* fuzz_ws_frame.c - the RFC 6455 framing (gateway/stream/ws_frame.c).
 *
 * The input is read as a stream of client frames, the way stream_ws.c
 * reads it: each header must decode within the input or be refused, the
 * message rules are applied, payloads are unmasked, and close payloads
 * decoded. A header that decodes is encoded again and must decode to the
 * same fields (decode(encode(decode(x))) == decode(x)), and every strict
 * prefix of it must be GW_E_INCOMPLETE or an early refusal. UTF-8 and the
 * close encoder are run on the input too. */
#include "gw_err.h"
#include "ws_frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t payload[1u << 16];

static void same(const struct ws_frame_hdr *a, const struct ws_frame_hdr *b)
{
    if (a->fin != b->fin || a->opcode != b->opcode || a->masked != b->masked || a->len != b->len ||
        a->hdr_len != b->hdr_len || memcmp(a->mask, b->mask, 4) != 0) {
        abort();
    }
}

static void roundtrip(const struct ws_frame_hdr *h, bool from_client)
{
    uint8_t b[WS_FRAME_HDR_MAX];
    size_t n = ws_frame_encode_header(b, h->fin, h->opcode, h->len, h->masked ? h->mask : NULL);
    struct ws_frame_hdr h2;
    if (ws_frame_decode_header(b, n, from_client, 0, &h2) != (ssize_t)n) {
        abort();
    }
    same(h, &h2);
    for (size_t k = 0; k < n; k++) {
        ssize_t r = ws_frame_decode_header(b, k, from_client, 0, &h2);
        if (r != GW_E_INCOMPLETE) {
            abort(); /* a valid header's prefix is never refused nor complete */
        }
    }
}

static void check_close(const uint8_t *p, size_t n)
{
    uint16_t code;
    struct gw_bytes why;
    if (ws_close_decode(p, n, &code, &why) != 0 || code == WS_CLOSE_NO_STATUS) {
        return;
    }
    if (!ws_close_code_valid(code) || !ws_utf8_valid(why.p, why.n)) {
        abort();
    }
    char reason[WS_CONTROL_MAX + 1];
    memcpy(reason, why.p, why.n);
    reason[why.n] = '\0';
    uint8_t f[WS_CONTROL_MAX + 8];
    size_t fn = ws_close_encode(f, sizeof(f), code, reason);
    if (fn < 4) {
        abort();
    }
    uint16_t code2;
    struct gw_bytes why2;
    /* A NUL inside the reason shortens it; what is left stays valid. */
    if (ws_close_decode(f + 2, fn - 2, &code2, &why2) != 0 || code2 != code) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)ws_utf8_valid(data, size);
    bool from_client = size > 0 && (data[0] & 1u);
    size_t off = size > 0 ? 1 : 0;
    struct ws_msg_state st = {0};
    for (int frames = 0; frames < 64 && off < size; frames++) {
        struct ws_frame_hdr h;
        ssize_t r = ws_frame_decode_header(data + off, size - off, from_client, 1u << 20, &h);
        if (r == GW_E_INCOMPLETE || r == GW_E_MALFORMED || r == GW_E_TOO_LARGE) {
            return 0;
        }
        if (r < 2 || (size_t)r > size - off || (size_t)r != h.hdr_len) {
            abort();
        }
        roundtrip(&h, from_client);
        off += (size_t)r;
        int kind = ws_msg_check(&st, &h, 1u << 22);
        if (kind < 0) {
            return 0;
        }
        size_t n = h.len < size - off ? (size_t)h.len : size - off;
        n = n < sizeof(payload) ? n : sizeof(payload);
        memcpy(payload, data + off, n);
        if (h.masked) {
            ws_unmask(payload, n, h.mask, 0);
        }
        if (h.opcode == WS_OP_CLOSE) {
            check_close(payload, n);
        }
        off += n;
    }
    return 0;
}
