/* http_parse.c - the request-head parser of http_parse.h (RFC 9112). */
#include "http_parse.h"

#include "gw_err.h"

#include <string.h>

#define METHOD_MAX 16 /* longer than any method we could answer */

/* tchar, RFC 9110 5.6.2. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB, RFC 9110 5.5 (obs-text 0x80-0xff included). */
static bool is_field_char(uint8_t c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* A byte allowed anywhere before the CRLF of a line: used to reject a
 * line early while it is still incomplete. */
static bool is_line_char(uint8_t c)
{
    return is_field_char(c);
}

/* Bytes of the line starting at p (excluding CRLF), or GW_E_INCOMPLETE /
 * GW_E_MALFORMED (bare CR or LF, control byte). */
static ssize_t line_len(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') {
            if (i + 1 == n) {
                return GW_E_INCOMPLETE;
            }
            return p[i + 1] == '\n' ? (ssize_t)i : GW_E_MALFORMED;
        }
        if (!is_line_char(p[i])) {
            return GW_E_MALFORMED; /* bare LF too: RFC 9112 2.2 lets us refuse it */
        }
    }
    return GW_E_INCOMPLETE;
}

static bool bytes_ieq(struct gw_bytes a, const char *s)
{
    size_t n = strlen(s);
    if (a.n != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a.p[i];
        uint8_t y = (uint8_t)s[i];
        x = (x >= 'A' && x <= 'Z') ? (uint8_t)(x + 32) : x;
        y = (y >= 'A' && y <= 'Z') ? (uint8_t)(y + 32) : y;
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3). */
static int parse_request_line(const uint8_t *p, size_t n, struct http_request *r)
{
    size_t i = 0;
    while (i < n && is_tchar(p[i])) {
        i++;
    }
    if (i == 0 || i > METHOD_MAX || i >= n || p[i] != ' ') {
        return GW_E_MALFORMED;
    }
    r->method = (struct gw_bytes){p, i};
    size_t t0 = ++i;
    /* origin-form (RFC 9112 3.2.1): absolute-path [ "?" query ]; visible
     * ASCII, no fragment. */
    if (i >= n || p[i] != '/') {
        return GW_E_MALFORMED;
    }
    size_t q = 0;
    while (i < n && p[i] > 0x20 && p[i] < 0x7f && p[i] != '#') {
        if (p[i] == '?' && q == 0) {
            q = i;
        }
        i++;
    }
    if (i >= n || p[i] != ' ') {
        return GW_E_MALFORMED;
    }
    r->target = (struct gw_bytes){p + t0, i - t0};
    size_t pend = q ? q : i;
    r->path = (struct gw_bytes){p + t0, pend - t0};
    r->query = q ? (struct gw_bytes){p + q + 1, i - q - 1} : (struct gw_bytes){p + i, 0};
    i++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3) */
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 5] < '0' || p[i + 5] > '9' ||
        p[i + 6] != '.' || p[i + 7] < '0' || p[i + 7] > '9') {
        return GW_E_MALFORMED;
    }
    r->major = (uint8_t)(p[i + 5] - '0');
    r->minor = (uint8_t)(p[i + 7] - '0');
    return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 8.6); a repeat must be equal. */
static int note_content_length(struct http_request *r, struct gw_bytes v)
{
    if (v.n == 0 || v.n > 18) {
        return GW_E_MALFORMED;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') {
            return GW_E_MALFORMED;
        }
        x = x * 10u + (uint64_t)(v.p[i] - '0');
    }
    if (r->has_content_length && r->content_length != x) {
        return GW_E_MALFORMED;
    }
    r->has_content_length = true;
    r->content_length = x;
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). */
static int parse_field(const uint8_t *p, size_t n, struct http_request *r)
{
    if (p[0] == ' ' || p[0] == '\t') {
        return GW_E_MALFORMED; /* obs-fold: RFC 9112 5.2 allows rejecting it */
    }
    size_t i = 0;
    while (i < n && is_tchar(p[i])) {
        i++;
    }
    if (i == 0 || i >= n || p[i] != ':') {
        return GW_E_MALFORMED; /* no blank before the colon: RFC 9112 5.1 */
    }
    struct gw_bytes name = {p, i};
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    size_t end = n;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t')) {
        end--;
    }
    struct gw_bytes value = {p + i, end - i};
    if (r->n_headers == HTTP_MAX_HEADERS) {
        return GW_E_TOO_LARGE;
    }
    r->headers[r->n_headers++] = (struct http_header){name, value};
    if (bytes_ieq(name, "content-length")) {
        return note_content_length(r, value);
    }
    if (bytes_ieq(name, "transfer-encoding")) {
        r->has_transfer_encoding = true;
    }
    return 0;
}

/* RFC 9112 3.2: HTTP/1.1 needs exactly one Host; none is allowed in 1.0,
 * more than one never. */
static int check_host(const struct http_request *r)
{
    size_t hosts = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (bytes_ieq(r->headers[i].name, "host")) {
            hosts++;
        }
    }
    if (hosts > 1 || (hosts == 0 && r->major == 1 && r->minor >= 1)) {
        return GW_E_MALFORMED;
    }
    return 0;
}

ssize_t http_parse_request(const uint8_t *buf, size_t len, struct http_request *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    bool first = true;
    for (;;) {
        ssize_t ll = line_len(buf + pos, len - pos);
        if (ll < 0) {
            return ll;
        }
        size_t n = (size_t)ll;
        const uint8_t *line = buf + pos;
        pos += n + 2;
        if (first) {
            int rc = parse_request_line(line, n, out);
            if (rc < 0) {
                return rc;
            }
            first = false;
            continue;
        }
        if (n == 0) {
            int rc = check_host(out);
            return rc < 0 ? rc : (ssize_t)pos;
        }
        int rc = parse_field(line, n, out);
        if (rc < 0) {
            return rc;
        }
    }
}

bool http_header_get(const struct http_request *r, const char *name, struct gw_bytes *value)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        if (bytes_ieq(r->headers[i].name, name)) {
            *value = r->headers[i].value;
            return true;
        }
    }
    return false;
}

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

ssize_t http_base64_decode(struct gw_bytes in, uint8_t *dst, size_t cap)
{
    if (in.n % 4 != 0) {
        return GW_E_MALFORMED;
    }
    size_t o = 0;
    for (size_t i = 0; i < in.n; i += 4) {
        bool last = i + 4 == in.n;
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            uint8_t c = in.p[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = pad ? -1 : b64_val(c); /* no data after padding */
            if (v[k] < 0) {
                return GW_E_MALFORMED;
            }
        }
        if (pad == 1 && in.p[i + 2] == '=') {
            return GW_E_MALFORMED; /* "x=y=" */
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        size_t emit = 3 - pad;
        if (cap - o < emit) {
            return GW_E_TOO_LARGE;
        }
        uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        memcpy(dst + o, bytes, emit);
        o += emit;
    }
    return (ssize_t)o;
}
