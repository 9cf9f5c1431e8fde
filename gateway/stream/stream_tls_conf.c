/* stream_tls_conf.c - loading a TLS conf once (stream_tls.h): random
 * generator, CA chain, CRL, own certificate and key, PSKs, version,
 * cipher suites and ALPN. Every failure is one line naming the option, the
 * file and mbedTLS's reason; nothing here logs except a CA directory's
 * unparsable entries. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "stream_tls_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

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
static int load_ca_from(struct stream_tls_conf *t, const char *what, const char *path,
                        bool is_dir, char *err, size_t errcap)
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
        gw_log(GW_WARN, "tls", "%s %s: %d entries could not be parsed", what, path, rc);
    }
    return 0;
}

static int load_ca(struct stream_tls_conf *t, const struct stream_tls_cfg *cfg, char *err,
                   size_t errcap)
{
    /* A client verifies the server by certificate unless a PSK does it. */
    bool need = (!cfg->server && !cfg->psk_identity) || cfg->require_certificate;
    if (!cfg->cafile && !cfg->capath) {
        if (!need) {
            return 0;
        }
        (void)snprintf(err, errcap, "%s needs cafile or capath to verify the %s",
                       cfg->server ? "require_certificate" : "TLS",
                       cfg->server ? "client certificates" : "server");
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
    if (cfg->crlfile) {
        rc = check_readable(err, errcap, "crlfile", cfg->crlfile);
        if (rc < 0) {
            return rc;
        }
        rc = mbedtls_x509_crl_parse_file(&t->crl, cfg->crlfile);
        if (rc != 0) {
            return load_fail(err, errcap, "crlfile", cfg->crlfile, rc);
        }
    }
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, cfg->crlfile ? &t->crl : NULL);
    return 0;
}

static int load_own_cert(struct stream_tls_conf *t, const struct stream_tls_cfg *cfg, char *err,
                         size_t errcap)
{
    if (!cfg->certfile && !cfg->keyfile) {
        if (cfg->server && cfg->n_psks == 0) {
            (void)snprintf(err, errcap, "a TLS listener needs certfile and keyfile (or psk_file)");
            return GW_E_CONFIG;
        }
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
#if MBEDTLS_VERSION_MAJOR >= 3
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->keyfile, NULL, mbedtls_ctr_drbg_random, &t->drbg);
#else
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->keyfile, NULL);
#endif
    if (rc != 0) {
        return load_fail(err, errcap, "keyfile", cfg->keyfile, rc);
    }
#if MBEDTLS_VERSION_MAJOR >= 3
    rc = mbedtls_pk_check_pair(&t->cert.pk, &t->key, mbedtls_ctr_drbg_random, &t->drbg);
#else
    rc = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
#endif
    if (rc != 0) {
        (void)snprintf(err, errcap, "keyfile %s: not the key of certfile %s", cfg->keyfile,
                       cfg->certfile);
        return GW_E_CONFIG;
    }
    rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
    return rc == 0 ? 0 : -ENOMEM;
}

static int conf_version(struct stream_tls_conf *t, const char *v, char *err, size_t errcap)
{
    if (!v || strcmp(v, "tlsv1.2") == 0) {
        /* 2.28 would otherwise still offer TLS 1.0 and 1.1. */
#if MBEDTLS_VERSION_MAJOR >= 3
        mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
        mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                     MBEDTLS_SSL_MINOR_VERSION_3);
#endif
        return 0;
    }
    if (strcmp(v, "tlsv1.3") == 0) {
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
        mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
        return 0;
#else
        (void)snprintf(err, errcap,
                       "tls_version tlsv1.3: not supported by this mbedTLS (%s, TLS 1.2 at most); "
                       "use tlsv1.2",
                       MBEDTLS_VERSION_STRING);
        return GW_E_CONFIG;
#endif
    }
    (void)snprintf(err, errcap, "tls_version \"%s\": expected tlsv1.2 or tlsv1.3", v);
    return GW_E_CONFIG;
}

static int conf_alpn(struct stream_tls_conf *t, const char *alpn, char *err, size_t errcap)
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

/* One suite name, mbedTLS's ("TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256") or
 * IANA's (the same with '_'), as its id; 0 if unknown. */
static int suite_id(const char *name, size_t n)
{
    char buf[96];
    if (n == 0 || n >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, name, n);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '_') {
            buf[i] = '-';
        }
    }
    buf[n] = '\0';
    return mbedtls_ssl_get_ciphersuite_id(buf);
}

