/* sn_client.c - MQTT-SN 1.2 protocol rules for one client: CONNECT and the
 * will flow, REGISTER, PUBLISH (QoS -1..2), SUBSCRIBE / UNSUBSCRIBE, PING
 * and DISCONNECT, translated into the session service's verbs (svc.h) as
 * gateway/mqtt/mqtt_proto.c does for MQTT: the service decides identity,
 * authorisation and durability, this file the wire. Section numbers are
 * MQTT-SN 1.2. */
#include "alloc.h"
#include "log.h"
#include "sn_gw_priv.h"
#include "topic.h"

#include <stdio.h>
#include <string.h>

#define SN_PROTOCOL_TAG 0x81u /* sess->protocol for MQTT-SN 1.2 (0x80 | 1) */

static int send_msg(struct sn_client *c, const struct sn_msg *m)
{
    return sn_gw_send(c->gw, &c->peer, m);
}

static int send_rc(struct sn_client *c, enum sn_type type, uint8_t rc)
{
    struct sn_msg m = {.type = type};
    m.u.rc = rc;
    return send_msg(c, &m);
}

static int send_id(struct sn_client *c, enum sn_type type, uint16_t msg_id)
{
    struct sn_msg m = {.type = type};
    m.u.msg_id = msg_id;
    return send_msg(c, &m);
}

/* Acknowledgements of the client's PUBLISH and PUBREL keep their order and
 * wait for the store when durable (sn_gw_send_ack). */
static int send_puback(struct sn_client *c, uint16_t topic_id, uint16_t msg_id, uint8_t rc,
                       bool durable)
{
    struct sn_msg m = {.type = SN_PUBACK};
    m.u.topic_ack = (struct sn_topic_ack){.topic_id = topic_id, .msg_id = msg_id, .rc = rc};
    return sn_gw_send_ack(c->gw, &c->peer, &m, durable);
}

static int send_pub_id(struct sn_client *c, enum sn_type type, uint16_t msg_id, bool durable)
{
    struct sn_msg m = {.type = type};
    m.u.msg_id = msg_id;
    return sn_gw_send_ack(c->gw, &c->peer, &m, durable);
}

static void set_state(struct sn_client *c, enum sn_client_state to)
{
    gw_log(GW_DEBUG, "mqttsn", "client=\"%s\" state %d->%d", c->id, (int)c->state, (int)to);
    c->state = to;
}

/* ---- CONNECT, will flow, CONNACK (§6.3) ---- */

static void refuse(struct sn_client *c, uint8_t rc, const char *why)
{
    gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s refused: %s (CONNACK %s)", c->id,
           sn_gw_peer_str(c->gw, &c->peer), why, sn_rc_name(rc));
    c->gw->b->st.connections_refused++;
    (void)send_rc(c, SN_CONNACK, rc);
    sn_gw_client_drop(c, true, why);
}

/* What an svc_open refusal was about, for the log line: the listener's
 * rule a client can do something about, else the verdict alone. */
static const char *open_hint(const struct sn_client *c, enum svc_verdict v)
{
    const struct sn_gw *gw = c->gw;
    if (v != SVC_NOT_AUTHORISED) {
        return "";
    }
    if (!gw->lc->allow_anonymous) {
        return "allow_anonymous false, ";
    }
    if (!sn_conf_client_allowed(&gw->conf, c->id)) {
        return "client id not in mqttsn_allowed_clients / mqttsn_client_allow_file, ";
    }
    return "will topic forbidden, ";
}

/* A refusal of svc_open as MQTT-SN 1.2 says it: 0x01 congestion for
 * memory, else 0x03 "rejected: not supported", the only refusal left
 * (§5.3.10 has no "not authorised"). */
static void refuse_open(struct sn_client *c, enum svc_verdict v)
{
    char why[160];
    (void)snprintf(why, sizeof(why), "%s%s", open_hint(c, v), svc_verdict_name(v));
    refuse(c, v == SVC_NO_MEMORY || v == SVC_BUSY ? SN_RC_CONGESTION : SN_RC_NOT_SUPPORTED, why);
}

/* How long a provisional session (sess.provisional) is kept offline. */
static uint32_t provisional_expiry_s(const struct sn_gw *gw)
{
    uint32_t conf = gw->b->cfg->persistent_client_expiration_s;
    return conf && conf < SN_PROVISIONAL_EXPIRY_S ? conf : SN_PROVISIONAL_EXPIRY_S;
}

/* Keep the identity c's transport verified (NULL: none). False when out
 * of memory. */
