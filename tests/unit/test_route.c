/* test_route.c - subscription tree, matching, shared subscriptions and
 * retained messages. */
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

#define MAX_EPS    64
#define MAX_SHARED 256

struct fixture;
static void snapshot(struct fixture *f, int out[4][MAX_EPS]);

static struct gw_bytes bs(const char *s)
{
    return gw_bytes_str(s);
}

struct fixture {
    struct route *r;
    size_t bytes0; /* gw_alloc_bytes() before the router */
    struct route_ep eps[MAX_EPS];
    struct route_hit sh[MAX_SHARED]; /* shared hits of the last match() */
    size_t nsh;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f) {
        return -1;
    }
    f->bytes0 = gw_alloc_bytes();
    if (route_create(&f->r) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    gw_alloc_fail_at(-1, 0);
    route_destroy(f->r);
    /* Every byte the router took is back: nothing leaked. */
    assert_int_equal(gw_alloc_bytes(), f->bytes0);
    free(f);
    return 0;
}

static void add(struct fixture *f, const char *filter, int ep, uint8_t qos)
{
    bool replaced = true;
    assert_int_equal(route_sub_add(f->r, bs(filter), &f->eps[ep], qos, (uint8_t)(qos | 0x10),
                                   (uint32_t)ep + 100, &replaced),
                     0);
    assert_false(replaced);
}

/* The qos route_match reports for each ep by normal hits (-1: not matched),
 * in q[]; returns the number of normal hits. Shared hits go to f->sh. */
static ssize_t match(struct fixture *f, const char *topic, int q[MAX_EPS])
{
    const struct route_hit *hits = NULL;
    ssize_t n = route_match(f->r, bs(topic), &hits);
    assert_true(n >= 0);
    for (int i = 0; i < MAX_EPS; i++) {
        q[i] = -1;
    }
    ssize_t normal = 0;
    f->nsh = 0;
    for (ssize_t i = 0; i < n; i++) {
        ptrdiff_t idx = hits[i].ep - f->eps;
        assert_true(idx >= 0 && idx < MAX_EPS);
        if (hits[i].shared) {
            assert_true(f->nsh < MAX_SHARED);
            assert_true(hits[i].group_idx != ROUTE_SHARE_NONE);
            f->sh[f->nsh++] = hits[i];
            continue;
        }
        assert_int_equal(hits[i].group_idx, ROUTE_SHARE_NONE);
        assert_int_equal(q[idx], -1); /* each endpoint once [MQTT-3.3.5-1] */
        q[idx] = hits[i].qos;
        normal++;
    }
    return normal;
}

/* Index in f->eps of the one shared hit of the last match() for the group
 * with full filter full, or -1 if it had none. */
static int picked(const struct fixture *f, const char *full)
{
    int found = -1;
    for (size_t i = 0; i < f->nsh; i++) {
        if (gw_bytes_eq(route_share_filter(f->r, f->sh[i].group_idx), bs(full))) {
            assert_int_equal(found, -1); /* one hit per group */
            found = (int)(f->sh[i].ep - f->eps);
        }
    }
    return found;
}

static uint32_t group_of(const struct fixture *f, const char *name, const char *filter)
{
    uint32_t idx = ROUTE_SHARE_NONE;
    assert_int_equal(route_share_find(f->r, bs(name), bs(filter), &idx), 0);
    assert_true(idx != ROUTE_SHARE_NONE);
    return idx;
}

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

/* route_sys_sub_count: subscriptions that can match $SYS ([MQTT-4.7.2-1]:
 * only a literal first level "$SYS"), shared ones too; a replaced one is
 * counted once, a removed one no more. */
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

/* ---- retained ------------------------------------------------------------ */

struct seen {
    struct msg *m[64];
    size_t n;
};

static void on_retained(void *arg, struct msg *m)
{
    struct seen *s = arg;
    assert_true(s->n < 64);
    s->m[s->n++] = m;
}

