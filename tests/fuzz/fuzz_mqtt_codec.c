/* fuzz_mqtt_codec.c - libFuzzer target for the MQTT 3.1 / 3.1.1 codec.
 *
 * The first input byte picks the negotiated version (odd: 3.1.1, even: 3.1);
 * the rest is decoded. A decoded packet must survive a round trip:
 * decode(encode(decode(x))) == decode(x) field by field, the re-encoding is
 * byte-stable, and the packet minus its last byte is GW_E_INCOMPLETE. Any
 * mismatch aborts so libFuzzer records the input. */
#include "gw_err.h"
#include "mqtt_codec.h"

#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point: its name is fixed. */
// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool bytes_eq(struct gw_bytes a, struct gw_bytes b)
{
    return gw_bytes_eq(a, b) != 0;
}

static bool connect_equal(const struct mqtt_connect *x, const struct mqtt_connect *y)
{
    return x->version == y->version && bytes_eq(x->proto_name, y->proto_name) &&
           x->clean == y->clean && x->keepalive_s == y->keepalive_s &&
           bytes_eq(x->client_id, y->client_id) && x->will == y->will &&
           x->will_qos == y->will_qos && x->will_retain == y->will_retain &&
           bytes_eq(x->will_topic, y->will_topic) && bytes_eq(x->will_payload, y->will_payload) &&
           x->has_username == y->has_username && bytes_eq(x->username, y->username) &&
           x->has_password == y->has_password && bytes_eq(x->password, y->password) &&
           bytes_eq(x->props, y->props) && bytes_eq(x->will_props, y->will_props);
}

static bool publish_equal(const struct mqtt_publish *x, const struct mqtt_publish *y)
{
    return x->qos == y->qos && x->dup == y->dup && x->retain == y->retain &&
           x->packet_id == y->packet_id && bytes_eq(x->topic, y->topic) &&
           bytes_eq(x->payload, y->payload) && bytes_eq(x->props, y->props);
}

static bool pkt_equal(const struct mqtt_pkt *a, const struct mqtt_pkt *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case MQTT_CONNECT:
        return connect_equal(&a->u.connect, &b->u.connect);
    case MQTT_CONNACK:
        return a->u.connack.session_present == b->u.connack.session_present &&
               a->u.connack.rc == b->u.connack.rc;
    case MQTT_PUBLISH:
        return publish_equal(&a->u.publish, &b->u.publish);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return a->u.subscribe.packet_id == b->u.subscribe.packet_id &&
               bytes_eq(a->u.subscribe.list, b->u.subscribe.list);
    case MQTT_SUBACK:
        return a->u.suback.packet_id == b->u.suback.packet_id &&
               bytes_eq(a->u.suback.rcs, b->u.suback.rcs);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return true;
    default:
        return a->u.ack.packet_id == b->u.ack.packet_id && a->u.ack.rc == b->u.ack.rc;
    }
}

/* The decoder validated the list: the walk must consume it exactly. */
static void check_topic_list(const struct mqtt_pkt *pkt)
{
    struct mqtt_topic_iter it;
    struct gw_bytes filter;
    uint8_t options = 0;
    size_t entries = 0;

    if (pkt->type != MQTT_SUBSCRIBE && pkt->type != MQTT_UNSUBSCRIBE) {
        return;
    }
    mqtt_topic_iter_init(&it, pkt);
    while (mqtt_topic_iter_next(&it, &filter, &options)) {
        if (filter.n == 0 || !mqtt_utf8_valid(filter.p, filter.n) || options > 2) {
            abort();
        }
        entries++;
    }
    if (entries == 0 || it.rest.n != 0) {
        abort();
    }
}

static void roundtrip(const uint8_t *in, size_t used, const struct mqtt_limits *lim,
                      const struct mqtt_pkt *pkt)
{
    size_t size = mqtt_encoded_size(pkt, lim->version);
    uint8_t *enc = malloc(size);
    uint8_t *enc2 = malloc(size);
    struct mqtt_pkt again;

    if (enc == NULL || enc2 == NULL) {
        abort();
    }
    if (mqtt_encode(enc, size, pkt, lim->version) != size) {
        abort();
    }
    if (mqtt_decode(enc, size, lim, &again) != (ssize_t)size || !pkt_equal(pkt, &again)) {
        abort();
    }
    if (mqtt_encode(enc2, size, &again, lim->version) != size || memcmp(enc, enc2, size) != 0) {
        abort();
    }
    if (mqtt_decode(in, used - 1, lim, &again) != GW_E_INCOMPLETE) {
        abort();
    }
    free(enc);
    free(enc2);
}

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mqtt_limits lim = {MQTT_V311, 0};
    struct mqtt_pkt pkt;
    ssize_t used = 0;

    if (size < 1) {
        return 0;
    }
    lim.version = (data[0] & 1u) != 0 ? MQTT_V311 : MQTT_V31;
    used = mqtt_decode(data + 1, size - 1, &lim, &pkt);
    if (used == 0 || used > (ssize_t)(size - 1)) {
        abort();
    }
    if (used < 0) {
        if (used != GW_E_INCOMPLETE && used != GW_E_MALFORMED) {
            abort(); /* no size limit is set, so never TOO_LARGE */
        }
        return 0;
    }
    check_topic_list(&pkt);
    roundtrip(data + 1, (size_t)used, &lim, &pkt);
    return 0;
}
