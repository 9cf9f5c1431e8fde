/* mqtt_proto.c - MQTT 3.1 / 3.1.1 protocol rules for one connection.
 *
 * Turns decoded packets into session and router calls, and session
 * deliveries into PUBLISH packets. Rules of the codec (byte layout) live in
 * mqtt_codec.c; rules of state (what may come when) live here. */
#include "mqtt_proto.h"

#include "mqtt_ack.h"
#include "mqtt_auth.h"
#include "mqtt_props.h"
#include "mqtt_proto_priv.h"
#include "mqtt_v5.h"

#include "alloc.h"
#include "auth.h"
#include "auth_backoff.h"
#include "auth_worker.h"
#include "broker.h"
#include "conn.h"
#include "gw_err.h"
#include "log.h"
#include "persist.h"
#include "lsn.h"
#include "stream.h"
#include "svc.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Payloads at least this big are queued by reference to the shared message;
 * smaller ones are cheaper to copy next to their header. */
#define PROTO_REF_PAYLOAD 1024u
#define MQTT31_MAX_CLIENT_ID 23u /* MQTT 3.1 section 3.1 */

int mqtt_proto_send_pkt(struct conn *c, const struct mqtt_pkt *pkt)
{
    size_t n = mqtt_encoded_size(pkt, c->version);
    uint8_t *p = conn_reserve(c, n);
    if (!p) {
        return GW_E_CLOSED;
    }
    (void)mqtt_encode(p, n, pkt, c->version);
    c->b->st.msgs_sent++;
    return 0;
}

static int send_ack_rc(struct conn *c, enum mqtt_type type, uint16_t pid, uint8_t rc,
                       const char *why)
{
    struct mqtt_pkt pkt = {.type = type};
    pkt.u.ack.packet_id = pid;
    if (c->version == MQTT_V5) {
        pkt.u.ack.rc = rc; /* the encoder omits a success code [MQTT-3.4.2-1] */
        if (rc >= MQTT_RC_UNSPECIFIED) {
            return v5_send_explained(c, &pkt, gw_bytes_str(why ? why : mqtt_rc_name(rc)));
        }
    }
    return mqtt_proto_send_pkt(c, &pkt);
}

static int send_ack(struct conn *c, enum mqtt_type type, uint16_t pid)
{
    return send_ack_rc(c, type, pid, 0, NULL);
}

int mqtt_proto_send_ack(struct conn *c, uint8_t type, uint16_t pid, uint8_t rc, const char *why)
{
    return send_ack_rc(c, (enum mqtt_type)type, pid, rc, why);
}

static int send_connack(struct conn *c, uint8_t rc, bool session_present)
{
    struct mqtt_pkt pkt = {.type = MQTT_CONNACK};
    pkt.u.connack.rc = rc;
    pkt.u.connack.session_present = session_present;
    return mqtt_proto_send_pkt(c, &pkt);
}

/* ---- session link: deliveries become PUBLISH packets ---- */

static void release_msg(void *arg)
{
    msg_unref(arg);
}

static int send_publish_v3(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                           bool retain);

int mqtt_proto_send_publish_now(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                                bool retain, struct sess_tag *tag)
{
    if (c->version == MQTT_V5) {
        return v5_send_publish(c, m, qos, pid, dup, retain, tag);
    }
    /* 3.1.1 has no Subscription Identifiers: the tag stays unused. */
    return send_publish_v3(c, m, qos, pid, dup, retain);
}

static int send_publish_v3(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                           bool retain)
{
    uint32_t rl = 2u + m->topic_len + (qos ? 2u : 0u) + m->payload_len;
    size_t hdr = 1 + mqtt_varint_size(rl) + 2 + m->topic_len + (qos ? 2u : 0u);
    bool by_ref = m->payload_len >= PROTO_REF_PAYLOAD;
    uint8_t *p = conn_reserve(c, hdr + (by_ref ? 0 : m->payload_len));
    if (!p) {
        return GW_E_CLOSED;
    }
    *p++ = (uint8_t)(0x30u | (dup ? 0x08u : 0u) | (unsigned)(qos << 1) | (retain ? 1u : 0u));
    p += mqtt_varint_encode(p, rl);
    gw_put_be16(p, m->topic_len);
    memcpy(p + 2, m->topic, m->topic_len);
    p += 2 + m->topic_len;
    if (qos) {
        gw_put_be16(p, pid);
        p += 2;
    }
    c->b->st.msgs_sent++;
    c->b->st.pub_msgs_sent++;
    c->b->st.pub_bytes_sent += m->payload_len;
    broker_flow_count(c->b, BROKER_PROTO_MQTT, true, qos, m->payload_len);
    if (!by_ref) {
        if (m->payload_len) {
            memcpy(p, m->payload, m->payload_len);
        }
        return 0;
    }
    return conn_send_ref(c, m->payload, m->payload_len, release_msg, msg_ref(m));
}

