/* test_route_bruteforce.c - random subscriptions, shares and retained messages
 * cross-checked against topic_matches(). */
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
            cmocka_unit_test_setup_teardown(test_route_bruteforce_vs_topic_matches, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_route_bruteforce_retained, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
