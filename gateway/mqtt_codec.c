/* mqtt_codec.c - pure MQTT 3.1 / 3.1.1 control-packet codec (L0).
 *
 * Decoding reads the fixed header first (so an oversize packet is refused
 * before its body is buffered), waits for the whole packet, then parses the
 * body through a bounded reader: every read past the Remaining Length is a
 * malformed packet, never an over-read. Encoding is size-then-write; its input
 * is trusted and checked with assert().
 *
 * Version handling: lim->version MQTT_V_UNKNOWN, MQTT_V31 and MQTT_V311 all
 * decode with the 3.1.1 rules (the session enforces "CONNECT first"). Any
 * other negotiated version (MQTT 5 for now) decodes CONNECT only. CONNECT is
 * decoded by its own protocol level byte:
 *   - 3 and 4: the 3.1.1 layout (MQTT 3.1 uses the same one);
 *   - 5: the 5.0 layout, with the property blocks left as raw views;
 *   - any other level: decoding stops after the level byte; the packet is
 *     consumed whole and only version and proto_name are set, so the broker
 *     can answer CONNACK 0x01 [MQTT-3.1.2-2].
 * The protocol name must be "MQTT" or "MQIsdp" [MQTT-3.1.2-1]; whether a name
 * fits its level ("MQTT"/4, "MQIsdp"/3) is the session's decision.
 *
 * Encoding: the version argument selects the packet layout; only 0, 3 and 4
 * are supported (asserted) except for CONNECT, whose level byte and layout
 * come from connect.version and whose name is proto_name, or "MQIsdp" for
 * level 3 and "MQTT" otherwise when proto_name is empty. */
#include "mqtt_codec.h"

#include "gw_err.h"

#include <assert.h>
#include <string.h>

#define PROTO_MQTT   "MQTT"
#define PROTO_MQISDP "MQIsdp"

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

/* Varint-prefixed block (MQTT 5 properties), kept raw. */
static int rd_varblock(struct rd *r, struct gw_bytes *out)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < 4; i++) {
        uint8_t b = 0;

        if (rd_u8(r, &b) < 0) {
            return GW_E_MALFORMED;
        }
        v |= (uint32_t)(b & 0x7fu) << (7u * i);
        if ((b & 0x80u) == 0) {
            return rd_take(r, v, out);
        }
    }
    return GW_E_MALFORMED; /* more than four bytes */
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

static bool utf8_cont(uint8_t b)
{
    return (b & 0xc0u) == 0x80u;
}

/* Length of the well-formed sequence at s[0..n) (RFC 3629 table), or 0. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    uint8_t lo = 0x80;
    uint8_t hi = 0xbf;
    size_t len = 0;

    if (b < 0x80) {
        return b != 0 ? 1 : 0; /* [MQTT-1.5.3-2] */
    }
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        lo = b == 0xe0 ? 0xa0 : 0x80; /* overlong */
        hi = b == 0xed ? 0x9f : 0xbf; /* surrogates [MQTT-1.5.3-1] */
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        lo = b == 0xf0 ? 0x90 : 0x80; /* overlong */
        hi = b == 0xf4 ? 0x8f : 0xbf; /* over U+10FFFF */
    } else {
        return 0; /* stray continuation, C0/C1 overlong, F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (!utf8_cont(s[i])) {
            return 0;
        }
    }
    return len;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t len = utf8_seq_len(s + i, n - i);

        if (len == 0) {
            return false;
        }
        i += len;
    }
    return true;
}

size_t mqtt_varint_size(uint32_t value)
{
    assert(value <= MQTT_MAX_REMAINING);
    if (value < 128u) {
        return 1;
    }
    if (value < 16384u) {
        return 2;
    }
    if (value < 2097152u) {
        return 3;
    }
    return 4;
}

size_t mqtt_varint_encode(uint8_t *dst, uint32_t value)
{
    size_t i = 0;

    assert(value <= MQTT_MAX_REMAINING);
    do {
        uint8_t b = (uint8_t)(value & 0x7fu);

        value >>= 7;
        if (value != 0) {
            b |= 0x80u;
        }
        dst[i++] = b;
    } while (value != 0);
    return i;
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
static int check_flags(uint8_t type_flags)
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
    default:
        return GW_E_MALFORMED; /* 0 is reserved, 15 (AUTH) is MQTT 5 only */
    }
}