static int link_send_publish_tag(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                                 bool retain, struct sess_tag *tag)
{
    struct conn *c = link;
    if (mqtt_ack_must_wait(c, qos)) {
        return mqtt_ack_defer_publish(c, m, qos, pid, dup, retain, tag);
    }
    return mqtt_proto_send_publish_now(c, m, qos, pid, dup, retain, tag);
}

static int link_send_publish(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                             bool retain)
{
    return link_send_publish_tag(link, m, qos, pid, dup, retain, NULL);
}

static int link_send_pubrel(void *link, uint16_t pid)
{
    /* PUBREL says the broker moved to "waiting for PUBCOMP": on disk
     * first, or a restart would send the PUBLISH again after the client
     * forgot its id (a duplicate). */
    struct conn *c = link;
    bool durable = c->sess && c->sess->pops;
    return mqtt_ack_send(c, MQTT_PUBREL, pid, 0, NULL, durable);
}

static bool link_writable(void *link)
{
    return conn_writable(link);
}

static void link_kick(void *link, int reason)
{
    struct conn *c = link;
    c->sess = NULL; /* the session now belongs to the new connection */
    conn_close_later(c, reason);
}

const struct sess_link_ops mqtt_link_ops = {
        .send_publish = link_send_publish,
        .send_publish_tag = link_send_publish_tag,
        .send_pubrel = link_send_pubrel,
        .writable = link_writable,
        .kick = link_kick,
};

/* ---- CONNECT ---- */

static int refuse(struct conn *c, uint8_t rc, const char *why)
{
    gw_log(GW_NOTICE, "mqtt", "peer=%s refused: %s (CONNACK %u)", conn_peer(c), why, rc);
    c->b->st.connections_refused++;
    if (c->version == MQTT_V5) {
        (void)v5_send_connack(c, v5_connack_rc(rc), false, NULL, 0);
    } else {
        (void)send_connack(c, rc, false);
    }
    return GW_E_REFUSED;
}

static int make_client_id(struct conn *c, const struct mqtt_connect *cp, char *buf, size_t cap,
                          struct gw_bytes *id)
{
    if (cp->client_id.n > 0) {
        *id = cp->client_id;
        return 0;
    }
    /* [MQTT-3.1.3-8]: a zero-byte id needs CleanSession 1. */
    if (!cp->clean) {
        return refuse(c, MQTT_CONNACK_ID_REJECTED, "empty client id with clean session 0");
    }
    if (!c->b->cfg->allow_zero_length_clientid || c->version == MQTT_V31) {
        return refuse(c, MQTT_CONNACK_ID_REJECTED, "empty client id not allowed");
    }
    /* [MQTT-3.1.3-6]: assign a unique id. */
    int n = snprintf(buf, cap, "%s%llx-%llx", c->b->cfg->auto_id_prefix,
                     (unsigned long long)c->b->start_ms,
                     (unsigned long long)++c->b->auto_id_seq);
    id->p = (const uint8_t *)buf;
    id->n = (size_t)n < cap ? (size_t)n : cap - 1;
    return 0;
}

/* ---- the password check, off the loop (auth_worker.h) ---- */

static void on_pw_checked(void *arg, bool ok)
{
    struct conn *c = arg;
    c->pw_req = NULL;
    c->pw_state = ok ? CONN_PW_OK : CONN_PW_BAD;
    conn_release_input(c); /* the held CONNECT again, with the answer */
}

#define MQTT_PW_PENDING 2 /* check_connect: a password check runs, input held */

/* 0: verified. MQTT_PW_PENDING: submitted, input held (the CONNECT is
 * handled again when the answer is in). Otherwise the refusal's error. */
