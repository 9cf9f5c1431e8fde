/* test_mqtt_codec_valid.c - well-formed packets: the spec's byte vectors
 * decoded (whole packet consumed, every strict prefix incomplete) and
 * encoded byte for byte, the fields they decode to, the encoder's own rules. */
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

static void assert_bytes(struct gw_bytes b, const char *s)
{
    assert_true(gw_bytes_eq(b, gw_bytes_str(s)));
}

/* Field-by-field equality (views compared by content). */
static bool pkt_equal(const struct mqtt_pkt *a, const struct mqtt_pkt *b)
{
    const struct mqtt_connect *x = &a->u.connect;
    const struct mqtt_connect *y = &b->u.connect;

    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case MQTT_CONNECT:
        return x->version == y->version && gw_bytes_eq(x->proto_name, y->proto_name) &&
               x->clean == y->clean && x->keepalive_s == y->keepalive_s &&
               gw_bytes_eq(x->client_id, y->client_id) && x->will == y->will &&
               x->will_qos == y->will_qos && x->will_retain == y->will_retain &&
               gw_bytes_eq(x->will_topic, y->will_topic) &&
               gw_bytes_eq(x->will_payload, y->will_payload) &&
               x->has_username == y->has_username && gw_bytes_eq(x->username, y->username) &&
               x->has_password == y->has_password && gw_bytes_eq(x->password, y->password) &&
               gw_bytes_eq(x->props, y->props) && gw_bytes_eq(x->will_props, y->will_props);
    case MQTT_CONNACK:
        return a->u.connack.session_present == b->u.connack.session_present &&
               a->u.connack.rc == b->u.connack.rc;
    case MQTT_PUBLISH:
        return a->u.publish.qos == b->u.publish.qos && a->u.publish.dup == b->u.publish.dup &&
               a->u.publish.retain == b->u.publish.retain &&
               a->u.publish.packet_id == b->u.publish.packet_id &&
               gw_bytes_eq(a->u.publish.topic, b->u.publish.topic) &&
               gw_bytes_eq(a->u.publish.payload, b->u.publish.payload);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return a->u.subscribe.packet_id == b->u.subscribe.packet_id &&
               gw_bytes_eq(a->u.subscribe.list, b->u.subscribe.list);
    case MQTT_SUBACK:
        return a->u.suback.packet_id == b->u.suback.packet_id &&
               gw_bytes_eq(a->u.suback.rcs, b->u.suback.rcs);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return true;
    default:
        return a->u.ack.packet_id == b->u.ack.packet_id && a->u.ack.rc == b->u.ack.rc;
    }
}

/* ---- valid vectors, written out from MQTT 3.1.1 chapter 3 ---------------- */

static void test_decode_valid_vectors_consume_whole_packet(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VALID; i++) {
        struct mqtt_pkt pkt;
        const struct vec *v = &valid_vectors[i];

        assert_int_equal(decode_v(v->p, v->n, MQTT_V311, &pkt), (ssize_t)v->n);
        assert_int_equal(pkt.type, v->p[0] >> 4);
        /* the same bytes decode before CONNECT and with MQTT 3.1 too */
        assert_int_equal(decode_v(v->p, v->n, MQTT_V_UNKNOWN, &pkt), (ssize_t)v->n);
        assert_int_equal(decode_v(v->p, v->n, MQTT_V31, &pkt), (ssize_t)v->n);
    }
}

static void test_encode_valid_vectors_byte_exact(void **state)
{
    uint8_t out[256];

    (void)state;
    for (size_t i = 0; i < N_VALID; i++) {
        struct mqtt_pkt pkt;
        const struct vec *v = &valid_vectors[i];
        size_t n = 0;

        assert_int_equal(decode_v(v->p, v->n, MQTT_V311, &pkt), (ssize_t)v->n);
        assert_int_equal(mqtt_encoded_size(&pkt, MQTT_V311), v->n);
        n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V311);
        assert_int_equal(n, v->n);
        assert_memory_equal(out, v->p, v->n);
    }
}

static void test_roundtrip_valid_vectors_fields_equal(void **state)
{
    uint8_t out[256];

    (void)state;
    for (size_t i = 0; i < N_VALID; i++) {
        struct mqtt_pkt a;
        struct mqtt_pkt b;
        const struct vec *v = &valid_vectors[i];
        size_t n = 0;

        assert_int_equal(decode_v(v->p, v->n, MQTT_V311, &a), (ssize_t)v->n);
        n = mqtt_encode(out, sizeof(out), &a, MQTT_V311);
        assert_int_equal(mqtt_decode(out, n, &(struct mqtt_limits){MQTT_V311, 0}, &b), (ssize_t)n);
        assert_true(pkt_equal(&a, &b));
    }
}

