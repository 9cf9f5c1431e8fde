/* sn_client_connect.c - an MQTT-SN client's session: CONNECT, the will
 * flow and CONNACK (section 6.3), and a sleeping client's return after a
 * restart (sn_client_restore), both through the session service's
 * svc_open, which decides identity, authorisation and durability. Section
 * numbers are MQTT-SN 1.2. */
#include "alloc.h"
#include "log.h"
#include "sn_client_priv.h"

#include <stdio.h>
#include <string.h>

/* ---- CONNECT, will flow, CONNACK (§6.3) ---- */

static void refuse(struct sn_client *c, uint8_t rc, const char *why)
{
    gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s refused: %s (CONNACK %s)", c->id,
           sn_gw_peer_str(c->gw, &c->peer), why, sn_rc_name(rc));
    c->gw->b->st.connections_refused++;
    (void)sn_cl_send_rc(c, SN_CONNACK, rc);
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
    sn_cl_set_state(c, SN_CL_ACTIVE);
    b->st.connections_accepted++;
    sn_gw_client_arm(c);
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s awake: CONNECT (mqttsn, k%u%s)", c->id,
               sn_gw_peer_str(c->gw, &c->peer), c->duration_s, has_will ? ", w" : "");
    }
    (void)sn_cl_send_rc(c, SN_CONNACK, SN_RC_ACCEPTED);
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
    sn_cl_set_state(c, SN_CL_ACTIVE);
    b->st.connections_accepted++;
    sn_gw_client_arm(c);
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn",
               "new client connected from %s as \"%s\" (mqttsn, c%u, k%u%s%s%s)",
               sn_gw_peer_str(c->gw, &c->peer), c->id, c->clean ? 1 : 0, c->duration_s,
               has_will ? ", w" : "", c->identity ? ", u" : "", present ? ", resumed" : "");
    }
    (void)sn_cl_send_rc(c, SN_CONNACK, SN_RC_ACCEPTED);
    (void)svc_attach(b, s, &sn_link_ops, c);
}

/* The checks of a CONNECT, then the will flow or CONNACK. */
static void connect_checks(struct sn_gw *gw, struct sn_client *c, const struct sn_connect *cp)
{
    struct broker *b = gw->b;
    sn_cl_set_state(c, SN_CL_WILL_TOPIC);
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
        (void)sn_cl_send_rc(c, SN_WILLTOPICREQ, 0); /* §6.3: ask for the will topic */
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

void sn_cl_on_willtopic(struct sn_client *c, const struct sn_will_topic *wt)
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
    sn_cl_set_state(c, SN_CL_WILL_MSG);
    (void)sn_cl_send_rc(c, SN_WILLMSGREQ, 0);
}

void sn_cl_on_willmsg(struct sn_client *c, struct gw_bytes payload)
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
    sn_cl_set_state(c, SN_CL_ASLEEP);
    sn_gw_client_arm(c);
    gw_log(GW_NOTICE, "mqttsn",
           "client=\"%s\" peer=%s asleep before the restart: back with %u topic ids (mqttsn)",
           c->id, sn_gw_peer_str(gw, peer), c->topics.n);
    (void)svc_attach(b, s, &sn_link_ops, c); /* asleep: everything goes to the buffer */
    return c;
}
