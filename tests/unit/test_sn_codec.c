/* test_sn_codec.c - MQTT-SN 1.2 codec: byte vectors for every message of
 * §5.4 both ways, both length forms, every strict prefix and every one-byte
 * extension malformed (input ends at a PROT_NONE guard page so an over-read
 * faults), one test per malformed rule, encapsulation (§5.5) round trips. */
#include "guard_page.h"
#include "gw_err.h"
#include "sn_codec.h"
#include "sn_msg_eq.h"

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
#define S(lit)                                                                                     \
    {                                                                                              \
        (const uint8_t *)(lit), sizeof(lit) - 1                                                    \
    }

/* Decode bytes and expect GW_E_MALFORMED. */
#define EXPECT_BAD(...) expect_bad(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__))

struct vec {
    const uint8_t *p;
    size_t n;
};

struct vector {
    const char *name;
    struct vec bytes;
    struct sn_msg msg;
};

/* Canonical vectors, written out from the layouts of MQTT-SN 1.2 §5.4 and
 * §5.5. Flags octet: DUP 0x80, QoS 0x60, Retain 0x10, Will 0x08, Clean 0x04,
 * TopicIdType 0x03. */
static const struct vector vectors[] = {
        {"advertise", VEC(0x05, 0x00, 0x07, 0x03, 0x84), {SN_ADVERTISE, {.advertise = {7, 900}}}},
        {"searchgw", VEC(0x03, 0x01, 0x02), {SN_SEARCHGW, {.radius = 2}}},
        {"gwinfo from gateway", VEC(0x03, 0x02, 0x07), {SN_GWINFO, {.gwinfo = {7, {NULL, 0}}}}},
        {"gwinfo from client",
         VEC(0x07, 0x02, 0x07, 0xc0, 0xa8, 0x00, 0x01),
         {SN_GWINFO, {.gwinfo = {7, {BYTES(0xc0, 0xa8, 0x00, 0x01), 4}}}}},
        {"connect will clean",
         VEC(0x0b, 0x04, 0x0c, 0x01, 0x00, 0x3c, 't', 'h', '-', '0', '4'),
         {SN_CONNECT, {.connect = {{.will = true, .clean = true}, 60, S("th-04")}}}},
        {"connect plain",
         VEC(0x07, 0x04, 0x00, 0x01, 0xff, 0xff, 'x'),
         {SN_CONNECT, {.connect = {{.qos = 0}, 65535, S("x")}}}},
        {"connack", VEC(0x03, 0x05, 0x00), {SN_CONNACK, {.rc = SN_RC_ACCEPTED}}},
        {"connack congestion", VEC(0x03, 0x05, 0x01), {SN_CONNACK, {.rc = SN_RC_CONGESTION}}},
        {"willtopicreq", VEC(0x02, 0x06), {SN_WILLTOPICREQ, {.rc = 0}}},
        {"willtopic qos1 retain",
         VEC(0x06, 0x07, 0x30, 'w', '/', 't'),
         {SN_WILLTOPIC, {.will_topic = {{.qos = 1, .retain = true}, S("w/t")}}}},
        {"willtopic empty deletes",
         VEC(0x02, 0x07),
         {SN_WILLTOPIC, {.will_topic = {{.qos = 0}, {0}}}}},
        {"willmsgreq", VEC(0x02, 0x08), {SN_WILLMSGREQ, {.rc = 0}}},
        {"willmsg", VEC(0x05, 0x09, 'b', 'y', 'e'), {SN_WILLMSG, {.will_msg = S("bye")}}},
        {"willmsg empty", VEC(0x02, 0x09), {SN_WILLMSG, {.will_msg = {NULL, 0}}}},
        {"register",
         VEC(0x09, 0x0a, 0x00, 0x00, 0x00, 0x01, 'a', '/', 'b'),
         {SN_REGISTER, {.reg = {0, 1, S("a/b")}}}},
        {"regack",
         VEC(0x07, 0x0b, 0x00, 0x2a, 0x00, 0x01, 0x00),
         {SN_REGACK, {.topic_ack = {42, 1, SN_RC_ACCEPTED}}}},
        {"publish qos1 normal",
         VEC(0x09, 0x0c, 0x20, 0x00, 0x2a, 0x00, 0x02, 'h', 'i'),
         {SN_PUBLISH, {.publish = {{.qos = 1}, 42, {0, 0}, 2, S("hi")}}}},
        {"publish qos-1 short",
         VEC(0x08, 0x0c, 0x62, 'a', 'b', 0x00, 0x00, 'x'),
         {SN_PUBLISH,
          {.publish = {{.qos = -1, .topic_type = SN_TOPIC_SHORT}, 0, {'a', 'b'}, 0, S("x")}}}},
        {"publish qos2 dup retain predefined",
         VEC(0x07, 0x0c, 0xd1, 0x00, 0x05, 0x01, 0x02),
         {SN_PUBLISH,
          {.publish = {{.dup = true, .qos = 2, .retain = true, .topic_type = SN_TOPIC_PREDEFINED},
                       5,
                       {0, 0},
                       0x0102,
                       {NULL, 0}}}}},
        {"puback invalid topic id",
         VEC(0x07, 0x0d, 0x00, 0x2a, 0x00, 0x02, 0x02),
         {SN_PUBACK, {.topic_ack = {42, 2, SN_RC_INVALID_TOPIC_ID}}}},
        {"pubcomp", VEC(0x04, 0x0e, 0x00, 0x03), {SN_PUBCOMP, {.msg_id = 3}}},
        {"pubrec", VEC(0x04, 0x0f, 0x00, 0x03), {SN_PUBREC, {.msg_id = 3}}},
        {"pubrel", VEC(0x04, 0x10, 0x00, 0x03), {SN_PUBREL, {.msg_id = 3}}},
        {"subscribe name wildcard",
         VEC(0x08, 0x12, 0x20, 0x00, 0x04, 's', '/', '#'),
         {SN_SUBSCRIBE, {.subscribe = {{.qos = 1}, 4, 0, {0, 0}, S("s/#")}}}},
        {"subscribe predefined",
         VEC(0x07, 0x12, 0x01, 0x00, 0x05, 0x00, 0x09),
         {SN_SUBSCRIBE,
          {.subscribe = {{.topic_type = SN_TOPIC_PREDEFINED}, 5, 9, {0, 0}, {NULL, 0}}}}},
        {"subscribe short dup qos2",
         VEC(0x07, 0x12, 0xc2, 0x00, 0x06, 'z', 'z'),
         {SN_SUBSCRIBE,
          {.subscribe = {{.dup = true, .qos = 2, .topic_type = SN_TOPIC_SHORT},
                         6,
                         0,
                         {'z', 'z'},
                         {NULL, 0}}}}},
        {"suback",
         VEC(0x08, 0x13, 0x20, 0x00, 0x2b, 0x00, 0x04, 0x00),
         {SN_SUBACK, {.suback = {{.qos = 1}, 43, 4, SN_RC_ACCEPTED}}}},
        {"suback not supported",
         VEC(0x08, 0x13, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03),
         {SN_SUBACK, {.suback = {{.qos = 0}, 0, 4, SN_RC_NOT_SUPPORTED}}}},
        {"unsubscribe name",
         VEC(0x08, 0x14, 0x00, 0x00, 0x07, 's', '/', '#'),
         {SN_UNSUBSCRIBE, {.subscribe = {{.qos = 0}, 7, 0, {0, 0}, S("s/#")}}}},
        {"unsubscribe predefined",
         VEC(0x07, 0x14, 0x01, 0x00, 0x08, 0x00, 0x09),
         {SN_UNSUBSCRIBE,
          {.subscribe = {{.topic_type = SN_TOPIC_PREDEFINED}, 8, 9, {0, 0}, {NULL, 0}}}}},
        {"unsubscribe short",
         VEC(0x07, 0x14, 0x02, 0x00, 0x08, 'z', 'z'),
         {SN_UNSUBSCRIBE,
          {.subscribe = {{.topic_type = SN_TOPIC_SHORT}, 8, 0, {'z', 'z'}, {NULL, 0}}}}},
        {"unsuback", VEC(0x04, 0x15, 0x00, 0x07), {SN_UNSUBACK, {.msg_id = 7}}},
        {"pingreq", VEC(0x02, 0x16), {SN_PINGREQ, {.client_id = {NULL, 0}}}},
        {"pingreq with client id",
         VEC(0x07, 0x16, 't', 'h', '-', '0', '4'),
         {SN_PINGREQ, {.client_id = S("th-04")}}},
        {"pingresp", VEC(0x02, 0x17), {SN_PINGRESP, {.rc = 0}}},
        {"disconnect", VEC(0x02, 0x18), {SN_DISCONNECT, {.disconnect = {false, 0}}}},
        {"disconnect sleep",
         VEC(0x04, 0x18, 0x02, 0x58),
         {SN_DISCONNECT, {.disconnect = {true, 600}}}},
        {"willtopicupd retain",
         VEC(0x06, 0x1a, 0x10, 'w', '/', 't'),
         {SN_WILLTOPICUPD, {.will_topic = {{.retain = true}, S("w/t")}}}},
        {"willtopicupd empty deletes",
         VEC(0x02, 0x1a),
         {SN_WILLTOPICUPD, {.will_topic = {{.qos = 0}, {NULL, 0}}}}},
        {"willtopicresp", VEC(0x03, 0x1b, 0x00), {SN_WILLTOPICRESP, {.rc = SN_RC_ACCEPTED}}},
        {"willmsgupd", VEC(0x05, 0x1c, 'n', 'e', 'w'), {SN_WILLMSGUPD, {.will_msg = S("new")}}},
        {"willmsgresp", VEC(0x03, 0x1d, 0x03), {SN_WILLMSGRESP, {.rc = SN_RC_NOT_SUPPORTED}}},
        {"encapsulated pingreq",
         VEC(0x05, 0xfe, 0x01, 0xab, 0xcd, 0x02, 0x16),
         {SN_ENCAPSULATED, {.encap = {1, {BYTES(0xab, 0xcd), 2}, {BYTES(0x02, 0x16), 2}}}}},
        {"encapsulated empty node id",
         VEC(0x03, 0xfe, 0x03, 0x03, 0x05, 0x00),
         {SN_ENCAPSULATED, {.encap = {3, {NULL, 0}, {BYTES(0x03, 0x05, 0x00), 3}}}}},
};

