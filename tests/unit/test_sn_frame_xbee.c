/* test_sn_frame_xbee.c - XBee API frames (mqttsn/sn_frame_xbee.c), modes 1
 * and 2, byte vectors computed independently from the Digi frame layout. */
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

static void init(bool escaped)
{
    sn_frame_dec_init(&dec, SN_FRAMING_XBEE, escaped, buf, sizeof(buf), 300);
    memset(&log_, 0, sizeof(log_));
}

static int setup(void **state)
{
    (void)state;
    init(false);
    return 0;
}

static const uint8_t src[8] = {0x00, 0x13, 0xA2, 0x00, 0x40, 0xA1, 0xB2, 0xC3};
/* 0x90 from src, 16-bit FFFE, options 01, RF data = PINGREQ 02 16. */
static const uint8_t rx_mode1[] = {0x7E, 0x00, 0x0E, 0x90, 0x00, 0x13, 0xA2, 0x00, 0x40,
                                   0xA1, 0xB2, 0xC3, 0xFF, 0xFE, 0x01, 0x02, 0x16, 0x4E};
/* The same in mode 2: the 0x13 of the address is escaped. */
static const uint8_t rx_mode2[] = {0x7E, 0x00, 0x0E, 0x90, 0x00, 0x7D, 0x33, 0xA2, 0x00, 0x40,
                                   0xA1, 0xB2, 0xC3, 0xFF, 0xFE, 0x01, 0x02, 0x16, 0x4E};
/* Source 00 13 A2 00 40 7E 11 13: three more escapes. */
static const uint8_t rx_esc[] = {0x7E, 0x00, 0x0E, 0x90, 0x00, 0x7D, 0x33, 0xA2, 0x00, 0x40, 0x7D,
                                 0x5E, 0x7D, 0x31, 0x7D, 0x33, 0xFF, 0xFE, 0x01, 0x02, 0x16, 0xC2};
/* Transmit status, frame id 1, delivery status 0x21 (network ACK failure). */
static const uint8_t tx_fail[] = {0x7E, 0x00, 0x07, 0x8B, 0x01, 0xFF, 0xFE, 0x00, 0x21, 0x00, 0x55};

static void test_xbee_rx_mode1_any_split(void **state)
{
    for (size_t chunk = 0; chunk <= sizeof(rx_mode1); chunk++) {
        setup(state);
        feed_chunks(&dec, rx_mode1, sizeof(rx_mode1), chunk, &log_);
        assert_int_equal(log_.n, 1);
        assert_int_equal(log_.r[0].kind, SN_FRAME_MSG);
        assert_int_equal(log_.r[0].n, 2);
        assert_int_equal(log_.r[0].msg[1], 0x16);
        assert_memory_equal(log_.r[0].addr, src, 8);
    }
}

static void test_xbee_rx_mode2_unescapes(void **state)
{
    (void)state;
    init(true);
    feed_chunks(&dec, rx_mode2, sizeof(rx_mode2), 1, &log_);
    assert_int_equal(log_.n, 1);
    assert_memory_equal(log_.r[0].addr, src, 8);
    feed_chunks(&dec, rx_esc, sizeof(rx_esc), 0, &log_);
    assert_int_equal(log_.n, 2);
    const uint8_t src2[8] = {0x00, 0x13, 0xA2, 0x00, 0x40, 0x7E, 0x11, 0x13};
    assert_memory_equal(log_.r[1].addr, src2, 8);
    assert_int_equal(dec.ctr.crc_errors + dec.ctr.framing_errors, 0);
}