static int conf_ciphers(struct stream_tls_conf *t, const char *list, char *err, size_t errcap)
{
    if (!list) {
        return 0;
    }
    size_t max = 1;
    for (const char *p = list; *p; p++) {
        max += *p == ':' || *p == ',';
    }
    t->ciphers = gw_calloc(max + 1, sizeof(int));
    if (!t->ciphers) {
        return -ENOMEM;
    }
    size_t k = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ":, ");
        if (n > 0) {
            int id = suite_id(p, n);
            if (id == 0) {
                (void)snprintf(err, errcap,
                               "ciphers: unknown suite \"%.*s\" (give mbedTLS or IANA names such "
                               "as TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256; OpenSSL names are not "
                               "understood)",
                               (int)(n > 60 ? 60 : n), p);
                return GW_E_CONFIG;
            }
            t->ciphers[k++] = id;
        }
        p += n;
        p += *p != '\0';
    }
    if (k == 0) {
        (void)snprintf(err, errcap, "ciphers: the list is empty");
        return GW_E_CONFIG;
    }
    t->ciphers[k] = 0;
    mbedtls_ssl_conf_ciphersuites(&t->conf, t->ciphers);
    return 0;
}

/* Identities in byte order, a prefix first. */
static int id_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0) {
        return c;
    }
    return an < bn ? -1 : an > bn;
}

static int psk_cmp(const void *a, const void *b)
{
    const struct tls_psk_entry *x = a;
    const struct tls_psk_entry *y = b;
    return id_cmp(x->identity, x->identity_len, y->identity, y->identity_len);
}

