/* mqtt_props.c - MQTT 5.0 properties and reason codes, the lists a decoded
 * packet is read through with iterators (property blocks, SUBSCRIBE and
 * UNSUBSCRIBE topic lists), and the wire primitives the codec shares with
 * them (UTF-8 checks, varints). Split from mqtt_codec.c to keep each file
 * to one job and under the size limit; mqtt_codec.h declares the shared
 * primitives and the topic iterator, mqtt_props.h the rest.
 *
 * One table per concept, indexed so that a lookup is one array read: the
 * property table by identifier (MQTT 5.0 section 2.2.2.2, table 2-4) and the
 * reason-code table (section 2.4, table 2-6) with, for each entry, the
 * packets that may carry it. Packet sets are bitmasks of (1 << packet type);
 * bit 0 (type 0 is reserved) stands for the CONNECT will properties. */
#include "mqtt_props.h"

#include "gw_err.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define PK(t)   (1u << (t))
#define WILL    1u
#define ACKS    (PK(MQTT_PUBACK) | PK(MQTT_PUBREC) | PK(MQTT_PUBREL) | PK(MQTT_PUBCOMP))
#define PUB_ACK (PK(MQTT_PUBACK) | PK(MQTT_PUBREC))
#define SUB_ACK (PK(MQTT_SUBACK) | PK(MQTT_UNSUBACK))
#define CN      PK(MQTT_CONNECT)
#define CA      PK(MQTT_CONNACK)
#define DC      PK(MQTT_DISCONNECT)
#define MAX_ID  0x2a

struct prop_def {
    uint8_t type; /* enum mqtt_prop_type */
    uint16_t packets;
};

