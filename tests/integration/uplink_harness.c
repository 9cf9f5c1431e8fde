/* uplink_harness.c - see uplink_harness.h. */
#include "uplink_harness.h"

#include "alloc.h"
#include "clock.h"
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static void on_guard(struct loop *l, void *arg)
{
    struct ctx *c = arg;
    c->timed_out = true;
    loop_stop(l);
}

static void on_connected(void *arg)
{
    struct ctx *c = arg;
    c->n_connected++;
    if (c->say) {
        assert_int_equal(uplink_io_write(c->io, c->say, strlen(c->say)), 0);
    }
    if (c->stop_on_connected) {
        loop_stop(c->l);
    }
}

static void on_data(void *arg, const uint8_t *p, size_t n)
{
    struct ctx *c = arg;
    assert_int_equal(c->n_connected, 1);
    c->rx_total += n;
    const size_t cap = sizeof(c->rx) - 1;
    if (n >= cap) { /* keep the tail of what came */
        p += n - cap;
        n = cap;
    }
    if (c->rx_n + n > cap) {
        size_t drop = c->rx_n + n - cap;
        memmove(c->rx, c->rx + drop, c->rx_n - drop);
        c->rx_n -= drop;
    }
    memcpy(c->rx + c->rx_n, p, n);
    c->rx_n += n;
    c->rx[c->rx_n] = '\0';
    if (c->expect && strstr(c->rx, c->expect)) {
        loop_stop(c->l);
    }
}

static void on_drained(void *arg)
{
    struct ctx *c = arg;
    c->n_drained++;
    assert_true(uplink_io_pending(c->io) <= UPLINK_IO_LOW_WATER);
}

static void on_closed(void *arg, const char *reason)
{
    struct ctx *c = arg;
    c->n_closed++;
    (void)snprintf(c->reason, sizeof(c->reason), "%s", reason);
    loop_stop(c->l);
}

const struct uplink_io_cb ctx_cb = {on_connected, on_data, on_drained, on_closed};

void ctx_init(struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->heap_before = gw_alloc_bytes();
    assert_int_equal(loop_create(&c->l), 0);
    loop_timer_init(&c->guard, on_guard, c);
}

/* Run the loop until a callback stops it or ms pass (then timed_out). */
void ctx_run(struct ctx *c, uint64_t ms)
{
    c->timed_out = false;
    assert_int_equal(loop_timer_start(c->l, &c->guard, gw_clock_now_ms() + ms), 0);
    assert_int_equal(loop_run(c->l), 0);
    loop_timer_stop(c->l, &c->guard);
}

void ctx_open(struct ctx *c, const char *host, uint16_t port, struct uplink_tls *tls)
{
    assert_int_equal(uplink_io_open(c->l, host, port, tls, &ctx_cb, c, &c->io), 0);
    /* Never a callback from inside open. */
    assert_int_equal(c->n_connected + c->n_closed, 0);
}

void ctx_fini(struct ctx *c)
{
    uplink_io_free(c->io);
    loop_destroy(c->l);
    assert_int_equal(gw_alloc_bytes(), c->heap_before);
}

/* The stream ended: closed() once, then nothing more, writes refused. */
void assert_closed_once(struct ctx *c)
{
    assert_false(c->timed_out);
    assert_int_equal(c->n_closed, 1);
    ctx_run(c, 50); /* nothing else may come */
    assert_true(c->timed_out);
    assert_int_equal(c->n_closed, 1);
    assert_int_equal(uplink_io_write(c->io, "x", 1), -EPIPE);
}

void assert_reason_has(const struct ctx *c, const char *what)
{
    if (!strstr(c->reason, what)) {
        fail_msg("reason \"%s\" lacks \"%s\"", c->reason, what);
    }
}

/* ---- a plain TCP peer on the same loop ---- */

uint16_t bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

int listen_local(int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

static void peer_maybe_stop(struct peer *p)
{
    if (p->want > 0 && p->got >= p->want && (!p->c || p->c->n_drained > 0)) {
        loop_stop(p->l);
    }
}

static void on_peer_data(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct peer *p = arg;
    uint8_t b[65536];
    ssize_t n;
    while ((n = read(fd, b, sizeof(b))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            size_t at = p->got + (size_t)i;
            if (at < sizeof(p->head) - 1) {
                p->head[at] = (char)b[i];
            }
            p->pattern_ok = p->pattern_ok && b[i] == (uint8_t)(at % 251);
        }
        p->got += (size_t)n;
    }
    if (strstr(p->head, "ping") && !p->want) {
        assert_int_equal(write(fd, "pong", 4), 4);
        (void)loop_fd_del(p->l, fd);
        (void)close(fd); /* the uplink sees "pong", then EOF */
        p->cfd = -1;
        return;
    }
    peer_maybe_stop(p);
}

static void on_peer_accept(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct peer *p = arg;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        return;
    }
    assert_int_equal(p->cfd, -1);
    p->cfd = c;
    if (!p->hold) {
        assert_int_equal(loop_fd_add(l, c, LOOP_READ, on_peer_data, p), 0);
    }
}

void peer_start(struct peer *p, struct loop *l)
{
    memset(p, 0, sizeof(*p));
    p->l = l;
    p->cfd = -1;
    p->pattern_ok = true;
    p->lfd = listen_local(8);
    assert_int_equal(loop_fd_add(l, p->lfd, LOOP_READ, on_peer_accept, p), 0);
}

void peer_stop(struct peer *p)
{
    (void)loop_fd_del(p->l, p->lfd);
    (void)close(p->lfd);
    if (p->cfd >= 0) {
        (void)loop_fd_del(p->l, p->cfd);
        (void)close(p->cfd);
    }
}
