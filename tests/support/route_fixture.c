/* route_fixture.c - see route_fixture.h. */
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

struct gw_bytes bs(const char *s)
{
    return gw_bytes_str(s);
}

int setup(void **state)
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

int teardown(void **state)
{
    struct fixture *f = *state;
    gw_alloc_fail_at(-1, 0);
    route_destroy(f->r);
    /* Every byte the router took is back: nothing leaked. */
    assert_int_equal(gw_alloc_bytes(), f->bytes0);
    free(f);
    return 0;
}

void add(struct fixture *f, const char *filter, int ep, uint8_t qos)
{
    bool replaced = true;
    assert_int_equal(route_sub_add(f->r, bs(filter), &f->eps[ep], qos, (uint8_t)(qos | 0x10),
                                   (uint32_t)ep + 100, &replaced),
                     0);
    assert_false(replaced);
}

/* The qos route_match reports for each ep by normal hits (-1: not matched),
 * in q[]; returns the number of normal hits. Shared hits go to f->sh. */
ssize_t match(struct fixture *f, const char *topic, int q[MAX_EPS])
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
int picked(const struct fixture *f, const char *full)
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

static void on_retained(void *arg, struct msg *m)
{
    struct seen *s = arg;
    assert_true(s->n < 64);
    s->m[s->n++] = m;
}

size_t rmatch(struct fixture *f, const char *filter, struct seen *s)
{
    s->n = 0;
    route_retain_match(f->r, bs(filter), on_retained, s);
    return s->n;
}

void retain(struct fixture *f, const char *topic, const char *payload)
{
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(bs(topic), bs(payload), none, 1, true);
    assert_non_null(m);
    assert_int_equal(route_retain_set(f->r, m), 0);
    msg_unref(m);
}

void snapshot(struct fixture *f, int out[4][MAX_EPS])
{
    const char *probe[] = {"a/b/c", "a/x", "d/e/f/g", "$SYS/x"};
    for (int i = 0; i < 4; i++) {
        match(f, probe[i], out[i]);
    }
}