/* CONNECT payload after the client id, 3.1.3. v5 adds the will properties. */
static int decode_connect_payload(struct rd *r, struct mqtt_connect *c)
{
    int rc = rd_str(r, &c->client_id); /* [MQTT-3.1.3-4] */

    if (rc == 0 && c->will && c->version == MQTT_V5) {
        rc = rd_varblock(r, &c->will_props);
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
    if (c->version != MQTT_V31 && c->version != MQTT_V311 && c->version != MQTT_V5) {
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
        rc = rd_varblock(r, &c->props);
    }
    if (rc == 0) {
        rc = decode_connect_payload(r, c);
    }
    return rc;
}

static int decode_connack(struct rd *r, struct mqtt_connack *c)
{
    uint8_t ack_flags = 0;

    if (r->n != 2) {
        return GW_E_MALFORMED;
    }
    (void)rd_u8(r, &ack_flags);
    (void)rd_u8(r, &c->rc);
    if ((ack_flags & 0xfeu) != 0) {
        return GW_E_MALFORMED; /* reserved bits 7-1, 3.1.1 section 3.2.2.1 */
    }
    c->session_present = (ack_flags & 0x01u) != 0;
    return 0;
}

static bool topic_has_wildcards(struct gw_bytes t)
{
    return memchr(t.p, '+', t.n) != NULL || memchr(t.p, '#', t.n) != NULL;
}

static int decode_publish(struct rd *r, uint8_t flags, struct mqtt_publish *p)
{
    int rc = rd_str(r, &p->topic); /* [MQTT-3.3.2-1] */

    if (rc < 0) {
        return rc;
    }
    if (p->topic.n == 0) {
        return GW_E_MALFORMED; /* [MQTT-4.7.3-1] */
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

/* Validate a SUBSCRIBE (with_options) or UNSUBSCRIBE list. Filter syntax
 * (wildcard placement) is the broker's business: a bad filter gets a 0x80
 * return code, not a closed connection. */
static int check_topic_list(struct gw_bytes list, bool with_options)
{
    struct rd r = {list.p, list.n};

    if (r.n == 0) {
        return GW_E_MALFORMED; /* [MQTT-3.8.3-3] [MQTT-3.10.3-2] */
    }
    while (r.n > 0) {
        struct gw_bytes filter = {NULL, 0};
        uint8_t opt = 0;
        int rc = rd_str(&r, &filter); /* [MQTT-3.8.3-1] [MQTT-3.10.3-1] */

        if (rc < 0 || filter.n == 0) {
            return GW_E_MALFORMED; /* [MQTT-4.7.3-1] */
        }
        if (!with_options) {
            continue;
        }
        if (rd_u8(&r, &opt) < 0 || (opt & 0xfcu) != 0 || (opt & 3u) == 3u) {
            return GW_E_MALFORMED; /* [MQTT-3-8.3-4] */
        }
    }
    return 0;
}

static int decode_subscribe(struct rd *r, bool with_options, struct mqtt_subscribe *s)
{
    int rc = rd_pid(r, &s->packet_id); /* [MQTT-2.3.1-1] */

    if (rc < 0) {
        return rc;
    }
    (void)rd_take(r, r->n, &s->list);
    return check_topic_list(s->list, with_options);
}

static int decode_suback(struct rd *r, struct mqtt_suback *s)
{
    int rc = rd_pid(r, &s->packet_id);

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

static int decode_body(struct rd *r, uint8_t type_flags, struct mqtt_pkt *pkt)
{
    unsigned type = type_flags >> 4;

    switch (type) {
    case MQTT_CONNECT:
        return decode_connect(r, &pkt->u.connect);
    case MQTT_CONNACK:
        return decode_connack(r, &pkt->u.connack);
    case MQTT_PUBLISH:
        return decode_publish(r, type_flags & 0x0fu, &pkt->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return decode_ack(r, &pkt->u.ack);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return decode_subscribe(r, type == MQTT_SUBSCRIBE, &pkt->u.subscribe);
    case MQTT_SUBACK:
        return decode_suback(r, &pkt->u.suback);
    default:
        /* PINGREQ, PINGRESP, DISCONNECT: no variable header in 3.1.1. */
        return r->n == 0 ? 0 : GW_E_MALFORMED;
    }
}

static bool version_decodes_311(uint8_t version)
{
    return version == MQTT_V_UNKNOWN || version == MQTT_V31 || version == MQTT_V311;
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

    if (hlen < 0) {
        return hlen;
    }
    total = (uint64_t)hlen + remaining;
    if (lim->max_packet_size != 0 && total > lim->max_packet_size) {
        return GW_E_TOO_LARGE;
    }
    rc = check_flags(type_flags);
    if (rc == 0 && (type_flags >> 4) != MQTT_CONNECT && !version_decodes_311(lim->version)) {
        rc = GW_E_MALFORMED; /* MQTT 5 packets other than CONNECT: not yet */
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
    rc = decode_body(&r, type_flags, &pkt);
    if (rc < 0) {
        return rc;
    }
    *out = pkt;
    return (ssize_t)total;
}

void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_pkt *pkt)
{
    assert(pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE);
    it->rest = pkt->u.subscribe.list;
    it->with_options = pkt->type == MQTT_SUBSCRIBE;
}

bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct gw_bytes *filter, uint8_t *options)
{
    struct rd r = {it->rest.p, it->rest.n};
    uint8_t opt = 0;

    if (rd_bin(&r, filter) < 0) {
        return false;
    }
    if (it->with_options && rd_u8(&r, &opt) < 0) {
        return false;
    }
    *options = opt;
    it->rest.p = r.p;
    it->rest.n = r.n;
    return true;
}

/* ---- encoder ---------------------------------------------------------- */

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
    uint8_t level = connect_level(c);
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
    uint8_t level = connect_level(c);

    wr_bin(w, connect_name(c, level));
    wr_u8(w, level);
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

static size_t body_size(const struct mqtt_pkt *pkt)
{
    switch (pkt->type) {
    case MQTT_CONNECT:
        return connect_size(&pkt->u.connect);
    case MQTT_CONNACK:
        return 2;
    case MQTT_PUBLISH:
        return 2 + pkt->u.publish.topic.n + (pkt->u.publish.qos > 0 ? 2 : 0) +
               pkt->u.publish.payload.n;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return 2;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return 2 + pkt->u.subscribe.list.n;
    case MQTT_SUBACK:
        return 2 + pkt->u.suback.rcs.n;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return 0;
    default:
        assert(0 && "packet type has no MQTT 3.1.1 encoding");
        return 0;
    }
}

/* Only CONNECT has an encoding for levels other than 3.1 / 3.1.1 so far. */
static void check_encodable(const struct mqtt_pkt *pkt, uint8_t version)
{
    (void)pkt;
    (void)version;
    assert(pkt->type == MQTT_CONNECT || version_decodes_311(version));
}

size_t mqtt_encoded_size(const struct mqtt_pkt *pkt, uint8_t version)
{
    size_t body = 0;

    check_encodable(pkt, version);
    body = body_size(pkt);
    assert(body <= MQTT_MAX_REMAINING);
    return 1 + mqtt_varint_size((uint32_t)body) + body;
}

static void encode_body(struct wr *w, const struct mqtt_pkt *pkt)
{
    switch (pkt->type) {
    case MQTT_CONNECT:
        encode_connect(w, &pkt->u.connect);
        break;
    case MQTT_CONNACK:
        wr_u8(w, pkt->u.connack.session_present ? 1 : 0);
        wr_u8(w, pkt->u.connack.rc);
        break;
    case MQTT_PUBLISH:
        wr_bin(w, pkt->u.publish.topic);
        if (pkt->u.publish.qos > 0) {
            wr_u16(w, pkt->u.publish.packet_id);
        }
        wr_raw(w, pkt->u.publish.payload);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        wr_u16(w, pkt->u.ack.packet_id);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        wr_u16(w, pkt->u.subscribe.packet_id);
        wr_raw(w, pkt->u.subscribe.list);
        break;
    case MQTT_SUBACK:
        wr_u16(w, pkt->u.suback.packet_id);
        wr_raw(w, pkt->u.suback.rcs);
        break;
    default:
        break; /* PINGREQ, PINGRESP, DISCONNECT */
    }
}

size_t mqtt_encode(uint8_t *dst, size_t cap, const struct mqtt_pkt *pkt, uint8_t version)
{
    struct wr w = {dst, 0, cap};
    size_t body = 0;
    size_t start = 0;

    check_encodable(pkt, version);
    body = body_size(pkt);
    assert(body <= MQTT_MAX_REMAINING);
    assert(cap >= 1 + mqtt_varint_size((uint32_t)body) + body);
    wr_u8(&w, first_byte(pkt));
    w.n += mqtt_varint_encode(dst + w.n, (uint32_t)body);
    start = w.n;
    encode_body(&w, pkt);
    assert(w.n - start == body);
    (void)start;
    return w.n;
}
