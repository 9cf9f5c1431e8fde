/* tls_hs_worker.c - server TLS handshakes on a thread of their own. See
 * tls_hs_worker.h for what is shared and why it is safe.
 *
 * A job moves through lists, each with one owner at a time:
 *   todo    submitted, under mu; the worker takes it into `active`;
 *   active  the worker thread's alone: in its epoll set, being driven;
 *   done    finished, under mu; the loop collects it.
 * The loop never touches `active`; the worker never touches a job on
 * `done` again. drop and stop are requests under mu the worker answers
 * between two handshake steps. */
#include "tls_hs_worker.h"

#include "alloc.h"
#include "clock.h"
#include "gw_err.h"
#include "stream_tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#define HS_EVENTS_MAX 64
/* The worker's nice value above the loop's. CFS weights nice 0 against
 * nice 10 about 9:1, so when both want the same core the loop (serving
 * established clients, whose latency is what a storm must not hurt) wins
 * and handshakes take what is left; a handshake waiting a few ms more
 * costs its client nothing it would notice. */
#define HS_NICE_DELTA 10
#define HS_WHY_CAP    200u

struct hs_job {
    struct stream *s;
    void *owner;
    struct sockaddr_storage peer;
    uint64_t started_ms;
    uint64_t deadline_ms;
    uint32_t armed; /* epoll events registered (worker), 0 = not in the set */
    int rc;
    char why[HS_WHY_CAP];
    struct hs_job *prev; /* active list only */
    struct hs_job *next;
};

/* A singly linked FIFO. */
struct hs_list {
    struct hs_job *head;
    struct hs_job *tail;
};

struct tls_hs_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* drop answered */
    /* under mu: */
    struct hs_list todo;
    struct hs_list done;
    struct hs_list dropped; /* the worker let go of these for a drop */
    const void *drop_owner;
    bool drop_asked;
    bool stop;
    /* the worker thread's: */
    struct hs_job *active; /* doubly linked */
    int ep;
    /* both, set before the thread starts: */
    int wake_fd; /* loop -> worker */
    int done_fd; /* worker -> loop */
    /* the loop's: */
    tls_hs_done_cb *done_cb;
    void *ctx;
    size_t pending;
};

static void list_push(struct hs_list *l, struct hs_job *j)
{
    j->next = NULL;
    if (l->tail) {
        l->tail->next = j;
    } else {
        l->head = j;
    }
    l->tail = j;
}

static struct hs_job *list_take_all(struct hs_list *l)
{
    struct hs_job *j = l->head;
    l->head = NULL;
    l->tail = NULL;
    return j;
}

static void kick(int fd)
{
    uint64_t one = 1;
    /* Only a full counter (2^64 - 2) fails: then it is readable anyway. */
    (void)!write(fd, &one, sizeof(one));
}

static void drain(int fd)
{
    uint64_t n;
    (void)!read(fd, &n, sizeof(n)); /* EAGAIN: nothing to reset */
}

/* ---- the worker thread ---- */

static void active_unlink(struct tls_hs_worker *w, struct hs_job *j)
{
    if (j->prev) {
        j->prev->next = j->next;
    } else {
        w->active = j->next;
    }
    if (j->next) {
        j->next->prev = j->prev;
    }
    j->prev = NULL;
    j->next = NULL;
}

static void leave_epoll(struct tls_hs_worker *w, struct hs_job *j)
{
    if (j->armed) {
        (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, j->s->fd, NULL);
        j->armed = 0;
    }
}

/* Out of the worker's hands onto out (pushed to done at the end of the
 * pass, with one wake-up for all). */
static void finish(struct tls_hs_worker *w, struct hs_job *j, int rc, const char *why,
                   struct hs_list *out)
{
    leave_epoll(w, j);
    active_unlink(w, j);
    j->rc = rc;
    (void)snprintf(j->why, sizeof(j->why), "%s", why);
    list_push(out, j);
}

static int arm(struct tls_hs_worker *w, struct hs_job *j, unsigned want)
{
    uint32_t ev = 0;
    if (want & LOOP_READ) {
        ev |= EPOLLIN;
    }
    if (want & LOOP_WRITE) {
        ev |= EPOLLOUT;
    }
    if (!ev) {
        ev = EPOLLIN; /* not expected after -EAGAIN; reading is the safe wait */
    }
    if (ev == j->armed) {
        return 0;
    }
    struct epoll_event e = {.events = ev, .data.ptr = j};
    if (epoll_ctl(w->ep, j->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, j->s->fd, &e) < 0) {
        return -errno;
    }
    j->armed = ev;
    return 0;
}

