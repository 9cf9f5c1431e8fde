/* fuzz_sn_codec.c - libFuzzer target for the MQTT-SN 1.2 codec.
 *
 * The input is one datagram. A decoded message must survive a round trip:
 * decode(encode(decode(x))) == decode(x) field by field, the re-encoding is
 * byte-stable and as long as x (2 octets shorter when x used the 3-octet
 * length form for a short message), and x minus its last octet is
 * GW_E_MALFORMED. The input is also decoded as an Encapsulated Message: the
 * inner message gets the same round trip and sn_encode_encap must rebuild x.
 * Any mismatch aborts so libFuzzer records the input. */
#include "gw_err.h"
#include "sn_codec.h"

#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point: its name is fixed. */
// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool bytes_eq(struct gw_bytes a, struct gw_bytes b)
{
    return gw_bytes_eq(a, b) != 0;
}

static bool flags_eq(const struct sn_flags *a, const struct sn_flags *b)
{
    return a->dup == b->dup && a->qos == b->qos && a->retain == b->retain && a->will == b->will &&
           a->clean == b->clean && a->topic_type == b->topic_type;
}

static bool publish_eq(const struct sn_publish *a, const struct sn_publish *b)
{
    return flags_eq(&a->flags, &b->flags) && a->topic_id == b->topic_id &&
           memcmp(a->short_name, b->short_name, 2) == 0 && a->msg_id == b->msg_id &&
           bytes_eq(a->data, b->data);
}

static bool subscribe_eq(const struct sn_subscribe *a, const struct sn_subscribe *b)
{
    return flags_eq(&a->flags, &b->flags) && a->msg_id == b->msg_id && a->topic_id == b->topic_id &&
           memcmp(a->short_name, b->short_name, 2) == 0 && bytes_eq(a->topic_name, b->topic_name);
}

static bool msg_eq(const struct sn_msg *a, const struct sn_msg *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case SN_ADVERTISE:
        return a->u.advertise.gw_id == b->u.advertise.gw_id &&
               a->u.advertise.duration_s == b->u.advertise.duration_s;
    case SN_SEARCHGW:
        return a->u.radius == b->u.radius;
    case SN_GWINFO:
        return a->u.gwinfo.gw_id == b->u.gwinfo.gw_id &&
               bytes_eq(a->u.gwinfo.gw_addr, b->u.gwinfo.gw_addr);
    case SN_CONNECT:
        return flags_eq(&a->u.connect.flags, &b->u.connect.flags) &&
               a->u.connect.duration_s == b->u.connect.duration_s &&
               bytes_eq(a->u.connect.client_id, b->u.connect.client_id);
    case SN_CONNACK:
    case SN_WILLTOPICRESP:
    case SN_WILLMSGRESP:
        return a->u.rc == b->u.rc;
    case SN_WILLTOPIC:
    case SN_WILLTOPICUPD:
        return flags_eq(&a->u.will_topic.flags, &b->u.will_topic.flags) &&
               bytes_eq(a->u.will_topic.topic, b->u.will_topic.topic);
    case SN_WILLMSG:
    case SN_WILLMSGUPD:
        return bytes_eq(a->u.will_msg, b->u.will_msg);
    case SN_REGISTER:
        return a->u.reg.topic_id == b->u.reg.topic_id && a->u.reg.msg_id == b->u.reg.msg_id &&
               bytes_eq(a->u.reg.topic, b->u.reg.topic);
    case SN_REGACK:
    case SN_PUBACK:
        return a->u.topic_ack.topic_id == b->u.topic_ack.topic_id &&
               a->u.topic_ack.msg_id == b->u.topic_ack.msg_id &&
               a->u.topic_ack.rc == b->u.topic_ack.rc;
    case SN_PUBLISH:
        return publish_eq(&a->u.publish, &b->u.publish);
    case SN_PUBCOMP:
    case SN_PUBREC:
    case SN_PUBREL:
    case SN_UNSUBACK:
        return a->u.msg_id == b->u.msg_id;
    case SN_SUBSCRIBE:
    case SN_UNSUBSCRIBE:
        return subscribe_eq(&a->u.subscribe, &b->u.subscribe);
    case SN_SUBACK:
        return flags_eq(&a->u.suback.flags, &b->u.suback.flags) &&
               a->u.suback.topic_id == b->u.suback.topic_id &&
               a->u.suback.msg_id == b->u.suback.msg_id && a->u.suback.rc == b->u.suback.rc;
    case SN_PINGREQ:
        return bytes_eq(a->u.client_id, b->u.client_id);
    case SN_DISCONNECT:
        return a->u.disconnect.has_duration == b->u.disconnect.has_duration &&
               a->u.disconnect.duration_s == b->u.disconnect.duration_s;
    case SN_ENCAPSULATED:
        return a->u.encap.radius == b->u.encap.radius &&
               bytes_eq(a->u.encap.node_id, b->u.encap.node_id) &&
               bytes_eq(a->u.encap.inner, b->u.encap.inner);
    default:
        return true; /* WILLTOPICREQ WILLMSGREQ PINGRESP */
    }
}

