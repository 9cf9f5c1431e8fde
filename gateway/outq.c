/* outq.c - output queue of copied blocks and referenced segments. */
#include "outq.h"

#include "alloc.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#define OUTQ_BLOCK   16384u
#define OUTQ_IOV_MAX 64

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

void outq_init(struct outq *q)
{
    memset(q, 0, sizeof(*q));
}

static void seg_free(struct outq *q, struct outq_seg *s)
{
    if (s->release) {
        s->release(s->arg);
    }
    if (s->cap == OUTQ_BLOCK && !q->spare) {
        s->next = NULL;
        s->len = 0;
        s->pos = 0;
        q->spare = s;
        return;
    }
    gw_free(s);
}

void outq_fini(struct outq *q)
{
    struct outq_seg *s = q->head;
    while (s) {
        struct outq_seg *next = s->next;
        if (s->release) {
            s->release(s->arg);
        }
        gw_free(s);
        s = next;
    }
    gw_free(q->spare);
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
        size_t cap = n > OUTQ_BLOCK ? n : OUTQ_BLOCK;
        if (cap == OUTQ_BLOCK && q->spare) {
            t = q->spare;
            q->spare = NULL;
        } else {
            t = gw_alloc(sizeof(*t) + cap);
            if (!t) {
                return NULL;
            }
            t->cap = cap;
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

ssize_t outq_write(struct outq *q, int fd, size_t max_bytes)
{
    struct iovec iov[OUTQ_IOV_MAX];
    int n = 0;
    size_t total = 0;
    for (struct outq_seg *s = q->head; s && n < OUTQ_IOV_MAX && total < max_bytes; s = s->next) {
        size_t len = s->len - s->pos;
        if (len == 0) {
            continue;
        }
        iov[n].iov_base = (void *)(uintptr_t)(s->ptr + s->pos);
        iov[n].iov_len = len;
        total += len;
        n++;
    }
    if (n == 0) {
        return 0;
    }
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
        return errno == EINTR ? -EAGAIN : -errno;
    }
    size_t left = (size_t)w;
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
    return w;
}
