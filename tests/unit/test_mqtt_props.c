/* test_mqtt_props.c - MQTT 5.0 codec: every v5 packet as byte vectors
 * both ways (decode, byte-exact encode, round trip, every strict prefix
 * incomplete against a PROT_NONE guard page), the short forms with the
 * reason code or properties left out, every property in every packet (right
 * packet, wrong packet, duplicate, truncated, out of range), the property
 * iterator and builder, reason codes. */
#include "guard_page.h"
#include "gw_err.h"
#include "mqtt_codec.h"
#include "mqtt_props.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#define BYTES(...)  ((const uint8_t[]){__VA_ARGS__})
#define NBYTES(...) sizeof((const uint8_t[]){__VA_ARGS__})
#define VEC(...)                                                                                   \
    {                                                                                              \
        BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__)                                                    \
    }

/* Decode bytes as MQTT 5 and expect rc. */
#define EXPECT_V5(rc, ...) expect_rc(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), rc)

struct vec {
    const uint8_t *p;
    size_t n;
};

static ssize_t decode5(const uint8_t *b, size_t n, struct mqtt_pkt *out)
{
    struct mqtt_limits lim = {MQTT_V5, 0};

    return mqtt_decode(guarded(b, n), n, &lim, out);
}

static void expect_rc(const uint8_t *b, size_t n, ssize_t rc)
{
    struct mqtt_pkt out;
    struct mqtt_pkt before;

    memset(&out, 0xa5, sizeof(out));
    before = out;
    assert_int_equal(decode5(b, n, &out), rc);
    if (rc < 0) {
        assert_memory_equal(&out, &before, sizeof(out));
    }
}

static bool eq(struct gw_bytes a, struct gw_bytes b)
{
    return gw_bytes_eq(a, b) != 0;
}

static bool connect_equal(const struct mqtt_connect *x, const struct mqtt_connect *y)
{
    return x->version == y->version && eq(x->proto_name, y->proto_name) && x->clean == y->clean &&
           x->keepalive_s == y->keepalive_s && eq(x->client_id, y->client_id) &&
           x->will == y->will && x->will_qos == y->will_qos && x->will_retain == y->will_retain &&
           eq(x->will_topic, y->will_topic) && eq(x->will_payload, y->will_payload) &&
           x->has_username == y->has_username && eq(x->username, y->username) &&
           x->has_password == y->has_password && eq(x->password, y->password) &&
           eq(x->props, y->props) && eq(x->will_props, y->will_props);
}

static bool ack_equal(const struct mqtt_ack *x, const struct mqtt_ack *y)
{
    return x->packet_id == y->packet_id && x->rc == y->rc && eq(x->props, y->props) &&
           x->has_rc == y->has_rc && x->has_props == y->has_props && eq(x->rcs, y->rcs);
}

static bool reason_equal(const struct mqtt_disconnect *x, const struct mqtt_disconnect *y)
{
    return x->rc == y->rc && eq(x->props, y->props) && x->has_rc == y->has_rc &&
           x->has_props == y->has_props;
}

/* Field-by-field equality (views compared by content), v5 fields included. */
static bool pkt_equal(const struct mqtt_pkt *a, const struct mqtt_pkt *b)
{
    const struct mqtt_publish *p = &a->u.publish;
    const struct mqtt_publish *q = &b->u.publish;

    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case MQTT_CONNECT:
        return connect_equal(&a->u.connect, &b->u.connect);
    case MQTT_CONNACK:
        return a->u.connack.session_present == b->u.connack.session_present &&
               a->u.connack.rc == b->u.connack.rc && eq(a->u.connack.props, b->u.connack.props);
    case MQTT_PUBLISH:
        return p->qos == q->qos && p->dup == q->dup && p->retain == q->retain &&
               p->packet_id == q->packet_id && eq(p->topic, q->topic) && eq(p->props, q->props) &&
               eq(p->payload, q->payload);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return a->u.subscribe.packet_id == b->u.subscribe.packet_id &&
               eq(a->u.subscribe.props, b->u.subscribe.props) &&
               eq(a->u.subscribe.list, b->u.subscribe.list);
    case MQTT_SUBACK:
        return a->u.suback.packet_id == b->u.suback.packet_id &&
               eq(a->u.suback.props, b->u.suback.props) && eq(a->u.suback.rcs, b->u.suback.rcs);
    case MQTT_DISCONNECT:
        return reason_equal(&a->u.disconnect, &b->u.disconnect);
    case MQTT_AUTH:
        return reason_equal(&a->u.auth, &b->u.auth);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        return true;
    default:
        return ack_equal(&a->u.ack, &b->u.ack);
    }
}

/* ---- valid vectors, written out from MQTT 5.0 chapter 3 ----------------- */

