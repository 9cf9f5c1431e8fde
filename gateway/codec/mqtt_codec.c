/* mqtt_codec.c - pure MQTT 3.1 / 3.1.1 / 5.0 control-packet decoder (L0);
 * the encoder is mqtt_encode.c.
 *
 * Decoding reads the fixed header first (so an oversize packet is refused
 * before its body is buffered), waits for the whole packet, then parses the
 * body through a bounded reader: every read past the Remaining Length is a
 * malformed packet, never an over-read.
 *
 * Version handling: lim->version MQTT_V_UNKNOWN, MQTT_V31 and MQTT_V311 all
 * decode with the 3.1.1 rules (the session enforces "CONNECT first");
 * MQTT_V5 decodes every packet in its 5.0 layout (property blocks validated
 * by mqtt_props_validate and kept as raw views; AUTH exists); any other
 * negotiated version decodes CONNECT only. CONNECT is decoded by its own
 * protocol level byte:
 *   - 3 and 4: the 3.1.1 layout (MQTT 3.1 uses the same one); also 0x83
 *     and 0x84, mosquitto's bridge levels (bit 7: "this client is a
 *     bridge"), kept verbatim in version (mqtt_bridge_level tells);
 *   - 5: the 5.0 layout, property and will property blocks validated;
 *   - any other level: decoding stops after the level byte; the packet is
 *     consumed whole and only version and proto_name are set, so the broker
 *     can answer CONNACK 0x01 [MQTT-3.1.2-2].
 * The protocol name must be "MQTT" or "MQIsdp" [MQTT-3.1.2-1]; whether a name
 * fits its level ("MQTT"/4, "MQIsdp"/3) is the session's decision. */
#include "mqtt_codec.h"

#include "gw_err.h"
#include "mqtt_codec_priv.h"
#include "mqtt_props.h"

#include <string.h>

/* Bounded reader over a packet body. */
struct rd {
    const uint8_t *p;
    size_t n;
};

static int rd_u8(struct rd *r, uint8_t *v)
{
    if (r->n < 1) {
        return GW_E_MALFORMED;
    }
    *v = r->p[0];
    r->p++;
    r->n--;
    return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
    if (r->n < 2) {
        return GW_E_MALFORMED;
    }
    *v = gw_be16(r->p);
    r->p += 2;
    r->n -= 2;
    return 0;
}

static int rd_take(struct rd *r, size_t n, struct gw_bytes *out)
{
    if (r->n < n) {
        return GW_E_MALFORMED;
    }
    out->p = r->p;
    out->n = n;
    r->p += n;
    r->n -= n;
    return 0;
}

/* Two-byte length followed by that many bytes (binary data, 1.5.3). */
static int rd_bin(struct rd *r, struct gw_bytes *out)
{
    uint16_t n = 0;
    int rc = rd_u16(r, &n);

    if (rc < 0) {
        return rc;
    }
    return rd_take(r, n, out);
}

/* A UTF-8 encoded string [MQTT-1.5.3-1] [MQTT-1.5.3-2]. */
static int rd_str(struct rd *r, struct gw_bytes *out)
{
    int rc = rd_bin(r, out);

    if (rc < 0) {
        return rc;
    }
    return mqtt_utf8_valid(out->p, out->n) ? 0 : GW_E_MALFORMED;
}

/* An MQTT 5 property block, validated for packet type and kept raw. */
static int rd_props(struct rd *r, enum mqtt_type type, bool will, struct gw_bytes *out)
{
    ssize_t used = mqtt_props_decode(r->p, r->n, type, will, out);

    if (used < 0) {
        return (int)used;
    }
    r->p += used;
    r->n -= (size_t)used;
    return 0;
}

/* A packet identifier that must be non-zero [MQTT-2.3.1-1]. */
static int rd_pid(struct rd *r, uint16_t *pid)
{
    int rc = rd_u16(r, pid);

    if (rc < 0) {
        return rc;
    }
    return *pid != 0 ? 0 : GW_E_MALFORMED;
}

ssize_t mqtt_decode_header(const uint8_t *buf, size_t len, uint8_t *type_flags, uint32_t *remaining)
{
    uint32_t v = 0;

    /* Remaining Length: at most four bytes, 3.1.1 section 2.2.3. */
    for (size_t i = 0; i < 4; i++) {
        uint8_t b = 0;

        if (len < i + 2) {
            return GW_E_INCOMPLETE;
        }
        b = buf[i + 1];
        v |= (uint32_t)(b & 0x7fu) << (7u * i);
        if ((b & 0x80u) == 0) {
            *type_flags = buf[0];
            *remaining = v;
            return (ssize_t)(i + 2);
        }
    }
    return GW_E_MALFORMED;
}