static const struct prop_def prop_defs[MAX_ID + 1] = {
        [MQTT_PROP_PAYLOAD_FORMAT] = {MQTT_PT_BYTE, PK(MQTT_PUBLISH) | WILL},
        [MQTT_PROP_MESSAGE_EXPIRY] = {MQTT_PT_U32, PK(MQTT_PUBLISH) | WILL},
        [MQTT_PROP_CONTENT_TYPE] = {MQTT_PT_STR, PK(MQTT_PUBLISH) | WILL},
        [MQTT_PROP_RESPONSE_TOPIC] = {MQTT_PT_STR, PK(MQTT_PUBLISH) | WILL},
        [MQTT_PROP_CORRELATION_DATA] = {MQTT_PT_BIN, PK(MQTT_PUBLISH) | WILL},
        [MQTT_PROP_SUBSCRIPTION_ID] = {MQTT_PT_VARINT, PK(MQTT_PUBLISH) | PK(MQTT_SUBSCRIBE)},
        [MQTT_PROP_SESSION_EXPIRY] = {MQTT_PT_U32, CN | CA | DC},
        [MQTT_PROP_ASSIGNED_CLIENT_ID] = {MQTT_PT_STR, CA},
        [MQTT_PROP_SERVER_KEEP_ALIVE] = {MQTT_PT_U16, CA},
        [MQTT_PROP_AUTH_METHOD] = {MQTT_PT_STR, CN | CA | PK(MQTT_AUTH)},
        [MQTT_PROP_AUTH_DATA] = {MQTT_PT_BIN, CN | CA | PK(MQTT_AUTH)},
        [MQTT_PROP_REQUEST_PROBLEM_INFO] = {MQTT_PT_BYTE, CN},
        [MQTT_PROP_WILL_DELAY] = {MQTT_PT_U32, WILL},
        [MQTT_PROP_REQUEST_RESPONSE_INFO] = {MQTT_PT_BYTE, CN},
        [MQTT_PROP_RESPONSE_INFO] = {MQTT_PT_STR, CA},
        [MQTT_PROP_SERVER_REFERENCE] = {MQTT_PT_STR, CA | DC},
        [MQTT_PROP_REASON_STRING] = {MQTT_PT_STR, CA | ACKS | SUB_ACK | DC | PK(MQTT_AUTH)},
        [MQTT_PROP_RECEIVE_MAXIMUM] = {MQTT_PT_U16, CN | CA},
        [MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = {MQTT_PT_U16, CN | CA},
        [MQTT_PROP_TOPIC_ALIAS] = {MQTT_PT_U16, PK(MQTT_PUBLISH)},
        [MQTT_PROP_MAXIMUM_QOS] = {MQTT_PT_BYTE, CA},
        [MQTT_PROP_RETAIN_AVAILABLE] = {MQTT_PT_BYTE, CA},
        [MQTT_PROP_USER_PROPERTY] = {MQTT_PT_PAIR,
                                     CN | CA | PK(MQTT_PUBLISH) | WILL | ACKS | PK(MQTT_SUBSCRIBE) |
                                             SUB_ACK | PK(MQTT_UNSUBSCRIBE) | DC | PK(MQTT_AUTH)},
        [MQTT_PROP_MAXIMUM_PACKET_SIZE] = {MQTT_PT_U32, CN | CA},
        [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {MQTT_PT_BYTE, CA},
        [MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE] = {MQTT_PT_BYTE, CA},
        [MQTT_PROP_SHARED_SUB_AVAILABLE] = {MQTT_PT_BYTE, CA},
};

struct rc_def {
    uint8_t rc;
    uint16_t packets;
    const char *name;
};

static const struct rc_def rc_defs[] = {
        {0x00, CA | ACKS | SUB_ACK | DC | PK(MQTT_AUTH), "success"},
        {0x01, PK(MQTT_SUBACK), "granted QoS 1"},
        {0x02, PK(MQTT_SUBACK), "granted QoS 2"},
        {0x04, DC, "disconnect with will message"},
        {0x10, PUB_ACK, "no matching subscribers"},
        {0x11, PK(MQTT_UNSUBACK), "no subscription existed"},
        {0x18, PK(MQTT_AUTH), "continue authentication"},
        {0x19, PK(MQTT_AUTH), "re-authenticate"},
        {0x80, CA | PUB_ACK | SUB_ACK | DC, "unspecified error"},
        {0x81, CA | DC, "malformed packet"},
        {0x82, CA | DC, "protocol error"},
        {0x83, CA | PUB_ACK | SUB_ACK | DC, "implementation specific error"},
        {0x84, CA, "unsupported protocol version"},
        {0x85, CA, "client identifier not valid"},
        {0x86, CA, "bad user name or password"},
        {0x87, CA | PUB_ACK | SUB_ACK | DC, "not authorized"},
        {0x88, CA, "server unavailable"},
        {0x89, CA | DC, "server busy"},
        {0x8a, CA, "banned"},
        {0x8b, DC, "server shutting down"},
        {0x8c, CA | DC, "bad authentication method"},
        {0x8d, DC, "keep alive timeout"},
        {0x8e, DC, "session taken over"},
        {0x8f, SUB_ACK | DC, "topic filter invalid"},
        {0x90, CA | PUB_ACK | DC, "topic name invalid"},
        {0x91, PUB_ACK | SUB_ACK, "packet identifier in use"},
        {0x92, PK(MQTT_PUBREL) | PK(MQTT_PUBCOMP), "packet identifier not found"},
        {0x93, DC, "receive maximum exceeded"},
        {0x94, DC, "topic alias invalid"},
        {0x95, CA | DC, "packet too large"},
        {0x96, DC, "message rate too high"},
        {0x97, CA | PUB_ACK | PK(MQTT_SUBACK) | DC, "quota exceeded"},
        {0x98, DC, "administrative action"},
        {0x99, CA | PUB_ACK | DC, "payload format invalid"},
        {0x9a, CA | DC, "retain not supported"},
        {0x9b, CA | DC, "QoS not supported"},
        {0x9c, CA | DC, "use another server"},
        {0x9d, CA | DC, "server moved"},
        {0x9e, PK(MQTT_SUBACK) | DC, "shared subscriptions not supported"},
        {0x9f, CA | DC, "connection rate exceeded"},
        {0xa0, DC, "maximum connect time"},
        {0xa1, PK(MQTT_SUBACK) | DC, "subscription identifiers not supported"},
        {0xa2, PK(MQTT_SUBACK) | DC, "wildcard subscriptions not supported"},
};

#define N_RC (sizeof(rc_defs) / sizeof(rc_defs[0]))

static const struct rc_def *rc_find(uint8_t rc)
{
    for (size_t i = 0; i < N_RC; i++) {
        if (rc_defs[i].rc == rc) {
            return &rc_defs[i];
        }
    }
    return NULL;
}

const char *mqtt_rc_name(uint8_t rc)
{
    const struct rc_def *d = rc_find(rc);

    return d != NULL ? d->name : "unknown";
}

bool mqtt_rc_valid(enum mqtt_type type, uint8_t rc)
{
    const struct rc_def *d = rc_find(rc);

    return d != NULL && (unsigned)type < 16 && (d->packets & PK((unsigned)type)) != 0;
}

/* ---- shared wire primitives -------------------------------------------- */

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

ssize_t mqtt_varint_decode(const uint8_t *p, size_t n, uint32_t *value)
{
    uint32_t v = 0;

    for (size_t i = 0; i < 4; i++) {
        if (i >= n) {
            return GW_E_INCOMPLETE;
        }
        v |= (uint32_t)(p[i] & 0x7fu) << (7u * i);
        if ((p[i] & 0x80u) == 0) {
            if (i > 0 && p[i] == 0) {
                return GW_E_MALFORMED; /* not the shortest form [MQTT-1.5.5-1] */
            }
            *value = v;
            return (ssize_t)(i + 1);
        }
    }
    return GW_E_MALFORMED;
}

/* ---- iterator ----------------------------------------------------------- */

enum mqtt_prop_type mqtt_prop_type_of(uint8_t id)
{
    return id <= MAX_ID ? (enum mqtt_prop_type)prop_defs[id].type : MQTT_PT_NONE;
}

bool mqtt_prop_allowed(uint8_t id, enum mqtt_type type, bool will)
{
    unsigned bit = will ? WILL : PK((unsigned)type & 15u);

    return mqtt_prop_type_of(id) != MQTT_PT_NONE && (prop_defs[id].packets & bit) != 0;
}

void mqtt_prop_iter_init(struct mqtt_prop_iter *it, struct gw_bytes block)
{
    it->rest = block;
}

/* A two-byte length and its bytes from p[0..n); 0 or GW_E_MALFORMED. */
static int take_bin(const uint8_t *p, size_t n, size_t *used, struct gw_bytes *out)
{
    size_t len = 0;

    if (n - *used < 2) {
        return GW_E_MALFORMED;
    }
    len = gw_be16(p + *used);
    if (n - *used - 2 < len) {
        return GW_E_MALFORMED;
    }
    out->p = p + *used + 2;
    out->n = len;
    *used += 2 + len;
    return 0;
}

static int take_str(const uint8_t *p, size_t n, size_t *used, struct gw_bytes *out)
{
    int rc = take_bin(p, n, used, out);

    if (rc == 0 && !mqtt_utf8_valid(out->p, out->n)) {
        rc = GW_E_MALFORMED; /* [MQTT-1.5.4-1] [MQTT-1.5.4-2] */
    }
    return rc;
}

/* The value of a property of type t at p[0..n). */
static int take_value(enum mqtt_prop_type t, const uint8_t *p, size_t n, size_t *used,
                      struct mqtt_prop *out)
{
    static const size_t fixed[] = {0, 1, 2, 4};
    ssize_t vn = 0;

    switch (t) {
    case MQTT_PT_BYTE:
    case MQTT_PT_U16:
    case MQTT_PT_U32:
        if (n - *used < fixed[t]) {
            return GW_E_MALFORMED;
        }
        out->num = t == MQTT_PT_BYTE ? p[*used]
                                     : (t == MQTT_PT_U16 ? gw_be16(p + *used) : gw_be32(p + *used));
        *used += fixed[t];
        return 0;
    case MQTT_PT_VARINT:
        vn = mqtt_varint_decode(p + *used, n - *used, &out->num);
        if (vn < 0) {
            return GW_E_MALFORMED;
        }
        *used += (size_t)vn;
        return 0;
    case MQTT_PT_STR:
        return take_str(p, n, used, &out->value);
    case MQTT_PT_BIN:
        return take_bin(p, n, used, &out->value);
    case MQTT_PT_PAIR: {
        int rc = take_str(p, n, used, &out->name);

        return rc < 0 ? rc : take_str(p, n, used, &out->value);
    }
    default:
        return GW_E_MALFORMED; /* unknown identifier: 2.2.2.2 */
    }
}

int mqtt_prop_iter_next(struct mqtt_prop_iter *it, struct mqtt_prop *out)
{
    struct mqtt_prop p;
    size_t used = 1;
    int rc = 0;

    if (it->rest.n == 0) {
        return 0;
    }
    memset(&p, 0, sizeof(p));
    p.id = it->rest.p[0]; /* a varint, but every defined id is one byte */
    p.type = mqtt_prop_type_of(p.id);
    rc = take_value(p.type, it->rest.p, it->rest.n, &used, &p);
    if (rc < 0) {
        return rc;
    }
    it->rest.p += used;
    it->rest.n -= used;
    *out = p;
    return 1;
}

/* Value rules of section 3 for one property. */
static bool prop_value_ok(const struct mqtt_prop *p)
{
    switch (p->id) {
    case MQTT_PROP_PAYLOAD_FORMAT:        /* 3.3.2.3.2 */
    case MQTT_PROP_REQUEST_PROBLEM_INFO:  /* 3.1.2.11.7 */
    case MQTT_PROP_REQUEST_RESPONSE_INFO: /* 3.1.2.11.6 */
    case MQTT_PROP_MAXIMUM_QOS:           /* 3.2.2.3.4 */
    case MQTT_PROP_RETAIN_AVAILABLE:
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
    case MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE:
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        return p->num <= 1;
    case MQTT_PROP_RECEIVE_MAXIMUM:     /* 3.1.2.11.3 */
    case MQTT_PROP_MAXIMUM_PACKET_SIZE: /* 3.1.2.11.4 */
    case MQTT_PROP_TOPIC_ALIAS:         /* 3.3.2.3.4 */
    case MQTT_PROP_SUBSCRIPTION_ID:     /* 3.3.2.3.8 */
        return p->num != 0;
    default:
        return true;
    }
}

static bool may_repeat(uint8_t id, enum mqtt_type type, bool will)
{
    if (id == MQTT_PROP_USER_PROPERTY) {
        return true;
    }
    /* a server's PUBLISH carries one per matching subscription, 3.3.2.3.8 */
    return id == MQTT_PROP_SUBSCRIPTION_ID && type == MQTT_PUBLISH && !will;
}

int mqtt_props_validate(const struct gw_bytes *block, enum mqtt_type type, bool will)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop p;
    uint64_t seen = 0;
    int rc = 0;

    mqtt_prop_iter_init(&it, *block);
    while ((rc = mqtt_prop_iter_next(&it, &p)) > 0) {
        uint64_t bit = (uint64_t)1 << p.id; /* ids are <= MAX_ID here */

        if (!mqtt_prop_allowed(p.id, type, will)) {
            return GW_E_MALFORMED; /* 2.2.2.2: not valid for the packet */
        }
        /* A value out of its range (Receive Maximum 0, Subscription
         * Identifier 0, a flag other than 0 or 1 ...) or a property twice
         * where once is allowed is a Protocol Error, 3.1.2.11 ff. */
        if (!prop_value_ok(&p) || ((seen & bit) != 0 && !may_repeat(p.id, type, will))) {
            return GW_E_PROTOCOL;
        }
        seen |= bit;
    }
    if (rc < 0) {
        return rc;
    }
    /* 3.1.2.11.10: Authentication Data without a Method is a Protocol Error */
    if ((seen & ((uint64_t)1 << MQTT_PROP_AUTH_DATA)) != 0 &&
        (seen & ((uint64_t)1 << MQTT_PROP_AUTH_METHOD)) == 0) {
        return GW_E_PROTOCOL;
    }
    return 0;
}

bool mqtt_props_has(struct gw_bytes block, uint8_t id)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop p;

    mqtt_prop_iter_init(&it, block);
    while (mqtt_prop_iter_next(&it, &p) > 0) {
        if (p.id == id) {
            return true;
        }
    }
    return false;
}