static bool remember_identity(struct sn_client *c)
{
    const char *ident = sn_gw_peer_identity(c->gw, &c->peer);
    gw_free(c->identity);
    c->identity = ident ? gw_strdup(ident) : NULL;
    return !ident || c->identity;
}

/* Open (new, resumed or taken over) the session for c's client id through
 * the session service, which takes will. NULL: refused (answered). */
static struct sess *open_session(struct sn_client *c, struct msg *will, bool *present)
{
    struct broker *b = c->gw->b;
    struct gw_bytes id = {(const uint8_t *)c->id, c->id_len};
    /* Looked at, not touched: only to say so in the log when svc_open
     * kicks an MQTT connection. */
    const struct sess *held = sess_table_get(&b->sessions, id);
    bool from_mqtt = held && held->link && held->ops != &sn_link_ops;
    /* A durable session this unproven client creates, or takes from another
     * that never proved itself, stays provisional until a client proves
     * its address: bounded in number (sn_unproven_left), discarded if the
     * cap evicts its client, and expiring a day after it is left. One that
     * existed before (a real client back from a new address) is only ever
     * disconnected. */
    bool provisional = c->unproven && !c->clean && (!held || held->provisional);
    /* MQTT-SN 1.2 has no credentials: a client is anonymous, unless its
     * transport verified who it is (DTLS: the PSK identity or the
     * certificate name, as use_identity_as_username says for TCP): then
     * that is the username, for allow_anonymous, the ACL's user blocks and
     * the session's identity (svc_open). */
    if (!remember_identity(c)) {
        refuse(c, SN_RC_CONGESTION, "out of memory");
        return NULL;
    }
    struct svc_connect sc = {
            .client_id = id,
            .username = c->identity,
            .door = sn_gw_door(c->gw),
            .clean = c->clean,
            .persistent = !c->clean,
            .protocol = SN_PROTOCOL_TAG,
            .will = will,
            .expiry_s = provisional ? provisional_expiry_s(c->gw) : 0,
    };
    struct sess *s;
    enum svc_verdict v = svc_open(b, &sc, &s, present);
    if (v != SVC_OK) {
        refuse_open(c, v);
        return NULL;
    }
    if (from_mqtt) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" taken over from an MQTT connection", c->id);
    }
    s->provisional = provisional;
    return s;
}

/* CONNECT from a sleeping client (same address and id, clean session 0):
 * back to active with its topic ids and sleep buffer (§6.14). The
 * CONNECT's will (or none) replaces the old one, checked like a PUBLISH. */
static void finish_resume(struct sn_client *c, struct msg *will)
{
    struct broker *b = c->gw->b;
    bool has_will = will != NULL;
    enum svc_verdict v = svc_will_set(b, c->sess, will);
    if (v != SVC_OK) {
        refuse_open(c, v);
        return;
    }
    set_state(c, SN_CL_ACTIVE);
    b->st.connections_accepted++;
    sn_gw_client_arm(c);
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s awake: CONNECT (mqttsn, k%u%s)", c->id,
               sn_gw_peer_str(c->gw, &c->peer), c->duration_s, has_will ? ", w" : "");
    }
    (void)send_rc(c, SN_CONNACK, SN_RC_ACCEPTED);
    sn_state_save(c); /* awake for good */
    sn_deliver_resume(c);
}

/* The CONNECT is complete (will taken): open the session, CONNACK, attach. */
static void finish_connect(struct sn_client *c, struct msg *will)
{
    struct broker *b = c->gw->b;
    if (c->sess) {
        finish_resume(c, will);
        return;
    }
    bool has_will = will != NULL;
    bool present;
    struct sess *s = open_session(c, will, &present);
    if (!s) {
        return;
    }
    c->sess = s;
    if (present && sn_state_load(c, s) < 0) {
        gw_log(GW_WARN, "mqttsn", "client=\"%s\" stored topic ids damaged: forgotten", c->id);
    }
    c->proof_base = c->topics.n; /* ids it knew before this CONNECT prove nothing */
    sn_state_save(c); /* not asleep (any more) */
    set_state(c, SN_CL_ACTIVE);
    b->st.connections_accepted++;
    sn_gw_client_arm(c);
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn",
               "new client connected from %s as \"%s\" (mqttsn, c%u, k%u%s%s%s)",
               sn_gw_peer_str(c->gw, &c->peer), c->id, c->clean ? 1 : 0, c->duration_s,
               has_will ? ", w" : "", c->identity ? ", u" : "", present ? ", resumed" : "");
    }
    (void)send_rc(c, SN_CONNACK, SN_RC_ACCEPTED);
    (void)svc_attach(b, s, &sn_link_ops, c);
}