static void test_decode_strict_prefix_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VALID; i++) {
        const struct vec *v = &valid_vectors[i];

        for (size_t k = 0; k < v->n; k++) {
            struct mqtt_pkt pkt;

            assert_int_equal(decode_v(v->p, k, MQTT_V311, &pkt), GW_E_INCOMPLETE);
        }
    }
}

static void test_decode_trailing_data_not_consumed(void **state)
{
    struct mqtt_pkt pkt;

    (void)state;
    /* two packets back to back: the first is returned alone */
    assert_int_equal(decode_v(BYTES(0xc0, 0x00, 0xd0, 0x00), 4, MQTT_V311, &pkt), 2);
    assert_int_equal(pkt.type, MQTT_PINGREQ);
}

/* ---- field checks --------------------------------------------------------- */

static void test_decode_connect_fields(void **state)
{
    struct mqtt_pkt pkt;
    const struct mqtt_connect *c = &pkt.u.connect;
    const struct vec *v = &valid_vectors[1];

    (void)state;
    assert_int_equal(decode_v(v->p, v->n, MQTT_V_UNKNOWN, &pkt), (ssize_t)v->n);
    assert_int_equal(pkt.type, MQTT_CONNECT);
    assert_int_equal(c->version, MQTT_V311);
    assert_bytes(c->proto_name, "MQTT");
    assert_true(c->clean);
    assert_int_equal(c->keepalive_s, 300);
    assert_bytes(c->client_id, "c1");
    assert_true(c->will);
    assert_int_equal(c->will_qos, 1);
    assert_true(c->will_retain);
    assert_bytes(c->will_topic, "w/t");
    assert_bytes(c->will_payload, "bye");
    assert_true(c->has_username);
    assert_bytes(c->username, "u");
    assert_true(c->has_password);
    assert_int_equal(c->password.n, 2);
    assert_int_equal(c->password.p[1], 0x00); /* binary: U+0000 allowed */
    assert_int_equal(c->props.n, 0);
}

static void test_decode_connect_mqisdp_level3(void **state)
{
    struct mqtt_pkt pkt;
    const struct vec *v = &valid_vectors[2];

    (void)state;
    assert_int_equal(decode_v(v->p, v->n, MQTT_V_UNKNOWN, &pkt), (ssize_t)v->n);
    assert_int_equal(pkt.u.connect.version, MQTT_V31);
    assert_bytes(pkt.u.connect.proto_name, "MQIsdp");
    assert_bytes(pkt.u.connect.client_id, "id");
}

static void test_decode_connect_v5_props_views(void **state)
{
    struct mqtt_pkt pkt;
    const struct vec *v = &valid_vectors[4];
    const struct vec *w = &valid_vectors[5];

    (void)state;
    assert_int_equal(decode_v(v->p, v->n, MQTT_V_UNKNOWN, &pkt), (ssize_t)v->n);
    assert_int_equal(pkt.u.connect.version, MQTT_V5);
    assert_int_equal(pkt.u.connect.props.n, 5);
    assert_int_equal(pkt.u.connect.props.p[0], 0x11);
    assert_bytes(pkt.u.connect.client_id, "a");
    assert_int_equal(decode_v(w->p, w->n, MQTT_V_UNKNOWN, &pkt), (ssize_t)w->n);
    assert_true(pkt.u.connect.will);
    assert_int_equal(pkt.u.connect.will_props.n, 0);
    assert_bytes(pkt.u.connect.will_topic, "t");
    assert_bytes(pkt.u.connect.will_payload, "x");
}

static void test_decode_connect_v5_password_without_username_ok(void **state)
{
    (void)state;
    /* MQTT 5 dropped [MQTT-3.1.2-22]: the broker must still read the level */
    EXPECT_RC(MQTT_V_UNKNOWN, 17, 0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x40, 0x00,
              0x3c, 0x00, 0x00, 0x00, 0x00, 0x00);
}

static void test_decode_connect_unknown_level_decodes(void **state)
{
    struct mqtt_pkt pkt;
    uint8_t out[64];
    struct mqtt_pkt again;
    size_t n = 0;

    (void)state;
    /* level 6 with a 3.1.1-looking body: consumed whole, version reported
     * so the broker can answer CONNACK 0x01 [MQTT-3.1.2-2] */
    assert_int_equal(decode_v(BYTES(0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00,
                                    0x3c, 0x00, 0x00),
                              14, MQTT_V_UNKNOWN, &pkt),
                     14);
    assert_int_equal(pkt.u.connect.version, 6);
    assert_bytes(pkt.u.connect.proto_name, "MQTT");
    assert_int_equal(pkt.u.connect.client_id.n, 0);
    n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V311);
    assert_int_equal(n, 9); /* name and level only */
    /* not decode_v: pkt's views point into the guarded copy */
    assert_int_equal(mqtt_decode(out, n, &(struct mqtt_limits){MQTT_V_UNKNOWN, 0}, &again), 9);
    assert_true(pkt_equal(&pkt, &again));
    /* "MQIsdp" with level 4 and "MQTT" with level 3 decode too; the
     * session checks the pair */
    EXPECT_RC(MQTT_V_UNKNOWN, 14, 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00,
              0x3c, 0x00, 0x00);
    EXPECT_RC(MQTT_V_UNKNOWN, 16, 0x10, 0x0e, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02,
              0x00, 0x3c, 0x00, 0x00);
}

