/* uplink_io.c - the bridge's outgoing byte stream: resolve, non-blocking
 * connect trying each address in turn, then a stream (gateway/stream: plain
 * TCP, or TLS with its handshake), read into data(), buffered writes with a
 * low-water drained(), and one closed() at the end. See uplink_io.h.
 *
 * Callbacks never run inside uplink_io_open, uplink_io_write or
 * uplink_io_free: a failure found there (or anywhere) marks the stream
 * closed, drops the socket and re-arms the stream's timer for "now"; the
 * timer reports closed() on the next loop turn. The timer stays armed from
 * open to closed() (connect or handshake deadline, then "never" while
 * open), so that re-arm reuses its heap slot and cannot fail. */
#include "uplink_io.h"

#include "alloc.h"
#include "buf.h"
#include "gw_err.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "stream_tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK   16384u
#define READ_BUDGET  ((size_t)64 * 1024) /* per event, then let other fds run */
#define WRITE_CHUNK  ((size_t)64 * 1024)
#define WRITE_BUDGET ((size_t)64 * 1024) /* per event (Redis: 64 KiB per conn per event) */
#define OUT_KEEP     ((size_t)64 * 1024) /* free a drained output buffer above this */

enum uplink_state {
    UPLINK_ST_CONNECTING, /* TCP connect to io->ai_cur in progress */
    UPLINK_ST_HANDSHAKE,  /* TLS handshake */
    UPLINK_ST_OPEN,       /* connected() called: data flows */
    UPLINK_ST_CLOSED      /* socket gone; closed() reported or about to be */
};

struct uplink_io {
    struct loop *loop;
    struct uplink_io_cb cb;
    void *arg;
    struct uplink_tls *tls;  /* borrowed; NULL = plain TCP */
    struct stream *stream;   /* from TCP connected to free; owns fd then */
    char *host;
    uint16_t port;
    struct addrinfo *ai_list; /* getaddrinfo result, freed once connected */
    struct addrinfo *ai_next; /* next address to try */
    int last_errno;           /* why the last address failed */
    int fd;                   /* -1 when none */
    unsigned events;          /* interest registered for fd */
    enum uplink_state state;
    uint32_t timeout_ms;
    struct loop_timer timer; /* deadline, then "never", then closed() */
    bool reported;           /* closed() has run */
    struct buf out;          /* queued output; head = next byte to send */
    bool write_blocked;      /* the last write got -EAGAIN: wait for writability */
    bool drain_owed;         /* a write left bytes queued: drained() due */
    char reason[256];
};

/* The TLS settings of a bridge connection: a gateway/stream conf. */
struct uplink_tls {
    struct stream_tls_conf *conf;
};

static void update_events(struct uplink_io *io);
static void try_next_addr(struct uplink_io *io);

static void drop_fd(struct uplink_io *io)
{
    if (io->fd >= 0) {
        (void)loop_fd_del(io->loop, io->fd);
        if (io->stream) {
            stream_destroy(io->stream); /* closes fd */
            io->stream = NULL;
        } else {
            (void)close(io->fd);
        }
        io->fd = -1;
        io->events = 0;
    }
}

/* End the stream with a reason; closed() follows on the next loop turn.
 * The first reason wins. */
static void fail(struct uplink_io *io, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct uplink_io *io, const char *fmt, ...)
{
    if (io->state == UPLINK_ST_CLOSED) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(io->reason, sizeof(io->reason), fmt, ap);
    va_end(ap);
    drop_fd(io);
    io->state = UPLINK_ST_CLOSED;
    /* Armed until now (or stopped by the loop just before calling our own
     * timer callback): this start does not allocate. */
    (void)loop_timer_start(io->loop, &io->timer, loop_now_ms(io->loop));
}

static void arm_deadline(struct uplink_io *io)
{
    (void)loop_timer_start(io->loop, &io->timer, loop_now_ms(io->loop) + io->timeout_ms);
}

/* ---- reading and writing once open ---- */

/* The stream said why (stream_why, cleared before each op); fail() keeps it. */
static void fail_with_reason(struct uplink_io *io, ssize_t rc)
{
    char why[256];
    if (rc == GW_E_CLOSED) {
        fail(io, UPLINK_IO_EOF_TEXT);
        return;
    }
    if (stream_why()[0]) {
        (void)snprintf(why, sizeof(why), "%s", stream_why());
    } else {
        (void)snprintf(why, sizeof(why), "%s", gw_strerror((int)rc));
    }
    fail(io, "%s", why);
}

