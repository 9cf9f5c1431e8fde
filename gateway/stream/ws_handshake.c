/* ws_handshake.c - the opening handshake of ws_handshake.h (RFC 6455
 * section 4.2). */
#include "ws_handshake.h"

#include "gw_err.h"
#include "http_parse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>

#define WS_KEY_LEN 24 /* base64 of 16 bytes (RFC 6455 4.1 item 7) */

static bool ieq(const uint8_t *p, size_t n, const char *s)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t a = p[i];
        uint8_t b = (uint8_t)s[i];
        a = (a >= 'A' && a <= 'Z') ? (uint8_t)(a + 32) : a;
        b = (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
        if (a != b) {
            return false;
        }
    }
    return true;
}

static bool name_is(const struct http_header *h, const char *name)
{
    return ieq(h->name.p, h->name.n, name);
}

/* True if a comma-separated list in any field called name holds token
 * (RFC 9110 5.6.1: OWS around the commas, empty elements allowed).
 * ci: compare ASCII case-insensitively. */
static bool list_has(const struct http_request *r, const char *name, const char *token, bool ci)
{
    size_t tn = strlen(token);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!name_is(&r->headers[i], name)) {
            continue;
        }
        const uint8_t *p = r->headers[i].value.p;
        size_t n = r->headers[i].value.n;
        size_t k = 0;
        while (k < n) {
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == ',')) {
                k++;
            }
            size_t s = k;
            while (k < n && p[k] != ',') {
                k++;
            }
            size_t e = k;
            while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t')) {
                e--;
            }
            bool hit =
                    ci ? ieq(p + s, e - s, token) : (e - s == tn && memcmp(p + s, token, tn) == 0);
            if (e > s && hit) {
                return true;
            }
        }
    }
    return false;
}

static size_t count_fields(const struct http_request *r, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        k += name_is(&r->headers[i], name) ? 1u : 0u;
    }
    return k;
}

int ws_accept_key(const char *key, size_t key_len, char *dst, size_t cap)
{
    uint8_t in[WS_KEY_LEN + sizeof(WS_GUID)];
    uint8_t digest[20];
    if (key_len > WS_KEY_LEN || cap < 29) {
        return -EINVAL;
    }
    memcpy(in, key, key_len);
    memcpy(in + key_len, WS_GUID, sizeof(WS_GUID) - 1);
#if MBEDTLS_VERSION_MAJOR >= 3
    int rc = mbedtls_sha1(in, key_len + sizeof(WS_GUID) - 1, digest);
#else
    int rc = mbedtls_sha1_ret(in, key_len + sizeof(WS_GUID) - 1, digest);
#endif
    size_t olen = 0;
    if (rc != 0 || mbedtls_base64_encode((unsigned char *)dst, cap, &olen, digest, 20) != 0) {
        return -EINVAL;
    }
    return 0;
}

static ssize_t refuse(struct ws_upgrade *out, ssize_t rc, int status, const char *why)
{
    out->status = status;
    out->why = why;
    return rc;
}

/* RFC 6455 4.2.1 items 3-6 and the MQTT subprotocol (MQTT 3.1.1 6.0,
 * MQTT 5 6.0: the client MUST include "mqtt"). */
static ssize_t check_upgrade(const struct http_request *r, ssize_t head, struct ws_upgrade *out)
{
    if (!list_has(r, "upgrade", "websocket", true)) {
        if (count_fields(r, "upgrade") == 0) {
            return refuse(out, head, 404, "a plain HTTP request (not a WebSocket upgrade)");
        }
        return refuse(out, head, 400, "Upgrade does not name websocket");
    }
    if (!list_has(r, "connection", "upgrade", true)) {
        return refuse(out, head, 400, "Connection does not name upgrade");
    }
    struct gw_bytes key;
    if (count_fields(r, "sec-websocket-key") != 1 ||
        !http_header_get(r, "sec-websocket-key", &key)) {
        return refuse(out, head, 400, "no single Sec-WebSocket-Key");
    }
    uint8_t nonce[16];
    if (key.n != WS_KEY_LEN || http_base64_decode(key, nonce, sizeof(nonce)) != 16) {
        return refuse(out, head, 400, "Sec-WebSocket-Key is not base64 of 16 bytes");
    }
    struct gw_bytes ver;
    if (count_fields(r, "sec-websocket-version") != 1 ||
        !http_header_get(r, "sec-websocket-version", &ver) || ver.n != 2 ||
        memcmp(ver.p, "13", 2) != 0) {
        /* 4.2.2 item 4 and 4.4: answer 426 with the version we speak. */
        return refuse(out, head, 426, "Sec-WebSocket-Version is not 13");
    }
    /* mosquitto also takes "mqttv3.1", the name early clients used. */
    if (list_has(r, "sec-websocket-protocol", "mqtt", false)) {
        out->subprotocol = "mqtt";
    } else if (list_has(r, "sec-websocket-protocol", "mqttv3.1", false)) {
        out->subprotocol = "mqttv3.1";
    } else {
        return refuse(out, head, 400, "no mqtt in Sec-WebSocket-Protocol");
    }
    if (ws_accept_key((const char *)key.p, key.n, out->accept, sizeof(out->accept)) < 0) {
        return refuse(out, head, 400, "Sec-WebSocket-Key is not base64 of 16 bytes");
    }
    return refuse(out, head, 101, "upgraded");
}

ssize_t ws_upgrade_parse(const uint8_t *buf, size_t n, struct ws_upgrade *out)
{
    struct http_request r;
    memset(out, 0, sizeof(*out));
    ssize_t head = http_parse_request(buf, n, &r);
    if (head == GW_E_INCOMPLETE) {
        return head;
    }
    if (head == GW_E_TOO_LARGE) {
        return refuse(out, head, 431, "too many header fields");
    }
    if (head < 0) {
        return refuse(out, GW_E_MALFORMED, 400, "malformed HTTP request");
    }
    /* 4.2.1 item 1: an HTTP/1.1 or higher GET; no body (RFC 9110 9.3.1
     * gives a GET body no meaning, and one would be read as frames). */
    if (r.method.n != 3 || memcmp(r.method.p, "GET", 3) != 0) {
        return refuse(out, head, 405, "not a GET");
    }
    if (r.major != 1 || r.minor < 1) {
        return refuse(out, head, 400, "not HTTP/1.1");
    }
    if ((r.has_content_length && r.content_length > 0) || r.has_transfer_encoding) {
        return refuse(out, head, 400, "a request body");
    }
    return check_upgrade(&r, head, out);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

size_t ws_upgrade_answer(const struct ws_upgrade *u, uint8_t *dst, size_t cap)
{
    int n;
    if (u->status == 101) {
        n = snprintf((char *)dst, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     u->accept, u->subprotocol);
    } else {
        const char *extra = u->status == 426   ? "Sec-WebSocket-Version: 13\r\n"
                            : u->status == 405 ? "Allow: GET\r\n"
                                               : "";
        const char *why = u->why ? u->why : "";
        n = snprintf((char *)dst, cap,
                     "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     u->status, reason_phrase(u->status), extra, strlen(why) + 1, why);
    }
    return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}
