/* fuzz_frame_common.h - shared body of the serial framing fuzz targets.
 *
 * The first input octet picks a chunk size; the rest is the line. The
 * decoder must never hand out more than max_msg octets, must count every
 * octet, and must give the same results whether the line comes in chunks
 * or all at once (framing cannot depend on how read() splits the stream).
 * An idle at the end must leave no partial frame behind. Any mismatch
 * aborts so libFuzzer records the input. */
#ifndef FUZZ_FRAME_COMMON_H
#define FUZZ_FRAME_COMMON_H

#include "frame_feed.h"
#include "sn_frame.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_FRAME_MAX 300u

static struct feed_log fuzz_log_a;
static struct feed_log fuzz_log_b;

static void fuzz_run(enum sn_framing f, bool escaped, const uint8_t *in, size_t n, size_t chunk,
                     struct feed_log *log)
{
    static uint8_t buf[FUZZ_FRAME_MAX + 2];
    struct sn_frame_dec d;
    sn_frame_dec_init(&d, f, escaped, buf, sizeof(buf), FUZZ_FRAME_MAX);
    memset(log, 0, sizeof(*log));
    feed_chunks(&d, in, n, chunk, log);
    if (d.ctr.octets != n || d.ctr.frames > n) {
        abort();
    }
    sn_frame_idle(&d);
    feed_drain(&d, log);
    if (sn_frame_partial(&d)) {
        abort();
    }
    for (size_t i = 0; i < log->n; i++) {
        if (log->r[i].kind == SN_FRAME_MSG && (log->r[i].n == 0 || log->r[i].n > FUZZ_FRAME_MAX)) {
            abort();
        }
    }
}

static void fuzz_compare(void)
{
    if (fuzz_log_a.n != fuzz_log_b.n || fuzz_log_a.overflow != fuzz_log_b.overflow) {
        abort();
    }
    for (size_t i = 0; i < fuzz_log_a.n; i++) {
        const struct feed_result *x = &fuzz_log_a.r[i];
        const struct feed_result *y = &fuzz_log_b.r[i];
        if (x->kind != y->kind || x->n != y->n || memcmp(x->msg, y->msg, x->n) != 0 ||
            memcmp(x->addr, y->addr, 8) != 0 || x->frame_id != y->frame_id ||
            x->status != y->status) {
            abort();
        }
    }
}

/* Chunked versus whole, for one framing. Returns the line fed. */
static void fuzz_frame(enum sn_framing f, bool escaped, const uint8_t *data, size_t size)
{
    if (size < 1) {
        return;
    }
    size_t chunk = (size_t)data[0] % 17u + 1u;
    fuzz_run(f, escaped, data + 1, size - 1, chunk, &fuzz_log_a);
    fuzz_run(f, escaped, data + 1, size - 1, 0, &fuzz_log_b);
    fuzz_compare();
}

#endif