/* ---- property blocks and reason-code tails in packets --------------------- */

ssize_t mqtt_props_decode(const uint8_t *p, size_t n, enum mqtt_type type, bool will,
                          struct gw_bytes *block)
{
    uint32_t len = 0;
    ssize_t used = mqtt_varint_decode(p, n, &len);
    struct gw_bytes b;

    if (used < 0 || n - (size_t)used < len) {
        return GW_E_MALFORMED; /* incomplete here means past the packet */
    }
    b.p = p + used;
    b.n = len;
    int rc = mqtt_props_validate(&b, type, will);
    if (rc < 0) {
        return rc; /* GW_E_MALFORMED or GW_E_PROTOCOL */
    }
    *block = b;
    return used + (ssize_t)len;
}

int mqtt_rc_tail_decode(struct gw_bytes rest, enum mqtt_type type, struct mqtt_rc_tail *t)
{
    struct mqtt_rc_tail v = {0, false, false, {NULL, 0}};
    ssize_t used = 0;

    if (rest.n == 0) {
        *t = v; /* reason code 0x00, no properties */
        return 0;
    }
    v.has_rc = true;
    v.rc = rest.p[0];
    if (!mqtt_rc_valid(type, v.rc)) {
        return GW_E_MALFORMED;
    }
    if (rest.n > 1) {
        v.has_props = true;
        used = mqtt_props_decode(rest.p + 1, rest.n - 1, type, false, &v.props);
        if (used < 0) {
            return (int)used;
        }
        if ((size_t)used != rest.n - 1) {
            return GW_E_MALFORMED; /* bytes after the properties */
        }
    } else if (type == MQTT_AUTH) {
        return GW_E_MALFORMED; /* AUTH: both or neither */
    }
    *t = v;
    return 0;
}

