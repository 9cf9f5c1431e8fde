/* uplink_tls.c - mbedTLS 2.28 client for the bridge uplink: CA, client
 * certificate and settings loaded once (uplink_tls), one non-blocking
 * session per connection (uplink_tls_sess) on custom BIO callbacks over the
 * uplink's socket. See uplink_io.h and uplink_tls_priv.h.
 *
 * Hostname verification: for a name, mbedtls_ssl_set_hostname sends SNI and
 * mbedTLS checks the name against the dNSName subjectAltNames (or the CN
 * when there are none). mbedTLS 2.28 does not match iPAddress
 * subjectAltNames, so for a numeric host we set no hostname (no SNI either:
 * RFC 6066 section 3 forbids literal addresses there) and check the
 * iPAddress entries ourselves in the verify callback. `insecure` clears the
 * name mismatch flag in the same callback: the chain is still verified. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "loop.h"
#include "uplink_io.h"
#include "uplink_tls_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

/* Settings shared by every session of one bridge connection. The ssl
 * config points into the other members, so the struct never moves. */
struct uplink_tls {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    bool insecure;
    char *alpn;               /* owned copy of the one protocol name */
    const char *alpn_list[2]; /* { alpn, NULL } for mbedtls_ssl_conf_alpn_protocols */
};

struct uplink_tls_sess {
    mbedtls_ssl_context ssl;
    int fd;
    int io_errno; /* errno of the last failed send/recv, 0 if none */
    bool insecure;
    bool established; /* handshake done: close_notify allowed */
    size_t ip_len;    /* 4 or 16 for a numeric host, else 0 */
    uint8_t ip[16];
};

/* ---- loading (uplink_tls_create) ---- */

static int load_fail(char *err, size_t errcap, const char *what, const char *path, int mrc)
{
    char msg[160];
    mbedtls_strerror(mrc, msg, sizeof(msg));
    (void)snprintf(err, errcap, "%s %s: %s", what, path, msg);
    bool nomem = mrc == MBEDTLS_ERR_X509_ALLOC_FAILED || mrc == MBEDTLS_ERR_PK_ALLOC_FAILED;
    return nomem ? -ENOMEM : GW_E_CONFIG;
}

/* mbedTLS says only "Read/write of file failed" for a missing file: name
 * the errno first. */
static int check_readable(char *err, size_t errcap, const char *what, const char *path)
{
    if (access(path, R_OK) != 0) {
        (void)snprintf(err, errcap, "%s %s: %s", what, path, gw_strerror(-errno));
        return GW_E_CONFIG;
    }
    return 0;
}

/* Add the certificates of one cafile (a bundle) or capath (a directory). */
static int load_ca_from(struct uplink_tls *t, const char *what, const char *path, bool is_dir,
                        char *err, size_t errcap)
{
    int rc = check_readable(err, errcap, what, path);
    if (rc < 0) {
        return rc;
    }
    rc = is_dir ? mbedtls_x509_crt_parse_path(&t->ca, path)
                : mbedtls_x509_crt_parse_file(&t->ca, path);
    if (rc < 0) {
        return load_fail(err, errcap, what, path, rc);
    }
    if (rc > 0) {
        /* Some entries were not certificates (a capath directory holds
         * other files too): fine while at least one loaded. */
        gw_log(GW_WARN, "uplink", "%s %s: %d entries could not be parsed", what, path, rc);
    }
    return 0;
}

static int load_ca(struct uplink_tls *t, const struct uplink_tls_cfg *cfg, char *err, size_t errcap)
{
    if (!cfg->cafile && !cfg->capath) {
        (void)snprintf(err, errcap, "TLS needs cafile or capath to verify the server");
        return GW_E_CONFIG;
    }
    int rc = 0;
    if (cfg->cafile) {
        rc = load_ca_from(t, "cafile", cfg->cafile, false, err, errcap);
    }
    if (rc == 0 && cfg->capath) {
        rc = load_ca_from(t, "capath", cfg->capath, true, err, errcap);
    }
    if (rc < 0) {
        return rc;
    }
    if (t->ca.version == 0) { /* 0 while the chain is empty */
        (void)snprintf(err, errcap, "%s %s: no CA certificate could be loaded",
                       cfg->capath ? "capath" : "cafile", cfg->capath ? cfg->capath : cfg->cafile);
        return GW_E_CONFIG;
    }
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    return 0;
}

