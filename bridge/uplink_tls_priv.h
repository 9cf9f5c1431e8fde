/* uplink_tls_priv.h - the TLS layer under uplink_io (bridge/ only).
 *
 * One uplink_tls_sess is the mbedTLS client context of one connection, on a
 * connected non-blocking socket. It never touches the loop: every step
 * either finishes or returns -EAGAIN with *want set to the loop event
 * (LOOP_READ or LOOP_WRITE) to wait for before calling the same step
 * again (Mbed TLS rules for non-blocking I/O). Any other negative return is
 * the end of the stream, with one line in err. */
#ifndef UPLINK_TLS_PRIV_H
#define UPLINK_TLS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct uplink_tls;
struct uplink_tls_sess;

/* Start a client session on fd (borrowed: the caller closes it after
 * uplink_tls_sess_free). host names the peer: SNI and hostname
 * verification for a name, iPAddress subjectAltName verification for a
 * numeric address. Returns 0 and *out, or -ENOMEM. */
int uplink_tls_sess_create(struct uplink_tls *t, int fd, const char *host,
                           struct uplink_tls_sess **out);

/* Free the session (the socket stays open). NULL is a no-op. */
void uplink_tls_sess_free(struct uplink_tls_sess *s);

/* Tell the peer we are closing (close_notify): one attempt on a session
 * whose handshake finished, never waits. */
void uplink_tls_close_notify(struct uplink_tls_sess *s);

/* Drive the handshake. Returns 0 once done and the peer verified, -EAGAIN
 * with *want, or another negative error with err set ("TLS handshake
 * failed: certificate verify failed: ..."). */
int uplink_tls_handshake(struct uplink_tls_sess *s, unsigned *want, char *err, size_t errcap);

/* Read decrypted bytes. Returns > 0 bytes, 0 when the peer closed the
 * stream, -EAGAIN with *want, or another negative error with err set. */
ssize_t uplink_tls_read(struct uplink_tls_sess *s, uint8_t *p, size_t cap, unsigned *want,
                        char *err, size_t errcap);

/* Encrypt and send up to n bytes. Returns > 0 bytes taken, -EAGAIN with
 * *want, or another negative error with err set. After -EAGAIN, call again
 * with the same n (and the same bytes) before anything else: mbedTLS has
 * already taken them into a record it could not finish sending. */
ssize_t uplink_tls_write(struct uplink_tls_sess *s, const uint8_t *p, size_t n, unsigned *want,
                         char *err, size_t errcap);

/* True when mbedTLS holds received bytes not read yet (the socket will not
 * signal them again). */
bool uplink_tls_has_pending(const struct uplink_tls_sess *s);

/* The negotiated ALPN protocol, or NULL. Valid until the session is freed. */
const char *uplink_tls_alpn(const struct uplink_tls_sess *s);

#endif
