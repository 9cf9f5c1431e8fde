/* bridge_proto.c - the bridge's MQTT client side: CONNECT and CONNACK,
 * SUBSCRIBE for the `in` lines, PUBLISH both ways with their QoS 1/2
 * flows, PINGREQ, DISCONNECT. The same pure codec as the broker side
 * (gateway/mqtt_codec.h) encodes and decodes every packet.
 *
 * Outbound: the local session calls bridge_link_ops as it would a client
 * connection; the topic is mapped on the way out, so the backlog keeps
 * local names and a restart with the same lines sends the same thing.
 * Inbound: a PUBLISH from upstream is mapped, routed here with the bridge's
 * session as its origin (No Local keeps it from going back up), and
 * acknowledged only once whatever it wrote to the store is on disk. */
#include "alloc.h"
#include "bridge_priv.h"
#include "bridge_topic.h"
#include "broker.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_codec.h"
#include "mqtt_props.h"
#include "persist.h"
#include "svc.h"
#include "uplink_io.h"

#include <errno.h>
#include <string.h>

/* Level byte of our CONNECT: 3.1.1 with try_private sets bit 7, which
 * mosquitto (and brokers that copy it) read as "this client is a bridge":
 * no echo of our own messages, retain flags kept. */
#define BRIDGE_PRIVATE_FLAG 0x80u

static int send_pkt(struct bridge *br, const struct mqtt_pkt *pkt, uint8_t version)
{
    uint8_t stack[512];
    size_t n = mqtt_encoded_size(pkt, version);
    uint8_t *p = n <= sizeof(stack) ? stack : gw_alloc(n);
    if (!p) {
        return -ENOMEM;
    }
    (void)mqtt_encode(p, n, pkt, version);
    int rc = bridge_write(br, p, n);
    if (p != stack) {
        gw_free(p);
    }
    return rc;
}

static int send_ack(struct bridge *br, enum mqtt_type type, uint16_t pid)
{
    struct mqtt_pkt pkt = {.type = type};
    pkt.u.ack.packet_id = pid;
    return send_pkt(br, &pkt, br->version);
}

int bridge_proto_send_connect(struct bridge *br)
{
    const struct cfg_bridge *c = &br->cfg;
    br->version = c->protocol == MQTT_V5 ? MQTT_V5 : MQTT_V311;
    struct mqtt_pkt pkt = {.type = MQTT_CONNECT};
    struct mqtt_connect *cp = &pkt.u.connect;
    cp->version = br->version;
    size_t ai = br->addr_idx % c->n_addrs;
    br->sent_private = br->version == MQTT_V311 && c->try_private &&
                       !(br->plain_level && br->plain_level[ai]);
    if (br->sent_private) {
        cp->version |= BRIDGE_PRIVATE_FLAG;
    }
    cp->proto_name = gw_bytes_str("MQTT");
    cp->clean = c->cleansession;
    cp->keepalive_s = c->keepalive_s;
    cp->client_id = gw_bytes_str(c->remote_clientid);
    br->connack_seen = false;
    br->sent_will = c->notifications && !c->notifications_local_only && c->notification_topic &&
                    !br->no_remote_will;
    if (br->sent_will) {
        /* The upstream says "0" for us if we vanish (mosquitto's bridge
         * notifications). */
        cp->will = true;
        cp->will_qos = 1;
        cp->will_retain = true;
        cp->will_topic = gw_bytes_str(c->notification_topic);
        cp->will_payload = gw_bytes_str("0");
    }
    if (c->remote_username) {
        cp->has_username = true;
        cp->username = gw_bytes_str(c->remote_username);
    }
    if (c->remote_password) {
        cp->has_password = true;
        cp->password = gw_bytes_str(c->remote_password);
    }
    uint8_t props[32];
    if (br->version == MQTT_V5) {
        struct mqtt_props_builder pb;
        mqtt_props_builder_init(&pb, props, sizeof(props));
        if (!c->cleansession) {
            /* The upstream keeps our session (and its QoS 2 state) across
             * the outage. */
            mqtt_props_add_u32(&pb, MQTT_PROP_SESSION_EXPIRY, 0xFFFFFFFFu);
        }
        if (c->max_packet_size) {
            mqtt_props_add_u32(&pb, MQTT_PROP_MAXIMUM_PACKET_SIZE, c->max_packet_size);
        }
        cp->props = mqtt_props_builder_bytes(&pb);
    }
    return send_pkt(br, &pkt, br->version);
}

