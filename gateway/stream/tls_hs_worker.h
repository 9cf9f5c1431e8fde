/* tls_hs_worker.h - server TLS handshakes on a thread of their own.
 *
 * One mbedTLS 2.28 P-256 server handshake costs about 4 ms of CPU (2.4 ms
 * for the ServerKeyExchange signature, 1.7 ms for the ClientKeyExchange);
 * on the event loop a storm of a hundred of them delayed every other
 * client's messages by tens of milliseconds. The worker drives many
 * handshakes at once, non-blocking (epoll over their sockets), at a lower
 * scheduling priority than the loop, and hands each finished or failed
 * one back through an eventfd the owner watches, as the password checks
 * (auth_worker.h) and the store writer do.
 *
 * Ownership: a submitted stream and its socket belong to the worker until
 * the done callback hands them back (the owner must not watch the fd
 * meanwhile). Hand-offs go through lists under one mutex, so everything
 * the loop did to a stream before submitting happens-before the worker's
 * first step, and everything the worker did happens-before the callback.
 *
 * What else the two threads share, and why that is safe:
 *   - the stream's stream_tls_conf: its mbedtls_ssl_config, CA chain, CRL,
 *     certificate, key and PSK table are only read after creation; the
 *     reference count is touched by the loop alone (streams are created,
 *     submitted and destroyed there; a SIGHUP rotation drops the
 *     listener's reference there too, and a stream in the worker keeps
 *     the old conf alive with its own reference);
 *   - the conf's ctr_drbg, which established sessions on the loop may use
 *     too (CBC record IVs): Debian's mbedTLS is built with
 *     MBEDTLS_THREADING_C + MBEDTLS_THREADING_PTHREAD, so
 *     mbedtls_ctr_drbg_random and mbedtls_entropy_func lock their mutex;
 *   - the key's and CA keys' EC groups, which ecp.h says must not be used
 *     from two threads at once: there is exactly one worker thread, and
 *     since every server TLS handshake runs on it, the loop never does EC
 *     arithmetic with a listener's conf (DTLS and the bridge have confs
 *     of their own);
 *   - no session cache or tickets are configured;
 *   - stream_why() is per thread; the worker copies the reason into the
 *     result; it never logs (a SIGHUP may reopen the log file).
 *
 * Threads: every function here is for the owner's (loop) thread only. */
#ifndef TLS_HS_WORKER_H
#define TLS_HS_WORKER_H

#include "stream.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct tls_hs_worker;

/* A finished handshake, as the done callback sees it (valid during the
 * call only, except s). */
struct tls_hs_result {
    struct stream *s;                    /* the caller's again: adopt or destroy it */
    void *owner;                         /* as submitted */
    const struct sockaddr_storage *peer; /* as submitted */
    uint64_t started_ms;                 /* as submitted */
    int rc;                              /* 0 established; GW_E_TIMEOUT; another error */
    const char *why;                     /* the stream's reason for rc < 0, or "" */
};

typedef void tls_hs_done_cb(void *ctx, const struct tls_hs_result *r);

/* Start the thread; done(ctx, ...) runs from tls_hs_worker_collect.
 * Returns 0 and *out, or -errno. */
int tls_hs_worker_create(tls_hs_done_cb *done, void *ctx, struct tls_hs_worker **out);

/* Readable when results are waiting: watch it and call tls_hs_worker_collect. */
int tls_hs_worker_fd(const struct tls_hs_worker *w);

/* Hand over s, a server TLS stream (stream_tls_server_create) whose
 * handshake has not started, over a connected non-blocking socket. The
 * handshake fails with GW_E_TIMEOUT if it is not done by started_ms +
 * timeout_ms (CLOCK_MONOTONIC, as loop_now_ms). Returns 0, or -ENOMEM
 * (s stays the caller's). */
int tls_hs_worker_submit(struct tls_hs_worker *w, struct stream *s, void *owner,
                         const struct sockaddr_storage *peer, uint64_t started_ms,
                         uint64_t timeout_ms);

/* Run the done callback of every finished handshake, in the order they
 * finished. */
void tls_hs_worker_collect(struct tls_hs_worker *w);

/* Destroy every handshake of owner, wherever it is (queued, running,
 * finished but not collected), without calling back; waits for the worker
 * to let go of them (at most one handshake step). Returns how many. */
size_t tls_hs_worker_drop(struct tls_hs_worker *w, const void *owner);

/* Handshakes submitted and not yet handed back or dropped. */
size_t tls_hs_worker_pending(const struct tls_hs_worker *w);

/* Stop and join the thread, destroy every stream it still holds without
 * calling back. NULL is a no-op. */
void tls_hs_worker_destroy(struct tls_hs_worker *w);

#endif
