/* Unit tests for the event loop (loop_epoll.c): timer order, re-arm and
 * stop, fd readiness, hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alloc.h"
#include "loop.h"

#include <unistd.h>

static int order[16];
static int n_fired;

struct tctx {
    struct loop *l;
    int id;
    int stop_after;
};

static void on_timer(struct loop *l, void *arg)
{
    struct tctx *t = arg;
    order[n_fired++] = t->id;
    if (n_fired == t->stop_after) {
        loop_stop(l);
    }
}

static void test_loop_timers_fire_in_deadline_order(void **state)
{
    (void)state;
    struct loop *l;
    struct loop_timer t[5];
    struct tctx c[5];
    const int delays[5] = {30, 10, 50, 20, 40};
    assert_int_equal(loop_create(&l), 0);
    n_fired = 0;
    for (int i = 0; i < 5; i++) {
        c[i] = (struct tctx){l, i, 4};
        loop_timer_init(&t[i], on_timer, &c[i]);
        assert_int_equal(loop_timer_start(l, &t[i], loop_now_ms(l) + (uint64_t)delays[i]), 0);
    }
    loop_timer_stop(l, &t[2]); /* the 50 ms one never fires */
    assert_false(loop_timer_armed(&t[2]));
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(n_fired, 4);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 0);
    assert_int_equal(order[3], 4);
    loop_destroy(l);
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_loop_timer_rearm_moves_deadline(void **state)
{
    (void)state;
    struct loop *l;
    struct loop_timer a;
    struct loop_timer b;
    struct tctx ca;
    struct tctx cb;
    assert_int_equal(loop_create(&l), 0);
    n_fired = 0;
    ca = (struct tctx){l, 1, 2};
    cb = (struct tctx){l, 2, 2};
    loop_timer_init(&a, on_timer, &ca);
    loop_timer_init(&b, on_timer, &cb);
    assert_int_equal(loop_timer_start(l, &a, loop_now_ms(l) + 5), 0);
    assert_int_equal(loop_timer_start(l, &b, loop_now_ms(l) + 10), 0);
    assert_int_equal(loop_timer_start(l, &a, loop_now_ms(l) + 20), 0); /* later */
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 1);
    loop_destroy(l);
}

static int reads;

static void on_fd(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)arg;
    char c;
    assert_true(events & LOOP_READ);
    assert_int_equal(read(fd, &c, 1), 1);
    reads++;
    (void)loop_fd_del(l, fd);
    loop_stop(l);
}

static int hooks;

static void on_hook(struct loop *l, void *arg)
{
    (void)l;
    (void)arg;
    hooks++;
}

static void test_loop_fd_readable_and_hook(void **state)
{
    (void)state;
    struct loop *l;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(loop_create(&l), 0);
    reads = 0;
    hooks = 0;
    assert_int_equal(loop_fd_add(l, p[0], LOOP_READ, on_fd, NULL), 0);
    assert_int_equal(loop_hook_add(l, on_hook, NULL), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(reads, 1);
    assert_true(hooks >= 1);
    assert_int_equal(loop_fd_events(l), 1);
    loop_destroy(l);
    close(p[0]);
    close(p[1]);
}

/* loop_turn: the events and timers of one wake-up and the hooks after
 * them share a number; the next wake-up has the next one. */
static uint64_t turn_in_timer[2];
static uint64_t turn_in_hook[2];
static int turn_timers;
static int turn_hooks;

static void on_turn_timer(struct loop *l, void *arg)
{
    struct loop_timer *again = arg;
    turn_in_timer[turn_timers++] = loop_turn(l);
    if (turn_timers == 1) {
        (void)loop_timer_start(l, again, loop_now_ms(l) + 5);
    } else {
        loop_stop(l); /* before the hooks of this wake-up */
    }
}

static void on_turn_hook(struct loop *l, void *arg)
{
    (void)arg;
    if (turn_hooks < 2) {
        turn_in_hook[turn_hooks] = loop_turn(l);
    }
    turn_hooks++;
}

static void test_loop_turn_counts_wakeups(void **state)
{
    (void)state;
    struct loop *l;
    struct loop_timer t;
    assert_int_equal(loop_create(&l), 0);
    turn_timers = 0;
    turn_hooks = 0;
    assert_int_equal(loop_turn(l), 0);
    loop_timer_init(&t, on_turn_timer, &t);
    assert_int_equal(loop_timer_start(l, &t, loop_now_ms(l) + 5), 0);
    assert_int_equal(loop_hook_add(l, on_turn_hook, NULL), 0);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(turn_timers, 2);
    assert_int_equal(turn_hooks, 2); /* before the first wait, after the first timer */
    assert_int_equal(turn_in_hook[0], 0);
    assert_int_equal(turn_in_timer[0], 1);
    assert_int_equal(turn_in_hook[1], turn_in_timer[0]);
    assert_int_equal(turn_in_timer[1], 2);
    assert_int_equal(loop_fd_events(l), 0); /* timers are not fd events */
    loop_destroy(l);
}

/* loop_expect_input: the loop looks once more before it sleeps, but it
 * still sleeps. A hook that asks every turn, a pipe that never becomes
 * readable and one timer 30 ms away: a handful of turns, not the
 * thousands a loop that polled instead of sleeping would make. */
static void on_expect_hook(struct loop *l, void *arg)
{
    (void)arg;
    loop_expect_input(l);
}

static void on_stop_timer(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void on_never(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    (void)arg;
    fail_msg("the pipe was never written");
}

static void test_loop_expect_input_still_sleeps(void **state)
{
    (void)state;
    struct loop *l;
    struct loop_timer t;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(loop_create(&l), 0);
    assert_int_equal(loop_fd_add(l, p[0], LOOP_READ, on_never, NULL), 0);
    assert_int_equal(loop_hook_add(l, on_expect_hook, NULL), 0);
    loop_timer_init(&t, on_stop_timer, NULL);
    assert_int_equal(loop_timer_start(l, &t, loop_now_ms(l) + 30), 0);
    assert_int_equal(loop_run(l), 0);
    assert_true(loop_turn(l) <= 3);
    assert_int_equal(loop_fd_events(l), 0);
    loop_destroy(l);
    close(p[0]);
    close(p[1]);
}

/* With input waiting, the second look finds it: handled in one turn,
 * once (not lost between the look and the wait, not dispatched twice). */
static void test_loop_expect_input_handles_waiting_input(void **state)
{
    (void)state;
    struct loop *l;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(loop_create(&l), 0);
    reads = 0;
    assert_int_equal(loop_fd_add(l, p[0], LOOP_READ, on_fd, NULL), 0);
    assert_int_equal(loop_hook_add(l, on_expect_hook, NULL), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(reads, 1);
    assert_int_equal(loop_turn(l), 1);
    assert_int_equal(loop_fd_events(l), 1);
    loop_destroy(l);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_loop_timers_fire_in_deadline_order),
            cmocka_unit_test(test_loop_timer_rearm_moves_deadline),
            cmocka_unit_test(test_loop_fd_readable_and_hook),
            cmocka_unit_test(test_loop_turn_counts_wakeups),
            cmocka_unit_test(test_loop_expect_input_still_sleeps),
            cmocka_unit_test(test_loop_expect_input_handles_waiting_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