#define N_VECTORS (sizeof(vectors) / sizeof(vectors[0]))

static void expect_bad(const uint8_t *b, size_t n)
{
    struct sn_msg m;

    assert_int_equal(sn_decode(guarded(b, n), n, &m), GW_E_MALFORMED);
}

/* ---- valid vectors ---- */

static void test_sn_decode_vectors_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &vectors[i];
        struct sn_msg m;

        print_message("%s\n", v->name);
        assert_int_equal(sn_decode(guarded(v->bytes.p, v->bytes.n), v->bytes.n, &m),
                         (ssize_t)v->bytes.n);
        assert_true(sn_msg_eq(&m, &v->msg));
    }
}

static void test_sn_encode_vectors_match(void **state)
{
    uint8_t out[64];

    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &vectors[i];

        print_message("%s\n", v->name);
        assert_int_equal(sn_encoded_size(&v->msg), v->bytes.n);
        assert_int_equal(sn_encode(out, sizeof(out), &v->msg), v->bytes.n);
        assert_memory_equal(out, v->bytes.p, v->bytes.n);
    }
}

static void test_sn_decode_encode_roundtrip_equal(void **state)
{
    uint8_t out[64];

    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        struct sn_msg m;
        struct sn_msg again;
        size_t n = 0;

        assert_int_equal(sn_decode(vectors[i].bytes.p, vectors[i].bytes.n, &m),
                         (ssize_t)vectors[i].bytes.n);
        n = sn_encode(out, sizeof(out), &m);
        assert_int_equal(sn_decode(out, n, &again), (ssize_t)n);
        assert_true(sn_msg_eq(&m, &again));
    }
}