static const struct vec v5_vectors[] = {
        /* CONNECT v5: will QoS 1, user, password; session expiry 10, receive max 20, will delay 5,
           payload format 1 */
        VEC(0x10, 0x2b, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0xce, 0x00, 0x3c, 0x08, 0x11,
            0x00, 0x00, 0x00, 0x0a, 0x21, 0x00, 0x14, 0x00, 0x01, 0x63, 0x07, 0x18, 0x00, 0x00,
            0x00, 0x05, 0x01, 0x01, 0x00, 0x01, 0x77, 0x00, 0x01, 0x70, 0x00, 0x01, 0x75, 0x00,
            0x02, 0x70, 0x77),
        /* CONNECT v5: password without user name, auth method and data */
        VEC(0x10, 0x19, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x42, 0x00, 0x00, 0x09, 0x15,
            0x00, 0x01, 0x6d, 0x16, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00),
        /* CONNACK: session present, topic alias max 10, assigned id, max QoS 1 */
        VEC(0x20, 0x0c, 0x01, 0x00, 0x09, 0x22, 0x00, 0x0a, 0x12, 0x00, 0x01, 0x78, 0x24, 0x01),
        /* CONNACK refused 0x87, no properties */
        VEC(0x20, 0x03, 0x00, 0x87, 0x00),
        /* PUBLISH QoS 1 id 1: format 1, alias 5, subscription ids 129 and 2, payload hi */
        VEC(0x32, 0x14, 0x00, 0x03, 0x61, 0x2f, 0x62, 0x00, 0x01, 0x0a, 0x01, 0x01, 0x23, 0x00,
            0x05, 0x0b, 0x81, 0x01, 0x0b, 0x02, 0x68, 0x69),
        /* PUBLISH QoS 0: empty topic with topic alias 5 */
        VEC(0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 0x78),
        /* PUBLISH QoS 2 retain: no properties, empty payload */
        VEC(0x35, 0x06, 0x00, 0x01, 0x74, 0x12, 0x34, 0x00),
        /* PUBACK short form: reason 0x00 and properties left out */
        VEC(0x40, 0x02, 0x00, 0x01),
        /* PUBACK reason 0x10, properties left out */
        VEC(0x40, 0x03, 0x00, 0x01, 0x10),
        /* PUBACK reason 0x80 with reason string */
        VEC(0x40, 0x0a, 0x00, 0x01, 0x80, 0x06, 0x1f, 0x00, 0x03, 0x62, 0x61, 0x64),
        /* PUBACK reason 0x00 with an empty property block */
        VEC(0x40, 0x04, 0x00, 0x01, 0x00, 0x00),
        /* PUBREC reason 0x10 */
        VEC(0x50, 0x03, 0x00, 0x02, 0x10),
        /* PUBREL reason 0x92 with user property */
        VEC(0x62, 0x0b, 0x00, 0x03, 0x92, 0x07, 0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76),
        /* PUBCOMP short form */
        VEC(0x70, 0x02, 0x00, 0x04),
        /* SUBSCRIBE id 10: subscription id 5; a/b QoS 1 NL RAP RH 2; s/# QoS 2 RH 1 */
        VEC(0x82, 0x11, 0x00, 0x0a, 0x02, 0x0b, 0x05, 0x00, 0x03, 0x61, 0x2f, 0x62, 0x2d, 0x00,
            0x03, 0x73, 0x2f, 0x23, 0x12),
        /* SUBACK id 10: 1, 2, 0x87, 0xa2 */
        VEC(0x90, 0x07, 0x00, 0x0a, 0x00, 0x01, 0x02, 0x87, 0xa2),
        /* UNSUBSCRIBE id 11: user property; a/b */
        VEC(0xa2, 0x0f, 0x00, 0x0b, 0x07, 0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76, 0x00, 0x03,
            0x61, 0x2f, 0x62),
        /* UNSUBACK id 11: 0x00, 0x11 with reason string */
        VEC(0xb0, 0x09, 0x00, 0x0b, 0x04, 0x1f, 0x00, 0x01, 0x72, 0x00, 0x11),
        /* PINGREQ */
        VEC(0xc0, 0x00),
        /* PINGRESP */
        VEC(0xd0, 0x00),
        /* DISCONNECT short form: normal disconnection */
        VEC(0xe0, 0x00),
        /* DISCONNECT reason 0x04, properties left out */
        VEC(0xe0, 0x01, 0x04),
        /* DISCONNECT 0x8e with reason string and session expiry 0 */
        VEC(0xe0, 0x0c, 0x8e, 0x0a, 0x1f, 0x00, 0x02, 0x78, 0x79, 0x11, 0x00, 0x00, 0x00, 0x00),
        /* DISCONNECT reason 0x00 with an empty property block */
        VEC(0xe0, 0x02, 0x00, 0x00),
        /* AUTH short form: success */
        VEC(0xf0, 0x00),
        /* AUTH continue 0x18: method xy, data 01 */
        VEC(0xf0, 0x0b, 0x18, 0x09, 0x15, 0x00, 0x02, 0x78, 0x79, 0x16, 0x00, 0x01, 0x01),
        /* AUTH re-authenticate 0x19, empty properties */
        VEC(0xf0, 0x02, 0x19, 0x00),
};

#define N_V5 (sizeof(v5_vectors) / sizeof(v5_vectors[0]))

static void test_v5_decode_vectors_consume_whole_packet(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_V5; i++) {
        struct mqtt_pkt pkt;
        const struct vec *v = &v5_vectors[i];

        assert_int_equal(decode5(v->p, v->n, &pkt), (ssize_t)v->n);
        assert_int_equal(pkt.type, v->p[0] >> 4);
    }
}

static void test_v5_encode_vectors_byte_exact(void **state)
{
    uint8_t out[256];

    (void)state;
    for (size_t i = 0; i < N_V5; i++) {
        struct mqtt_pkt pkt;
        const struct vec *v = &v5_vectors[i];

        assert_int_equal(decode5(v->p, v->n, &pkt), (ssize_t)v->n);
        assert_int_equal(mqtt_encoded_size(&pkt, MQTT_V5), v->n);
        assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), v->n);
        assert_memory_equal(out, v->p, v->n);
    }
}

static void test_v5_roundtrip_vectors_fields_equal(void **state)
{
    uint8_t out[256];

    (void)state;
    for (size_t i = 0; i < N_V5; i++) {
        struct mqtt_pkt a;
        struct mqtt_pkt b;
        const struct vec *v = &v5_vectors[i];
        size_t n = 0;

        assert_int_equal(decode5(v->p, v->n, &a), (ssize_t)v->n);
        n = mqtt_encode(out, sizeof(out), &a, MQTT_V5);
        assert_int_equal(mqtt_decode(out, n, &(struct mqtt_limits){MQTT_V5, 0}, &b), (ssize_t)n);
        assert_true(pkt_equal(&a, &b));
    }
}

static void test_v5_decode_strict_prefix_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_V5; i++) {
        const struct vec *v = &v5_vectors[i];

        for (size_t k = 0; k < v->n; k++) {
            struct mqtt_pkt pkt;

            assert_int_equal(decode5(v->p, k, &pkt), GW_E_INCOMPLETE);
        }
    }
}

/* ---- fields ------------------------------------------------------------- */

