/* test_mqtt_codec_malformed.c - one test per malformed rule of each packet
 * type: CONNECT, CONNACK, PUBLISH, the acks, SUBSCRIBE, UNSUBSCRIBE, SUBACK. */
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

/* ---- CONNECT --------------------------------------------------------------- */

static void test_decode_connect_bad_protocol_name_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.2-1] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04,
              0x02, 0x00, 0x3c, 0x00, 0x00);
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'm', 'q', 't', 't', 0x04,
              0x02, 0x00, 0x3c, 0x00, 0x00);
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x02, 0x00, 0x00);
}

static void test_decode_connect_reserved_flag_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.2-3] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x03, 0x00, 0x3c, 0x00, 0x00);
}

static void test_decode_connect_will_qos_without_will_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.2-11] [MQTT-3.1.2-13] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x0a, 0x00, 0x3c, 0x00, 0x00);
}

static void test_decode_connect_will_retain_without_will_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.2-11] [MQTT-3.1.2-15] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x22, 0x00, 0x3c, 0x00, 0x00);
}

static void test_decode_connect_will_qos3_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.2-14] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x1e, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 't', 0x00, 0x01, 'x');
}

static void test_decode_connect_password_without_username_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.2-22] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x42, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 'p');
}

static void test_decode_connect_client_id_bad_utf8_malformed(void **state)
{
    (void)state;
    /* [MQTT-1.5.3-1] [MQTT-3.1.3-4]: a lone continuation byte */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x02, 0x00, 0x3c, 0x00, 0x01, 0x80);
}

static void test_decode_connect_client_id_nul_malformed(void **state)
{
    (void)state;
    /* [MQTT-1.5.3-2] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x02, 0x00, 0x3c, 0x00, 0x02, 'a', 0x00);
}

static void test_decode_connect_will_topic_bad_utf8_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.3-10]: surrogate U+D800 */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x14, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x06, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x03, 0xed, 0xa0, 0x80, 0x00, 0x01, 'x');
}

static void test_decode_connect_username_bad_utf8_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.1.3-11]: overlong '/' */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x82, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x02, 0xc0, 0xaf);
}

static void test_decode_connect_trailing_bytes_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x02, 0x00, 0x3c, 0x00, 0x00, 0x00);
}

static void test_decode_connect_missing_fields_malformed(void **state)
{
    (void)state;
    /* will flag set but no will topic / payload [MQTT-3.1.2-9] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x06, 0x00, 0x3c, 0x00, 0x00);
    /* user name flag set but no user name [MQTT-3.1.2-19] */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x82, 0x00, 0x3c, 0x00, 0x00);
    /* client id length runs past the packet */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x02, 0x00, 0x3c, 0x00, 0x05, 'a');
    /* stops inside the keep alive */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x09, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
              0x02, 0x00);
}

static void test_decode_connect_v5_props_past_end_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
              0x02, 0x00, 0x3c, 0x09, 0x00, 0x00);
    /* property length varint over four bytes */
    EXPECT_RC(MQTT_V_UNKNOWN, GW_E_MALFORMED, 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
              0x02, 0x00, 0x3c, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00);
}

/* ---- CONNACK --------------------------------------------------------------- */

static void test_decode_connack_reserved_bits_malformed(void **state)
{
    (void)state;
    /* 3.2.2.1: bits 7-1 of the acknowledge flags are reserved */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x20, 0x02, 0x02, 0x00);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x20, 0x02, 0x80, 0x00);
}

static void test_decode_connack_wrong_length_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x20, 0x01, 0x00);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x20, 0x03, 0x00, 0x00, 0x00);
}

/* ---- PUBLISH --------------------------------------------------------------- */

static void test_decode_publish_qos3_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.3.1-4] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01);
}

static void test_decode_publish_dup_qos0_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.3.1-2] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x38, 0x03, 0x00, 0x01, 'a');
}

static void test_decode_publish_wildcard_topic_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.3.2-2] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x05, 0x00, 0x03, 'a', '/', '+');
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x03, 0x00, 0x01, '#');
}

