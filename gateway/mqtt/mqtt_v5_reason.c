/* mqtt_v5_reason.c - Reason Strings on what the server sends an MQTT 5
 * client, within the limits the client set.
 *
 * A Reason String (property 0x1F) says in words why a PUBACK, PUBREC,
 * SUBACK, CONNACK or DISCONNECT carries a failure code. Two client settings
 * bound it:
 *  - Request Problem Information 0: no Reason String (nor User Property) on
 *    anything but PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29];
 *  - Maximum Packet Size: the string is left out when it would make the
 *    packet larger [MQTT-3.2.2-19] [MQTT-3.4.2-2] [MQTT-3.5.2-2]
 *    [MQTT-3.9.2-1] [MQTT-3.14.2-3]. Only the string is dropped: the
 *    packet itself always fits (a reason code is a few bytes).
 * The server sends no User Properties of its own, so only the string is
 * concerned. See mqtt_v5.h. */
#include "conn.h"
#include "mqtt_props.h"
#include "mqtt_proto_priv.h"
#include "mqtt_v5.h"

#include <string.h>

#define V5_REASON_MAX 160u /* bytes of a Reason String we send */

static struct gw_bytes *props_of(struct mqtt_pkt *pkt)
{
    switch (pkt->type) {
    case MQTT_CONNACK:
        return &pkt->u.connack.props;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return &pkt->u.ack.props;
    case MQTT_SUBACK:
        return &pkt->u.suback.props;
    case MQTT_DISCONNECT:
        return &pkt->u.disconnect.props;
    case MQTT_AUTH:
        return &pkt->u.auth.props;
    default:
        return NULL;
    }
}

static bool may_explain(const struct conn *c, enum mqtt_type type)
{
    if (type == MQTT_CONNACK || type == MQTT_DISCONNECT) {
        return true; /* allowed whatever the client asked [MQTT-3.1.2-29] */
    }
    return !c->v5 || c->v5->problem_info;
}

size_t v5_reason_cut(const uint8_t *p, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    /* Back off to the start of a UTF-8 sequence: the string stays valid. */
    while (max > 0 && (p[max] & 0xC0u) == 0x80u) {
        max--;
    }
    return max;
}

int v5_send_explained(struct conn *c, struct mqtt_pkt *pkt, struct gw_bytes why)
{
    uint8_t buf[V5_REASON_MAX + 8];
    struct gw_bytes *props = props_of(pkt);
    if (props && props->n == 0 && why.n && may_explain(c, pkt->type)) {
        struct mqtt_props_builder pb;
        mqtt_props_builder_init(&pb, buf, sizeof(buf));
        why.n = v5_reason_cut(why.p, why.n, V5_REASON_MAX);
        mqtt_props_add_str(&pb, MQTT_PROP_REASON_STRING, why);
        *props = mqtt_props_builder_bytes(&pb);
        uint32_t max = c->v5 ? c->v5->max_packet_out : 0;
        if (max && mqtt_encoded_size(pkt, MQTT_V5) > max) {
            *props = (struct gw_bytes){NULL, 0}; /* the string goes first */
        }
    }
    return mqtt_proto_send_pkt(c, pkt);
}