static void test_v5_decode_connect_fields(void **state)
{
    struct mqtt_pkt pkt;
    const struct mqtt_connect *c = &pkt.u.connect;
    struct mqtt_prop_iter it;
    struct mqtt_prop p;

    (void)state;
    assert_int_equal(decode5(v5_vectors[0].p, v5_vectors[0].n, &pkt), (ssize_t)v5_vectors[0].n);
    assert_int_equal(c->version, MQTT_V5);
    assert_true(c->clean && c->will && c->has_username && c->has_password);
    assert_int_equal(c->will_qos, 1);
    assert_int_equal(c->props.n, 8);
    mqtt_prop_iter_init(&it, c->props);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.id, MQTT_PROP_SESSION_EXPIRY);
    assert_int_equal(p.type, MQTT_PT_U32);
    assert_int_equal(p.num, 10);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.id, MQTT_PROP_RECEIVE_MAXIMUM);
    assert_int_equal(p.num, 20);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 0);
    mqtt_prop_iter_init(&it, c->will_props);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.id, MQTT_PROP_WILL_DELAY);
    assert_int_equal(p.num, 5);
    assert_true(eq(c->will_topic, gw_bytes_str("w")));
    assert_true(eq(c->password, gw_bytes_str("pw")));
}

static void test_v5_decode_publish_props_and_payload(void **state)
{
    struct mqtt_pkt pkt;
    struct mqtt_prop_iter it;
    struct mqtt_prop p;
    uint32_t ids[2] = {0, 0};
    size_t n_ids = 0;

    (void)state;
    assert_int_equal(decode5(v5_vectors[4].p, v5_vectors[4].n, &pkt), (ssize_t)v5_vectors[4].n);
    assert_int_equal(pkt.u.publish.packet_id, 1);
    assert_true(eq(pkt.u.publish.payload, gw_bytes_str("hi")));
    mqtt_prop_iter_init(&it, pkt.u.publish.props);
    while (mqtt_prop_iter_next(&it, &p) > 0) {
        if (p.id == MQTT_PROP_SUBSCRIPTION_ID) {
            ids[n_ids++] = p.num;
        }
    }
    assert_int_equal(n_ids, 2); /* may repeat in PUBLISH */
    assert_int_equal(ids[0], 129);
    assert_int_equal(ids[1], 2);
    /* empty topic name with a Topic Alias */
    assert_int_equal(decode5(v5_vectors[5].p, v5_vectors[5].n, &pkt), (ssize_t)v5_vectors[5].n);
    assert_int_equal(pkt.u.publish.topic.n, 0);
}

static void test_v5_decode_ack_short_forms(void **state)
{
    struct mqtt_pkt pkt;

    (void)state;
    /* remaining length 2: reason 0x00, nothing on the wire */
    assert_int_equal(decode5(BYTES(0x40, 0x02, 0x00, 0x07), 4, &pkt), 4);
    assert_int_equal(pkt.u.ack.packet_id, 7);
    assert_int_equal(pkt.u.ack.rc, MQTT_RC_SUCCESS);
    assert_false(pkt.u.ack.has_rc);
    assert_false(pkt.u.ack.has_props);
    /* 3: the reason code only */
    assert_int_equal(decode5(BYTES(0x50, 0x03, 0x00, 0x07, 0x10), 5, &pkt), 5);
    assert_int_equal(pkt.u.ack.rc, MQTT_RC_NO_MATCHING_SUBSCRIBERS);
    assert_true(pkt.u.ack.has_rc);
    assert_false(pkt.u.ack.has_props);
    /* DISCONNECT 0 and 1 */
    assert_int_equal(decode5(BYTES(0xe0, 0x00), 2, &pkt), 2);
    assert_int_equal(pkt.u.disconnect.rc, 0);
    assert_false(pkt.u.disconnect.has_rc);
    assert_int_equal(decode5(BYTES(0xe0, 0x01, 0x8b), 3, &pkt), 3);
    assert_int_equal(pkt.u.disconnect.rc, MQTT_RC_SERVER_SHUTTING_DOWN);
    assert_true(pkt.u.disconnect.has_rc);
    assert_false(pkt.u.disconnect.has_props);
    /* AUTH 0: success */
    assert_int_equal(decode5(BYTES(0xf0, 0x00), 2, &pkt), 2);
    assert_int_equal(pkt.type, MQTT_AUTH);
    assert_int_equal(pkt.u.auth.rc, 0);
}

static void test_v5_encode_picks_shortest_form(void **state)
{
    struct mqtt_pkt pkt;
    uint8_t out[32];

    (void)state;
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_PUBACK;
    pkt.u.ack.packet_id = 9;
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), 4);
    assert_memory_equal(out, BYTES(0x40, 0x02, 0x00, 0x09), 4);
    pkt.u.ack.rc = MQTT_RC_QUOTA_EXCEEDED;
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), 5);
    assert_memory_equal(out, BYTES(0x40, 0x03, 0x00, 0x09, 0x97), 5);
    pkt.u.ack.props = (struct gw_bytes){BYTES(0x1f, 0x00, 0x01, 'q'), 4};
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), 10);
    assert_memory_equal(out, BYTES(0x40, 0x08, 0x00, 0x09, 0x97, 0x04, 0x1f, 0x00, 0x01, 'q'), 10);
    /* the same packet in 3.1.1 ignores the v5 fields */
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V311), 4);
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_DISCONNECT;
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), 2);
    pkt.u.disconnect.rc = MQTT_RC_DISCONNECT_WITH_WILL;
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), 3);
    assert_memory_equal(out, BYTES(0xe0, 0x01, 0x04), 3);
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = MQTT_AUTH;
    pkt.u.auth.rc = MQTT_RC_REAUTHENTICATE; /* AUTH: both or neither */
    assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, MQTT_V5), 4);
    assert_memory_equal(out, BYTES(0xf0, 0x02, 0x19, 0x00), 4);
}

