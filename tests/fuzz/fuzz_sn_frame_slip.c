/* fuzz_sn_frame_slip.c - libFuzzer target for the slip framing decoder
 * (mqttsn/sn_frame_slip.c): invariants in fuzz_frame_common.h, and every
 * message handed out survives encode then decode unchanged. */
#include "fuzz_frame_common.h"

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[2 * FUZZ_FRAME_MAX + 8];
    static struct feed_log again;
    fuzz_frame(SN_FRAMING_SLIP, false, data, size);
    for (size_t i = 0; i < fuzz_log_b.n; i++) {
        const struct feed_result *r = &fuzz_log_b.r[i];
        size_t n = sn_frame_slip_encode(frame, sizeof(frame), r->msg, r->n);
        if (n == 0) {
            abort();
        }
        fuzz_run(SN_FRAMING_SLIP, false, frame, n, 0, &again);
        if (again.n != 1 || again.r[0].n != r->n || memcmp(again.r[0].msg, r->msg, r->n) != 0) {
            abort();
        }
    }
    return 0;
}
