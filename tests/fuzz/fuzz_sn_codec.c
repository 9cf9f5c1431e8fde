/* fuzz_sn_codec.c - libFuzzer target for the MQTT-SN 1.2 codec.
 *
 * The input is one datagram. A decoded message must survive a round trip:
 * decode(encode(decode(x))) == decode(x) field by field, the re-encoding is
 * byte-stable and as long as x (2 octets shorter when x used the 3-octet
 * length form for a short message), and x minus its last octet is
 * GW_E_MALFORMED. The input is also decoded as an Encapsulated Message: the
 * inner message gets the same round trip and sn_encode_encap must rebuild x.
 * Any mismatch aborts so libFuzzer records the input. */
#include "gw_err.h"
#include "sn_codec.h"
#include "sn_msg_eq.h"

#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point: its name is fixed. */
// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encode m, decode it again, compare, re-encode and compare bytes.
 * Returns the encoded size. */
static size_t roundtrip(const struct sn_msg *m)
{
    size_t size = sn_encoded_size(m);
    uint8_t *enc = malloc(size);
    uint8_t *enc2 = malloc(size);
    struct sn_msg again;

    if (enc == NULL || enc2 == NULL || size > SN_MAX_LEN + 255u) {
        abort();
    }
    if (sn_encode(enc, size, m) != size) {
        abort();
    }
    if (sn_decode(enc, size, &again) != (ssize_t)size || !sn_msg_eq(m, &again)) {
        abort();
    }
    if (sn_encode(enc2, size, &again) != size || memcmp(enc, enc2, size) != 0) {
        abort();
    }
    free(enc);
    free(enc2);
    return size;
}

static void check_encap(const uint8_t *data, size_t size)
{
    struct sn_encap e;
    struct sn_msg inner;
    uint8_t *enc = NULL;
    size_t n = 0;

    if (sn_decode_encap(data, size, &e, &inner) < 0) {
        return;
    }
    if (inner.type == SN_ENCAPSULATED || e.radius > SN_RADIUS_MAX ||
        e.node_id.n > SN_ENCAP_NODE_MAX) {
        abort();
    }
    roundtrip(&inner);
    /* Canonical inner (1-octet form when it fits) gives back the input. */
    n = sn_encap_encoded_size(e.node_id.n, &inner);
    enc = malloc(n);
    if (enc == NULL || sn_encode_encap(enc, n, e.radius, e.node_id, &inner) != n) {
        abort();
    }
    if (n == size && memcmp(enc, data, n) != 0) {
        abort();
    }
    if (n != size && !(n + 2 == size && e.inner.p[0] == 0x01)) {
        abort();
    }
    free(enc);
}

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sn_msg m;
    struct sn_encap e;
    ssize_t used = sn_decode(data, size, &m);
    size_t enc_size = 0;

    if (used < 0) {
        if (used != GW_E_MALFORMED) {
            abort(); /* datagrams are whole: never INCOMPLETE */
        }
        if (sn_decode_encap(data, size, &e, &m) != GW_E_MALFORMED) {
            abort(); /* an encapsulation is a datagram sn_decode accepts */
        }
        return 0;
    }
    if ((size_t)used != size) {
        abort();
    }
    enc_size = roundtrip(&m);
    if (enc_size != size && !(enc_size + 2 == size && data[0] == 0x01)) {
        abort();
    }
    if (sn_decode(data, size - 1, &m) != GW_E_MALFORMED) {
        abort();
    }
    check_encap(data, size);
    return 0;
}