/* The checks of a CONNECT, then the will flow or CONNACK. */
static void connect_checks(struct sn_gw *gw, struct sn_client *c, const struct sn_connect *cp)
{
    struct broker *b = gw->b;
    set_state(c, SN_CL_WILL_TOPIC);
    sn_gw_client_arm(c);
    if (memchr(c->id, '\0', c->id_len)) {
        refuse(c, SN_RC_NOT_SUPPORTED, "client id holds a NUL");
        return;
    }
    /* The listener's anonymous rule, its client id list, bridge ids and
     * the will are svc_open's to decide (finish_connect). */
    if (b->cfg->max_keepalive && cp->duration_s > b->cfg->max_keepalive) {
        refuse(c, SN_RC_NOT_SUPPORTED, "keep-alive over max_keepalive");
        return;
    }
    if (cp->flags.will) {
        (void)send_rc(c, SN_WILLTOPICREQ, 0); /* §6.3: ask for the will topic */
        return;
    }
    finish_connect(c, NULL);
}

void sn_client_on_connect(struct sn_gw *gw, struct sn_client *c, const struct sn_peer *peer,
                          const struct sn_connect *cp)
{
    struct broker *b = gw->b;
    if (c && (c->state == SN_CL_ASLEEP || c->state == SN_CL_AWAKE) && !cp->flags.clean &&
        cp->client_id.n == c->id_len && memcmp(cp->client_id.p, c->id, c->id_len) == 0) {
        /* §6.14: a sleeping client returns to active with CONNECT; its
         * session, topic ids and sleep buffer stay. */
        c->duration_s = cp->duration_s;
        c->sleep_s = 0;
        connect_checks(gw, c, cp);
        return;
    }
    if (c) {
        /* A CONNECT from a peer we know: the client restarted or lost our
         * CONNACK. Start over without its old will. */
        sn_gw_client_drop(c, true, "new CONNECT from the same address");
    }
    c = sn_gw_client_new(gw, peer);
    if (!c) {
        b->st.connections_refused++; /* logged by sn_gw_client_new, once per episode */
        struct sn_msg m = {.type = SN_CONNACK};
        m.u.rc = SN_RC_CONGESTION;
        (void)sn_gw_send(gw, peer, &m);
        return;
    }
    memcpy(c->id, cp->client_id.p, cp->client_id.n); /* 1..23 octets (codec) */
    c->id[cp->client_id.n] = '\0';
    c->id_len = (uint8_t)cp->client_id.n;
    c->clean = cp->flags.clean;
    c->duration_s = cp->duration_s;
    connect_checks(gw, c, cp);
}

static void on_willtopic(struct sn_client *c, const struct sn_will_topic *wt)
{
    if (wt->topic.n == 0) {
        finish_connect(c, NULL); /* empty WILLTOPIC: no will (§5.4.7) */
        return;
    }
    /* Whether this will may be kept (topic, retain, ACL) is svc_open's to
     * decide once the will is complete: the CONNACK answers the WILLMSG. */
    c->will_topic = gw_strndup((const char *)wt->topic.p, wt->topic.n);
    if (!c->will_topic) {
        refuse(c, SN_RC_CONGESTION, "out of memory");
        return;
    }
    c->will_topic_len = (uint16_t)wt->topic.n;
    c->will_qos = (uint8_t)wt->flags.qos;
    c->will_retain = wt->flags.retain;
    set_state(c, SN_CL_WILL_MSG);
    (void)send_rc(c, SN_WILLMSGREQ, 0);
}

static void on_willmsg(struct sn_client *c, struct gw_bytes payload)
{
    struct gw_bytes topic = {(const uint8_t *)c->will_topic, c->will_topic_len};
    struct gw_bytes none = {NULL, 0};
    struct msg *will = msg_create(topic, payload, none, c->will_qos, c->will_retain);
    gw_free(c->will_topic);
    c->will_topic = NULL;
    if (!will) {
        refuse(c, SN_RC_CONGESTION, "out of memory");
        return;
    }
    finish_connect(c, will);
}

/* ---- REGISTER (§6.5) ---- */