int bridge_proto_send_pingreq(struct bridge *br)
{
    struct mqtt_pkt pkt = {.type = MQTT_PINGREQ};
    return send_pkt(br, &pkt, br->version);
}

int bridge_proto_send_disconnect(struct bridge *br)
{
    struct mqtt_pkt pkt = {.type = MQTT_DISCONNECT};
    return send_pkt(br, &pkt, br->version);
}

void bridge_proto_notify_remote(struct bridge *br, bool up)
{
    if (!br->cfg.notification_topic || br->no_remote_will) {
        return;
    }
    struct mqtt_pkt pkt = {.type = MQTT_PUBLISH};
    pkt.u.publish.retain = br->retain_ok;
    pkt.u.publish.topic = gw_bytes_str(br->cfg.notification_topic);
    pkt.u.publish.payload = gw_bytes_str(up ? "1" : "0");
    (void)send_pkt(br, &pkt, br->version);
}

/* One SUBSCRIBE upstream for the remote filters of the in/both lines,
 * with options. Nothing is sent when no line qualifies. */
static int send_filter_list(struct bridge *br, enum mqtt_type type)
{
    bool sub = type == MQTT_SUBSCRIBE;
    size_t need = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t *list = NULL;
        if (pass == 1) {
            if (need == 0) {
                return 0;
            }
            if (!(list = gw_alloc(need))) {
                return -ENOMEM;
            }
        }
        size_t at = 0;
        for (size_t i = 0; i < br->cfg.n_topics; i++) {
            const struct cfg_bridge_topic *t = &br->cfg.topics[i];
            ssize_t n;
            if (bridge_topic_is_in(t) != sub ||
                (n = bridge_topic_remote_filter(t, br->topic_buf, BRIDGE_TOPIC_BUF)) < 0) {
                continue;
            }
            size_t entry = 2u + (size_t)n + (sub ? 1u : 0u);
            if (list) {
                gw_put_be16(list + at, (uint16_t)n);
                memcpy(list + at + 2, br->topic_buf, (size_t)n);
                if (sub) {
                    /* MQTT 5: No Local (what we publish there does not
                     * come back) and Retain As Published. */
                    list[at + 2 + (size_t)n] =
                            (uint8_t)(t->qos | (br->version == MQTT_V5
                                                        ? MQTT_SUB_OPT_NO_LOCAL | MQTT_SUB_OPT_RAP
                                                        : 0u));
                }
                gw_log(GW_INFO, "bridge", "%s: remote %s \"%s\" qos=%u", br->cfg.name,
                       sub ? "subscription" : "unsubscribe", br->topic_buf, t->qos);
            }
            at += entry;
        }
        need = at;
        if (list) {
            struct mqtt_pkt pkt = {.type = type};
            br->sub_pid = (uint16_t)(br->sub_pid % 65535u + 1u);
            pkt.u.subscribe.packet_id = br->sub_pid;
            pkt.u.subscribe.list = (struct gw_bytes){list, at};
            int rc = send_pkt(br, &pkt, br->version);
            gw_free(list);
            return rc;
        }
    }
    return 0;
}

/* The UNSUBSCRIBE of the filters an earlier run subscribed and no line
 * asks for now (bridge_subs_reconcile), if any. */
static int send_stale_unsubscribe(struct bridge *br, bool session_present)
{
    uint8_t *list;
    size_t n;
    int rc = bridge_subs_reconcile(br, session_present, &list, &n);
    if (rc < 0 || !list) {
        return rc;
    }
    struct mqtt_pkt pkt = {.type = MQTT_UNSUBSCRIBE};
    br->sub_pid = (uint16_t)(br->sub_pid % 65535u + 1u);
    pkt.u.subscribe.packet_id = br->sub_pid;
    pkt.u.subscribe.list = (struct gw_bytes){list, n};
    rc = send_pkt(br, &pkt, br->version);
    gw_free(list);
    return rc;
}

