/* stream_tls.c - one TLS session as a stream (stream_tls.h): custom BIO
 * callbacks over the non-blocking socket, the handshake driven from read
 * and flush (server) or stream_tls_handshake (client), records written
 * from the stream's own staging buffer, the verified peer identity.
 *
 * Host name verification (client): for a name, mbedtls_ssl_set_hostname
 * sends SNI and mbedTLS checks the dNSName subjectAltNames (or the CN when
 * there are none). mbedTLS 2.28 does not match iPAddress subjectAltNames,
 * so for a numeric host we set no hostname (no SNI either: RFC 6066
 * section 3 forbids literal addresses there) and check the iPAddress
 * entries ourselves in the verify callback. `insecure` clears the name
 * mismatch flag in the same callback: the chain is still verified. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "stream_tls_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>

#define STAGE_CAP 16384u /* one record's payload (MBEDTLS_SSL_OUT_CONTENT_LEN) */
#define AHEAD_CAP 4096u  /* read-ahead: many small records per recv */

struct tls_stream {
    struct stream base;
    mbedtls_ssl_context ssl;
    struct stream_tls_conf *conf; /* one reference */
    int io_errno;                 /* errno of the last failed send/recv, 0 if none */
    bool established;             /* handshake done: data and close_notify allowed */
    bool failed;                  /* a fatal error was returned: nothing more */
    unsigned hs_want;             /* handshake: the event it waits for */
    unsigned stage_want;          /* staged record: the event it waits for */
    uint8_t *stage;               /* STAGE_CAP bytes while a write is under way, else NULL */
    uint8_t *ahead;               /* AHEAD_CAP bytes read from the socket, not yet to mbedTLS;
                                     NULL once drained */
    size_t ahead_pos;
    size_t ahead_len;
    size_t stage_len;             /* a record mbedTLS could not finish sending, 0 = none */
    char *identity;               /* verified identity (PSK or certificate), or NULL */
    bool psk_used;
    size_t ip_len; /* client: 4 or 16 for a numeric host, else 0 */
    uint8_t ip[16];
};

static struct tls_stream *tls_of(struct stream *s)
{
    return (struct tls_stream *)(void *)s;
}

static const struct tls_stream *ctls_of(const struct stream *s)
{
    return (const struct tls_stream *)(const void *)s;
}

/* ---- BIO ---- */

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    struct tls_stream *t = ctx;
    for (;;) {
        ssize_t w = send(t->base.fd, p, n, MSG_NOSIGNAL);
        if (w >= 0) {
            return (int)w; /* n is one record at most, far below INT_MAX */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            return MBEDTLS_ERR_SSL_WANT_WRITE;
        }
        t->io_errno = errno;
        return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                     : MBEDTLS_ERR_NET_SEND_FAILED;
    }
}

/* An idle connection keeps neither buffer: drained or sent, each goes
 * back to the heap and is made again by the next burst (an allocation
 * beside a recv or a record's encryption costs nothing to speak of; 20
 * KiB on each of thousands of idle sensors' connections does). */
static void release_ahead(struct tls_stream *t)
{
    gw_free(t->ahead);
    t->ahead = NULL;
    t->ahead_pos = 0;
    t->ahead_len = 0;
}

static void release_stage(struct tls_stream *t)
{
    gw_free(t->stage);
    t->stage = NULL;
}

/* mbedTLS asks for a record header (5 bytes), then its body: two recv
 * calls per record. Reading ahead into a small buffer serves a burst of
 * small records with one. (stream_pending counts what it holds.) */