static size_t rmatch(struct fixture *f, const char *filter, struct seen *s)
{
    s->n = 0;
    route_retain_match(f->r, bs(filter), on_retained, s);
    return s->n;
}

static bool seen_topic(const struct seen *s, const char *topic)
{
    for (size_t i = 0; i < s->n; i++) {
        if (gw_bytes_eq(msg_topic(s->m[i]), bs(topic))) {
            return true;
        }
    }
    return false;
}

static void retain(struct fixture *f, const char *topic, const char *payload)
{
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(bs(topic), bs(payload), none, 1, true);
    assert_non_null(m);
    assert_int_equal(route_retain_set(f->r, m), 0);
    msg_unref(m);
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

static void snapshot(struct fixture *f, int out[4][MAX_EPS])
{
    const char *probe[] = {"a/b/c", "a/x", "d/e/f/g", "$SYS/x"};
    for (int i = 0; i < 4; i++) {
        match(f, probe[i], out[i]);
    }
}

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

/* ---- brute force cross-check against topic_matches ---------------------- */

static void rand_levels(char *out, size_t cap, bool filter, unsigned *seed)
{
    static const char *words[] = {"a", "b", "$", "$S", "", "ab"};
    size_t nlev = 1 + (size_t)(rand_r(seed) % 4);
    size_t o = 0;
    for (size_t i = 0; i < nlev; i++) {
        const char *w = words[rand_r(seed) % 6];
        int pick = rand_r(seed) % 8;
        if (filter && pick == 0) {
            w = "+";
        } else if (filter && pick == 1 && i == nlev - 1) {
            w = "#";
        }
        size_t wl = strlen(w);
        assert_true(o + wl + 2 < cap);
        memcpy(out + o, w, wl);
        o += wl;
        if (i + 1 < nlev) {
            out[o++] = '/';
        }
    }
    out[o] = '\0';
}

struct bf_sub {
    char filter[32];
    int ep;
    uint8_t qos;
    bool live;
};

static void bf_check_one(struct fixture *f, const struct bf_sub *subs, size_t nsubs,
                         const char *topic)
{
    int want[MAX_EPS];
    int got[MAX_EPS];
    for (int i = 0; i < MAX_EPS; i++) {
        want[i] = -1;
    }
    for (size_t i = 0; i < nsubs; i++) {
        if (subs[i].live && topic_matches(bs(subs[i].filter), bs(topic)) &&
            want[subs[i].ep] < subs[i].qos) {
            want[subs[i].ep] = subs[i].qos;
        }
    }
    match(f, topic, got);
    if (memcmp(want, got, sizeof(want)) != 0) {
        print_error("topic \"%s\" disagrees with topic_matches\n", topic);
        fail();
    }
}

/* Reference model of the shared subscription groups: members in
 * subscription order, the cursor on the member whose turn it is. */
struct bf_group {
    char full[48];
    const char *filter; /* in full, after "$share/{name}/" */
    int members[MAX_EPS];
    uint8_t qos[MAX_EPS];
    int n; /* 0: the group does not exist */
    int cursor;
};

static struct bf_group *bf_group_get(struct bf_group *gs, size_t *ng, const char *full)
{
    for (size_t i = 0; i < *ng; i++) {
        if (strcmp(gs[i].full, full) == 0) {
            return &gs[i];
        }
    }
    struct bf_group *g = &gs[(*ng)++];
    memset(g, 0, sizeof(*g));
    (void)snprintf(g->full, sizeof(g->full), "%s", full);
    g->filter = strchr(g->full + 7, '/') + 1;
    return g;
}

static void bf_share_add(struct fixture *f, struct bf_group *g, int ep, uint8_t qos)
{
    bool replaced = false;
    assert_int_equal(route_sub_add(f->r, bs(g->full), &f->eps[ep], qos, 0, 0, &replaced), 0);
    for (int i = 0; i < g->n; i++) {
        if (g->members[i] == ep) {
            assert_true(replaced);
            g->qos[i] = qos;
            return;
        }
    }
    assert_false(replaced);
    g->members[g->n] = ep;
    g->qos[g->n++] = qos;
}

static void bf_share_del(struct fixture *f, struct bf_group *g, int k)
{
    assert_int_equal(route_sub_del(f->r, bs(g->full), &f->eps[g->members[k]]), 0);
    memmove(&g->members[k], &g->members[k + 1], (size_t)(g->n - k - 1) * sizeof(int));
    memmove(&g->qos[k], &g->qos[k + 1], (size_t)(g->n - k - 1));
    g->n--;
    if (k < g->cursor) {
        g->cursor--;
    }
    if (g->cursor >= g->n) {
        g->cursor = 0;
    }
}

/* A random third of the members leave. */
static void bf_share_leave(struct fixture *f, struct bf_group *groups, size_t ng, unsigned *seed)
{
    for (size_t i = 0; i < ng; i++) {
        for (int k = groups[i].n - 1; k >= 0; k--) {
            if (rand_r(seed) % 3 == 0) {
                bf_share_del(f, &groups[i], k);
            }
        }
    }
}

/* The shared hits of the last match() of topic against the model. */
static void bf_check_shared(struct fixture *f, struct bf_group *gs, size_t ng, const char *topic)
{
    size_t want = 0;
    for (size_t i = 0; i < ng; i++) {
        struct bf_group *g = &gs[i];
        if (g->n == 0 || !topic_matches(bs(g->filter), bs(topic))) {
            continue;
        }
        want++;
        int ep = picked(f, g->full);
        if (ep != g->members[g->cursor]) {
            print_error("topic \"%s\" group \"%s\": got ep %d want %d\n", topic, g->full, ep,
                        g->members[g->cursor]);
            fail();
        }
        for (size_t k = 0; k < f->nsh; k++) {
            if (f->sh[k].ep == &f->eps[ep] &&
                gw_bytes_eq(route_share_filter(f->r, f->sh[k].group_idx), bs(g->full))) {
                assert_int_equal(f->sh[k].qos, g->qos[g->cursor]);
            }
        }
        g->cursor = (g->cursor + 1) % g->n;
    }
    if (f->nsh != want) {
        print_error("topic \"%s\": %zu shared hits, want %zu\n", topic, f->nsh, want);
        fail();
    }
}

/* Shared subscriptions for the brute force: 40 joins over 8 filters of the
 * same kind and two ShareNames, so groups have several members, with
 * matches in between so members join mid-rotation. */
static void bf_share_join(struct fixture *f, const struct bf_sub *subs, struct bf_group *groups,
                          size_t *ng, char sflt[8][32], unsigned *seed)
{
    char topic[32];
    for (size_t i = 0; i < 40; i++) {
        char full[48];
        (void)snprintf(full, sizeof(full), "$share/%s/%s", (rand_r(seed) % 2) ? "g" : "h",
                       sflt[rand_r(seed) % 8]);
        bf_share_add(f, bf_group_get(groups, ng, full), rand_r(seed) % 20,
                     (uint8_t)(rand_r(seed) % 3));
        if (i % 8 == 0) {
            rand_levels(topic, sizeof(topic), false, seed);
            bf_check_one(f, subs, 400, topic);
            bf_check_shared(f, groups, *ng, topic);
        }
    }
}

/* 400 random subscriptions of 20 endpoints; replaced ones are not live. */
static void bf_subs_add(struct fixture *f, struct bf_sub *subs, unsigned *seed)
{
    for (size_t i = 0; i < 400; i++) {
        do {
            rand_levels(subs[i].filter, sizeof(subs[i].filter), true, seed);
        } while (!topic_filter_valid(bs(subs[i].filter)));
        subs[i].ep = rand_r(seed) % 20;
        subs[i].qos = (uint8_t)(rand_r(seed) % 3);
        subs[i].live = true;
        bool replaced = false;
        assert_int_equal(route_sub_add(f->r, bs(subs[i].filter), &f->eps[subs[i].ep], subs[i].qos,
                                       0, 0, &replaced),
                         0);
        for (size_t j = 0; j < i && replaced; j++) {
            if (subs[j].live && subs[j].ep == subs[i].ep &&
                strcmp(subs[j].filter, subs[i].filter) == 0) {
                subs[j].live = false;
            }
        }
    }
}

static void test_route_bruteforce_vs_topic_matches(void **state)
{
    struct fixture *f = *state;
    static struct bf_sub subs[400];
    static struct bf_group groups[80];
    size_t ng = 0;
    unsigned seed = 12345;
    char topic[32];
    bf_subs_add(f, subs, &seed);
    char sflt[8][32];
    for (size_t i = 0; i < 8; i++) {
        do {
            rand_levels(sflt[i], sizeof(sflt[i]), true, &seed);
        } while (!topic_filter_valid(bs(sflt[i])));
    }
    for (int round = 0; round < 3; round++) {
        bf_share_join(f, subs, groups, &ng, sflt, &seed);
        for (int k = 0; k < 300; k++) {
            rand_levels(topic, sizeof(topic), false, &seed);
            bf_check_one(f, subs, 400, topic);
            bf_check_shared(f, groups, ng, topic);
        }
        /* Delete a random third and check again. */
        for (size_t i = 0; i < 400; i++) {
            if (subs[i].live && rand_r(&seed) % 3 == 0) {
                assert_int_equal(route_sub_del(f->r, bs(subs[i].filter), &f->eps[subs[i].ep]), 0);
                subs[i].live = false;
            }
        }
        bf_share_leave(f, groups, ng, &seed);
    }
    size_t live = 0;
    for (size_t i = 0; i < 400; i++) {
        live += subs[i].live ? 1 : 0;
    }
    for (size_t i = 0; i < ng; i++) {
        live += (size_t)groups[i].n;
    }
    assert_int_equal(route_sub_count(f->r), live); /* shared ones count too */
}

static void test_route_bruteforce_retained(void **state)
{
    struct fixture *f = *state;
    unsigned seed = 777;
    char topics[60][32];
    struct seen s;
    size_t nt = 0;
    while (nt < 60) {
        rand_levels(topics[nt], sizeof(topics[nt]), false, &seed);
        bool dup = !topic_name_valid(bs(topics[nt])); /* "" is no topic */
        for (size_t j = 0; j < nt; j++) {
            dup = dup || strcmp(topics[j], topics[nt]) == 0;
        }
        if (!dup) {
            retain(f, topics[nt], "x");
            nt++;
        }
    }
    for (int k = 0; k < 500; k++) {
        char filter[32];
        do {
            rand_levels(filter, sizeof(filter), true, &seed);
        } while (!topic_filter_valid(bs(filter)));
        size_t want = 0;
        for (size_t j = 0; j < nt; j++) {
            want += topic_matches(bs(filter), bs(topics[j])) ? 1 : 0;
        }
        assert_true(want <= 64);
        size_t got = rmatch(f, filter, &s);
        for (size_t j = 0; j < got; j++) {
            if (!topic_matches(bs(filter), msg_topic(s.m[j]))) {
                print_error("filter \"%s\" gave \"%s\"\n", filter, s.m[j]->topic);
                fail();
            }
        }
        if (got != want) {
            print_error("filter \"%s\": got %zu want %zu\n", filter, got, want);
            fail();
        }
    }
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
            cmocka_unit_test_setup_teardown(test_route_retain_set_replace_clear, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_retain_match_wildcards, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_deep_topic_levels, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_sub_add_alloc_fail_unchanged, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_retain_set_alloc_fail_unchanged, setup,
                                            teardown),
            cmocka_unit_test(test_route_create_alloc_fail),
            cmocka_unit_test_setup_teardown(test_route_bruteforce_vs_topic_matches, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_bruteforce_retained, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
