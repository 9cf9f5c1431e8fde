/* loop_epoll.c - the event loop on Linux epoll; the only epoll user. */
#include "loop.h"

#include "alloc.h"
#include "clock.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct fd_entry {
    loop_fd_cb *cb;
    void *arg;
    unsigned events;
    bool used;
};

struct hook {
    loop_hook_cb *cb;
    void *arg;
};

struct loop {
    int epfd;
    bool stop;
    bool skip_sleep;
    bool expect_input;    /* loop_expect_input: yield and poll before sleeping */
    uint64_t now_ms;
    uint64_t turn;        /* epoll_wait returns so far (loop_turn) */
    uint64_t fd_events;   /* fd callbacks run so far (loop_fd_events) */
    struct fd_entry *fds; /* indexed by fd */
    size_t n_fds;
    struct loop_timer **heap;
    size_t heap_len;
    size_t heap_cap;
    struct hook *hooks;
    size_t n_hooks;
};

int loop_create(struct loop **out)
{
    struct loop *l = gw_calloc(1, sizeof(*l));
    if (!l) {
        return -ENOMEM;
    }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int rc = -errno;
        gw_free(l);
        return rc;
    }
    l->now_ms = gw_clock_now_ms();
    *out = l;
    return 0;
}

void loop_destroy(struct loop *l)
{
    if (!l) {
        return;
    }
    (void)close(l->epfd);
    gw_free(l->fds);
    gw_free(l->heap);
    gw_free(l->hooks);
    gw_free(l);
}

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = 0;
    if (events & LOOP_READ) {
        e |= EPOLLIN | EPOLLRDHUP;
    }
    if (events & LOOP_WRITE) {
        e |= EPOLLOUT;
    }
    return e;
}

static int grow_fds(struct loop *l, size_t fd)
{
    if (fd < l->n_fds) {
        return 0;
    }
    size_t n = l->n_fds ? l->n_fds : 64;
    while (n <= fd) {
        n *= 2;
    }
    struct fd_entry *f = gw_realloc(l->fds, n * sizeof(*f));
    if (!f) {
        return -ENOMEM;
    }
    for (size_t i = l->n_fds; i < n; i++) {
        f[i] = (struct fd_entry){0};
    }
    l->fds = f;
    l->n_fds = n;
    return 0;
}

int loop_fd_add(struct loop *l, int fd, unsigned events, loop_fd_cb *cb, void *arg)
{
    if (fd < 0) {
        return -EBADF;
    }
    int rc = grow_fds(l, (size_t)fd);
    if (rc < 0) {
        return rc;
    }
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        return -errno;
    }
    l->fds[fd] = (struct fd_entry){.cb = cb, .arg = arg, .events = events, .used = true};
    return 0;
}

int loop_fd_mod(struct loop *l, int fd, unsigned events)
{
    if (fd < 0 || (size_t)fd >= l->n_fds || !l->fds[fd].used) {
        return -EBADF;
    }
    if (l->fds[fd].events == events) {
        return 0;
    }
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
        return -errno;
    }
    l->fds[fd].events = events;
    return 0;
}

int loop_fd_del(struct loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->n_fds || !l->fds[fd].used) {
        return -EBADF;
    }
    l->fds[fd].used = false;
    if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0) {
        return -errno;
    }
    return 0;
}

/* ---- timer heap (min-heap on deadline_ms) ---- */

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->heap_idx = i + 1;
}

static void heap_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->deadline_ms <= t->deadline_ms) {
            break;
        }
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_len) {
            break;
        }
        if (c + 1 < l->heap_len && l->heap[c + 1]->deadline_ms < l->heap[c]->deadline_ms) {
            c++;
        }
        if (t->deadline_ms <= l->heap[c]->deadline_ms) {
            break;
        }
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb *cb, void *arg)
{
    t->deadline_ms = 0;
    t->heap_idx = 0;
    t->cb = cb;
    t->arg = arg;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    if (!t->heap_idx) {
        return;
    }
    size_t i = t->heap_idx - 1;
    t->heap_idx = 0;
    l->heap_len--;
    if (i == l->heap_len) {
        return;
    }
    struct loop_timer *moved = l->heap[l->heap_len];
    heap_set(l, i, moved);
    heap_up(l, i);
    heap_down(l, moved->heap_idx - 1);
}