/* One datagram = one message: every strict prefix and every one-octet
 * extension has a length that disagrees with the datagram. */
static void test_sn_decode_prefix_or_extension_malformed(void **state)
{
    uint8_t longer[64];

    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &vectors[i];
        struct sn_msg m;

        for (size_t n = 0; n < v->bytes.n; n++) {
            assert_int_equal(sn_decode(guarded(v->bytes.p, n), n, &m), GW_E_MALFORMED);
        }
        memcpy(longer, v->bytes.p, v->bytes.n);
        longer[v->bytes.n] = 0;
        assert_int_equal(sn_decode(guarded(longer, v->bytes.n + 1), v->bytes.n + 1, &m),
                         GW_E_MALFORMED);
    }
}

static void test_sn_decode_encap_prefix_malformed(void **state)
{
    const uint8_t b[] = {0x05, 0xfe, 0x01, 0xab, 0xcd, 0x04, 0x0e, 0x00, 0x03};
    struct sn_msg m;

    (void)state;
    for (size_t n = 0; n < sizeof(b); n++) {
        assert_int_equal(sn_decode(guarded(b, n), n, &m), GW_E_MALFORMED);
    }
    assert_int_equal(sn_decode(guarded(b, sizeof(b)), sizeof(b), &m), (ssize_t)sizeof(b));
}

