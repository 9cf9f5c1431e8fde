/* mqtt_v5.c - MQTT 5.0 additions for one connection. See mqtt_v5.h. */
#include "mqtt_v5.h"

#include "alloc.h"
#include "broker.h"
#include "conn.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_auth.h"
#include "mqtt_props.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define V5_PROPS_STACK 512u

static int send_raw(struct conn *c, const struct mqtt_pkt *pkt)
{
    size_t n = mqtt_encoded_size(pkt, MQTT_V5);
    uint8_t *p = conn_reserve(c, n);
    if (!p) {
        return GW_E_CLOSED;
    }
    (void)mqtt_encode(p, n, pkt, MQTT_V5);
    c->b->st.msgs_sent++;
    return 0;
}

int v5_on_connect(struct conn *c, const struct mqtt_connect *cp)
{
    if (c->v5) {
        return 0; /* the CONNECT kept during an AUTH exchange, parsed before */
    }
    struct mqtt_v5 *v = gw_calloc(1, sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    c->v5 = v;
    v->problem_info = true;
    v->recv_max_out = 65535;
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    mqtt_prop_iter_init(&it, cp->props);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        switch (pr.id) {
        case MQTT_PROP_SESSION_EXPIRY:
            v->session_expiry_s = pr.num;
            break;
        case MQTT_PROP_RECEIVE_MAXIMUM:
            v->recv_max_out = (uint16_t)pr.num; /* 0 was refused by the codec */
            break;
        case MQTT_PROP_MAXIMUM_PACKET_SIZE:
            v->max_packet_out = pr.num;
            break;
        case MQTT_PROP_REQUEST_PROBLEM_INFO:
            v->problem_info = pr.num != 0;
            break;
        case MQTT_PROP_REQUEST_RESPONSE_INFO:
            v->response_info = pr.num != 0;
            break;
        case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
            v->alias_out_max =
                    (uint16_t)(pr.num > V5_TOPIC_ALIAS_OUT_MAX ? V5_TOPIC_ALIAS_OUT_MAX : pr.num);
            break;
        case MQTT_PROP_AUTH_METHOD:
            v->auth_requested = true; /* mqtt_auth.c runs the exchange */
            break;
        default:
            break; /* user properties, topic alias maximum (we send none) */
        }
    }
    return 0;
}

uint8_t v5_connack_rc(uint8_t rc311)
{
    switch (rc311) {
    case MQTT_CONNACK_ACCEPTED:
        return MQTT_RC_SUCCESS;
    case MQTT_CONNACK_BAD_VERSION:
        return MQTT_RC_UNSUPPORTED_VERSION;
    case MQTT_CONNACK_ID_REJECTED:
        return MQTT_RC_CLIENT_ID_INVALID;
    case MQTT_CONNACK_UNAVAILABLE:
        return MQTT_RC_SERVER_UNAVAILABLE;
    case MQTT_CONNACK_BAD_CREDENTIALS:
        return MQTT_RC_BAD_USERNAME_PASSWORD;
    default:
        return MQTT_RC_NOT_AUTHORIZED;
    }
}

uint16_t v5_recv_max(const struct broker *b)
{
    uint32_t v = b->cfg->max_inflight_messages;
    return (uint16_t)(v == 0 || v > 65535u ? 65535u : v);
}

