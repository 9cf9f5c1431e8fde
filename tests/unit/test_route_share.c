/* test_route_share.c - shared subscriptions (MQTT 5.0 section 4.8.2): round robin,
 * groups, unwilling members, cursors, allocation failure. */
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

static uint32_t group_of(const struct fixture *f, const char *name, const char *filter)
{
    uint32_t idx = ROUTE_SHARE_NONE;
    assert_int_equal(route_share_find(f->r, bs(name), bs(filter), &idx), 0);
    assert_true(idx != ROUTE_SHARE_NONE);
    return idx;
}

/* ---- shared subscriptions (MQTT 5.0 section 4.8.2) ------------------------ */

static void test_route_share_round_robin(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    bool replaced = true;
    add(f, "$share/g/a/b", 1, 1);
    add(f, "$share/g/a/b", 2, 2);
    add(f, "$share/g/a/b", 3, 0);
    assert_int_equal(route_sub_count(f->r), 3); /* shared subscriptions count */
    assert_int_equal(route_share_count(f->r), 1);
    uint32_t g = group_of(f, "g", "a/b");
    assert_int_equal(route_share_members(f->r, g), 3);
    assert_true(gw_bytes_eq(route_share_filter(f->r, g), bs("$share/g/a/b")));
    for (int k = 0; k < 9; k++) {
        assert_int_equal(match(f, "a/b", q), 0); /* no normal hit */
        assert_int_equal(f->nsh, 1);
        int ep = 1 + k % 3; /* 1, 2, 3, 1, 2, 3, ... */
        assert_ptr_equal(f->sh[0].ep, &f->eps[ep]);
        assert_true(f->sh[0].shared);
        assert_int_equal(f->sh[0].group_idx, g);
        assert_int_equal(f->sh[0].qos, (ep == 1) ? 1 : (ep == 2) ? 2 : 0);
        assert_int_equal(f->sh[0].options, f->sh[0].qos | 0x10);
        assert_int_equal(f->sh[0].sub_id, ep + 100);
    }
    /* Replacing a membership keeps its place in the round robin
     * [MQTT-3.8.4-3]. */
    assert_int_equal(route_sub_add(f->r, bs("$share/g/a/b"), &f->eps[2], 1, 0, 9, &replaced), 0);
    assert_true(replaced);
    assert_int_equal(route_sub_count(f->r), 3);
    match(f, "a/b", q);
    assert_int_equal(picked(f, "$share/g/a/b"), 1);
    match(f, "a/b", q);
    assert_int_equal(picked(f, "$share/g/a/b"), 2);
    assert_int_equal(f->sh[0].qos, 1);
    assert_int_equal(f->sh[0].sub_id, 9);
    match(f, "a/c", q); /* other topics leave the cursor alone */
    assert_int_equal(f->nsh, 0);
    match(f, "a/b", q);
    assert_int_equal(picked(f, "$share/g/a/b"), 3);
    /* A new member joins last; whose turn it is does not change. */
    match(f, "a/b", q);
    assert_int_equal(picked(f, "$share/g/a/b"), 1);
    add(f, "$share/g/a/b", 5, 0);
    const int order[] = {2, 3, 5, 1, 2};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        match(f, "a/b", q);
        assert_int_equal(picked(f, "$share/g/a/b"), order[k]);
    }
    /* "$share" alone is an ordinary filter. */
    add(f, "$share", 4, 0);
    assert_int_equal(match(f, "$share", q), 1);
    assert_int_equal(q[4], 0);
    assert_int_equal(f->nsh, 0);
}

static void test_route_share_two_groups_same_filter(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "$share/g1/a/b", 0, 1);
    add(f, "$share/g1/a/b", 1, 1);
    add(f, "$share/g2/a/b", 2, 1);
    add(f, "a/b", 5, 0);
    assert_int_equal(route_share_count(f->r), 2);
    assert_true(group_of(f, "g1", "a/b") != group_of(f, "g2", "a/b"));
    for (int k = 0; k < 4; k++) {
        assert_int_equal(match(f, "a/b", q), 1); /* the normal subscriber */
        assert_int_equal(q[5], 0);
        assert_int_equal(f->nsh, 2); /* one copy per group */
        assert_int_equal(picked(f, "$share/g1/a/b"), k % 2);
        assert_int_equal(picked(f, "$share/g2/a/b"), 2);
    }
    uint32_t idx = 0;
    assert_int_equal(route_share_find(f->r, bs("g3"), bs("a/b"), &idx), -ENOENT);
    assert_int_equal(route_share_find(f->r, bs("g1"), bs("a/c"), &idx), -ENOENT);
    assert_int_equal(route_share_find(f->r, bs("g1"), bs("a"), &idx), -ENOENT);
}

