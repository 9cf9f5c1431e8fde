/* buf.h - a growable input byte buffer with a consume cursor.
 *
 * Bytes are appended at the end and consumed from the front; compaction
 * moves the unconsumed rest to the start. Views into the buffer (gw_bytes)
 * die at buf_compact, buf_reserve and buf_fini. */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte */
    size_t cap;
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);

static inline const uint8_t *buf_head(const struct buf *b)
{
    return b->data + b->start;
}

static inline size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

static inline uint8_t *buf_tail(struct buf *b)
{
    return b->data + b->end;
}

static inline size_t buf_room(const struct buf *b)
{
    return b->cap - b->end;
}

/* Make room for at least n more bytes at the tail (compacting first, then
 * growing). Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Mark n bytes written at the tail. */
void buf_commit(struct buf *b, size_t n);

/* Consume n bytes from the front. */
void buf_consume(struct buf *b, size_t n);

/* Move the unconsumed bytes to the start; free the memory if the buffer is
 * empty and larger than keep bytes (an idle connection should not pin a
 * large read buffer). */
void buf_compact(struct buf *b, size_t keep);

#endif
