/* mqtt_encode.c - pure MQTT 3.1 / 3.1.1 / 5.0 control-packet encoder (L0);
 * the decoder is mqtt_codec.c.
 *
 * Encoding is size-then-write (mqtt_encoded_size, then mqtt_encode into a
 * buffer of that size); its input is trusted and checked with assert().
 *
 * The version argument selects the packet layout (0, 3, 4: 3.1.1; 5: 5.0;
 * others asserted) except for CONNECT, whose level byte and layout come from
 * connect.version and whose name is proto_name, or "MQIsdp" for level 3 and
 * "MQTT" otherwise when proto_name is empty. */
#include "mqtt_codec.h"
#include "mqtt_codec_priv.h"
#include "mqtt_props.h"

#include <assert.h>
#include <string.h>

/* Sequential writer; the caller sized dst, so running out is a bug. */
struct wr {
    uint8_t *p;
    size_t n;
    size_t cap;
};

static void wr_u8(struct wr *w, uint8_t v)
{
    assert(w->n + 1 <= w->cap);
    w->p[w->n++] = v;
}

static void wr_u16(struct wr *w, uint16_t v)
{
    assert(w->n + 2 <= w->cap);
    gw_put_be16(w->p + w->n, v);
    w->n += 2;
}

static void wr_raw(struct wr *w, struct gw_bytes b)
{
    assert(w->n + b.n <= w->cap);
    if (b.n > 0) {
        memcpy(w->p + w->n, b.p, b.n);
    }
    w->n += b.n;
}

static void wr_bin(struct wr *w, struct gw_bytes b)
{
    assert(b.n <= MQTT_MAX_STRING);
    wr_u16(w, (uint16_t)b.n);
    wr_raw(w, b);
}

static void wr_varblock(struct wr *w, struct gw_bytes b)
{
    assert(b.n <= MQTT_MAX_REMAINING);
    assert(w->n + mqtt_varint_size((uint32_t)b.n) <= w->cap);
    w->n += mqtt_varint_encode(w->p + w->n, (uint32_t)b.n);
    wr_raw(w, b);
}

static size_t varblock_size(struct gw_bytes b)
{
    assert(b.n <= MQTT_MAX_REMAINING);
    return mqtt_varint_size((uint32_t)b.n) + b.n;
}

/* Level byte a CONNECT goes out with: connect.version verbatim, whatever the
 * version argument says. A level of 0 is a real (unknown) level the decoder
 * can report, so it must not mean "use the argument" (fuzzer finding). */
static uint8_t connect_level(const struct mqtt_connect *c)
{
    return c->version;
}

/* The layout of a level: a 3.1 / 3.1.1 level with bit 7 set is mosquitto's
 * bridge flag ("try_private"), laid out as the level without it. Encoding
 * only: the decoder knows no such level. */
static uint8_t connect_layout(uint8_t level)
{
    return (level & 0x7Fu) == MQTT_V31 || (level & 0x7Fu) == MQTT_V311 ? (uint8_t)(level & 0x7Fu)
                                                                       : level;
}

static struct gw_bytes connect_name(const struct mqtt_connect *c, uint8_t level)
{
    if (c->proto_name.n > 0) {
        return c->proto_name;
    }
    return gw_bytes_str(level == MQTT_V31 ? PROTO_MQISDP : PROTO_MQTT);
}

static bool level_known(uint8_t level)
{
    return level == MQTT_V31 || level == MQTT_V311 || level == MQTT_V5;
}

static size_t connect_size(const struct mqtt_connect *c)
{
    uint8_t level = connect_layout(connect_level(c));
    size_t n = 2 + connect_name(c, level).n + 1;

    if (!level_known(level)) {
        return n; /* mirrors the decoder: name and level only */
    }
    n += 1 + 2 + 2 + c->client_id.n;
    if (level == MQTT_V5) {
        n += varblock_size(c->props);
    }
    if (c->will) {
        n += 2 + c->will_topic.n + 2 + c->will_payload.n;
        n += level == MQTT_V5 ? varblock_size(c->will_props) : 0;
    }
    n += c->has_username ? 2 + c->username.n : 0;
    n += c->has_password ? 2 + c->password.n : 0;
    return n;
}