static void do_read(struct uplink_io *io)
{
    uint8_t chunk[READ_CHUNK];
    size_t total = 0;
    while (io->state == UPLINK_ST_OPEN) {
        stream_clear_why();
        ssize_t n = stream_read(io->stream, chunk, sizeof(chunk));
        if (n == 0) {
            return; /* nothing more now */
        }
        if (n < 0) {
            fail_with_reason(io, n);
            return;
        }
        io->cb.data(io->arg, chunk, (size_t)n);
        total += (size_t)n;
        /* Bytes the stream already holds get no readiness event: drain
         * them before yielding; the socket itself is level-triggered, so
         * after a short read (the kernel had no more) the next bytes raise
         * an event of their own. Reading on to -EAGAIN was one more system
         * call per loop turn, about one per 10 replayed messages (issue
         * 15). */
        if ((total >= READ_BUDGET || (size_t)n < sizeof(chunk)) && !stream_pending(io->stream)) {
            return;
        }
    }
}

/* Send queued bytes until the socket or budget stops us. */
static void flush(struct uplink_io *io, size_t budget)
{
    size_t sent = 0;
    stream_clear_why();
    int frc = stream_flush(io->stream); /* a TLS record still owed goes first */
    if (frc < 0 && frc != -EAGAIN) {
        fail_with_reason(io, frc);
        return;
    }
    io->write_blocked = frc == -EAGAIN;
    while (!io->write_blocked && io->state == UPLINK_ST_OPEN && buf_len(&io->out) > 0 &&
           sent < budget) {
        size_t len = buf_len(&io->out) < WRITE_CHUNK ? buf_len(&io->out) : WRITE_CHUNK;
        struct iovec iov = {.iov_base = io->out.data + io->out.start, .iov_len = len};
        ssize_t n = stream_writev(io->stream, &iov, 1);
        if (n == -EAGAIN) {
            io->write_blocked = true;
            return;
        }
        if (n < 0) {
            fail_with_reason(io, n);
            return;
        }
        buf_consume(&io->out, (size_t)n);
        sent += (size_t)n;
    }
    if (buf_len(&io->out) == 0) {
        buf_compact(&io->out, OUT_KEEP);
    }
}

/* ---- connecting ---- */

static void become_open(struct uplink_io *io)
{
    io->state = UPLINK_ST_OPEN;
    (void)loop_timer_start(io->loop, &io->timer, UINT64_MAX); /* "never": keeps the slot */
    io->cb.connected(io->arg);
    flush(io, WRITE_BUDGET); /* written before or inside connected() */
    if (io->state == UPLINK_ST_OPEN && stream_pending(io->stream)) {
        do_read(io); /* data that came with the last handshake flight */
    }
    update_events(io);
}

static void do_handshake(struct uplink_io *io)
{
    stream_clear_why();
    int rc = stream_tls_handshake(io->stream);
    if (rc == -EAGAIN) {
        update_events(io);
        return;
    }
    if (rc < 0) {
        fail_with_reason(io, rc);
        return;
    }
    become_open(io);
}

static void tcp_connected(struct uplink_io *io)
{
    int one = 1;
    (void)setsockopt(io->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    freeaddrinfo(io->ai_list);
    io->ai_list = NULL;
    io->ai_next = NULL;
    io->stream = io->tls ? stream_tls_client_create(io->tls->conf, io->fd, io->host)
                         : stream_tcp_create(io->fd);
    if (!io->stream) {
        fail(io, "%s setup failed: %s", io->tls ? "TLS" : "stream", gw_strerror(-ENOMEM));
        return;
    }
    if (!io->tls) {
        become_open(io);
        return;
    }
    io->state = UPLINK_ST_HANDSHAKE;
    arm_deadline(io); /* the handshake gets its own timeout */
    do_handshake(io);
}

static void on_connect_ready(struct uplink_io *io)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        soerr = errno;
    }
    if (soerr == EINPROGRESS || soerr == EALREADY) {
        return; /* spurious wake-up */
    }
    if (soerr != 0) {
        io->last_errno = soerr;
        drop_fd(io);
        try_next_addr(io);
        return;
    }
    tcp_connected(io);
}