static void test_v5_subscribe_options_from_iterator(void **state)
{
    struct mqtt_pkt pkt;
    struct mqtt_topic_iter it;
    struct gw_bytes filter;
    uint8_t opt = 0;

    (void)state;
    assert_int_equal(decode5(v5_vectors[14].p, v5_vectors[14].n, &pkt), (ssize_t)v5_vectors[14].n);
    assert_int_equal(pkt.u.subscribe.props.n, 2);
    mqtt_topic_iter_init(&it, &pkt);
    assert_true(mqtt_topic_iter_next(&it, &filter, &opt));
    assert_true(eq(filter, gw_bytes_str("a/b")));
    assert_int_equal(opt & MQTT_SUB_OPT_QOS_MASK, 1);
    assert_true((opt & MQTT_SUB_OPT_NO_LOCAL) != 0);
    assert_true((opt & MQTT_SUB_OPT_RAP) != 0);
    assert_int_equal(MQTT_SUB_OPT_RH(opt), 2);
    assert_true(mqtt_topic_iter_next(&it, &filter, &opt));
    assert_int_equal(opt & MQTT_SUB_OPT_QOS_MASK, 2);
    assert_int_equal(MQTT_SUB_OPT_RH(opt), 1);
    assert_false(mqtt_topic_iter_next(&it, &filter, &opt));
}

/* ---- malformed packets ---------------------------------------------------- */

/* SUBSCRIBE id 1, no properties, "t" + options: QoS 3, Retain Handling 3,
 * reserved bits 6 and 7 [MQTT-3.8.3-5]; then NL + RAP + RH 2 + QoS 2. */
static void test_v5_subscribe_reserved_bits_and_rh3_malformed(void **state)
{
    static const uint8_t bad[] = {0x03, 0x30, 0x31, 0x3c, 0x40, 0x80, 0xc1};

    (void)state;
    for (size_t i = 0; i < sizeof(bad); i++) {
        EXPECT_V5(GW_E_MALFORMED, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', bad[i]);
    }
    EXPECT_V5(9, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x2e);
}

static void test_v5_reason_code_not_for_packet_malformed(void **state)
{
    (void)state;
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x03, 0x00, 0x01, 0x81);       /* PUBACK 0x81 */
    EXPECT_V5(GW_E_MALFORMED, 0x62, 0x03, 0x00, 0x01, 0x10);       /* PUBREL 0x10 */
    EXPECT_V5(GW_E_MALFORMED, 0x70, 0x03, 0x00, 0x01, 0x80);       /* PUBCOMP 0x80 */
    EXPECT_V5(GW_E_MALFORMED, 0x20, 0x03, 0x00, 0x04, 0x00);       /* CONNACK 0x04 */
    EXPECT_V5(GW_E_MALFORMED, 0xe0, 0x01, 0x10);                   /* DISCONNECT 0x10 */
    EXPECT_V5(GW_E_MALFORMED, 0xf0, 0x02, 0x80, 0x00);             /* AUTH 0x80 */
    EXPECT_V5(GW_E_MALFORMED, 0x90, 0x04, 0x00, 0x01, 0x00, 0x11); /* SUBACK 0x11 */
    EXPECT_V5(GW_E_MALFORMED, 0xb0, 0x04, 0x00, 0x01, 0x00, 0x01); /* UNSUBACK 0x01 */
    EXPECT_V5(GW_E_MALFORMED, 0x90, 0x04, 0x00, 0x01, 0x00, 0x03); /* SUBACK 0x03 */
}

static void test_v5_layout_errors_malformed(void **state)
{
    struct mqtt_pkt pkt;

    (void)state;
    EXPECT_V5(GW_E_MALFORMED, 0xf0, 0x01, 0x00);                         /* AUTH rc without props */
    EXPECT_V5(GW_E_MALFORMED, 0xf1, 0x00);                               /* AUTH flags */
    EXPECT_V5(GW_E_MALFORMED, 0x20, 0x02, 0x00, 0x00);                   /* CONNACK without props */
    EXPECT_V5(GW_E_MALFORMED, 0x20, 0x04, 0x00, 0x00, 0x00, 0xff);       /* CONNACK trailing */
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xff); /* PUBACK trailing */
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x02, 0x00, 0x00);                   /* packet id 0 */
    EXPECT_V5(GW_E_MALFORMED, 0x90, 0x03, 0x00, 0x01, 0x00);             /* SUBACK: no codes */
    EXPECT_V5(GW_E_MALFORMED, 0xb0, 0x03, 0x00, 0x01, 0x00);             /* UNSUBACK: no codes */
    EXPECT_V5(GW_E_MALFORMED, 0x82, 0x03, 0x00, 0x01, 0x00);             /* SUBSCRIBE: no filter */
    EXPECT_V5(GW_E_MALFORMED, 0xa2, 0x03, 0x00, 0x01, 0x00);             /* UNSUBSCRIBE: none */
    EXPECT_V5(GW_E_MALFORMED, 0xa2, 0x04, 0x00, 0x01, 0x00, 0x00);       /* empty filter */
    EXPECT_V5(GW_E_MALFORMED, 0xc0, 0x01, 0x00);                         /* PINGREQ body */
    /* PUBLISH: empty topic without a Topic Alias; missing property length */
    EXPECT_V5(GW_E_MALFORMED, 0x30, 0x03, 0x00, 0x00, 0x00);
    EXPECT_V5(GW_E_MALFORMED, 0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x01);
    /* 3.1.1 PUBACK layout rules still hold for 3.1.1 */
    assert_int_equal(mqtt_decode(BYTES(0x40, 0x03, 0x00, 0x01, 0x00), 5,
                                 &(struct mqtt_limits){MQTT_V311, 0}, &pkt),
                     GW_E_MALFORMED);
}