int v5_send_connack(struct conn *c, uint8_t rc, bool present, const char *assigned_id,
                    uint16_t server_keepalive)
{
    const struct gw_config *cfg = c->b->cfg;
    uint8_t buf[1024];
    struct mqtt_props_builder pb;
    mqtt_props_builder_init(&pb, buf, sizeof(buf));
    if (rc == MQTT_RC_SUCCESS) {
        if (assigned_id) {
            mqtt_props_add_str(&pb, MQTT_PROP_ASSIGNED_CLIENT_ID, gw_bytes_str(assigned_id));
        }
        if (server_keepalive) {
            mqtt_props_add_u16(&pb, MQTT_PROP_SERVER_KEEP_ALIVE, server_keepalive);
        }
        mqtt_props_add_u16(&pb, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, V5_TOPIC_ALIAS_MAX);
        /* QoS 2 PUBLISHes awaiting PUBREL beyond this end the connection
         * with 0x93 (section 3.3.4, svc_publish). */
        mqtt_props_add_u16(&pb, MQTT_PROP_RECEIVE_MAXIMUM, v5_recv_max(c->b));
        if (!cfg->retain_available) {
            mqtt_props_add_u8(&pb, MQTT_PROP_RETAIN_AVAILABLE, 0);
        }
        if (cfg->max_packet_size) {
            mqtt_props_add_u32(&pb, MQTT_PROP_MAXIMUM_PACKET_SIZE, cfg->max_packet_size);
        }
        /* Subscription identifiers and shared subscriptions are
         * available: no property says so (absent means available). */
        struct gw_bytes am = {NULL, 0};
        struct gw_bytes ad = {NULL, 0};
        mqtt_auth_connack_props(c, &am, &ad);
        if (am.n) {
            mqtt_props_add_str(&pb, MQTT_PROP_AUTH_METHOD, am);
            if (ad.n) {
                mqtt_props_add_bin(&pb, MQTT_PROP_AUTH_DATA, ad);
            }
        }
        if (c->v5 && c->v5->response_info && c->sess) {
            /* A hint of where responses could go, bounded: the client id
             * is cut on a character boundary, never inside one (a cut
             * character would be invalid UTF-8 [MQTT-1.5.4-1]). */
            static const char pfx[] = "response/";
            char resp[160];
            size_t k = sizeof(pfx) - 1;
            memcpy(resp, pfx, k);
            size_t n = v5_reason_cut((const uint8_t *)c->sess->id, c->sess->id_len,
                                     sizeof(resp) - k);
            memcpy(resp + k, c->sess->id, n);
            mqtt_props_add_str(&pb, MQTT_PROP_RESPONSE_INFO,
                               (struct gw_bytes){(const uint8_t *)resp, k + n});
        }
    }
    struct mqtt_pkt pkt = {.type = MQTT_CONNACK};
    pkt.u.connack.rc = rc;
    pkt.u.connack.session_present = present && rc == MQTT_RC_SUCCESS;
    pkt.u.connack.props = mqtt_props_builder_bytes(&pb);
    if (rc >= MQTT_RC_UNSPECIFIED) {
        /* A refusal has no other property; its Reason String is allowed
         * whatever Request Problem Information says [MQTT-3.1.2-29]. */
        return v5_send_explained(c, &pkt, gw_bytes_str(mqtt_rc_name(rc)));
    }
    return send_raw(c, &pkt);
}

uint8_t v5_disconnect_rc(int err)
{
    switch (err) {
    case GW_E_MALFORMED:
        return MQTT_RC_MALFORMED_PACKET;
    case GW_E_PROTOCOL:
        return MQTT_RC_PROTOCOL_ERROR;
    case GW_E_TOO_LARGE:
        return MQTT_RC_PACKET_TOO_LARGE;
    case GW_E_TIMEOUT:
        return MQTT_RC_KEEP_ALIVE_TIMEOUT;
    case GW_E_TAKEOVER:
        return MQTT_RC_SESSION_TAKEN_OVER;
    case GW_E_SHUTDOWN:
        return MQTT_RC_SERVER_SHUTTING_DOWN;
    case GW_E_REFUSED:
        return MQTT_RC_NOT_AUTHORIZED;
    case -ENOMEM:
        return MQTT_RC_IMPLEMENTATION_ERROR;
    default:
        return 0; /* peer closed, I/O error, slow reader: nothing to say */
    }
}