static const char *connack_reason(uint8_t version, uint8_t rc)
{
    if (version == MQTT_V5) {
        return mqtt_rc_name(rc);
    }
    switch (rc) {
    case MQTT_CONNACK_BAD_VERSION:
        return "unacceptable protocol version";
    case MQTT_CONNACK_ID_REJECTED:
        return "client identifier rejected";
    case MQTT_CONNACK_UNAVAILABLE:
        return "server unavailable";
    case MQTT_CONNACK_BAD_CREDENTIALS:
        return "bad user name or password";
    case MQTT_CONNACK_NOT_AUTHORIZED:
        return "not authorized";
    default:
        return "a code MQTT 3.1.1 does not define";
    }
}

/* Could a CONNACK refusal be about our will? Not authorised is what a
 * policy says (tern, mosquitto's ACLs), but ejabberd answers a will on a
 * `$` topic with 0x80 under MQTT 3.1.1 (a code 3.1.1 does not define) and
 * 0x90 topic name invalid under MQTT 5. Codes that name another cause
 * (version, client id, credentials, server state) are not. */
static bool refusal_may_be_the_will(uint8_t version, uint8_t rc)
{
    if (version != MQTT_V5) {
        return rc == MQTT_CONNACK_NOT_AUTHORIZED || rc > MQTT_CONNACK_NOT_AUTHORIZED;
    }
    switch (rc) {
    case MQTT_RC_UNSPECIFIED:
    case MQTT_RC_IMPLEMENTATION_ERROR:
    case MQTT_RC_NOT_AUTHORIZED:
    case MQTT_RC_TOPIC_NAME_INVALID:
    case MQTT_RC_PAYLOAD_FORMAT_INVALID:
    case MQTT_RC_RETAIN_NOT_SUPPORTED:
    case MQTT_RC_QOS_NOT_SUPPORTED:
        return true;
    default:
        return false;
    }
}

/* The upstream refused mosquitto's bridge level (0x84), with CONNACK 1
 * or by closing before any CONNACK (NATS, RabbitMQ, ejabberd and other
 * brokers that are not mosquitto): use the standard level 4 for this
 * address from now on, as mosquitto's own bridge does. True if that is a
 * change (the caller retries at once). */
bool bridge_fall_back_level(struct bridge *br, const char *how)
{
    if (!br->sent_private) {
        return false;
    }
    size_t n = br->cfg.n_addrs;
    if (!br->plain_level && !(br->plain_level = gw_calloc(n, sizeof(bool)))) {
        return false;
    }
    const struct cfg_bridge_addr *a = &br->cfg.addrs[br->addr_idx % n];
    br->plain_level[br->addr_idx % n] = true;
    br->sent_private = false;
    br->retry_now = true;
    gw_log(GW_NOTICE, "bridge",
           "%s: %s:%u %s to the bridge protocol level 0x84 (try_private): using the standard "
           "level 4 for this address",
           br->cfg.name, a->host, a->port, how);
    return true;
}

/* CONNACK properties that bind us [MQTT-3.2.2-21] etc. */
static void read_connack_props(struct bridge *br, struct gw_bytes props)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    mqtt_prop_iter_init(&it, props);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        switch (pr.id) {
        case MQTT_PROP_RECEIVE_MAXIMUM:
            /* Never more unacknowledged QoS 1/2 than the upstream allows
             * [MQTT-3.3.4-7]. */
            br->s->recv_max = (uint16_t)pr.num;
            break;
        case MQTT_PROP_MAXIMUM_PACKET_SIZE:
            br->max_packet_out = pr.num;
            break;
        case MQTT_PROP_MAXIMUM_QOS:
            br->max_qos = (uint8_t)pr.num;
            break;
        case MQTT_PROP_RETAIN_AVAILABLE:
            br->retain_ok = pr.num != 0;
            break;
        case MQTT_PROP_SERVER_KEEP_ALIVE:
            br->cfg.keepalive_s = (uint16_t)pr.num;
            break;
        default:
            break;
        }
    }
}