static int check_password(struct conn *c, const struct mqtt_connect *cp)
{
    struct broker *b = c->b;
    uint64_t now = loop_now_ms(b->loop);
    uint8_t st = c->pw_state;
    c->pw_state = CONN_PW_NONE;
    if (st == CONN_PW_OK) {
        auth_backoff_succeeded(b->pw_backoff, c->peer_addr);
        return 0;
    }
    if (st == CONN_PW_BAD || !cp->has_password) {
        uint64_t wait = auth_backoff_failed(b->pw_backoff, c->peer_addr, now);
        if (wait) {
            gw_log(GW_NOTICE, "auth", "peer=%s: failed logins, next try allowed in %llu ms",
                   conn_peer(c), (unsigned long long)wait);
        }
        return refuse(c, MQTT_CONNACK_BAD_CREDENTIALS, "bad username or password");
    }
    uint64_t retry;
    if (auth_backoff_blocked(b->pw_backoff, c->peer_addr, now, &retry)) {
        /* Refused without a check: guessing costs the guesser time and
         * Tern nothing (not logged: the failure that started it was). */
        c->b->st.connections_refused++;
        if (c->version == MQTT_V5) {
            (void)v5_send_connack(c, MQTT_RC_BAD_USERNAME_PASSWORD, false, NULL, 0);
        } else {
            (void)send_connack(c, MQTT_CONNACK_BAD_CREDENTIALS, false);
        }
        return GW_E_REFUSED;
    }
    struct auth_pw_job *job = auth_pw_job_prepare(b->auth, cp->username, cp->password);
    if (!job) {
        return -ENOMEM;
    }
    int err;
    c->pw_req = auth_worker_submit(b->pw_worker, job, on_pw_checked, c, &err);
    if (!c->pw_req) {
        if (err != -EBUSY) {
            return err;
        }
        if (!b->pw_busy_episode) {
            b->pw_busy_episode = true;
            gw_log(GW_WARN, "auth",
                   "auth_max_pending (%u) password checks waiting: refusing more CONNECTs "
                   "with a password (server unavailable) until they drain",
                   b->cfg->auth_max_pending);
        }
        return refuse(c, MQTT_CONNACK_UNAVAILABLE, "password checks busy");
    }
    if (b->pw_busy_episode && auth_worker_pending(b->pw_worker) * 2 <= b->cfg->auth_max_pending) {
        b->pw_busy_episode = false;
        gw_log(GW_NOTICE, "auth", "password checks below auth_max_pending again");
    }
    c->pw_state = CONN_PW_PENDING;
    conn_hold_input(c);
    return MQTT_PW_PENDING;
}

static int check_connect(struct conn *c, const struct mqtt_connect *cp)
{
    const struct gw_config *cfg = c->b->cfg;
    uint8_t level = cp->version;
    if (mqtt_bridge_level(level)) {
        /* mosquitto's bridge levels (0x83, 0x84, try_private): the client
         * is a bridge and gets none of its own messages back. */
        c->bridge_client = true;
        level &= 0x7fu;
    }
    if (level != MQTT_V31 && level != MQTT_V311 && level != MQTT_V5) {
        /* [MQTT-3.1.2-2]: unsupported level gets CONNACK 0x01, then close. */
        c->version = MQTT_V311;
        return refuse(c, MQTT_CONNACK_BAD_VERSION, "unsupported protocol level");
    }
    c->version = level;
    if (cp->version == MQTT_V5) {
        int rc5 = v5_on_connect(c, cp);
        if (rc5 < 0) {
            return rc5;
        }
        if (rc5 > 0) {
            gw_log(GW_NOTICE, "mqtt", "peer=%s refused: %s (CONNACK 0x%02x)", conn_peer(c),
                   mqtt_rc_name((uint8_t)rc5), (unsigned)rc5);
            c->b->st.connections_refused++;
            (void)v5_send_connack(c, (uint8_t)rc5, false, NULL, 0);
            return GW_E_REFUSED;
        }
    }
    /* [MQTT-3.1.2-1] [MQTT-3.1.2-2]: the name must go with the level. */
    struct gw_bytes want = gw_bytes_str(level == MQTT_V31 ? "MQIsdp" : "MQTT");
    if (!gw_bytes_eq(cp->proto_name, want)) {
        return refuse(c, MQTT_CONNACK_BAD_VERSION, "protocol name does not match its level");
    }
    if (level == MQTT_V31 && cp->client_id.n > MQTT31_MAX_CLIENT_ID) {
        return refuse(c, MQTT_CONNACK_ID_REJECTED, "MQTT 3.1 client id over 23 bytes");
    }
    if (cfg->max_keepalive && cp->keepalive_s > cfg->max_keepalive && c->version != MQTT_V5) {
        /* 3.1.1 cannot tell the client a server keepalive: refuse, as
         * mosquitto does. */
        return refuse(c, MQTT_CONNACK_ID_REJECTED, "keepalive over max_keepalive");
    }
    if (c->v5 && c->v5->auth_requested && !c->v5->auth_done) {
        int arc = mqtt_auth_connect(c, cp); /* MQTT 5 enhanced authentication */
        if (arc != 0) {
            return arc;
        }
    }
    /* Authentication: a password checked against the password_file, or an
     * MQTT 5 method. A username nothing verified is no identity (svc.h):
     * the client is anonymous, and the listener's door decides. */
    /* TLS: a verified identity (PSK identity, certificate CN or subject)
     * is the username, and the client's own username and password are
     * ignored (mosquitto: use_identity_as_username / _subject_). A
     * listener that wants a certificate identity refuses a client without
     * one. */
    const struct cfg_tls *tls = &c->lsn->cfg->tls;
    const char *ident = stream_identity(c->stream);
    if (!ident && (tls->use_identity_as_username || tls->use_subject_as_username)) {
        return refuse(c, MQTT_CONNACK_BAD_CREDENTIALS, "no client certificate identity");
    }
    const struct auth *au = c->b->auth;
    if (!ident && !(c->v5 && c->v5->auth_done) && cp->has_username && au &&
        auth_has_passwords(au)) {
        int prc = check_password(c, cp);
        if (prc != 0) {
            return prc;
        }
        c->verified = true;
    }
    if (cp->will) {
        struct gw_bytes wt = cp->will_topic;
        if (!topic_name_valid(wt)) {
            gw_log(GW_NOTICE, "mqtt", "peer=%s closing: invalid will topic", conn_peer(c));
            return GW_E_MALFORMED;
        }
    }
    return 0;
}

