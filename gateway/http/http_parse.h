/* http_parse.h - a strict, pure HTTP/1.x request-head parser (RFC 9112).
 *
 * The operations listener (metrics, health, status) needs only GET and HEAD
 * without a body, so the parser reads a request line and header fields and
 * nothing else. It is stateless and zero-copy like picohttpparser: call it
 * again with the whole buffer when more bytes arrived; every string in the
 * result is a view into that buffer.
 *
 * Strict on purpose (every peer is hostile): CRLF only (no bare LF), no
 * obs-fold continuation lines, no whitespace before the colon, no control
 * bytes, a token method, an origin-form target, `HTTP/D.D`, one Host field
 * for HTTP/1.1, Content-Length digits only and all copies equal. What the
 * caller must still decide (method allowed, body refused, version
 * supported) is reported, not rejected here.
 *
 * Pure: no allocation, no I/O, no log, no globals. */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 32

struct http_header {
    struct gw_bytes name;  /* token, case as sent */
    struct gw_bytes value; /* without leading and trailing blanks */
};

struct http_request {
    struct gw_bytes method; /* token, case-sensitive (RFC 9110 9.1) */
    struct gw_bytes target; /* origin-form: path and optional ?query */
    struct gw_bytes path;   /* target up to '?' */
    struct gw_bytes query;  /* after '?', empty if none */
    uint8_t major;          /* HTTP-version digits */
    uint8_t minor;
    bool has_content_length;
    uint64_t content_length;
    bool has_transfer_encoding;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    uint8_t peer[16]; /* set by the server: IPv4 in the first 4 bytes, or IPv6 */
};

/* Parse one request head (request line and header fields up to the empty
 * line) from buf[0..len). Returns the bytes of the head (> 0) with *out
 * filled, GW_E_INCOMPLETE when the empty line has not arrived yet (every
 * byte so far is valid), GW_E_MALFORMED (answer 400), or GW_E_TOO_LARGE
 * when there are more than HTTP_MAX_HEADERS fields (answer 431). The caller
 * bounds len. Views in *out point into buf. *out is garbage on failure. */
ssize_t http_parse_request(const uint8_t *buf, size_t len, struct http_request *out);

/* The value of the first field named name (ASCII case-insensitive, RFC 9110
 * 5.1); false when there is none. */
bool http_header_get(const struct http_request *r, const char *name, struct gw_bytes *value);

/* Decode standard base64 (RFC 4648 section 4, padding required, no blanks)
 * from in into dst (cap bytes). Returns the decoded length, GW_E_MALFORMED
 * or GW_E_TOO_LARGE. */
ssize_t http_base64_decode(struct gw_bytes in, uint8_t *dst, size_t cap);

#endif