static int on_connack(struct bridge *br, const struct mqtt_connack *ca, char *why, size_t cap)
{
    if (br->state != BRIDGE_CONNACK) {
        (void)snprintf(why, cap, "second CONNACK from the upstream");
        return GW_E_PROTOCOL;
    }
    br->connack_seen = true;
    if (ca->rc != 0) {
        if (br->sent_will && br->cfg.notification_topic[0] == '$' &&
            refusal_may_be_the_will(br->version, ca->rc)) {
            /* Many brokers keep $-topics to themselves (ejabberd, or a
             * policy): without the will the bridge works, only the
             * upstream's "0" on an unclean loss is missing. */
            br->no_remote_will = true;
            br->retry_now = true;
            gw_log(GW_WARN, "bridge",
                   "%s: the upstream refused the CONNECT with our notification will on \"%s\" "
                   "(%s, 0x%02x): connecting without it; set notification_topic to a topic "
                   "the upstream accepts to have it",
                   br->cfg.name, br->cfg.notification_topic, connack_reason(br->version, ca->rc),
                   ca->rc);
            (void)snprintf(why, cap, "CONNACK 0x%02x with a $-topic will: retrying without it",
                           ca->rc);
            return GW_E_REFUSED;
        }
        if (br->version == MQTT_V311 && ca->rc == MQTT_CONNACK_BAD_VERSION &&
            bridge_fall_back_level(br, "answered CONNACK 1 (unacceptable protocol version)")) {
            (void)snprintf(why, cap, "CONNACK 1 to level 0x84: retrying with level 4");
            return GW_E_REFUSED;
        }
        (void)snprintf(why, cap, "CONNACK refused: %s (0x%02x)",
                       connack_reason(br->version, ca->rc), ca->rc);
        return GW_E_REFUSED;
    }
    br->s->recv_max = 0;
    br->max_packet_out = 0;
    br->max_qos = br->learned_max_qos ? br->learned_max_qos : 2;
    br->retain_ok = true;
    if (br->version == MQTT_V5) {
        read_connack_props(br, ca->props);
    }
    if (br->max_qos < 2) {
        gw_log(GW_NOTICE, "bridge", "%s: the upstream takes QoS %u at most: higher ones go at %u",
               br->cfg.name, br->max_qos, br->max_qos);
    }
    /* bridge_attempt_unsubscribe: a persistent upstream session may still
     * hold a subscription from an earlier run's `in` line (bridge_subs.c:
     * only those, never an out topic). */
    if (send_stale_unsubscribe(br, ca->session_present) < 0 ||
        send_filter_list(br, MQTT_SUBSCRIBE) < 0) {
        (void)snprintf(why, cap, "cannot send SUBSCRIBE");
        return -ENOMEM;
    }
    bridge_up(br, ca->session_present);
    return 0;
}

/* The i-th filter of our SUBSCRIBE (send_filter_list's order): its line,
 * with the filter in br->topic_buf. NULL past the end. */
static const struct cfg_bridge_topic *subscribed_line(struct bridge *br, size_t i)
{
    for (size_t k = 0; k < br->cfg.n_topics; k++) {
        const struct cfg_bridge_topic *t = &br->cfg.topics[k];
        if (bridge_topic_is_in(t) &&
            bridge_topic_remote_filter(t, br->topic_buf, BRIDGE_TOPIC_BUF) >= 0 && i-- == 0) {
            return t;
        }
    }
    return NULL;
}

/* One return code of a SUBACK, for the i-th filter we asked for. */
static void check_grant(struct bridge *br, size_t i, uint8_t rc)
{
    const struct cfg_bridge_topic *t = subscribed_line(br, i);
    char esc[256];
    gw_log_escape(esc, sizeof(esc), t ? br->topic_buf : "?", t ? strlen(br->topic_buf) : 1);
    if (rc >= 0x80) {
        gw_log(GW_WARN, "bridge", "%s: the upstream refused remote subscription \"%s\": %s",
               br->cfg.name, esc, br->version == MQTT_V5 ? mqtt_rc_name(rc) : "failure");
    } else if (t && rc < t->qos) {
        /* [MQTT-3.8.4-6]: the server may grant less. RabbitMQ grants QoS
         * 1 for 2: what comes down is at least once. */
        gw_log(GW_NOTICE, "bridge",
               "%s: the upstream granted QoS %u for remote subscription \"%s\" (asked %u)",
               br->cfg.name, rc, esc, t->qos);
    }
}