/* ---- length forms ---- */

static void test_sn_publish_300_bytes_three_octet_form(void **state)
{
    uint8_t data[300];
    uint8_t out[400];
    struct sn_msg m = {SN_PUBLISH, {.publish = {{.qos = 1}, 42, {0, 0}, 9, {data, sizeof(data)}}}};
    struct sn_msg back;

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)i;
    }
    assert_int_equal(sn_encoded_size(&m), 300 + 9);
    assert_int_equal(sn_encode(out, sizeof(out), &m), 309);
    assert_memory_equal(out, BYTES(0x01, 0x01, 0x35, 0x0c, 0x20, 0x00, 0x2a, 0x00, 0x09), 9);
    assert_memory_equal(out + 9, data, sizeof(data));
    assert_int_equal(sn_decode(guarded(out, 309), 309, &back), 309);
    assert_true(sn_msg_eq(&m, &back));
    assert_int_equal(sn_decode(guarded(out, 308), 308, &back), GW_E_MALFORMED);
    assert_int_equal(sn_decode(guarded(out, 310), 310, &back), GW_E_MALFORMED);
}

/* 255 total octets is the last 1-octet form; 256 would be, so it is 258. */
static void test_sn_length_form_boundary(void **state)
{
    uint8_t data[260] = {0};
    uint8_t out[300];
    struct sn_msg m = {SN_PUBLISH, {.publish = {{.qos = 0}, 1, {0, 0}, 0, {data, 248}}}};
    struct sn_msg back;

    (void)state;
    assert_int_equal(sn_encode(out, sizeof(out), &m), 255);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], SN_PUBLISH);
    assert_int_equal(sn_decode(out, 255, &back), 255);
    m.u.publish.data.n = 249;
    assert_int_equal(sn_encoded_size(&m), 258);
    assert_int_equal(sn_encode(out, sizeof(out), &m), 258);
    assert_memory_equal(out, BYTES(0x01, 0x01, 0x02, 0x0c), 4);
    assert_int_equal(sn_decode(out, 258, &back), 258);
    assert_true(sn_msg_eq(&m, &back));
}

/* §5.2.1: shorter messages "may" use the 3-octet form; re-encoding picks the
 * 1-octet form. */
static void test_sn_three_octet_form_short_message_accepted(void **state)
{
    const uint8_t pingresp[] = {0x01, 0x00, 0x04, 0x17};
    const uint8_t puback[] = {0x01, 0x00, 0x09, 0x0d, 0x00, 0x2a, 0x00, 0x02, 0x00};
    uint8_t out[16];
    struct sn_msg m;

    (void)state;
    assert_int_equal(sn_decode(guarded(pingresp, 4), 4, &m), 4);
    assert_int_equal(m.type, SN_PINGRESP);
    assert_int_equal(sn_encode(out, sizeof(out), &m), 2);
    assert_memory_equal(out, BYTES(0x02, 0x17), 2);
    assert_int_equal(sn_decode(guarded(puback, sizeof(puback)), sizeof(puback), &m), 9);
    assert_int_equal(m.type, SN_PUBACK);
    assert_int_equal(m.u.topic_ack.topic_id, 42);
    assert_int_equal(m.u.topic_ack.msg_id, 2);
}

