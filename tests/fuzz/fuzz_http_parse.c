/* fuzz_http_parse.c - the HTTP request-head parser (gateway/http).
 *
 * Any input: http_parse_request must return a count within the input,
 * GW_E_INCOMPLETE, GW_E_MALFORMED or GW_E_TOO_LARGE, with every view inside
 * the input. A head that parses is written back canonically (request line,
 * "name: value" fields) and must parse again to the same fields
 * (decode(encode(decode(x))) == decode(x)); every strict prefix of it must
 * be GW_E_INCOMPLETE (the parser never answers before the empty line).
 * The base64 decoder is run on the input too and checked against a
 * re-encoding. */
#include "gw_err.h"
#include "http_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t canon[1u << 16];

static bool inside(struct gw_bytes v, const uint8_t *buf, size_t n)
{
    return v.n == 0 || (v.p >= buf && v.p + v.n <= buf + n);
}

static size_t put(uint8_t *dst, size_t o, struct gw_bytes v)
{
    memcpy(dst + o, v.p, v.n);
    return o + v.n;
}

static size_t put_s(uint8_t *dst, size_t o, const char *s)
{
    return put(dst, o, gw_bytes_str(s));
}

static size_t encode(const struct http_request *r, uint8_t *dst)
{
    size_t o = put(dst, 0, r->method);
    o = put_s(dst, o, " ");
    o = put(dst, o, r->target);
    char ver[16] = " HTTP/x.y\r\n";
    ver[6] = (char)('0' + r->major);
    ver[8] = (char)('0' + r->minor);
    o = put_s(dst, o, ver);
    for (size_t i = 0; i < r->n_headers; i++) {
        o = put(dst, o, r->headers[i].name);
        o = put_s(dst, o, ": ");
        o = put(dst, o, r->headers[i].value);
        o = put_s(dst, o, "\r\n");
    }
    return put_s(dst, o, "\r\n");
}

static void same(const struct http_request *a, const struct http_request *b)
{
    if (!gw_bytes_eq(a->method, b->method) || !gw_bytes_eq(a->target, b->target) ||
        !gw_bytes_eq(a->path, b->path) || !gw_bytes_eq(a->query, b->query) ||
        a->major != b->major || a->minor != b->minor || a->n_headers != b->n_headers ||
        a->has_content_length != b->has_content_length || a->content_length != b->content_length ||
        a->has_transfer_encoding != b->has_transfer_encoding) {
        abort();
    }
    for (size_t i = 0; i < a->n_headers; i++) {
        if (!gw_bytes_eq(a->headers[i].name, b->headers[i].name) ||
            !gw_bytes_eq(a->headers[i].value, b->headers[i].value)) {
            abort();
        }
    }
}

static void check_base64(const uint8_t *data, size_t size)
{
    static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t dec[1024];
    uint8_t enc[2048];
    struct gw_bytes in = {data, size < 1024 ? size : 1024};
    ssize_t n = http_base64_decode(in, dec, sizeof(dec));
    if (n < 0) {
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < (size_t)n; i += 3) {
        uint32_t w = (uint32_t)dec[i] << 16;
        size_t left = (size_t)n - i;
        w |= left > 1 ? (uint32_t)dec[i + 1] << 8 : 0;
        w |= left > 2 ? dec[i + 2] : 0;
        enc[o++] = (uint8_t)alphabet[(w >> 18) & 63];
        enc[o++] = (uint8_t)alphabet[(w >> 12) & 63];
        enc[o++] = left > 1 ? (uint8_t)alphabet[(w >> 6) & 63] : '=';
        enc[o++] = left > 2 ? (uint8_t)alphabet[w & 63] : '=';
    }
    /* Non-canonical trailing bits decode too; compare decodings instead. */
    uint8_t dec2[1024];
    struct gw_bytes e = {enc, o};
    ssize_t n2 = http_base64_decode(e, dec2, sizeof(dec2));
    if (n2 != n || memcmp(dec, dec2, (size_t)n) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_base64(data, size);
    if (size > 8192) {
        return 0; /* the server's bound */
    }
    struct http_request r;
    ssize_t n = http_parse_request(data, size, &r);
    if (n != GW_E_INCOMPLETE && n != GW_E_MALFORMED && n != GW_E_TOO_LARGE &&
        (n <= 0 || (size_t)n > size)) {
        abort();
    }
    if (n <= 0) {
        return 0;
    }
    if (!inside(r.method, data, size) || !inside(r.target, data, size)) {
        abort();
    }
    for (size_t i = 0; i < r.n_headers; i++) {
        if (!inside(r.headers[i].name, data, size) || !inside(r.headers[i].value, data, size)) {
            abort();
        }
    }
    size_t cn = encode(&r, canon);
    struct http_request r2;
    if (http_parse_request(canon, cn, &r2) != (ssize_t)cn) {
        abort();
    }
    same(&r, &r2);
    for (size_t k = 0; k < cn; k++) {
        struct http_request r3;
        if (http_parse_request(canon, k, &r3) != GW_E_INCOMPLETE) {
            abort();
        }
    }
    return 0;
}