static void on_register(struct sn_client *c, const struct sn_register *r)
{
    struct sn_msg m = {.type = SN_REGACK};
    m.u.topic_ack.msg_id = r->msg_id;
    m.u.topic_ack.rc = SN_RC_ACCEPTED;
    uint16_t id = 0;
    if (!topic_name_valid(r->topic)) {
        m.u.topic_ack.rc = SN_RC_NOT_SUPPORTED;
    } else {
        int rc = sn_topics_add(&c->topics, r->topic, true, &id);
        if (rc < 0) {
            char name[64];
            (void)snprintf(name, sizeof(name), "%.*s", (int)(r->topic.n < 60 ? r->topic.n : 60),
                           (const char *)r->topic.p);
            sn_gw_note_topics_full(c, rc, "REGISTER refused for", name);
            m.u.topic_ack.rc = SN_RC_CONGESTION;
        } else if (rc > 0) {
            sn_state_topic_saved(c, id); /* one record, not the registry */
        }
    }
    m.u.topic_ack.topic_id = id;
    (void)send_msg(c, &m);
}

/* ---- PUBLISH (§6.6, §6.7, §6.8) ---- */

/* The topic a PUBLISH names: a registered id (c only), a predefined id
 * (c's or, for a peer that is not connected, a common one), a short name
 * (copied to sbuf), or nothing. */
static bool resolve_topic(const struct sn_gw *gw, const struct sn_client *c,
                          const struct sn_publish *p, char sbuf[2], struct gw_bytes *topic)
{
    if (p->flags.topic_type == SN_TOPIC_PREDEFINED) {
        const struct sn_predef *pd = sn_predef_by_id(&gw->conf, c ? c->id : NULL, p->topic_id);
        if (pd) {
            *topic = (struct gw_bytes){(const uint8_t *)pd->name, pd->len};
        }
        return pd != NULL;
    }
    if (p->flags.topic_type == SN_TOPIC_SHORT) {
        memcpy(sbuf, p->short_name, 2);
        *topic = (struct gw_bytes){(const uint8_t *)sbuf, 2};
        return topic_name_valid(*topic);
    }
    if (p->flags.topic_type == SN_TOPIC_NORMAL && c) {
        const struct sn_topic *t = sn_topics_get(&c->topics, p->topic_id);
        if (t) {
            *topic = (struct gw_bytes){(const uint8_t *)t->name, t->len};
            return true;
        }
    }
    return false;
}

void sn_client_on_publish_m1(struct sn_gw *gw, const struct sn_peer *peer,
                             const struct sn_publish *p)
{
    struct broker *b = gw->b;
    char sbuf[2];
    struct gw_bytes topic;
    b->st.pub_msgs_received++;
    b->st.pub_bytes_received += p->data.n;
    broker_flow_count(b, BROKER_PROTO_MQTTSN, false, p->flags.qos, p->data.n);
    if (!resolve_topic(gw, NULL, p, sbuf, &topic)) {
        b->st.pub_dropped++;
        sn_gw_note_bad(gw, peer, false, "QoS -1 PUBLISH to an unknown topic");
        return;
    }
    /* No client id, no session: the listener's door decides (svc_publish
     * admits it only on a door open to anonymous senders, without a
     * client id list, and without an ACL). */
    struct svc_publish sp = {
            .topic = topic, .payload = p->data, .qos = 0, .retain = p->flags.retain};
    struct svc_outcome out;
    enum svc_verdict v = svc_publish(b, NULL, sn_gw_door(gw), &sp, &out);
    if (v != SVC_OK) {
        char what[96];
        (void)snprintf(what, sizeof(what), "QoS -1 PUBLISH refused: %s", svc_verdict_name(v));
        sn_gw_note_bad(gw, peer, false, what);
    }
}

/* The answer to a connected client's PUBLISH for what svc_publish decided
 * (§6.7; §5.4.13: a PUBACK with a return code also refuses QoS 0 and 2). */
static void answer_publish(struct sn_client *c, const struct sn_publish *p, uint16_t tid,
                           enum svc_verdict v, const struct svc_outcome *out)
{
    uint8_t rc = SN_RC_CONGESTION;
    switch (v) {
    case SVC_OK:
    case SVC_NOT_AUTHORISED:
    case SVC_TOO_LARGE:
        /* A refused one is not routed but acknowledged anyway, as MQTT
         * 3.1.1 and mosquitto do: resending it would not change the
         * answer. A success waits for the commit when out->pending
         * (acknowledged means durable). */
        if (p->flags.qos == 1) {
            (void)send_puback(c, tid, p->msg_id, SN_RC_ACCEPTED, out->pending);
        } else if (p->flags.qos == 2) {
            (void)send_pub_id(c, SN_PUBREC, p->msg_id, out->pending);
        }
        return;
    case SVC_NO_RETAIN:
    case SVC_INVALID:
        rc = SN_RC_NOT_SUPPORTED;
        break;
    default:
        /* SVC_QUOTA: the store could not keep it: never a success, the
         * client resends later (README, persistence_quota_policy);
         * SVC_NO_MEMORY alike. */
        break;
    }
    (void)send_puback(c, tid, p->msg_id, rc, false);
}

