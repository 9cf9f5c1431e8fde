/* uplink_io.h - one outgoing byte stream to an upstream broker: a
 * non-blocking TCP connection, optionally wrapped in TLS (mbedTLS), driven
 * by the event loop.
 *
 * It knows nothing of MQTT: the bridge writes encoded packets and gets
 * bytes back. Connecting (DNS lookup included, all addresses of the name
 * tried in turn), the TLS handshake and every read and write happen on loop
 * callbacks; nothing here blocks. (getaddrinfo blocks: the bridge
 * configuration names hosts that resolve locally or are numeric; a slow
 * resolver stalls the loop once per connection attempt. Noted in the
 * README.)
 *
 * Lifecycle: uplink_io_open -> connected() once the stream is ready for
 * MQTT (TCP connected and, with TLS, the handshake done and the peer
 * verified) -> data() for bytes received, writes at any time after
 * connected() -> closed() once, on EOF, error or failure to connect, with
 * a one-line reason ("connection refused", "certificate verify failed:
 * ...", ...). After closed() the uplink_io is dead: the owner frees it with
 * uplink_io_free (not from inside the callback: from a later loop turn or
 * an end-of-iteration hook). uplink_io_free on a live stream closes it
 * without calling closed(). Loop thread only. */
#ifndef UPLINK_IO_H
#define UPLINK_IO_H

/* The text of closed()'s reason when the peer ended the stream in order
 * (EOF, TLS close_notify), as opposed to a reset, a timeout or an error:
 * the bridge reads a close before CONNACK as a refusal only then. */
#define UPLINK_IO_EOF_TEXT "connection closed by peer"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct uplink_io;
struct uplink_tls;

/* TLS settings of one bridge connection (paths borrowed for the call). */
struct uplink_tls_cfg {
    const char *cafile;      /* PEM CA bundle; cafile or capath is required */
    const char *capath;      /* directory of PEM CA certificates */
    const char *certfile;    /* client certificate (PEM), NULL = none */
    const char *keyfile;     /* its private key (PEM, unencrypted), required with certfile */
    bool insecure;           /* skip hostname verification (the chain is still verified) */
    const char *alpn;        /* one ALPN protocol name, NULL = none */
    const char *tls_version; /* "tlsv1.2" (default, NULL) or "tlsv1.3": the minimum */
    const char *ciphers;     /* suite names (stream_tls.h), NULL = mbedTLS defaults */
    const char *psk_identity; /* TLS-PSK instead of (or beside) certificates: identity */
    const uint8_t *psk;       /* and key (psk_len bytes) */
    size_t psk_len;
};

/* Load CA, certificate and key once (at startup), through gateway/stream's
 * TLS conf (stream_tls.h: the TLS code exists once). Returns 0 and *out, or
 * GW_E_CONFIG / -ENOMEM (/ -EIO: no entropy) with one line in err naming
 * the file and the mbedTLS reason ("cafile /etc/x.pem: X509 - ..."). One
 * uplink_tls serves any number of uplink_io, one after another or at once;
 * free it after the last of them. mbedTLS 2.28 has no TLS 1.3:
 * tls_version "tlsv1.3" is a config error naming the library version. A
 * numeric host is verified against the certificate's iPAddress
 * subjectAltNames (our own check: 2.28 matches DNS names only). */
int uplink_tls_create(const struct uplink_tls_cfg *cfg, struct uplink_tls **out, char *err,
                      size_t errcap);
void uplink_tls_free(struct uplink_tls *t);

struct uplink_io_cb {
    void (*connected)(void *arg);
    /* Bytes received (valid for the call only). */
    void (*data)(void *arg, const uint8_t *p, size_t n);
    /* Output dropped below the low-water mark after uplink_io_write
     * queued more than it could send at once. */
    void (*drained)(void *arg);
    /* The stream ended; reason is one line (valid for the call). */
    void (*closed)(void *arg, const char *reason);
};

/* Default time allowed for each address's TCP connect, and again for the
 * TLS handshake. Past it: the next address, or closed("... connect
 * timeout") / closed("TLS handshake timeout"). */
#define UPLINK_IO_TIMEOUT_MS 10000u

/* drained() comes once the queued output is back to this many bytes. */
#define UPLINK_IO_LOW_WATER 16384u

/* Start connecting to host:port. tls NULL = plain TCP; with tls, SNI and
 * hostname verification use host. Returns 0 and *out (callbacks come
 * later, never from inside this call; a name that does not resolve is a
 * closed() too), or -ENOMEM. */
int uplink_io_open(struct loop *l, const char *host, uint16_t port, struct uplink_tls *tls,
                   const struct uplink_io_cb *cb, void *arg, struct uplink_io **out);

/* Change the connect / handshake timeout (default UPLINK_IO_TIMEOUT_MS);
 * call right after uplink_io_open. */
void uplink_io_set_timeout(struct uplink_io *io, uint32_t timeout_ms);

/* Queue n bytes (copied) and send what the socket takes now (bytes written
 * before connected() wait for it). Returns 0, or -ENOMEM; writes once the
 * stream failed are dropped with -EPIPE. A failure found while sending
 * still returns 0: closed() follows on a later loop turn, never inside this
 * call. */
int uplink_io_write(struct uplink_io *io, const void *p, size_t n);

/* Bytes queued and not yet handed to the kernel (or to TLS). */
size_t uplink_io_pending(const struct uplink_io *io);

/* The ALPN protocol the server chose, or NULL (none offered or chosen,
 * plain TCP, not connected). Valid until uplink_io_free. */
const char *uplink_io_alpn(const struct uplink_io *io);

/* Close (if still open; with TLS a close_notify is attempted) and free. No
 * callback runs after this. NULL no-op. */
void uplink_io_free(struct uplink_io *io);

#endif