static void test_sn_length_field_malformed(void **state)
{
    (void)state;
    expect_bad(NULL, 0);
    EXPECT_BAD(0x02);
    EXPECT_BAD(0x00, 0x17);             /* length 0 */
    EXPECT_BAD(0x03, 0x17);             /* declares 3, datagram 2 */
    EXPECT_BAD(0x02, 0x17, 0x00);       /* extra octet */
    EXPECT_BAD(0x01, 0x17);             /* 3-octet form cut short */
    EXPECT_BAD(0x01, 0x00, 0x04);       /* no MsgType */
    EXPECT_BAD(0x01, 0x00, 0x03, 0x17); /* declares 3: no room for MsgType */
    EXPECT_BAD(0x01, 0x00, 0x00, 0x17);
    EXPECT_BAD(0x01, 0x00, 0x05, 0x17); /* declares 5, datagram 4 */
    EXPECT_BAD(0x01, 0x00, 0x04, 0x17, 0x00);
    EXPECT_BAD(0x01, 0xff, 0xff, 0x17);
}

/* ---- malformed bodies ---- */

static void test_sn_reserved_type_malformed(void **state)
{
    const uint8_t reserved[] = {0x03, 0x11, 0x19, 0x1e, 0x1f, 0x80, 0xfd, 0xff};

    (void)state;
    for (size_t i = 0; i < sizeof(reserved); i++) {
        uint8_t b[2] = {0x02, reserved[i]};
        uint8_t b3[3] = {0x03, reserved[i], 0x00};

        expect_bad(b, sizeof(b));
        expect_bad(b3, sizeof(b3));
    }
}

static void test_sn_fixed_size_wrong_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x04, 0x00, 0x07, 0x03); /* ADVERTISE short */
    EXPECT_BAD(0x06, 0x00, 0x07, 0x03, 0x84, 0x00);
    EXPECT_BAD(0x02, 0x01); /* SEARCHGW without radius */
    EXPECT_BAD(0x02, 0x05); /* CONNACK without rc */
    EXPECT_BAD(0x04, 0x05, 0x00, 0x00);
    EXPECT_BAD(0x03, 0x06, 0x00);                         /* WILLTOPICREQ has no body */
    EXPECT_BAD(0x03, 0x08, 0x00);                         /* WILLMSGREQ */
    EXPECT_BAD(0x03, 0x17, 0x00);                         /* PINGRESP */
    EXPECT_BAD(0x06, 0x0b, 0x00, 0x2a, 0x00, 0x01);       /* REGACK without rc */
    EXPECT_BAD(0x06, 0x0d, 0x00, 0x2a, 0x00, 0x01);       /* PUBACK */
    EXPECT_BAD(0x03, 0x0e, 0x00);                         /* PUBCOMP */
    EXPECT_BAD(0x05, 0x0f, 0x00, 0x03, 0x00);             /* PUBREC */
    EXPECT_BAD(0x02, 0x10);                               /* PUBREL */
    EXPECT_BAD(0x03, 0x15, 0x00);                         /* UNSUBACK */
    EXPECT_BAD(0x07, 0x13, 0x20, 0x00, 0x2b, 0x00, 0x04); /* SUBACK without rc */
    EXPECT_BAD(0x02, 0x1b);                               /* WILLTOPICRESP */
    EXPECT_BAD(0x04, 0x1d, 0x00, 0x00);                   /* WILLMSGRESP */
    EXPECT_BAD(0x02, 0x02);                               /* GWINFO without GwId */
    EXPECT_BAD(0x06, 0x0c, 0x20, 0x00, 0x2a, 0x00);       /* PUBLISH without full MsgId */
    EXPECT_BAD(0x03, 0x18, 0x02);                         /* DISCONNECT: half a Duration */
    EXPECT_BAD(0x05, 0x18, 0x02, 0x58, 0x00);
}

static void test_sn_reserved_return_code_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x03, 0x05, 0x04);
    EXPECT_BAD(0x03, 0x1b, 0xff);
    EXPECT_BAD(0x03, 0x1d, 0x80);
    EXPECT_BAD(0x07, 0x0b, 0x00, 0x2a, 0x00, 0x01, 0x04);
    EXPECT_BAD(0x07, 0x0d, 0x00, 0x2a, 0x00, 0x01, 0x10);
    EXPECT_BAD(0x08, 0x13, 0x20, 0x00, 0x2b, 0x00, 0x04, 0x05);
}