static void test_v5_property_length_varint_malformed(void **state)
{
    (void)state;
    /* over four bytes, in PUBACK, DISCONNECT, SUBACK, PUBLISH */
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x08, 0x00, 0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x01);
    EXPECT_V5(GW_E_MALFORMED, 0xe0, 0x06, 0x00, 0x80, 0x80, 0x80, 0x80, 0x01);
    EXPECT_V5(GW_E_MALFORMED, 0x90, 0x08, 0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00);
    EXPECT_V5(GW_E_MALFORMED, 0x30, 0x08, 0x00, 0x01, 't', 0x80, 0x80, 0x80, 0x80, 0x01);
    /* not the shortest form [MQTT-1.5.5-1] */
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00);
    /* past the packet, cut inside */
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x04, 0x00, 0x01, 0x00, 0x05);
    EXPECT_V5(GW_E_MALFORMED, 0x40, 0x04, 0x00, 0x01, 0x00, 0x80);
    /* a Subscription Identifier varint over four bytes */
    EXPECT_V5(GW_E_MALFORMED, 0x82, 0x0d, 0x00, 0x01, 0x06, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x01,
              0x00, 0x01, 't', 0x00);
}

/* ---- every property in every packet ---------------------------------------- */

#define P(t)     (1u << (t))
#define W        1u /* will properties */
#define ALL_ACKS (P(MQTT_PUBACK) | P(MQTT_PUBREC) | P(MQTT_PUBREL) | P(MQTT_PUBCOMP))

/* One valid example of each property and, restated from MQTT 5.0 table
 * 2-4, where it may appear. prefix holds properties it depends on. */
struct prop_case {
    uint8_t id;
    struct vec bytes;
    unsigned packets;
    struct vec prefix;
};

static const struct prop_case prop_cases[] = {
        {0x01, VEC(0x01, 0x01), P(MQTT_PUBLISH) | W, {NULL, 0}},
        {0x02, VEC(0x02, 0x00, 0x00, 0x00, 0x3c), P(MQTT_PUBLISH) | W, {NULL, 0}},
        {0x03, VEC(0x03, 0x00, 0x01, 'j'), P(MQTT_PUBLISH) | W, {NULL, 0}},
        {0x08, VEC(0x08, 0x00, 0x01, 'r'), P(MQTT_PUBLISH) | W, {NULL, 0}},
        {0x09, VEC(0x09, 0x00, 0x02, 0x00, 0xff), P(MQTT_PUBLISH) | W, {NULL, 0}},
        {0x0b, VEC(0x0b, 0x80, 0x01), P(MQTT_PUBLISH) | P(MQTT_SUBSCRIBE), {NULL, 0}},
        {0x11,
         VEC(0x11, 0x00, 0x00, 0x00, 0x01),
         P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_DISCONNECT),
         {NULL, 0}},
        {0x12, VEC(0x12, 0x00, 0x01, 'i'), P(MQTT_CONNACK), {NULL, 0}},
        {0x13, VEC(0x13, 0x00, 0x1e), P(MQTT_CONNACK), {NULL, 0}},
        {0x15,
         VEC(0x15, 0x00, 0x01, 'm'),
         P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_AUTH),
         {NULL, 0}},
        {0x16, VEC(0x16, 0x00, 0x01, 0x00), P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_AUTH),
         VEC(0x15, 0x00, 0x01, 'm')},
        {0x17, VEC(0x17, 0x01), P(MQTT_CONNECT), {NULL, 0}},
        {0x18, VEC(0x18, 0x00, 0x00, 0x00, 0x05), W, {NULL, 0}},
        {0x19, VEC(0x19, 0x00), P(MQTT_CONNECT), {NULL, 0}},
        {0x1a, VEC(0x1a, 0x00, 0x01, 'x'), P(MQTT_CONNACK), {NULL, 0}},
        {0x1c, VEC(0x1c, 0x00, 0x01, 's'), P(MQTT_CONNACK) | P(MQTT_DISCONNECT), {NULL, 0}},
        {0x1f,
         VEC(0x1f, 0x00, 0x01, 'y'),
         P(MQTT_CONNACK) | ALL_ACKS | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) |
                 P(MQTT_AUTH),
         {NULL, 0}},
        {0x21, VEC(0x21, 0x00, 0x0a), P(MQTT_CONNECT) | P(MQTT_CONNACK), {NULL, 0}},
        {0x22, VEC(0x22, 0x00, 0x00), P(MQTT_CONNECT) | P(MQTT_CONNACK), {NULL, 0}},
        {0x23, VEC(0x23, 0x00, 0x01), P(MQTT_PUBLISH), {NULL, 0}},
        {0x24, VEC(0x24, 0x01), P(MQTT_CONNACK), {NULL, 0}},
        {0x25, VEC(0x25, 0x00), P(MQTT_CONNACK), {NULL, 0}},
        {0x26,
         VEC(0x26, 0x00, 0x01, 'k', 0x00, 0x00),
         P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_PUBLISH) | W | ALL_ACKS | P(MQTT_SUBSCRIBE) |
                 P(MQTT_SUBACK) | P(MQTT_UNSUBSCRIBE) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) |
                 P(MQTT_AUTH),
         {NULL, 0}},
        {0x27, VEC(0x27, 0x00, 0x00, 0x10, 0x00), P(MQTT_CONNECT) | P(MQTT_CONNACK), {NULL, 0}},
        {0x28, VEC(0x28, 0x01), P(MQTT_CONNACK), {NULL, 0}},
        {0x29, VEC(0x29, 0x00), P(MQTT_CONNACK), {NULL, 0}},
        {0x2a, VEC(0x2a, 0x01), P(MQTT_CONNACK), {NULL, 0}},
};

#define N_PROPS (sizeof(prop_cases) / sizeof(prop_cases[0]))

/* Every packet that has properties; 0 stands for the will properties. */
static const unsigned prop_packets[] = {
        0,
        MQTT_CONNECT,
        MQTT_CONNACK,
        MQTT_PUBLISH,
        MQTT_PUBACK,
        MQTT_PUBREC,
        MQTT_PUBREL,
        MQTT_PUBCOMP,
        MQTT_SUBSCRIBE,
        MQTT_SUBACK,
        MQTT_UNSUBSCRIBE,
        MQTT_UNSUBACK,
        MQTT_DISCONNECT,
        MQTT_AUTH,
};

