/* stream_tcp.c - the plain TCP stream: read and writev on the socket. */
#include "stream.h"

#include "alloc.h"
#include "gw_err.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static ssize_t tcp_read(struct stream *s, uint8_t *p, size_t cap)
{
    ssize_t r = read(s->fd, p, cap);
    if (r > 0) {
        return r;
    }
    if (r == 0) {
        return GW_E_CLOSED;
    }
    if (errno == EAGAIN || errno == EINTR) {
        return 0;
    }
    int err = errno;
    stream_set_why("read: %s", strerror(err)); /* NOLINT(concurrency-mt-unsafe) */
    return -err;
}

static ssize_t tcp_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
    ssize_t w = writev(s->fd, iov, iovcnt);
    if (w >= 0) {
        return w;
    }
    if (errno == EAGAIN || errno == EINTR) {
        return -EAGAIN;
    }
    int err = errno;
    stream_set_why("write: %s", strerror(err)); /* NOLINT(concurrency-mt-unsafe) */
    return -err;
}

static void tcp_close(struct stream *s)
{
    if (s->fd >= 0) {
        (void)close(s->fd);
        s->fd = -1;
    }
}

static void tcp_destroy(struct stream *s)
{
    tcp_close(s);
    gw_free(s);
}

static const struct stream_ops tcp_ops = {
    .kind = "tcp",
    .read = tcp_read,
    .writev = tcp_writev,
    .destroy = tcp_destroy,
};

/* The same, in storage its owner frees. */
static const struct stream_ops tcp_inline_ops = {
    .kind = "tcp",
    .read = tcp_read,
    .writev = tcp_writev,
    .destroy = tcp_close,
};

void stream_tcp_init(struct stream *s, int fd)
{
    s->ops = &tcp_inline_ops;
    s->fd = fd;
}

struct stream *stream_tcp_create(int fd)
{
    struct stream *s = gw_calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->ops = &tcp_ops;
    s->fd = fd;
    return s;
}
