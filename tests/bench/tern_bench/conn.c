/* conn.c - tern_bench's sockets: non-blocking connect, CONNECT and SUBSCRIBE
 * for each connection, output flushed once per loop turn, input read in
 * bounded chunks, and the epoll loop that drives them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern_bench.h"

/* ---- connections ------------------------------------------------------- */

bool is_durable(const struct bench *b)
{
    return b->o.mode >= MODE_DURABLE;
}

void mark_dirty(struct bench *b, struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        b->dirty[b->ndirty++] = (unsigned)(c - b->conns);
    }
}

void conn_fail(const struct bench *b, const struct conn *c, const char *why, int err)
{
    static const char *const roles[] = {"subscriber", "publisher", "idle"};
    die("%s %u (conn %u/%u ready): %s%s%s", roles[c->role], c->idx, b->ready, b->nconns, why,
        err ? ": " : "", err ? strerror(err) : "");
}

static void conn_set_events(struct bench *b, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - b->conns)};
    if (epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_fail(b, c, "epoll_ctl", errno);
    }
}

static void conn_flush(struct bench *b, struct conn *c)
{
    while (bbuf_used(&c->out) > 0) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, bbuf_used(&c->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                conn_fail(b, c, "send", errno);
            }
            if (!c->out_armed) {
                c->out_armed = true;
                conn_set_events(b, c, EPOLLIN | EPOLLOUT);
            }
            return;
        }
        c->out.off += (size_t)n;
    }
    c->out.off = 0;
    c->out.len = 0;
    if (c->out_armed) {
        c->out_armed = false;
        conn_set_events(b, c, EPOLLIN);
    }
}

void flush_dirty(struct bench *b)
{
    for (unsigned i = 0; i < b->ndirty; i++) {
        struct conn *c = &b->conns[b->dirty[i]];
        c->dirty = false;
        conn_flush(b, c);
    }
    b->ndirty = 0;
}

static void conn_open(struct bench *b, struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(b->o.port)};
    if (inet_pton(AF_INET, b->o.host, &sa.sin_addr) != 1) {
        die("host must be an IPv4 address: %s", b->o.host);
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(b, c, "socket (raise ulimit -n?)", errno);
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        conn_fail(b, c, "connect", errno);
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - b->conns)};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(b, c, "epoll_ctl add", errno);
    }
    c->out_armed = true;
    c->st = CST_TCP;
    c->next_id = 1;
    b->pending++;
}

/* Keep up to MAX_PENDING connections in setup (listen backlogs are small). */
static void open_more(struct bench *b)
{
    while (b->pending < MAX_PENDING && b->next_open < b->nconns) {
        conn_open(b, &b->conns[b->next_open++]);
    }
}

static void conn_tcp_done(struct bench *b, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        conn_fail(b, c, "connect", err);
    }
    char id[48];
    static const char roles[] = "spi";
    snprintf(id, sizeof(id), "tb%ld%c%u", (long)getpid(), roles[c->role], c->idx);
    if (is_durable(b) && c->role == ROLE_SUB) {
        enc_connect(&c->out, b->o.client_id, b->o.keepalive_s, false);
    } else {
        enc_connect(&c->out, id, b->o.keepalive_s, true);
    }
    c->st = CST_CONNACK;
    mark_dirty(b, c);
}

void conn_set_ready(struct bench *b, struct conn *c)
{
    c->st = CST_READY;
    b->ready++;
    b->pending--;
}

void sub_filter(const struct bench *b, const struct conn *c, char *dst, size_t cap)
{
    if (is_durable(b)) {
        snprintf(dst, cap, "%s", b->o.topic);
    } else if (c->role == ROLE_IDLE) {
        snprintf(dst, cap, "%s/idle/%u", b->prefix, c->idx);
    } else if (b->o.layout == LAYOUT_FANIN) {
        snprintf(dst, cap, "%s/+", b->prefix);
    } else if (b->o.layout == LAYOUT_FANOUT) {
        snprintf(dst, cap, "%s/0", b->prefix);
    } else {
        snprintf(dst, cap, "%s/%u", b->prefix, c->idx);
    }
}