static const char *addr_str(const struct addrinfo *ai, char *buf, size_t cap)
{
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return "?";
    }
    (void)snprintf(buf, cap, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
    return buf;
}

static void on_fd(struct loop *l, int fd, unsigned events, void *arg);

/* Start a non-blocking connect to the next address, or fail when none is
 * left, naming the last address's error. */
static void try_next_addr(struct uplink_io *io)
{
    while (io->ai_next) {
        struct addrinfo *ai = io->ai_next;
        io->ai_next = ai->ai_next;
        char name[NI_MAXHOST + NI_MAXSERV + 4];
        gw_log(GW_DEBUG, "uplink", "host=%s connecting to %s", io->host,
               addr_str(ai, name, sizeof(name)));
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            io->last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            io->last_errno = errno;
            (void)close(fd);
            continue;
        }
        /* Writable = connected or failed (SO_ERROR says which). */
        int rc = loop_fd_add(io->loop, fd, LOOP_WRITE, on_fd, io);
        if (rc < 0) {
            io->last_errno = -rc;
            (void)close(fd);
            continue;
        }
        io->fd = fd;
        io->events = LOOP_WRITE;
        arm_deadline(io);
        return;
    }
    fail(io, "connect to %s:%u failed: %s", io->host, io->port,
         io->last_errno == ETIMEDOUT ? "connect timeout" : gw_strerror(-io->last_errno));
}

/* ---- loop callbacks ---- */

static void update_events(struct uplink_io *io)
{
    unsigned ev = 0;
    switch (io->state) {
    case UPLINK_ST_CONNECTING:
        ev = LOOP_WRITE;
        break;
    case UPLINK_ST_HANDSHAKE:
        ev = stream_want(io->stream);
        break;
    case UPLINK_ST_OPEN:
        ev = LOOP_READ | stream_want(io->stream);
        if (buf_len(&io->out) > 0) {
            ev |= LOOP_WRITE;
        }
        break;
    case UPLINK_ST_CLOSED:
        return;
    }
    if (ev != io->events) {
        int rc = loop_fd_mod(io->loop, io->fd, ev);
        if (rc < 0) {
            fail(io, "event loop: %s", gw_strerror(rc));
            return;
        }
        io->events = ev;
    }
}

static void on_open_events(struct uplink_io *io, unsigned events)
{
    /* An error or hang-up shows up as a failing read or write. */
    bool rd = (events & (LOOP_READ | LOOP_ERROR)) != 0;
    bool wr = (events & (LOOP_WRITE | LOOP_ERROR)) != 0;
    if (rd) {
        do_read(io);
    }
    if (io->state == UPLINK_ST_OPEN && wr) {
        flush(io, WRITE_BUDGET);
        if (io->state == UPLINK_ST_OPEN && io->drain_owed &&
            buf_len(&io->out) <= UPLINK_IO_LOW_WATER) {
            io->drain_owed = false;
            io->cb.drained(io->arg);
        }
    }
    update_events(io);
}

static void on_fd(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    struct uplink_io *io = arg;
    switch (io->state) {
    case UPLINK_ST_CONNECTING:
        on_connect_ready(io);
        break;
    case UPLINK_ST_HANDSHAKE:
        do_handshake(io);
        break;
    case UPLINK_ST_OPEN:
        on_open_events(io, events);
        break;
    case UPLINK_ST_CLOSED:
        break;
    }
}

static void on_timer(struct loop *l, void *arg)
{
    (void)l;
    struct uplink_io *io = arg;
    switch (io->state) {
    case UPLINK_ST_CONNECTING:
        io->last_errno = ETIMEDOUT; /* this address is silent: try the next */
        drop_fd(io);
        try_next_addr(io);
        break;
    case UPLINK_ST_HANDSHAKE:
        fail(io, "TLS handshake timeout");
        break;
    case UPLINK_ST_OPEN:
        break; /* "never" */
    case UPLINK_ST_CLOSED:
        if (!io->reported) {
            io->reported = true;
            io->cb.closed(io->arg, io->reason);
        }
        break;
    }
}

/* ---- public ---- */

