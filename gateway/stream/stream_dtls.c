/* stream_dtls.c - DTLS 1.2 server sessions over datagrams the owner moves
 * (stream_dtls.h): the cookie exchange on one spare context, the BIO over
 * one fed datagram, the retransmission timer on the monotonic clock, the
 * per-session PSK callback and the verified identity. */
#include "stream_dtls.h"

#include "alloc.h"
#include "clock.h"
#include "gw_err.h"
#include "log.h"
#include "stream_tls_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/ssl_cookie.h>
#include <mbedtls/version.h>

/* RFC 6347 section 4.2.4: start at 1 s and double; give up after the
 * 16 s round (about 31 s in all), so a handshake that never finishes
 * holds its session for half a minute at most. */
#define DTLS_HS_TIMEOUT_MIN_MS 1000u
#define DTLS_HS_TIMEOUT_MAX_MS 16000u

struct stream_dtls {
    int refs;                     /* the owner's, and one per session handed out */
    struct stream_tls_conf *conf; /* one reference */
    mbedtls_ssl_cookie_ctx cookie;
    stream_dtls_send_cb *send;
    void *arg;
    struct stream_dtls_sess *spare; /* the context ClientHellos go through; NULL after ENOMEM */
    uint64_t cookies;
};

struct stream_dtls_sess {
    mbedtls_ssl_context ssl;
    struct stream_dtls *d;
    const uint8_t *in; /* the fed datagram, until mbedTLS reads it */
    size_t in_len;
    bool timer_on;
    uint64_t t_int_ms; /* mbedtls_ssl_set_timer_cb: intermediate and final deadlines */
    uint64_t t_fin_ms;
    bool established;
    bool failed;
    bool psk_used;
    bool counted;       /* handed out: holds a reference of d (its conf uses d's cookie key) */
    char *identity;     /* verified identity, owned */
    char psk_named[48]; /* the PSK identity the peer named, printable, for log lines */
    size_t addr_len;
    uint8_t addr[STREAM_DTLS_ADDR_MAX];
    char why[200];
};

static struct stream_dtls_sess *sess_of(mbedtls_ssl_context *ssl)
{
    return (struct stream_dtls_sess *)(void *)((char *)ssl -
                                               offsetof(struct stream_dtls_sess, ssl));
}

static void set_why(struct stream_dtls_sess *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Lines longer than why are cut (vsnprintf: no truncation warning for a
 * message that may be cut). The analyzer loses track of va_start here. */
static void set_why(struct stream_dtls_sess *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(s->why, sizeof(s->why), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(ap);
}

/* ---- BIO: one datagram in, records out through the owner ---- */

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    struct stream_dtls_sess *s = ctx;
    /* A datagram the socket does not take is lost like one the network
     * drops: DTLS retransmits its flights (RFC 6347 section 4.2.4), so
     * mbedTLS is told it went. */
    (void)s->d->send(s->d->arg, s->addr, s->addr_len, p, n);
    return (int)n; /* one record or flight, far below INT_MAX */
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
    struct stream_dtls_sess *s = ctx;
    if (!s->in) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    const uint8_t *in = s->in;
    size_t len = s->in_len;
    s->in = NULL;
    if (len > n) {
        return MBEDTLS_ERR_SSL_WANT_READ; /* larger than a record buffer: dropped */
    }
    memcpy(p, in, len);
    return (int)len;
}

/* ---- timer (mbedtls_ssl_set_timer_cb) ---- */

static void timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    struct stream_dtls_sess *s = ctx;
    s->timer_on = fin_ms != 0;
    uint64_t now = gw_clock_now_ms();
    s->t_int_ms = now + int_ms;
    s->t_fin_ms = now + fin_ms;
}

static int timer_get(void *ctx)
{
    const struct stream_dtls_sess *s = ctx;
    if (!s->timer_on) {
        return -1;
    }
    uint64_t now = gw_clock_now_ms();
    if (now >= s->t_fin_ms) {
        return 2;
    }
    return now >= s->t_int_ms ? 1 : 0;
}

/* ---- PSK and identity ---- */

/* The key of the identity the client names (RFC 4279 section 2); an
 * unknown identity fails the handshake with unknown_psk_identity. */
