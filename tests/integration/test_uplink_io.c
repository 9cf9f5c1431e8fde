/* Integration tests for the bridge uplink stream over plain TCP
 * (bridge/uplink_io.c) on a real event loop, against sockets this program
 * listens on: round trip, peer close, every address of a name tried,
 * queueing and drained(), refused, unresolvable, connect timeout, free
 * without callbacks, allocation failures. */
#include "alloc.h"
#include "clock.h"
#include "loop.h"
#include "uplink_harness.h"
#include "uplink_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static void test_uplink_io_tcp_round_trip_then_peer_close(void **state)
{
    (void)state;
    struct ctx c;
    struct peer p;
    ctx_init(&c);
    peer_start(&p, c.l);
    c.say = "ping";
    c.expect = NULL;
    ctx_open(&c, "127.0.0.1", bound_port(p.lfd), NULL);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 1);
    assert_string_equal(p.head, "ping");
    assert_string_equal(c.rx, "pong");
    assert_reason_has(&c, "closed by peer");
    assert_null(uplink_io_alpn(c.io));
    assert_closed_once(&c);
    peer_stop(&p);
    ctx_fini(&c);
}

/* "localhost" may resolve to ::1 first; the peer listens on 127.0.0.1
 * only, so a refused address is followed by the next one. */
static void test_uplink_io_tcp_localhost_tries_each_address(void **state)
{
    (void)state;
    struct ctx c;
    struct peer p;
    ctx_init(&c);
    peer_start(&p, c.l);
    c.stop_on_connected = true;
    ctx_open(&c, "localhost", bound_port(p.lfd), NULL);
    ctx_run(&c, GUARD_MS);
    assert_false(c.timed_out);
    assert_int_equal(c.n_connected, 1);
    assert_int_equal(c.n_closed, 0);
    peer_stop(&p);
    ctx_fini(&c); /* frees the live uplink: no callback */
}

/* 16 MiB written at once cannot all enter the socket: the rest is queued,
 * sent as the peer reads, and drained() follows. */
static void test_uplink_io_tcp_large_write_queues_then_drains(void **state)
{
    (void)state;
    struct ctx c;
    struct peer p;
    const size_t total = 16u << 20;
    ctx_init(&c);
    peer_start(&p, c.l);
    c.stop_on_connected = true;
    ctx_open(&c, "127.0.0.1", bound_port(p.lfd), NULL);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 1);
    uint8_t *big = malloc(total);
    assert_non_null(big);
    for (size_t i = 0; i < total; i++) {
        big[i] = (uint8_t)(i % 251);
    }
    assert_int_equal(uplink_io_write(c.io, big, total / 2), 0);
    assert_int_equal(uplink_io_write(c.io, big + total / 2, total - total / 2), 0);
    free(big);
    assert_true(uplink_io_pending(c.io) > 0);
    assert_int_equal(c.n_drained, 0); /* never from inside write */
    p.want = total;
    p.c = &c;
    ctx_run(&c, GUARD_MS);
    assert_false(c.timed_out);
    assert_int_equal(p.got, total);
    assert_true(p.pattern_ok);
    assert_int_equal(c.n_drained, 1);
    assert_int_equal(uplink_io_pending(c.io), 0);
    assert_int_equal(c.n_closed, 0);
    peer_stop(&p);
    ctx_fini(&c);
}

static void test_uplink_io_tcp_refused(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c);
    int fd = listen_local(1);
    uint16_t port = bound_port(fd);
    (void)close(fd); /* nothing listens there now */
    ctx_open(&c, "127.0.0.1", port, NULL);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 0);
    assert_reason_has(&c, "refused");
    assert_reason_has(&c, "127.0.0.1");
    assert_closed_once(&c);
    ctx_fini(&c);
}

static void test_uplink_io_unresolvable_host(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c);
    ctx_open(&c, "no-such-host.invalid", 1883, NULL);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 0);
    assert_reason_has(&c, "resolve no-such-host.invalid failed");
    assert_closed_once(&c);
    ctx_fini(&c);
}

/* A listen backlog of 0 with one connection waiting: the kernel drops
 * further SYNs, so the connect never completes. */
static void test_uplink_io_tcp_connect_timeout(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c);
    int lfd = listen_local(0);
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(bound_port(lfd))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0);
    ctx_open(&c, "127.0.0.1", bound_port(lfd), NULL);
    uplink_io_set_timeout(c.io, 300);
    uint64_t t0 = gw_clock_now_ms();
    ctx_run(&c, GUARD_MS);
    assert_true(gw_clock_now_ms() - t0 >= 290);
    assert_int_equal(c.n_connected, 0);
    assert_reason_has(&c, "connect timeout");
    assert_closed_once(&c);
    ctx_fini(&c);
    (void)close(filler);
    (void)close(lfd);
}

static void test_uplink_io_free_before_any_event_is_silent(void **state)
{
    (void)state;
    struct ctx c;
    struct peer p;
    ctx_init(&c);
    peer_start(&p, c.l);
    ctx_open(&c, "127.0.0.1", bound_port(p.lfd), NULL);
    assert_int_equal(uplink_io_write(c.io, "queued", 6), 0);
    assert_int_equal(uplink_io_pending(c.io), 6);
    uplink_io_free(c.io);
    c.io = NULL;
    ctx_run(&c, 100);
    assert_true(c.timed_out);
    assert_int_equal(c.n_connected + c.n_closed + c.n_drained, 0);
    peer_stop(&p);
    ctx_fini(&c);
}

/* Every allocation of uplink_io_open failing in turn: a clean -ENOMEM, no
 * callback, nothing leaked (SQLite's technique, STYLE.md section 11). */
static void test_uplink_io_open_alloc_failures(void **state)
{
    (void)state;
    struct ctx c;
    ctx_init(&c);
    int rc = -ENOMEM;
    for (long n = 0; rc == -ENOMEM && n < 16; n++) {
        size_t before = gw_alloc_bytes();
        gw_alloc_fail_at(n, 0);
        rc = uplink_io_open(c.l, "127.0.0.1", 1, NULL, &ctx_cb, &c, &c.io);
        gw_alloc_fail_at(-1, 0);
        if (rc == -ENOMEM) {
            assert_int_equal(gw_alloc_bytes(), before);
        }
    }
    assert_int_equal(rc, 0);
    uplink_io_free(c.io);
    c.io = NULL;
    assert_int_equal(c.n_connected + c.n_closed, 0);
    ctx_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_uplink_io_tcp_round_trip_then_peer_close),
            cmocka_unit_test(test_uplink_io_tcp_localhost_tries_each_address),
            cmocka_unit_test(test_uplink_io_tcp_large_write_queues_then_drains),
            cmocka_unit_test(test_uplink_io_tcp_refused),
            cmocka_unit_test(test_uplink_io_unresolvable_host),
            cmocka_unit_test(test_uplink_io_tcp_connect_timeout),
            cmocka_unit_test(test_uplink_io_free_before_any_event_is_silent),
            cmocka_unit_test(test_uplink_io_open_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