static void on_suback(struct bridge *br, const struct mqtt_suback *sa)
{
    for (size_t i = 0; i < sa->rcs.n; i++) {
        check_grant(br, i, sa->rcs.p[i]);
    }
}

/* An acknowledgement to the upstream, packed for persist_after_commit:
 * connection number (low 8 bits), packet type, packet id. */
static uint32_t ack_token(const struct bridge *br, enum mqtt_type type, uint16_t pid)
{
    return (br->gen & 0xFFu) << 24 | (uint32_t)type << 16 | pid;
}

static void on_ack_committed(void *arg, uint32_t data, int rc)
{
    struct bridge *br = arg;
    br->acks_waiting--;
    /* A failed commit sends nothing: the upstream sends the message again
     * on the next connection. An ack of an earlier connection is stale. */
    if (rc == 0 && br->state == BRIDGE_UP && (data >> 24) == (br->gen & 0xFFu)) {
        (void)send_ack(br, (enum mqtt_type)((data >> 16) & 0xFFu), (uint16_t)(data & 0xFFFFu));
    }
}

/* Acknowledged means durable, towards the upstream too: when handling the
 * packet wrote to the store, the ack waits for the commit; later acks wait
 * behind it to keep their order [MQTT-4.6.0-2]. */
static int ack_in(struct bridge *br, enum mqtt_type type, uint16_t pid, bool durable)
{
    if (!durable && br->acks_waiting == 0) {
        return send_ack(br, type, pid);
    }
    br->acks_waiting++;
    int rc = persist_after_commit(br->b, on_ack_committed, br, ack_token(br, type, pid));
    if (rc < 0) {
        br->acks_waiting--;
    }
    return rc;
}

/* An inbound message goes to the session service as a publish by the
 * bridge's local side (local_clientid, local_username: the ACL applies to
 * it, as mosquitto does), with its properties but the Topic Alias and
 * Subscription Identifiers, which belonged to the uplink. */
static enum svc_verdict publish_in(struct bridge *br, const struct mqtt_publish *p,
                                   struct gw_bytes topic, struct svc_outcome *out)
{
    struct svc_publish sp = {
            .topic = topic,
            .payload = p->payload,
            .qos = p->qos,
            .retain = p->retain,
            .packet_id = p->packet_id,
    };
    uint8_t stack[256];
    uint8_t *heap = NULL;
    if (br->version == MQTT_V5 && p->props.n) {
        uint8_t *buf = stack;
        if (p->props.n > sizeof(stack) && !(buf = heap = gw_alloc(p->props.n))) {
            return SVC_NO_MEMORY;
        }
        struct mqtt_props_builder pb;
        mqtt_props_builder_init(&pb, buf, p->props.n > sizeof(stack) ? p->props.n : sizeof(stack));
        mqtt_props_copy_except(&pb, p->props, MQTT_PROP_TOPIC_ALIAS, MQTT_PROP_SUBSCRIPTION_ID);
        sp.props = mqtt_props_builder_bytes(&pb);
        struct mqtt_prop_iter it;
        struct mqtt_prop pr;
        mqtt_prop_iter_init(&it, p->props);
        while (mqtt_prop_iter_next(&it, &pr) > 0) {
            if (pr.id == MQTT_PROP_MESSAGE_EXPIRY) {
                sp.expiry_s = pr.num;
            }
        }
    }
    enum svc_verdict v = svc_publish(br->b, br->s, NULL, &sp, out);
    gw_free(heap);
    return v;
}

