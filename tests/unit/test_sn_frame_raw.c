/* test_sn_frame_raw.c - raw framing (mqttsn/sn_frame_raw.c): messages back
 * to back by their Length field, forwarder encapsulation, resync rules. */
#include "frame_feed.h"
#include "sn_frame.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static uint8_t buf[2048];
static struct sn_frame_dec dec;
static struct feed_log log_;

static int setup(void **state)
{
    (void)state;
    sn_frame_dec_init(&dec, SN_FRAMING_RAW, false, buf, sizeof(buf), 1024);
    memset(&log_, 0, sizeof(log_));
    return 0;
}

/* PINGREQ (02 16), a CONNECT, a PUBLISH with a 3-octet Length. */
static const uint8_t pingreq[] = {0x02, 0x16};
static const uint8_t connect[] = {0x0A, 0x04, 0x04, 0x01, 0x00, 0x3C, 't', 'e', 's', 't'};
static const uint8_t publish3[] = {0x01, 0x00, 0x0B, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00, 'h', 'i'};

static size_t cat3(uint8_t *out)
{
    size_t n = 0;
    memcpy(out + n, pingreq, sizeof(pingreq));
    n += sizeof(pingreq);
    memcpy(out + n, connect, sizeof(connect));
    n += sizeof(connect);
    memcpy(out + n, publish3, sizeof(publish3));
    n += sizeof(publish3);
    return n;
}

static void expect_three(void)
{
    assert_int_equal(log_.n, 3);
    assert_int_equal(log_.r[0].n, sizeof(pingreq));
    assert_memory_equal(log_.r[0].msg, pingreq, sizeof(pingreq));
    assert_int_equal(log_.r[1].n, sizeof(connect));
    assert_memory_equal(log_.r[1].msg, connect, sizeof(connect));
    assert_int_equal(log_.r[2].n, sizeof(publish3));
    assert_memory_equal(log_.r[2].msg, publish3, sizeof(publish3));
}

static void test_raw_back_to_back_any_split_whole_messages(void **state)
{
    uint8_t in[64];
    size_t n = cat3(in);
    for (size_t chunk = 0; chunk <= n; chunk++) {
        setup(state);
        feed_chunks(&dec, in, n, chunk, &log_);
        expect_three();
        assert_int_equal(dec.ctr.frames, 3);
        assert_int_equal(dec.ctr.framing_errors, 0);
        assert_int_equal(dec.ctr.octets, n);
        assert_false(sn_frame_partial(&dec));
    }
}

static void test_raw_prefix_is_partial_not_a_message(void **state)
{
    (void)state;
    for (size_t k = 1; k < sizeof(connect); k++) {
        setup(state);
        feed_chunks(&dec, connect, k, 0, &log_);
        assert_int_equal(log_.n, 0);
        assert_true(sn_frame_partial(&dec));
    }
}

static void test_raw_encapsulated_message_is_one_frame(void **state)
{
    (void)state;
    /* §5.5: 05 FE Ctrl=00 node 0x11 0x22, then PINGREQ; then a plain one. */
    const uint8_t in[] = {0x05, 0xFE, 0x00, 0x11, 0x22, 0x02, 0x16, 0x02, 0x17};
    for (size_t chunk = 0; chunk <= sizeof(in); chunk++) {
        setup(state);
        feed_chunks(&dec, in, sizeof(in), chunk, &log_);
        assert_int_equal(log_.n, 2);
        assert_int_equal(log_.r[0].n, 7);
        assert_memory_equal(log_.r[0].msg, in, 7);
        assert_int_equal(log_.r[1].n, 2);
        assert_int_equal(log_.r[1].msg[1], 0x17);
    }
}

static void test_raw_bad_starts_resync_to_next_message(void **state)
{
    (void)state;
    /* 00: length 0; 01 00 00: 3-octet length below 4; then a PINGREQ. */
    const uint8_t in[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x16};
    feed_chunks(&dec, in, sizeof(in), 1, &log_);
    assert_int_equal(log_.n, 1);
    assert_memory_equal(log_.r[0].msg, pingreq, 2);
    assert_int_equal(dec.ctr.framing_errors, 1); /* one episode */
    assert_int_equal(dec.ctr.skipped, 5);
}