/* v5 will properties travel with the will (content type, response topic,
 * user properties ...), except the Will Delay Interval, returned in
 * *delay_s. */
static struct msg *make_will(const struct mqtt_connect *cp, uint32_t *delay_s)
{
    uint8_t *buf = gw_alloc(cp->will_props.n + 1);
    if (!buf) {
        return NULL;
    }
    struct gw_bytes props = {NULL, 0};
    *delay_s = v5_will_props(cp->will_props, buf, cp->will_props.n + 1, &props);
    struct msg *m =
            msg_create(cp->will_topic, cp->will_payload, props, cp->will_qos, cp->will_retain);
    gw_free(buf);
    return m;
}

static void count_client(struct conn *c)
{
    c->state = CONN_ST_ACTIVE;
    c->is_client = true;
}

/* The identity the client proved, for svc_open: NULL = anonymous. The
 * copy lives in idbuf-like storage the caller owns (cap bytes). */
static const char *verified_user(const struct conn *c, const struct mqtt_connect *cp, char *buf,
                                 size_t cap)
{
    const char *ident = stream_identity(c->stream);
    if (ident) {
        return ident; /* lives as long as the connection's stream */
    }
    if (c->v5 && c->v5->auth_done) {
        return c->v5->auth_user;
    }
    if (!c->verified || cp->username.n >= cap) {
        return NULL;
    }
    memcpy(buf, cp->username.p, cp->username.n);
    buf[cp->username.n] = '\0';
    return buf;
}

/* A verdict of svc_open as the CONNACK says it. Returns the error that
 * closes the connection. */
static int refuse_open(struct conn *c, enum svc_verdict v)
{
    switch (v) {
    case SVC_ID_RESERVED:
        return refuse(c, MQTT_CONNACK_ID_REJECTED, svc_verdict_name(v));
    case SVC_INVALID:
        gw_log(GW_NOTICE, "mqtt", "peer=%s closing: invalid will topic", conn_peer(c));
        return GW_E_MALFORMED;
    case SVC_NO_MEMORY:
        return -ENOMEM;
    case SVC_BUSY:
        return refuse(c, MQTT_CONNACK_UNAVAILABLE, svc_verdict_name(v));
    default:
        /* not authorised, another identity's client id, a forbidden or
         * retained will: 3.1.1 return code 5, MQTT 5 0x87. */
        return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, svc_verdict_name(v));
    }
}

