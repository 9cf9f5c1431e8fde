/* svc_open.c - the session service: open, attach and disconnect a session,
 * and the identity rule that binds a session to who created it; wills
 * checked like a PUBLISH. See svc.h. */
#include "svc.h"

#include "alloc.h"
#include "auth.h"
#include "broker.h"
#include "gw_err.h"
#include "log.h"
#include "persist.h"
#include "topic.h"

#include <string.h>

const char *svc_verdict_name(enum svc_verdict v)
{
    switch (v) {
    case SVC_OK:
        return "ok";
    case SVC_NOT_AUTHORISED:
        return "not authorised";
    case SVC_ID_TAKEN:
        return "client id belongs to another identity";
    case SVC_ID_RESERVED:
        return "client id belongs to a bridge";
    case SVC_INVALID:
        return "topic not valid";
    case SVC_QUOTA:
        return "store quota reached";
    case SVC_TOO_LARGE:
        return "over message_size_limit";
    case SVC_NO_RETAIN:
        return "retain not available";
    case SVC_RECV_MAX:
        return "Receive Maximum exceeded";
    case SVC_NO_MEMORY:
        return "out of memory";
    case SVC_LIMIT:
        return "per-client limit reached";
    case SVC_BUSY:
        return "memory_limit reached";
    }
    return "?";
}

/* Both anonymous, or the same verified username. */
static bool same_identity(const struct sess *s, const char *username)
{
    if (!s->username || !username) {
        return s->username == username;
    }
    return strcmp(s->username, username) == 0;
}

static enum svc_verdict check_door(const struct svc_door *door, const char *username,
                                   struct gw_bytes id)
{
    if (!door) {
        return SVC_OK;
    }
    /* Security decisions start from deny. */
    bool allowed = false;
    if (username || door->allow_anonymous) {
        allowed = !door->id_allowed || door->id_allowed(door->id_arg, id);
    }
    return allowed ? SVC_OK : SVC_NOT_AUTHORISED;
}

bool svc_bridge_notification(struct gw_bytes client_id, struct gw_bytes topic)
{
    static const char pfx[] = "$SYS/broker/connection/";
    static const char sfx[] = "/state";
    size_t np = sizeof(pfx) - 1;
    size_t ns = sizeof(sfx) - 1;
    return topic.n == np + client_id.n + ns && memcmp(topic.p, pfx, np) == 0 &&
           memcmp(topic.p + np, client_id.p, client_id.n) == 0 &&
           memcmp(topic.p + np + client_id.n, sfx, ns) == 0;
}

static enum svc_verdict will_check(const struct broker *b, struct gw_bytes client_id,
                                   const char *username, struct gw_bytes topic, bool retain,
                                   bool bridge)
{
    if (!topic_name_valid(topic)) {
        return SVC_INVALID;
    }
    if (retain && !b->cfg->retain_available) {
        return SVC_NO_RETAIN;
    }
    if (topic.n >= 1 && topic.p[0] == '$' &&
        !(bridge && svc_bridge_notification(client_id, topic))) {
        return SVC_NOT_AUTHORISED; /* $SYS and the like are the broker's [MQTT-4.7.2-1] */
    }
    const struct auth *au = b->auth;
    if (au && auth_has_acl(au)) {
        char id[256];
        size_t n = client_id.n < sizeof(id) - 1 ? client_id.n : sizeof(id) - 1;
        memcpy(id, client_id.p, n);
        id[n] = '\0';
        if (!auth_acl_check(au, id, username, topic, AUTH_WRITE)) {
            return SVC_NOT_AUTHORISED;
        }
    }
    return SVC_OK;
}

enum svc_verdict svc_will_check(const struct broker *b, const struct sess *s,
                                struct gw_bytes topic, bool retain)
{
    return will_check(b, (struct gw_bytes){(const uint8_t *)s->id, s->id_len}, s->username, topic,
                      retain, s->bridge_peer);
}

enum svc_verdict svc_will_set(struct broker *b, struct sess *s, struct msg *m)
{
    if (m) {
        enum svc_verdict v = svc_will_check(b, s, msg_topic(m), m->retain);
        if (v != SVC_OK) {
            gw_log(GW_NOTICE, "svc", "client=\"%s\" will on \"%s\" refused: %s", s->id, m->topic,
                   svc_verdict_name(v));
            msg_unref(m);
            return v;
        }
    }
    sess_set_will(s, m);
    return SVC_OK;
}

/* The connection holding s is replaced by a new one of the same identity
 * [MQTT-3.1.4-2], whatever its protocol: its link's kick closes it. */
static void take_over(struct broker *b, struct sess *s)
{
    void *link = s->link;
    const struct sess_link_ops *ops = s->ops;
    gw_log(GW_NOTICE, "svc", "client=\"%s\" taken over by a new connection", s->id);
    b->n_clients--;
    sess_detach(s);
    ops->kick(link, GW_E_TAKEOVER);
    /* What it holds in flight goes to the new connection: no share
     * release here. */
    broker_publish_will(b, s);
}

/* The session of id, unless it expired while offline: an expired session
 * is gone, even if the expiry timer has not run yet [MQTT-3.2.2-3]. */
static struct sess *live_session(struct broker *b, struct gw_bytes id)
{
    struct sess *s = sess_table_get(&b->sessions, id);
    if (s && !s->link && s->expire_at_ms && s->expire_at_ms <= loop_now_ms(b->loop)) {
        gw_log(GW_NOTICE, "svc", "client=\"%s\" session expired", s->id);
        broker_reap_session(b, s);
        s = NULL;
    }
    return s;
}