/* Fixed-header flags [MQTT-2.2.2-1] [MQTT-2.2.2-2]; PUBLISH rules from 3.3.1. */
static int check_flags(uint8_t type_flags, bool v5)
{
    unsigned type = type_flags >> 4;
    unsigned flags = type_flags & 0x0fu;

    switch (type) {
    case MQTT_PUBLISH:
        if (((flags >> 1) & 3u) == 3u) {
            return GW_E_MALFORMED; /* [MQTT-3.3.1-4] */
        }
        if (((flags >> 1) & 3u) == 0 && (flags & 0x8u) != 0) {
            return GW_E_MALFORMED; /* [MQTT-3.3.1-2] */
        }
        return 0;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return flags == 0x2u ? 0 : GW_E_MALFORMED;
    case MQTT_CONNECT:
    case MQTT_CONNACK:
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return flags == 0 ? 0 : GW_E_MALFORMED;
    case MQTT_AUTH:
        return v5 && flags == 0 ? 0 : GW_E_MALFORMED; /* [MQTT-3.15.1-1] */
    default:
        return GW_E_MALFORMED; /* 0 is reserved */
    }
}

/* CONNECT payload after the client id, 3.1.3. v5 adds the will properties. */
static int decode_connect_payload(struct rd *r, struct mqtt_connect *c)
{
    int rc = rd_str(r, &c->client_id); /* [MQTT-3.1.3-4] */

    if (rc == 0 && c->will && c->version == MQTT_V5) {
        rc = rd_props(r, MQTT_CONNECT, true, &c->will_props); /* 3.1.3.2 */
    }
    if (rc == 0 && c->will) {
        rc = rd_str(r, &c->will_topic); /* [MQTT-3.1.3-10] */
    }
    if (rc == 0 && c->will) {
        rc = rd_bin(r, &c->will_payload);
    }
    if (rc == 0 && c->has_username) {
        rc = rd_str(r, &c->username); /* [MQTT-3.1.3-11] */
    }
    if (rc == 0 && c->has_password) {
        rc = rd_bin(r, &c->password);
    }
    if (rc == 0 && r->n != 0) {
        rc = GW_E_MALFORMED; /* bytes past the last field */
    }
    return rc;
}

static int decode_connect_flags(uint8_t f, struct mqtt_connect *c)
{
    if ((f & 0x01u) != 0) {
        return GW_E_MALFORMED; /* [MQTT-3.1.2-3] */
    }
    c->clean = (f & 0x02u) != 0;
    c->will = (f & 0x04u) != 0;
    c->will_qos = (uint8_t)((f >> 3) & 3u);
    c->will_retain = (f & 0x20u) != 0;
    c->has_password = (f & 0x40u) != 0;
    c->has_username = (f & 0x80u) != 0;
    if (!c->will && (c->will_qos != 0 || c->will_retain)) {
        return GW_E_MALFORMED; /* [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] */
    }
    if (c->will_qos == 3) {
        return GW_E_MALFORMED; /* [MQTT-3.1.2-14] */
    }
    /* [MQTT-3.1.2-22]; MQTT 5 allows a password without a user name. */
    if (c->version != MQTT_V5 && c->has_password && !c->has_username) {
        return GW_E_MALFORMED;
    }
    return 0;
}

static bool proto_name_known(struct gw_bytes name)
{
    return gw_bytes_eq(name, gw_bytes_str(PROTO_MQTT)) ||
           gw_bytes_eq(name, gw_bytes_str(PROTO_MQISDP));
}

static int decode_connect(struct rd *r, struct mqtt_connect *c)
{
    uint8_t flags = 0;
    int rc = rd_bin(r, &c->proto_name);

    if (rc < 0 || !proto_name_known(c->proto_name)) {
        return GW_E_MALFORMED; /* [MQTT-3.1.2-1] */
    }
    rc = rd_u8(r, &c->version);
    if (rc < 0) {
        return rc;
    }
    if (c->version != MQTT_V31 && c->version != MQTT_V311 && c->version != MQTT_V5 &&
        !mqtt_bridge_level(c->version)) {
        return 0; /* unknown level: the broker refuses it [MQTT-3.1.2-2] */
    }
    rc = rd_u8(r, &flags);
    if (rc == 0) {
        rc = decode_connect_flags(flags, c);
    }
    if (rc == 0) {
        rc = rd_u16(r, &c->keepalive_s);
    }
    if (rc == 0 && c->version == MQTT_V5) {
        rc = rd_props(r, MQTT_CONNECT, false, &c->props);
    }
    if (rc == 0) {
        rc = decode_connect_payload(r, c);
    }
    return rc;
}

