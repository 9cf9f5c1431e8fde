/* auth_worker.h - password checks on a thread of their own.
 *
 * A PBKDF2 check costs up to AUTH_PBKDF2_MAX_ITERATIONS HMACs: tens of
 * milliseconds on a small board, far more with a high iteration count. On
 * the event loop, a few CONNECTs with wrong passwords would stall every
 * client. The worker runs them one at a time on its own thread, like the
 * store writer (storage/store_writer.c), and hands results back through an
 * eventfd the owner watches on its loop.
 *
 * At most max_pending checks wait or run at once: a flood of CONNECTs
 * with passwords is refused (auth_worker_submit returns NULL with
 * -EBUSY) instead of queueing without bound.
 *
 * Threads: auth_worker_submit, _cancel, _collect, _pending and _destroy
 * are for the owner's (loop) thread only; the worker thread touches only
 * the jobs it was given. */
#ifndef AUTH_WORKER_H
#define AUTH_WORKER_H

#include "auth.h"

#include <stdbool.h>

struct auth_worker;
struct auth_worker_req; /* one submitted check, until its callback ran */

/* Called on the owner's thread from auth_worker_collect: ok is the
 * check's answer. Not called for a cancelled request. */
typedef void auth_worker_done_cb(void *arg, bool ok);

/* Start the thread. Returns 0 and *out, or -errno. */
int auth_worker_create(unsigned max_pending, struct auth_worker **out);

/* Readable when results are waiting: watch it and call auth_worker_collect. */
int auth_worker_fd(const struct auth_worker *w);

/* Queue job (owned by the worker from here on). Returns the request, or
 * NULL with *err = -EBUSY (max_pending reached) or -ENOMEM; job is freed
 * then too. */
struct auth_worker_req *auth_worker_submit(struct auth_worker *w, struct auth_pw_job *job,
                                           auth_worker_done_cb *done, void *arg, int *err);

/* The requester is gone: done will not be called for r (r is freed when
 * the worker is done with it; do not use it again). */
void auth_worker_cancel(struct auth_worker *w, struct auth_worker_req *r);

/* Run the callbacks of finished checks, in the order they finished. */
void auth_worker_collect(struct auth_worker *w);

/* Checks queued or running. */
unsigned auth_worker_pending(const struct auth_worker *w);

/* Stop the thread (the check running finishes first), free every request
 * without calling back. NULL is a no-op. */
void auth_worker_destroy(struct auth_worker *w);

#endif
