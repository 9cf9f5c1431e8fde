/* sn_codec.c - MQTT-SN 1.2 message codec (see sn_codec.h for the contract).
 *
 * Decoding: the header gives the body (the octets after MsgType), each type
 * checks the body's size and fields. Every datagram is a whole message, so
 * every size test is an equality or a lower bound against the datagram, and
 * truncation is simply GW_E_MALFORMED. Encoding: size, then write; the input
 * is trusted and checked with assert(). */
#include "sn_codec.h"

#include "gw_err.h"

#include <assert.h>
#include <string.h>

#define FL_DUP         0x80u
#define FL_QOS_SHIFT   5u
#define FL_QOS_MASK    0x60u
#define FL_RETAIN      0x10u
#define FL_WILL        0x08u
#define FL_CLEAN       0x04u
#define FL_TOPIC_MASK  0x03u
#define TOPIC_RESERVED 3u
#define PROTOCOL_ID    0x01u /* §5.3.8: the only defined ProtocolId */
#define CTRL_RADIUS    0x03u /* §5.5 Ctrl: bits 1..0 radius, 7..2 reserved */
#define ENCAP_HDR      3u    /* Length, MsgType, Ctrl */
#define LEN3_MARK      0x01u /* first octet of the 3-octet length form */
#define SHORT_HDR_MAX  255u

/* ---- decoding ---- */

static struct sn_flags flags_decode(uint8_t b)
{
    struct sn_flags f;
    unsigned q = (b & FL_QOS_MASK) >> FL_QOS_SHIFT;

    f.dup = (b & FL_DUP) != 0;
    f.qos = (int8_t)(q == 3 ? -1 : (int)q); /* 0b11 is QoS -1, §5.3.4 */
    f.retain = (b & FL_RETAIN) != 0;
    f.will = (b & FL_WILL) != 0;
    f.clean = (b & FL_CLEAN) != 0;
    f.topic_type = (uint8_t)(b & FL_TOPIC_MASK);
    return f;
}

static bool rc_valid(uint8_t rc)
{
    return rc <= SN_RC_NOT_SUPPORTED;
}

/* Read the length field of buf[0..len): *hdr gets its size (1 or 3) and
 * *total the declared total length. The MsgType octet must be there too. */
static int header_decode(const uint8_t *buf, size_t len, size_t *hdr, size_t *total)
{
    if (len < 2) {
        return GW_E_MALFORMED;
    }
    if (buf[0] == LEN3_MARK) {
        if (len < 4) {
            return GW_E_MALFORMED;
        }
        *hdr = 3;
        *total = gw_be16(buf + 1);
        return *total >= 4 ? 0 : GW_E_MALFORMED;
    }
    if (buf[0] == 0) {
        return GW_E_MALFORMED;
    }
    *hdr = 1;
    *total = buf[0];
    return 0;
}

/* A whole, non-encapsulated message: declared length == datagram length. */
static int whole_decode(const uint8_t *buf, size_t len, size_t *hdr)
{
    size_t total = 0;

    if (header_decode(buf, len, hdr, &total) < 0 || total != len) {
        return GW_E_MALFORMED;
    }
    return buf[*hdr] == SN_ENCAPSULATED ? GW_E_MALFORMED : 0;
}

static int encap_decode(const uint8_t *buf, size_t len, struct sn_encap *e)
{
    size_t n = buf[0];
    size_t hdr = 0;

    /* §5.5: Length is one octet and counts up to the end of the node id. */
    if (n < ENCAP_HDR || n >= len || (buf[2] & ~CTRL_RADIUS) != 0) {
        return GW_E_MALFORMED;
    }
    e->radius = (uint8_t)(buf[2] & CTRL_RADIUS);
    e->node_id.p = buf + ENCAP_HDR;
    e->node_id.n = n - ENCAP_HDR;
    e->inner.p = buf + n;
    e->inner.n = len - n;
    /* No nesting: a forwarder encapsulates a client's own message. */
    return whole_decode(e->inner.p, e->inner.n, &hdr);
}