/* A member that is also a normal subscriber gets both copies: two hits for
 * the same ep, and normal hits are still one per ep. */
static void test_route_share_member_also_normal(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "$share/g/a/b", 0, 1);
    add(f, "$share/g/a/b", 1, 1);
    add(f, "a/+", 0, 0);
    add(f, "a/b", 0, 2);
    add(f, "a/#", 0, 1);
    const struct route_hit *hits = NULL;
    assert_int_equal(route_match(f->r, bs("a/b"), &hits), 2);
    assert_ptr_equal(hits[0].ep, &f->eps[0]);
    assert_ptr_equal(hits[1].ep, &f->eps[0]);
    assert_true(hits[0].shared != hits[1].shared);
    for (int k = 0; k < 2; k++) {
        if (!hits[k].shared) {
            assert_int_equal(hits[k].qos, 2); /* [MQTT-3.3.5-1] */
        }
    }
    assert_int_equal(match(f, "a/b", q), 1);
    assert_int_equal(q[0], 2);
    assert_int_equal(picked(f, "$share/g/a/b"), 1);
    /* A match_idx pointing at a shared hit of the same ep (here the one
     * from "a/#", which the walk reports before "a/b") must not merge the
     * normal subscription into it. */
    assert_int_equal(route_sub_del(f->r, bs("a/+"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("a/#"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("$share/g/a/b"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("$share/g/a/b"), &f->eps[1]), 0);
    add(f, "$share/s/a/#", 0, 1);
    f->eps[0].match_gen += 1; /* what the next generation will be */
    f->eps[0].match_idx = 0;
    assert_int_equal(route_match(f->r, bs("a/b"), &hits), 2);
    assert_true(hits[0].shared);
    assert_int_equal(hits[0].qos, 1);
    assert_false(hits[1].shared);
    assert_int_equal(hits[1].qos, 2);
    assert_ptr_equal(hits[1].ep, &f->eps[0]);
}

struct refuse {
    const struct fixture *f;
    bool no[MAX_EPS]; /* eps that cannot take the message */
    int asked[16];    /* eps offered, in order */
    int nasked;
};

static bool refuse_ok(void *arg, const struct route_hit *cand)
{
    struct refuse *rf = arg;
    int ep = (int)(cand->ep - rf->f->eps);
    assert_true(cand->shared);
    assert_true(rf->nasked < 16);
    rf->asked[rf->nasked++] = ep;
    return !rf->no[ep];
}

static void test_route_share_next_skips_unwilling(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    struct refuse rf;
    struct route_hit out;
    memset(&rf, 0, sizeof(rf));
    rf.f = f;
    for (int ep = 0; ep < 4; ep++) {
        add(f, "$share/g/t", ep, (uint8_t)(ep % 3));
    }
    uint32_t g = group_of(f, "g", "t");
    const struct route_hit *hits = NULL;
    assert_int_equal(route_match(f->r, bs("t"), &hits), 1);
    assert_ptr_equal(hits[0].ep, &f->eps[0]);
    /* ep 0 is offline: ask for another; ep 1 is next. The hit array is left
     * alone. */
    rf.no[0] = true;
    assert_ptr_equal(route_share_next(f->r, hits[0].group_idx, refuse_ok, &rf, &out), &f->eps[1]);
    assert_ptr_equal(hits[0].ep, &f->eps[0]);
    assert_int_equal(rf.nasked, 1);
    assert_int_equal(out.qos, 1);
    assert_int_equal(out.sub_id, 101);
    assert_int_equal(out.group_idx, g);
    assert_true(out.shared);
    match(f, "t", q); /* the turn moved past ep 1 */
    assert_int_equal(picked(f, "$share/g/t"), 2);
    /* ep 3 and 0 refuse: 1 takes it. */
    rf.no[3] = true;
    rf.nasked = 0;
    assert_ptr_equal(route_share_next(f->r, g, refuse_ok, &rf, NULL), &f->eps[1]);
    assert_int_equal(rf.nasked, 3);
    assert_int_equal(rf.asked[0], 3);
    assert_int_equal(rf.asked[1], 0);
    assert_int_equal(rf.asked[2], 1);
    /* Nobody willing: each member offered once, NULL, out untouched, and
     * the cursor where it was (on ep 2). */
    rf.no[1] = true;
    rf.no[2] = true;
    rf.nasked = 0;
    out.sub_id = 777;
    assert_null(route_share_next(f->r, g, refuse_ok, &rf, &out));
    assert_int_equal(rf.nasked, 4);
    assert_int_equal(rf.asked[0], 2);
    assert_int_equal(out.sub_id, 777);
    /* ok == NULL takes whoever's turn it is. */
    assert_ptr_equal(route_share_next(f->r, g, NULL, NULL, NULL), &f->eps[2]);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 3);
    /* Handles that name no group. */
    assert_null(route_share_next(f->r, g + 1, NULL, NULL, &out));
    assert_null(route_share_next(f->r, ROUTE_SHARE_NONE, NULL, NULL, &out));
    assert_int_equal(route_share_members(f->r, ROUTE_SHARE_NONE), 0);
    assert_null(route_share_filter(f->r, g + 1).p);
    assert_int_equal(out.sub_id, 777);
}

/* Leaving members keep the turn where it was. */
static void test_route_share_del_keeps_cursor(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "x", 9, 0); /* keep the match arrays warm and the tree non-empty */
    match(f, "x", q);
    size_t warm = gw_alloc_bytes();
    for (int ep = 0; ep < 5; ep++) {
        add(f, "$share/g/t", ep, 0);
    }
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 0); /* turn: 1 */
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t"), &f->eps[1]), 0);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 2); /* its turn passed on; turn: 3 */
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t"), &f->eps[0]), 0);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 3); /* still 3's turn; turn: 4 */
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t"), &f->eps[4]), 0);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 2); /* the last left: wraps */
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t"), &f->eps[4]), -ENOENT);
    assert_int_equal(route_sub_del(f->r, bs("$share/h/t"), &f->eps[2]), -ENOENT);
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t/u"), &f->eps[2]), -ENOENT);
    assert_int_equal(route_sub_del(f->r, bs("t"), &f->eps[2]), -ENOENT); /* not normal */
    assert_int_equal(route_sub_count(f->r), 3);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 3);
    uint32_t g = group_of(f, "g", "t");
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t"), &f->eps[3]), 0);
    assert_int_equal(route_share_members(f->r, g), 1);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 2);
    match(f, "t", q);
    assert_int_equal(picked(f, "$share/g/t"), 2);
    assert_int_equal(route_sub_del(f->r, bs("$share/g/t"), &f->eps[2]), 0);
    /* The last member took the group, its node and its handle with it. */
    uint32_t idx = 0;
    assert_int_equal(route_share_find(f->r, bs("g"), bs("t"), &idx), -ENOENT);
    assert_int_equal(route_share_count(f->r), 0);
    assert_int_equal(route_share_members(f->r, g), 0);
    assert_null(route_share_filter(f->r, g).p);
    assert_null(route_share_next(f->r, g, NULL, NULL, NULL));
    assert_int_equal(route_sub_count(f->r), 1);
    assert_int_equal(match(f, "t", q), 0);
    assert_int_equal(f->nsh, 0);
    /* Only the handle table stays (it keeps its capacity). */
    size_t now = gw_alloc_bytes();
    assert_true(now >= warm && now <= warm + 128);
    /* A freed handle is reused by the next group. */
    add(f, "$share/k/t", 0, 0);
    assert_int_equal(group_of(f, "k", "t"), g);
}

