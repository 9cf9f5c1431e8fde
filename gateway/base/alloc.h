/* alloc.h - all of Tern's heap goes through here.
 *
 * Counts live bytes and allocations (for $SYS and tests) and can fail the
 * n-th allocation on purpose, so tests can prove every caller handles
 * failure (SQLite's technique). Loop thread plus the storage writer may
 * allocate: counters are atomic. */
#ifndef GW_ALLOC_H
#define GW_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *gw_alloc(size_t n);            /* NULL on failure */
void *gw_calloc(size_t count, size_t size);
void *gw_realloc(void *p, size_t n); /* NULL on failure, p untouched then */
void gw_free(void *p);               /* NULL is a no-op */
char *gw_strndup(const char *s, size_t n);
char *gw_strdup(const char *s);

/* Bytes currently allocated through gw_alloc and friends. */
size_t gw_alloc_bytes(void);

/* Fail the n-th allocation from now (0 = the next one) and every one after
 * it when sticky; -1 turns injection off. Test use only. */
void gw_alloc_fail_at(long n, int sticky);

#endif
