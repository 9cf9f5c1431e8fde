/* buf.c - input byte buffer. */
#include "buf.h"

#include "alloc.h"

#include <errno.h>
#include <string.h>

void buf_init(struct buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_fini(struct buf *b)
{
    gw_free(b->data);
    memset(b, 0, sizeof(*b));
}

int buf_reserve(struct buf *b, size_t n)
{
    if (buf_room(b) >= n) {
        return 0;
    }
    size_t used = buf_len(b);
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
        if (buf_room(b) >= n) {
            return 0;
        }
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - used < n) {
        cap *= 2;
    }
    uint8_t *d = gw_realloc(b->data, cap);
    if (!d) {
        return -ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void buf_commit(struct buf *b, size_t n)
{
    b->end += n;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start == b->end) {
        b->start = 0;
        b->end = 0;
    }
}

void buf_compact(struct buf *b, size_t keep)
{
    size_t used = buf_len(b);
    if (used == 0 && b->cap > keep) {
        gw_free(b->data);
        memset(b, 0, sizeof(*b));
        return;
    }
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
    }
}