static void test_route_share_wildcards_and_dollar(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "$share/g/#", 0, 0);
    add(f, "$share/g/+/x", 1, 0); /* same ShareName, other filter: other group */
    add(f, "$share/h/$SYS/#", 2, 0);
    add(f, "$share/h/+", 3, 0);
    add(f, "$share/h/+", 4, 0);
    assert_int_equal(route_share_count(f->r), 4);
    match(f, "a/x", q);
    assert_int_equal(f->nsh, 2);
    assert_int_equal(picked(f, "$share/g/#"), 0);
    assert_int_equal(picked(f, "$share/g/+/x"), 1);
    match(f, "a", q);
    assert_int_equal(f->nsh, 2);
    assert_int_equal(picked(f, "$share/g/#"), 0);
    assert_int_equal(picked(f, "$share/h/+"), 3);
    match(f, "b", q);
    assert_int_equal(picked(f, "$share/h/+"), 4);
    /* A share filter starting with a wildcard does not match a '$' topic
     * [MQTT-4.7.2-1]. */
    match(f, "$SYS/x", q);
    assert_int_equal(f->nsh, 1);
    assert_int_equal(picked(f, "$share/h/$SYS/#"), 2);
    match(f, "$SYS", q);
    assert_int_equal(f->nsh, 1);
    assert_int_equal(picked(f, "$share/h/$SYS/#"), 2);
    /* A topic that looks like a shared filter is just a '$' topic. */
    match(f, "$share/g/x", q);
    assert_int_equal(f->nsh, 0);
}

