/* test_route_retain.c - retained messages: set, replace, clear, wildcard match,
 * allocation failure. */
#include "route_fixture.h"

#include "alloc.h"
#include "msg.h"
#include "route.h"
#include "topic.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- retained ------------------------------------------------------------ */

static bool seen_topic(const struct seen *s, const char *topic)
{
    for (size_t i = 0; i < s->n; i++) {
        if (gw_bytes_eq(msg_topic(s->m[i]), bs(topic))) {
            return true;
        }
    }
    return false;
}

static void test_route_retain_set_replace_clear(void **state)
{
    struct fixture *f = *state;
    struct seen s;
    size_t empty = gw_alloc_bytes();
    retain(f, "a/b", "1");
    retain(f, "a/b/c", "2");
    assert_int_equal(route_retain_count(f->r), 2);
    retain(f, "a/b", "3"); /* replaces, old one freed by its last unref */
    assert_int_equal(route_retain_count(f->r), 2);
    assert_int_equal(rmatch(f, "a/b", &s), 1);
    assert_int_equal(s.m[0]->payload[0], '3');
    assert_int_equal(s.m[0]->refs, 1); /* only the router holds it */
    retain(f, "a/b", "");              /* [MQTT-3.3.1-10] clears */
    assert_int_equal(route_retain_count(f->r), 1);
    assert_int_equal(rmatch(f, "a/b", &s), 0);
    assert_int_equal(rmatch(f, "a/#", &s), 1);
    retain(f, "x/y", ""); /* clearing nothing is fine */
    retain(f, "a/b/c", "");
    assert_int_equal(route_retain_count(f->r), 0);
    assert_int_equal(gw_alloc_bytes(), empty); /* nodes pruned */
}

static void test_route_retain_match_wildcards(void **state)
{
    struct fixture *f = *state;
    struct seen s;
    const char *topics[] = {
            "sport", "sport/tennis", "sport/tennis/p1", "sport/golf", "/finance", "$SYS/uptime",
            "$SYS",  "a//b",         "sport/",          "news/x/y/z"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        retain(f, topics[i], "p");
    }
    assert_int_equal(rmatch(f, "#", &s), 8); /* no $ topics [MQTT-4.7.2-1] */
    assert_false(seen_topic(&s, "$SYS"));
    assert_int_equal(rmatch(f, "sport/#", &s), 5);
    assert_true(seen_topic(&s, "sport"));
    assert_true(seen_topic(&s, "sport/"));
    assert_int_equal(rmatch(f, "sport/+", &s), 3);
    assert_int_equal(rmatch(f, "+", &s), 1);
    assert_true(seen_topic(&s, "sport"));
    assert_int_equal(rmatch(f, "+/+", &s), 4);
    assert_true(seen_topic(&s, "/finance"));
    assert_false(seen_topic(&s, "$SYS/uptime"));
    assert_int_equal(rmatch(f, "/+", &s), 1);
    assert_int_equal(rmatch(f, "$SYS/#", &s), 2);
    assert_int_equal(rmatch(f, "$SYS/+", &s), 1);
    assert_int_equal(rmatch(f, "+/uptime", &s), 0);
    assert_int_equal(rmatch(f, "a/+/b", &s), 1);
    assert_int_equal(rmatch(f, "news/+/+/z", &s), 1);
    assert_int_equal(rmatch(f, "news/+/+", &s), 0);
    assert_int_equal(rmatch(f, "news/x/#", &s), 1);
    assert_int_equal(rmatch(f, "sport/tennis/p1", &s), 1);
    assert_int_equal(rmatch(f, "sport/tennis/p2", &s), 0);
    assert_int_equal(rmatch(f, "nope/#", &s), 0);
}

/* ---- allocation failure ------------------------------------------------- */

static void test_route_retain_set_alloc_fail_unchanged(void **state)
{
    struct fixture *f = *state;
    const char *topics[] = {"a/b/c", "a/b", "a/x/y/z", "a/b/d", "a/b/e", "a/b/f", "q"};
    struct gw_bytes none = {NULL, 0};
    struct seen s;
    for (size_t k = 0; k < sizeof(topics) / sizeof(topics[0]); k++) {
        struct msg *m = msg_create(bs(topics[k]), bs("v"), none, 0, true);
        assert_non_null(m);
        for (long n = 0;; n++) {
            size_t count = route_retain_count(f->r);
            gw_alloc_fail_at(n, 0);
            int rc = route_retain_set(f->r, m);
            gw_alloc_fail_at(-1, 0);
            if (rc == 0) {
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(route_retain_count(f->r), count);
            assert_int_equal(rmatch(f, "#", &s), count);
            assert_int_equal(m->refs, 1);
        }
        assert_int_equal(m->refs, 2);
        msg_unref(m);
    }
    assert_int_equal(rmatch(f, "#", &s), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_route_retain_set_replace_clear, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_retain_match_wildcards, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_retain_set_alloc_fail_unchanged, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