static int on_psk(void *arg, mbedtls_ssl_context *ssl, const unsigned char *id, size_t n)
{
    const struct stream_tls_conf *c = arg;
    struct stream_dtls_sess *s = sess_of(ssl);
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof(s->psk_named); i++) {
        char ch = '?';
        if (id[i] >= 0x20 && id[i] < 0x7f && id[i] != '"') {
            ch = (char)id[i];
        }
        s->psk_named[k++] = ch;
    }
    s->psk_named[k] = '\0';
    const struct tls_psk_entry *e = tls_conf_psk_find(c, id, n);
    if (!e) {
        return -1;
    }
    s->psk_used = true;
    gw_free(s->identity);
    s->identity = gw_strdup(e->identity);
    if (!s->identity) {
        return -1;
    }
    return mbedtls_ssl_set_hs_psk(ssl, e->key, e->key_len);
}

/* ---- errors ---- */

static bool is_want(int mrc)
{
    return mrc == MBEDTLS_ERR_SSL_WANT_READ || mrc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

static void why_verify(struct stream_dtls_sess *s, const char *step)
{
    char info[400];
    int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "",
                                         mbedtls_ssl_get_verify_result(&s->ssl));
    for (int i = 0; i < n; i++) {
        if (info[i] == '\n') {
            info[i] = i + 1 < n ? ';' : '\0';
        }
    }
    set_why(s, "%s: certificate verify failed: %s", step, n > 0 ? info : "unknown reason");
}

/* One line for a failed step into s->why; returns the error to hand on. */
static int describe(struct stream_dtls_sess *s, int mrc, const char *step)
{
    s->failed = true;
    s->timer_on = false;
    if (mrc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        set_why(s, "%s: close_notify from the peer", step);
        return GW_E_CLOSED;
    }
    if (mrc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        why_verify(s, step);
        return -EPROTO;
    }
    if (mrc == MBEDTLS_ERR_SSL_TIMEOUT) {
        set_why(s, "%s: timed out (no answer to %u retransmission rounds)", step, 5u);
        return -ETIMEDOUT;
    }
    if (mrc == MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY) {
        set_why(s, "%s: unknown PSK identity \"%s\"", step, s->psk_named);
        return -EPROTO;
    }
    if (s->psk_used && !s->established &&
        (mrc == MBEDTLS_ERR_SSL_INVALID_MAC || mrc == MBEDTLS_ERR_SSL_BAD_HS_FINISHED)) {
        /* The client's Finished did not decrypt or verify: its key is not
         * the one of the identity it named (RFC 4279 section 2). */
        set_why(s, "%s: wrong PSK for identity \"%s\" (the client's Finished did not verify)", step,
                s->psk_named);
        return -EPROTO;
    }
    char msg[120];
    mbedtls_strerror(mrc, msg, sizeof(msg));
#if MBEDTLS_VERSION_MAJOR < 3
    if (mrc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && s->ssl.in_msg) {
        /* The alert is still in the input buffer: [level, description]
         * (a public member in 2.28, private in 3.x). */
        set_why(s, "%s: %s (alert %u)", step, msg, s->ssl.in_msg[1]);
        return -EPROTO;
    }
#endif
    set_why(s, "%s: %s", step, msg);
    return -EPROTO;
}

/* ---- sessions ---- */

static struct stream_dtls_sess *sess_new(struct stream_dtls *d)
{
    struct stream_dtls_sess *s = gw_calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->d = d;
    mbedtls_ssl_init(&s->ssl);
    if (mbedtls_ssl_setup(&s->ssl, &d->conf->conf) != 0) {
        mbedtls_ssl_free(&s->ssl);
        gw_free(s);
        return NULL;
    }
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_timer_cb(&s->ssl, s, timer_set, timer_get);
    d->conf->refs++;
    return s;
}

/* Back to a blank context for the next ClientHello: nothing of the last
 * sender stays (mbedtls_ssl_session_reset keeps the buffers only). */
static void sess_clear(struct stream_dtls_sess *s)
{
    (void)mbedtls_ssl_session_reset(&s->ssl);
    s->in = NULL;
    s->timer_on = false;
    s->established = false;
    s->failed = false;
    s->psk_used = false;
    gw_free(s->identity);
    s->identity = NULL;
    s->psk_named[0] = '\0';
    s->why[0] = '\0';
    s->addr_len = 0;
}

static void dtls_unref(struct stream_dtls *d)
{
    if (--d->refs > 0) {
        return;
    }
    mbedtls_ssl_cookie_free(&d->cookie);
    stream_tls_conf_unref(d->conf);
    gw_free(d);
}

void stream_dtls_sess_destroy(struct stream_dtls_sess *s)
{
    if (!s) {
        return;
    }
    struct stream_dtls *d = s->d;
    bool counted = s->counted;
    mbedtls_ssl_free(&s->ssl);
    stream_tls_conf_unref(d->conf);
    gw_free(s->identity);
    gw_free(s);
    if (counted) {
        dtls_unref(d);
    }
}

