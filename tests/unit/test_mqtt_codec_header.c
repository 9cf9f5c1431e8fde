/* test_mqtt_codec_header.c - the rules every packet shares: the fixed header
 * (remaining length, flags, types, the size limit) and UTF-8 strings. */
#include "mqtt_codec_fixture.h"

#include "gw_err.h"
#include "mqtt_codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- fixed header ----------------------------------------------------------- */

struct varint_case {
    uint32_t value;
    uint8_t bytes[4];
    size_t n;
};

static const struct varint_case varint_cases[] = {
        {0, {0x00}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {2097151, {0xff, 0xff, 0x7f}, 3},
        {2097152, {0x80, 0x80, 0x80, 0x01}, 4},
        {268435455, {0xff, 0xff, 0xff, 0x7f}, 4},
};

static void test_varint_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(varint_cases) / sizeof(varint_cases[0]); i++) {
        const struct varint_case *c = &varint_cases[i];
        uint8_t enc[4] = {0};
        uint8_t hdr[5] = {0x30};
        uint8_t tf = 0;
        uint32_t rem = 0;

        assert_int_equal(mqtt_varint_size(c->value), c->n);
        assert_int_equal(mqtt_varint_encode(enc, c->value), c->n);
        assert_memory_equal(enc, c->bytes, c->n);
        memcpy(hdr + 1, c->bytes, c->n);
        assert_int_equal(mqtt_decode_header(guarded(hdr, 1 + c->n), 1 + c->n, &tf, &rem),
                         (ssize_t)(1 + c->n));
        assert_int_equal(tf, 0x30);
        assert_int_equal(rem, c->value);
        for (size_t k = 0; k < 1 + c->n; k++) {
            assert_int_equal(mqtt_decode_header(guarded(hdr, k), k, &tf, &rem), GW_E_INCOMPLETE);
        }
    }
}

static void test_decode_varint_five_bytes_malformed(void **state)
{
    uint8_t tf = 0;
    uint32_t rem = 0;

    (void)state;
    /* a continuation bit on the fourth length byte: no fifth byte needed */
    assert_int_equal(
            mqtt_decode_header(guarded(BYTES(0x30, 0xff, 0xff, 0xff, 0xff), 5), 5, &tf, &rem),
            GW_E_MALFORMED);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x80, 0x80, 0x80, 0x80, 0x01);
}

static void test_decode_too_large_from_header(void **state)
{
    struct mqtt_limits lim = {MQTT_V311, 10};
    struct mqtt_pkt pkt;
    const uint8_t *hdr = guarded(BYTES(0x30, 0x09), 2);

    (void)state;
    /* 2 + 9 = 11 > 10: refused with only the header buffered */
    assert_int_equal(mqtt_decode(hdr, 2, &lim, &pkt), GW_E_TOO_LARGE);
    hdr = guarded(BYTES(0x30, 0xff, 0xff, 0xff, 0x7f), 5);
    lim.max_packet_size = 0; /* MQTT's own maximum: incomplete, not too large */
    assert_int_equal(mqtt_decode(hdr, 5, &lim, &pkt), GW_E_INCOMPLETE);
    lim.max_packet_size = 268435455u;
    assert_int_equal(mqtt_decode(hdr, 5, &lim, &pkt), GW_E_TOO_LARGE);
}

static void test_decode_max_packet_size_boundary_ok(void **state)
{
    struct mqtt_limits lim = {MQTT_V311, 12};
    struct mqtt_pkt pkt;
    const struct vec *v = &valid_vectors[8]; /* 12 bytes */

    (void)state;
    assert_int_equal(mqtt_decode(guarded(v->p, v->n), v->n, &lim, &pkt), 12);
    lim.max_packet_size = 11;
    assert_int_equal(mqtt_decode(guarded(v->p, v->n), v->n, &lim, &pkt), GW_E_TOO_LARGE);
}

static void test_decode_reserved_flags_malformed(void **state)
{
    (void)state;
    /* [MQTT-2.2.2-1] [MQTT-2.2.2-2]: every type but PUBLISH has fixed flags */
    for (size_t i = 0; i < N_VALID; i++) {
        const struct vec *v = &valid_vectors[i];
        uint8_t b[64];

        if ((v->p[0] >> 4) == MQTT_PUBLISH) {
            continue;
        }
        for (unsigned flags = 0; flags < 16; flags++) {
            if (flags == (v->p[0] & 0x0fu)) {
                continue;
            }
            memcpy(b, v->p, v->n);
            b[0] = (uint8_t)((v->p[0] & 0xf0u) | flags);
            expect_rc(b, v->n, MQTT_V311, GW_E_MALFORMED);
        }
    }
}

