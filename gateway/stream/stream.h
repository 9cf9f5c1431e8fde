/* stream.h - the byte-stream transport under an MQTT connection.
 *
 * A connection reads and writes bytes through a small ops table, so the
 * protocol code never knows whether it talks plain TCP, TLS, a WebSocket
 * or a WebSocket over TLS (the way Redis keeps TLS out of its protocol
 * code with its ConnectionType). The same streams serve the bridge's
 * uplink. A stream never calls the loop: it works on a non-blocking
 * socket its owner registers, and tells the owner which loop events it
 * needs (stream_want) beyond the owner's own interest — a TLS handshake
 * waiting to write, a WebSocket pong waiting to go out.
 *
 * Contract of every op (one thread at a time: the loop's, or the TLS
 * handshake worker's while it holds the stream, tls_hs_worker.h):
 *   read    payload bytes (after TLS records or WebSocket frames): > 0
 *           bytes, 0 when nothing is available now (the socket is drained
 *           or a handshake/frame is still incomplete), GW_E_CLOSED at an
 *           orderly end, another negative error otherwise (stream_why
 *           says it);
 *   writev  takes payload bytes from iov: > 0 bytes taken (may be fewer
 *           than offered), -EAGAIN when nothing can go now, another
 *           negative error otherwise. After a short write the caller
 *           offers the untaken bytes again first, unchanged (TLS and
 *           WebSocket framing rely on it);
 *   flush   pushes bytes the stream made itself (handshake records,
 *           control frames): 0 when none are left, -EAGAIN, or an error;
 *   want    LOOP_READ / LOOP_WRITE the stream needs now, 0 when none;
 *   pending true while the stream holds decoded bytes the socket will
 *           not signal again (read again before waiting);
 *   identity the peer's verified identity (TLS-PSK identity, client
 *           certificate subject or CN as configured), NULL when none;
 *   shutdown an orderly goodbye (TLS close_notify, WebSocket close with
 *           code): one attempt, never waits;
 *   destroy frees the stream and closes its socket. */
#ifndef STREAM_H
#define STREAM_H

#include "loop.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct stream;

struct stream_ops {
    const char *kind; /* "tcp", "tls", "ws", "wss": logs and metrics */
    ssize_t (*read)(struct stream *s, uint8_t *p, size_t cap);
    ssize_t (*writev)(struct stream *s, const struct iovec *iov, int iovcnt);
    int (*flush)(struct stream *s);
    unsigned (*want)(const struct stream *s);
    bool (*pending)(const struct stream *s);
    const char *(*identity)(const struct stream *s);
    void (*shutdown)(struct stream *s, int reason);
    void (*destroy)(struct stream *s);
};

/* The part every stream starts with. Kept this small on purpose: a plain
 * TCP stream lives inside its connection (stream_tcp_init), and an idle
 * connection's bytes are what a gateway with thousands of sensors pays. */
struct stream {
    const struct stream_ops *ops;
    int fd; /* the socket the owner registers with the loop */
};

/* Why the last stream op failed, in words (printf). One buffer for every
 * stream, since the owner logs it right after the op that failed: clear it
 * (stream_clear_why) before an op, read it (stream_why, "" = nothing said)
 * after a negative return. One buffer per thread. */
__attribute__((format(printf, 1, 2))) void stream_set_why(const char *fmt, ...);
__attribute__((format(printf, 1, 0))) void stream_vset_why(const char *fmt, va_list ap);
const char *stream_why(void);
void stream_clear_why(void);

/* Make s, storage the caller owns (inside its connection), a stream over
 * a connected non-blocking TCP socket; destroy closes fd and frees
 * nothing. */
void stream_tcp_init(struct stream *s, int fd);

/* The same on the heap (destroy frees it too). Returns NULL on -ENOMEM
 * (fd is then not closed). */
struct stream *stream_tcp_create(int fd);

static inline const char *stream_kind(const struct stream *s)
{
    return s->ops->kind;
}

static inline ssize_t stream_read(struct stream *s, uint8_t *p, size_t cap)
{
    return s->ops->read(s, p, cap);
}

static inline ssize_t stream_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
    return s->ops->writev(s, iov, iovcnt);
}

static inline int stream_flush(struct stream *s)
{
    return s->ops->flush ? s->ops->flush(s) : 0;
}

static inline unsigned stream_want(const struct stream *s)
{
    return s->ops->want ? s->ops->want(s) : 0;
}

static inline bool stream_pending(const struct stream *s)
{
    return s->ops->pending ? s->ops->pending(s) : false;
}

static inline const char *stream_identity(const struct stream *s)
{
    return s->ops->identity ? s->ops->identity(s) : NULL;
}

static inline void stream_shutdown(struct stream *s, int reason)
{
    if (s->ops->shutdown) {
        s->ops->shutdown(s, reason);
    }
}

/* NULL is a no-op. */
static inline void stream_destroy(struct stream *s)
{
    if (s) {
        s->ops->destroy(s);
    }
}

#endif
