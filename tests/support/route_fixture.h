/* route_fixture.h - the fixture of the router's unit tests
 * (test_route_sub.c, test_route_share.c, test_route_retain.c,
 * test_route_bruteforce.c): a real router (route_create) with MAX_EPS
 * endpoints, add/match helpers that check every hit, and a collector of
 * retained matches. teardown checks every byte the router took came back. */
#ifndef ROUTE_FIXTURE_H
#define ROUTE_FIXTURE_H

#include "msg.h"
#include "route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_EPS    64
#define MAX_SHARED 256

struct gw_bytes bs(const char *s);

struct fixture {
    struct route *r;
    size_t bytes0; /* gw_alloc_bytes() before the router */
    struct route_ep eps[MAX_EPS];
    struct route_hit sh[MAX_SHARED]; /* shared hits of the last match() */
    size_t nsh;
};

int setup(void **state);

int teardown(void **state);

void add(struct fixture *f, const char *filter, int ep, uint8_t qos);

/* The qos route_match reports for each ep by normal hits (-1: not matched),
 * in q[]; returns the number of normal hits. Shared hits go to f->sh. */
ssize_t match(struct fixture *f, const char *topic, int q[MAX_EPS]);

/* Index in f->eps of the one shared hit of the last match() for the group
 * with full filter full, or -1 if it had none. */
int picked(const struct fixture *f, const char *full);

struct seen {
    struct msg *m[64];
    size_t n;
};

size_t rmatch(struct fixture *f, const char *filter, struct seen *s);

void retain(struct fixture *f, const char *topic, const char *payload);

void snapshot(struct fixture *f, int out[4][MAX_EPS]);

#endif