static int connect_decode(struct gw_bytes b, struct sn_msg *m)
{
    struct sn_connect *c = &m->u.connect;

    if (b.n < 4 + 1 || b.n > 4 + SN_CLIENT_ID_MAX || b.p[1] != PROTOCOL_ID) {
        return GW_E_MALFORMED;
    }
    c->flags = flags_decode(b.p[0]);
    c->duration_s = gw_be16(b.p + 2);
    c->client_id.p = b.p + 4;
    c->client_id.n = b.n - 4;
    return 0;
}

/* WILLTOPIC and WILLTOPICUPD: the empty form has no Flags (§5.4.7). */
static int will_topic_decode(struct gw_bytes b, struct sn_msg *m)
{
    struct sn_will_topic *w = &m->u.will_topic;

    if (b.n == 0) {
        return 0;
    }
    if (b.n < 2) {
        return GW_E_MALFORMED;
    }
    w->flags = flags_decode(b.p[0]);
    w->topic.p = b.p + 1;
    w->topic.n = b.n - 1;
    return w->flags.qos < 0 ? GW_E_MALFORMED : 0;
}

static int register_decode(struct gw_bytes b, struct sn_msg *m)
{
    struct sn_register *r = &m->u.reg;

    if (b.n < 5) {
        return GW_E_MALFORMED;
    }
    r->topic_id = gw_be16(b.p);
    r->msg_id = gw_be16(b.p + 2);
    r->topic.p = b.p + 4;
    r->topic.n = b.n - 4;
    if (memchr(r->topic.p, '+', r->topic.n) != NULL ||
        memchr(r->topic.p, '#', r->topic.n) != NULL) {
        return GW_E_MALFORMED;
    }
    return 0;
}

static int publish_decode(struct gw_bytes b, struct sn_msg *m)
{
    struct sn_publish *p = &m->u.publish;

    if (b.n < 5) {
        return GW_E_MALFORMED;
    }
    p->flags = flags_decode(b.p[0]);
    if (p->flags.topic_type == TOPIC_RESERVED) {
        return GW_E_MALFORMED;
    }
    if (p->flags.topic_type == SN_TOPIC_SHORT) {
        p->short_name[0] = b.p[1]; /* §5.3.11: the short name sits in TopicId */
        p->short_name[1] = b.p[2];
    } else {
        p->topic_id = gw_be16(b.p + 1);
    }
    p->msg_id = gw_be16(b.p + 3);
    p->data.p = b.p + 5;
    p->data.n = b.n - 5;
    return 0;
}

/* SUBSCRIBE and UNSUBSCRIBE, §5.4.15 / §5.4.17: Flags, MsgId, then a topic
 * name (type 0, non-empty) or a 2-octet topic id / short name. */
static int subscribe_decode(struct gw_bytes b, struct sn_msg *m)
{
    struct sn_subscribe *s = &m->u.subscribe;

    if (b.n < 4) {
        return GW_E_MALFORMED;
    }
    s->flags = flags_decode(b.p[0]);
    s->msg_id = gw_be16(b.p + 1);
    if (m->type == SN_SUBSCRIBE && s->flags.qos < 0) {
        return GW_E_MALFORMED;
    }
    if (s->flags.topic_type == SN_TOPIC_NORMAL) {
        s->topic_name.p = b.p + 3;
        s->topic_name.n = b.n - 3;
        return 0;
    }
    if (s->flags.topic_type == TOPIC_RESERVED || b.n != 5) {
        return GW_E_MALFORMED;
    }
    if (s->flags.topic_type == SN_TOPIC_SHORT) {
        s->short_name[0] = b.p[3];
        s->short_name[1] = b.p[4];
    } else {
        s->topic_id = gw_be16(b.p + 3);
    }
    return 0;
}

/* Messages with one fixed-size body: size, or -1 for the variable ones. */
static int fixed_body(enum sn_type t)
{
    switch (t) {
    case SN_WILLTOPICREQ:
    case SN_WILLMSGREQ:
    case SN_PINGRESP:
        return 0;
    case SN_SEARCHGW:
    case SN_CONNACK:
    case SN_WILLTOPICRESP:
    case SN_WILLMSGRESP:
        return 1;
    case SN_PUBCOMP:
    case SN_PUBREC:
    case SN_PUBREL:
    case SN_UNSUBACK:
        return 2;
    case SN_ADVERTISE:
        return 3;
    case SN_REGACK:
    case SN_PUBACK:
        return 5;
    case SN_SUBACK:
        return 6;
    default:
        return -1;
    }
}

