/* test_sn_frame_slip.c - slip framing (mqttsn/sn_frame_slip.c): RFC 1055
 * with CRC-16/CCITT-FALSE, byte vectors computed independently. */
#include "frame_feed.h"
#include "sn_frame.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static uint8_t buf[512];
static struct sn_frame_dec dec;
static struct feed_log log_;

static int setup(void **state)
{
    (void)state;
    sn_frame_dec_init(&dec, SN_FRAMING_SLIP, false, buf, sizeof(buf), 256);
    memset(&log_, 0, sizeof(log_));
    return 0;
}

/* PINGREQ 02 16, CRC 0x099A. */
static const uint8_t ping_frame[] = {0xC0, 0x02, 0x16, 0x09, 0x9A, 0xC0};
/* 04 0C C0 DB (END and ESC inside), CRC 0x5712. */
static const uint8_t esc_msg[] = {0x04, 0x0C, 0xC0, 0xDB};
static const uint8_t esc_frame[] = {0xC0, 0x04, 0x0C, 0xDB, 0xDC, 0xDB, 0xDD, 0x57, 0x12, 0xC0};

static void test_slip_crc16_check_value(void **state)
{
    (void)state;
    assert_int_equal(sn_frame_crc16((const uint8_t *)"123456789", 9), 0x29B1);
    assert_int_equal(sn_frame_crc16(NULL, 0), 0xFFFF);
}

static void test_slip_encode_vectors(void **state)
{
    (void)state;
    uint8_t out[64];
    const uint8_t ping[] = {0x02, 0x16};
    size_t n = sn_frame_slip_encode(out, sizeof(out), ping, 2);
    assert_int_equal(n, sizeof(ping_frame));
    assert_memory_equal(out, ping_frame, n);
    n = sn_frame_slip_encode(out, sizeof(out), esc_msg, sizeof(esc_msg));
    assert_int_equal(n, sizeof(esc_frame));
    assert_memory_equal(out, esc_frame, n);
    assert_int_equal(sn_frame_slip_encode(out, 5, ping, 2), 0); /* too small */
}

static void test_slip_decode_any_split(void **state)
{
    uint8_t in[32];
    memcpy(in, ping_frame, sizeof(ping_frame));
    memcpy(in + sizeof(ping_frame), esc_frame, sizeof(esc_frame));
    size_t n = sizeof(ping_frame) + sizeof(esc_frame);
    for (size_t chunk = 0; chunk <= n; chunk++) {
        setup(state);
        feed_chunks(&dec, in, n, chunk, &log_);
        assert_int_equal(log_.n, 2);
        assert_int_equal(log_.r[0].n, 2);
        assert_int_equal(log_.r[0].msg[1], 0x16);
        assert_int_equal(log_.r[1].n, sizeof(esc_msg));
        assert_memory_equal(log_.r[1].msg, esc_msg, sizeof(esc_msg));
        assert_int_equal(dec.ctr.framing_errors + dec.ctr.crc_errors, 0);
    }
}