/* Put block into a v5 packet of type t (0: CONNECT will properties) with
 * the encoder, then decode it. */
static ssize_t decode_with_props(unsigned t, struct gw_bytes block)
{
    static uint8_t out[1024];
    static const uint8_t sub_list[] = {0x00, 0x01, 't', 0x01};
    struct mqtt_pkt pkt;
    struct mqtt_pkt back;
    size_t n = 0;
    ssize_t rc = 0;

    memset(&pkt, 0, sizeof(pkt));
    pkt.type = t == 0 ? MQTT_CONNECT : (enum mqtt_type)t;
    switch (pkt.type) {
    case MQTT_CONNECT:
        pkt.u.connect.version = MQTT_V5;
        pkt.u.connect.client_id = gw_bytes_str("c");
        pkt.u.connect.will = t == 0;
        pkt.u.connect.will_topic = gw_bytes_str("t");
        *(t == 0 ? &pkt.u.connect.will_props : &pkt.u.connect.props) = block;
        break;
    case MQTT_CONNACK:
        pkt.u.connack.props = block;
        break;
    case MQTT_PUBLISH:
        pkt.u.publish.qos = 1;
        pkt.u.publish.packet_id = 1;
        pkt.u.publish.topic = gw_bytes_str("t");
        pkt.u.publish.props = block;
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        pkt.u.subscribe.packet_id = 1;
        pkt.u.subscribe.props = block;
        pkt.u.subscribe.list.p = sub_list;
        pkt.u.subscribe.list.n = pkt.type == MQTT_SUBSCRIBE ? 4 : 3;
        break;
    case MQTT_SUBACK:
        pkt.u.suback.packet_id = 1;
        pkt.u.suback.props = block;
        pkt.u.suback.rcs = gw_bytes_str("\x01");
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        pkt.u.disconnect.has_props = true; /* same layout as auth */
        pkt.u.disconnect.props = block;
        break;
    default: /* PUBACK PUBREC PUBREL PUBCOMP UNSUBACK */
        pkt.u.ack.packet_id = 1;
        pkt.u.ack.has_props = true;
        pkt.u.ack.props = block;
        pkt.u.ack.rcs = (struct gw_bytes){sub_list, 1}; /* UNSUBACK only: 0x00 */
        break;
    }
    n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V5);
    assert_int_equal(n, mqtt_encoded_size(&pkt, MQTT_V5));
    rc = decode5(out, n, &back);
    return rc == (ssize_t)n ? 0 : rc;
}

/* block = prefix + bytes (+ bytes again when twice); n_cut bytes cut off. */
static struct gw_bytes make_block(uint8_t *buf, const struct prop_case *c, bool twice, size_t n_cut)
{
    size_t n = 0;

    if (c->prefix.n > 0) {
        memcpy(buf, c->prefix.p, c->prefix.n);
        n = c->prefix.n;
    }
    memcpy(buf + n, c->bytes.p, c->bytes.n);
    n += c->bytes.n;
    if (twice) {
        memcpy(buf + n, c->bytes.p, c->bytes.n);
        n += c->bytes.n;
    }
    return (struct gw_bytes){buf, n - n_cut};
}

static void test_v5_every_property_right_packet_ok_wrong_malformed(void **state)
{
    uint8_t buf[64];

    (void)state;
    for (size_t i = 0; i < N_PROPS; i++) {
        const struct prop_case *c = &prop_cases[i];
        struct gw_bytes block = make_block(buf, c, false, 0);

        assert_int_equal(mqtt_prop_type_of(c->id) != MQTT_PT_NONE, true);
        for (size_t k = 0; k < sizeof(prop_packets) / sizeof(prop_packets[0]); k++) {
            unsigned t = prop_packets[k];
            bool allowed = (c->packets & (t == 0 ? W : P(t))) != 0;

            assert_int_equal(decode_with_props(t, block), allowed ? 0 : GW_E_MALFORMED);
            assert_int_equal(
                    mqtt_props_validate(&block, t == 0 ? MQTT_CONNECT : (enum mqtt_type)t, t == 0),
                    allowed ? 0 : GW_E_MALFORMED);
        }
    }
}

static void test_v5_every_property_duplicate_protocol_error(void **state)
{
    uint8_t buf[64];

    (void)state;
    for (size_t i = 0; i < N_PROPS; i++) {
        const struct prop_case *c = &prop_cases[i];
        struct gw_bytes block = make_block(buf, c, true, 0);

        for (size_t k = 0; k < sizeof(prop_packets) / sizeof(prop_packets[0]); k++) {
            unsigned t = prop_packets[k];
            bool allowed = (c->packets & (t == 0 ? W : P(t))) != 0;
            bool repeats = c->id == MQTT_PROP_USER_PROPERTY ||
                           (c->id == MQTT_PROP_SUBSCRIPTION_ID && t == MQTT_PUBLISH);

            /* twice where once is allowed: a Protocol Error, 3.1.2.11 ff. */
            assert_int_equal(decode_with_props(t, block), !allowed  ? GW_E_MALFORMED
                                                          : repeats ? 0
                                                                    : GW_E_PROTOCOL);
        }
    }
}

static void test_v5_every_property_truncated_malformed(void **state)
{
    uint8_t buf[64];

    (void)state;
    for (size_t i = 0; i < N_PROPS; i++) {
        const struct prop_case *c = &prop_cases[i];

        for (size_t cut = 1; cut < c->bytes.n; cut++) {
            struct gw_bytes block = make_block(buf, c, false, cut);

            for (size_t k = 0; k < sizeof(prop_packets) / sizeof(prop_packets[0]); k++) {
                assert_int_equal(decode_with_props(prop_packets[k], block), GW_E_MALFORMED);
            }
        }
    }
}

/* One out-of-range or ill-typed value per rule, in a packet that allows
 * the property: a value out of range is a Protocol Error, an ill-formed
 * one Malformed. */
