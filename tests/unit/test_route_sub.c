/* test_route_sub.c - the subscription tree and matching: add, replace, delete,
 * prune, the $ rule, deduplication, deep topics, allocation failure. */
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

static void test_route_create_destroy_empty(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    assert_int_equal(route_sub_count(f->r), 0);
    assert_int_equal(route_retain_count(f->r), 0);
    assert_int_equal(match(f, "a/b", q), 0);
    assert_int_equal(route_sub_del(f->r, bs("a/b"), &f->eps[0]), -ENOENT);
    route_destroy(NULL);
}

static void test_route_add_replace_del_prune(void **state)
{
    struct fixture *f = *state;
    bool replaced = false;
    int q[MAX_EPS];
    add(f, "a/b/c", 0, 1);
    add(f, "a/b/c", 1, 0);
    add(f, "a/+/c", 0, 0);
    assert_int_equal(route_sub_count(f->r), 3);
    /* Same ep, same filter: replaced, count unchanged [MQTT-3.8.4-3]. */
    assert_int_equal(route_sub_add(f->r, bs("a/b/c"), &f->eps[0], 2, 0, 7, &replaced), 0);
    assert_true(replaced);
    assert_int_equal(route_sub_count(f->r), 3);
    assert_int_equal(route_sub_add(f->r, bs("a/b/c"), &f->eps[0], 2, 0, 7, NULL), 0);
    assert_int_equal(match(f, "a/b/c", q), 2);
    assert_int_equal(q[0], 2);
    assert_int_equal(q[1], 0);
    assert_int_equal(route_sub_del(f->r, bs("a/b/c"), &f->eps[2]), -ENOENT);
    assert_int_equal(route_sub_del(f->r, bs("a/b"), &f->eps[0]), -ENOENT);
    assert_int_equal(route_sub_del(f->r, bs("a/b/c/d"), &f->eps[0]), -ENOENT);
    assert_int_equal(route_sub_del(f->r, bs("a/b/c"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("a/b/c"), &f->eps[0]), -ENOENT);
    assert_int_equal(route_sub_count(f->r), 2);
    assert_int_equal(match(f, "a/b/c", q), 2);
    assert_int_equal(q[0], 0); /* still via a/+/c */
    assert_int_equal(route_sub_del(f->r, bs("a/+/c"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("a/b/c"), &f->eps[1]), 0);
    assert_int_equal(route_sub_count(f->r), 0);
    assert_int_equal(match(f, "a/b/c", q), 0);
    /* Every node is pruned: the heap is back to what it was (the match
     * arrays have grown already and keep their size). */
    size_t warm = gw_alloc_bytes();
    add(f, "p/q/r/s/t", 3, 1);
    add(f, "p/q/+/#", 4, 1);
    add(f, "#", 5, 1);
    assert_int_equal(route_sub_del(f->r, bs("p/q/+/#"), &f->eps[4]), 0);
    assert_int_equal(route_sub_del(f->r, bs("#"), &f->eps[5]), 0);
    assert_int_equal(route_sub_del(f->r, bs("p/q/r/s/t"), &f->eps[3]), 0);
    assert_int_equal(gw_alloc_bytes(), warm);
}

/* A filter's first subscription is kept inline in its node, the second
 * moves both to an array (route_priv.h): every step of 1 -> 2 -> 1 -> 0
 * -> 1 keeps exactly the subscriptions that are left, with their
 * options, and a failed move to the array leaves the first one as it was. */
static void test_route_inline_sub_grow_shrink(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    const struct route_hit *hits = NULL;
    add(f, "s/1", 0, 1);
    assert_int_equal(route_match(f->r, bs("s/1"), &hits), 1);
    assert_int_equal(hits[0].sub_id, 100);
    assert_int_equal(hits[0].options, 0x11);
    /* The move to an array fails: the inline one stays. */
    gw_alloc_fail_at(0, 1);
    assert_int_equal(route_sub_add(f->r, bs("s/1"), &f->eps[1], 2, 0, 0, NULL), -ENOMEM);
    gw_alloc_fail_at(-1, 0);
    assert_int_equal(match(f, "s/1", q), 1);
    assert_int_equal(q[0], 1);
    add(f, "s/1", 1, 2);
    assert_int_equal(match(f, "s/1", q), 2);
    assert_int_equal(q[0], 1);
    assert_int_equal(q[1], 2);
    assert_int_equal(route_sub_del(f->r, bs("s/1"), &f->eps[0]), 0);
    assert_int_equal(match(f, "s/1", q), 1);
    assert_int_equal(q[1], 2);
    assert_int_equal(route_sub_del(f->r, bs("s/1"), &f->eps[1]), 0);
    assert_int_equal(match(f, "s/1", q), 0);
    add(f, "s/1", 2, 0);
    assert_int_equal(match(f, "s/1", q), 1);
    assert_int_equal(q[2], 0);
    assert_int_equal(route_sub_del(f->r, bs("s/1"), &f->eps[2]), 0);
    assert_int_equal(route_sub_count(f->r), 0);
}

/* route_sys_sub_count: subscriptions that can match $SYS ([MQTT-4.7.2-1]:
 * only a literal first level "$SYS"), shared ones too; a replaced one is
 * counted once, a removed one no more. */
static void test_route_sys_sub_count(void **state)
{
    struct fixture *f = *state;
    add(f, "#", 0, 0);
    add(f, "+/broker/uptime", 0, 0);
    add(f, "$SYSX/a", 0, 0);
    add(f, "a/$SYS", 0, 0);
    assert_int_equal(route_sys_sub_count(f->r), 0);
    add(f, "$SYS/#", 0, 0);
    bool replaced = false;
    assert_int_equal(route_sub_add(f->r, bs("$SYS/#"), &f->eps[0], 1, 0, 0, &replaced), 0);
    assert_true(replaced); /* counted once */
    add(f, "$SYS", 1, 0);
    assert_int_equal(route_sub_add(f->r, bs("$share/g/$SYS/broker/+"), &f->eps[2], 0, 0, 0, NULL),
                     0);
    assert_int_equal(route_sub_add(f->r, bs("$share/g/x/#"), &f->eps[2], 0, 0, 0, NULL), 0);
    assert_int_equal(route_sys_sub_count(f->r), 3);
    assert_int_equal(route_sub_del(f->r, bs("$SYS/#"), &f->eps[1]), -ENOENT);
    assert_int_equal(route_sys_sub_count(f->r), 3);
    assert_int_equal(route_sub_del(f->r, bs("$SYS/#"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("$share/g/$SYS/broker/+"), &f->eps[2]), 0);
    assert_int_equal(route_sys_sub_count(f->r), 1);
    assert_int_equal(route_sub_del(f->r, bs("$SYS"), &f->eps[1]), 0);
    assert_int_equal(route_sys_sub_count(f->r), 0);
    assert_int_equal(route_sub_del(f->r, bs("#"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("+/broker/uptime"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("$SYSX/a"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("a/$SYS"), &f->eps[0]), 0);
    assert_int_equal(route_sub_del(f->r, bs("$share/g/x/#"), &f->eps[2]), 0);
}

static void test_route_match_dedup_max_qos(void **state)
{
    struct fixture *f = *state;
    const struct route_hit *hits = NULL;
    assert_int_equal(route_sub_add(f->r, bs("a/b"), &f->eps[0], 0, 0xa0, 1, NULL), 0);
    assert_int_equal(route_sub_add(f->r, bs("a/+"), &f->eps[0], 2, 0xa2, 2, NULL), 0);
    assert_int_equal(route_sub_add(f->r, bs("#"), &f->eps[0], 1, 0xa1, 3, NULL), 0);
    assert_int_equal(route_sub_add(f->r, bs("a/#"), &f->eps[0], 1, 0xa1, 4, NULL), 0);
    assert_int_equal(route_sub_add(f->r, bs("+/b"), &f->eps[1], 1, 0xb1, 5, NULL), 0);
    assert_int_equal(route_match(f->r, bs("a/b"), &hits), 2);
    for (int i = 0; i < 2; i++) {
        uint32_t ids[8];
        if (hits[i].ep == &f->eps[0]) {
            assert_int_equal(hits[i].qos, 2); /* [MQTT-3.3.5-1] */
            assert_int_equal(hits[i].options, 0xa2);
            /* One hit with every subscription's identifier [MQTT-3.3.4-4],
             * in any order; a short buffer still gets the count. */
            assert_int_equal(route_hit_ids(f->r, &hits[i], ids, 8), 4);
            uint32_t seen = 0;
            for (int k = 0; k < 4; k++) {
                assert_true(ids[k] >= 1 && ids[k] <= 4);
                seen |= 1u << ids[k];
            }
            assert_int_equal(seen, 0x1e);
            assert_int_equal(route_hit_ids(f->r, &hits[i], ids, 1), 4);
        } else {
            assert_ptr_equal(hits[i].ep, &f->eps[1]);
            assert_int_equal(hits[i].qos, 1);
            assert_int_equal(hits[i].sub_id, 5);
            assert_int_equal(hits[i].more_ids, 0);
            assert_int_equal(route_hit_ids(f->r, &hits[i], ids, 8), 1);
            assert_int_equal(ids[0], 5);
        }
    }
    assert_int_equal(route_match(f->r, bs("a"), &hits), 1); /* "#" and "a/#" */
    assert_ptr_equal(hits[0].ep, &f->eps[0]);
    assert_int_equal(hits[0].qos, 1);
    uint32_t ids[4];
    assert_int_equal(route_hit_ids(f->r, &hits[0], ids, 4), 2); /* the chain was reset */
    assert_int_equal(ids[0] + ids[1], 7);
    /* Warm: matching again allocates nothing, identifiers included. */
    gw_alloc_fail_at(0, 1);
    assert_int_equal(route_match(f->r, bs("a/b"), &hits), 2);
    gw_alloc_fail_at(-1, 0);
}

/* A session with many overlapping identified subscriptions: the chain
 * grows, and a failed growth is -ENOMEM for the match, not a crash. */
static void test_route_match_ids_alloc_fail(void **state)
{
    struct fixture *f = *state;
    const struct route_hit *hits = NULL;
    const char *filters[] = {"#",     "x/#",   "x/y/#",   "x/y/z", "+/y/z",   "x/+/z",
                             "x/y/+", "+/+/+", "+/+/z",   "+/y/+", "x/+/+",   "+/#",
                             "x/+/#", "+/+/#", "x/y/z/#", "+/y/#", "+/+/z/#", "#"};
    for (uint32_t i = 0; i < 17; i++) {
        assert_int_equal(route_sub_add(f->r, bs(filters[i]), &f->eps[0], 1, 0, i + 1, NULL), 0);
    }
    for (long n = 0;; n++) {
        gw_alloc_fail_at(n, 0);
        ssize_t rc = route_match(f->r, bs("x/y/z"), &hits);
        gw_alloc_fail_at(-1, 0);
        if (rc == 1) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
    }
    uint32_t ids[32];
    assert_int_equal(route_hit_ids(f->r, &hits[0], ids, 32), 17);
    uint32_t sum = 0;
    for (int i = 0; i < 17; i++) {
        sum += ids[i];
    }
    assert_int_equal(sum, 17 * 18 / 2);
}

/* A stale match_gen / match_idx left in an endpoint (another router, a
 * wrapped generation) must not merge two endpoints. */
static void test_route_match_stale_gen_ignored(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "t", 0, 0);
    add(f, "t", 1, 1);
    assert_int_equal(match(f, "t", q), 2);
    f->eps[0].match_gen += 1; /* what the next generation will be */
    f->eps[0].match_idx = 0;
    f->eps[1].match_gen += 1;
    f->eps[1].match_idx = 0;
    assert_int_equal(match(f, "t", q), 2);
    assert_int_equal(q[0], 0);
    assert_int_equal(q[1], 1);
}

static void test_route_match_dollar_rule(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "#", 0, 0);
    add(f, "+/monitor/Clients", 1, 0);
    add(f, "$SYS/#", 2, 0);
    add(f, "$SYS/monitor/+", 3, 0);
    add(f, "+", 4, 0);
    add(f, "+/#", 5, 0);
    assert_int_equal(match(f, "$SYS/monitor/Clients", q), 2); /* [MQTT-4.7.2-1] */
    assert_int_equal(q[2], 0);
    assert_int_equal(q[3], 0);
    assert_int_equal(match(f, "$SYS", q), 1); /* "$SYS/#" matches its parent */
    assert_int_equal(q[2], 0);
    assert_int_equal(match(f, "SYS/monitor/Clients", q), 3);
    assert_int_equal(q[0], 0);
    assert_int_equal(q[1], 0);
    assert_int_equal(q[5], 0);
    assert_int_equal(match(f, "x", q), 3);
    assert_int_equal(q[4], 0);
}

static void test_route_match_multi_parent_and_empty_levels(void **state)
{
    struct fixture *f = *state;
    int q[MAX_EPS];
    add(f, "sport/tennis/player1/#", 0, 1);
    add(f, "sport/#", 1, 1);
    add(f, "+/+", 2, 1);
    add(f, "/+", 3, 1);
    add(f, "+", 4, 1);
    add(f, "sport/+", 5, 1);
    assert_int_equal(match(f, "sport/tennis/player1", q), 2);
    assert_int_equal(q[0], 1);
    assert_int_equal(q[1], 1);
    assert_int_equal(match(f, "sport", q), 2); /* sport/# and + */
    assert_int_equal(q[1], 1);
    assert_int_equal(q[4], 1);
    assert_int_equal(match(f, "/finance", q), 2);
    assert_int_equal(q[2], 1);
    assert_int_equal(q[3], 1);
    assert_int_equal(match(f, "sport/", q), 3); /* sport/#, +/+, sport/+ */
    assert_int_equal(q[5], 1);
}

/* Many endpoints on many filters: the hit array grows, then a warm match
 * allocates nothing (sticky failure injection proves it). */
static void test_route_match_many_eps_no_alloc_when_warm(void **state)
{
    struct fixture *f = *state;
    static struct route_ep many[5000];
    char filter[64];
    memset(many, 0, sizeof(many));
    for (int i = 0; i < 5000; i++) {
        if (i % 3 == 0) {
            (void)snprintf(filter, sizeof(filter), "dev/+/x");
        } else {
            (void)snprintf(filter, sizeof(filter), "dev/%d/+", i % 50);
        }
        assert_int_equal(route_sub_add(f->r, bs(filter), &many[i], (uint8_t)(i % 3), 0, 0, NULL),
                         0);
        assert_int_equal(route_sub_add(f->r, bs("dev/#"), &many[i], 0, 0, 0, NULL), 0);
    }
    const struct route_hit *hits = NULL;
    ssize_t n = route_match(f->r, bs("dev/7/x"), &hits);
    /* ep i matches via dev/# always; count = all 5000 endpoints. */
    assert_int_equal(n, 5000);
    for (ssize_t i = 0; i < n; i++) {
        ptrdiff_t idx = hits[i].ep - many;
        /* dev/# and dev/+/x give 0; dev/7/+ gives i % 3. */
        uint8_t want = (idx % 3 != 0 && idx % 50 == 7) ? (uint8_t)(idx % 3) : 0;
        assert_int_equal(hits[i].qos, want);
    }
    gw_alloc_fail_at(0, 1);
    for (int k = 0; k < 100; k++) {
        assert_int_equal(route_match(f->r, bs("dev/7/x"), &hits), 5000);
        assert_int_equal(route_match(f->r, bs("dev/8"), &hits), 5000);
    }
    gw_alloc_fail_at(-1, 0);
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(route_sub_del(f->r, bs("dev/#"), &many[i]), 0);
    }
    assert_int_equal(route_sub_count(f->r), 5000);
}

/* Thousands of endpoints on one filter: the node's endpoint index must keep
 * replace / delete exact through growth and backward-shift deletes. */
static void test_route_many_eps_one_filter_index(void **state)
{
    struct fixture *f = *state;

    enum { N = 3000 };
    static struct route_ep many[N];
    const struct route_hit *hits = NULL;
    bool replaced = false;
    memset(many, 0, sizeof(many));
    size_t warm = gw_alloc_bytes();
    for (int i = 0; i < N; i++) {
        assert_int_equal(route_sub_add(f->r, bs("same/t"), &many[i], 0, 0, 0, &replaced), 0);
        assert_false(replaced);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(
                route_sub_add(f->r, bs("same/t"), &many[i], (uint8_t)(i % 3), 0, 0, &replaced), 0);
        assert_true(replaced);
    }
    assert_int_equal(route_sub_count(f->r), N);
    for (int i = 0; i < N; i += 2) {
        assert_int_equal(route_sub_del(f->r, bs("same/t"), &many[i]), 0);
    }
    for (int i = 0; i < N; i += 2) {
        assert_int_equal(route_sub_del(f->r, bs("same/t"), &many[i]), -ENOENT);
    }
    assert_int_equal(route_sub_count(f->r), N / 2);
    ssize_t n = route_match(f->r, bs("same/t"), &hits);
    assert_int_equal(n, N / 2);
    for (ssize_t i = 0; i < n; i++) {
        ptrdiff_t idx = hits[i].ep - many;
        assert_true(idx % 2 == 1);
        assert_int_equal(hits[i].qos, idx % 3);
    }
    for (int i = 1; i < N; i += 2) {
        assert_int_equal(route_sub_add(f->r, bs("same/t"), &many[i], 2, 0, 0, &replaced), 0);
        assert_true(replaced);
        assert_int_equal(route_sub_del(f->r, bs("same/t"), &many[i]), 0);
    }
    assert_int_equal(route_sub_count(f->r), 0);
    assert_int_equal(route_match(f->r, bs("same/t"), &hits), 0);
    /* The node, its array and its index are gone; the hit array stays. */
    /* gw_alloc counts malloc's usable size, a few bytes over the request. */
    size_t expect = warm + 2048 * sizeof(struct route_hit);
    assert_true(gw_alloc_bytes() >= expect && gw_alloc_bytes() <= expect + 64);
}

/* Allocation failure while a filter's subscriptions cross the size where
 * the endpoint index is built. */
static void test_route_sub_add_alloc_fail_index(void **state)
{
    struct fixture *f = *state;
    int before[4][MAX_EPS];
    int after[4][MAX_EPS];
    for (int ep = 0; ep < 40; ep++) {
        for (long n = 0;; n++) {
            snapshot(f, before);
            gw_alloc_fail_at(n, 0);
            int rc = route_sub_add(f->r, bs("a/b/c"), &f->eps[ep], (uint8_t)(ep % 3), 0, 0, NULL);
            gw_alloc_fail_at(-1, 0);
            if (rc == 0) {
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(route_sub_count(f->r), ep);
            snapshot(f, after);
            assert_memory_equal(before, after, sizeof(before));
        }
    }
    int q[MAX_EPS];
    assert_int_equal(match(f, "a/b/c", q), 40);
    for (int ep = 0; ep < 40; ep += 3) {
        assert_int_equal(route_sub_del(f->r, bs("a/b/c"), &f->eps[ep]), 0);
    }
    assert_int_equal(match(f, "a/b/c", q), 26);
    for (int ep = 0; ep < 40; ep++) {
        assert_int_equal(q[ep], (ep % 3 == 0) ? -1 : ep % 3);
    }
}

/* ---- deep topics: no recursion to overflow ------------------------------- */

static void test_route_deep_topic_levels(void **state)
{
    struct fixture *f = *state;
    size_t n = 65535;
    char *t = malloc(n + 1);
    char *flt = malloc(n + 1);
    assert_non_null(t);
    assert_non_null(flt);
    memset(t, '/', n); /* 65536 empty levels */
    t[n] = '\0';
    retain(f, t, "deep");
    struct seen s;
    assert_int_equal(rmatch(f, "#", &s), 1);
    for (size_t i = 0; i < n; i++) {
        t[i] = (i % 2) ? '/' : 'x';   /* "x/x/.../x": 32768 levels */
        flt[i] = (i % 2) ? '/' : '+'; /* "+/+/.../+" */
    }
    flt[n] = '\0';
    retain(f, t, "deep");
    assert_int_equal(rmatch(f, "#", &s), 2);
    assert_int_equal(rmatch(f, flt, &s), 1);
    add(f, flt, 0, 1);
    add(f, t, 1, 2);
    int q[MAX_EPS];
    assert_int_equal(match(f, t, q), 2);
    free(t);
    free(flt);
}

/* ---- allocation failure ------------------------------------------------- */

static void test_route_sub_add_alloc_fail_unchanged(void **state)
{
    struct fixture *f = *state;
    const char *filters[] = {"a/b/c", "a/+/c",  "a/#",   "d/e/f/g", "#",     "d/+/+/+",
                             "a/b/c", "$SYS/#", "a/b/d", "a/b/e",   "a/b/f", "a/b/g"};
    int before[4][MAX_EPS];
    int after[4][MAX_EPS];
    for (size_t k = 0; k < sizeof(filters) / sizeof(filters[0]); k++) {
        int ep = (int)(k % 3);
        for (long n = 0;; n++) {
            snapshot(f, before); /* warms the match arrays first */
            size_t count = route_sub_count(f->r);
            gw_alloc_fail_at(n, 0);
            int rc = route_sub_add(f->r, bs(filters[k]), &f->eps[ep], 1, 0, 0, NULL);
            gw_alloc_fail_at(-1, 0);
            if (rc == 0) {
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(route_sub_count(f->r), count);
            snapshot(f, after);
            assert_memory_equal(before, after, sizeof(before));
            assert_true(n < 100);
        }
    }
    assert_int_equal(route_sub_count(f->r), 11); /* one was a replace */
}

static void test_route_create_alloc_fail(void **state)
{
    (void)state;
    size_t b0 = gw_alloc_bytes();
    for (long n = 0;; n++) {
        struct route *r = NULL;
        gw_alloc_fail_at(n, 0);
        int rc = route_create(&r);
        gw_alloc_fail_at(-1, 0);
        if (rc == 0) {
            route_destroy(r);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(gw_alloc_bytes(), b0);
    }
    assert_int_equal(gw_alloc_bytes(), b0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_route_create_destroy_empty, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_add_replace_del_prune, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_sys_sub_count, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_inline_sub_grow_shrink, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_dedup_max_qos, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_ids_alloc_fail, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_stale_gen_ignored, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_dollar_rule, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_multi_parent_and_empty_levels, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_match_many_eps_no_alloc_when_warm, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_many_eps_one_filter_index, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_sub_add_alloc_fail_index, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_deep_topic_levels, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_sub_add_alloc_fail_unchanged, setup,
                                            teardown),
            cmocka_unit_test(test_route_create_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