int v5_send_disconnect(struct conn *c, uint8_t rc)
{
    /* The reason in words, for the client's log (allowed on DISCONNECT
     * whatever Request Problem Information says [MQTT-3.1.2-29]). */
    struct mqtt_pkt pkt = {.type = MQTT_DISCONNECT};
    pkt.u.disconnect.rc = rc;
    return v5_send_explained(c, &pkt, gw_bytes_str(mqtt_rc_name(rc)));
}

static int set_alias(struct mqtt_v5 *v, uint16_t alias, struct gw_bytes topic)
{
    if (!v->alias) {
        v->alias = gw_calloc(V5_TOPIC_ALIAS_MAX + 1, sizeof(*v->alias));
        if (!v->alias) {
            return -ENOMEM;
        }
    }
    char *t = gw_strndup((const char *)topic.p, topic.n);
    if (!t) {
        return -ENOMEM;
    }
    gw_free(v->alias[alias]);
    v->alias[alias] = t;
    return 0;
}

static bool payload_format_ok(const struct mqtt_publish *p, uint8_t format)
{
    /* [MQTT-3.3.2-4]: 1 means UTF-8; the receiver may check it. */
    return format != 1 || mqtt_utf8_valid(p->payload.p, p->payload.n);
}

int v5_publish_in(struct conn *c, const struct mqtt_publish *p, struct gw_bytes *topic,
                  uint8_t *props_buf, size_t cap, struct gw_bytes *props, uint32_t *expiry_s)
{
    struct mqtt_v5 *v = c->v5;
    struct mqtt_props_builder pb;
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    uint32_t alias = 0;
    uint8_t format = 0;
    mqtt_props_builder_init(&pb, props_buf, cap);
    *expiry_s = 0;
    mqtt_prop_iter_init(&it, p->props);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        if (pr.id == MQTT_PROP_TOPIC_ALIAS) {
            alias = pr.num;
            continue; /* an alias is per connection: not forwarded */
        }
        if (pr.id == MQTT_PROP_SUBSCRIPTION_ID) {
            return MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.3.4-6] client may not send it */
        }
        if (pr.id == MQTT_PROP_MESSAGE_EXPIRY) {
            *expiry_s = pr.num;
        }
        if (pr.id == MQTT_PROP_PAYLOAD_FORMAT) {
            format = (uint8_t)pr.num;
        }
    }
    mqtt_props_copy_except(&pb, p->props, MQTT_PROP_TOPIC_ALIAS, 0);
    if (mqtt_props_builder_size(&pb) < 0) {
        return -ENOMEM;
    }
    *props = mqtt_props_builder_bytes(&pb);
    *topic = p->topic;
    if (alias) {
        if (alias > V5_TOPIC_ALIAS_MAX) {
            return MQTT_RC_TOPIC_ALIAS_INVALID; /* [MQTT-3.3.2-9] */
        }
        if (p->topic.n > 0) {
            int rc = set_alias(v, (uint16_t)alias, p->topic);
            if (rc < 0) {
                return rc;
            }
        } else if (!v->alias || !v->alias[alias]) {
            return MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.3.4-...]: unknown alias */
        } else {
            *topic = gw_bytes_str(v->alias[alias]);
        }
    } else if (p->topic.n == 0) {
        return MQTT_RC_PROTOCOL_ERROR;
    }
    if (!payload_format_ok(p, format)) {
        return MQTT_RC_PAYLOAD_FORMAT_INVALID;
    }
    return 0;
}

static void release_msg(void *arg)
{
    msg_unref(arg);
}

/* Outbound topic alias [MQTT-3.3.2-7]: the alias for m's topic when the
 * client allowed aliases; *send_topic false when the client already knows
 * it (the PUBLISH then carries an empty topic). Returns 0 for none. */
