/* alloc.c - counted heap with failure injection.
 *
 * Each block carries a header with its size so gw_free can keep the byte
 * counter exact without malloc_usable_size (not portable to musl). */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* max_align_t keeps the user pointer aligned as malloc's would be. */
union hdr {
    size_t size;
    max_align_t align;
};

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
    if (should_fail() || n > SIZE_MAX - sizeof(union hdr)) {
        return NULL;
    }
    union hdr *h = malloc(sizeof(*h) + n);
    if (!h) {
        return NULL;
    }
    h->size = n;
    atomic_fetch_add(&live_bytes, n);
    return h + 1;
}

void *gw_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        return NULL;
    }
    void *p = gw_alloc(count * size);
    if (p) {
        memset(p, 0, count * size);
    }
    return p;
}

void *gw_realloc(void *p, size_t n)
{
    if (!p) {
        return gw_alloc(n);
    }
    if (should_fail() || n > SIZE_MAX - sizeof(union hdr)) {
        return NULL;
    }
    union hdr *old = (union hdr *)p - 1;
    size_t old_n = old->size;
    union hdr *h = realloc(old, sizeof(*h) + n);
    if (!h) {
        return NULL;
    }
    h->size = n;
    atomic_fetch_sub(&live_bytes, old_n);
    atomic_fetch_add(&live_bytes, n);
    return h + 1;
}

void gw_free(void *p)
{
    if (!p) {
        return;
    }
    union hdr *h = (union hdr *)p - 1;
    atomic_fetch_sub(&live_bytes, h->size);
    free(h);
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
