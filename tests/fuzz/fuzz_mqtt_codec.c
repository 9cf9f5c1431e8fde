/* fuzz_mqtt_codec.c - libFuzzer target for the MQTT 3.1 / 3.1.1 / 5.0 codec.
 *
 * The first input byte picks the negotiated version (byte % 3: 0 is 3.1, 1
 * is 3.1.1, 2 is 5.0); the rest is decoded. A decoded packet must survive a
 * round trip: decode(encode(decode(x))) == decode(x) field by field (v5
 * property blocks byte-equal, reason-code forms equal), the re-encoding is
 * byte-stable, and the packet minus its last byte is GW_E_INCOMPLETE. Every
 * property block of a decoded packet must walk to its end with the
 * iterator. Any mismatch aborts so libFuzzer records the input. */
#include "gw_err.h"
#include "mqtt_codec.h"
#include "mqtt_props.h"

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

static bool ack_equal(const struct mqtt_ack *x, const struct mqtt_ack *y)
{
    return x->packet_id == y->packet_id && x->rc == y->rc && bytes_eq(x->props, y->props) &&
           x->has_rc == y->has_rc && x->has_props == y->has_props && bytes_eq(x->rcs, y->rcs);
}

static bool reason_equal(const struct mqtt_disconnect *x, const struct mqtt_disconnect *y)
{
    return x->rc == y->rc && bytes_eq(x->props, y->props) && x->has_rc == y->has_rc &&
           x->has_props == y->has_props;
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
               a->u.connack.rc == b->u.connack.rc &&
               bytes_eq(a->u.connack.props, b->u.connack.props);
    case MQTT_PUBLISH:
        return publish_equal(&a->u.publish, &b->u.publish);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return a->u.subscribe.packet_id == b->u.subscribe.packet_id &&
               bytes_eq(a->u.subscribe.props, b->u.subscribe.props) &&
               bytes_eq(a->u.subscribe.list, b->u.subscribe.list);
    case MQTT_SUBACK:
        return a->u.suback.packet_id == b->u.suback.packet_id &&
               bytes_eq(a->u.suback.props, b->u.suback.props) &&
               bytes_eq(a->u.suback.rcs, b->u.suback.rcs);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        return true;
    case MQTT_DISCONNECT:
        return reason_equal(&a->u.disconnect, &b->u.disconnect);
    case MQTT_AUTH:
        return reason_equal(&a->u.auth, &b->u.auth);
    default:
        return ack_equal(&a->u.ack, &b->u.ack);
    }
}

/* A decoded property block walks to its end and validates again. */
static void check_props(struct gw_bytes block, enum mqtt_type type, bool will)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop p;
    int rc = 0;

    mqtt_prop_iter_init(&it, block);
    while ((rc = mqtt_prop_iter_next(&it, &p)) > 0) {
        if (!mqtt_prop_allowed(p.id, type, will) || p.type != mqtt_prop_type_of(p.id)) {
            abort();
        }
    }
    if (rc != 0 || it.rest.n != 0 || mqtt_props_validate(&block, type, will) != 0) {
        abort();
    }
}

static void check_all_props(const struct mqtt_pkt *pkt)
{
    switch (pkt->type) {
    case MQTT_CONNECT:
        check_props(pkt->u.connect.props, MQTT_CONNECT, false);
        check_props(pkt->u.connect.will_props, MQTT_CONNECT, true);
        break;
    case MQTT_CONNACK:
        check_props(pkt->u.connack.props, MQTT_CONNACK, false);
        break;
    case MQTT_PUBLISH:
        check_props(pkt->u.publish.props, MQTT_PUBLISH, false);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        check_props(pkt->u.subscribe.props, pkt->type, false);
        break;
    case MQTT_SUBACK:
        check_props(pkt->u.suback.props, MQTT_SUBACK, false);
        break;
    case MQTT_DISCONNECT:
        check_props(pkt->u.disconnect.props, MQTT_DISCONNECT, false);
        break;
    case MQTT_AUTH:
        check_props(pkt->u.auth.props, MQTT_AUTH, false);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    default:
        check_props(pkt->u.ack.props, pkt->type, false);
        break;
    }
}

static bool options_valid(uint8_t options, uint8_t version)
{
    if (version != MQTT_V5) {
        return options <= 2;
    }
    return (options & MQTT_SUB_OPT_QOS_MASK) != 3 && MQTT_SUB_OPT_RH(options) != 3 &&
           (options & 0xc0u) == 0;
}

/* The decoder validated the list: the walk must consume it exactly. */
static void check_topic_list(const struct mqtt_pkt *pkt, uint8_t version)
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
        if (filter.n == 0 || !mqtt_utf8_valid(filter.p, filter.n) ||
            !options_valid(options, version)) {
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
    lim.version = (uint8_t)(MQTT_V31 + data[0] % 3u);
    used = mqtt_decode(data + 1, size - 1, &lim, &pkt);
    if (used == 0 || used > (ssize_t)(size - 1)) {
        abort();
    }
    if (used < 0) {
        if (used != GW_E_INCOMPLETE && used != GW_E_MALFORMED && used != GW_E_PROTOCOL) {
            abort(); /* no size limit is set, so never TOO_LARGE */
        }
        return 0;
    }
    check_topic_list(&pkt, lim.version);
    check_all_props(&pkt);
    roundtrip(data + 1, (size_t)used, &lim, &pkt);
    return 0;
}