int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t deadline_ms)
{
    if (t->heap_idx) {
        size_t i = t->heap_idx - 1;
        uint64_t old = t->deadline_ms;
        t->deadline_ms = deadline_ms;
        if (deadline_ms < old) {
            heap_up(l, i);
        } else {
            heap_down(l, i);
        }
        return 0;
    }
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        struct loop_timer **h = gw_realloc(l->heap, cap * sizeof(*h));
        if (!h) {
            return -ENOMEM;
        }
        l->heap = h;
        l->heap_cap = cap;
    }
    t->deadline_ms = deadline_ms;
    l->heap[l->heap_len] = t;
    t->heap_idx = l->heap_len + 1;
    l->heap_len++;
    heap_up(l, l->heap_len - 1);
    return 0;
}

int loop_hook_add(struct loop *l, loop_hook_cb *cb, void *arg)
{
    struct hook *h = gw_realloc(l->hooks, (l->n_hooks + 1) * sizeof(*h));
    if (!h) {
        return -ENOMEM;
    }
    h[l->n_hooks] = (struct hook){cb, arg};
    l->hooks = h;
    l->n_hooks++;
    return 0;
}

void loop_hook_del(struct loop *l, loop_hook_cb *cb, void *arg)
{
    for (size_t i = 0; i < l->n_hooks; i++) {
        if (l->hooks[i].cb == cb && l->hooks[i].arg == arg) {
            memmove(&l->hooks[i], &l->hooks[i + 1], (l->n_hooks - i - 1) * sizeof(l->hooks[0]));
            l->n_hooks--;
            return;
        }
    }
}

uint64_t loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

uint64_t loop_turn(const struct loop *l)
{
    return l->turn;
}

uint64_t loop_fd_events(const struct loop *l)
{
    return l->fd_events;
}

void loop_expect_input(struct loop *l)
{
    l->expect_input = true;
}

void loop_skip_sleep(struct loop *l)
{
    l->skip_sleep = true;
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

static void run_timers(struct loop *l)
{
    /* Timers armed by a callback for "now" run in the next iteration, so a
     * timer that re-arms itself at now cannot starve the loop. */
    uint64_t now = l->now_ms;
    size_t budget = l->heap_len;
    while (budget-- > 0 && l->heap_len > 0 && l->heap[0]->deadline_ms <= now) {
        struct loop_timer *t = l->heap[0];
        loop_timer_stop(l, t);
        t->cb(l, t->arg);
    }
}

static int next_timeout(const struct loop *l)
{
    if (l->heap_len == 0) {
        return -1;
    }
    uint64_t d = l->heap[0]->deadline_ms;
    uint64_t now = gw_clock_now_ms();
    if (d <= now) {
        return 0;
    }
    uint64_t wait = d - now;
    return wait > 60000 ? 60000 : (int)wait;
}

static void dispatch(struct loop *l, const struct epoll_event *ev)
{
    int fd = ev->data.fd;
    if ((size_t)fd >= l->n_fds || !l->fds[fd].used) {
        return; /* removed by an earlier callback this iteration */
    }
    unsigned events = 0;
    if (ev->events & (EPOLLIN | EPOLLRDHUP)) {
        events |= LOOP_READ;
    }
    if (ev->events & EPOLLOUT) {
        events |= LOOP_WRITE;
    }
    if (ev->events & (EPOLLERR | EPOLLHUP)) {
        events |= LOOP_ERROR | LOOP_READ;
    }
    struct fd_entry e = l->fds[fd];
    l->fd_events++;
    e.cb(l, fd, events, e.arg);
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    l->stop = false;
    while (!l->stop) {
        for (size_t i = 0; i < l->n_hooks; i++) {
            l->hooks[i].cb(l, l->hooks[i].arg);
        }
        int timeout = l->skip_sleep ? 0 : next_timeout(l);
        l->skip_sleep = false;
        int n = 0;
        if (timeout != 0 && l->expect_input) {
            /* Let the peer we wait for run (if it shares our CPU), then
             * look once more before sleeping. */
            (void)sched_yield();
            n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, 0);
        }
        l->expect_input = false;
        if (n == 0) {
            n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        l->now_ms = gw_clock_now_ms();
        l->turn++;
        for (int i = 0; i < n; i++) {
            dispatch(l, &evs[i]);
        }
        run_timers(l);
    }
    return 0;
}
