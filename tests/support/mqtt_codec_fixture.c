/* mqtt_codec_fixture.c - see mqtt_codec_fixture.h. */
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

ssize_t decode_v(const uint8_t *b, size_t n, uint8_t version, struct mqtt_pkt *out)
{
    struct mqtt_limits lim = {version, 0};

    return mqtt_decode(guarded(b, n), n, &lim, out);
}

void expect_rc(const uint8_t *b, size_t n, uint8_t version, ssize_t rc)
{
    struct mqtt_pkt out;
    struct mqtt_pkt before;

    memset(&out, 0xa5, sizeof(out));
    before = out;
    assert_int_equal(decode_v(b, n, version, &out), rc);
    if (rc < 0) {
        /* *out is written only on success */
        assert_memory_equal(&out, &before, sizeof(out));
    }
}

const struct vec valid_vectors[] = {
        /* CONNECT "MQTT" 4, clean, keepalive 60, client id "abc" */
        VEC(0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 'a',
            'b', 'c'),
        /* CONNECT with will (QoS 1, retain), user name and binary password */
        VEC(0x10, 0x1f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xee, 0x01, 0x2c, 0x00, 0x02, 'c',
            '1', 0x00, 0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e', 0x00, 0x01, 'u', 0x00, 0x02,
            0x01, 0x00),
        /* CONNECT MQTT 3.1 "MQIsdp" 3, client id "id" */
        VEC(0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3c, 0x00,
            0x02, 'i', 'd'),
        /* CONNECT "MQTT" 4, empty client id, no clean session */
        VEC(0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x00, 0x00, 0x00),
        /* CONNECT "MQTT" 5: properties (session expiry 10), client id "a" */
        VEC(0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x05, 0x11, 0x00,
            0x00, 0x00, 0x0a, 0x00, 0x01, 'a'),
        /* CONNECT "MQTT" 5 with a will: empty properties and will properties */
        VEC(0x10, 0x15, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3c, 0x00, 0x00, 0x01,
            'a', 0x00, 0x00, 0x01, 't', 0x00, 0x01, 'x'),
        /* CONNACK session present, accepted; CONNACK refused, not authorized */
        VEC(0x20, 0x02, 0x01, 0x00), VEC(0x20, 0x02, 0x00, 0x05),
        /* PUBLISH QoS 0 "a/b" "hello" */
        VEC(0x30, 0x0a, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o'),
        /* PUBLISH QoS 1, DUP, RETAIN, packet id 10, "hi" */
        VEC(0x3b, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0a, 'h', 'i'),
        /* PUBLISH QoS 2, packet id 0x1234, empty payload */
        VEC(0x34, 0x07, 0x00, 0x03, 'x', 'y', 'z', 0x12, 0x34),
        VEC(0x40, 0x02, 0x00, 0x01), /* PUBACK */
        VEC(0x50, 0x02, 0x00, 0x02), /* PUBREC */
        VEC(0x62, 0x02, 0x00, 0x03), /* PUBREL */
        VEC(0x70, 0x02, 0x00, 0x04), /* PUBCOMP */
        /* SUBSCRIBE id 10: "a/b" QoS 1, "s/#" QoS 2 */
        VEC(0x82, 0x0e, 0x00, 0x0a, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 's', '/', '#',
            0x02),
        /* SUBACK id 10: 1, 2, failure */
        VEC(0x90, 0x05, 0x00, 0x0a, 0x01, 0x02, 0x80),
        /* UNSUBSCRIBE id 11: "a/b", "s/#" */
        VEC(0xa2, 0x0c, 0x00, 0x0b, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x03, 's', '/', '#'),
        VEC(0xb0, 0x02, 0x00, 0x0b), /* UNSUBACK */
        VEC(0xc0, 0x00),             /* PINGREQ */
        VEC(0xd0, 0x00),             /* PINGRESP */
        VEC(0xe0, 0x00),             /* DISCONNECT */
};

const size_t valid_vector_count = sizeof(valid_vectors) / sizeof(valid_vectors[0]);
