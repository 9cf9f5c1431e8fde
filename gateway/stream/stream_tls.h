/* stream_tls.h - TLS streams (mbedTLS) for both ends: the server side under
 * a listener's connections, the client side under the bridge uplink. The
 * one place of Tern that speaks TLS on a byte stream.
 *
 * A stream_tls_conf holds what every session of one listener or bridge
 * shares: random generator, CA chain and CRL, own certificate and key,
 * PSK table, version and cipher settings. It is reference-counted: each
 * stream holds a reference (mbedTLS sessions point into the conf), so a
 * listener can swap in a re-read conf (certificate rotation on SIGHUP)
 * while its open connections go on with the old one.
 *
 * Non-blocking rules (Mbed TLS "non-blocking I/O"): the BIO callbacks map
 * EAGAIN to WANT_READ / WANT_WRITE; a step that wants I/O is repeated with
 * the same arguments once the loop reports the event stream_want names.
 * writev copies up to one record's worth into the stream's own buffer and
 * reports it taken; if the socket takes the record only in part, the
 * stream keeps it (want = LOOP_WRITE) and finishes it in flush or before
 * the next writev, so callers never have to offer bytes again.
 * Renegotiation is off (it is disabled by default, and set so explicitly).
 * mbedTLS 2.28 speaks TLS 1.2 at most; the code keeps 3.x in reach with
 * #if MBEDTLS_VERSION_MAJOR where the API differs. One thread at a time:
 * a listener hands a server stream to the handshake worker
 * (tls_hs_worker.h) until its handshake is done, the loop has it then. */
#ifndef STREAM_TLS_H
#define STREAM_TLS_H

#include "stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stream_tls_conf;

/* Which verified name a server stream reports as stream_identity() (a
 * PSK identity is always reported when the handshake used a PSK). */
enum stream_tls_identity {
    STREAM_TLS_ID_NONE,    /* certificates give no identity */
    STREAM_TLS_ID_CN,      /* the client certificate's subject CN (use_identity_as_username) */
    STREAM_TLS_ID_SUBJECT, /* its whole subject, "C=.., O=.., CN=.." (use_subject_as_username) */
};

/* One pre-shared key (RFC 4279). */
struct stream_tls_psk {
    const char *identity; /* printable, 1..128 bytes */
    const uint8_t *key;
    size_t key_len; /* 1..64 bytes */
};

#define STREAM_TLS_PSK_MAX_KEY      64u
#define STREAM_TLS_PSK_MAX_IDENTITY 128u

/* Settings of one conf; everything is borrowed for the create call. */
struct stream_tls_cfg {
    bool server;
    const char *cafile;      /* PEM bundle of trusted CAs */
    const char *capath;      /* directory of PEM CA certificates */
    const char *certfile;    /* own certificate chain (PEM); server: required unless PSK only */
    const char *keyfile;     /* its private key (PEM, unencrypted), required with certfile */
    const char *crlfile;     /* PEM CRL checked against peer certificates */
    const char *tls_version; /* "tlsv1.2" (default, NULL) or "tlsv1.3": the minimum */
    const char *ciphers;     /* ':' or ',' separated mbedTLS or IANA suite names; NULL = defaults */
    /* server only */
    bool datagram;            /* DTLS 1.2 (MQTT-SN listeners, stream_dtls.h), not TLS */
    bool require_certificate; /* ask for and verify a client certificate */
    enum stream_tls_identity identity;
    const char *psk_hint;                /* PSK identity hint; with psks: PSK on */
    const struct stream_tls_psk *psks;   /* server's PSK table (copied) */
    size_t n_psks;
    /* client only */
    bool insecure;            /* skip the host name check (the chain is still verified) */
    const char *alpn;         /* one ALPN protocol name, NULL = none */
    const char *psk_identity; /* client PSK: identity and key (both or neither) */
    const uint8_t *psk;
    size_t psk_len;
};

/* Load and check everything once. Returns 0 and *out (one reference), or
 * GW_E_CONFIG / -ENOMEM / -EIO (no entropy) with one line in err naming the
 * option, the file and the reason ("certfile /x.pem: No such file or
 * directory", "cafile /y.pem: X509 - ..."). */
int stream_tls_conf_create(const struct stream_tls_cfg *cfg, struct stream_tls_conf **out,
                           char *err, size_t errcap);

/* Drop a reference; the last one frees. NULL is a no-op. */
void stream_tls_conf_unref(struct stream_tls_conf *c);

/* A server stream over an accepted non-blocking socket (taken over: closed
 * by destroy). The handshake runs inside read and flush; read returns 0
 * until it is done. Returns NULL on -ENOMEM (fd is then not closed). */
struct stream *stream_tls_server_create(struct stream_tls_conf *c, int fd);

/* A client stream over a connected non-blocking socket (taken over). host
 * names the peer: SNI and host name verification for a name, iPAddress
 * subjectAltName verification for a numeric address. NULL on -ENOMEM. */
struct stream *stream_tls_client_create(struct stream_tls_conf *c, int fd, const char *host);

/* Drive the handshake of a TLS stream (s must be one). Returns 0 once done
 * and the peer verified, -EAGAIN (wait for stream_want), or another
 * negative error with stream_why set ("TLS handshake failed: certificate
 * verify failed: ..."). */
int stream_tls_handshake(struct stream *s);

/* The debug line of an established server stream ("TLS established:
 * version suite alpn identity"), for the owner to write after the
 * handshake worker handed it back. */
void stream_tls_log_established(const struct stream *s);

/* True if s is a TLS stream. */
bool stream_is_tls(const struct stream *s);

/* The negotiated ALPN protocol of a TLS stream, or NULL. Valid until the
 * stream is destroyed. */
const char *stream_tls_alpn(const struct stream *s);

#endif