/* 0: nothing goes out, 1: the reason code, 2: both. */
static unsigned tail_level(const struct mqtt_rc_tail *t, enum mqtt_type type)
{
    bool rc = t->has_rc || t->rc != 0;

    if (t->has_props || t->props.n > 0 || (rc && type == MQTT_AUTH)) {
        return 2;
    }
    return rc ? 1 : 0;
}

size_t mqtt_rc_tail_size(const struct mqtt_rc_tail *t, enum mqtt_type type)
{
    unsigned level = tail_level(t, type);

    assert(t->props.n <= MQTT_MAX_REMAINING);
    return level < 2 ? level : 1 + mqtt_varint_size((uint32_t)t->props.n) + t->props.n;
}

size_t mqtt_rc_tail_encode(uint8_t *dst, const struct mqtt_rc_tail *t, enum mqtt_type type)
{
    unsigned level = tail_level(t, type);
    size_t n = 0;

    if (level >= 1) {
        dst[n++] = t->rc;
    }
    if (level == 2) {
        n += mqtt_varint_encode(dst + n, (uint32_t)t->props.n);
        if (t->props.n > 0) {
            memcpy(dst + n, t->props.p, t->props.n);
        }
        n += t->props.n;
    }
    return n;
}

int mqtt_rc_list_validate(struct gw_bytes rcs, enum mqtt_type type)
{
    if (rcs.n == 0) {
        return GW_E_MALFORMED;
    }
    for (size_t i = 0; i < rcs.n; i++) {
        if (!mqtt_rc_valid(type, rcs.p[i])) {
            return GW_E_MALFORMED;
        }
    }
    return 0;
}