static int on_connect(struct conn *c, const struct mqtt_connect *cp)
{
    char idbuf[96];
    struct gw_bytes id;
    int rc = check_connect(c, cp);
    if (rc == MQTT_AUTH_STARTED || rc == MQTT_PW_PENDING) {
        return 0; /* CONNACK comes when the AUTH exchange / the password check ends */
    }
    if (rc == 0) {
        rc = make_client_id(c, cp, idbuf, sizeof(idbuf), &id);
    }
    if (rc < 0) {
        return rc;
    }
    bool v5 = c->version == MQTT_V5;
    struct msg *will = NULL;
    uint32_t will_delay_s = 0;
    if (cp->will && !(will = make_will(cp, &will_delay_s))) {
        return -ENOMEM;
    }
    char ubuf[256];
    struct svc_door door = {.allow_anonymous = c->lsn->allow_anonymous};
    struct svc_connect sc = {
            .client_id = id,
            .username = verified_user(c, cp, ubuf, sizeof(ubuf)),
            .door = &door,
            .clean = cp->clean,
            .persistent = v5 ? c->v5->session_expiry_s > 0 : !cp->clean,
            .expiry_s = v5 ? c->v5->session_expiry_s : 0,
            .protocol = c->version,
            .recv_max = v5 ? c->v5->recv_max_out : 0,
            .recv_max_in = v5 ? v5_recv_max(c->b) : 0,
            .will = will,
            .will_delay_s = will_delay_s,
            .bridge = c->bridge_client,
    };
    bool present;
    struct sess *s;
    enum svc_verdict verdict = svc_open(c->b, &sc, &s, &present);
    if (verdict != SVC_OK) {
        return refuse_open(c, verdict);
    }
    c->sess = s;
    c->keepalive_s = cp->keepalive_s;
    uint16_t server_keepalive = 0;
    uint16_t max_ka = c->b->cfg->max_keepalive;
    if (v5 && max_ka && (c->keepalive_s > max_ka || c->keepalive_s == 0)) {
        /* [MQTT-3.2.2-21]: the client must use the Server Keep Alive. */
        c->keepalive_s = server_keepalive = max_ka;
    }
    count_client(c);
    loop_timer_stop(c->b->loop, &c->timer);
    if (c->keepalive_s) {
        (void)loop_timer_start(c->b->loop, &c->timer,
                               c->last_rx_ms + (uint64_t)c->keepalive_s * 1500u);
    }
    if (c->b->cfg->connection_messages) {
        char esc[128];
        gw_log(GW_NOTICE, "mqtt",
               "new client connected from %s as \"%s\" (p%u, c%u, k%u%s%s%s)", conn_peer(c),
               gw_log_escape(esc, sizeof(esc), s->id, s->id_len), c->version, cp->clean ? 1 : 0,
               c->keepalive_s, cp->has_username ? ", u" : "", present ? ", resumed" : "",
               c->bridge_client ? ", bridge" : "");
    }
    if (v5) {
        /* [MQTT-3.2.2-16]: an assigned id is returned to the client. */
        rc = v5_send_connack(c, MQTT_RC_SUCCESS, present, cp->client_id.n ? NULL : s->id,
                             server_keepalive);
    } else {
        rc = send_connack(c, MQTT_CONNACK_ACCEPTED, present);
    }
    if (rc == 0) {
        rc = svc_attach(c->b, s, &mqtt_link_ops, c);
    }
    return rc;
}

/* ---- PUBLISH and acks ---- */

/* What a PUBLISH becomes once its v5 topic alias and properties are
 * resolved (3.1.1: the packet's own topic, no properties). */
struct inbound {
    struct gw_bytes topic;
    struct gw_bytes props;
    uint32_t expiry_s;
    uint8_t *heap;
};

/* MQTT 5: topic alias and properties. Returns 0, a reason code to
 * acknowledge with (> 0), or an error that closes the connection. */
static int resolve_v5(struct conn *c, const struct mqtt_publish *p, struct inbound *in,
                      uint8_t *stack, size_t stack_cap)
{
    uint8_t *buf = stack;
    size_t cap = stack_cap;
    if (p->props.n + 8 > stack_cap) {
        in->heap = gw_alloc(p->props.n + 8);
        if (!in->heap) {
            return -ENOMEM;
        }
        buf = in->heap;
        cap = p->props.n + 8;
    }
    int rc = v5_publish_in(c, p, &in->topic, buf, cap, &in->props, &in->expiry_s);
    if (rc == MQTT_RC_TOPIC_ALIAS_INVALID || rc == MQTT_RC_PROTOCOL_ERROR) {
        c->v5_disconnect = (uint8_t)rc; /* [MQTT-3.3.2-9] [MQTT-3.3.2-10] */
        return GW_E_PROTOCOL;
    }
    return rc;
}