static int on_publish(struct bridge *br, const struct mqtt_publish *p, char *why, size_t cap)
{
    br->received++;
    broker_flow_count(br->b, BROKER_PROTO_BRIDGE, false, p->qos, p->payload.n);
    if (p->topic.n == 0) {
        (void)snprintf(why, cap, "PUBLISH without a topic (we allow no topic aliases)");
        return GW_E_PROTOCOL; /* [MQTT-3.3.2-8] */
    }
    size_t line = 0;
    struct svc_outcome out = {0};
    ssize_t n = bridge_topic_map_in(&br->cfg, p->topic, br->topic_buf, BRIDGE_TOPIC_BUF, &line);
    if (n < 0) {
        char esc[128];
        gw_log_escape(esc, sizeof(esc), (const char *)p->topic.p, p->topic.n);
        gw_log(GW_NOTICE, "bridge", "%s: message on \"%s\" matches no in line: dropped",
               br->cfg.name, esc);
    } else {
        struct gw_bytes topic = {(const uint8_t *)br->topic_buf, (size_t)n};
        enum svc_verdict v = publish_in(br, p, topic, &out);
        if (v == SVC_NO_MEMORY) {
            (void)snprintf(why, cap, "out of memory");
            return -ENOMEM;
        }
        if (v == SVC_QUOTA || v == SVC_BUSY) {
            /* Not kept, so not acknowledged: the upstream keeps it and
             * sends it again on the next connection. */
            bridge_hold_in(br);
            return 0;
        }
        if (v == SVC_NOT_AUTHORISED) {
            gw_log(GW_NOTICE, "bridge",
                   "%s: message on \"%s\" denied by the ACL of local_username: dropped",
                   br->cfg.name, br->topic_buf);
        } else if (v != SVC_OK) {
            gw_log(GW_NOTICE, "bridge", "%s: message on \"%s\" dropped: %s", br->cfg.name,
                   br->topic_buf, svc_verdict_name(v));
        }
    }
    if (p->qos == 1) {
        return ack_in(br, MQTT_PUBACK, p->packet_id, out.pending);
    }
    return p->qos == 2 ? ack_in(br, MQTT_PUBREC, p->packet_id, out.pending) : 0;
}

static int on_pubrel(struct bridge *br, uint16_t pid)
{
    bool pending;
    svc_release(br->b, br->s, pid, &pending); /* [MQTT-4.3.3-1] Method B */
    return ack_in(br, MQTT_PUBCOMP, pid, pending);
}

/* PUBACK / PUBREC / PUBCOMP from the upstream: the message leaves the
 * backlog (for PUBREC: once PUBCOMP comes). */
static void on_ack_out(struct bridge *br, enum mqtt_type type, const struct mqtt_ack *a)
{
    struct sess *s = br->s;
    bool failed = br->version == MQTT_V5 && a->rc >= 0x80;
    if (failed) {
        /* Refused for good (not authorized, quota, ...): resending will
         * not help. Counted and logged; it leaves the backlog. */
        br->rejected++;
        gw_log(GW_WARN, "bridge", "%s: the upstream refused message pid=%u: %s", br->cfg.name,
               a->packet_id, mqtt_rc_name(a->rc));
        if (sess_out_abandon(s, a->packet_id) == 0) {
            br->acked++;
        }
        return;
    }
    int rc;
    switch (type) {
    case MQTT_PUBACK:
        rc = sess_on_puback(s, a->packet_id);
        if (rc < 0) {
            /* A QoS 2 message the upstream took at QoS 1 (its Maximum
             * QoS, or a broker without QoS 2): the PUBACK ends it, but
             * exactly-once became at-least-once. Counted, logged once. */
            rc = sess_out_abandon(s, a->packet_id);
            if (rc == 0 && br->downgraded++ == 0) {
                gw_log(GW_WARN, "bridge",
                       "%s: the upstream answered a QoS 2 message with PUBACK: delivered at "
                       "QoS 1 (at least once, not exactly once); further ones counted in "
                       "$SYS .../downgraded",
                       br->cfg.name);
            }
        }
        break;
    case MQTT_PUBREC:
        (void)sess_on_pubrec(s, a->packet_id);
        return;
    default:
        rc = sess_on_pubcomp(s, a->packet_id);
        break;
    }
    if (rc == 0) {
        br->acked++;
    }
}