static void on_publish(struct sn_client *c, const struct sn_publish *p)
{
    struct broker *b = c->gw->b;
    char sbuf[2];
    struct gw_bytes topic;
    /* The TopicId field as received, echoed in PUBACK (§5.4.13). */
    uint16_t tid = p->flags.topic_type == SN_TOPIC_SHORT ? gw_be16(p->short_name) : p->topic_id;
    b->st.pub_msgs_received++;
    b->st.pub_bytes_received += p->data.n;
    broker_flow_count(b, BROKER_PROTO_MQTTSN, false, p->flags.qos, p->data.n);
    bool resolved = resolve_topic(c->gw, c, p, sbuf, &topic);
    if (p->flags.topic_type == SN_TOPIC_NORMAL) {
        sn_gw_note_use(c, p->topic_id, resolved); /* a random id it was given: proof by use */
    }
    if (!resolved) {
        b->st.pub_dropped++;
        (void)send_puback(c, tid, p->msg_id, SN_RC_INVALID_TOPIC_ID, false); /* §6.7 */
        return;
    }
    struct svc_publish sp = {
            .topic = topic,
            .payload = p->data,
            .qos = p->flags.qos < 0 ? 0 : (uint8_t)p->flags.qos,
            .retain = p->flags.retain,
            .packet_id = p->msg_id,
    };
    struct svc_outcome out;
    enum svc_verdict v = svc_publish(b, c->sess, NULL, &sp, &out);
    answer_publish(c, p, tid, v, &out);
}

static void on_pubrel(struct sn_client *c, uint16_t msg_id)
{
    bool pending;
    svc_release(c->gw->b, c->sess, msg_id, &pending);
    /* Also for an unknown id, as MQTT; after the commit that forgets it. */
    (void)send_pub_id(c, SN_PUBCOMP, msg_id, pending);
}

static void on_puback(struct sn_client *c, const struct sn_topic_ack *a)
{
    if (a->rc != SN_RC_ACCEPTED) {
        /* The client does not know the topic id: it forgot it (restart
         * with the same address). Forget it too, so the next delivery
         * registers again; this message counts as delivered. */
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" PUBACK %s for topic id %u", c->id,
               sn_rc_name(a->rc), a->topic_id);
        if (a->rc == SN_RC_INVALID_TOPIC_ID) {
            sn_topics_del(&c->topics, a->topic_id);
            sn_state_topic_forgotten(c, a->topic_id);
        }
    }
    (void)sess_on_puback(c->sess, a->msg_id);
}

/* ---- SUBSCRIBE / UNSUBSCRIBE (§6.9) ---- */

/* The filter a SUBSCRIBE / UNSUBSCRIBE names (short names copied to sbuf).
 * Returns SN_RC_ACCEPTED or the code to answer. Whether the filter is
 * valid, and may be subscribed, is svc_subscribe's to say. */
static uint8_t resolve_filter(const struct sn_client *c, const struct sn_subscribe *sp,
                              char sbuf[2], struct gw_bytes *f)
{
    if (sp->flags.topic_type == SN_TOPIC_NORMAL) {
        *f = sp->topic_name;
    } else if (sp->flags.topic_type == SN_TOPIC_SHORT) {
        memcpy(sbuf, sp->short_name, 2);
        *f = (struct gw_bytes){(const uint8_t *)sbuf, 2};
    } else {
        const struct sn_predef *pd = sn_predef_by_id(&c->gw->conf, c->id, sp->topic_id);
        if (!pd) {
            return SN_RC_INVALID_TOPIC_ID; /* §6.9: unknown predefined id */
        }
        *f = (struct gw_bytes){(const uint8_t *)pd->name, pd->len};
    }
    return SN_RC_ACCEPTED;
}