static int fixed_decode(struct gw_bytes b, struct sn_msg *m)
{
    const uint8_t *p = b.p;

    switch (m->type) {
    case SN_SEARCHGW:
        m->u.radius = p[0];
        return 0;
    case SN_CONNACK:
    case SN_WILLTOPICRESP:
    case SN_WILLMSGRESP:
        m->u.rc = p[0];
        return rc_valid(p[0]) ? 0 : GW_E_MALFORMED;
    case SN_PUBCOMP:
    case SN_PUBREC:
    case SN_PUBREL:
    case SN_UNSUBACK:
        m->u.msg_id = gw_be16(p);
        return 0;
    case SN_ADVERTISE:
        m->u.advertise.gw_id = p[0];
        m->u.advertise.duration_s = gw_be16(p + 1);
        return 0;
    case SN_REGACK:
    case SN_PUBACK:
        m->u.topic_ack.topic_id = gw_be16(p);
        m->u.topic_ack.msg_id = gw_be16(p + 2);
        m->u.topic_ack.rc = p[4];
        return rc_valid(p[4]) ? 0 : GW_E_MALFORMED;
    case SN_SUBACK:
        m->u.suback.flags = flags_decode(p[0]);
        m->u.suback.topic_id = gw_be16(p + 1);
        m->u.suback.msg_id = gw_be16(p + 3);
        m->u.suback.rc = p[5];
        return rc_valid(p[5]) && m->u.suback.flags.qos >= 0 ? 0 : GW_E_MALFORMED;
    default:
        return 0; /* no body */
    }
}

static int variable_decode(struct gw_bytes b, struct sn_msg *m)
{
    switch (m->type) {
    case SN_GWINFO:
        if (b.n < 1) {
            return GW_E_MALFORMED;
        }
        m->u.gwinfo.gw_id = b.p[0];
        m->u.gwinfo.gw_addr.p = b.p + 1;
        m->u.gwinfo.gw_addr.n = b.n - 1;
        return 0;
    case SN_CONNECT:
        return connect_decode(b, m);
    case SN_WILLTOPIC:
    case SN_WILLTOPICUPD:
        return will_topic_decode(b, m);
    case SN_WILLMSG:
    case SN_WILLMSGUPD:
        m->u.will_msg = b;
        return 0;
    case SN_REGISTER:
        return register_decode(b, m);
    case SN_PUBLISH:
        return publish_decode(b, m);
    case SN_SUBSCRIBE:
    case SN_UNSUBSCRIBE:
        return subscribe_decode(b, m);
    case SN_PINGREQ:
        m->u.client_id = b; /* optional, §5.4.19 */
        return b.n <= SN_CLIENT_ID_MAX ? 0 : GW_E_MALFORMED;
    case SN_DISCONNECT:
        m->u.disconnect.has_duration = b.n == 2;
        m->u.disconnect.duration_s = b.n == 2 ? gw_be16(b.p) : 0;
        return b.n == 0 || b.n == 2 ? 0 : GW_E_MALFORMED;
    default:
        return GW_E_MALFORMED; /* reserved MsgType */
    }
}

ssize_t sn_decode(const uint8_t *buf, size_t len, struct sn_msg *out)
{
    struct sn_msg m;
    struct gw_bytes body;
    size_t hdr = 0;
    int fixed = 0;
    int rc = 0;

    memset(&m, 0, sizeof(m));
    /* A successful decode has len <= 255 + 65535, so it fits the return. */
    if (len < 2) {
        return GW_E_MALFORMED;
    }
    if (buf[0] != LEN3_MARK && buf[1] == SN_ENCAPSULATED) {
        m.type = SN_ENCAPSULATED;
        rc = encap_decode(buf, len, &m.u.encap);
    } else if ((rc = whole_decode(buf, len, &hdr)) == 0) {
        m.type = (enum sn_type)buf[hdr];
        body.p = buf + hdr + 1;
        body.n = len - hdr - 1;
        fixed = fixed_body(m.type);
        if (fixed >= 0) {
            rc = body.n == (size_t)fixed ? fixed_decode(body, &m) : GW_E_MALFORMED;
        } else {
            rc = variable_decode(body, &m);
        }
    }
    if (rc < 0) {
        return rc;
    }
    *out = m;
    return (ssize_t)len;
}