/* why: the Reason String of a failure code (static), NULL = the code's
 * name. */
static int ack_publish(struct conn *c, const struct mqtt_publish *p, uint8_t rc, const char *why,
                       bool durable)
{
    if (p->qos == 2) {
        return mqtt_ack_send(c, MQTT_PUBREC, p->packet_id, rc, why, durable);
    }
    /* [MQTT-4.3.2-2] */
    return p->qos == 1 ? mqtt_ack_send(c, MQTT_PUBACK, p->packet_id, rc, why, durable) : 0;
}

/* A refusal of svc_publish as the MQTT 5 reason code of the PUBACK /
 * PUBREC and its Reason String (3.1.1 sends success: it has no negative
 * acknowledgement, and mosquitto acknowledges what it drops). */
static uint8_t refusal_rc(enum svc_verdict v, struct gw_bytes topic, const char **why)
{
    switch (v) {
    case SVC_TOO_LARGE:
        *why = "payload over the broker's message_size_limit";
        return MQTT_RC_PACKET_TOO_LARGE;
    case SVC_QUOTA:
        *why = "store full (persistence_quota)";
        return MQTT_RC_QUOTA_EXCEEDED;
    case SVC_BUSY:
        *why = "broker memory_limit reached";
        return MQTT_RC_QUOTA_EXCEEDED;
    default:
        *why = topic.n >= 4 && memcmp(topic.p, "$SYS", 4) == 0
                       ? "clients may not publish to $SYS topics"
                       : "the ACL does not allow publishing to this topic";
        return MQTT_RC_NOT_AUTHORIZED;
    }
}

static int on_publish(struct conn *c, const struct mqtt_publish *p)
{
    struct broker *b = c->b;
    b->st.pub_msgs_received++;
    b->st.pub_bytes_received += p->payload.n;
    broker_flow_count(b, BROKER_PROTO_MQTT, false, p->qos, p->payload.n);
    if (!conn_rate_publish(c, p->qos, p->payload.n)) {
        return 0; /* QoS 0 over the client's rate: dropped, counted */
    }
    uint8_t stack[512];
    struct inbound in = {.topic = p->topic};
    int rc = c->version == MQTT_V5 ? resolve_v5(c, p, &in, stack, sizeof(stack)) : 0;
    if (rc < 0) {
        gw_free(in.heap);
        return rc;
    }
    const char *why = NULL;
    struct svc_outcome out = {0};
    enum svc_verdict v = SVC_OK;
    if (rc > 0) {
        if (rc == MQTT_RC_PAYLOAD_FORMAT_INVALID) {
            why = "Payload Format Indicator 1 but the payload is not valid UTF-8";
        }
        b->st.pub_dropped++;
    } else {
        struct svc_publish sp = {
                .topic = in.topic,
                .payload = p->payload,
                .props = in.props,
                .qos = p->qos,
                .retain = p->retain,
                .packet_id = p->packet_id,
                .expiry_s = in.expiry_s,
        };
        v = svc_publish(b, c->sess, NULL, &sp, &out);
    }
    if (v != SVC_OK) {
        rc = refusal_rc(v, in.topic, &why); /* in.topic may live in in.heap */
    }
    gw_free(in.heap);
    switch (v) {
    case SVC_OK:
        break;
    case SVC_NO_RETAIN:
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" closing: retained publish, retain_available false",
               c->sess->id);
        c->v5_disconnect = MQTT_RC_RETAIN_NOT_SUPPORTED; /* [MQTT-3.3.1-11] */
        return GW_E_REFUSED;
    case SVC_RECV_MAX:
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" closing: over the Receive Maximum of %u",
               c->sess->id, (unsigned)c->sess->recv_max_in);
        c->v5_disconnect = MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED; /* section 3.3.4 */
        return GW_E_PROTOCOL;
    case SVC_NO_MEMORY:
        return -ENOMEM;
    case SVC_BUSY:
    case SVC_QUOTA:
        /* Never acknowledged as a success: 3.1.1 has no negative PUBACK,
         * so none is sent and the client keeps the message; MQTT 5 says
         * so with 0x97. */
        return c->version == MQTT_V5 ? ack_publish(c, p, (uint8_t)rc, why, false) : 0;
    default:
        break;
    }
    uint8_t reason = (uint8_t)rc;
    if (reason == 0 && out.no_subscribers) {
        reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS; /* a success code */
    }
    return ack_publish(c, p, reason, why, out.pending);
}