static int decode_connack(struct rd *r, bool v5, struct mqtt_connack *c)
{
    uint8_t ack_flags = 0;

    if (r->n != 2 && !v5) {
        return GW_E_MALFORMED;
    }
    if (rd_u8(r, &ack_flags) < 0 || rd_u8(r, &c->rc) < 0) {
        return GW_E_MALFORMED;
    }
    if ((ack_flags & 0xfeu) != 0) {
        return GW_E_MALFORMED; /* reserved bits 7-1, 3.1.1 section 3.2.2.1 */
    }
    c->session_present = (ack_flags & 0x01u) != 0;
    if (!v5) {
        return 0;
    }
    if (!mqtt_rc_valid(MQTT_CONNACK, c->rc)) {
        return GW_E_MALFORMED; /* [MQTT-3.2.2-8] */
    }
    int rc = rd_props(r, MQTT_CONNACK, false, &c->props);
    if (rc < 0) {
        return rc;
    }
    return r->n != 0 ? GW_E_MALFORMED : 0;
}

static bool topic_has_wildcards(struct gw_bytes t)
{
    return memchr(t.p, '+', t.n) != NULL || memchr(t.p, '#', t.n) != NULL;
}

static int decode_publish(struct rd *r, uint8_t flags, bool v5, struct mqtt_publish *p)
{
    int rc = rd_str(r, &p->topic); /* [MQTT-3.3.2-1] */

    if (rc < 0) {
        return rc;
    }
    if (p->topic.n == 0 && !v5) {
        return GW_E_MALFORMED; /* [MQTT-4.7.3-1]; v5: see below */
    }
    if (topic_has_wildcards(p->topic)) {
        return GW_E_MALFORMED; /* [MQTT-3.3.2-2] */
    }
    p->dup = (flags & 0x8u) != 0;
    p->qos = (uint8_t)((flags >> 1) & 3u);
    p->retain = (flags & 0x1u) != 0;
    if (p->qos > 0) {
        rc = rd_pid(r, &p->packet_id); /* [MQTT-2.3.1-1] */
        if (rc < 0) {
            return rc;
        }
    }
    if (v5) {
        int prc = rd_props(r, MQTT_PUBLISH, false, &p->props);
        if (prc < 0) {
            return prc;
        }
    }
    if (p->topic.n == 0 && !mqtt_props_has(p->props, MQTT_PROP_TOPIC_ALIAS)) {
        return GW_E_MALFORMED; /* empty name only with a Topic Alias, 3.3.2.3.4 */
    }
    /* The payload is the rest and may be empty (3.3.3). */
    return rd_take(r, r->n, &p->payload);
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: exactly a packet id. */
static int decode_ack(struct rd *r, struct mqtt_ack *a)
{
    if (r->n != 2) {
        return GW_E_MALFORMED;
    }
    return rd_pid(r, &a->packet_id);
}

/* The rest of a v5 PUBACK..PUBCOMP, DISCONNECT or AUTH (mqtt_props.h). */
static int rd_tail(struct rd *r, enum mqtt_type type, uint8_t *rc, bool *has_rc, bool *has_props,
                   struct gw_bytes *props)
{
    struct mqtt_rc_tail t;
    int err = mqtt_rc_tail_decode((struct gw_bytes){r->p, r->n}, type, &t);

    if (err < 0) {
        return err;
    }
    *rc = t.rc;
    *has_rc = t.has_rc;
    *has_props = t.has_props;
    *props = t.props;
    return 0;
}

/* A v5 reason-code list: the rest of a SUBACK / UNSUBACK. */
static int rd_rc_list(struct rd *r, enum mqtt_type type, struct gw_bytes *rcs)
{
    (void)rd_take(r, r->n, rcs);
    return mqtt_rc_list_validate(*rcs, type);
}

static int decode_ack_v5(struct rd *r, enum mqtt_type type, struct mqtt_ack *a)
{
    int rc = rd_pid(r, &a->packet_id);

    if (rc < 0) {
        return rc;
    }
    if (type == MQTT_UNSUBACK) {
        rc = rd_props(r, type, false, &a->props);
        return rc < 0 ? rc : rd_rc_list(r, type, &a->rcs);
    }
    return rd_tail(r, type, &a->rc, &a->has_rc, &a->has_props, &a->props);
}

static int decode_subscribe(struct rd *r, bool with_options, bool v5, struct mqtt_subscribe *s)
{
    int rc = rd_pid(r, &s->packet_id); /* [MQTT-2.3.1-1] */

    if (rc == 0 && v5) {
        rc = rd_props(r, with_options ? MQTT_SUBSCRIBE : MQTT_UNSUBSCRIBE, false, &s->props);
    }
    if (rc < 0) {
        return rc;
    }
    (void)rd_take(r, r->n, &s->list);
    return mqtt_topic_list_validate(s->list, with_options, v5);
}

static int decode_suback(struct rd *r, bool v5, struct mqtt_suback *s)
{
    int rc = rd_pid(r, &s->packet_id);

    if (rc == 0 && v5) {
        rc = rd_props(r, MQTT_SUBACK, false, &s->props);
        return rc < 0 ? rc : rd_rc_list(r, MQTT_SUBACK, &s->rcs);
    }
    if (rc < 0) {
        return rc;
    }
    if (r->n == 0) {
        return GW_E_MALFORMED; /* one return code per filter, at least one */
    }
    (void)rd_take(r, r->n, &s->rcs);
    for (size_t i = 0; i < s->rcs.n; i++) {
        uint8_t c = s->rcs.p[i];

        if (c > 2 && c != MQTT_SUBACK_FAILURE) {
            return GW_E_MALFORMED; /* [MQTT-3.9.3-2] */
        }
    }
    return 0;
}

static int decode_body(struct rd *r, uint8_t type_flags, bool v5, struct mqtt_pkt *pkt)
{
    enum mqtt_type type = (enum mqtt_type)(type_flags >> 4);
    struct mqtt_disconnect *d = type == MQTT_AUTH ? &pkt->u.auth : &pkt->u.disconnect;

    switch (type) {
    case MQTT_CONNECT:
        return decode_connect(r, &pkt->u.connect);
    case MQTT_CONNACK:
        return decode_connack(r, v5, &pkt->u.connack);
    case MQTT_PUBLISH:
        return decode_publish(r, type_flags & 0x0fu, v5, &pkt->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return v5 ? decode_ack_v5(r, type, &pkt->u.ack) : decode_ack(r, &pkt->u.ack);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return decode_subscribe(r, type == MQTT_SUBSCRIBE, v5, &pkt->u.subscribe);
    case MQTT_SUBACK:
        return decode_suback(r, v5, &pkt->u.suback);
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (v5) {
            return rd_tail(r, type, &d->rc, &d->has_rc, &d->has_props, &d->props);
        }
        return r->n == 0 ? 0 : GW_E_MALFORMED; /* 3.1.1: no variable header */
    default:
        /* PINGREQ, PINGRESP: no variable header. */
        return r->n == 0 ? 0 : GW_E_MALFORMED;
    }
}

ssize_t mqtt_decode(const uint8_t *buf, size_t len, const struct mqtt_limits *lim,
                    struct mqtt_pkt *out)
{
    uint8_t type_flags = 0;
    uint32_t remaining = 0;
    ssize_t hlen = mqtt_decode_header(buf, len, &type_flags, &remaining);
    uint64_t total = 0;
    struct mqtt_pkt pkt;
    struct rd r;
    int rc = 0;
    bool v5 = lim->version == MQTT_V5;

    if (hlen < 0) {
        return hlen;
    }
    total = (uint64_t)hlen + remaining;
    if (lim->max_packet_size != 0 && total > lim->max_packet_size) {
        return GW_E_TOO_LARGE;
    }
    rc = check_flags(type_flags, v5);
    if (rc == 0 && (type_flags >> 4) != MQTT_CONNECT && !v5 &&
        !mqtt_version_decodes_311(lim->version)) {
        rc = GW_E_MALFORMED; /* unknown level: only its CONNECT decodes */
    }
    if (rc < 0) {
        return rc;
    }
    if (len < total) {
        return GW_E_INCOMPLETE;
    }
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = (enum mqtt_type)(type_flags >> 4);
    r.p = buf + hlen;
    r.n = remaining;
    rc = decode_body(&r, type_flags, v5, &pkt);
    if (rc < 0) {
        return rc;
    }
    *out = pkt;
    return (ssize_t)total;
}