static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
    struct tls_stream *t = ctx;
    if (t->ahead_pos < t->ahead_len) {
        size_t k = t->ahead_len - t->ahead_pos < n ? t->ahead_len - t->ahead_pos : n;
        memcpy(p, t->ahead + t->ahead_pos, k);
        t->ahead_pos += k;
        if (t->ahead_pos == t->ahead_len) {
            release_ahead(t);
        }
        return (int)k;
    }
    if (n < AHEAD_CAP && !t->ahead) {
        t->ahead = gw_alloc(AHEAD_CAP); /* no memory: read directly */
    }
    bool fill = n < AHEAD_CAP && t->ahead;
    for (;;) {
        ssize_t r = recv(t->base.fd, fill ? t->ahead : p, fill ? AHEAD_CAP : n, 0);
        if (r > 0 && fill) {
            t->ahead_len = (size_t)r;
            t->ahead_pos = 0;
            return bio_recv(ctx, p, n);
        }
        if (r >= 0) {
            return (int)r; /* 0 = EOF, which mbedTLS reports as such */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            return MBEDTLS_ERR_SSL_WANT_READ;
        }
        t->io_errno = errno;
        return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

/* ---- verification and identity ---- */

static bool has_ip_san(const mbedtls_x509_crt *crt, const uint8_t *ip, size_t ip_len)
{
    /* 2.28 keeps every subjectAltName entry raw, tagged with its
     * GeneralName choice; iPAddress [7] holds 4 or 16 address bytes
     * (RFC 5280 section 4.2.1.6). */
    const int tag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS;
    for (const mbedtls_x509_sequence *cur = &crt->subject_alt_names; cur; cur = cur->next) {
        if (cur->buf.tag == tag && cur->buf.len == ip_len && memcmp(cur->buf.p, ip, ip_len) == 0) {
            return true;
        }
    }
    return false;
}

static int on_verify(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    const struct tls_stream *t = arg;
    if (depth != 0 || t->conf->server) {
        return 0;
    }
    if (t->conf->insecure) {
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    } else if (t->ip_len > 0 && !has_ip_san(crt, t->ip, t->ip_len)) {
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    return 0;
}

/* The server's PSK for the identity the client names (RFC 4279 section
 * 2); an unknown identity fails the handshake (unknown_psk_identity). */
static int on_psk(void *arg, mbedtls_ssl_context *ssl, const unsigned char *id, size_t n)
{
    const struct stream_tls_conf *c = arg;
    struct tls_stream *t =
            (struct tls_stream *)(void *)((char *)ssl - offsetof(struct tls_stream, ssl));
    const struct tls_psk_entry *e = tls_conf_psk_find(c, id, n);
    if (!e) {
        return -1;
    }
    t->psk_used = true;
    gw_free(t->identity);
    t->identity = gw_strdup(e->identity);
    if (!t->identity) {
        return -1;
    }
    return mbedtls_ssl_set_hs_psk(ssl, e->key, e->key_len);
}

void tls_conf_set_psk_cb(struct stream_tls_conf *c)
{
    mbedtls_ssl_conf_psk_cb(&c->conf, on_psk, c);
}

/* The identity a verified client certificate gives, as configured. A CN
 * with a NUL byte is no identity (it would name someone else once cut). */
char *tls_conf_cert_identity(const struct stream_tls_conf *c, const mbedtls_ssl_context *ssl)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(ssl);
    if (!peer || c->identity == STREAM_TLS_ID_NONE) {
        return NULL;
    }
    if (c->identity == STREAM_TLS_ID_SUBJECT) {
        char buf[512];
        int n = mbedtls_x509_dn_gets(buf, sizeof(buf), &peer->subject);
        return n > 0 ? gw_strdup(buf) : NULL;
    }
    for (const mbedtls_x509_name *nm = &peer->subject; nm; nm = nm->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0) {
            if (nm->val.len == 0 || memchr(nm->val.p, '\0', nm->val.len)) {
                return NULL;
            }
            char *id = gw_alloc(nm->val.len + 1);
            if (id) {
                memcpy(id, nm->val.p, nm->val.len);
                id[nm->val.len] = '\0';
            }
            return id;
        }
    }
    return NULL;
}

/* ---- errors ---- */

static bool is_want(int mrc, unsigned *want)
{
    if (mrc == MBEDTLS_ERR_SSL_WANT_READ) {
        *want = LOOP_READ;
        return true;
    }
    if (mrc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        *want = LOOP_WRITE;
        return true;
    }
    return false;
}

/* Names of the alerts a peer sends when it refuses us (RFC 8446 section 6,
 * RFC 4279 section 2, RFC 7301 section 3.2). */
static const char *alert_name(unsigned char desc)
{
    static const struct {
        unsigned char desc;
        const char *name;
    } names[] = {{10, "unexpected_message"},   {20, "bad_record_mac"},
                 {40, "handshake_failure"},    {42, "bad_certificate"},
                 {43, "unsupported_certificate"}, {44, "certificate_revoked"},
                 {45, "certificate_expired"},  {46, "certificate_unknown"},
                 {47, "illegal_parameter"},    {48, "unknown_ca"},
                 {49, "access_denied"},        {50, "decode_error"},
                 {51, "decrypt_error"},        {70, "protocol_version"},
                 {71, "insufficient_security"}, {80, "internal_error"},
                 {112, "unrecognized_name"},   {115, "unknown_psk_identity"},
                 {116, "certificate_required"}, {120, "no_application_protocol"}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].desc == desc) {
            return names[i].name;
        }
    }
    return "unknown";
}