static void test_raw_length_over_limit_is_skipped(void **state)
{
    (void)state;
    sn_frame_dec_init(&dec, SN_FRAMING_RAW, false, buf, sizeof(buf), 64);
    /* 01 FF FF: 65535 > 64; FF: 255 > 64; then a message. */
    const uint8_t in[] = {0x01, 0xFF, 0xFF, 0xFF, 0x02, 0x16};
    feed_chunks(&dec, in, sizeof(in), 0, &log_);
    assert_int_equal(log_.n, 1);
    assert_int_equal(log_.r[0].n, 2);
    assert_int_equal(dec.ctr.skipped, 4);
}

static void test_raw_reserved_type_handed_out_whole(void **state)
{
    (void)state;
    /* type 0x03 is reserved: a whole message, the gateway drops it */
    const uint8_t in[] = {0x03, 0x03, 0xAA, 0x02, 0x16};
    feed_chunks(&dec, in, sizeof(in), 0, &log_);
    assert_int_equal(log_.n, 2);
    assert_int_equal(log_.r[0].n, 3);
    assert_int_equal(dec.ctr.framing_errors, 0);
}

static void test_raw_bad_encapsulation_resyncs(void **state)
{
    (void)state;
    /* encapsulation whose inner Length is 0: not a start. The next octet
     * (0xFE) claims 254 octets that never come; once the line is idle,
     * skipping finds the PINGREQ. */
    const uint8_t in[] = {0x03, 0xFE, 0x00, 0x00, 0x02, 0x16};
    feed_chunks(&dec, in, sizeof(in), 0, &log_);
    assert_int_equal(log_.n, 0);
    sn_frame_idle(&dec);
    feed_drain(&dec, &log_);
    assert_int_equal(dec.ctr.framing_errors, 1);
    assert_int_equal(log_.n, 1);
    assert_int_equal(log_.r[0].n, 2);
    assert_int_equal(log_.r[0].msg[1], 0x16);
    assert_int_equal(dec.ctr.skipped, 4);
}

static void test_raw_idle_releases_false_start(void **state)
{
    (void)state;
    /* noise 0x40 claims 64 octets; the PINGREQ and CONNECT that follow
     * would be swallowed, but the line goes quiet: idle drops octets from
     * the front until whole messages are left. */
    uint8_t in[32] = {0x40};
    memcpy(in + 1, pingreq, 2);
    memcpy(in + 3, connect, sizeof(connect));
    size_t n = 3 + sizeof(connect);
    feed_chunks(&dec, in, n, 0, &log_);
    assert_int_equal(log_.n, 0);
    assert_true(sn_frame_partial(&dec));
    sn_frame_idle(&dec);
    feed_drain(&dec, &log_);
    assert_int_equal(log_.n, 2);
    assert_memory_equal(log_.r[0].msg, pingreq, 2);
    assert_memory_equal(log_.r[1].msg, connect, sizeof(connect));
    assert_false(sn_frame_partial(&dec));
    assert_int_equal(dec.ctr.skipped, 1);
}

static void test_raw_idle_without_partial_is_noop(void **state)
{
    (void)state;
    sn_frame_idle(&dec);
    feed_drain(&dec, &log_);
    assert_int_equal(log_.n, 0);
    assert_int_equal(dec.ctr.framing_errors, 0);
}

static void test_raw_buffer_never_overflows(void **state)
{
    (void)state;
    /* 5000 octets of 0xFF with max 200: every start is too long. */
    static uint8_t small[256];
    sn_frame_dec_init(&dec, SN_FRAMING_RAW, false, small, sizeof(small), 200);
    static uint8_t in[5000];
    memset(in, 0xC8, sizeof(in)); /* 200: plausible, but never complete in a row */
    feed_chunks(&dec, in, sizeof(in), 0, &log_);
    assert_true(log_.n >= 20);
    assert_int_equal(dec.ctr.octets, sizeof(in));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_raw_back_to_back_any_split_whole_messages, setup),
            cmocka_unit_test_setup(test_raw_prefix_is_partial_not_a_message, setup),
            cmocka_unit_test_setup(test_raw_encapsulated_message_is_one_frame, setup),
            cmocka_unit_test_setup(test_raw_bad_starts_resync_to_next_message, setup),
            cmocka_unit_test_setup(test_raw_length_over_limit_is_skipped, setup),
            cmocka_unit_test_setup(test_raw_reserved_type_handed_out_whole, setup),
            cmocka_unit_test_setup(test_raw_bad_encapsulation_resyncs, setup),
            cmocka_unit_test_setup(test_raw_idle_releases_false_start, setup),
            cmocka_unit_test_setup(test_raw_idle_without_partial_is_noop, setup),
            cmocka_unit_test_setup(test_raw_buffer_never_overflows, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