static enum svc_verdict admit(struct broker *b, const struct svc_connect *c)
{
    if (broker_memory_full(b)) {
        b->st.memory_refused++;
        return SVC_BUSY; /* a new session costs memory the broker has not got */
    }
    enum svc_verdict v = check_door(c->door, c->username, c->client_id);
    if (v != SVC_OK) {
        return v;
    }
    if (broker_id_reserved(b, c->client_id)) {
        return SVC_ID_RESERVED; /* a bridge's local session: nobody takes it over */
    }
    if (c->will) {
        v = will_check(b, c->client_id, c->username, msg_topic(c->will), c->will->retain,
                       c->bridge);
    }
    return v;
}

enum svc_verdict svc_open(struct broker *b, struct svc_connect *c, struct sess **out,
                          bool *present)
{
    struct msg *will = c->will;
    enum svc_verdict v = admit(b, c);
    struct sess *s = v == SVC_OK ? live_session(b, c->client_id) : NULL;
    if (s && !same_identity(s, c->username) && !s->identity_unknown) {
        /* The owner's connection and queue stay as they are. */
        v = SVC_ID_TAKEN;
    }
    /* Allocate before anything changes: a failure leaves every session as
     * it was (an owner-less session would go to the next anonymous
     * client). */
    char *uname = NULL;
    if (v == SVC_OK && c->username && !(uname = gw_strdup(c->username))) {
        v = SVC_NO_MEMORY;
    }
    if (v != SVC_OK) {
        msg_unref(will);
        return v;
    }
    *present = false;
    /* A clean start, or a session that was clean itself (it ends with its
     * connection), is not resumed [MQTT-3.1.2-6] [MQTT-3.1.2-4]. */
    bool fresh = !s || c->clean || s->clean;
    struct sess *ns = NULL;
    if (fresh) {
        /* The new session exists before the old one is touched: running
         * out of memory here leaves the owner connected, its session as
         * it was. */
        ns = sess_create(c->client_id, !c->persistent, &b->lim, &b->scnt);
        if (!ns) {
            gw_free(uname);
            msg_unref(will);
            return SVC_NO_MEMORY;
        }
    }
    if (s && s->link) {
        take_over(b, s);
    }
    if (fresh) {
        if (s) {
            broker_reap_session(b, s);
        }
        s = ns;
        sess_table_add(&b->sessions, s);
    } else {
        *present = true; /* [MQTT-3.2.2-2] */
        s->clean = !c->persistent;
        s->expire_at_ms = 0;
        broker_expiry_disarm(b, s);
    }
    if (s->identity_unknown || !s->username != !c->username) {
        /* New, or a record from before identities were stored: claimed by
         * the first identity that opens it. */
        gw_free(s->username);
        s->username = uname;
        uname = NULL;
        s->identity_unknown = false;
    }
    gw_free(uname);
    /* [MQTT-3.1.3-9]: a delayed will of the previous connection is not
     * sent when the session is resumed in time. */
    broker_cancel_delayed_will(b, s);
    sess_set_will(s, will);
    s->will_delay_s = c->will_delay_s;
    s->expiry_s = c->expiry_s;
    s->recv_max = c->recv_max; /* [MQTT-3.3.4-9] */
    s->recv_max_in = c->recv_max_in;
    s->bridge_peer = c->bridge;
    s->provisional = false; /* the front-end says so again if its peer is unproven */
    if (persist_session_connected(b, s, c->protocol) < 0 && !*present) {
        /* No record: its queue would outlive it on disk as an orphan. */
        sess_set_will(s, NULL);
        broker_reap_session(b, s);
        return SVC_NO_MEMORY;
    }
    b->n_clients++;
    if (b->n_clients > b->st.clients_maximum) {
        b->st.clients_maximum = b->n_clients;
    }
    *out = s;
    return SVC_OK;
}

int svc_attach(struct broker *b, struct sess *s, const struct sess_link_ops *ops, void *link)
{
    (void)b;
    return sess_attach(s, ops, link);
}

void svc_discard(struct broker *b, struct sess *s)
{
    if (s->link || s->reaped) {
        return;
    }
    broker_reap_session(b, s);
}

void svc_disconnect(struct broker *b, struct sess *s, bool clean, bool shutdown)
{
    b->n_clients--;
    sess_detach(s);
    if (!shutdown) {
        broker_share_release(b, s); /* what it held for a group goes on */
    }
    /* [MQTT-3.1.2-8]: the will goes out when the connection ends without
     * DISCONNECT: keepalive expiry, I/O error, protocol error. */
    if (!clean) {
        broker_publish_will(b, s);
    } else {
        sess_set_will(s, NULL);
    }
    if (s->clean) {
        broker_reap_session(b, s); /* [MQTT-3.1.2-6] */
        return;
    }
    uint32_t exp = b->cfg->persistent_client_expiration_s;
    if (s->expiry_s && s->expiry_s != 0xFFFFFFFFu) {
        exp = s->expiry_s; /* MQTT 5 Session Expiry Interval */
    }
    s->expire_at_ms = exp ? loop_now_ms(b->loop) + (uint64_t)exp * 1000u : 0;
    broker_expiry_arm(b, s);
    persist_session_disconnected(b, s);
}
