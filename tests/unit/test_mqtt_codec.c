/* test_mqtt_codec.c - MQTT 3.1 / 3.1.1 codec: spec byte vectors both ways,
 * every strict prefix incomplete (input ends at a PROT_NONE guard page so an
 * over-read faults), one test per malformed rule, varint and UTF-8 tables. */
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

#define BYTES(...)  ((const uint8_t[]){__VA_ARGS__})
#define NBYTES(...) sizeof((const uint8_t[]){__VA_ARGS__})
#define VEC(...)                                                                                   \
    {                                                                                              \
        BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__)                                                    \
    }
#define GUARD_DATA ((size_t)96 * 1024)

/* Decode bytes with the given negotiated version and expect rc. */
#define EXPECT_RC(version, rc, ...) expect_rc(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), version, rc)

struct vec {
    const uint8_t *p;
    size_t n;
};

static uint8_t *guard_base; /* GUARD_DATA readable bytes, then a PROT_NONE page */
static size_t guard_page;

static int group_setup(void **state)
{
    (void)state;
    guard_page = (size_t)sysconf(_SC_PAGESIZE);
    guard_base = mmap(NULL, GUARD_DATA + guard_page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_base == MAP_FAILED) {
        return -1;
    }
    return mprotect(guard_base + GUARD_DATA, guard_page, PROT_NONE);
}

static int group_teardown(void **state)
{
    (void)state;
    return munmap(guard_base, GUARD_DATA + guard_page);
}

/* Copy b so that its last byte sits right before the guard page. */
static const uint8_t *guarded(const uint8_t *b, size_t n)
{
    uint8_t *dst = guard_base + GUARD_DATA - n;

    assert_true(n <= GUARD_DATA);
    if (n > 0) {
        memcpy(dst, b, n);
    }
    return dst;
}

static ssize_t decode_v(const uint8_t *b, size_t n, uint8_t version, struct mqtt_pkt *out)
{
    struct mqtt_limits lim = {version, 0};

    return mqtt_decode(guarded(b, n), n, &lim, out);
}

static void expect_rc(const uint8_t *b, size_t n, uint8_t version, ssize_t rc)
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

static const struct vec valid_vectors[] = {
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

#define N_VALID (sizeof(valid_vectors) / sizeof(valid_vectors[0]))

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
            cmocka_unit_test(test_varint_table),
            cmocka_unit_test(test_decode_varint_five_bytes_malformed),
            cmocka_unit_test(test_decode_too_large_from_header),
            cmocka_unit_test(test_decode_max_packet_size_boundary_ok),
            cmocka_unit_test(test_decode_reserved_flags_malformed),
            cmocka_unit_test(test_decode_pubrel_flags_zero_malformed),
            cmocka_unit_test(test_decode_type0_malformed),
            cmocka_unit_test(test_decode_auth_v311_malformed),
            cmocka_unit_test(test_decode_unknown_level_non_connect_malformed),
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
            cmocka_unit_test(test_utf8_valid_table),
            cmocka_unit_test(test_utf8_invalid_table),
            cmocka_unit_test(test_encode_connect_default_names),
            cmocka_unit_test(test_encode_fixed_header_flags),
            cmocka_unit_test(test_roundtrip_multibyte_remaining_length),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