static void test_sn_reserved_topic_type_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x09, 0x0c, 0x23, 0x00, 0x2a, 0x00, 0x02, 'h', 'i'); /* PUBLISH */
    EXPECT_BAD(0x07, 0x12, 0x03, 0x00, 0x05, 0x00, 0x09);           /* SUBSCRIBE */
    EXPECT_BAD(0x07, 0x14, 0x03, 0x00, 0x05, 0x00, 0x09);           /* UNSUBSCRIBE */
}

/* Messages that do not use TopicIdType carry the bits unchanged. */
static void test_sn_unused_flag_bits_kept(void **state)
{
    const uint8_t b[] = {0x07, 0x04, 0xff, 0x01, 0x00, 0x3c, 'x'};
    uint8_t out[16];
    struct sn_msg m;

    (void)state;
    assert_int_equal(sn_decode(b, sizeof(b), &m), (ssize_t)sizeof(b));
    assert_int_equal(m.u.connect.flags.topic_type, 3);
    assert_int_equal(m.u.connect.flags.qos, -1);
    assert_int_equal(sn_encode(out, sizeof(out), &m), sizeof(b));
    assert_memory_equal(out, b, sizeof(b));
}

static void test_sn_qos_minus_one_outside_publish_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x06, 0x12, 0x60, 0x00, 0x01, 'a');              /* SUBSCRIBE */
    EXPECT_BAD(0x08, 0x13, 0x60, 0x00, 0x2b, 0x00, 0x04, 0x00); /* SUBACK */
    EXPECT_BAD(0x04, 0x07, 0x60, 'a');                          /* WILLTOPIC */
    EXPECT_BAD(0x04, 0x1a, 0x70, 'a');                          /* WILLTOPICUPD */
}

/* Left to the gateway (sn_codec.h): QoS -1 with a normal topic id. */
static void test_sn_qos_minus_one_normal_id_accepted(void **state)
{
    const uint8_t b[] = {0x08, 0x0c, 0x60, 0x00, 0x2a, 0x00, 0x00, 'x'};
    struct sn_msg m;

    (void)state;
    assert_int_equal(sn_decode(b, sizeof(b), &m), (ssize_t)sizeof(b));
    assert_int_equal(m.u.publish.flags.qos, -1);
    assert_int_equal(m.u.publish.flags.topic_type, SN_TOPIC_NORMAL);
}

static void test_sn_connect_malformed(void **state)
{
    uint8_t b[4 + 2 + 24] = {0x1e, 0x04, 0x04, 0x01, 0x00, 0x3c};
    struct sn_msg m;

    (void)state;
    EXPECT_BAD(0x07, 0x04, 0x04, 0x02, 0x00, 0x3c, 'x'); /* ProtocolId 2 */
    EXPECT_BAD(0x07, 0x04, 0x04, 0x00, 0x00, 0x3c, 'x'); /* ProtocolId 0 */
    EXPECT_BAD(0x06, 0x04, 0x04, 0x01, 0x00, 0x3c);      /* empty ClientId */
    EXPECT_BAD(0x05, 0x04, 0x04, 0x01, 0x00);            /* no Duration */
    memset(b + 6, 'c', 24);
    expect_bad(b, 30); /* 24-octet ClientId */
    b[0] = 29;
    assert_int_equal(sn_decode(b, 29, &m), 29); /* 23 octets is the maximum */
    assert_int_equal(m.u.connect.client_id.n, 23);
}

static void test_sn_pingreq_long_client_id_malformed(void **state)
{
    uint8_t b[2 + 24] = {26, 0x16};
    struct sn_msg m;

    (void)state;
    memset(b + 2, 'c', 24);
    expect_bad(b, sizeof(b));
    b[0] = 25;
    assert_int_equal(sn_decode(b, 25, &m), 25);
    assert_int_equal(m.u.client_id.n, 23);
}

static void test_sn_will_topic_flags_only_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x03, 0x07, 0x20); /* Flags but no WillTopic */
    EXPECT_BAD(0x03, 0x1a, 0x00);
}