/* ---- SUBSCRIBE / UNSUBSCRIBE topic lists --------------------------------- */

static bool options_ok(uint8_t opt, bool v5)
{
    if ((opt & MQTT_SUB_OPT_QOS_MASK) == 3u) {
        return false; /* [MQTT-3-8.3-4] */
    }
    if (!v5) {
        return (opt & 0xfcu) == 0; /* [MQTT-3-8.3-4] */
    }
    /* reserved bits 6-7 [MQTT-3.8.3-5], Retain Handling 3 (3.8.3.1) */
    return (opt & 0xc0u) == 0 && MQTT_SUB_OPT_RH(opt) != 3u;
}

/* Filter syntax (wildcard placement) is the broker's business: a bad filter
 * gets a failure reason code, not a closed connection. */
int mqtt_topic_list_validate(struct gw_bytes list, bool with_options, bool v5)
{
    size_t used = 0;

    if (list.n == 0) {
        return GW_E_MALFORMED; /* [MQTT-3.8.3-3] [MQTT-3.10.3-2] */
    }
    while (used < list.n) {
        struct gw_bytes filter = {NULL, 0};

        /* [MQTT-3.8.3-1] [MQTT-3.10.3-1] [MQTT-4.7.3-1] */
        if (take_str(list.p, list.n, &used, &filter) < 0 || filter.n == 0) {
            return GW_E_MALFORMED;
        }
        if (!with_options) {
            continue;
        }
        if (used >= list.n || !options_ok(list.p[used], v5)) {
            return GW_E_MALFORMED;
        }
        used++;
    }
    return 0;
}

