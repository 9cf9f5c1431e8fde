/* Unit tests for the output queue (outq.c): copies, references, partial
 * writes on a real non-blocking socket pair. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alloc.h"
#include "outq.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int released;

static void on_release(void *arg)
{
    (void)arg;
    released++;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

static size_t drain(int fd, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);
        if (r <= 0) {
            return n;
        }
        n += (size_t)r;
    }
}

/* What a connection does with its stream: gather, writev, consume what
 * was taken. */
static ssize_t write_q(struct outq *q, int fd, size_t max_bytes)
{
    struct iovec iov[OUTQ_IOV_MAX];
    int n = outq_gather(q, iov, OUTQ_IOV_MAX, max_bytes);
    if (n == 0) {
        return 0;
    }
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
        return -errno;
    }
    outq_consume(q, (size_t)w);
    return w;
}

static void test_outq_copy_and_ref_in_order(void **state)
{
    (void)state;
    int sv[2];
    struct outq q;
    uint8_t buf[64];
    pair(sv);
    outq_init(&q);
    released = 0;
    assert_int_equal(outq_append(&q, "ab", 2), 0);
    assert_int_equal(outq_append_ref(&q, "CDE", 3, on_release, NULL), 0);
    assert_int_equal(outq_append(&q, "f", 1), 0);
    assert_int_equal(outq_bytes(&q), 6);
    assert_int_equal(write_q(&q, sv[0], 1 << 20), 6);
    assert_int_equal(outq_bytes(&q), 0);
    assert_int_equal(released, 1);
    assert_int_equal(drain(sv[1], buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "abCDEf", 6);
    outq_fini(&q);
    close(sv[0]);
    close(sv[1]);
    outq_pool_drain();
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_outq_partial_writes_resume(void **state)
{
    (void)state;
    int sv[2];
    struct outq q;
    enum { N = 1 << 20 };
    uint8_t *big = gw_alloc(N);
    uint8_t *got = gw_alloc(N);
    for (size_t i = 0; i < N; i++) {
        big[i] = (uint8_t)(i * 7);
    }
    pair(sv);
    outq_init(&q);
    released = 0;
    assert_int_equal(outq_append(&q, big, 1000), 0);
    assert_int_equal(outq_append_ref(&q, big + 1000, N - 2000, on_release, NULL), 0);
    assert_int_equal(outq_append(&q, big + N - 1000, 1000), 0);
    size_t got_n = 0;
    int eagain = 0;
    while (outq_bytes(&q) > 0) {
        ssize_t w = write_q(&q, sv[0], 1 << 20);
        if (w == -EAGAIN) {
            eagain++;
            got_n += drain(sv[1], got + got_n, N - got_n); /* make room, resume */
        } else {
            assert_true(w > 0);
        }
    }
    got_n += drain(sv[1], got + got_n, N - got_n);
    assert_true(eagain > 0); /* the socket buffer really filled */
    assert_int_equal(got_n, N);
    assert_memory_equal(got, big, N);
    assert_int_equal(released, 1);
    outq_fini(&q);
    gw_free(big);
    gw_free(got);
    close(sv[0]);
    close(sv[1]);
    outq_pool_drain();
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_outq_fini_releases_unsent(void **state)
{
    (void)state;
    struct outq q;
    outq_init(&q);
    released = 0;
    assert_int_equal(outq_append_ref(&q, "x", 1, on_release, NULL), 0);
    assert_int_equal(outq_append_ref(&q, "y", 1, on_release, NULL), 0);
    outq_fini(&q);
    assert_int_equal(released, 2);
    outq_pool_drain();
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_outq_alloc_failure_clean(void **state)
{
    (void)state;
    struct outq q;
    outq_init(&q);
    gw_alloc_fail_at(0, 0);
    assert_int_equal(outq_append(&q, "ab", 2), -ENOMEM);
    assert_int_equal(outq_bytes(&q), 0);
    gw_alloc_fail_at(0, 0);
    released = 0;
    assert_int_equal(outq_append_ref(&q, "x", 1, on_release, NULL), -ENOMEM);
    assert_int_equal(released, 0); /* failed call never calls its callback */
    outq_fini(&q);
    outq_pool_drain();
    assert_int_equal(gw_alloc_bytes(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_outq_copy_and_ref_in_order),
            cmocka_unit_test(test_outq_partial_writes_resume),
            cmocka_unit_test(test_outq_fini_releases_unsent),
            cmocka_unit_test(test_outq_alloc_failure_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