static int resolve(struct uplink_io *io)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char serv[8];
    (void)snprintf(serv, sizeof(serv), "%u", io->port);
    int rc = getaddrinfo(io->host, serv, &hints, &io->ai_list);
    if (rc == EAI_MEMORY) {
        return -ENOMEM;
    }
    if (rc != 0) {
        io->ai_list = NULL;
        fail(io, "resolve %s failed: %s", io->host,
             rc == EAI_SYSTEM ? gw_strerror(-errno) : gai_strerror(rc));
        return 0;
    }
    io->ai_next = io->ai_list;
    try_next_addr(io);
    return 0;
}

int uplink_io_open(struct loop *l, const char *host, uint16_t port, struct uplink_tls *tls,
                   const struct uplink_io_cb *cb, void *arg, struct uplink_io **out)
{
    struct uplink_io *io = gw_calloc(1, sizeof(*io));
    if (!io) {
        return -ENOMEM;
    }
    io->host = gw_strdup(host);
    if (!io->host) {
        gw_free(io);
        return -ENOMEM;
    }
    io->loop = l;
    io->cb = *cb;
    io->arg = arg;
    io->tls = tls;
    io->port = port;
    io->fd = -1;
    io->state = UPLINK_ST_CONNECTING;
    io->timeout_ms = UPLINK_IO_TIMEOUT_MS;
    buf_init(&io->out);
    loop_timer_init(&io->timer, on_timer, io);
    /* Armed first, so that every later re-arm reuses its slot. */
    int rc = loop_timer_start(l, &io->timer, loop_now_ms(l) + io->timeout_ms);
    if (rc == 0) {
        rc = resolve(io);
    }
    if (rc < 0) {
        uplink_io_free(io);
        return rc;
    }
    *out = io;
    return 0;
}

void uplink_io_set_timeout(struct uplink_io *io, uint32_t timeout_ms)
{
    io->timeout_ms = timeout_ms;
    if (io->state == UPLINK_ST_CONNECTING || io->state == UPLINK_ST_HANDSHAKE) {
        arm_deadline(io);
    }
}

int uplink_io_write(struct uplink_io *io, const void *p, size_t n)
{
    if (io->state == UPLINK_ST_CLOSED) {
        return -EPIPE;
    }
    if (n == 0) {
        return 0;
    }
    if (buf_reserve(&io->out, n) < 0) {
        return -ENOMEM;
    }
    memcpy(buf_tail(&io->out), p, n);
    buf_commit(&io->out, n);
    /* Before connected() the bytes wait; while the socket is already
     * awaited (LOOP_WRITE, or a TLS write waiting to read), the event
     * sends them. */
    if (io->state == UPLINK_ST_OPEN && !(io->events & LOOP_WRITE)) {
        flush(io, WRITE_BUDGET);
    }
    if (io->state != UPLINK_ST_CLOSED && buf_len(&io->out) > 0) {
        io->drain_owed = true;
        update_events(io);
    }
    return 0;
}

size_t uplink_io_pending(const struct uplink_io *io)
{
    return buf_len(&io->out);
}

const char *uplink_io_alpn(const struct uplink_io *io)
{
    return io->state == UPLINK_ST_OPEN && io->tls ? stream_tls_alpn(io->stream) : NULL;
}

void uplink_io_free(struct uplink_io *io)
{
    if (!io) {
        return;
    }
    loop_timer_stop(io->loop, &io->timer);
    if (io->state == UPLINK_ST_OPEN) {
        stream_shutdown(io->stream, 0); /* TLS: close_notify, one attempt */
    }
    drop_fd(io);
    if (io->ai_list) {
        freeaddrinfo(io->ai_list);
    }
    buf_fini(&io->out);
    gw_free(io->host);
    gw_free(io);
}

/* ---- TLS settings (gateway/stream does the work) ---- */

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
    struct stream_tls_cfg sc = {
            .cafile = cfg->cafile,
            .capath = cfg->capath,
            .certfile = cfg->certfile,
            .keyfile = cfg->keyfile,
            .tls_version = cfg->tls_version,
            .ciphers = cfg->ciphers,
            .insecure = cfg->insecure,
            .alpn = cfg->alpn,
            .psk_identity = cfg->psk_identity,
            .psk = cfg->psk,
            .psk_len = cfg->psk_len,
    };
    int rc = stream_tls_conf_create(&sc, &t->conf, err, errcap);
    if (rc < 0) {
        gw_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void uplink_tls_free(struct uplink_tls *t)
{
    if (t) {
        stream_tls_conf_unref(t->conf);
        gw_free(t);
    }
}