static uint8_t connect_flags(const struct mqtt_connect *c)
{
    unsigned f = 0;

    assert(c->will_qos <= 2);
    assert(c->will || (c->will_qos == 0 && !c->will_retain));
    f |= c->clean ? 0x02u : 0;
    f |= c->will ? 0x04u : 0;
    f |= (unsigned)c->will_qos << 3;
    f |= c->will_retain ? 0x20u : 0;
    f |= c->has_password ? 0x40u : 0;
    f |= c->has_username ? 0x80u : 0;
    return (uint8_t)f;
}

static void encode_connect(struct wr *w, const struct mqtt_connect *c)
{
    uint8_t level = connect_layout(connect_level(c));

    wr_bin(w, connect_name(c, level));
    wr_u8(w, connect_level(c));
    if (!level_known(level)) {
        return;
    }
    wr_u8(w, connect_flags(c));
    wr_u16(w, c->keepalive_s);
    if (level == MQTT_V5) {
        wr_varblock(w, c->props);
    }
    wr_bin(w, c->client_id);
    if (c->will && level == MQTT_V5) {
        wr_varblock(w, c->will_props);
    }
    if (c->will) {
        wr_bin(w, c->will_topic);
        wr_bin(w, c->will_payload);
    }
    if (c->has_username) {
        wr_bin(w, c->username);
    }
    if (c->has_password) {
        wr_bin(w, c->password);
    }
}

static uint8_t first_byte(const struct mqtt_pkt *pkt)
{
    unsigned b = (unsigned)pkt->type << 4;
    const struct mqtt_publish *p = &pkt->u.publish;

    switch (pkt->type) {
    case MQTT_PUBLISH:
        assert(p->qos <= 2);
        assert(p->qos > 0 || !p->dup); /* [MQTT-3.3.1-2] */
        b |= (p->dup ? 0x8u : 0) | ((unsigned)p->qos << 1) | (p->retain ? 0x1u : 0);
        break;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        b |= 0x2u; /* [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] */
        break;
    default:
        break;
    }
    return (uint8_t)b;
}

/* The v5 reason-code tail of PUBACK..PUBCOMP, DISCONNECT and AUTH. */
static struct mqtt_rc_tail tail_of(const struct mqtt_pkt *pkt)
{
    const struct mqtt_disconnect *d = pkt->type == MQTT_AUTH ? &pkt->u.auth : &pkt->u.disconnect;
    const struct mqtt_ack *a = &pkt->u.ack;
    struct mqtt_rc_tail t = {a->rc, a->has_rc, a->has_props, a->props};

    if (pkt->type == MQTT_DISCONNECT || pkt->type == MQTT_AUTH) {
        t = (struct mqtt_rc_tail){d->rc, d->has_rc, d->has_props, d->props};
    }
    return t;
}

static size_t tail_size(const struct mqtt_pkt *pkt)
{
    struct mqtt_rc_tail t = tail_of(pkt);

    return mqtt_rc_tail_size(&t, pkt->type);
}

static void encode_tail(struct wr *w, const struct mqtt_pkt *pkt)
{
    struct mqtt_rc_tail t = tail_of(pkt);

    assert(w->n + mqtt_rc_tail_size(&t, pkt->type) <= w->cap);
    w->n += mqtt_rc_tail_encode(w->p + w->n, &t, pkt->type);
}

static size_t props_size(bool v5, struct gw_bytes props)
{
    return v5 ? varblock_size(props) : 0;
}

/* Body size; 5.0 adds property blocks and reason codes to the 3.1.1
 * layouts (CONNECT is sized by its own level). */