static int load_own_cert(struct uplink_tls *t, const struct uplink_tls_cfg *cfg, char *err,
                         size_t errcap)
{
    if (!cfg->certfile && !cfg->keyfile) {
        return 0;
    }
    if (!cfg->certfile || !cfg->keyfile) {
        (void)snprintf(err, errcap, "%s given without %s", cfg->certfile ? "certfile" : "keyfile",
                       cfg->certfile ? "keyfile" : "certfile");
        return GW_E_CONFIG;
    }
    int rc = check_readable(err, errcap, "certfile", cfg->certfile);
    if (rc == 0) {
        rc = check_readable(err, errcap, "keyfile", cfg->keyfile);
    }
    if (rc < 0) {
        return rc;
    }
    rc = mbedtls_x509_crt_parse_file(&t->cert, cfg->certfile);
    if (rc != 0) {
        return load_fail(err, errcap, "certfile", cfg->certfile,
                         rc > 0 ? MBEDTLS_ERR_X509_INVALID_FORMAT : rc);
    }
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->keyfile, NULL);
    if (rc != 0) {
        return load_fail(err, errcap, "keyfile", cfg->keyfile, rc);
    }
    if (mbedtls_pk_check_pair(&t->cert.pk, &t->key) != 0) {
        (void)snprintf(err, errcap, "keyfile %s: not the key of certfile %s", cfg->keyfile,
                       cfg->certfile);
        return GW_E_CONFIG;
    }
    rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
    return rc == 0 ? 0 : -ENOMEM;
}

static int conf_version(struct uplink_tls *t, const char *v, char *err, size_t errcap)
{
    if (!v || strcmp(v, "tlsv1.2") == 0) {
        /* 2.28 would otherwise still offer TLS 1.0 and 1.1. */
        mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                     MBEDTLS_SSL_MINOR_VERSION_3);
        return 0;
    }
    if (strcmp(v, "tlsv1.3") == 0) {
        (void)snprintf(err, errcap,
                       "tls_version tlsv1.3: not supported by this mbedTLS (%s, TLS 1.2 at most); "
                       "use tlsv1.2",
                       MBEDTLS_VERSION_STRING);
        return GW_E_CONFIG;
    }
    (void)snprintf(err, errcap, "tls_version \"%s\": expected tlsv1.2 or tlsv1.3", v);
    return GW_E_CONFIG;
}

static int conf_alpn(struct uplink_tls *t, const char *alpn, char *err, size_t errcap)
{
    if (!alpn) {
        return 0;
    }
    size_t n = strlen(alpn);
    if (n == 0 || n > 255) { /* RFC 7301 section 3.1: 1..255 bytes */
        (void)snprintf(err, errcap, "alpn: a protocol name is 1 to 255 bytes");
        return GW_E_CONFIG;
    }
    t->alpn = gw_strdup(alpn);
    if (!t->alpn) {
        return -ENOMEM;
    }
    t->alpn_list[0] = t->alpn;
    t->alpn_list[1] = NULL;
    return mbedtls_ssl_conf_alpn_protocols(&t->conf, t->alpn_list) == 0 ? 0 : GW_E_CONFIG;
}

static int conf_setup(struct uplink_tls *t, const struct uplink_tls_cfg *cfg, char *err,
                      size_t errcap)
{
    static const char pers[] = "tern-uplink";
    int rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                   (const unsigned char *)pers, sizeof(pers) - 1);
    if (rc != 0) {
        char msg[160];
        mbedtls_strerror(rc, msg, sizeof(msg));
        (void)snprintf(err, errcap, "TLS random generator: %s", msg);
        return -EIO;
    }
    rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        (void)snprintf(err, errcap, "TLS configuration: out of memory");
        return -ENOMEM;
    }
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    t->insecure = cfg->insecure;
    rc = conf_version(t, cfg->tls_version, err, errcap);
    if (rc == 0) {
        rc = conf_alpn(t, cfg->alpn, err, errcap);
    }
    if (rc == 0) {
        rc = load_ca(t, cfg, err, errcap);
    }
    if (rc == 0) {
        rc = load_own_cert(t, cfg, err, errcap);
    }
    if (rc == -ENOMEM && err[0] == '\0') {
        (void)snprintf(err, errcap, "TLS configuration: out of memory");
    }
    return rc;
}