static void test_decode_publish_empty_topic_malformed(void **state)
{
    (void)state;
    /* [MQTT-4.7.3-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x03, 0x00, 0x00, 'x');
}

static void test_decode_publish_topic_bad_utf8_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.3.2-1] [MQTT-1.5.3-1] [MQTT-1.5.3-2] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x04, 0x00, 0x02, 0xc3, 0x28);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x04, 0x00, 0x02, 'a', 0x00);
}

static void test_decode_publish_packet_id_zero_malformed(void **state)
{
    (void)state;
    /* [MQTT-2.3.1-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00);
}

static void test_decode_publish_truncated_fields_malformed(void **state)
{
    (void)state;
    /* topic length past the packet; QoS 1 without a packet id */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x03, 0x00, 0x05, 'a');
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x32, 0x04, 0x00, 0x01, 'a', 0x01);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x30, 0x01, 0x00);
}

/* ---- acks ------------------------------------------------------------------ */

static const uint8_t ack_first_bytes[] = {0x40, 0x50, 0x62, 0x70, 0xb0};

static void test_decode_ack_wrong_length_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ack_first_bytes); i++) {
        uint8_t b0 = ack_first_bytes[i];

        expect_rc(BYTES(b0, 0x03, 0x00, 0x01, 0x00), 5, MQTT_V311, GW_E_MALFORMED);
        expect_rc(BYTES(b0, 0x01, 0x01), 3, MQTT_V311, GW_E_MALFORMED);
        expect_rc(BYTES(b0, 0x00), 2, MQTT_V311, GW_E_MALFORMED);
    }
}

static void test_decode_ack_packet_id_zero_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ack_first_bytes); i++) {
        uint8_t b0 = ack_first_bytes[i];

        expect_rc(BYTES(b0, 0x02, 0x00, 0x00), 4, MQTT_V311, GW_E_MALFORMED);
    }
}

/* ---- SUBSCRIBE / UNSUBSCRIBE / SUBACK -------------------------------------- */

static void test_decode_subscribe_packet_id_zero_malformed(void **state)
{
    (void)state;
    /* [MQTT-2.3.1-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00);
}

static void test_decode_subscribe_no_filter_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.8.3-3] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x02, 0x00, 0x01);
}

static void test_decode_subscribe_empty_filter_malformed(void **state)
{
    (void)state;
    /* [MQTT-4.7.3-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00);
}

static void test_decode_subscribe_bad_utf8_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.8.3-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xff, 0x00);
}

static void test_decode_subscribe_options_reserved_bits_malformed(void **state)
{
    (void)state;
    /* [MQTT-3-8.3-4] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x80);
}

static void test_decode_subscribe_qos3_malformed(void **state)
{
    (void)state;
    /* [MQTT-3-8.3-4] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03);
}

static void test_decode_subscribe_truncated_entry_malformed(void **state)
{
    (void)state;
    /* options byte missing; filter length past the packet */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a');
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x06, 0x00, 0x01, 0x00, 0x04, 'a', 0x00);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x82, 0x03, 0x00, 0x01, 0x00);
}

static void test_decode_subscribe_bad_wildcards_decode(void **state)
{
    (void)state;
    /* filter syntax is the broker's call (SUBACK 0x80), not a malformed packet */
    EXPECT_RC(MQTT_V311, 12, 0x82, 0x0a, 0x00, 0x01, 0x00, 0x05, 'a', '/', '#', '/', 'b', 0x00);
    EXPECT_RC(MQTT_V311, 8, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, '#', 0x00);
}

static void test_decode_unsubscribe_packet_id_zero_malformed(void **state)
{
    (void)state;
    /* [MQTT-2.3.1-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a');
}

static void test_decode_unsubscribe_no_filter_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.10.3-2] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xa2, 0x02, 0x00, 0x01);
}

static void test_decode_unsubscribe_bad_utf8_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.10.3-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xa2, 0x06, 0x00, 0x01, 0x00, 0x02, 'a', 0x00);
}

static void test_decode_unsubscribe_empty_filter_malformed(void **state)
{
    (void)state;
    /* [MQTT-4.7.3-1] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xa2, 0x04, 0x00, 0x01, 0x00, 0x00);
}

static void test_decode_suback_bad_return_code_malformed(void **state)
{
    (void)state;
    /* [MQTT-3.9.3-2] */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x90, 0x03, 0x00, 0x01, 0x03);
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x90, 0x04, 0x00, 0x01, 0x00, 0x81);
}

