/* test_route.c - subscription tree, matching and retained messages. */
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

#define MAX_EPS 64

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

/* The qos route_match reports for each ep (-1: not matched), in q[]. */
static ssize_t match(struct fixture *f, const char *topic, int q[MAX_EPS])
{
    const struct route_hit *hits = NULL;
    ssize_t n = route_match(f->r, bs(topic), &hits);
    assert_true(n >= 0);
    for (int i = 0; i < MAX_EPS; i++) {
        q[i] = -1;
    }
    for (ssize_t i = 0; i < n; i++) {
        ptrdiff_t idx = hits[i].ep - f->eps;
        assert_true(idx >= 0 && idx < MAX_EPS);
        assert_int_equal(q[idx], -1); /* each endpoint once [MQTT-3.3.5-1] */
        q[idx] = hits[i].qos;
    }
    return n;
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
        if (hits[i].ep == &f->eps[0]) {
            assert_int_equal(hits[i].qos, 2); /* [MQTT-3.3.5-1] */
            assert_int_equal(hits[i].options, 0xa2);
            assert_int_equal(hits[i].sub_id, 2);
        } else {
            assert_ptr_equal(hits[i].ep, &f->eps[1]);
            assert_int_equal(hits[i].qos, 1);
            assert_int_equal(hits[i].sub_id, 5);
        }
    }
    assert_int_equal(route_match(f->r, bs("a"), &hits), 1); /* "#" and "a/#" */
    assert_ptr_equal(hits[0].ep, &f->eps[0]);
    assert_int_equal(hits[0].qos, 1);
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

static void test_route_bruteforce_vs_topic_matches(void **state)
{
    struct fixture *f = *state;
    static struct bf_sub subs[400];
    unsigned seed = 12345;
    char topic[32];
    for (size_t i = 0; i < 400; i++) {
        do {
            rand_levels(subs[i].filter, sizeof(subs[i].filter), true, &seed);
        } while (!topic_filter_valid(bs(subs[i].filter)));
        subs[i].ep = rand_r(&seed) % 20;
        subs[i].qos = (uint8_t)(rand_r(&seed) % 3);
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
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 300; k++) {
            rand_levels(topic, sizeof(topic), false, &seed);
            bf_check_one(f, subs, 400, topic);
        }
        /* Delete a random third and check again. */
        for (size_t i = 0; i < 400; i++) {
            if (subs[i].live && rand_r(&seed) % 3 == 0) {
                assert_int_equal(route_sub_del(f->r, bs(subs[i].filter), &f->eps[subs[i].ep]), 0);
                subs[i].live = false;
            }
        }
    }
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
            cmocka_unit_test_setup_teardown(test_route_match_dedup_max_qos, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_stale_gen_ignored, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_dollar_rule, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_match_multi_parent_and_empty_levels, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_match_many_eps_no_alloc_when_warm, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_many_eps_one_filter_index, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_sub_add_alloc_fail_index, setup, teardown),
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