/* Subscribe c to f; returns the SUBACK code and the topic id in *tid. */
static uint8_t subscribe_one(struct sn_client *c, const struct sn_subscribe *sp, struct gw_bytes f,
                             uint16_t *tid)
{
    struct broker *b = c->gw->b;
    uint8_t qos = (uint8_t)sp->flags.qos;
    struct svc_sub sub = {.filter = f, .qos = qos};
    bool replaced;
    enum svc_verdict v = svc_subscribe(b, c->sess, &sub, &replaced);
    if (v != SVC_OK) {
        char esc[128];
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" subscription to \"%s\" refused: %s", c->id,
               gw_log_escape(esc, sizeof(esc), (const char *)f.p, f.n), svc_verdict_name(v));
        return v == SVC_NO_MEMORY || v == SVC_LIMIT || v == SVC_BUSY ? SN_RC_CONGESTION
                                                                       : SN_RC_NOT_SUPPORTED;
    }
    /* §6.9: a topic name without wildcards gets its topic id in SUBACK;
     * a wildcard filter (or a shared one: its messages come on other
     * names) gets 0 and the gateway registers each topic before its first
     * message (§6.10). */
    *tid = sp->flags.topic_type == SN_TOPIC_PREDEFINED ? sp->topic_id : 0;
    int rc = 0;
    if (sp->flags.topic_type == SN_TOPIC_NORMAL && !topic_has_wildcard(f) && !topic_is_share(f) &&
        (rc = sn_topics_add(&c->topics, f, true, tid)) < 0) {
        char name[64];
        (void)snprintf(name, sizeof(name), "%.*s", (int)(f.n < 60 ? f.n : 60),
                       (const char *)f.p);
        sn_gw_note_topics_full(c, rc, "SUBSCRIBE refused for", name);
        if (!replaced) {
            (void)svc_unsubscribe(b, c->sess, f); /* no id for it: not subscribed either */
        }
        *tid = 0;
        return SN_RC_CONGESTION;
    }
    if (rc > 0) {
        sn_state_topic_saved(c, *tid);
    }
    gw_log(GW_SUBSCRIBE, "mqttsn", "client=\"%s\" subscribed \"%.*s\" qos=%u", c->id, (int)f.n,
           (const char *)f.p, qos);
    return SN_RC_ACCEPTED;
}

static void on_subscribe(struct sn_client *c, const struct sn_subscribe *sp)
{
    char sbuf[2];
    struct gw_bytes f = {NULL, 0};
    uint16_t tid = 0;
    uint8_t rc = resolve_filter(c, sp, sbuf, &f);
    if (rc == SN_RC_ACCEPTED) {
        rc = subscribe_one(c, sp, f, &tid);
    }
    struct sn_msg m = {.type = SN_SUBACK};
    m.u.suback.flags.qos = rc == SN_RC_ACCEPTED ? sp->flags.qos : 0;
    m.u.suback.topic_id = tid;
    m.u.suback.msg_id = sp->msg_id;
    m.u.suback.rc = rc;
    (void)send_msg(c, &m);
    if (rc == SN_RC_ACCEPTED) {
        /* Retained messages follow the SUBACK, as in MQTT [MQTT-3.8.4-3]. */
        svc_send_retained(c->gw->b, c->sess, f, (uint8_t)sp->flags.qos, NULL);
        if (tid && sp->flags.topic_type == SN_TOPIC_NORMAL && c->state != SN_CL_GONE) {
            sn_deliver_challenge(c, tid); /* a subscriber proves itself now, not later */
        }
    }
}

static void on_unsubscribe(struct sn_client *c, const struct sn_subscribe *sp)
{
    char sbuf[2];
    struct gw_bytes f = {NULL, 0};
    if (resolve_filter(c, sp, sbuf, &f) == SN_RC_ACCEPTED &&
        svc_unsubscribe(c->gw->b, c->sess, f)) {
        gw_log(GW_UNSUBSCRIBE, "mqttsn", "client=\"%s\" unsubscribed \"%.*s\"", c->id, (int)f.n,
               (const char *)f.p);
    }
    (void)send_id(c, SN_UNSUBACK, sp->msg_id); /* also when nothing matched */
}

/* ---- will updates (§6.4) ---- */

/* Replace the session's will (§6.4), checked by the session service like
 * a PUBLISH (topic, $SYS, ACL, retain): a refusal keeps the old will and
 * answers 0x03 (§5.3.10 has no "not authorised"), memory 0x01. */