int sn_decode_encap(const uint8_t *buf, size_t len, struct sn_encap *encap, struct sn_msg *inner)
{
    struct sn_msg outer;
    struct sn_msg in;

    if (sn_decode(buf, len, &outer) < 0 || outer.type != SN_ENCAPSULATED ||
        sn_decode(outer.u.encap.inner.p, outer.u.encap.inner.n, &in) < 0) {
        return GW_E_MALFORMED;
    }
    *encap = outer.u.encap;
    *inner = in;
    return 0;
}

/* ---- encoding ---- */

struct wr {
    uint8_t *p;
    size_t cap;
    size_t n;
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

static void wr_bytes(struct wr *w, const uint8_t *p, size_t n)
{
    assert(w->n + n <= w->cap);
    if (n > 0) {
        memcpy(w->p + w->n, p, n);
    }
    w->n += n;
}

static uint8_t flags_encode(const struct sn_flags *f)
{
    unsigned q = f->qos < 0 ? 3u : (unsigned)f->qos;

    assert(f->qos >= -1 && f->qos <= 2);
    assert(f->topic_type <= TOPIC_RESERVED);
    return (uint8_t)((f->dup ? FL_DUP : 0u) | (q << FL_QOS_SHIFT) | (f->retain ? FL_RETAIN : 0u) |
                     (f->will ? FL_WILL : 0u) | (f->clean ? FL_CLEAN : 0u) | f->topic_type);
}

static size_t subscribe_topic_size(const struct sn_subscribe *s)
{
    return s->flags.topic_type == SN_TOPIC_NORMAL ? s->topic_name.n : 2;
}

/* Body size (the octets after MsgType) for a non-encapsulated message. */
static size_t body_size(const struct sn_msg *m)
{
    int fixed = fixed_body(m->type);

    if (fixed >= 0) {
        return (size_t)fixed;
    }
    switch (m->type) {
    case SN_GWINFO:
        return 1 + m->u.gwinfo.gw_addr.n;
    case SN_CONNECT:
        return 4 + m->u.connect.client_id.n;
    case SN_WILLTOPIC:
    case SN_WILLTOPICUPD:
        return m->u.will_topic.topic.n == 0 ? 0 : 1 + m->u.will_topic.topic.n;
    case SN_WILLMSG:
    case SN_WILLMSGUPD:
        return m->u.will_msg.n;
    case SN_REGISTER:
        return 4 + m->u.reg.topic.n;
    case SN_PUBLISH:
        return 5 + m->u.publish.data.n;
    case SN_SUBSCRIBE:
    case SN_UNSUBSCRIBE:
        return 3 + subscribe_topic_size(&m->u.subscribe);
    case SN_PINGREQ:
        return m->u.client_id.n;
    case SN_DISCONNECT:
        return m->u.disconnect.has_duration ? 2 : 0;
    default:
        assert(false); /* an unknown message type */
        return 0;
    }
}

size_t sn_encoded_size(const struct sn_msg *m)
{
    size_t body = 0;

    if (m->type == SN_ENCAPSULATED) {
        return ENCAP_HDR + m->u.encap.node_id.n + m->u.encap.inner.n;
    }
    body = body_size(m);
    /* §5.2.1: the 1-octet form up to 255, else 0x01 and two octets. */
    return body + 2 <= SHORT_HDR_MAX ? body + 2 : body + 4;
}

static void fixed_encode(struct wr *w, const struct sn_msg *m)
{
    switch (m->type) {
    case SN_SEARCHGW:
        wr_u8(w, m->u.radius);
        break;
    case SN_CONNACK:
    case SN_WILLTOPICRESP:
    case SN_WILLMSGRESP:
        assert(rc_valid(m->u.rc));
        wr_u8(w, m->u.rc);
        break;
    case SN_PUBCOMP:
    case SN_PUBREC:
    case SN_PUBREL:
    case SN_UNSUBACK:
        wr_u16(w, m->u.msg_id);
        break;
    case SN_ADVERTISE:
        wr_u8(w, m->u.advertise.gw_id);
        wr_u16(w, m->u.advertise.duration_s);
        break;
    case SN_REGACK:
    case SN_PUBACK:
        wr_u16(w, m->u.topic_ack.topic_id);
        wr_u16(w, m->u.topic_ack.msg_id);
        assert(rc_valid(m->u.topic_ack.rc));
        wr_u8(w, m->u.topic_ack.rc);
        break;
    case SN_SUBACK:
        wr_u8(w, flags_encode(&m->u.suback.flags));
        wr_u16(w, m->u.suback.topic_id);
        wr_u16(w, m->u.suback.msg_id);
        assert(rc_valid(m->u.suback.rc));
        wr_u8(w, m->u.suback.rc);
        break;
    default:
        break; /* no body */
    }
}

/* PUBLISH's TopicId field, or a SUBSCRIBE's id / short name. */
static void topic_field_encode(struct wr *w, uint8_t type, uint16_t id, const uint8_t *short_name)
{
    assert(type != TOPIC_RESERVED);
    if (type == SN_TOPIC_SHORT) {
        wr_bytes(w, short_name, 2);
    } else {
        wr_u16(w, id);
    }
}

static void variable_encode(struct wr *w, const struct sn_msg *m)
{
    const struct sn_publish *p = &m->u.publish;
    const struct sn_subscribe *s = &m->u.subscribe;

    switch (m->type) {
    case SN_GWINFO:
        wr_u8(w, m->u.gwinfo.gw_id);
        wr_bytes(w, m->u.gwinfo.gw_addr.p, m->u.gwinfo.gw_addr.n);
        break;
    case SN_CONNECT:
        assert(m->u.connect.client_id.n >= 1 && m->u.connect.client_id.n <= SN_CLIENT_ID_MAX);
        wr_u8(w, flags_encode(&m->u.connect.flags));
        wr_u8(w, PROTOCOL_ID);
        wr_u16(w, m->u.connect.duration_s);
        wr_bytes(w, m->u.connect.client_id.p, m->u.connect.client_id.n);
        break;
    case SN_WILLTOPIC:
    case SN_WILLTOPICUPD:
        if (m->u.will_topic.topic.n > 0) {
            wr_u8(w, flags_encode(&m->u.will_topic.flags));
            wr_bytes(w, m->u.will_topic.topic.p, m->u.will_topic.topic.n);
        }
        break;
    case SN_WILLMSG:
    case SN_WILLMSGUPD:
        wr_bytes(w, m->u.will_msg.p, m->u.will_msg.n);
        break;
    case SN_REGISTER:
        assert(m->u.reg.topic.n > 0);
        wr_u16(w, m->u.reg.topic_id);
        wr_u16(w, m->u.reg.msg_id);
        wr_bytes(w, m->u.reg.topic.p, m->u.reg.topic.n);
        break;
    case SN_PUBLISH:
        wr_u8(w, flags_encode(&p->flags));
        topic_field_encode(w, p->flags.topic_type, p->topic_id, p->short_name);
        wr_u16(w, p->msg_id);
        wr_bytes(w, p->data.p, p->data.n);
        break;
    case SN_SUBSCRIBE:
    case SN_UNSUBSCRIBE:
        wr_u8(w, flags_encode(&s->flags));
        wr_u16(w, s->msg_id);
        if (s->flags.topic_type == SN_TOPIC_NORMAL) {
            assert(s->topic_name.n > 0);
            wr_bytes(w, s->topic_name.p, s->topic_name.n);
        } else {
            topic_field_encode(w, s->flags.topic_type, s->topic_id, s->short_name);
        }
        break;
    case SN_PINGREQ:
        assert(m->u.client_id.n <= SN_CLIENT_ID_MAX);
        wr_bytes(w, m->u.client_id.p, m->u.client_id.n);
        break;
    case SN_DISCONNECT:
        if (m->u.disconnect.has_duration) {
            wr_u16(w, m->u.disconnect.duration_s);
        }
        break;
    default:
        fixed_encode(w, m);
        break;
    }
}

size_t sn_encode(uint8_t *dst, size_t cap, const struct sn_msg *m)
{
    struct wr w = {dst, cap, 0};
    size_t total = sn_encoded_size(m);

    assert(total <= cap);
    if (m->type == SN_ENCAPSULATED) {
        assert(m->u.encap.node_id.n <= SN_ENCAP_NODE_MAX && m->u.encap.radius <= SN_RADIUS_MAX);
        wr_u8(&w, (uint8_t)(ENCAP_HDR + m->u.encap.node_id.n));
        wr_u8(&w, SN_ENCAPSULATED);
        wr_u8(&w, m->u.encap.radius);
        wr_bytes(&w, m->u.encap.node_id.p, m->u.encap.node_id.n);
        wr_bytes(&w, m->u.encap.inner.p, m->u.encap.inner.n);
        return w.n;
    }
    assert(total <= SN_MAX_LEN);
    if (total <= SHORT_HDR_MAX) {
        wr_u8(&w, (uint8_t)total);
    } else {
        wr_u8(&w, LEN3_MARK);
        wr_u16(&w, (uint16_t)total);
    }
    wr_u8(&w, (uint8_t)m->type);
    variable_encode(&w, m);
    assert(w.n == total);
    return w.n;
}

size_t sn_encap_encoded_size(size_t node_id_len, const struct sn_msg *inner)
{
    return ENCAP_HDR + node_id_len + sn_encoded_size(inner);
}

size_t sn_encode_encap(uint8_t *dst, size_t cap, uint8_t radius, struct gw_bytes node_id,
                       const struct sn_msg *inner)
{
    struct wr w = {dst, cap, 0};

    assert(inner->type != SN_ENCAPSULATED);
    assert(node_id.n <= SN_ENCAP_NODE_MAX && radius <= SN_RADIUS_MAX);
    assert(sn_encap_encoded_size(node_id.n, inner) <= cap);
    wr_u8(&w, (uint8_t)(ENCAP_HDR + node_id.n));
    wr_u8(&w, SN_ENCAPSULATED);
    wr_u8(&w, radius);
    wr_bytes(&w, node_id.p, node_id.n);
    return w.n + sn_encode(dst + w.n, cap - w.n, inner);
}

/* ---- names ---- */

const char *sn_type_name(enum sn_type t)
{
    switch (t) {
    case SN_ADVERTISE:
        return "ADVERTISE";
    case SN_SEARCHGW:
        return "SEARCHGW";
    case SN_GWINFO:
        return "GWINFO";
    case SN_CONNECT:
        return "CONNECT";
    case SN_CONNACK:
        return "CONNACK";
    case SN_WILLTOPICREQ:
        return "WILLTOPICREQ";
    case SN_WILLTOPIC:
        return "WILLTOPIC";
    case SN_WILLMSGREQ:
        return "WILLMSGREQ";
    case SN_WILLMSG:
        return "WILLMSG";
    case SN_REGISTER:
        return "REGISTER";
    case SN_REGACK:
        return "REGACK";
    case SN_PUBLISH:
        return "PUBLISH";
    case SN_PUBACK:
        return "PUBACK";
    case SN_PUBCOMP:
        return "PUBCOMP";
    case SN_PUBREC:
        return "PUBREC";
    case SN_PUBREL:
        return "PUBREL";
    case SN_SUBSCRIBE:
        return "SUBSCRIBE";
    case SN_SUBACK:
        return "SUBACK";
    case SN_UNSUBSCRIBE:
        return "UNSUBSCRIBE";
    case SN_UNSUBACK:
        return "UNSUBACK";
    case SN_PINGREQ:
        return "PINGREQ";
    case SN_PINGRESP:
        return "PINGRESP";
    case SN_DISCONNECT:
        return "DISCONNECT";
    case SN_WILLTOPICUPD:
        return "WILLTOPICUPD";
    case SN_WILLTOPICRESP:
        return "WILLTOPICRESP";
    case SN_WILLMSGUPD:
        return "WILLMSGUPD";
    case SN_WILLMSGRESP:
        return "WILLMSGRESP";
    case SN_ENCAPSULATED:
        return "ENCAPSULATED";
    }
    return "UNKNOWN";
}

const char *sn_rc_name(uint8_t rc)
{
    static const char *const names[] = {"accepted", "rejected: congestion",
                                        "rejected: invalid topic ID", "rejected: not supported"};

    return rc_valid(rc) ? names[rc] : "reserved";
}