static void test_xbee_rx64_802154(void **state)
{
    (void)state;
    /* 0x80: type, source64, RSSI 0x28, options 0x00, data 02 16. */
    uint8_t f[] = {0x7E, 0x00, 0x0D, 0x80, 0x00, 0x13, 0xA2, 0x00, 0x40,
                   0xA1, 0xB2, 0xC3, 0x28, 0x00, 0x02, 0x16, 0x00};
    uint8_t sum = 0;
    for (size_t i = 3; i < sizeof(f) - 1; i++) {
        sum = (uint8_t)(sum + f[i]);
    }
    f[sizeof(f) - 1] = (uint8_t)(0xFF - sum);
    feed_chunks(&dec, f, sizeof(f), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(log_.r[0].n, 2);
    assert_memory_equal(log_.r[0].addr, src, 8);
}

static void test_xbee_tx_request_vector(void **state)
{
    (void)state;
    const uint8_t bcast[8] = {0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    const uint8_t msg[] = {0x02, 0x17};
    const uint8_t want[] = {0x7E, 0x00, 0x10, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x00, 0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0x02, 0x17, 0xDA};
    uint8_t out[64];
    size_t n = sn_frame_xbee_encode(out, sizeof(out), false, 1, bcast, msg, 2);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, n);
    n = sn_frame_xbee_encode(out, sizeof(out), true, 1, bcast, msg, 2);
    assert_memory_equal(out, want, n); /* nothing to escape */
    /* escaped: destination with 0x7E / 0x11, checksum must still verify */
    const uint8_t dest[8] = {0x00, 0x13, 0xA2, 0x00, 0x40, 0x7E, 0x11, 0x7D};
    n = sn_frame_xbee_encode(out, sizeof(out), true, 0x13, dest, msg, 2);
    assert_true(n > sizeof(want));
    for (size_t i = 1; i < n; i++) {
        assert_true(out[i] != 0x7E && out[i] != 0x11 && out[i] != 0x13);
    }
    assert_int_equal(sn_frame_xbee_encode(out, 10, false, 1, bcast, msg, 2), 0);
}

static void test_xbee_tx_status_failure_counted(void **state)
{
    (void)state;
    feed_chunks(&dec, tx_fail, sizeof(tx_fail), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(log_.r[0].kind, SN_FRAME_TX_STATUS);
    assert_int_equal(log_.r[0].frame_id, 1);
    assert_int_equal(log_.r[0].status, 0x21);
    assert_int_equal(dec.ctr.tx_failed, 1);
}

static void test_xbee_bad_checksum_dropped(void **state)
{
    (void)state;
    uint8_t in[64];
    memcpy(in, rx_mode1, sizeof(rx_mode1));
    in[15] ^= 0x04; /* flipped bit in the RF data */
    memcpy(in + sizeof(rx_mode1), rx_mode1, sizeof(rx_mode1));
    feed_chunks(&dec, in, 2 * sizeof(rx_mode1), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(dec.ctr.crc_errors, 1);
}

static void test_xbee_mode2_start_cuts_broken_frame(void **state)
{
    (void)state;
    init(true);
    uint8_t in[64];
    memcpy(in, rx_mode2, 9); /* cut off */
    memcpy(in + 9, rx_mode2, sizeof(rx_mode2));
    feed_chunks(&dec, in, 9 + sizeof(rx_mode2), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(dec.ctr.framing_errors, 1);
}

static void test_xbee_noise_and_other_frames(void **state)
{
    (void)state;
    /* noise, an AT command response (0x88), then a receive packet */
    const uint8_t at_resp[] = {0x7E, 0x00, 0x05, 0x88, 0x01, 0x4D, 0x59, 0x00, 0x00};
    uint8_t in[64] = {0x11, 0x22, 0x33};
    uint8_t f[sizeof(at_resp)];
    memcpy(f, at_resp, sizeof(f));
    f[8] = (uint8_t)(0xFF - (uint8_t)(0x88 + 0x01 + 0x4D + 0x59 + 0x00));
    memcpy(in + 3, f, sizeof(f));
    memcpy(in + 3 + sizeof(f), rx_mode1, sizeof(rx_mode1));
    feed_chunks(&dec, in, 3 + sizeof(f) + sizeof(rx_mode1), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(dec.ctr.skipped, 3);
    assert_int_equal(dec.ctr.ignored, 1);
}

static void test_xbee_length_limits(void **state)
{
    (void)state;
    sn_frame_dec_init(&dec, SN_FRAMING_XBEE, false, buf, sizeof(buf), 20);
    const uint8_t big[] = {0x7E, 0x01, 0x00}; /* 256 > 20 */
    const uint8_t zero[] = {0x7E, 0x00, 0x00};
    feed_chunks(&dec, big, sizeof(big), 0, &log_);
    feed_chunks(&dec, zero, sizeof(zero), 0, &log_);
    feed_chunks(&dec, rx_mode1, sizeof(rx_mode1), 0, &log_);
    assert_int_equal(dec.ctr.framing_errors, 2);
    assert_int_equal(log_.n, 1);
    /* a receive frame without RF data is no message */
    const uint8_t empty[] = {0x7E, 0x00, 0x0C, 0x90, 0x00, 0x13, 0xA2, 0x00,
                             0x40, 0xA1, 0xB2, 0xC3, 0xFF, 0xFE, 0x01, 0x66};
    feed_chunks(&dec, empty, sizeof(empty), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(dec.ctr.framing_errors, 3);
}

static void test_xbee_idle_drops_partial(void **state)
{
    (void)state;
    feed_chunks(&dec, rx_mode1, 10, 0, &log_);
    assert_true(sn_frame_partial(&dec));
    sn_frame_idle(&dec);
    assert_false(sn_frame_partial(&dec));
    feed_chunks(&dec, rx_mode1, sizeof(rx_mode1), 0, &log_);
    assert_int_equal(log_.n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_xbee_rx_mode1_any_split, setup),
            cmocka_unit_test_setup(test_xbee_rx_mode2_unescapes, setup),
            cmocka_unit_test_setup(test_xbee_rx64_802154, setup),
            cmocka_unit_test_setup(test_xbee_tx_request_vector, setup),
            cmocka_unit_test_setup(test_xbee_tx_status_failure_counted, setup),
            cmocka_unit_test_setup(test_xbee_bad_checksum_dropped, setup),
            cmocka_unit_test_setup(test_xbee_mode2_start_cuts_broken_frame, setup),
            cmocka_unit_test_setup(test_xbee_noise_and_other_frames, setup),
            cmocka_unit_test_setup(test_xbee_length_limits, setup),
            cmocka_unit_test_setup(test_xbee_idle_drops_partial, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