void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_pkt *pkt)
{
    assert(pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE);
    it->rest = pkt->u.subscribe.list;
    it->with_options = pkt->type == MQTT_SUBSCRIBE;
}

bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct gw_bytes *filter, uint8_t *options)
{
    size_t used = 0;
    uint8_t opt = 0;

    if (take_bin(it->rest.p, it->rest.n, &used, filter) < 0) {
        return false;
    }
    if (it->with_options) {
        if (used >= it->rest.n) {
            return false;
        }
        opt = it->rest.p[used++];
    }
    *options = opt;
    it->rest.p += used;
    it->rest.n -= used;
    return true;
}

/* ---- builder ------------------------------------------------------------ */

void mqtt_props_builder_init(struct mqtt_props_builder *b, uint8_t *buf, size_t cap)
{
    b->p = buf;
    b->cap = cap;
    b->n = 0;
    b->err = 0;
}

/* Reserve need bytes and write the identifier; NULL if they do not fit. */
static uint8_t *reserve(struct mqtt_props_builder *b, uint8_t id, enum mqtt_prop_type t,
                        size_t need)
{
    uint8_t *at = NULL;

    assert(mqtt_prop_type_of(id) == t);
    (void)t;
    if (b->err != 0 || b->cap - b->n < 1 + need) {
        b->err = -ENOSPC;
        return NULL;
    }
    at = b->p + b->n;
    at[0] = id;
    b->n += 1 + need;
    return at + 1;
}

void mqtt_props_add_u8(struct mqtt_props_builder *b, uint8_t id, uint8_t v)
{
    uint8_t *at = reserve(b, id, MQTT_PT_BYTE, 1);

    if (at != NULL) {
        at[0] = v;
    }
}

void mqtt_props_add_u16(struct mqtt_props_builder *b, uint8_t id, uint16_t v)
{
    uint8_t *at = reserve(b, id, MQTT_PT_U16, 2);

    if (at != NULL) {
        gw_put_be16(at, v);
    }
}

