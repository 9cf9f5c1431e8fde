/* stream_dtls.h - DTLS 1.2 server sessions (RFC 6347, mbedTLS) over
 * datagrams someone else receives and sends: the MQTT-SN gateway's UDP
 * socket (mqttsn/sn_dtls.c). The datagram twin of stream_tls.h, sharing
 * its conf (stream_tls_conf_create with .datagram = true): CA chain, CRL,
 * own certificate, PSK table, versions and suites are loaded there once.
 *
 * Address proof before state (RFC 6347 section 4.2.1): a datagram from a
 * peer without a session goes to stream_dtls_accept, which runs it through
 * one spare context kept by the server. A ClientHello without a valid
 * cookie gets a HelloVerifyRequest (a stateless HMAC of the peer's address,
 * mbedtls_ssl_cookie_*) and the spare is reset: nothing is kept for that
 * peer, and the reply is smaller than the ClientHello. Only a ClientHello
 * that echoes a valid cookie (so its sender receives at its address) turns
 * the spare into that peer's session; a new spare is made for the next.
 *
 * Sessions never read a socket or the loop: the owner feeds each datagram
 * (stream_dtls_sess_feed), reads what it decrypts (stream_dtls_sess_read,
 * which also drives the handshake), arms a timer at
 * stream_dtls_sess_deadline_ms for handshake retransmissions and calls
 * stream_dtls_sess_on_timer then (mbedtls_ssl_set_timer_cb, monotonic
 * clock). Records go out through the send callback given at create, named
 * by the peer's transport address. Loop thread only. */
#ifndef STREAM_DTLS_H
#define STREAM_DTLS_H

#include "stream_tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STREAM_DTLS_ADDR_MAX 32u /* transport address bytes (a sockaddr_in6 fits) */

struct stream_dtls;
struct stream_dtls_sess;

/* Send datagram p[0..n) to the peer of transport address addr[0..addr_len).
 * Returns 0 or a negative error (the record is lost; DTLS retransmits
 * handshake flights, MQTT-SN retries cover the rest). */
typedef int stream_dtls_send_cb(void *arg, const uint8_t *addr, size_t addr_len, const uint8_t *p,
                                size_t n);

/* A DTLS server on conf c (made with .server and .datagram; one reference
 * taken): a random cookie key and the spare context. send/arg carry every
 * record of every session. Returns 0 and *out, -EINVAL (c is not a DTLS
 * server conf) or -ENOMEM. */
int stream_dtls_create(struct stream_tls_conf *c, stream_dtls_send_cb *send, void *arg,
                       struct stream_dtls **out);

/* Release d: its spare goes now, the rest once the last session it handed
 * out is destroyed (their conf uses its cookie key), so a listener can
 * replace its server (new certificates or keys, SIGHUP) while its sessions
 * go on. NULL is a no-op. */
void stream_dtls_destroy(struct stream_dtls *d);

enum stream_dtls_verdict {
    STREAM_DTLS_DROPPED,     /* not a usable ClientHello: nothing sent, nothing kept */
    STREAM_DTLS_COOKIE_SENT, /* HelloVerifyRequest sent, nothing kept */
    STREAM_DTLS_SESSION,     /* cookie verified: *out is the peer's new session */
};

/* One datagram p[0..n) from transport address addr (1..STREAM_DTLS_ADDR_MAX
 * bytes), a peer without a session. On STREAM_DTLS_SESSION *out is the new
 * session (owned by the caller: stream_dtls_sess_destroy), its handshake
 * under way (the server's flight sent). On STREAM_DTLS_DROPPED why says
 * what was wrong when the datagram was a ClientHello that failed ("no
 * shared cipher suite"), else why[0] is '\0' (not a ClientHello; callers
 * count those without logging). */
enum stream_dtls_verdict stream_dtls_accept(struct stream_dtls *d, const uint8_t *addr,
                                            size_t addr_len, const uint8_t *p, size_t n,
                                            struct stream_dtls_sess **out, char *why,
                                            size_t whycap);

/* The length of the cookie the DTLS ClientHello in p[0..n) carries (RFC
 * 6347 section 4.2.1: after the 13-byte record header and the 12-byte
 * handshake header come client_version(2), random(32), session_id<0..32>
 * and cookie<0..255>), or -1 when p is too short to say or is not a
 * ClientHello record. Pure: reads p only. Without a cookie the answer is a
 * HelloVerifyRequest, an HMAC's work; only a ClientHello with one can start
 * a handshake's public-key work, which is what callers budget. */
int stream_dtls_hello_cookie_len(const uint8_t *p, size_t n);

/* HelloVerifyRequests sent so far (each one a ClientHello that held no
 * valid cookie). */
uint64_t stream_dtls_cookies_sent(const struct stream_dtls *d);

/* Hand one datagram p[0..n) (borrowed until the next read returns 0 or
 * an error) to s; then call stream_dtls_sess_read until it returns 0. */
void stream_dtls_sess_feed(struct stream_dtls_sess *s, const uint8_t *p, size_t n);

/* Drive the handshake, then decrypt one record into out (cap bytes).
 * Returns the record's length (> 0), 0 when nothing (more) is there (a
 * handshake step, a retransmission, a replayed or forged record dropped as
 * RFC 6347 section 4.1.2.7 says), GW_E_CLOSED on close_notify, or another
 * negative error with stream_dtls_sess_why set (handshake failure, wrong
 * PSK, unknown identity, certificate refused, timeout). */
ssize_t stream_dtls_sess_read(struct stream_dtls_sess *s, uint8_t *out, size_t cap);

/* Send p[0..n) as one record. Returns 0, -ENOTCONN (handshake not done),
 * -EMSGSIZE (over one record) or another negative error. */
int stream_dtls_sess_write(struct stream_dtls_sess *s, const uint8_t *p, size_t n);

/* Monotonic ms (gw_clock_now_ms) of the next handshake retransmission or
 * timeout, 0 when no timer runs. */
uint64_t stream_dtls_sess_deadline_ms(const struct stream_dtls_sess *s);

/* The deadline passed: retransmit the last flight, or fail with
 * "handshake timed out" once mbedtls_ssl_conf_handshake_timeout's maximum
 * is reached. Returns 0 or a negative error (why set). */
int stream_dtls_sess_on_timer(struct stream_dtls_sess *s);

/* True once the handshake finished and the peer was verified. */
bool stream_dtls_sess_established(const struct stream_dtls_sess *s);

/* The verified identity (PSK identity, or the certificate CN / subject as
 * the conf's identity setting says), NULL if none or not established.
 * Valid until the session is destroyed. */
const char *stream_dtls_sess_identity(const struct stream_dtls_sess *s);

/* Why the session failed (one line), "" if it did not. */
const char *stream_dtls_sess_why(const struct stream_dtls_sess *s);

/* Send close_notify (best effort) on an established session. */
void stream_dtls_sess_close_notify(struct stream_dtls_sess *s);

/* Free s. NULL is a no-op. */
void stream_dtls_sess_destroy(struct stream_dtls_sess *s);

#endif
