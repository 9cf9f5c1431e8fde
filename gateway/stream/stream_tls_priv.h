/* stream_tls_priv.h - the conf shared by stream_tls_conf.c (loading) and
 * stream_tls.c (sessions); gateway/stream only. */
#ifndef STREAM_TLS_PRIV_H
#define STREAM_TLS_PRIV_H

#include "stream_tls.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

/* One PSK of the server table, sorted by identity for bsearch. */
struct tls_psk_entry {
    char *identity;
    size_t identity_len;
    uint8_t key[STREAM_TLS_PSK_MAX_KEY];
    size_t key_len;
};

/* The ssl config points into the other members, so the struct never
 * moves; freed when refs drops to 0. */
struct stream_tls_conf {
    int refs;
    bool server;
    bool datagram; /* DTLS: sessions are stream_dtls.c's */
    bool insecure;
    enum stream_tls_identity identity;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crl crl;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    char *alpn;               /* owned copy of the one protocol name */
    const char *alpn_list[2]; /* { alpn, NULL } for mbedtls_ssl_conf_alpn_protocols */
    int *ciphers;             /* 0-terminated suite ids; must outlive conf */
    struct tls_psk_entry *psks;
    size_t n_psks;
};

/* The server PSK of identity (id, n), or NULL (stream_tls_conf.c). */
const struct tls_psk_entry *tls_conf_psk_find(const struct stream_tls_conf *c,
                                              const unsigned char *id, size_t n);

/* The identity a verified client certificate of ssl gives under c's
 * identity setting (owned copy), or NULL (none, or no usable CN / subject;
 * stream_tls.c, also used by stream_dtls.c). */
char *tls_conf_cert_identity(const struct stream_tls_conf *c, const mbedtls_ssl_context *ssl);

/* Install the server PSK callback (stream_tls.c: it fills the session). */
void tls_conf_set_psk_cb(struct stream_tls_conf *c);

#endif