static void update_will(struct sn_client *c, struct gw_bytes topic, struct gw_bytes payload,
                        uint8_t qos, bool retain, enum sn_type resp)
{
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(topic, payload, none, qos, retain);
    if (!m) {
        (void)send_rc(c, resp, SN_RC_CONGESTION);
        return;
    }
    enum svc_verdict v = svc_will_set(c->gw->b, c->sess, m); /* takes m */
    (void)send_rc(c, resp, v == SVC_OK ? SN_RC_ACCEPTED : SN_RC_NOT_SUPPORTED);
}

static void on_willtopicupd(struct sn_client *c, const struct sn_will_topic *wt)
{
    const struct msg *old = c->sess->will;
    if (wt->topic.n == 0) {
        (void)svc_will_set(c->gw->b, c->sess, NULL); /* §5.4.22: empty deletes the will */
        (void)send_rc(c, SN_WILLTOPICRESP, SN_RC_ACCEPTED);
        return;
    }
    struct gw_bytes payload = old ? msg_payload(old) : (struct gw_bytes){NULL, 0};
    update_will(c, wt->topic, payload, (uint8_t)wt->flags.qos, wt->flags.retain, SN_WILLTOPICRESP);
}

static void on_willmsgupd(struct sn_client *c, struct gw_bytes payload)
{
    const struct msg *old = c->sess->will;
    if (!old) {
        (void)send_rc(c, SN_WILLMSGRESP, SN_RC_NOT_SUPPORTED); /* no will topic to go with */
        return;
    }
    update_will(c, msg_topic(old), payload, old->qos, old->retain, SN_WILLMSGRESP);
}

/* ---- PINGREQ, DISCONNECT and sleeping (§6.11, §6.14) ---- */

static void on_pingreq(struct sn_client *c, struct gw_bytes id)
{
    if (c->state == SN_CL_ACTIVE) {
        (void)send_rc(c, SN_PINGRESP, 0); /* §6.11 */
        return;
    }
    if (id.n && (id.n != c->id_len || memcmp(id.p, c->id, id.n) != 0)) {
        sn_gw_note_bad(c->gw, &c->peer, false, "PINGREQ with another client's id");
        return;
    }
    if (c->state == SN_CL_ASLEEP) {
        /* §6.14: awake until every buffered message is delivered; the
         * PINGRESP comes last (sn_deliver_check_awake). */
        set_state(c, SN_CL_AWAKE);
        sn_gw_client_arm(c);
        sn_deliver_resume(c);
    }
    /* AWAKE: a repeated PINGREQ; the PINGRESP still waits for the buffer. */
}

static void on_disconnect(struct sn_client *c, const struct sn_disconnect *d)
{
    struct broker *b = c->gw->b;
    if (!d->has_duration || d->duration_s == 0) {
        (void)send_msg(c, &(struct sn_msg){.type = SN_DISCONNECT});
        sn_gw_client_drop(c, true, "DISCONNECT");
        return;
    }
    /* §6.14: asleep for duration_s; the gateway acknowledges with a
     * DISCONNECT and buffers what the client's subscriptions bring. */
    c->sleep_s = d->duration_s;
    set_state(c, SN_CL_ASLEEP);
    sn_deliver_sleep(c);
    sn_state_save(c); /* a restart finds it asleep */
    sn_gw_client_arm(c);
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s asleep for %u s", c->id,
               sn_gw_peer_str(c->gw, &c->peer), c->sleep_s);
    }
    (void)send_msg(c, &(struct sn_msg){.type = SN_DISCONNECT});
}