void mqtt_props_add_u32(struct mqtt_props_builder *b, uint8_t id, uint32_t v)
{
    uint8_t *at = reserve(b, id, MQTT_PT_U32, 4);

    if (at != NULL) {
        gw_put_be32(at, v);
    }
}

void mqtt_props_add_varint(struct mqtt_props_builder *b, uint8_t id, uint32_t v)
{
    uint8_t *at = reserve(b, id, MQTT_PT_VARINT, mqtt_varint_size(v));

    if (at != NULL) {
        (void)mqtt_varint_encode(at, v);
    }
}

static void put_bin(uint8_t *at, struct gw_bytes s)
{
    gw_put_be16(at, (uint16_t)s.n);
    if (s.n > 0) {
        memcpy(at + 2, s.p, s.n);
    }
}

void mqtt_props_add_str(struct mqtt_props_builder *b, uint8_t id, struct gw_bytes s)
{
    uint8_t *at = NULL;

    assert(s.n <= MQTT_MAX_STRING && mqtt_utf8_valid(s.p, s.n));
    at = reserve(b, id, MQTT_PT_STR, 2 + s.n);
    if (at != NULL) {
        put_bin(at, s);
    }
}

void mqtt_props_add_bin(struct mqtt_props_builder *b, uint8_t id, struct gw_bytes s)
{
    uint8_t *at = NULL;

    assert(s.n <= MQTT_MAX_STRING);
    at = reserve(b, id, MQTT_PT_BIN, 2 + s.n);
    if (at != NULL) {
        put_bin(at, s);
    }
}

void mqtt_props_add_pair(struct mqtt_props_builder *b, struct gw_bytes name, struct gw_bytes value)
{
    uint8_t *at = NULL;

    assert(name.n <= MQTT_MAX_STRING && mqtt_utf8_valid(name.p, name.n));
    assert(value.n <= MQTT_MAX_STRING && mqtt_utf8_valid(value.p, value.n));
    at = reserve(b, MQTT_PROP_USER_PROPERTY, MQTT_PT_PAIR, 4 + name.n + value.n);
    if (at != NULL) {
        put_bin(at, name);
        put_bin(at + 2 + name.n, value);
    }
}

ssize_t mqtt_props_builder_size(const struct mqtt_props_builder *b)
{
    return b->err != 0 ? b->err : (ssize_t)b->n;
}

struct gw_bytes mqtt_props_builder_bytes(const struct mqtt_props_builder *b)
{
    struct gw_bytes v = {b->p, b->err != 0 ? 0 : b->n};

    return v;
}

/* Append every property of in to pb except those with id skip_a or
 * skip_b (0 = none), in order. */
void mqtt_props_copy_except(struct mqtt_props_builder *pb, struct gw_bytes in, uint8_t skip_a,
                            uint8_t skip_b)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    mqtt_prop_iter_init(&it, in);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        if (pr.id == skip_a || pr.id == skip_b) {
            continue;
        }
        switch (pr.type) {
        case MQTT_PT_BYTE:
            mqtt_props_add_u8(pb, pr.id, (uint8_t)pr.num);
            break;
        case MQTT_PT_U16:
            mqtt_props_add_u16(pb, pr.id, (uint16_t)pr.num);
            break;
        case MQTT_PT_U32:
            mqtt_props_add_u32(pb, pr.id, pr.num);
            break;
        case MQTT_PT_VARINT:
            mqtt_props_add_varint(pb, pr.id, pr.num);
            break;
        case MQTT_PT_STR:
            mqtt_props_add_str(pb, pr.id, pr.value);
            break;
        case MQTT_PT_BIN:
            mqtt_props_add_bin(pb, pr.id, pr.value);
            break;
        case MQTT_PT_PAIR:
            mqtt_props_add_pair(pb, pr.name, pr.value);
            break;
        default:
            break;
        }
    }
}