/* Encode m, decode it again, compare, re-encode and compare bytes.
 * Returns the encoded size. */
static size_t roundtrip(const struct sn_msg *m)
{
    size_t size = sn_encoded_size(m);
    uint8_t *enc = malloc(size);
    uint8_t *enc2 = malloc(size);
    struct sn_msg again;

    if (enc == NULL || enc2 == NULL || size > SN_MAX_LEN + 255u) {
        abort();
    }
    if (sn_encode(enc, size, m) != size) {
        abort();
    }
    if (sn_decode(enc, size, &again) != (ssize_t)size || !msg_eq(m, &again)) {
        abort();
    }
    if (sn_encode(enc2, size, &again) != size || memcmp(enc, enc2, size) != 0) {
        abort();
    }
    free(enc);
    free(enc2);
    return size;
}

static void check_encap(const uint8_t *data, size_t size)
{
    struct sn_encap e;
    struct sn_msg inner;
    uint8_t *enc = NULL;
    size_t n = 0;

    if (sn_decode_encap(data, size, &e, &inner) < 0) {
        return;
    }
    if (inner.type == SN_ENCAPSULATED || e.radius > SN_RADIUS_MAX ||
        e.node_id.n > SN_ENCAP_NODE_MAX) {
        abort();
    }
    roundtrip(&inner);
    /* Canonical inner (1-octet form when it fits) gives back the input. */
    n = sn_encap_encoded_size(e.node_id.n, &inner);
    enc = malloc(n);
    if (enc == NULL || sn_encode_encap(enc, n, e.radius, e.node_id, &inner) != n) {
        abort();
    }
    if (n == size && memcmp(enc, data, n) != 0) {
        abort();
    }
    if (n != size && !(n + 2 == size && e.inner.p[0] == 0x01)) {
        abort();
    }
    free(enc);
}

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sn_msg m;
    struct sn_encap e;
    ssize_t used = sn_decode(data, size, &m);
    size_t enc_size = 0;

    if (used < 0) {
        if (used != GW_E_MALFORMED) {
            abort(); /* datagrams are whole: never INCOMPLETE */
        }
        if (sn_decode_encap(data, size, &e, &m) != GW_E_MALFORMED) {
            abort(); /* an encapsulation is a datagram sn_decode accepts */
        }
        return 0;
    }
    if ((size_t)used != size) {
        abort();
    }
    enc_size = roundtrip(&m);
    if (enc_size != size && !(enc_size + 2 == size && data[0] == 0x01)) {
        abort();
    }
    if (sn_decode(data, size - 1, &m) != GW_E_MALFORMED) {
        abort();
    }
    check_encap(data, size);
    return 0;
}