/* A fatal alert record the peer left unread in the socket (RFC 5246
 * section 7.2: type 21, version, length 2, level 2, description), or -1.
 * Peeked only: the stream is failing anyway. */
static int peer_alert(const struct tls_stream *t)
{
    uint8_t rec[7];
    ssize_t n;
    if (t->ahead_len - t->ahead_pos >= sizeof(rec)) {
        memcpy(rec, t->ahead + t->ahead_pos, sizeof(rec)); /* read ahead already */
        n = (ssize_t)sizeof(rec);
    } else {
        n = recv(t->base.fd, rec, sizeof(rec), MSG_PEEK | MSG_DONTWAIT);
    }
    if (n == (ssize_t)sizeof(rec) && rec[0] == 21 && rec[1] == 3 && rec[3] == 0 && rec[4] == 2 &&
        rec[5] == 2) {
        return rec[6];
    }
    return -1;
}

static void set_why(struct tls_stream *t, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Lines longer than why are cut (vsnprintf: no truncation warning for a
 * message that is allowed to be cut). */
static void set_why(struct tls_stream *t, const char *fmt, ...)
{
    (void)t;
    va_list ap;
    va_start(ap, fmt);
    stream_vset_why(fmt, ap);
    va_end(ap);
}

/* One line for a failed step (stream_why); returns the error to hand back. */
static int describe(struct tls_stream *t, int mrc, const char *step)
{
    char msg[200];
    t->failed = true;
    if (mrc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        char info[512];
        int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "",
                                             mbedtls_ssl_get_verify_result(&t->ssl));
        /* One line per flag: join them. */
        for (int i = 0; i < n; i++) {
            if (info[i] == '\n') {
                info[i] = i + 1 < n ? ';' : '\0';
            }
        }
        set_why(t, "%s: certificate verify failed: %s", step,
                       n > 0 ? info : "unknown reason");
        return -EPROTO;
    }
    if (t->io_errno != 0) {
        int desc = peer_alert(t);
        if (desc >= 0) {
            /* The peer refused us and closed while our flight was still
             * going out: its alert says why. */
            set_why(t, "%s: peer sent alert %d: %s", step, desc, alert_name((unsigned char)desc));
            return -EPROTO;
        }
        set_why(t, "%s: %s", step, gw_strerror(-t->io_errno));
        return -t->io_errno;
    }
    if (mrc == MBEDTLS_ERR_SSL_CONN_EOF || mrc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        set_why(t, "%s: connection closed by peer", step);
        return GW_E_CLOSED;
    }
    mbedtls_strerror(mrc, msg, sizeof(msg));
#if MBEDTLS_VERSION_MAJOR < 3
    if (mrc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && t->ssl.in_msg) {
        /* The alert record is still in the input buffer: [level, desc].
         * (A public member in 2.28; mbedTLS 3 makes it private.) */
        unsigned char desc = t->ssl.in_msg[1];
        set_why(t, "%s: %s (alert %u: %s)", step, msg, desc, alert_name(desc));
        return -EPROTO;
    }
#else
    (void)alert_name;
#endif
    if (t->psk_used && !t->established &&
        (mrc == MBEDTLS_ERR_SSL_INVALID_MAC || mrc == MBEDTLS_ERR_SSL_BAD_HS_FINISHED)) {
        set_why(t, "%s: %s (wrong PSK for identity \"%.40s\"?)", step, msg,
                       t->identity ? t->identity : "");
        return -EPROTO;
    }
    set_why(t, "%s: %s", step, msg);
    return -EPROTO;
}

/* ---- the handshake ---- */

static bool hs_over(const struct tls_stream *t)
{
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_ssl_is_handshake_over(&t->ssl);
#else
    return t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER;
#endif
}

/* Run handshake steps until done or waiting for I/O. 0 when done, else
 * mbedTLS's code (WANT_* included). A server step can cost milliseconds
 * of public-key work: listeners run server handshakes on the handshake
 * worker (tls_hs_worker.h), never on the loop. */
static int handshake_steps(struct tls_stream *t)
{
    while (!hs_over(t)) {
        int mrc = mbedtls_ssl_handshake_step(&t->ssl);
        if (mrc != 0) {
            return mrc;
        }
    }
    return 0;
}