static void test_roundtrip_connect_level0_stays_level0(void **state)
{
    struct mqtt_pkt pkt;
    struct mqtt_pkt again;
    uint8_t out[64];
    size_t n = 0;

    (void)state;
    /* fuzzer crash: level 0 was re-encoded as the connection's version */
    assert_int_equal(decode_v(BYTES(0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x00, 0x04, 0x00,
                                    0x00, 0x00, 0x00),
                              14, MQTT_V311, &pkt),
                     14);
    assert_int_equal(pkt.u.connect.version, 0);
    n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V311);
    assert_int_equal(n, 9);
    assert_int_equal(out[8], 0x00);
    assert_int_equal(mqtt_decode(out, n, &(struct mqtt_limits){MQTT_V311, 0}, &again), 9);
    assert_true(pkt_equal(&pkt, &again));
}

static void test_decode_publish_fields(void **state)
{
    struct mqtt_pkt pkt;
    const struct mqtt_publish *p = &pkt.u.publish;

    (void)state;
    assert_int_equal(decode_v(valid_vectors[9].p, valid_vectors[9].n, MQTT_V311, &pkt), 11);
    assert_int_equal(pkt.type, MQTT_PUBLISH);
    assert_int_equal(p->qos, 1);
    assert_true(p->dup);
    assert_true(p->retain);
    assert_int_equal(p->packet_id, 10);
    assert_bytes(p->topic, "a/b");
    assert_bytes(p->payload, "hi");
    assert_int_equal(decode_v(valid_vectors[10].p, valid_vectors[10].n, MQTT_V311, &pkt), 9);
    assert_int_equal(p->qos, 2);
    assert_false(p->dup);
    assert_int_equal(p->packet_id, 0x1234);
    assert_int_equal(p->payload.n, 0);
}

static void test_decode_connack_and_acks_fields(void **state)
{
    struct mqtt_pkt pkt;

    (void)state;
    assert_int_equal(decode_v(valid_vectors[6].p, 4, MQTT_V311, &pkt), 4);
    assert_true(pkt.u.connack.session_present);
    assert_int_equal(pkt.u.connack.rc, MQTT_CONNACK_ACCEPTED);
    assert_int_equal(decode_v(valid_vectors[7].p, 4, MQTT_V311, &pkt), 4);
    assert_false(pkt.u.connack.session_present);
    assert_int_equal(pkt.u.connack.rc, MQTT_CONNACK_NOT_AUTHORIZED);
    assert_int_equal(decode_v(valid_vectors[13].p, 4, MQTT_V311, &pkt), 4);
    assert_int_equal(pkt.type, MQTT_PUBREL);
    assert_int_equal(pkt.u.ack.packet_id, 3);
    assert_int_equal(decode_v(valid_vectors[16].p, 7, MQTT_V311, &pkt), 7);
    assert_int_equal(pkt.u.suback.packet_id, 10);
    assert_memory_equal(pkt.u.suback.rcs.p, BYTES(0x01, 0x02, 0x80), 3);
}

static void test_topic_iter_subscribe_and_unsubscribe(void **state)
{
    struct mqtt_pkt pkt;
    struct mqtt_topic_iter it;
    struct gw_bytes f;
    uint8_t opt = 0xff;

    (void)state;
    assert_int_equal(decode_v(valid_vectors[15].p, 16, MQTT_V311, &pkt), 16);
    assert_int_equal(pkt.u.subscribe.packet_id, 10);
    mqtt_topic_iter_init(&it, &pkt);
    assert_true(mqtt_topic_iter_next(&it, &f, &opt));
    assert_bytes(f, "a/b");
    assert_int_equal(opt, 1);
    assert_true(mqtt_topic_iter_next(&it, &f, &opt));
    assert_bytes(f, "s/#");
    assert_int_equal(opt, 2);
    assert_false(mqtt_topic_iter_next(&it, &f, &opt));

    assert_int_equal(decode_v(valid_vectors[17].p, 14, MQTT_V311, &pkt), 14);
    assert_int_equal(pkt.type, MQTT_UNSUBSCRIBE);
    mqtt_topic_iter_init(&it, &pkt);
    opt = 0xff;
    assert_true(mqtt_topic_iter_next(&it, &f, &opt));
    assert_bytes(f, "a/b");
    assert_int_equal(opt, 0);
    assert_true(mqtt_topic_iter_next(&it, &f, &opt));
    assert_bytes(f, "s/#");
    assert_false(mqtt_topic_iter_next(&it, &f, &opt));
}

