/* svc_publish.c - the session service: publish and release. Authorisation
 * ($SYS rule, ACL, the door of a sender without a session), QoS 2
 * de-duplication, Receive Maximum, routing, and the durability outcome
 * that tells a front-end when (and whether) it may acknowledge. See svc.h. */
#include "svc.h"

#include "auth.h"
#include "broker.h"
#include "gw_err.h"
#include "log.h"

#include <string.h>

/* Who may publish topic: not $SYS [MQTT-4.7.2-1], the ACL, and for a
 * sender without a session (MQTT-SN QoS -1) the door it came through. */
static enum svc_verdict may_publish(const struct broker *b, const struct sess *from,
                                    const struct svc_door *door, const struct svc_publish *p)
{
    if (!from) {
        /* No client id, no identity: only a door open to anonymous
         * senders that lists no client ids admits it, and no ACL (its
         * rules name clients this sender cannot be matched against). */
        if (!door || !door->allow_anonymous || door->id_allowed) {
            return SVC_NOT_AUTHORISED;
        }
    }
    if (p->retain && !b->cfg->retain_available) {
        return SVC_NO_RETAIN;
    }
    if (p->topic.n >= 4 && memcmp(p->topic.p, "$SYS", 4) == 0 &&
        !(from && from->bridge_peer &&
          svc_bridge_notification((struct gw_bytes){(const uint8_t *)from->id, from->id_len},
                                  p->topic))) {
        return SVC_NOT_AUTHORISED;
    }
    const struct auth *au = b->auth;
    if (au && auth_has_acl(au) &&
        (!from || !auth_acl_check(au, from->id, from->username, p->topic, AUTH_WRITE))) {
        return SVC_NOT_AUTHORISED;
    }
    uint32_t lim = b->cfg->message_size_limit;
    if (lim && p->payload.n > lim) {
        return SVC_TOO_LARGE;
    }
    return SVC_OK;
}

static void log_refusal(const struct sess *from, const struct svc_publish *p, enum svc_verdict v)
{
    char esc[128];
    gw_log(v == SVC_NOT_AUTHORISED ? GW_DEBUG : GW_NOTICE, "svc",
           "client=\"%s\" publish to \"%s\" refused: %s", from ? from->id : "(none)",
           gw_log_escape(esc, sizeof(esc), (const char *)p->topic.p, p->topic.n),
           svc_verdict_name(v));
}

/* QoS 2 exactly-once state [MQTT-4.3.3-2]: a resend of an id awaiting
 * PUBREL is acknowledged again but not routed again. */
static enum svc_verdict qos2_begin(struct sess *from, uint16_t pid, struct svc_outcome *out)
{
    if (sess_in_qos2_has(from, pid)) {
        out->duplicate = true;
        return SVC_OK;
    }
    if (from->recv_max_in && from->n_in_qos2 >= from->recv_max_in) {
        return SVC_RECV_MAX; /* MQTT 5.0 section 3.3.4: DISCONNECT 0x93 */
    }
    int err;
    (void)sess_in_qos2_begin(from, pid, &err);
    if (err < 0) {
        return SVC_NO_MEMORY;
    }
    out->pending = from->pops != NULL; /* the id is on disk before PUBREC */
    return SVC_OK;
}

enum svc_verdict svc_publish(struct broker *b, struct sess *from, const struct svc_door *door,
                             const struct svc_publish *p, struct svc_outcome *out)
{
    memset(out, 0, sizeof(*out));
    enum svc_verdict v = may_publish(b, from, door, p);
    if (v != SVC_OK) {
        b->st.pub_dropped++;
        log_refusal(from, p, v);
        return v;
    }
    bool qos2 = p->qos == 2 && from;
    bool frees = p->retain && p->payload.n == 0; /* deletes a retained message */
    if (!frees && broker_memory_full(b) && !(qos2 && sess_in_qos2_has(from, p->packet_id))) {
        /* Not kept: QoS 0 is dropped, QoS 1/2 not acknowledged (the
         * client keeps it and sends it again). A resend awaiting PUBREL
         * costs nothing and is acknowledged as before; deleting a
         * retained message gives memory back, so it is let through. */
        b->st.memory_refused++;
        b->st.pub_dropped += p->qos == 0;
        return SVC_BUSY;
    }
    if (qos2) {
        v = qos2_begin(from, p->packet_id, out);
        if (v != SVC_OK || out->duplicate) {
            return v;
        }
    }
    struct msg *m = msg_create(p->topic, p->payload, p->props, p->qos, p->retain);
    if (!m) {
        if (qos2) {
            (void)sess_in_qos2_release(from, p->packet_id);
        }
        return SVC_NO_MEMORY;
    }
    if (p->expiry_s) {
        m->expiry_ms = loop_now_ms(b->loop) + (uint64_t)p->expiry_s * 1000u;
    }
    unsigned dlv = 0;
    size_t n = broker_route(b, m, from, &dlv);
    msg_unref(m);
    if (dlv & SESS_DLV_NOMEM) {
        /* Somebody did not get it: no acknowledgement, the publisher sends
         * it again (the others may see it twice). */
        if (qos2) {
            (void)sess_in_qos2_release(from, p->packet_id);
        }
        return SVC_NO_MEMORY;
    }
    if (dlv & SESS_DLV_REFUSED) {
        /* A durable destination could not keep it: the publisher keeps it
         * and sends it again; the QoS 2 id is forgotten so that the resend
         * is routed (the others may see it twice: at least once beats
         * lost). */
        if (qos2) {
            (void)sess_in_qos2_release(from, p->packet_id);
        }
        gw_log(GW_WARN, "svc", "client=\"%s\" pid=%u not acknowledged: store quota reached",
               from ? from->id : "(none)", p->packet_id);
        return SVC_QUOTA;
    }
    out->no_subscribers = n == 0 && !p->retain;
    out->pending = out->pending || (dlv & SESS_DLV_STORED);
    return SVC_OK;
}

void svc_publish_msg(struct broker *b, struct msg *m, const struct sess *origin,
                     struct svc_outcome *out)
{
    unsigned dlv = 0;
    size_t n = broker_route(b, m, origin, &dlv);
    if (out) {
        memset(out, 0, sizeof(*out));
        out->no_subscribers = n == 0 && !m->retain;
        out->pending = (dlv & SESS_DLV_STORED) != 0;
    }
}

void svc_release(struct broker *b, struct sess *s, uint16_t pid, bool *pending)
{
    (void)b;
    /* [MQTT-4.3.3-1] Method B: forget the id. A durable session forgets it
     * on disk before PUBCOMP, or a restart would take the client's next
     * message with that id for a duplicate. */
    *pending = sess_in_qos2_release(s, pid) == 0 && s->pops != NULL;
}