int uplink_tls_create(const struct uplink_tls_cfg *cfg, struct uplink_tls **out, char *err,
                      size_t errcap)
{
    if (errcap > 0) {
        err[0] = '\0';
    }
    struct uplink_tls *t = gw_calloc(1, sizeof(*t));
    if (!t) {
        (void)snprintf(err, errcap, "TLS configuration: out of memory");
        return -ENOMEM;
    }
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_config_init(&t->conf);
    int rc = conf_setup(t, cfg, err, errcap);
    if (rc < 0) {
        uplink_tls_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void uplink_tls_free(struct uplink_tls *t)
{
    if (!t) {
        return;
    }
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_pk_free(&t->key);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    gw_free(t->alpn);
    gw_free(t);
}

/* ---- one session ---- */

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    struct uplink_tls_sess *s = ctx;
    for (;;) {
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
        if (w >= 0) {
            return (int)w; /* n is one record at most, far below INT_MAX */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            return MBEDTLS_ERR_SSL_WANT_WRITE;
        }
        s->io_errno = errno;
        return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                     : MBEDTLS_ERR_NET_SEND_FAILED;
    }
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
    struct uplink_tls_sess *s = ctx;
    for (;;) {
        ssize_t r = recv(s->fd, p, n, 0);
        if (r >= 0) {
            return (int)r; /* 0 = EOF, which mbedTLS reports as such */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            return MBEDTLS_ERR_SSL_WANT_READ;
        }
        s->io_errno = errno;
        return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

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
    const struct uplink_tls_sess *s = arg;
    if (depth != 0) {
        return 0;
    }
    if (s->insecure) {
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    } else if (s->ip_len > 0 && !has_ip_san(crt, s->ip, s->ip_len)) {
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    return 0;
}

int uplink_tls_sess_create(struct uplink_tls *t, int fd, const char *host,
                           struct uplink_tls_sess **out)
{
    struct uplink_tls_sess *s = gw_calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->fd = fd;
    s->insecure = t->insecure;
    mbedtls_ssl_init(&s->ssl);
    int rc = mbedtls_ssl_setup(&s->ssl, &t->conf);
    if (inet_pton(AF_INET, host, s->ip) == 1) {
        s->ip_len = 4;
    } else if (inet_pton(AF_INET6, host, s->ip) == 1) {
        s->ip_len = 16;
    } else if (rc == 0) {
        rc = mbedtls_ssl_set_hostname(&s->ssl, host);
    }
    if (rc != 0) {
        /* Allocation failures; a host over 255 bytes never resolved. */
        uplink_tls_sess_free(s);
        return -ENOMEM;
    }
    mbedtls_ssl_set_verify(&s->ssl, on_verify, s);
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    *out = s;
    return 0;
}

void uplink_tls_sess_free(struct uplink_tls_sess *s)
{
    if (!s) {
        return;
    }
    mbedtls_ssl_free(&s->ssl);
    gw_free(s);
}

void uplink_tls_close_notify(struct uplink_tls_sess *s)
{
    if (s->established) {
        (void)mbedtls_ssl_close_notify(&s->ssl); /* best effort: WANT_WRITE is dropped */
    }
}

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

/* Names of the alerts a server sends when it refuses us (RFC 8446
 * section 6, RFC 7301 section 3.2). */
static const char *alert_name(unsigned char desc)
{
    static const struct {
        unsigned char desc;
        const char *name;
    } names[] = {{10, "unexpected_message"},
                 {40, "handshake_failure"},
                 {42, "bad_certificate"},
                 {43, "unsupported_certificate"},
                 {44, "certificate_revoked"},
                 {45, "certificate_expired"},
                 {46, "certificate_unknown"},
                 {47, "illegal_parameter"},
                 {48, "unknown_ca"},
                 {49, "access_denied"},
                 {50, "decode_error"},
                 {51, "decrypt_error"},
                 {70, "protocol_version"},
                 {71, "insufficient_security"},
                 {80, "internal_error"},
                 {112, "unrecognized_name"},
                 {116, "certificate_required"},
                 {120, "no_application_protocol"}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].desc == desc) {
            return names[i].name;
        }
    }
    return "unknown";
}

/* One line for a failed step; returns the error to hand back. */
static int describe(const struct uplink_tls_sess *s, int mrc, const char *step, char *err,
                    size_t errcap)
{
    char msg[256];
    if (mrc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        char info[512];
        int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "",
                                             mbedtls_ssl_get_verify_result(&s->ssl));
        /* One line per flag: join them. */
        for (int i = 0; i < n; i++) {
            if (info[i] == '\n') {
                info[i] = i + 1 < n ? ';' : '\0';
            }
        }
        (void)snprintf(err, errcap, "%s: certificate verify failed: %s", step,
                       n > 0 ? info : "unknown reason");
        return -EPROTO;
    }
    if (s->io_errno != 0) {
        (void)snprintf(err, errcap, "%s: %s", step, gw_strerror(-s->io_errno));
        return -s->io_errno;
    }
    if (mrc == MBEDTLS_ERR_SSL_CONN_EOF || mrc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        (void)snprintf(err, errcap, "%s: " UPLINK_IO_EOF_TEXT, step);
        return GW_E_CLOSED;
    }
    mbedtls_strerror(mrc, msg, sizeof(msg));
    if (mrc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && s->ssl.in_msg) {
        /* The alert record is still in the input buffer: [level, desc].
         * (A public member in 2.28; mbedTLS 3 makes it private.) */
        unsigned char desc = s->ssl.in_msg[1];
        (void)snprintf(err, errcap, "%s: %s (alert %u: %s)", step, msg, desc, alert_name(desc));
        return -EPROTO;
    }
    (void)snprintf(err, errcap, "%s: %s", step, msg);
    return -EPROTO;
}