static void test_sn_subscribe_topic_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x05, 0x12, 0x20, 0x00, 0x01);                   /* no topic */
    EXPECT_BAD(0x05, 0x14, 0x00, 0x00, 0x01);                   /* UNSUBSCRIBE no topic */
    EXPECT_BAD(0x06, 0x12, 0x01, 0x00, 0x05, 0x00);             /* 1-octet id */
    EXPECT_BAD(0x08, 0x12, 0x01, 0x00, 0x05, 0x00, 0x09, 0x00); /* 3-octet id */
    EXPECT_BAD(0x06, 0x12, 0x02, 0x00, 0x06, 'z');              /* 1-char short name */
    EXPECT_BAD(0x08, 0x14, 0x02, 0x00, 0x06, 'z', 'z', 'z');    /* 3-char short name */
    EXPECT_BAD(0x04, 0x12, 0x20, 0x00);                         /* no full MsgId */
}

static void test_sn_register_topic_malformed(void **state)
{
    (void)state;
    EXPECT_BAD(0x06, 0x0a, 0x00, 0x00, 0x00, 0x01);      /* empty name */
    EXPECT_BAD(0x07, 0x0a, 0x00, 0x00, 0x00, 0x01, '+'); /* wildcards */
    EXPECT_BAD(0x09, 0x0a, 0x00, 0x00, 0x00, 0x01, 'a', '/', '#');
    EXPECT_BAD(0x05, 0x0a, 0x00, 0x00, 0x00);
}

/* ---- encapsulation ---- */

static void test_sn_encap_malformed(void **state)
{
    struct sn_encap e;
    struct sn_msg inner;
    const uint8_t bad_inner[] = {0x03, 0xfe, 0x00, 0x02, 0x03};

    (void)state;
    EXPECT_BAD(0x03, 0xfe, 0x04, 0x02, 0x16); /* Ctrl reserved bit */
    EXPECT_BAD(0x03, 0xfe, 0x80, 0x02, 0x16);
    EXPECT_BAD(0x02, 0xfe, 0x00, 0x02, 0x16); /* Length < 3 */
    EXPECT_BAD(0x00, 0xfe, 0x00, 0x02, 0x16);
    EXPECT_BAD(0x03, 0xfe, 0x00); /* no inner message */
    EXPECT_BAD(0x05, 0xfe, 0x00, 0xab, 0xcd);
    EXPECT_BAD(0x09, 0xfe, 0x00, 0x02, 0x16); /* Length past datagram */
    EXPECT_BAD(0x03, 0xfe, 0x00, 0x03, 0x16); /* inner length mismatch */
    EXPECT_BAD(0x03, 0xfe, 0x00, 0x02, 0x16, 0x00);
    EXPECT_BAD(0x03, 0xfe, 0x00, 0x05, 0xfe, 0x00, 0x02, 0x16); /* nested */
    EXPECT_BAD(0x01, 0x00, 0x05, 0xfe, 0x00, 0x02, 0x16);       /* 3-octet Length */
    /* The outer layer is fine, the inner message is not. */
    assert_int_equal(sn_decode(bad_inner, sizeof(bad_inner), &inner), (ssize_t)sizeof(bad_inner));
    assert_int_equal(sn_decode_encap(bad_inner, sizeof(bad_inner), &e, &inner), GW_E_MALFORMED);
    /* Not encapsulated at all. */
    assert_int_equal(sn_decode_encap(BYTES(0x02, 0x16), 2, &e, &inner), GW_E_MALFORMED);
}