static int on_packet(struct bridge *br, const struct mqtt_pkt *pkt, char *why, size_t cap)
{
    if (br->state == BRIDGE_CONNACK && pkt->type != MQTT_CONNACK) {
        (void)snprintf(why, cap, "packet type %u before CONNACK", pkt->type);
        return GW_E_PROTOCOL;
    }
    switch (pkt->type) {
    case MQTT_CONNACK:
        return on_connack(br, &pkt->u.connack, why, cap);
    case MQTT_PUBLISH:
        return on_publish(br, &pkt->u.publish, why, cap);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
        on_ack_out(br, pkt->type, &pkt->u.ack);
        return 0;
    case MQTT_PUBREL:
        return on_pubrel(br, pkt->u.ack.packet_id);
    case MQTT_SUBACK:
        on_suback(br, &pkt->u.suback);
        return 0;
    case MQTT_UNSUBACK:
    case MQTT_PINGRESP:
        return 0;
    case MQTT_DISCONNECT:
        (void)snprintf(why, cap, "DISCONNECT from the upstream: %s",
                       br->version == MQTT_V5 ? mqtt_rc_name(pkt->u.disconnect.rc) : "-");
        return GW_E_CLOSED;
    default:
        (void)snprintf(why, cap, "unexpected packet type %u from the upstream", pkt->type);
        return GW_E_PROTOCOL;
    }
}

/* An upstream without MQTT 5 (NATS 2.9) answers our MQTT 5 CONNECT with a
 * 3.1.1 CONNACK (no properties: malformed as MQTT 5). Say that, not just
 * "malformed" [MQTT-3.1.2-2]. */
static bool v311_connack_to_v5(struct bridge *br, char *why, size_t cap)
{
    if (br->version != MQTT_V5 || br->state != BRIDGE_CONNACK) {
        return false;
    }
    struct mqtt_limits lim = {.version = MQTT_V311, .max_packet_size = br->cfg.max_packet_size};
    struct mqtt_pkt pkt;
    if (mqtt_decode(buf_head(&br->in), buf_len(&br->in), &lim, &pkt) <= 0 ||
        pkt.type != MQTT_CONNACK) {
        return false;
    }
    (void)snprintf(why, cap,
                   "an MQTT 3.1.1 CONNACK (%s, 0x%02x) to our MQTT 5 CONNECT: no MQTT 5 "
                   "there, use bridge_protocol_version mqttv311",
                   connack_reason(MQTT_V311, pkt.u.connack.rc), pkt.u.connack.rc);
    return true;
}

