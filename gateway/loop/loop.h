/* loop.h - the event loop: fd readiness, timers, before-sleep hooks.
 *
 * One loop thread owns every socket and all protocol state (ARCHITECTURE.md).
 * Timers are caller-embedded records in a binary heap keyed by monotonic
 * milliseconds; starting, restarting and stopping one is O(log n) with no
 * allocation. The loop caches "now" once per iteration (loop_now_ms) so
 * state machines get one consistent time per turn.
 *
 * Callbacks may add or remove fds and timers, including their own; an fd
 * removed during an iteration gets no further events in that iteration.
 * Objects reachable from callbacks must not be freed inside their own
 * callback chain: free them from an end-of-iteration hook (STYLE.md 4). */
#ifndef LOOP_H
#define LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

enum loop_events {
    LOOP_READ  = 1u << 0,
    LOOP_WRITE = 1u << 1,
    LOOP_ERROR = 1u << 2 /* reported only: hang-up or error on the fd */
};

typedef void loop_fd_cb(struct loop *l, int fd, unsigned events, void *arg);
typedef void loop_timer_cb(struct loop *l, void *arg);
typedef void loop_hook_cb(struct loop *l, void *arg);

/* A timer lives in its owner's struct. Zero it or loop_timer_init it. */
struct loop_timer {
    uint64_t deadline_ms;
    size_t heap_idx; /* 0 = not armed; otherwise index + 1 */
    loop_timer_cb *cb;
    void *arg;
};

/* Create a loop. Returns 0 and *out, or -errno. */
int loop_create(struct loop **out);

/* Free the loop. Registered fds are not closed. NULL is a no-op. */
void loop_destroy(struct loop *l);

/* Watch fd for events (LOOP_READ / LOOP_WRITE). Returns 0 or -errno. */
int loop_fd_add(struct loop *l, int fd, unsigned events, loop_fd_cb *cb, void *arg);

/* Change the events watched on fd. Returns 0 or -errno. */
int loop_fd_mod(struct loop *l, int fd, unsigned events);

/* Stop watching fd (before closing it). Returns 0 or -errno. */
int loop_fd_del(struct loop *l, int fd);

void loop_timer_init(struct loop_timer *t, loop_timer_cb *cb, void *arg);

/* Arm (or re-arm) t to fire at deadline_ms (monotonic). Returns 0 or -ENOMEM. */
int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t deadline_ms);

/* Disarm t; no-op if not armed. */
void loop_timer_stop(struct loop *l, struct loop_timer *t);

static inline bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_idx != 0;
}

/* Call cb before every sleep (after all events of the iteration): output
 * flushing and deferred frees go here. Hooks run in registration order.
 * Returns 0 or -ENOMEM. */
int loop_hook_add(struct loop *l, loop_hook_cb *cb, void *arg);

/* Remove the hook added with cb and arg (first match; no-op if none).
 * Not from inside a hook. */
void loop_hook_del(struct loop *l, loop_hook_cb *cb, void *arg);

/* Make the next wait for events return at once (a hook left work). */
void loop_skip_sleep(struct loop *l);

/* Input is due within microseconds (a peer on this machine owes an answer
 * to what was just written): before sleeping this turn, yield the CPU once
 * and look for events again without waiting; only if none came, sleep as
 * usual. An answer that comes meanwhile then costs its sender no wake-up
 * of this process (and the sender no preemption by it): issue 15, a
 * bridge replaying into a mosquitto upstream woke once per PUBACK. For
 * this turn only (call it from a before-sleep hook, each turn it holds);
 * it never keeps the loop from sleeping, so nothing spins while idle. */
void loop_expect_input(struct loop *l);

/* Monotonic milliseconds cached at the start of this iteration. */
uint64_t loop_now_ms(const struct loop *l);

/* How many times the loop has woken from its wait so far. The before-sleep
 * hooks of one pass see the same number as the events and timers before
 * them, so a hook can tell whether work queued now would miss its flush
 * (then loop_skip_sleep). */
uint64_t loop_turn(const struct loop *l);

/* How many fd callbacks the loop has run so far: grows when something
 * outside woke it (a timer firing does not count). */
uint64_t loop_fd_events(const struct loop *l);

/* Run until loop_stop. Returns 0, or -errno if epoll_wait fails. */
int loop_run(struct loop *l);

/* Make loop_run return after the current iteration. Callable from callbacks. */
void loop_stop(struct loop *l);

#endif
