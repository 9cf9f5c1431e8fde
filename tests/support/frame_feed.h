/* frame_feed.h - test helper: feed a byte vector through an sn_frame
 * decoder in chunks of a given size and collect every result (copied, so
 * the decoder's views may die). Header-only, for unit tests and fuzz
 * targets. */
#ifndef TEST_FRAME_FEED_H
#define TEST_FRAME_FEED_H

#include "sn_frame.h"

#include <string.h>

#define FEED_MAX_RESULTS 64
#define FEED_MAX_MSG     1024

struct feed_result {
    enum sn_frame_kind kind;
    size_t n;
    uint8_t msg[FEED_MAX_MSG];
    uint8_t addr[8];
    uint8_t frame_id;
    uint8_t status;
};

struct feed_log {
    size_t n;
    size_t overflow; /* results past FEED_MAX_RESULTS (not kept) */
    struct feed_result r[FEED_MAX_RESULTS];
};

static inline void feed_keep(struct feed_log *log, const struct sn_frame_out *out)
{
    if (log->n == FEED_MAX_RESULTS) {
        log->overflow++;
        return;
    }
    struct feed_result *r = &log->r[log->n++];
    r->kind = out->kind;
    r->n = out->msg.n < FEED_MAX_MSG ? out->msg.n : FEED_MAX_MSG;
    if (r->n) {
        memcpy(r->msg, out->msg.p, r->n);
    }
    memcpy(r->addr, out->addr, 8);
    r->frame_id = out->frame_id;
    r->status = out->status;
}

/* Drain results the decoder still holds (n == 0 calls). */
static inline void feed_drain(struct sn_frame_dec *d, struct feed_log *log)
{
    struct sn_frame_out out;
    for (int guard = 0; guard < 100000; guard++) {
        (void)sn_frame_decode(d, NULL, 0, &out);
        if (out.kind == SN_FRAME_NONE) {
            return;
        }
        feed_keep(log, &out);
    }
}

/* Feed in[0..n) in chunks of chunk octets (0: all at once). */
static inline void feed_chunks(struct sn_frame_dec *d, const uint8_t *in, size_t n, size_t chunk,
                               struct feed_log *log)
{
    size_t at = 0;
    while (at < n) {
        size_t k = chunk && n - at > chunk ? chunk : n - at;
        const uint8_t *p = in + at;
        at += k;
        while (k > 0) {
            struct sn_frame_out out;
            size_t used = sn_frame_decode(d, p, k, &out);
            p += used;
            k -= used;
            if (out.kind != SN_FRAME_NONE) {
                feed_keep(log, &out);
            }
        }
        feed_drain(d, log);
    }
}

#endif