static size_t body_size(const struct mqtt_pkt *pkt, uint8_t version)
{
    const struct mqtt_publish *p = &pkt->u.publish;
    const struct mqtt_ack *a = &pkt->u.ack;
    bool v5 = version == MQTT_V5;

    switch (pkt->type) {
    case MQTT_CONNECT:
        return connect_size(&pkt->u.connect);
    case MQTT_CONNACK:
        return 2 + props_size(v5, pkt->u.connack.props);
    case MQTT_PUBLISH:
        return 2 + p->topic.n + (p->qos > 0 ? 2 : 0) + props_size(v5, p->props) + p->payload.n;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return 2 + (v5 ? tail_size(pkt) : 0);
    case MQTT_UNSUBACK:
        return 2 + (v5 ? varblock_size(a->props) + a->rcs.n : 0);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return 2 + props_size(v5, pkt->u.subscribe.props) + pkt->u.subscribe.list.n;
    case MQTT_SUBACK:
        return 2 + props_size(v5, pkt->u.suback.props) + pkt->u.suback.rcs.n;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        assert(v5 || pkt->type != MQTT_AUTH);
        return v5 ? tail_size(pkt) : 0;
    default:
        return 0; /* PINGREQ, PINGRESP */
    }
}

/* CONNECT carries its own level; other packets need 3.1, 3.1.1 or 5.0. */
static void check_encodable(const struct mqtt_pkt *pkt, uint8_t version)
{
    (void)pkt;
    (void)version;
    assert(pkt->type == MQTT_CONNECT || mqtt_version_decodes_311(version) || version == MQTT_V5);
}

size_t mqtt_encoded_size(const struct mqtt_pkt *pkt, uint8_t version)
{
    size_t body = 0;

    check_encodable(pkt, version);
    body = body_size(pkt, version);
    assert(body <= MQTT_MAX_REMAINING);
    return 1 + mqtt_varint_size((uint32_t)body) + body;
}

static void wr_props(struct wr *w, bool v5, struct gw_bytes props)
{
    if (v5) {
        wr_varblock(w, props);
    }
}

static void encode_body(struct wr *w, const struct mqtt_pkt *pkt, bool v5)
{
    const struct mqtt_publish *p = &pkt->u.publish;
    const struct mqtt_ack *a = &pkt->u.ack;

    switch (pkt->type) {
    case MQTT_CONNECT:
        encode_connect(w, &pkt->u.connect);
        break;
    case MQTT_CONNACK:
        wr_u8(w, pkt->u.connack.session_present ? 1 : 0);
        wr_u8(w, pkt->u.connack.rc);
        wr_props(w, v5, pkt->u.connack.props);
        break;
    case MQTT_PUBLISH:
        wr_bin(w, p->topic);
        if (p->qos > 0) {
            wr_u16(w, p->packet_id);
        }
        wr_props(w, v5, p->props);
        wr_raw(w, p->payload);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        wr_u16(w, a->packet_id);
        if (v5 && pkt->type == MQTT_UNSUBACK) {
            wr_varblock(w, a->props);
            wr_raw(w, a->rcs);
        } else if (v5) {
            encode_tail(w, pkt);
        }
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        wr_u16(w, pkt->u.subscribe.packet_id);
        wr_props(w, v5, pkt->u.subscribe.props);
        wr_raw(w, pkt->u.subscribe.list);
        break;
    case MQTT_SUBACK:
        wr_u16(w, pkt->u.suback.packet_id);
        wr_props(w, v5, pkt->u.suback.props);
        wr_raw(w, pkt->u.suback.rcs);
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (v5) {
            encode_tail(w, pkt);
        }
        break;
    default:
        break; /* PINGREQ, PINGRESP */
    }
}

size_t mqtt_encode(uint8_t *dst, size_t cap, const struct mqtt_pkt *pkt, uint8_t version)
{
    struct wr w = {dst, 0, cap};
    size_t body = 0;
    size_t start = 0;

    check_encodable(pkt, version);
    body = body_size(pkt, version);
    assert(body <= MQTT_MAX_REMAINING);
    assert(cap >= 1 + mqtt_varint_size((uint32_t)body) + body);
    wr_u8(&w, first_byte(pkt));
    w.n += mqtt_varint_encode(dst + w.n, (uint32_t)body);
    start = w.n;
    encode_body(&w, pkt, version == MQTT_V5);
    assert(w.n - start == body);
    (void)start;
    return w.n;
}