/* ---- reading and the event loop ---------------------------------------- */

static void parse_input(struct bench *b, struct conn *c)
{
    struct bbuf *in = &c->in;
    while (bbuf_used(in) >= 2) {
        size_t rem = 0;
        int hl = dec_header(in->p + in->off, bbuf_used(in), &rem);
        if (hl < 0) {
            conn_fail(b, c, "malformed remaining length", 0);
        }
        if (hl == 0 || bbuf_used(in) < (size_t)hl + rem) {
            break;
        }
        const uint8_t *pkt = in->p + in->off;
        in->off += (size_t)hl + rem;
        on_packet(b, c, pkt[0], pkt + hl, rem);
    }
    if (in->off == in->len) {
        in->off = 0;
        in->len = 0;
    }
}
static void conn_readable(struct bench *b, struct conn *c)
{
    size_t chunk = c->role == ROLE_IDLE ? 256 : READ_CHUNK;
    size_t total = 0;
    while (total < READ_BUDGET) {
        uint8_t *dst = bbuf_reserve(&c->in, chunk);
        ssize_t n = recv(c->fd, dst, chunk, 0);
        if (n == 0) {
            conn_fail(b, c, "closed by broker", 0);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            conn_fail(b, c, "recv", errno);
        }
        c->in.len += (size_t)n;
        total += (size_t)n;
        parse_input(b, c);
        if ((size_t)n < chunk) {
            break;
        }
    }
}
static void on_timer(struct bench *b)
{
    uint64_t ticks = 0;
    if (read(b->timer_fd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks)) {
        b->tokens += ticks;
    }
}
void handle_events(struct bench *b, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(b->ep, evs, 256, timeout_ms);
    if (n < 0 && errno != EINTR) {
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u32 == TIMER_TAG) {
            on_timer(b);
            continue;
        }
        struct conn *c = &b->conns[evs[i].data.u32];
        uint32_t e = evs[i].events;
        if (c->st == CST_TCP) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                conn_tcp_done(b, c);
            }
            continue;
        }
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            conn_readable(b, c);
        }
        if (e & EPOLLOUT) {
            mark_dirty(b, c);
        }
    }
    flush_dirty(b);
}

/* ---- setup and teardown ------------------------------------------------ */

void bench_init(struct bench *b, unsigned nconns)
{
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    if (b->ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    b->timer_fd = -1;
    b->nconns = nconns;
    b->conns = xcalloc(nconns, sizeof(*b->conns));
    b->dirty = xcalloc(nconns, sizeof(*b->dirty));
    for (unsigned i = 0; i < nconns; i++) {
        b->conns[i].fd = -1;
    }
    snprintf(b->prefix, sizeof(b->prefix), "tb/%ld", (long)getpid());
}

void connect_all(struct bench *b)
{
    uint64_t deadline = now_ns() + (uint64_t)(b->o.connect_s * (double)NS_PER_S);
    while (b->ready < b->nconns) {
        if (g_stop) {
            die("interrupted during connect");
        }
        if (now_ns() > deadline) {
            die("connect timeout: %u of %u connections ready after %.1f s", b->ready, b->nconns,
                b->o.connect_s);
        }
        open_more(b);
        flush_dirty(b);
        handle_events(b, 10);
    }
}

/* Graceful: DISCONNECT then close. Abortive (RST) for idle mode so that
 * 10,000 sockets leave no TIME_WAIT entries eating the ephemeral ports. */
void close_all(struct bench *b, bool abortive)
{
    for (unsigned i = 0; i < b->nconns; i++) {
        struct conn *c = &b->conns[i];
        if (c->fd < 0) {
            continue;
        }
        if (abortive) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        } else {
            c->out.off = 0;
            c->out.len = 0;
            enc_short(&c->out, 0xe0, -1);
            (void)send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        }
        close(c->fd);
        c->fd = -1;
        free(c->in.p);
        free(c->out.p);
    }
}