static void test_decode_pubrel_flags_zero_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x60, 0x02, 0x00, 0x01); /* [MQTT-3.6.1-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a');
}

static void test_decode_type0_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x00, 0x00);
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x00, 0x00);
}

static void test_decode_auth_v311_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xf0, 0x00);
    EXPECT_RC(MQTT_V31, GW_E_MALFORMED, 0xf0, 0x00);
}

/* A negotiated level the codec does not know decodes CONNECT only (MQTT 5
 * packets have their own tests in test_mqtt_props.c). */
static void test_decode_unknown_level_non_connect_malformed(void **state)
{
    (void)state;
    EXPECT_RC(6, GW_E_MALFORMED, 0xc0, 0x00);
    EXPECT_RC(6, GW_E_MALFORMED, 0x40, 0x02, 0x00, 0x01);
    EXPECT_RC(6, 17, 0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03,
              'a', 'b', 'c');
}

/* ---- UTF-8 ------------------------------------------------------------------ */

static const struct vec utf8_valid[] = {
        {BYTES(0), 0}, /* empty */
        VEC('a', 'b', 'c'),
        VEC(0xc2, 0x80),             /* U+0080 */
        VEC(0xdf, 0xbf),             /* U+07FF */
        VEC(0xe0, 0xa0, 0x80),       /* U+0800 */
        VEC(0xed, 0x9f, 0xbf),       /* U+D7FF */
        VEC(0xee, 0x80, 0x80),       /* U+E000 */
        VEC(0xef, 0xbb, 0xbf),       /* U+FEFF [MQTT-1.5.3-3] */
        VEC(0xef, 0xbf, 0xbf),       /* U+FFFF non-character: allowed */
        VEC(0xf0, 0x90, 0x80, 0x80), /* U+10000 */
        VEC(0xf4, 0x8f, 0xbf, 0xbf), /* U+10FFFF */
        VEC(0x01, 0x7f, 0xc2, 0x9f), /* control characters: SHOULD NOT, not MUST NOT */
        VEC('a', 0xe6, 0x97, 0xa5, 'b', 0xf0, 0x9f, 0x98, 0x80),
};

static const struct vec utf8_invalid[] = {
        VEC(0x00), /* U+0000 [MQTT-1.5.3-2] */
        VEC('a', 0x00, 'b'),
        VEC(0xc0, 0x80),             /* overlong U+0000 */
        VEC(0xc1, 0xbf),             /* overlong */
        VEC(0xe0, 0x80, 0x80),       /* overlong */
        VEC(0xe0, 0x9f, 0xbf),       /* overlong */
        VEC(0xf0, 0x80, 0x80, 0x80), /* overlong */
        VEC(0xf0, 0x8f, 0xbf, 0xbf), /* overlong */
        VEC(0xed, 0xa0, 0x80),       /* U+D800 [MQTT-1.5.3-1] */
        VEC(0xed, 0xbf, 0xbf),       /* U+DFFF */
        VEC(0xf4, 0x90, 0x80, 0x80), /* U+110000 */
        VEC(0xf5, 0x80, 0x80, 0x80),
        VEC(0xff),
        VEC(0xfe),
        VEC(0x80), /* lone continuation */
        VEC('a', 0xbf),
        VEC(0xc2), /* truncated */
        VEC(0xe1, 0x80),
        VEC(0xf1, 0x80, 0x80),
        VEC(0xc2, 0x41), /* bad continuation */
        VEC(0xe1, 0x80, 0x41),
        VEC(0xf1, 0x80, 0x80, 0x41),
        VEC(0xf1, 0x41, 0x80, 0x80),
};

static void test_utf8_valid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(utf8_valid) / sizeof(utf8_valid[0]); i++) {
        const struct vec *v = &utf8_valid[i];

        assert_true(mqtt_utf8_valid(guarded(v->p, v->n), v->n));
    }
}

static void test_utf8_invalid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(utf8_invalid) / sizeof(utf8_invalid[0]); i++) {
        const struct vec *v = &utf8_invalid[i];

        if (mqtt_utf8_valid(guarded(v->p, v->n), v->n)) {
            fail_msg("utf8_invalid[%zu] accepted", i);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_varint_table),
            cmocka_unit_test(test_decode_varint_five_bytes_malformed),
            cmocka_unit_test(test_decode_too_large_from_header),
            cmocka_unit_test(test_decode_max_packet_size_boundary_ok),
            cmocka_unit_test(test_decode_reserved_flags_malformed),
            cmocka_unit_test(test_decode_pubrel_flags_zero_malformed),
            cmocka_unit_test(test_decode_type0_malformed),
            cmocka_unit_test(test_decode_auth_v311_malformed),
            cmocka_unit_test(test_decode_unknown_level_non_connect_malformed),
            cmocka_unit_test(test_utf8_valid_table),
            cmocka_unit_test(test_utf8_invalid_table),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