static void log_established(const struct tls_stream *t)
{
    const char *alpn = mbedtls_ssl_get_alpn_protocol(&t->ssl);
    gw_log(GW_DEBUG, "tls", "fd=%d TLS established: %s %s alpn=%s identity=%s", t->base.fd,
           mbedtls_ssl_get_version(&t->ssl), mbedtls_ssl_get_ciphersuite(&t->ssl),
           alpn ? alpn : "-", t->identity ? t->identity : "-");
}

static int handshake(struct tls_stream *t)
{
    if (t->established) {
        return 0;
    }
    if (t->failed) {
        return -EPROTO;
    }
    t->io_errno = 0;
    int mrc = handshake_steps(t);
    if (is_want(mrc, &t->hs_want)) {
        return -EAGAIN;
    }
    if (mrc != 0) {
        return describe(t, mrc, "TLS handshake failed");
    }
    t->established = true;
    t->hs_want = 0;
    if (t->conf->server && !t->psk_used) {
        t->identity = tls_conf_cert_identity(t->conf, &t->ssl);
        if (!t->identity && t->conf->identity != STREAM_TLS_ID_NONE &&
            mbedtls_ssl_get_peer_cert(&t->ssl)) {
            t->failed = true;
            set_why(t, "TLS: client certificate has no usable %s",
                           t->conf->identity == STREAM_TLS_ID_CN ? "CN" : "subject");
            return -EPROTO;
        }
    }
    if (!t->conf->server) {
        /* A server handshake may run on the worker, which never logs: its
         * owner calls stream_tls_log_established back on the loop. */
        log_established(t);
    }
    return 0;
}

int stream_tls_handshake(struct stream *s)
{
    return handshake(tls_of(s));
}

void stream_tls_log_established(const struct stream *s)
{
    const struct tls_stream *t = ctls_of(s);
    if (t->established) {
        log_established(t);
    }
}

/* ---- the ops ---- */

/* Finish the staged record. 0 when none is left, -EAGAIN, or an error. */
static int finish_stage(struct tls_stream *t)
{
    if (t->stage_len == 0) {
        return 0;
    }
    t->io_errno = 0;
    int mrc = mbedtls_ssl_write(&t->ssl, t->stage, t->stage_len);
    if (mrc > 0) {
        /* mbedTLS reports the record's length once it is out. */
        t->stage_len = 0;
        t->stage_want = 0;
        release_stage(t);
        return 0;
    }
    if (is_want(mrc, &t->stage_want)) {
        return -EAGAIN;
    }
    return describe(t, mrc, "TLS write failed");
}

static ssize_t tls_read(struct stream *s, uint8_t *p, size_t cap)
{
    struct tls_stream *t = tls_of(s);
    int rc = handshake(t);
    if (rc == -EAGAIN) {
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    if (t->stage_len > 0 && t->stage_want == LOOP_READ) {
        rc = finish_stage(t);
        if (rc < 0 && rc != -EAGAIN) {
            return rc;
        }
    }
    t->io_errno = 0;
    int mrc = mbedtls_ssl_read(&t->ssl, p, cap);
    if (mrc > 0) {
        return mrc;
    }
    /* 0 is EOF without close_notify; both end the stream the same way. */
    if (mrc == 0 || mrc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || mrc == MBEDTLS_ERR_SSL_CONN_EOF) {
        return GW_E_CLOSED;
    }
    unsigned want;
    if (is_want(mrc, &want)) {
        return 0; /* reads wait for LOOP_READ: the owner keeps it armed */
    }
    return describe(t, mrc, "TLS read failed");
}

static ssize_t tls_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
    struct tls_stream *t = tls_of(s);
    int rc = handshake(t);
    if (rc < 0) {
        return rc;
    }
    rc = finish_stage(t);
    if (rc < 0) {
        return rc;
    }
    if (!t->stage && !(t->stage = gw_alloc(STAGE_CAP))) {
        set_why(t, "TLS write: out of memory");
        return -ENOMEM;
    }
    /* Small packets go out together: one record and one send for many. */
    size_t n = 0;
    for (int i = 0; i < iovcnt && n < STAGE_CAP; i++) {
        size_t k = iov[i].iov_len < STAGE_CAP - n ? iov[i].iov_len : STAGE_CAP - n;
        memcpy(t->stage + n, iov[i].iov_base, k);
        n += k;
    }
    if (n == 0) {
        return 0;
    }
    t->io_errno = 0;
    int mrc = mbedtls_ssl_write(&t->ssl, t->stage, n);
    if (mrc > 0) {
        release_stage(t);
        return mrc;
    }
    if (is_want(mrc, &t->stage_want)) {
        /* mbedTLS holds the record: the bytes are taken, and flush (or
         * the next write) sends the rest of it. */
        t->stage_len = n;
        return (ssize_t)n;
    }
    return describe(t, mrc, "TLS write failed");
}