int stream_dtls_create(struct stream_tls_conf *c, stream_dtls_send_cb *send, void *arg,
                       struct stream_dtls **out)
{
    if (!c->server || !c->datagram) {
        return -EINVAL;
    }
    struct stream_dtls *d = gw_calloc(1, sizeof(*d));
    if (!d) {
        return -ENOMEM;
    }
    d->refs = 1;
    d->conf = c;
    c->refs++;
    d->send = send;
    d->arg = arg;
    mbedtls_ssl_cookie_init(&d->cookie);
    /* The cookie is an HMAC of the client's address under a random key
     * (RFC 6347 section 4.2.1), valid for mbedTLS's default 60 s. */
    if (mbedtls_ssl_cookie_setup(&d->cookie, mbedtls_ctr_drbg_random, &c->drbg) != 0) {
        stream_dtls_destroy(d);
        return -ENOMEM;
    }
    mbedtls_ssl_conf_dtls_cookies(&c->conf, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check,
                                  &d->cookie);
    mbedtls_ssl_conf_handshake_timeout(&c->conf, DTLS_HS_TIMEOUT_MIN_MS, DTLS_HS_TIMEOUT_MAX_MS);
    if (c->n_psks > 0) {
        mbedtls_ssl_conf_psk_cb(&c->conf, on_psk, c);
    }
    d->spare = sess_new(d);
    if (!d->spare) {
        stream_dtls_destroy(d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

void stream_dtls_destroy(struct stream_dtls *d)
{
    if (!d) {
        return;
    }
    stream_dtls_sess_destroy(d->spare);
    d->spare = NULL;
    dtls_unref(d);
}

uint64_t stream_dtls_cookies_sent(const struct stream_dtls *d)
{
    return d->cookies;
}

/* A first look before mbedTLS's: a DTLS handshake record of epoch 0
 * carrying a ClientHello (RFC 6347 section 4.1: type 22, version 254.x,
 * epoch 0, then the handshake header whose type 1 is ClientHello). */
static bool looks_like_client_hello(const uint8_t *p, size_t n)
{
    return n >= 25 && p[0] == 22 && p[1] == 254 && p[3] == 0 && p[4] == 0 && p[13] == 1;
}

int stream_dtls_hello_cookie_len(const uint8_t *p, size_t n)
{
    if (!looks_like_client_hello(p, n)) {
        return -1;
    }
    size_t off = 13u + 12u + 2u + 32u; /* the session_id length */
    if (n <= off || p[off] > 32) {
        return -1;
    }
    off += 1u + p[off]; /* the cookie length */
    return n > off ? p[off] : -1;
}

enum stream_dtls_verdict stream_dtls_accept(struct stream_dtls *d, const uint8_t *addr,
                                            size_t addr_len, const uint8_t *p, size_t n,
                                            struct stream_dtls_sess **out, char *why, size_t whycap)
{
    if (whycap > 0) {
        why[0] = '\0';
    }
    if (addr_len == 0 || addr_len > STREAM_DTLS_ADDR_MAX || !looks_like_client_hello(p, n)) {
        return STREAM_DTLS_DROPPED;
    }
    if (!d->spare && !(d->spare = sess_new(d))) {
        (void)snprintf(why, whycap, "out of memory");
        return STREAM_DTLS_DROPPED;
    }
    struct stream_dtls_sess *s = d->spare;
    memcpy(s->addr, addr, addr_len);
    s->addr_len = addr_len;
    if (mbedtls_ssl_set_client_transport_id(&s->ssl, addr, addr_len) != 0) {
        (void)snprintf(why, whycap, "out of memory");
        sess_clear(s);
        return STREAM_DTLS_DROPPED;
    }
    stream_dtls_sess_feed(s, p, n);
    int mrc = mbedtls_ssl_handshake(&s->ssl);
    if (mrc == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
        /* mbedTLS sent the HelloVerifyRequest; forget the sender. */
        d->cookies++;
        sess_clear(s);
        return STREAM_DTLS_COOKIE_SENT;
    }
    if (mrc == 0 || is_want(mrc)) {
        /* The cookie verified and the server's flight went out: this
         * context is the peer's now. The next ClientHello gets a new one
         * (or, out of memory, is dropped until one can be made). */
        s->counted = true;
        d->refs++;
        d->spare = sess_new(d);
        *out = s;
        return STREAM_DTLS_SESSION;
    }
    (void)describe(s, mrc, "DTLS handshake failed");
    (void)snprintf(why, whycap, "%s", s->why);
    sess_clear(s);
    return STREAM_DTLS_DROPPED;
}

void stream_dtls_sess_feed(struct stream_dtls_sess *s, const uint8_t *p, size_t n)
{
    s->in = p;
    s->in_len = n;
}

/* The handshake just finished: the identity a certificate gives. */
static int finish_handshake(struct stream_dtls_sess *s)
{
    s->established = true;
    s->timer_on = false;
    const struct stream_tls_conf *c = s->d->conf;
    if (!s->psk_used) {
        s->identity = tls_conf_cert_identity(c, &s->ssl);
        if (!s->identity && c->identity != STREAM_TLS_ID_NONE &&
            mbedtls_ssl_get_peer_cert(&s->ssl)) {
            s->failed = true;
            set_why(s, "DTLS: client certificate has no usable %s",
                    c->identity == STREAM_TLS_ID_CN ? "CN" : "subject");
            return -EPROTO;
        }
    }
    gw_log(GW_DEBUG, "dtls", "DTLS established: %s %s identity=%s",
           mbedtls_ssl_get_version(&s->ssl), mbedtls_ssl_get_ciphersuite(&s->ssl),
           s->identity ? s->identity : "-");
    return 0;
}

static int handshake(struct stream_dtls_sess *s)
{
    int mrc = mbedtls_ssl_handshake(&s->ssl);
    if (is_want(mrc)) {
        return -EAGAIN;
    }
    if (mrc != 0) {
        return describe(s, mrc, "DTLS handshake failed");
    }
    return finish_handshake(s);
}

ssize_t stream_dtls_sess_read(struct stream_dtls_sess *s, uint8_t *out, size_t cap)
{
    if (s->failed) {
        return -EPROTO;
    }
    if (!s->established) {
        int rc = handshake(s);
        if (rc < 0) {
            return rc == -EAGAIN ? 0 : rc;
        }
    }
    int mrc = mbedtls_ssl_read(&s->ssl, out, cap);
    if (mrc > 0) {
        return mrc;
    }
    if (mrc == 0 || is_want(mrc) || mrc == MBEDTLS_ERR_SSL_TIMEOUT) {
        return 0; /* an empty record, or nothing more in this datagram */
    }
    if (mrc == MBEDTLS_ERR_SSL_CLIENT_RECONNECT) {
        /* RFC 6347 section 4.2.8: a new ClientHello with a valid cookie
         * from the same address and port: the client lost its state. This
         * session ends; the client's next ClientHello starts a new one. */
        s->failed = true;
        set_why(s, "DTLS: the client started a new handshake from the same address");
        return -ECONNRESET;
    }
    return describe(s, mrc, "DTLS read failed");
}

int stream_dtls_sess_write(struct stream_dtls_sess *s, const uint8_t *p, size_t n)
{
    if (!s->established || s->failed) {
        return -ENOTCONN;
    }
    int max = mbedtls_ssl_get_max_out_record_payload(&s->ssl);
    if (max < 0 || n > (size_t)max) {
        return -EMSGSIZE;
    }
    int mrc = mbedtls_ssl_write(&s->ssl, p, n);
    if (mrc >= 0) {
        return 0;
    }
    if (is_want(mrc)) {
        return -EAGAIN;
    }
    return describe(s, mrc, "DTLS write failed");
}

uint64_t stream_dtls_sess_deadline_ms(const struct stream_dtls_sess *s)
{
    /* After the handshake the server retransmits only when the client
     * repeats its last flight, which comes in as a datagram. */
    return s->timer_on && !s->established && !s->failed ? s->t_fin_ms : 0;
}

int stream_dtls_sess_on_timer(struct stream_dtls_sess *s)
{
    if (s->failed) {
        return -EPROTO;
    }
    if (s->established) {
        s->timer_on = false;
        return 0;
    }
    int rc = handshake(s);
    return rc == -EAGAIN ? 0 : rc;
}

bool stream_dtls_sess_established(const struct stream_dtls_sess *s)
{
    return s->established && !s->failed;
}

const char *stream_dtls_sess_identity(const struct stream_dtls_sess *s)
{
    return s->established ? s->identity : NULL;
}

const char *stream_dtls_sess_why(const struct stream_dtls_sess *s)
{
    return s->why;
}

void stream_dtls_sess_close_notify(struct stream_dtls_sess *s)
{
    if (s->established && !s->failed) {
        (void)mbedtls_ssl_close_notify(&s->ssl);
    }
}
