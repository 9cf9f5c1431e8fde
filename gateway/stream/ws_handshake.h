/* ws_handshake.h - the server side of the RFC 6455 opening handshake
 * for MQTT (MQTT 3.1.1 section 6, MQTT 5 section 6), pure.
 *
 * The request head is read by the strict HTTP parser of gateway/http
 * (http_parse.h, fuzzed); this file checks what RFC 6455 section 4.2.1
 * asks of an upgrade request and builds the answer: 101 with
 * Sec-WebSocket-Accept and the `mqtt` subprotocol, or a refusal with a
 * status that says why (400, 404 for a plain HTTP request, 405, 426 with
 * the version we speak, 431 for too many header fields).
 *
 * Pure but for SHA-1 and base64 from mbedTLS (computations, no state):
 * no allocation, no I/O, no log, no globals. */
#ifndef WS_HANDSHAKE_H
#define WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The GUID of RFC 6455 section 1.3. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws_upgrade {
    int status;              /* 101, or the HTTP status of the refusal */
    const char *why;         /* static words for the log and the answer's body */
    const char *subprotocol; /* "mqtt" or "mqttv3.1" (status 101) */
    char accept[32];         /* Sec-WebSocket-Accept, NUL-terminated (status 101) */
};

/* Check the request head in buf[0..n). Returns the bytes of the head
 * (> 0) with *out filled (status 101, or a refusal when the request is
 * well-formed HTTP but not an upgrade we take), GW_E_INCOMPLETE when the
 * head has not ended yet, or GW_E_MALFORMED / GW_E_TOO_LARGE with *out
 * filled as a 400 / 431 refusal. The caller bounds n (the
 * websockets_headers_size option). */
ssize_t ws_upgrade_parse(const uint8_t *buf, size_t n, struct ws_upgrade *out);

/* Sec-WebSocket-Accept for a key (RFC 6455 4.2.2 item 5.4):
 * base64(SHA-1(key + WS_GUID)), written NUL-terminated into dst (29
 * bytes or more). Returns 0, or -EINVAL when the key is longer than a
 * handshake's 24 characters or dst too small. */
int ws_accept_key(const char *key, size_t key_len, char *dst, size_t cap);

/* Write the answer to u (101 or the refusal, with Connection: close)
 * into dst (cap bytes; 512 is always enough). Returns its length, 0 if
 * it does not fit. */
size_t ws_upgrade_answer(const struct ws_upgrade *u, uint8_t *dst, size_t cap);

#endif