static void test_slip_bad_crc_dropped_next_frame_kept(void **state)
{
    (void)state;
    uint8_t in[32];
    memcpy(in, esc_frame, sizeof(esc_frame));
    in[1] ^= 0x01; /* flipped bit */
    memcpy(in + sizeof(esc_frame), ping_frame, sizeof(ping_frame));
    feed_chunks(&dec, in, sizeof(esc_frame) + sizeof(ping_frame), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(log_.r[0].msg[1], 0x16);
    assert_int_equal(dec.ctr.crc_errors, 1);
}

static void test_slip_noise_between_frames_costs_nothing_else(void **state)
{
    (void)state;
    const uint8_t noise[] = {0x55, 0xAA, 0x13, 0x00, 0xFF};
    uint8_t in[64];
    size_t n = 0;
    memcpy(in + n, ping_frame, sizeof(ping_frame));
    n += sizeof(ping_frame);
    memcpy(in + n, noise, sizeof(noise));
    n += sizeof(noise);
    memcpy(in + n, ping_frame, sizeof(ping_frame));
    n += sizeof(ping_frame);
    feed_chunks(&dec, in, n, 3, &log_);
    assert_int_equal(log_.n, 2);
    assert_int_equal(dec.ctr.crc_errors, 1); /* the noise became a frame of its own */
}

static void test_slip_bad_escape_drops_frame(void **state)
{
    (void)state;
    const uint8_t in[] = {0xC0, 0x02, 0xDB, 0x01, 0x16, 0x09, 0x9A,
                          0xC0, 0xC0, 0x02, 0x16, 0x09, 0x9A, 0xC0};
    feed_chunks(&dec, in, sizeof(in), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(dec.ctr.framing_errors, 1);
    const uint8_t esc_end[] = {0xC0, 0x02, 0x16, 0xDB, 0xC0};
    feed_chunks(&dec, esc_end, sizeof(esc_end), 0, &log_);
    assert_int_equal(dec.ctr.framing_errors, 2);
}

static void test_slip_short_and_empty_frames(void **state)
{
    (void)state;
    const uint8_t in[] = {0xC0, 0xC0, 0xC0, 0x02, 0x16, 0x09, 0xC0};
    feed_chunks(&dec, in, sizeof(in), 0, &log_);
    assert_int_equal(log_.n, 0);
    assert_int_equal(dec.ctr.framing_errors, 1); /* 3 octets: no room for a message + CRC */
}

static void test_slip_too_long_frame_dropped(void **state)
{
    (void)state;
    sn_frame_dec_init(&dec, SN_FRAMING_SLIP, false, buf, sizeof(buf), 16);
    uint8_t in[64];
    memset(in, 0x41, sizeof(in));
    in[0] = 0xC0;
    in[40] = 0xC0;
    memcpy(in + 41, ping_frame, sizeof(ping_frame));
    feed_chunks(&dec, in, 41 + sizeof(ping_frame), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(dec.ctr.framing_errors, 1);
    assert_true(dec.ctr.skipped > 0);
}

static void test_slip_idle_drops_partial(void **state)
{
    (void)state;
    feed_chunks(&dec, ping_frame, 4, 0, &log_);
    assert_true(sn_frame_partial(&dec));
    sn_frame_idle(&dec);
    assert_false(sn_frame_partial(&dec));
    assert_int_equal(dec.ctr.framing_errors, 1);
    feed_chunks(&dec, ping_frame, sizeof(ping_frame), 0, &log_);
    assert_int_equal(log_.n, 1);
}

static void test_slip_roundtrip_every_octet_value(void **state)
{
    (void)state;
    uint8_t msg[256];
    msg[0] = 0x01; /* 3-octet Length form: 01 01 00, then every value */
    for (size_t i = 1; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)i;
    }
    static uint8_t frame[600];
    size_t n = sn_frame_slip_encode(frame, sizeof(frame), msg, sizeof(msg));
    assert_true(n > sizeof(msg) + 4);
    feed_chunks(&dec, frame, n, 7, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(log_.r[0].n, sizeof(msg));
    assert_memory_equal(log_.r[0].msg, msg, sizeof(msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_slip_crc16_check_value, setup),
            cmocka_unit_test_setup(test_slip_encode_vectors, setup),
            cmocka_unit_test_setup(test_slip_decode_any_split, setup),
            cmocka_unit_test_setup(test_slip_bad_crc_dropped_next_frame_kept, setup),
            cmocka_unit_test_setup(test_slip_noise_between_frames_costs_nothing_else, setup),
            cmocka_unit_test_setup(test_slip_bad_escape_drops_frame, setup),
            cmocka_unit_test_setup(test_slip_short_and_empty_frames, setup),
            cmocka_unit_test_setup(test_slip_too_long_frame_dropped, setup),
            cmocka_unit_test_setup(test_slip_idle_drops_partial, setup),
            cmocka_unit_test_setup(test_slip_roundtrip_every_octet_value, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
