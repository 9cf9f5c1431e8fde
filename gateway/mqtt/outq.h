/* outq.h - a connection's output queue, written with writev.
 *
 * Small writes (packet headers, acks, small payloads) are copied into
 * blocks; large payloads are queued by reference with a release callback,
 * so a fan-out to many subscribers shares one message body (the caller
 * takes a msg reference and releases it in the callback). One writev per
 * flush gathers up to OUTQ_IOV_MAX segments (outq_gather) for the
 * connection's stream. */
#ifndef OUTQ_H
#define OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most segments one flush gathers. */
#define OUTQ_IOV_MAX 64

typedef void outq_release_cb(void *arg);

struct outq_seg;

struct outq {
    struct outq_seg *head;
    struct outq_seg *tail;
    size_t bytes;           /* queued, not yet written */
};

void outq_init(struct outq *q);

/* Free the blocks kept for reuse (shutdown, tests). Queues are loop-thread
 * objects: the block pool is not locked. */
void outq_pool_drain(void);

/* Drop everything queued (calling release callbacks) and free blocks. */
void outq_fini(struct outq *q);

/* Copy n bytes to the queue. Returns 0 or -ENOMEM. */
int outq_append(struct outq *q, const void *p, size_t n);

/* Reserve n contiguous bytes at the tail and return a pointer to fill, or
 * NULL on -ENOMEM. The bytes count as queued at once. */
uint8_t *outq_reserve(struct outq *q, size_t n);

/* Queue p[0..n) by reference; release(arg) is called once it is written or
 * dropped. On failure (-ENOMEM) release is not called. */
int outq_append_ref(struct outq *q, const void *p, size_t n, outq_release_cb *release,
                    void *arg);

static inline size_t outq_bytes(const struct outq *q)
{
    return q->bytes;
}

/* Point iov[0..max_iov) at the queued bytes from the head, up to about
 * max_bytes (whole segments). Returns how many entries it filled (0 when
 * nothing is queued). The queue is unchanged until outq_consume. */
int outq_gather(const struct outq *q, struct iovec *iov, int max_iov, size_t max_bytes);

/* Drop the first n queued bytes (written), releasing what they finish. */
void outq_consume(struct outq *q, size_t n);

#endif
