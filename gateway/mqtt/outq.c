/* outq.c - output queue of copied blocks and referenced segments. */
#include "outq.h"

#include "alloc.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#define OUTQ_BLOCK   16384u
#define OUTQ_POOL_MAX 256 /* free blocks kept for reuse: 4 MiB at most */

struct outq_seg {
    struct outq_seg *next;
    const uint8_t *ptr;       /* start of data (block: == bytes) */
    size_t len;               /* bytes of data */
    size_t pos;               /* bytes already written */
    size_t cap;               /* block capacity; 0 for a reference */
    outq_release_cb *release; /* reference only */
    void *arg;
    uint8_t bytes[];
};

/* Free blocks shared by every queue of the (single) loop thread: an idle
 * connection holds no output memory at all, and a busy one does not pay a
 * malloc per flush. */
static struct outq_seg *pool;
static size_t pool_len;

static struct outq_seg *block_get(void)
{
    struct outq_seg *s = pool;
    if (s) {
        pool = s->next;
        pool_len--;
        return s;
    }
    s = gw_alloc(sizeof(*s) + OUTQ_BLOCK);
    if (s) {
        s->cap = OUTQ_BLOCK;
    }
    return s;
}

static void seg_put(struct outq_seg *s)
{
    if (s->cap == OUTQ_BLOCK && pool_len < OUTQ_POOL_MAX) {
        s->next = pool;
        pool = s;
        pool_len++;
        return;
    }
    gw_free(s);
}

void outq_pool_drain(void)
{
    while (pool) {
        struct outq_seg *s = pool;
        pool = s->next;
        gw_free(s);
    }
    pool_len = 0;
}

void outq_init(struct outq *q)
{
    memset(q, 0, sizeof(*q));
}

static void seg_free(struct outq *q, struct outq_seg *s)
{
    (void)q;
    if (s->release) {
        s->release(s->arg);
    }
    seg_put(s);
}

void outq_fini(struct outq *q)
{
    struct outq_seg *s = q->head;
    while (s) {
        struct outq_seg *next = s->next;
        if (s->release) {
            s->release(s->arg);
        }
        seg_put(s);
        s = next;
    }
    memset(q, 0, sizeof(*q));
}

static void link_tail(struct outq *q, struct outq_seg *s)
{
    s->next = NULL;
    if (q->tail) {
        q->tail->next = s;
    } else {
        q->head = s;
    }
    q->tail = s;
}

uint8_t *outq_reserve(struct outq *q, size_t n)
{
    struct outq_seg *t = q->tail;
    if (!t || t->cap == 0 || t->cap - t->len < n) {
        if (n <= OUTQ_BLOCK) {
            t = block_get();
        } else {
            t = gw_alloc(sizeof(*t) + n);
            if (t) {
                t->cap = n;
            }
        }
        if (!t) {
            return NULL;
        }
        t->ptr = t->bytes;
        t->len = 0;
        t->pos = 0;
        t->release = NULL;
        t->arg = NULL;
        link_tail(q, t);
    }
    uint8_t *p = t->bytes + t->len;
    t->len += n;
    q->bytes += n;
    return p;
}

int outq_append(struct outq *q, const void *p, size_t n)
{
    uint8_t *d = outq_reserve(q, n);
    if (!d) {
        return -ENOMEM;
    }
    memcpy(d, p, n);
    return 0;
}

int outq_append_ref(struct outq *q, const void *p, size_t n, outq_release_cb *release,
                    void *arg)
{
    struct outq_seg *s = gw_alloc(sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->ptr = p;
    s->len = n;
    s->pos = 0;
    s->cap = 0;
    s->release = release;
    s->arg = arg;
    link_tail(q, s);
    q->bytes += n;
    return 0;
}

int outq_gather(const struct outq *q, struct iovec *iov, int max_iov, size_t max_bytes)
{
    int n = 0;
    size_t total = 0;
    for (const struct outq_seg *s = q->head; s && n < max_iov && total < max_bytes; s = s->next) {
        size_t len = s->len - s->pos;
        if (len == 0) {
            continue;
        }
        iov[n].iov_base = (void *)(uintptr_t)(s->ptr + s->pos);
        iov[n].iov_len = len;
        total += len;
        n++;
    }
    return n;
}

void outq_consume(struct outq *q, size_t n)
{
    size_t left = n;
    q->bytes -= left;
    while (q->head) {
        struct outq_seg *s = q->head;
        size_t avail = s->len - s->pos;
        if (left < avail || (avail == 0 && s == q->tail && s->cap)) {
            s->pos += left;
            break;
        }
        left -= avail;
        q->head = s->next;
        if (!q->head) {
            q->tail = NULL;
        }
        seg_free(q, s);
    }
}
