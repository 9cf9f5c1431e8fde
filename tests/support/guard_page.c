/* guard_page.c - see guard_page.h. */
#include "guard_page.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

static uint8_t *guard_base; /* GUARD_DATA readable bytes, then a PROT_NONE page */
static size_t guard_page;

int group_setup(void **state)
{
    (void)state;
    guard_page = (size_t)sysconf(_SC_PAGESIZE);
    guard_base = mmap(NULL, GUARD_DATA + guard_page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_base == MAP_FAILED) {
        return -1;
    }
    return mprotect(guard_base + GUARD_DATA, guard_page, PROT_NONE);
}

int group_teardown(void **state)
{
    (void)state;
    return munmap(guard_base, GUARD_DATA + guard_page);
}

/* Copy b so that its last byte sits right before the guard page. */
const uint8_t *guarded(const uint8_t *b, size_t n)
{
    uint8_t *dst = guard_base + GUARD_DATA - n;

    assert_true(n <= GUARD_DATA);
    if (n > 0) {
        memcpy(dst, b, n);
    }
    return dst;
}