/* Run j's handshake until it waits for the socket, is done, or fails. */
static void drive(struct tls_hs_worker *w, struct hs_job *j, struct hs_list *out)
{
    stream_clear_why();
    int rc = stream_tls_handshake(j->s);
    if (rc == -EAGAIN) {
        rc = arm(w, j, stream_want(j->s));
        if (rc == 0) {
            return;
        }
        stream_set_why("TLS handshake worker: epoll_ctl: %s", gw_strerror(rc));
    }
    finish(w, j, rc, rc < 0 ? stream_why() : "", out);
}

/* Milliseconds until the nearest deadline, -1 without handshakes. */
static int next_timeout(const struct tls_hs_worker *w, uint64_t now)
{
    uint64_t best = UINT64_MAX;
    for (const struct hs_job *j = w->active; j; j = j->next) {
        best = j->deadline_ms < best ? j->deadline_ms : best;
    }
    if (best == UINT64_MAX) {
        return -1;
    }
    uint64_t d = best > now ? best - now : 0;
    return d > 60000u ? 60000 : (int)d;
}

static void expire(struct tls_hs_worker *w, uint64_t now, struct hs_list *out)
{
    struct hs_job *j = w->active;
    while (j) {
        struct hs_job *next = j->next;
        if (now >= j->deadline_ms) {
            finish(w, j, GW_E_TIMEOUT, "TLS handshake not done in time", out);
        }
        j = next;
    }
}

/* The owner's requests, under mu: new jobs into fresh (driven once by the
 * caller, outside the lock), a drop answered. Returns false to stop. */
static bool take_requests(struct tls_hs_worker *w, struct hs_job **fresh)
{
    if (w->stop) {
        return false;
    }
    *fresh = list_take_all(&w->todo);
    if (w->drop_asked) {
        struct hs_job *j = w->active;
        while (j) {
            struct hs_job *next = j->next;
            if (j->owner == w->drop_owner) {
                leave_epoll(w, j);
                active_unlink(w, j);
                list_push(&w->dropped, j);
            }
            j = next;
        }
        w->drop_asked = false;
        pthread_cond_broadcast(&w->cv);
    }
    return true;
}

static void hand_back(struct tls_hs_worker *w, struct hs_list *out)
{
    if (!out->head) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (w->done.tail) {
        w->done.tail->next = out->head;
    } else {
        w->done.head = out->head;
    }
    w->done.tail = out->tail;
    pthread_mutex_unlock(&w->mu);
    kick(w->done_fd);
    out->head = NULL;
    out->tail = NULL;
}

/* One pass: wait, drive what is ready, expire, take requests. Returns
 * false to stop. */
static bool worker_pass(struct tls_hs_worker *w)
{
    struct epoll_event ev[HS_EVENTS_MAX];
    struct hs_list out = {NULL, NULL};
    int n = epoll_wait(w->ep, ev, HS_EVENTS_MAX, next_timeout(w, gw_clock_now_ms()));
    for (int i = 0; i < n; i++) {
        /* Each fd is reported once per wait and only finish() removes a
         * job from the set, so every pointer here is still active. */
        if (ev[i].data.ptr) {
            drive(w, ev[i].data.ptr, &out);
        } else {
            drain(w->wake_fd);
        }
    }
    expire(w, gw_clock_now_ms(), &out);
    /* Finished ones onto done before a drop is answered: the owner's
     * drop scans done after the answer, so none of a dropped owner's can
     * reach done later and be called back for a freed owner. */
    hand_back(w, &out);
    struct hs_job *fresh = NULL;
    pthread_mutex_lock(&w->mu);
    bool go_on = take_requests(w, &fresh);
    pthread_mutex_unlock(&w->mu);
    while (go_on && fresh) {
        struct hs_job *next = fresh->next;
        fresh->prev = NULL;
        fresh->next = w->active;
        if (w->active) {
            w->active->prev = fresh;
        }
        w->active = fresh;
        drive(w, fresh, &out); /* the ClientHello may be waiting already */
        fresh = next;
    }
    hand_back(w, &out);
    return go_on;
}

static void *worker_main(void *arg)
{
    struct tls_hs_worker *w = arg;
    (void)pthread_setname_np(pthread_self(), "tern-tls-hs"); /* top -H, /proc/PID/task */
    /* Linux: setpriority on a thread id sets that thread's nice value
     * alone (setpriority(2), NPTL notes). Raising one's own nice value
     * needs no privilege; if it fails anyway the handshakes just compete
     * evenly with the loop. */
    id_t tid = (id_t)gettid();
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0) {
        int target = nice_now + HS_NICE_DELTA > 19 ? 19 : nice_now + HS_NICE_DELTA;
        (void)setpriority(PRIO_PROCESS, tid, target);
    }
    while (worker_pass(w)) {
    }
    return NULL;
}

/* ---- the owner's side ---- */

