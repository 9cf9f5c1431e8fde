/* sess_expiry.c - offline sessions by expiry time: a binary min-heap of
 * sessions keyed by sess.expire_at_ms, with one loop timer set to the
 * earliest. A session expires when its interval ends, to the millisecond
 * of the loop's clock, instead of at the next sweep of every session
 * (MQTT 5.0 section 3.1.2.11.2, [MQTT-3.2.2-3]). svc_open also checks the
 * deadline, so a session is never resumed late. */
#include "alloc.h"
#include "broker.h"
#include "log.h"

static uint64_t key(const struct broker *b, uint32_t i)
{
    return b->expiry.heap[i]->expire_at_ms;
}

static void put(struct broker *b, uint32_t i, struct sess *s)
{
    b->expiry.heap[i] = s;
    s->expiry_idx = i + 1;
}

static void sift_up(struct broker *b, uint32_t i)
{
    struct sess *s = b->expiry.heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (key(b, parent) <= s->expire_at_ms) {
            break;
        }
        put(b, i, b->expiry.heap[parent]);
        i = parent;
    }
    put(b, i, s);
}

static void sift_down(struct broker *b, uint32_t i)
{
    struct sess *s = b->expiry.heap[i];
    uint32_t n = b->expiry.n;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && key(b, c + 1) < key(b, c)) {
            c++;
        }
        if (key(b, c) >= s->expire_at_ms) {
            break;
        }
        put(b, i, b->expiry.heap[c]);
        i = c;
    }
    put(b, i, s);
}

static void rearm(struct broker *b)
{
    loop_timer_stop(b->loop, &b->expiry_timer);
    if (b->expiry.n > 0) {
        (void)loop_timer_start(b->loop, &b->expiry_timer, key(b, 0));
    }
}

void broker_expiry_disarm(struct broker *b, struct sess *s)
{
    if (!s->expiry_idx) {
        return;
    }
    uint32_t i = s->expiry_idx - 1;
    s->expiry_idx = 0;
    struct sess *last = b->expiry.heap[--b->expiry.n];
    if (i < b->expiry.n) {
        put(b, i, last);
        sift_up(b, i);
        sift_down(b, last->expiry_idx - 1);
    }
    if (i == 0) {
        rearm(b);
    }
}

void broker_expiry_arm(struct broker *b, struct sess *s)
{
    broker_expiry_disarm(b, s);
    if (!s->expire_at_ms) {
        return; /* never expires */
    }
    if (b->expiry.n == b->expiry.cap) {
        uint32_t cap = b->expiry.cap ? b->expiry.cap * 2 : 64;
        struct sess **h = gw_realloc(b->expiry.heap, cap * sizeof(*h));
        if (!h) {
            /* svc_open still refuses to resume it once it is due. */
            gw_log(GW_WARN, "broker", "client=\"%s\" expiry not scheduled: out of memory", s->id);
            return;
        }
        b->expiry.heap = h;
        b->expiry.cap = cap;
    }
    put(b, b->expiry.n++, s);
    sift_up(b, s->expiry_idx - 1);
    if (s->expiry_idx == 1) {
        rearm(b);
    }
}

void broker_expiry_run(struct broker *b, uint64_t now_ms)
{
    while (b->expiry.n > 0 && key(b, 0) <= now_ms) {
        struct sess *s = b->expiry.heap[0];
        broker_expiry_disarm(b, s);
        if (s->link) {
            continue; /* connected again: expiry counts from its next disconnect */
        }
        gw_log(GW_NOTICE, "broker", "client=\"%s\" session expired", s->id);
        broker_reap_session(b, s);
    }
    rearm(b);
}

void broker_expiry_fini(struct broker *b)
{
    for (uint32_t i = 0; i < b->expiry.n; i++) {
        b->expiry.heap[i]->expiry_idx = 0;
    }
    gw_free(b->expiry.heap);
    b->expiry.heap = NULL;
    b->expiry.n = b->expiry.cap = 0;
}