/* ---- encoder ---------------------------------------------------------------- */

static void test_encode_connect_default_names(void **state)
{
    struct mqtt_pkt pkt;
    uint8_t out[64];
    size_t n = 0;

    (void)state;
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_CONNECT;
    pkt.u.connect.clean = true;
    pkt.u.connect.keepalive_s = 60;
    pkt.u.connect.client_id = gw_bytes_str("id");
    /* the level is connect.version; an empty proto_name follows the level */
    pkt.u.connect.version = MQTT_V31;
    n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V311);
    assert_int_equal(n, valid_vectors[2].n);
    assert_memory_equal(out, valid_vectors[2].p, n);
    pkt.u.connect.client_id = gw_bytes_str("abc");
    pkt.u.connect.version = MQTT_V311;
    n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V_UNKNOWN);
    assert_int_equal(n, valid_vectors[0].n);
    assert_memory_equal(out, valid_vectors[0].p, n);
}

static void test_encode_fixed_header_flags(void **state)
{
    struct mqtt_pkt pkt;
    uint8_t out[64];

    (void)state;
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_PUBREL;
    pkt.u.ack.packet_id = 7;
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V311), 4);
    assert_memory_equal(out, BYTES(0x62, 0x02, 0x00, 0x07), 4); /* [MQTT-3.6.1-1] */
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_PUBLISH;
    pkt.u.publish.qos = 2;
    pkt.u.publish.retain = true;
    pkt.u.publish.packet_id = 1;
    pkt.u.publish.topic = gw_bytes_str("t");
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V311), 7);
    assert_memory_equal(out, BYTES(0x35, 0x05, 0x00, 0x01, 't', 0x00, 0x01), 7);
}

/* Encode and decode a PUBLISH whose payload needs a 2- or 3-byte length. */
static void roundtrip_big_publish(size_t payload_n)
{
    static uint8_t payload[20000];
    static uint8_t out[20100];
    struct mqtt_pkt pkt;
    struct mqtt_pkt back;
    size_t n = 0;

    assert_true(payload_n <= sizeof(payload));
    memset(payload, 'p', payload_n);
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_PUBLISH;
    pkt.u.publish.topic = gw_bytes_str("big/t");
    pkt.u.publish.payload.p = payload;
    pkt.u.publish.payload.n = payload_n;
    n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V311);
    assert_int_equal(n, mqtt_encoded_size(&pkt, MQTT_V311));
    assert_int_equal(n, 1 + mqtt_varint_size((uint32_t)(7 + payload_n)) + 7 + payload_n);
    assert_int_equal(decode_v(out, n, MQTT_V311, &back), (ssize_t)n);
    assert_true(pkt_equal(&pkt, &back));
    assert_int_equal(decode_v(out, n - 1, MQTT_V311, &back), GW_E_INCOMPLETE);
}

static void test_roundtrip_multibyte_remaining_length(void **state)
{
    (void)state;
    roundtrip_big_publish(120);   /* 127: one byte */
    roundtrip_big_publish(121);   /* 128: two bytes */
    roundtrip_big_publish(16377); /* 16384: three bytes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_decode_valid_vectors_consume_whole_packet),
            cmocka_unit_test(test_encode_valid_vectors_byte_exact),
            cmocka_unit_test(test_roundtrip_valid_vectors_fields_equal),
            cmocka_unit_test(test_decode_strict_prefix_incomplete),
            cmocka_unit_test(test_decode_trailing_data_not_consumed),
            cmocka_unit_test(test_decode_connect_fields),
            cmocka_unit_test(test_decode_connect_mqisdp_level3),
            cmocka_unit_test(test_decode_connect_v5_props_views),
            cmocka_unit_test(test_decode_connect_v5_password_without_username_ok),
            cmocka_unit_test(test_decode_connect_unknown_level_decodes),
            cmocka_unit_test(test_roundtrip_connect_level0_stays_level0),
            cmocka_unit_test(test_decode_publish_fields),
            cmocka_unit_test(test_decode_connack_and_acks_fields),
            cmocka_unit_test(test_topic_iter_subscribe_and_unsubscribe),
            cmocka_unit_test(test_encode_connect_default_names),
            cmocka_unit_test(test_encode_fixed_header_flags),
            cmocka_unit_test(test_roundtrip_multibyte_remaining_length),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