static void test_sn_encap_roundtrip_equal(void **state)
{
    const uint8_t node[] = {0x00, 0x13, 0xa2, 0x00, 0x40, 0x8b, 0x2e, 0x01};
    struct sn_msg pub = {SN_PUBLISH,
                         {.publish = {{.qos = 1, .topic_type = SN_TOPIC_SHORT},
                                      0,
                                      {'t', '1'},
                                      77,
                                      {(const uint8_t *)"23.5", 4}}}};
    uint8_t out[64];
    struct sn_encap e;
    struct sn_msg inner;
    struct sn_msg outer;
    size_t n = 0;

    (void)state;
    assert_int_equal(sn_encap_encoded_size(sizeof(node), &pub), 3 + 8 + 11);
    n = sn_encode_encap(out, sizeof(out), 2, (struct gw_bytes){node, sizeof(node)}, &pub);
    assert_int_equal(n, 22);
    assert_memory_equal(out, BYTES(0x0b, 0xfe, 0x02), 3);
    assert_int_equal(sn_decode_encap(guarded(out, n), n, &e, &inner), 0);
    assert_int_equal(e.radius, 2);
    assert_true(bytes_eq(e.node_id, (struct gw_bytes){node, sizeof(node)}));
    assert_int_equal(e.inner.n, 11);
    assert_true(sn_msg_eq(&inner, &pub));
    /* The generic path re-encodes the same bytes. */
    assert_int_equal(sn_decode(out, n, &outer), (ssize_t)n);
    assert_int_equal(outer.type, SN_ENCAPSULATED);
    assert_int_equal(sn_encoded_size(&outer), n);
    {
        uint8_t again[64];

        assert_int_equal(sn_encode(again, sizeof(again), &outer), n);
        assert_memory_equal(again, out, n);
    }
}

/* An encapsulated message with a 3-octet inner length (a 300-octet PUBLISH). */
static void test_sn_encap_large_inner(void **state)
{
    uint8_t data[300] = {0};
    uint8_t out[400];
    struct sn_msg pub = {SN_PUBLISH, {.publish = {{.qos = 0}, 7, {0, 0}, 0, {data, 300}}}};
    struct sn_encap e;
    struct sn_msg inner;
    size_t n = 0;

    (void)state;
    n = sn_encode_encap(out, sizeof(out), 0, (struct gw_bytes){BYTES(0x01), 1}, &pub);
    assert_int_equal(n, 4 + 309);
    assert_int_equal(sn_decode_encap(out, n, &e, &inner), 0);
    assert_true(sn_msg_eq(&inner, &pub));
}

/* ---- names ---- */

static void test_sn_names_known(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        assert_string_not_equal(sn_type_name(vectors[i].msg.type), "UNKNOWN");
    }
    assert_string_equal(sn_type_name(SN_WILLTOPICUPD), "WILLTOPICUPD");
    assert_string_equal(sn_type_name((enum sn_type)0x03), "UNKNOWN");
    assert_string_equal(sn_rc_name(SN_RC_ACCEPTED), "accepted");
    assert_string_equal(sn_rc_name(SN_RC_INVALID_TOPIC_ID), "rejected: invalid topic ID");
    assert_string_equal(sn_rc_name(4), "reserved");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sn_decode_vectors_match),
            cmocka_unit_test(test_sn_encode_vectors_match),
            cmocka_unit_test(test_sn_decode_encode_roundtrip_equal),
            cmocka_unit_test(test_sn_decode_prefix_or_extension_malformed),
            cmocka_unit_test(test_sn_decode_encap_prefix_malformed),
            cmocka_unit_test(test_sn_publish_300_bytes_three_octet_form),
            cmocka_unit_test(test_sn_length_form_boundary),
            cmocka_unit_test(test_sn_three_octet_form_short_message_accepted),
            cmocka_unit_test(test_sn_length_field_malformed),
            cmocka_unit_test(test_sn_reserved_type_malformed),
            cmocka_unit_test(test_sn_fixed_size_wrong_malformed),
            cmocka_unit_test(test_sn_reserved_return_code_malformed),
            cmocka_unit_test(test_sn_reserved_topic_type_malformed),
            cmocka_unit_test(test_sn_unused_flag_bits_kept),
            cmocka_unit_test(test_sn_qos_minus_one_outside_publish_malformed),
            cmocka_unit_test(test_sn_qos_minus_one_normal_id_accepted),
            cmocka_unit_test(test_sn_connect_malformed),
            cmocka_unit_test(test_sn_pingreq_long_client_id_malformed),
            cmocka_unit_test(test_sn_will_topic_flags_only_malformed),
            cmocka_unit_test(test_sn_subscribe_topic_malformed),
            cmocka_unit_test(test_sn_register_topic_malformed),
            cmocka_unit_test(test_sn_encap_malformed),
            cmocka_unit_test(test_sn_encap_roundtrip_equal),
            cmocka_unit_test(test_sn_encap_large_inner),
            cmocka_unit_test(test_sn_names_known),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
