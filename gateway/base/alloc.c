/* alloc.c - counted heap with failure injection.
 *
 * The byte counter uses malloc_usable_size (glibc and musl both have it)
 * instead of a size header: a header costs 16 bytes on every allocation,
 * which is a third of the memory of an idle connection's small objects. */
#include "alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_size_t live_bytes;
static atomic_long fail_countdown = -1;
static atomic_int fail_sticky;

static int should_fail(void)
{
    long n = atomic_load(&fail_countdown);
    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        if (!atomic_load(&fail_sticky)) {
            atomic_store(&fail_countdown, -1);
        }
        return 1;
    }
    atomic_store(&fail_countdown, n - 1);
    return 0;
}

void *gw_alloc(size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    void *p = malloc(n ? n : 1);
    if (p) {
        atomic_fetch_add(&live_bytes, malloc_usable_size(p));
    }
    return p;
}

void *gw_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        return NULL;
    }
    if (should_fail()) {
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) {
        atomic_fetch_add(&live_bytes, malloc_usable_size(p));
    }
    return p;
}

void *gw_realloc(void *p, size_t n)
{
    if (!p) {
        return gw_alloc(n);
    }
    if (should_fail()) {
        return NULL;
    }
    size_t old_n = malloc_usable_size(p);
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        return NULL;
    }
    atomic_fetch_sub(&live_bytes, old_n);
    atomic_fetch_add(&live_bytes, malloc_usable_size(q));
    return q;
}

void gw_free(void *p)
{
    if (!p) {
        return;
    }
    atomic_fetch_sub(&live_bytes, malloc_usable_size(p));
    free(p);
}

char *gw_strndup(const char *s, size_t n)
{
    char *d = gw_alloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *gw_strdup(const char *s)
{
    return gw_strndup(s, strlen(s));
}

size_t gw_alloc_bytes(void)
{
    return atomic_load(&live_bytes);
}

void gw_alloc_fail_at(long n, int sticky)
{
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, n);
}