static void job_free(struct hs_job *j)
{
    stream_destroy(j->s);
    gw_free(j);
}

static size_t free_chain(struct hs_job *j)
{
    size_t n = 0;
    while (j) {
        struct hs_job *next = j->next;
        job_free(j);
        j = next;
        n++;
    }
    return n;
}

int tls_hs_worker_create(tls_hs_done_cb *done, void *ctx, struct tls_hs_worker **out)
{
    struct tls_hs_worker *w = gw_calloc(1, sizeof(*w));
    if (!w) {
        return -ENOMEM;
    }
    w->done_cb = done;
    w->ctx = ctx;
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = 0;
    if (w->wake_fd < 0 || w->done_fd < 0 || w->ep < 0) {
        rc = -errno;
    } else {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &e) < 0) {
            rc = -errno;
        }
    }
    if (rc == 0) {
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        rc = -pthread_create(&w->thread, NULL, worker_main, w);
        if (rc < 0) {
            pthread_cond_destroy(&w->cv);
            pthread_mutex_destroy(&w->mu);
        }
    }
    if (rc < 0) {
        if (w->wake_fd >= 0) {
            (void)close(w->wake_fd);
        }
        if (w->done_fd >= 0) {
            (void)close(w->done_fd);
        }
        if (w->ep >= 0) {
            (void)close(w->ep);
        }
        gw_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int tls_hs_worker_fd(const struct tls_hs_worker *w)
{
    return w->done_fd;
}

int tls_hs_worker_submit(struct tls_hs_worker *w, struct stream *s, void *owner,
                         const struct sockaddr_storage *peer, uint64_t started_ms,
                         uint64_t timeout_ms)
{
    struct hs_job *j = gw_calloc(1, sizeof(*j));
    if (!j) {
        return -ENOMEM;
    }
    j->s = s;
    j->owner = owner;
    j->peer = *peer;
    j->started_ms = started_ms;
    j->deadline_ms = started_ms + timeout_ms;
    w->pending++;
    pthread_mutex_lock(&w->mu);
    list_push(&w->todo, j);
    pthread_mutex_unlock(&w->mu);
    kick(w->wake_fd);
    return 0;
}

void tls_hs_worker_collect(struct tls_hs_worker *w)
{
    drain(w->done_fd);
    pthread_mutex_lock(&w->mu);
    struct hs_job *j = list_take_all(&w->done);
    pthread_mutex_unlock(&w->mu);
    while (j) {
        struct hs_job *next = j->next;
        struct tls_hs_result r = {.s = j->s,
                                  .owner = j->owner,
                                  .peer = &j->peer,
                                  .started_ms = j->started_ms,
                                  .rc = j->rc,
                                  .why = j->why};
        w->pending--;
        w->done_cb(w->ctx, &r); /* the stream is the callback's now */
        gw_free(j);
        j = next;
    }
}

/* Unlink owner's jobs from l (under mu) onto the chain *out. */
static void take_owned(struct hs_list *l, const void *owner, struct hs_job **out)
{
    struct hs_job *keep = list_take_all(l);
    while (keep) {
        struct hs_job *next = keep->next;
        if (keep->owner == owner) {
            keep->next = *out;
            *out = keep;
        } else {
            list_push(l, keep);
        }
        keep = next;
    }
}

size_t tls_hs_worker_drop(struct tls_hs_worker *w, const void *owner)
{
    struct hs_job *gone = NULL;
    pthread_mutex_lock(&w->mu);
    take_owned(&w->todo, owner, &gone);
    w->drop_owner = owner;
    w->drop_asked = true;
    kick(w->wake_fd);
    while (w->drop_asked) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    /* The worker has let go of its active ones; finished ones of owner
     * may wait on done. */
    take_owned(&w->done, owner, &gone);
    struct hs_job *d = list_take_all(&w->dropped);
    pthread_mutex_unlock(&w->mu);
    while (d) {
        struct hs_job *next = d->next;
        d->next = gone;
        gone = d;
        d = next;
    }
    size_t n = free_chain(gone);
    w->pending -= n;
    return n;
}

size_t tls_hs_worker_pending(const struct tls_hs_worker *w)
{
    return w->pending;
}

void tls_hs_worker_destroy(struct tls_hs_worker *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_mutex_unlock(&w->mu);
    kick(w->wake_fd);
    pthread_join(w->thread, NULL);
    /* Joined: every list is this thread's now. */
    (void)free_chain(list_take_all(&w->todo));
    (void)free_chain(list_take_all(&w->done));
    (void)free_chain(list_take_all(&w->dropped));
    (void)free_chain(w->active);
    w->active = NULL;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    (void)close(w->ep);
    (void)close(w->wake_fd);
    (void)close(w->done_fd);
    gw_free(w);
}