static uint16_t alias_for(struct mqtt_v5 *v, const struct msg *m, bool *send_topic)
{
    *send_topic = true;
    if (!v->alias_out_max) {
        return 0;
    }
    if (!v->alias_out) {
        v->alias_out = gw_calloc((size_t)v->alias_out_max + 1, sizeof(*v->alias_out));
        if (!v->alias_out) {
            return 0; /* no alias this time: the topic goes in full */
        }
    }
    for (uint16_t a = 1; a <= v->alias_out_max; a++) {
        const char *t = v->alias_out[a];
        if (t && strlen(t) == m->topic_len && memcmp(t, m->topic, m->topic_len) == 0) {
            *send_topic = false;
            return a;
        }
    }
    uint16_t a = (uint16_t)(v->alias_out_next % v->alias_out_max + 1);
    char *copy = gw_strndup(m->topic, m->topic_len);
    if (!copy) {
        return 0; /* no alias this time: the topic goes in full */
    }
    v->alias_out_next = a;
    gw_free(v->alias_out[a]);
    v->alias_out[a] = copy;
    return a;
}

/* m's properties for this client: the alias first, the subscription
 * identifiers of this delivery, the expiry counted down, the rest as
 * published; into dst (cap bytes). */
static struct gw_bytes outgoing_props(const struct conn *c, const struct msg *m, uint16_t alias,
                                      const struct sess_tag *tag, uint8_t *dst, size_t cap)
{
    struct gw_bytes raw = {m->props, m->props_len};
    uint16_t n_ids = tag ? tag->n_ids : 0;
    if (!m->expiry_ms && !alias && !n_ids) {
        return raw;
    }
    struct mqtt_props_builder pb;
    mqtt_props_builder_init(&pb, dst, cap);
    if (alias) {
        mqtt_props_add_u16(&pb, MQTT_PROP_TOPIC_ALIAS, alias);
    }
    /* [MQTT-3.3.4-3] [MQTT-3.3.4-4]: every matching subscription's id. */
    for (uint16_t i = 0; i < n_ids; i++) {
        mqtt_props_add_varint(&pb, MQTT_PROP_SUBSCRIPTION_ID, tag->ids[i]);
    }
    if (m->expiry_ms) {
        uint64_t now = loop_now_ms(c->b->loop);
        uint32_t left =
                m->expiry_ms > now ? (uint32_t)((m->expiry_ms - now + 999u) / 1000u) : 0;
        /* [MQTT-3.3.2-6]: the interval sent is the time left. */
        mqtt_props_add_u32(&pb, MQTT_PROP_MESSAGE_EXPIRY, left);
        mqtt_props_copy_except(&pb, raw, MQTT_PROP_MESSAGE_EXPIRY, 0);
    } else {
        mqtt_props_copy_except(&pb, raw, 0, 0);
    }
    return mqtt_props_builder_size(&pb) < 0 ? raw : mqtt_props_builder_bytes(&pb);
}