static void test_route_share_invalid_filters(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {"$share/g",    "$share//a",  "$share/",       "$share/g/",
                         "$share/g+/a", "$share/#/a", "$share/g/a/#/b"};
    size_t b0 = gw_alloc_bytes();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(route_sub_add(f->r, bs(bad[i]), &f->eps[0], 0, 0, 0, NULL), -EINVAL);
        assert_int_equal(route_sub_del(f->r, bs(bad[i]), &f->eps[0]), -ENOENT);
    }
    assert_int_equal(route_sub_count(f->r), 0);
    assert_int_equal(route_share_count(f->r), 0);
    assert_int_equal(gw_alloc_bytes(), b0);
}

/* A warm router matches groups without allocating. */
static void test_route_share_match_no_alloc_when_warm(void **state)
{
    struct fixture *f = *state;
    char full[32];
    int q[MAX_EPS];
    for (int i = 0; i < 40; i++) {
        (void)snprintf(full, sizeof(full), "$share/g%d/dev/+", i % 20);
        add(f, full, i, 1);
        add(f, "dev/#", i, 0);
    }
    assert_int_equal(match(f, "dev/1", q), 40);
    assert_int_equal(f->nsh, 20);
    gw_alloc_fail_at(0, 1);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(match(f, "dev/1", q), 40);
        assert_int_equal(f->nsh, 20);
        /* g0 has eps 0 and 20: they alternate. */
        assert_int_equal(picked(f, "$share/g0/dev/+"), (k % 2) ? 0 : 20);
    }
    gw_alloc_fail_at(-1, 0);
}

/* The groups, by their members, in a fixed order: what a failed add must
 * leave as it was. */
static void share_snapshot(struct fixture *f, const char *const *fulls, size_t n, size_t out[16])
{
    for (size_t i = 0; i < n; i++) {
        struct gw_bytes name;
        struct gw_bytes filter;
        uint32_t idx = ROUTE_SHARE_NONE;
        assert_true(topic_share_parse(bs(fulls[i]), &name, &filter));
        out[i] = route_share_find(f->r, name, filter, &idx) == 0 ? route_share_members(f->r, idx)
                                                                 : 0;
    }
}

static void test_route_share_add_alloc_fail_unchanged(void **state)
{
    struct fixture *f = *state;
    const char *fulls[] = {"$share/g/a/b", "$share/g/a/b", "$share/h/a/b", "$share/g/a/+",
                           "$share/g/#",   "$share/g/a/b", "$share/i/a/b", "$share/j/a/b",
                           "$share/k/a/b", "$share/g/a/b", "$share/g/a/b", "$share/h/x/y/z"};
    size_t nf = sizeof(fulls) / sizeof(fulls[0]);
    int before[4][MAX_EPS];
    int after[4][MAX_EPS];
    size_t gb[16];
    size_t ga[16];
    add(f, "a/b", 9, 1); /* a node that is in use already */
    for (size_t k = 0; k < nf; k++) {
        int ep = (int)k % 5;
        for (long n = 0;; n++) {
            snapshot(f, before); /* warms the match arrays first */
            share_snapshot(f, fulls, nf, gb);
            size_t count = route_sub_count(f->r);
            size_t groups = route_share_count(f->r);
            gw_alloc_fail_at(n, 0);
            int rc = route_sub_add(f->r, bs(fulls[k]), &f->eps[ep], 1, 0, 0, NULL);
            gw_alloc_fail_at(-1, 0);
            if (rc == 0) {
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(route_sub_count(f->r), count);
            assert_int_equal(route_share_count(f->r), groups);
            snapshot(f, after);
            share_snapshot(f, fulls, nf, ga);
            assert_memory_equal(before, after, sizeof(before));
            assert_memory_equal(gb, ga, nf * sizeof(gb[0]));
            assert_true(n < 100);
        }
    }
    assert_int_equal(route_sub_count(f->r), 11); /* "$share/g/a/b" by ep 0: 3 times */
    assert_int_equal(route_share_count(f->r), 8);
    /* Every membership leaves cleanly; teardown checks nothing leaked. */
    for (size_t k = 0; k < nf; k++) {
        (void)route_sub_del(f->r, bs(fulls[k]), &f->eps[(int)k % 5]);
    }
    assert_int_equal(route_sub_count(f->r), 1);
    assert_int_equal(route_share_count(f->r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_route_share_round_robin, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_share_two_groups_same_filter, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_share_member_also_normal, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_share_next_skips_unwilling, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_share_del_keeps_cursor, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_share_wildcards_and_dollar, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_share_invalid_filters, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_share_match_no_alloc_when_warm, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_share_add_alloc_fail_unchanged, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