static int tls_flush(struct stream *s)
{
    struct tls_stream *t = tls_of(s);
    int rc = handshake(t);
    if (rc < 0) {
        return rc;
    }
    return finish_stage(t);
}

static unsigned tls_want(const struct stream *s)
{
    const struct tls_stream *t = ctls_of(s);
    if (t->failed) {
        return 0;
    }
    if (!t->established) {
        return t->hs_want;
    }
    return t->stage_len > 0 ? t->stage_want : 0;
}

static bool tls_pending(const struct stream *s)
{
    const struct tls_stream *t = ctls_of(s);
    return t->established && !t->failed &&
           (mbedtls_ssl_check_pending(&t->ssl) != 0 || t->ahead_pos < t->ahead_len);
}

static const char *tls_identity(const struct stream *s)
{
    const struct tls_stream *t = ctls_of(s);
    return t->established ? t->identity : NULL;
}

static void tls_shutdown(struct stream *s, int reason)
{
    (void)reason;
    struct tls_stream *t = tls_of(s);
    if (t->established && !t->failed) {
        (void)finish_stage(t);
        (void)mbedtls_ssl_close_notify(&t->ssl); /* best effort: WANT_WRITE is dropped */
    }
}

static void tls_destroy(struct stream *s)
{
    struct tls_stream *t = tls_of(s);
    mbedtls_ssl_free(&t->ssl);
    stream_tls_conf_unref(t->conf);
    if (s->fd >= 0) {
        (void)close(s->fd);
    }
    gw_free(t->stage);
    gw_free(t->ahead);
    gw_free(t->identity);
    gw_free(t);
}

static const struct stream_ops tls_ops = {
    .kind = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .flush = tls_flush,
    .want = tls_want,
    .pending = tls_pending,
    .identity = tls_identity,
    .shutdown = tls_shutdown,
    .destroy = tls_destroy,
};

bool stream_is_tls(const struct stream *s)
{
    return s->ops == &tls_ops;
}

const char *stream_tls_alpn(const struct stream *s)
{
    const struct tls_stream *t = ctls_of(s);
    return t->established ? mbedtls_ssl_get_alpn_protocol(&t->ssl) : NULL;
}

static struct tls_stream *tls_new(struct stream_tls_conf *c, int fd)
{
    struct tls_stream *t = gw_calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->base.ops = &tls_ops;
    t->base.fd = fd;
    t->conf = c;
    /* The first step of either side: a server reads the ClientHello, a
     * client writes its own. */
    t->hs_want = c->server ? LOOP_READ : LOOP_WRITE;
    mbedtls_ssl_init(&t->ssl);
    if (mbedtls_ssl_setup(&t->ssl, &c->conf) != 0) {
        mbedtls_ssl_free(&t->ssl);
        gw_free(t);
        return NULL;
    }
    mbedtls_ssl_set_verify(&t->ssl, on_verify, t);
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    c->refs++;
    return t;
}

struct stream *stream_tls_server_create(struct stream_tls_conf *c, int fd)
{
    struct tls_stream *t = tls_new(c, fd);
    return t ? &t->base : NULL;
}

struct stream *stream_tls_client_create(struct stream_tls_conf *c, int fd, const char *host)
{
    struct tls_stream *t = tls_new(c, fd);
    if (!t) {
        return NULL;
    }
    int rc = 0;
    if (inet_pton(AF_INET, host, t->ip) == 1) {
        t->ip_len = 4;
    } else if (inet_pton(AF_INET6, host, t->ip) == 1) {
        t->ip_len = 16;
    } else {
        rc = mbedtls_ssl_set_hostname(&t->ssl, host);
    }
    if (rc != 0) {
        /* Allocation failures; a host over 255 bytes never resolved. */
        t->base.fd = -1; /* not ours yet: the caller still owns it */
        tls_destroy(&t->base);
        return NULL;
    }
    return &t->base;
}