int v5_send_publish(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup, bool retain,
                    const struct sess_tag *tag)
{
    uint8_t stack[V5_PROPS_STACK];
    uint8_t *heap = NULL;
    uint8_t *pbuf = stack;
    /* alias 3 + expiry 5 bytes, each identifier at most 5 */
    size_t pcap = m->props_len + 16u + (tag ? 5u * tag->n_ids : 0u);
    if (pcap > sizeof(stack)) {
        heap = gw_alloc(pcap);
        if (!heap) {
            return -ENOMEM;
        }
        pbuf = heap;
    } else {
        pcap = sizeof(stack);
    }
    bool send_topic;
    uint16_t alias = alias_for(c->v5, m, &send_topic);
    struct gw_bytes props = outgoing_props(c, m, alias, tag, pbuf, pcap);
    uint32_t plen = (uint32_t)props.n;
    uint16_t tlen = send_topic ? m->topic_len : 0;
    /* In 64 bits: a message that fit a 3.1.1 packet of the largest size
     * grows by its property length here, and the sum may pass what a
     * Remaining Length can say (MQTT 5.0 section 2.1.4). */
    uint64_t rl64 = UINT64_MAX;
    uint64_t total = UINT64_MAX;
    if (plen <= MQTT_MAX_REMAINING) {
        rl64 = 2u + (uint64_t)tlen + (qos ? 2u : 0u) + mqtt_varint_size(plen) + plen +
               m->payload_len;
    }
    if (rl64 <= MQTT_MAX_REMAINING) {
        total = 1u + mqtt_varint_size((uint32_t)rl64) + rl64;
    }
    if (total == UINT64_MAX || (c->v5->max_packet_out && total > c->v5->max_packet_out)) {
        /* [MQTT-3.1.2-25]: never send a packet over the client's maximum
         * (or over what MQTT can encode); the message is discarded as if
         * delivered, counted, and logged once per connection. */
        if (c->v5->dropped_too_large++ == 0) {
            gw_log(GW_NOTICE, "mqtt",
                   "client=\"%s\" message on \"%s\" not sent: %llu bytes, over its Maximum "
                   "Packet Size %u (further ones counted only)",
                   c->sess ? c->sess->id : "?", m->topic, (unsigned long long)total,
                   c->v5->max_packet_out ? c->v5->max_packet_out : MQTT_MAX_REMAINING);
        }
        c->b->st.pub_dropped++;
        if (alias && send_topic) {
            /* the client never learned this alias: forget it */
            gw_free(c->v5->alias_out[alias]);
            c->v5->alias_out[alias] = NULL;
        }
        gw_free(heap);
        return SESS_SEND_DISCARDED;
    }
    uint32_t rl = (uint32_t)rl64;
    size_t hdr = (size_t)total - m->payload_len;
    bool by_ref = m->payload_len >= 1024u;
    uint8_t *p = conn_reserve(c, hdr + (by_ref ? 0 : m->payload_len));
    if (!p) {
        gw_free(heap);
        return GW_E_CLOSED;
    }
    *p++ = (uint8_t)(0x30u | (dup ? 0x08u : 0u) | (unsigned)(qos << 1) | (retain ? 1u : 0u));
    p += mqtt_varint_encode(p, rl);
    gw_put_be16(p, tlen);
    memcpy(p + 2, m->topic, tlen);
    p += 2 + tlen;
    if (qos) {
        gw_put_be16(p, pid);
        p += 2;
    }
    p += mqtt_varint_encode(p, plen);
    if (plen) {
        memcpy(p, props.p, plen);
        p += plen;
    }
    gw_free(heap);
    c->b->st.msgs_sent++;
    broker_count_publish(c->b, BROKER_PROTO_MQTT, true, qos, m->payload_len);
    if (!by_ref) {
        if (m->payload_len) {
            memcpy(p, m->payload, m->payload_len);
        }
        return 0;
    }
    return conn_send_ref(c, m->payload, m->payload_len, release_msg, msg_ref(m));
}

uint32_t v5_will_props(struct gw_bytes in, uint8_t *buf, size_t cap, struct gw_bytes *out)
{
    struct mqtt_props_builder pb;
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    uint32_t delay = 0;
    mqtt_prop_iter_init(&it, in);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        if (pr.id == MQTT_PROP_WILL_DELAY) {
            delay = pr.num;
        }
    }
    mqtt_props_builder_init(&pb, buf, cap);
    mqtt_props_copy_except(&pb, in, MQTT_PROP_WILL_DELAY, 0);
    *out = mqtt_props_builder_size(&pb) < 0 ? in : mqtt_props_builder_bytes(&pb);
    return delay;
}

void v5_free(struct mqtt_v5 *v5)
{
    if (!v5) {
        return;
    }
    for (size_t i = 0; v5->alias && i <= V5_TOPIC_ALIAS_MAX; i++) {
        gw_free(v5->alias[i]);
    }
    gw_free(v5->alias);
    for (size_t i = 0; v5->alias_out && i <= v5->alias_out_max; i++) {
        gw_free(v5->alias_out[i]);
    }
    gw_free(v5->alias_out);
    mqtt_auth_free(v5);
    gw_free(v5);
}
