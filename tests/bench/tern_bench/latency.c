/* latency.c - the latency mode's parts: the rate timer (also throughput's
 * -r), one sample per delivery after the warm-up, and percentiles. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

#include "tern_bench.h"

void start_rate_timer(struct bench *b)
{
    b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (b->timer_fd < 0) {
        die("timerfd_create: %s", strerror(errno));
    }
    uint64_t period = NS_PER_S / b->o.rate;
    struct itimerspec its = {
            .it_interval = {.tv_sec = (time_t)(period / NS_PER_S),
                            .tv_nsec = (long)(period % NS_PER_S)},
            .it_value = {.tv_sec = 0, .tv_nsec = 1},
    };
    if (timerfd_settime(b->timer_fd, 0, &its, NULL) < 0) {
        die("timerfd_settime: %s", strerror(errno));
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, b->timer_fd, &ev) < 0) {
        die("epoll_ctl timer: %s", strerror(errno));
    }
}

void record_latency(struct bench *b, uint64_t sent_ns, uint64_t now)
{
    if (sent_ns < b->t_warm || now < sent_ns) {
        return;
    }
    if (b->nlat == b->lat_cap) {
        b->lat_cap = b->lat_cap ? b->lat_cap * 2 : 65536;
        uint64_t *p = realloc(b->lat_ns, b->lat_cap * sizeof(*p));
        if (p == NULL) {
            die("out of memory");
        }
        b->lat_ns = p;
    }
    b->lat_ns[b->nlat++] = now - sent_ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void latency_sort(struct bench *b)
{
    qsort(b->lat_ns, b->nlat, sizeof(uint64_t), cmp_u64);
}

double pct_us(const uint64_t *v, size_t n, unsigned pct)
{
    if (n == 0) {
        return 0.0;
    }
    size_t i = (size_t)(((double)(n - 1) * pct) / 100.0 + 0.5);
    return (double)v[i] / 1000.0;
}