static int on_pubrel(struct conn *c, uint16_t pid)
{
    /* PUBCOMP also for an unknown id, so a client retrying after our
     * restart completes; after the commit that forgets a known one. */
    bool pending;
    svc_release(c->b, c->sess, pid, &pending);
    return mqtt_ack_send(c, MQTT_PUBCOMP, pid, 0, NULL, pending);
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ---- */

/* MQTT 5 DISCONNECT from the client: 0x04 keeps the will; a Session
 * Expiry Interval may change [MQTT-3.14.2-2]. */
static int on_disconnect_v5(struct conn *c, const struct mqtt_disconnect *d)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    mqtt_prop_iter_init(&it, d->props);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        if (pr.id != MQTT_PROP_SESSION_EXPIRY) {
            continue;
        }
        if (c->v5->session_expiry_s == 0 && pr.num != 0) {
            c->v5_disconnect = MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.14.2-2] */
            return GW_E_PROTOCOL;
        }
        c->v5->session_expiry_s = pr.num;
        c->sess->expiry_s = pr.num;
        c->sess->clean = pr.num == 0;
    }
    if (d->rc == MQTT_RC_DISCONNECT_WITH_WILL) {
        return GW_E_CLOSED; /* not a clean DISCONNECT: the will goes out */
    }
    c->clean_disconnect = true;
    sess_set_will(c->sess, NULL); /* [MQTT-3.14.4-3] */
    return GW_E_CLOSED;
}

/* ---- dispatch ---- */

static int on_active(struct conn *c, const struct mqtt_pkt *pkt)
{
    switch (pkt->type) {
    case MQTT_PUBLISH:
        return on_publish(c, &pkt->u.publish);
    case MQTT_PUBACK:
        (void)sess_on_puback(c->sess, pkt->u.ack.packet_id);
        return 0;
    case MQTT_PUBREC:
        (void)sess_on_pubrec(c->sess, pkt->u.ack.packet_id);
        return 0;
    case MQTT_PUBREL:
        return on_pubrel(c, pkt->u.ack.packet_id);
    case MQTT_PUBCOMP:
        (void)sess_on_pubcomp(c->sess, pkt->u.ack.packet_id);
        return 0;
    case MQTT_SUBSCRIBE:
        return mqtt_sub_on_subscribe(c, pkt);
    case MQTT_UNSUBSCRIBE:
        return mqtt_sub_on_unsubscribe(c, pkt);
    case MQTT_PINGREQ:
        return send_ack(c, MQTT_PINGRESP, 0); /* [MQTT-3.12.4-1] */
    case MQTT_DISCONNECT:
        if (c->version == MQTT_V5) {
            return on_disconnect_v5(c, &pkt->u.disconnect);
        }
        /* [MQTT-3.14.4-3]: discard the will without publishing it. */
        c->clean_disconnect = true;
        sess_set_will(c->sess, NULL);
        return GW_E_CLOSED;
    case MQTT_CONNECT:
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" closing: second CONNECT", c->sess->id);
        return GW_E_PROTOCOL; /* [MQTT-3.1.0-2] */
    default:
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" closing: unexpected packet type %d",
               c->sess->id, (int)pkt->type);
        return GW_E_PROTOCOL; /* server-to-client packets from a client */
    }
}

int mqtt_proto_on_packet(struct conn *c, const struct mqtt_pkt *pkt)
{
    if (pkt->type == MQTT_AUTH && c->version == MQTT_V5) {
        return mqtt_auth_packet(c, &pkt->u.auth, on_connect);
    }
    if (c->state == CONN_ST_NEW) {
        if (c->v5 && c->v5->pending_connect) {
            return GW_E_PROTOCOL; /* only AUTH during the exchange [MQTT-4.12.0-4] */
        }
        if (pkt->type != MQTT_CONNECT) {
            gw_log(GW_NOTICE, "mqtt", "peer=%s closing: first packet is not CONNECT", conn_peer(c));
            return GW_E_PROTOCOL; /* [MQTT-3.1.0-1] */
        }
        return on_connect(c, &pkt->u.connect);
    }
    return on_active(c, pkt);
}
