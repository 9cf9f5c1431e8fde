/* auth_worker.c - password checks on a thread of their own. See
 * auth_worker.h. */
#include "auth_worker.h"

#include "alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct auth_worker_req {
    struct auth_pw_job *job;
    auth_worker_done_cb *done;
    void *arg;
    bool ok;
    bool cancelled; /* owner's thread only */
    struct auth_worker_req *next;
};

struct auth_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: */
    struct auth_worker_req *todo_head;
    struct auth_worker_req *todo_tail;
    struct auth_worker_req *done_head;
    struct auth_worker_req *done_tail;
    bool stop;
    /* owner's thread: */
    unsigned pending;
    unsigned max_pending;
    int efd;
};

static void req_free(struct auth_worker_req *r)
{
    auth_pw_job_free(r->job);
    gw_free(r);
}

static void *worker_main(void *arg)
{
    struct auth_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo_head && !w->stop) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        struct auth_worker_req *r = w->todo_head;
        if (!r) {
            break; /* stopping */
        }
        w->todo_head = r->next;
        if (!w->todo_head) {
            w->todo_tail = NULL;
        }
        pthread_mutex_unlock(&w->mu);
        /* The job is ours alone until it is on the done list. */
        r->ok = auth_pw_job_run(r->job);
        r->next = NULL;
        pthread_mutex_lock(&w->mu);
        if (w->done_tail) {
            w->done_tail->next = r;
        } else {
            w->done_head = r;
        }
        w->done_tail = r;
        uint64_t one = 1;
        /* Only a full counter (2^64 - 2) fails: then it is readable anyway. */
        (void)!write(w->efd, &one, sizeof(one));
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int auth_worker_create(unsigned max_pending, struct auth_worker **out)
{
    struct auth_worker *w = gw_calloc(1, sizeof(*w));
    if (!w) {
        return -ENOMEM;
    }
    w->max_pending = max_pending ? max_pending : 1;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        int rc = -errno;
        gw_free(w);
        return rc;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        (void)close(w->efd);
        gw_free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

int auth_worker_fd(const struct auth_worker *w)
{
    return w->efd;
}

struct auth_worker_req *auth_worker_submit(struct auth_worker *w, struct auth_pw_job *job,
                                           auth_worker_done_cb *done, void *arg, int *err)
{
    if (w->pending >= w->max_pending) {
        auth_pw_job_free(job);
        *err = -EBUSY;
        return NULL;
    }
    struct auth_worker_req *r = gw_calloc(1, sizeof(*r));
    if (!r) {
        auth_pw_job_free(job);
        *err = -ENOMEM;
        return NULL;
    }
    r->job = job;
    r->done = done;
    r->arg = arg;
    w->pending++;
    pthread_mutex_lock(&w->mu);
    if (w->todo_tail) {
        w->todo_tail->next = r;
    } else {
        w->todo_head = r;
    }
    w->todo_tail = r;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    *err = 0;
    return r;
}

void auth_worker_cancel(struct auth_worker *w, struct auth_worker_req *r)
{
    (void)w;
    r->cancelled = true; /* read only on this thread, in auth_worker_collect */
}

void auth_worker_collect(struct auth_worker *w)
{
    uint64_t n;
    (void)!read(w->efd, &n, sizeof(n)); /* EAGAIN: nothing to reset */
    pthread_mutex_lock(&w->mu);
    struct auth_worker_req *r = w->done_head;
    w->done_head = NULL;
    w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (r) {
        struct auth_worker_req *next = r->next;
        w->pending--;
        if (!r->cancelled) {
            r->done(r->arg, r->ok);
        }
        req_free(r);
        r = next;
    }
}

unsigned auth_worker_pending(const struct auth_worker *w)
{
    return w->pending;
}

static void free_list(struct auth_worker_req *r)
{
    while (r) {
        struct auth_worker_req *next = r->next;
        req_free(r);
        r = next;
    }
}

void auth_worker_destroy(struct auth_worker *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    /* Checks not started are dropped: their requesters are going too. */
    free_list(w->todo_head);
    w->todo_head = NULL;
    w->todo_tail = NULL;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    free_list(w->done_head);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    (void)close(w->efd);
    gw_free(w);
}