static const struct {
    unsigned packet;
    int rc;
    struct vec bytes;
} bad_values[] = {
        {MQTT_PUBLISH, GW_E_PROTOCOL, VEC(0x01, 0x02)},       /* payload format 2 */
        {0, GW_E_PROTOCOL, VEC(0x01, 0xff)},                  /* ... in will */
        {MQTT_CONNECT, GW_E_PROTOCOL, VEC(0x17, 0x02)},       /* request problem info */
        {MQTT_CONNECT, GW_E_PROTOCOL, VEC(0x19, 0x02)},       /* request response info */
        {MQTT_CONNECT, GW_E_PROTOCOL, VEC(0x21, 0x00, 0x00)}, /* receive maximum 0 */
        {MQTT_CONNACK, GW_E_PROTOCOL, VEC(0x21, 0x00, 0x00)},
        {MQTT_CONNECT, GW_E_PROTOCOL, VEC(0x27, 0x00, 0x00, 0x00, 0x00)}, /* max packet size 0 */
        {MQTT_CONNACK, GW_E_PROTOCOL, VEC(0x24, 0x02)},                   /* maximum QoS 2 */
        {MQTT_CONNACK, GW_E_PROTOCOL, VEC(0x25, 0x02)},
        {MQTT_CONNACK, GW_E_PROTOCOL, VEC(0x28, 0x02)},
        {MQTT_CONNACK, GW_E_PROTOCOL, VEC(0x29, 0x02)},
        {MQTT_CONNACK, GW_E_PROTOCOL, VEC(0x2a, 0x02)},
        {MQTT_PUBLISH, GW_E_PROTOCOL, VEC(0x23, 0x00, 0x00)}, /* topic alias 0 */
        {MQTT_PUBLISH, GW_E_PROTOCOL, VEC(0x0b, 0x00)},       /* subscription id 0 */
        {MQTT_SUBSCRIBE, GW_E_PROTOCOL, VEC(0x0b, 0x00)},
        {MQTT_SUBSCRIBE, GW_E_MALFORMED, VEC(0x0b, 0x80, 0x00)},           /* not minimal */
        {MQTT_CONNECT, GW_E_PROTOCOL, VEC(0x16, 0x00, 0x00)},              /* data without method */
        {MQTT_CONNACK, GW_E_MALFORMED, VEC(0x12, 0x00, 0x01, 0x00)},       /* U+0000 in a string */
        {MQTT_PUBLISH, GW_E_MALFORMED, VEC(0x03, 0x00, 0x02, 0xc0, 0x80)}, /* overlong UTF-8 */
        {MQTT_PUBLISH, GW_E_MALFORMED,
         VEC(0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0xff)},        /* bad pair value */
        {MQTT_PUBLISH, GW_E_MALFORMED, VEC(0x00, 0x00)},       /* identifier 0 */
        {MQTT_PUBLISH, GW_E_MALFORMED, VEC(0x2b, 0x00)},       /* past the table */
        {MQTT_PUBLISH, GW_E_MALFORMED, VEC(0x81, 0x01, 0x00)}, /* two-byte identifier */
};

static void test_v5_property_values_out_of_range_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        struct gw_bytes block = {bad_values[i].bytes.p, bad_values[i].bytes.n};

        assert_int_equal(decode_with_props(bad_values[i].packet, block), bad_values[i].rc);
    }
    /* the largest Subscription Identifier is fine */
    assert_int_equal(decode_with_props(MQTT_SUBSCRIBE,
                                       (struct gw_bytes){BYTES(0x0b, 0xff, 0xff, 0xff, 0x7f), 5}),
                     0);
}

/* ---- iterator, builder, reason codes -------------------------------------- */

static void test_props_builder_roundtrip_through_iterator(void **state)
{
    uint8_t buf[128];
    struct mqtt_props_builder b;
    struct gw_bytes block;
    struct mqtt_prop_iter it;
    struct mqtt_prop p;

    (void)state;
    mqtt_props_builder_init(&b, buf, sizeof(buf));
    mqtt_props_add_u8(&b, MQTT_PROP_MAXIMUM_QOS, 1);
    mqtt_props_add_u16(&b, MQTT_PROP_RECEIVE_MAXIMUM, 100);
    mqtt_props_add_u32(&b, MQTT_PROP_SESSION_EXPIRY, 0xfffffffful);
    mqtt_props_add_str(&b, MQTT_PROP_ASSIGNED_CLIENT_ID, gw_bytes_str("auto-1"));
    mqtt_props_add_str(&b, MQTT_PROP_AUTH_METHOD, gw_bytes_str("m"));
    mqtt_props_add_bin(&b, MQTT_PROP_AUTH_DATA, (struct gw_bytes){BYTES(0x00, 0x01), 2});
    mqtt_props_add_pair(&b, gw_bytes_str("k"), gw_bytes_str("v"));
    assert_int_equal(mqtt_props_builder_size(&b), 2 + 3 + 5 + 9 + 4 + 5 + 7);
    block = mqtt_props_builder_bytes(&b);
    assert_int_equal(mqtt_props_validate(&block, MQTT_CONNACK, false), 0);
    assert_int_equal(mqtt_props_validate(&block, MQTT_CONNECT, false), GW_E_MALFORMED);
    mqtt_prop_iter_init(&it, block);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.type, MQTT_PT_BYTE);
    assert_int_equal(p.num, 1);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.num, 100);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.num, 0xfffffffful);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_true(eq(p.value, gw_bytes_str("auto-1")));
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.type, MQTT_PT_BIN);
    assert_int_equal(p.value.n, 2);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(p.type, MQTT_PT_PAIR);
    assert_true(eq(p.name, gw_bytes_str("k")));
    assert_true(eq(p.value, gw_bytes_str("v")));
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 0);
    assert_true(mqtt_props_has(block, MQTT_PROP_AUTH_DATA));
    assert_false(mqtt_props_has(block, MQTT_PROP_TOPIC_ALIAS));
}