struct sn_client *sn_client_restore(struct sn_gw *gw, const struct sn_peer *peer,
                                    struct gw_bytes id)
{
    struct broker *b = gw->b;
    /* Looked at, not touched: only a durable MQTT-SN session, offline and
     * not expired, whose client slept comes back this way. */
    const struct sess *held = sess_table_get(&b->sessions, id);
    if (!held || held->link || held->protocol != SN_PROTOCOL_TAG || id.n > SN_CLIENT_ID_MAX ||
        memchr(id.p, '\0', id.n) ||
        (held->expire_at_ms && held->expire_at_ms <= loop_now_ms(b->loop))) {
        return NULL;
    }
    uint16_t sleep_s = sn_state_sleep_s(held);
    bool held_provisional = held->provisional; /* read before anything may reap it */
    struct sn_client *c = sleep_s ? sn_gw_client_new(gw, peer) : NULL;
    if (!c) {
        return NULL;
    }
    memcpy(c->id, id.p, id.n);
    c->id[id.n] = '\0';
    c->id_len = (uint8_t)id.n;
    /* Opened as a CONNECT would open it (the door, the identity rule, the
     * count), without a will: the client said none since the restart. */
    bool provisional = c->unproven && held_provisional;
    if (!remember_identity(c)) {
        sn_gw_client_drop(c, true, "out of memory");
        return NULL;
    }
    struct svc_connect sc = {
            .client_id = id,
            .username = c->identity,
            .door = sn_gw_door(gw),
            .persistent = true,
            .protocol = SN_PROTOCOL_TAG,
            .expiry_s = provisional ? provisional_expiry_s(gw) : 0,
    };
    bool present = false;
    struct sess *s = NULL;
    enum svc_verdict v = svc_open(b, &sc, &s, &present);
    if (v != SVC_OK || !present) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s asleep before the restart: %s%s", c->id,
               sn_gw_peer_str(gw, peer), open_hint(c, v),
               v == SVC_OK ? "session gone" : svc_verdict_name(v));
        if (s) {
            s->clean = true; /* new and empty: not kept (svc_disconnect reaps it) */
            svc_disconnect(b, s, true, false);
        }
        sn_gw_client_drop(c, true, "not restored");
        return NULL;
    }
    c->sess = s;
    s->provisional = provisional;
    if (sn_state_load(c, s) < 0) {
        gw_log(GW_WARN, "mqttsn", "client=\"%s\" stored topic ids damaged: forgotten", c->id);
    }
    c->proof_base = c->topics.n;
    c->sleep_s = sleep_s;
    b->st.connections_accepted++;
    set_state(c, SN_CL_ASLEEP);
    sn_gw_client_arm(c);
    gw_log(GW_NOTICE, "mqttsn",
           "client=\"%s\" peer=%s asleep before the restart: back with %u topic ids (mqttsn)",
           c->id, sn_gw_peer_str(gw, peer), c->topics.n);
    (void)svc_attach(b, s, &sn_link_ops, c); /* asleep: everything goes to the buffer */
    return c;
}

/* ---- dispatch ---- */

static void on_active(struct sn_client *c, const struct sn_msg *m)
{
    switch (m->type) {
    case SN_REGISTER:
        on_register(c, &m->u.reg);
        return;
    case SN_REGACK:
        sn_deliver_on_ack(c);
        sn_deliver_on_regack(c, &m->u.topic_ack);
        return;
    case SN_PUBLISH:
        on_publish(c, &m->u.publish);
        return;
    case SN_PUBACK:
        sn_deliver_on_ack(c);
        on_puback(c, &m->u.topic_ack);
        return;
    case SN_PUBREC:
        sn_deliver_on_ack(c);
        (void)sess_on_pubrec(c->sess, m->u.msg_id);
        return;
    case SN_PUBREL:
        on_pubrel(c, m->u.msg_id);
        return;
    case SN_PUBCOMP:
        sn_deliver_on_ack(c);
        (void)sess_on_pubcomp(c->sess, m->u.msg_id);
        return;
    case SN_SUBSCRIBE:
        on_subscribe(c, &m->u.subscribe);
        return;
    case SN_UNSUBSCRIBE:
        on_unsubscribe(c, &m->u.subscribe);
        return;
    case SN_PINGREQ:
        on_pingreq(c, m->u.client_id);
        return;
    case SN_DISCONNECT:
        on_disconnect(c, &m->u.disconnect);
        return;
    case SN_WILLTOPICUPD:
        on_willtopicupd(c, &m->u.will_topic);
        return;
    case SN_WILLMSGUPD:
        on_willmsgupd(c, m->u.will_msg);
        return;
    default:
        sn_gw_note_bad(c->gw, &c->peer, false, "message type not expected from a client");
        return;
    }
}

void sn_client_on_msg(struct sn_client *c, const struct sn_msg *m)
{
    switch (c->state) {
    case SN_CL_WILL_TOPIC:
        if (m->type == SN_WILLTOPIC) {
            on_willtopic(c, &m->u.will_topic);
            return;
        }
        break;
    case SN_CL_WILL_MSG:
        if (m->type == SN_WILLMSG) {
            on_willmsg(c, m->u.will_msg);
            return;
        }
        break;
    case SN_CL_ACTIVE:
        on_active(c, m);
        return;
    case SN_CL_ASLEEP:
    case SN_CL_AWAKE:
        /* A sleeping client may also publish or subscribe on its way. */
        on_active(c, m);
        if (c->state == SN_CL_AWAKE) {
            sn_deliver_check_awake(c);
        }
        return;
    case SN_CL_GONE:
        break;
    }
    sn_gw_note_bad(c->gw, &c->peer, false, "message not expected during the will flow");
}