int bridge_proto_input(struct bridge *br, char *why, size_t cap)
{
    struct mqtt_limits lim = {.version = br->version, .max_packet_size = br->cfg.max_packet_size};
    while (buf_len(&br->in) > 0 && (br->state == BRIDGE_CONNACK || br->state == BRIDGE_UP)) {
        struct mqtt_pkt pkt;
        ssize_t n = mqtt_decode(buf_head(&br->in), buf_len(&br->in), &lim, &pkt);
        if (n == GW_E_INCOMPLETE) {
            return 0;
        }
        if (n < 0) {
            if (!v311_connack_to_v5(br, why, cap)) {
                (void)snprintf(why, cap, "%s packet from the upstream",
                               n == GW_E_TOO_LARGE ? "over bridge_max_packet_size:" : "malformed");
            }
            return (int)n;
        }
        int rc = on_packet(br, &pkt, why, cap);
        buf_consume(&br->in, (size_t)n);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- the local session's link (struct sess_link_ops) ---- */

/* m's properties for the upstream: the expiry counted down
 * [MQTT-3.3.2-6], the rest as published. */
static struct gw_bytes outgoing_props(const struct bridge *br, const struct msg *m, uint8_t *dst,
                                      size_t cap)
{
    struct gw_bytes raw = {m->props, m->props_len};
    if (!m->expiry_ms) {
        return raw;
    }
    struct mqtt_props_builder pb;
    mqtt_props_builder_init(&pb, dst, cap);
    uint64_t now = loop_now_ms(br->b->loop);
    uint32_t left = m->expiry_ms > now ? (uint32_t)((m->expiry_ms - now + 999u) / 1000u) : 0;
    mqtt_props_add_u32(&pb, MQTT_PROP_MESSAGE_EXPIRY, left);
    mqtt_props_copy_except(&pb, raw, MQTT_PROP_MESSAGE_EXPIRY, 0);
    return mqtt_props_builder_size(&pb) < 0 ? raw : mqtt_props_builder_bytes(&pb);
}

static int link_publish(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup, bool retain)
{
    struct bridge *br = link;
    struct mqtt_pkt pkt = {.type = MQTT_PUBLISH};
    struct mqtt_publish *p = &pkt.u.publish;
    ssize_t n = bridge_topic_map_out(&br->cfg, msg_topic(m), br->topic_buf, BRIDGE_TOPIC_BUF, NULL);
    if (n < 0) {
        /* The prefix would make a topic past 65,535 bytes, or the message
         * was queued under topic lines that changed since. Sent as it is,
         * it would land outside the upstream namespace the lines promise:
         * dropped and counted instead ($SYS .../dropped/unmapped). */
        if (br->unmapped++ == 0) {
            gw_log(GW_WARN, "bridge",
                   "%s: \"%.200s\" cannot be mapped upstream (%s): dropped, further ones "
                   "counted only",
                   br->cfg.name, m->topic,
                   n == GW_E_TOO_LARGE ? "the prefixed topic is over 65,535 bytes"
                                       : "it matches no out line any more");
        }
        if (qos) {
            bridge_abandon_later(br, pid);
        }
        return 0;
    }
    p->topic = (struct gw_bytes){(const uint8_t *)br->topic_buf, (size_t)n};
    p->qos = qos > br->max_qos ? br->max_qos : qos;
    p->dup = dup && p->qos > 0;
    p->retain = retain && br->cfg.outgoing_retain && br->retain_ok;
    p->packet_id = p->qos ? pid : 0;
    p->payload = msg_payload(m);
    uint8_t stack[256];
    uint8_t *heap = NULL;
    if (br->version == MQTT_V5 && m->props_len) {
        uint8_t *buf = stack;
        size_t pcap = m->props_len + 8u;
        if (pcap > sizeof(stack) && !(buf = heap = gw_alloc(pcap))) {
            return -ENOMEM;
        }
        p->props = outgoing_props(br, m, buf, pcap > sizeof(stack) ? pcap : sizeof(stack));
    } else if (br->version == MQTT_V5 && m->expiry_ms) {
        p->props = outgoing_props(br, m, stack, sizeof(stack));
    }
    /* Mapped to a longer topic, the largest message MQTT can carry would
     * not fit a Remaining Length any more: checked before encoding (the
     * encoder asserts what it is given fits). */
    uint64_t body = 2u + (uint64_t)p->topic.n + 2u + 4u + p->props.n + p->payload.n;
    if (body > MQTT_MAX_REMAINING ||
        (br->max_packet_out && mqtt_encoded_size(&pkt, br->version) > br->max_packet_out)) {
        /* [MQTT-3.1.2-24]: never over the upstream's maximum. */
        gw_free(heap);
        br->too_large++;
        gw_log(GW_WARN, "bridge",
               "%s: \"%s\" (%u bytes) is over the upstream's maximum packet "
               "size %u: dropped",
               br->cfg.name, m->topic, m->payload_len,
               br->max_packet_out ? br->max_packet_out : (uint32_t)MQTT_MAX_REMAINING);
        if (qos) {
            bridge_abandon_later(br, pid);
        }
        return 0;
    }
    (void)bridge_budget_take(br, m->payload_len);
    int rc = send_pkt(br, &pkt, br->version);
    gw_free(heap);
    if (rc == 0) {
        br->sent++;
        broker_flow_count(br->b, BROKER_PROTO_BRIDGE, true, qos, m->payload_len);
    }
    return rc;
}

static int link_pubrel(void *link, uint16_t pid)
{
    return send_ack(link, MQTT_PUBREL, pid);
}

static bool link_writable(void *link)
{
    struct bridge *br = link;
    return br->state == BRIDGE_UP && br->io && bridge_out_pending(br) < BRIDGE_OUT_SOFT_LIMIT &&
           bridge_budget_open(br);
}

static void link_kick(void *link, int reason)
{
    /* The bridge's session is not in the session table: nobody takes it
     * over. */
    (void)link;
    (void)reason;
}

const struct sess_link_ops bridge_link_ops = {link_publish, link_pubrel, link_writable, link_kick,
                                              NULL};