static void test_props_builder_varint_sizes(void **state)
{
    static const uint32_t vals[] = {1, 127, 128, 16383, 16384, 2097151, 2097152, MQTT_SUB_ID_MAX};
    uint8_t buf[8];

    (void)state;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct mqtt_props_builder b;
        struct gw_bytes block;
        struct mqtt_prop_iter it;
        struct mqtt_prop p;

        mqtt_props_builder_init(&b, buf, sizeof(buf));
        mqtt_props_add_varint(&b, MQTT_PROP_SUBSCRIPTION_ID, vals[i]);
        assert_int_equal(mqtt_props_builder_size(&b), 1 + (ssize_t)mqtt_varint_size(vals[i]));
        block = mqtt_props_builder_bytes(&b);
        assert_int_equal(mqtt_props_validate(&block, MQTT_SUBSCRIBE, false), 0);
        mqtt_prop_iter_init(&it, block);
        assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
        assert_int_equal(p.num, vals[i]);
    }
}

static void test_props_builder_overflow_enospc(void **state)
{
    uint8_t buf[6];
    struct mqtt_props_builder b;

    (void)state;
    mqtt_props_builder_init(&b, buf, sizeof(buf));
    mqtt_props_add_u32(&b, MQTT_PROP_MESSAGE_EXPIRY, 5); /* 5 bytes */
    assert_int_equal(mqtt_props_builder_size(&b), 5);
    mqtt_props_add_u8(&b, MQTT_PROP_PAYLOAD_FORMAT, 1); /* 2 more: no room */
    assert_int_equal(mqtt_props_builder_size(&b), -ENOSPC);
    mqtt_props_add_u8(&b, MQTT_PROP_PAYLOAD_FORMAT, 1);
    assert_int_equal(mqtt_props_builder_size(&b), -ENOSPC); /* sticky */
    assert_int_equal(mqtt_props_builder_bytes(&b).n, 0);
}

static void test_props_iter_reports_malformed(void **state)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop p;

    (void)state;
    mqtt_prop_iter_init(&it, (struct gw_bytes){BYTES(0x01, 0x01, 0x13, 0x00), 4});
    assert_int_equal(mqtt_prop_iter_next(&it, &p), 1);
    assert_int_equal(mqtt_prop_iter_next(&it, &p), GW_E_MALFORMED);
    assert_int_equal(it.rest.n, 2); /* stays at the bad property */
}

static void test_rc_names_and_packets(void **state)
{
    (void)state;
    assert_string_equal(mqtt_rc_name(MQTT_RC_SUCCESS), "success");
    assert_string_equal(mqtt_rc_name(MQTT_RC_MALFORMED_PACKET), "malformed packet");
    assert_string_equal(mqtt_rc_name(MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED),
                        "wildcard subscriptions not supported");
    assert_string_equal(mqtt_rc_name(0x03), "unknown");
    assert_string_equal(mqtt_rc_name(0xff), "unknown");
    for (unsigned rc = 0; rc < 256; rc++) {
        assert_non_null(mqtt_rc_name((uint8_t)rc));
        /* nobody may send a reason code in PUBLISH, SUBSCRIBE or PINGREQ */
        assert_false(mqtt_rc_valid(MQTT_PUBLISH, (uint8_t)rc));
        assert_false(mqtt_rc_valid(MQTT_SUBSCRIBE, (uint8_t)rc));
        assert_false(mqtt_rc_valid(MQTT_PINGREQ, (uint8_t)rc));
    }
    assert_true(mqtt_rc_valid(MQTT_CONNACK, MQTT_RC_UNSUPPORTED_VERSION));
    assert_false(mqtt_rc_valid(MQTT_DISCONNECT, MQTT_RC_UNSUPPORTED_VERSION));
    assert_true(mqtt_rc_valid(MQTT_DISCONNECT, MQTT_RC_SESSION_TAKEN_OVER));
    assert_true(mqtt_rc_valid(MQTT_PUBREL, MQTT_RC_PACKET_ID_NOT_FOUND));
    assert_false(mqtt_rc_valid(MQTT_PUBACK, MQTT_RC_PACKET_ID_NOT_FOUND));
    assert_true(mqtt_rc_valid(MQTT_SUBACK, MQTT_RC_GRANTED_QOS2));
    assert_true(mqtt_rc_valid(MQTT_UNSUBACK, MQTT_RC_NO_SUBSCRIPTION_EXISTED));
    assert_true(mqtt_rc_valid(MQTT_AUTH, MQTT_RC_CONTINUE_AUTH));
    assert_false(mqtt_rc_valid(MQTT_AUTH, MQTT_RC_UNSPECIFIED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_v5_decode_vectors_consume_whole_packet),
            cmocka_unit_test(test_v5_encode_vectors_byte_exact),
            cmocka_unit_test(test_v5_roundtrip_vectors_fields_equal),
            cmocka_unit_test(test_v5_decode_strict_prefix_incomplete),
            cmocka_unit_test(test_v5_decode_connect_fields),
            cmocka_unit_test(test_v5_decode_publish_props_and_payload),
            cmocka_unit_test(test_v5_decode_ack_short_forms),
            cmocka_unit_test(test_v5_encode_picks_shortest_form),
            cmocka_unit_test(test_v5_subscribe_options_from_iterator),
            cmocka_unit_test(test_v5_subscribe_reserved_bits_and_rh3_malformed),
            cmocka_unit_test(test_v5_reason_code_not_for_packet_malformed),
            cmocka_unit_test(test_v5_layout_errors_malformed),
            cmocka_unit_test(test_v5_property_length_varint_malformed),
            cmocka_unit_test(test_v5_every_property_right_packet_ok_wrong_malformed),
            cmocka_unit_test(test_v5_every_property_duplicate_protocol_error),
            cmocka_unit_test(test_v5_every_property_truncated_malformed),
            cmocka_unit_test(test_v5_property_values_out_of_range_refused),
            cmocka_unit_test(test_props_builder_roundtrip_through_iterator),
            cmocka_unit_test(test_props_builder_varint_sizes),
            cmocka_unit_test(test_props_builder_overflow_enospc),
            cmocka_unit_test(test_props_iter_reports_malformed),
            cmocka_unit_test(test_rc_names_and_packets),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
