/* sn_client.c - MQTT-SN 1.2 protocol rules for one connected client:
 * REGISTER, PUBLISH (QoS -1..2), SUBSCRIBE / UNSUBSCRIBE, will updates,
 * PING, DISCONNECT and sleeping, and the dispatch of every message
 * (CONNECT and the will flow: sn_client_connect.c), translated into the session service's verbs (svc.h) as
 * gateway/mqtt/mqtt_proto.c does for MQTT: the service decides identity,
 * authorisation and durability, this file the wire. Section numbers are
 * MQTT-SN 1.2. */
#include "log.h"
#include "sn_client_priv.h"
#include "topic.h"

#include <stdio.h>
#include <string.h>

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
    (void)sn_cl_send_msg(c, &m);
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
    (void)sn_cl_send_msg(c, &m);
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
    (void)sn_cl_send_id(c, SN_UNSUBACK, sp->msg_id); /* also when nothing matched */
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
        (void)sn_cl_send_rc(c, resp, SN_RC_CONGESTION);
        return;
    }
    enum svc_verdict v = svc_will_set(c->gw->b, c->sess, m); /* takes m */
    (void)sn_cl_send_rc(c, resp, v == SVC_OK ? SN_RC_ACCEPTED : SN_RC_NOT_SUPPORTED);
}

static void on_willtopicupd(struct sn_client *c, const struct sn_will_topic *wt)
{
    const struct msg *old = c->sess->will;
    if (wt->topic.n == 0) {
        (void)svc_will_set(c->gw->b, c->sess, NULL); /* §5.4.22: empty deletes the will */
        (void)sn_cl_send_rc(c, SN_WILLTOPICRESP, SN_RC_ACCEPTED);
        return;
    }
    struct gw_bytes payload = old ? msg_payload(old) : (struct gw_bytes){NULL, 0};
    update_will(c, wt->topic, payload, (uint8_t)wt->flags.qos, wt->flags.retain, SN_WILLTOPICRESP);
}

static void on_willmsgupd(struct sn_client *c, struct gw_bytes payload)
{
    const struct msg *old = c->sess->will;
    if (!old) {
        (void)sn_cl_send_rc(c, SN_WILLMSGRESP, SN_RC_NOT_SUPPORTED); /* no will topic to go with */
        return;
    }
    update_will(c, msg_topic(old), payload, old->qos, old->retain, SN_WILLMSGRESP);
}

/* ---- PINGREQ, DISCONNECT and sleeping (§6.11, §6.14) ---- */

static void on_pingreq(struct sn_client *c, struct gw_bytes id)
{
    if (c->state == SN_CL_ACTIVE) {
        (void)sn_cl_send_rc(c, SN_PINGRESP, 0); /* §6.11 */
        return;
    }
    if (id.n && (id.n != c->id_len || memcmp(id.p, c->id, id.n) != 0)) {
        sn_gw_note_bad(c->gw, &c->peer, false, "PINGREQ with another client's id");
        return;
    }
    if (c->state == SN_CL_ASLEEP) {
        /* §6.14: awake until every buffered message is delivered; the
         * PINGRESP comes last (sn_deliver_check_awake). */
        sn_cl_set_state(c, SN_CL_AWAKE);
        sn_gw_client_arm(c);
        sn_deliver_resume(c);
    }
    /* AWAKE: a repeated PINGREQ; the PINGRESP still waits for the buffer. */
}

static void on_disconnect(struct sn_client *c, const struct sn_disconnect *d)
{
    struct broker *b = c->gw->b;
    if (!d->has_duration || d->duration_s == 0) {
        (void)sn_cl_send_msg(c, &(struct sn_msg){.type = SN_DISCONNECT});
        sn_gw_client_drop(c, true, "DISCONNECT");
        return;
    }
    /* §6.14: asleep for duration_s; the gateway acknowledges with a
     * DISCONNECT and buffers what the client's subscriptions bring. */
    c->sleep_s = d->duration_s;
    sn_cl_set_state(c, SN_CL_ASLEEP);
    sn_deliver_sleep(c);
    sn_state_save(c); /* a restart finds it asleep */
    sn_gw_client_arm(c);
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s asleep for %u s", c->id,
               sn_gw_peer_str(c->gw, &c->peer), c->sleep_s);
    }
    (void)sn_cl_send_msg(c, &(struct sn_msg){.type = SN_DISCONNECT});
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
            sn_cl_on_willtopic(c, &m->u.will_topic);
            return;
        }
        break;
    case SN_CL_WILL_MSG:
        if (m->type == SN_WILLMSG) {
            sn_cl_on_willmsg(c, m->u.will_msg);
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