static void test_decode_suback_no_return_code_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x90, 0x02, 0x00, 0x01);
}

static void test_decode_suback_packet_id_zero_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0x90, 0x03, 0x00, 0x00, 0x00);
}

static void test_decode_empty_body_types_nonzero_length_malformed(void **state)
{
    (void)state;
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xc0, 0x01, 0x00); /* PINGREQ */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xd0, 0x01, 0x00); /* PINGRESP */
    EXPECT_RC(MQTT_V311, GW_E_MALFORMED, 0xe0, 0x01, 0x00); /* DISCONNECT */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_decode_connect_bad_protocol_name_malformed),
            cmocka_unit_test(test_decode_connect_reserved_flag_malformed),
            cmocka_unit_test(test_decode_connect_will_qos_without_will_malformed),
            cmocka_unit_test(test_decode_connect_will_retain_without_will_malformed),
            cmocka_unit_test(test_decode_connect_will_qos3_malformed),
            cmocka_unit_test(test_decode_connect_password_without_username_malformed),
            cmocka_unit_test(test_decode_connect_client_id_bad_utf8_malformed),
            cmocka_unit_test(test_decode_connect_client_id_nul_malformed),
            cmocka_unit_test(test_decode_connect_will_topic_bad_utf8_malformed),
            cmocka_unit_test(test_decode_connect_username_bad_utf8_malformed),
            cmocka_unit_test(test_decode_connect_trailing_bytes_malformed),
            cmocka_unit_test(test_decode_connect_missing_fields_malformed),
            cmocka_unit_test(test_decode_connect_v5_props_past_end_malformed),
            cmocka_unit_test(test_decode_connack_reserved_bits_malformed),
            cmocka_unit_test(test_decode_connack_wrong_length_malformed),
            cmocka_unit_test(test_decode_publish_qos3_malformed),
            cmocka_unit_test(test_decode_publish_dup_qos0_malformed),
            cmocka_unit_test(test_decode_publish_wildcard_topic_malformed),
            cmocka_unit_test(test_decode_publish_empty_topic_malformed),
            cmocka_unit_test(test_decode_publish_topic_bad_utf8_malformed),
            cmocka_unit_test(test_decode_publish_packet_id_zero_malformed),
            cmocka_unit_test(test_decode_publish_truncated_fields_malformed),
            cmocka_unit_test(test_decode_ack_wrong_length_malformed),
            cmocka_unit_test(test_decode_ack_packet_id_zero_malformed),
            cmocka_unit_test(test_decode_subscribe_packet_id_zero_malformed),
            cmocka_unit_test(test_decode_subscribe_no_filter_malformed),
            cmocka_unit_test(test_decode_subscribe_empty_filter_malformed),
            cmocka_unit_test(test_decode_subscribe_bad_utf8_malformed),
            cmocka_unit_test(test_decode_subscribe_options_reserved_bits_malformed),
            cmocka_unit_test(test_decode_subscribe_qos3_malformed),
            cmocka_unit_test(test_decode_subscribe_truncated_entry_malformed),
            cmocka_unit_test(test_decode_subscribe_bad_wildcards_decode),
            cmocka_unit_test(test_decode_unsubscribe_packet_id_zero_malformed),
            cmocka_unit_test(test_decode_unsubscribe_no_filter_malformed),
            cmocka_unit_test(test_decode_unsubscribe_bad_utf8_malformed),
            cmocka_unit_test(test_decode_unsubscribe_empty_filter_malformed),
            cmocka_unit_test(test_decode_suback_bad_return_code_malformed),
            cmocka_unit_test(test_decode_suback_no_return_code_malformed),
            cmocka_unit_test(test_decode_suback_packet_id_zero_malformed),
            cmocka_unit_test(test_decode_empty_body_types_nonzero_length_malformed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