const struct tls_psk_entry *tls_conf_psk_find(const struct stream_tls_conf *c,
                                              const unsigned char *id, size_t n)
{
    size_t lo = 0;
    size_t hi = c->n_psks;
    while (lo < hi) { /* binary search of the sorted table */
        size_t mid = lo + (hi - lo) / 2;
        const struct tls_psk_entry *e = &c->psks[mid];
        int cmp = id_cmp(id, n, e->identity, e->identity_len);
        if (cmp == 0) {
            return e;
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

static int conf_server_psk(struct stream_tls_conf *t, const struct stream_tls_cfg *cfg, char *err,
                           size_t errcap)
{
    if (cfg->n_psks == 0) {
        return 0;
    }
    t->psks = gw_calloc(cfg->n_psks, sizeof(*t->psks));
    if (!t->psks) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_psks; i++) {
        const struct stream_tls_psk *p = &cfg->psks[i];
        struct tls_psk_entry *e = &t->psks[i];
        size_t n = strlen(p->identity);
        if (n == 0 || n > STREAM_TLS_PSK_MAX_IDENTITY || p->key_len == 0 ||
            p->key_len > STREAM_TLS_PSK_MAX_KEY) {
            (void)snprintf(err, errcap, "psk identity \"%.40s\": 1..%u identity bytes and "
                           "1..%u key bytes", p->identity, STREAM_TLS_PSK_MAX_IDENTITY,
                           STREAM_TLS_PSK_MAX_KEY);
            t->n_psks = i;
            return GW_E_CONFIG;
        }
        e->identity = gw_strdup(p->identity);
        t->n_psks = i + 1;
        if (!e->identity) {
            return -ENOMEM;
        }
        e->identity_len = n;
        memcpy(e->key, p->key, p->key_len);
        e->key_len = p->key_len;
    }
    qsort(t->psks, t->n_psks, sizeof(*t->psks), psk_cmp);
    for (size_t i = 1; i < t->n_psks; i++) {
        if (psk_cmp(&t->psks[i - 1], &t->psks[i]) == 0) {
            (void)snprintf(err, errcap, "psk identity \"%.60s\" is given twice",
                           t->psks[i].identity);
            return GW_E_CONFIG;
        }
    }
    /* No static key: the callback picks one per identity. (psk_hint turns
     * PSK on, as in mosquitto, but mbedTLS 2.28 always sends an empty
     * hint.) */
    if (!t->datagram) {
        tls_conf_set_psk_cb(t); /* DTLS sessions install their own (stream_dtls.c) */
    }
    return 0;
}

static int conf_client_psk(struct stream_tls_conf *t, const struct stream_tls_cfg *cfg,
                           char *err, size_t errcap)
{
    if (!cfg->psk_identity && !cfg->psk) {
        return 0;
    }
    size_t n = cfg->psk_identity ? strlen(cfg->psk_identity) : 0;
    if (n == 0 || n > STREAM_TLS_PSK_MAX_IDENTITY || cfg->psk_len == 0 ||
        cfg->psk_len > STREAM_TLS_PSK_MAX_KEY) {
        (void)snprintf(err, errcap, "PSK needs an identity of 1..%u bytes and a key of 1..%u "
                       "bytes", STREAM_TLS_PSK_MAX_IDENTITY, STREAM_TLS_PSK_MAX_KEY);
        return GW_E_CONFIG;
    }
    int rc = mbedtls_ssl_conf_psk(&t->conf, cfg->psk, cfg->psk_len,
                                  (const unsigned char *)cfg->psk_identity, n);
    return rc == 0 ? 0 : -ENOMEM;
}

static int conf_setup(struct stream_tls_conf *t, const struct stream_tls_cfg *cfg, char *err,
                      size_t errcap)
{
    static const char pers[] = "tern-tls";
    int rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                   (const unsigned char *)pers, sizeof(pers) - 1);
    if (rc != 0) {
        char msg[160];
        mbedtls_strerror(rc, msg, sizeof(msg));
        (void)snprintf(err, errcap, "TLS random generator: %s", msg);
        return -EIO;
    }
    rc = mbedtls_ssl_config_defaults(&t->conf,
                                     cfg->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                     cfg->server && cfg->datagram ? MBEDTLS_SSL_TRANSPORT_DATAGRAM
                                                                  : MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        return -ENOMEM;
    }
    t->server = cfg->server;
    t->datagram = cfg->datagram && cfg->server;
    t->insecure = cfg->insecure;
    t->identity = cfg->identity;
    /* A server asks for a client certificate only with require_certificate
     * (mosquitto: SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT, else none). */
    int mode = !cfg->server || cfg->require_certificate ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                        : MBEDTLS_SSL_VERIFY_NONE;
    mbedtls_ssl_conf_authmode(&t->conf, mode);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    /* A renegotiation would run a second handshake mid-stream, with its
     * CPU cost, on the peer's demand. */
    mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    rc = conf_version(t, cfg->tls_version, err, errcap);
    if (rc == 0) {
        rc = conf_ciphers(t, cfg->ciphers, err, errcap);
    }
    if (rc == 0) {
        rc = conf_alpn(t, cfg->alpn, err, errcap);
    }
    if (rc == 0) {
        rc = load_ca(t, cfg, err, errcap);
    }
    if (rc == 0) {
        rc = cfg->server ? conf_server_psk(t, cfg, err, errcap) : conf_client_psk(t, cfg, err, errcap);
    }
    if (rc == 0) {
        bool psk_client = !cfg->server && cfg->psk_identity;
        rc = psk_client && !cfg->certfile ? 0 : load_own_cert(t, cfg, err, errcap);
    }
    return rc;
}

int stream_tls_conf_create(const struct stream_tls_cfg *cfg, struct stream_tls_conf **out,
                           char *err, size_t errcap)
{
    if (errcap > 0) {
        err[0] = '\0';
    }
    struct stream_tls_conf *t = gw_calloc(1, sizeof(*t));
    if (!t) {
        (void)snprintf(err, errcap, "TLS configuration: out of memory");
        return -ENOMEM;
    }
    t->refs = 1;
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_x509_crl_init(&t->crl);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_config_init(&t->conf);
    int rc = conf_setup(t, cfg, err, errcap);
    if (rc < 0) {
        if (rc == -ENOMEM && errcap > 0 && err[0] == '\0') {
            (void)snprintf(err, errcap, "TLS configuration: out of memory");
        }
        stream_tls_conf_unref(t);
        return rc;
    }
    *out = t;
    return 0;
}

void stream_tls_conf_unref(struct stream_tls_conf *t)
{
    if (!t || --t->refs > 0) {
        return;
    }
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_pk_free(&t->key);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_x509_crl_free(&t->crl);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    for (size_t i = 0; i < t->n_psks; i++) {
        gw_free(t->psks[i].identity);
    }
    if (t->psks) {
        mbedtls_platform_zeroize(t->psks, t->n_psks * sizeof(*t->psks));
    }
    gw_free(t->psks);
    gw_free(t->ciphers);
    gw_free(t->alpn);
    gw_free(t);
}
