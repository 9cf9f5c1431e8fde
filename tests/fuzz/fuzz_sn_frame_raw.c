/* fuzz_sn_frame_raw.c - libFuzzer target for the raw framing decoder
 * (mqttsn/sn_frame_raw.c): invariants in fuzz_frame_common.h, and every
 * message handed out carries a Length field that matches its size (plain,
 * or a §5.5 encapsulation header plus an inner message). */
#include "fuzz_frame_common.h"

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t length_of(const uint8_t *p, size_t n)
{
    if (n >= 3 && p[0] == 0x01) {
        return (size_t)p[1] << 8 | p[2];
    }
    return n >= 1 ? p[0] : 0;
}

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_frame(SN_FRAMING_RAW, false, data, size);
    for (size_t i = 0; i < fuzz_log_b.n; i++) {
        const struct feed_result *r = &fuzz_log_b.r[i];
        size_t len = length_of(r->msg, r->n);
        if (r->n >= 3 && r->msg[0] >= 3 && r->msg[1] == 0xFE) {
            len = r->msg[0] + length_of(r->msg + r->msg[0], r->n - r->msg[0]);
        }
        if (len != r->n) {
            abort();
        }
    }
    return 0;
}