int uplink_tls_handshake(struct uplink_tls_sess *s, unsigned *want, char *err, size_t errcap)
{
    s->io_errno = 0;
    int mrc = mbedtls_ssl_handshake(&s->ssl);
    if (mrc == 0) {
        s->established = true;
        gw_log(GW_DEBUG, "uplink", "TLS established: %s %s alpn=%s",
               mbedtls_ssl_get_version(&s->ssl), mbedtls_ssl_get_ciphersuite(&s->ssl),
               mbedtls_ssl_get_alpn_protocol(&s->ssl) ? mbedtls_ssl_get_alpn_protocol(&s->ssl)
                                                      : "-");
        return 0;
    }
    if (is_want(mrc, want)) {
        return -EAGAIN;
    }
    return describe(s, mrc, "TLS handshake failed", err, errcap);
}

ssize_t uplink_tls_read(struct uplink_tls_sess *s, uint8_t *p, size_t cap, unsigned *want,
                        char *err, size_t errcap)
{
    s->io_errno = 0;
    int mrc = mbedtls_ssl_read(&s->ssl, p, cap);
    if (mrc > 0) {
        return mrc;
    }
    /* 0 is EOF without close_notify; both end the stream the same way. */
    if (mrc == 0 || mrc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || mrc == MBEDTLS_ERR_SSL_CONN_EOF) {
        return 0;
    }
    if (is_want(mrc, want)) {
        return -EAGAIN;
    }
    return describe(s, mrc, "TLS read failed", err, errcap);
}

ssize_t uplink_tls_write(struct uplink_tls_sess *s, const uint8_t *p, size_t n, unsigned *want,
                         char *err, size_t errcap)
{
    s->io_errno = 0;
    int mrc = mbedtls_ssl_write(&s->ssl, p, n);
    if (mrc > 0) {
        return mrc;
    }
    if (is_want(mrc, want)) {
        return -EAGAIN;
    }
    return describe(s, mrc, "TLS write failed", err, errcap);
}

bool uplink_tls_has_pending(const struct uplink_tls_sess *s)
{
    return mbedtls_ssl_check_pending(&s->ssl) != 0;
}

const char *uplink_tls_alpn(const struct uplink_tls_sess *s)
{
    return mbedtls_ssl_get_alpn_protocol(&s->ssl);
}
