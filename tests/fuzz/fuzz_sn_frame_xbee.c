/* fuzz_sn_frame_xbee.c - libFuzzer target for the XBee API frame decoder
 * (mqttsn/sn_frame_xbee.c), API mode 1 and 2 (second input octet, low
 * bit): invariants in fuzz_frame_common.h. A transmit request encoded for
 * each message must carry no unescaped 0x7E after its start in mode 2. */
#include "fuzz_frame_common.h"

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[2 * (FUZZ_FRAME_MAX + 32)];
    if (size < 2) {
        return 0;
    }
    bool escaped = (data[1] & 1u) != 0;
    fuzz_frame(SN_FRAMING_XBEE, escaped, data, size);
    for (size_t i = 0; i < fuzz_log_b.n; i++) {
        const struct feed_result *r = &fuzz_log_b.r[i];
        if (r->kind != SN_FRAME_MSG) {
            continue;
        }
        size_t n = sn_frame_xbee_encode(frame, sizeof(frame), escaped, 1, r->addr, r->msg, r->n);
        if (n == 0) {
            abort();
        }
        for (size_t k = 1; escaped && k < n; k++) {
            if (frame[k] == 0x7E) {
                abort();
            }
        }
    }
    return 0;
}
