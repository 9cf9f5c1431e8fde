/* svc.h - the session service: the one door every front-end goes through.
 *
 * MQTT (gateway/mqtt), MQTT-SN (mqttsn/) and the bridge's inbound side
 * (bridge/) translate wire packets into the verbs below and the verbs'
 * verdicts back into their own reason codes. The verbs alone decide what a
 * front-end must never decide for itself:
 *
 *  - identity: a session belongs to the identity that created it (a
 *    username some check verified, or anonymous). Another identity cannot
 *    open, take over or read it; a claimed username nobody verified is no
 *    identity.
 *  - authorisation: the listener's anonymous rule and client id list, the
 *    ACL (on the real filter of a shared subscription), the $SYS rule, and
 *    the same checks for a will when it is set and when it is published.
 *  - durability: a publish reports whether its acknowledgement must wait
 *    for the store commit, or whether the store refused it (quota): a
 *    refusal is never acknowledged as a success.
 *  - flow: QoS 2 de-duplication and the announced Receive Maximum.
 *
 * Direct calls, no function pointers on the hot path. Loop thread only.
 * Every verb borrows its arguments unless it says it takes them. */
#ifndef SVC_H
#define SVC_H

#include "gw_bytes.h"
#include "msg.h"
#include "sess.h"

#include <stdbool.h>
#include <stdint.h>

struct broker;

/* What a verb decided. Front-ends map these to their reason codes:
 * MQTT 3.1.1 CONNACK / SUBACK, MQTT 5 reason codes, MQTT-SN return codes. */
enum svc_verdict {
    SVC_OK = 0,
    SVC_NOT_AUTHORISED, /* anonymous rule, client id list, ACL, $SYS */
    SVC_ID_TAKEN,       /* the client id is another identity's session */
    SVC_ID_RESERVED,    /* the client id is a bridge's local session */
    SVC_INVALID,        /* topic name or filter not valid */
    SVC_QUOTA,          /* the store refused it (persistence_quota): not kept */
    SVC_TOO_LARGE,      /* payload over message_size_limit */
    SVC_NO_RETAIN,      /* retained message, retain_available false */
    SVC_RECV_MAX,       /* more QoS 2 awaiting PUBREL than the Receive Maximum */
    SVC_NO_MEMORY,
    SVC_LIMIT,          /* a per-client cap (max_subscriptions_per_client) */
    SVC_BUSY            /* over memory_limit: not kept, not acknowledged */
};

/* True if topic is $SYS/broker/connection/CLIENT_ID/state: the one $SYS
 * topic a bridge may publish (and use as its will), mosquitto's bridge
 * notification, so that bridges with default settings work. */
bool svc_bridge_notification(struct gw_bytes client_id, struct gw_bytes topic);

/* Name of a verdict, for log lines. */
const char *svc_verdict_name(enum svc_verdict v);

/* A listener's admission rules, borrowed from its front-end. */
struct svc_door {
    bool allow_anonymous;
    /* NULL: every client id may connect; else true if id may. */
    bool (*id_allowed)(const void *arg, struct gw_bytes client_id);
    const void *id_arg;
};

/* ---- open and close ---- */

struct svc_connect {
    struct gw_bytes client_id;  /* 1..65535 bytes (front-ends assign empty ones) */
    const char *username;       /* verified by a password check, SCRAM or a
                                   certificate; NULL = anonymous */
    const struct svc_door *door;
    bool clean;                 /* discard an existing session */
    bool persistent;            /* the session outlives the connection */
    uint32_t expiry_s;          /* MQTT 5 Session Expiry Interval (0 for others) */
    uint8_t protocol;           /* recorded with a durable session */
    uint16_t recv_max;          /* the client's Receive Maximum, 0 = none */
    uint16_t recv_max_in;       /* the Receive Maximum announced to it, 0 = none
                                   (enforced on QoS 2 awaiting PUBREL) */
    struct msg *will;           /* taken, whatever svc_open returns; NULL = none */
    bool bridge;                /* a bridge (MQTT levels 0x83/0x84) */
    uint32_t will_delay_s;
};

/* Open a session for a connection that passed its front-end's
 * authentication: new, resumed (clean false, same identity) or taken over
 * from the same identity's live connection (its link is kicked and its will
 * handled here) [MQTT-3.1.4-2]. An expired session is never resumed
 * [MQTT-3.2.2-3]. Refusals leave every other session untouched:
 *   SVC_NOT_AUTHORISED  anonymous on a door that does not allow it, a client
 *                       id the door does not list, a will the ACL forbids
 *   SVC_ID_TAKEN        the id is another identity's session
 *   SVC_ID_RESERVED     the id is a bridge's local session
 *   SVC_INVALID         will topic not valid; SVC_NO_RETAIN retained will
 *   SVC_NO_MEMORY
 * On SVC_OK *out is the session (not attached yet: send the CONNACK, then
 * svc_attach) and *present tells whether it existed. */
enum svc_verdict svc_open(struct broker *b, struct svc_connect *c, struct sess **out,
                          bool *present);

/* Attach the connection's link to s after the CONNACK: resends what was in
 * flight, then the queue. Returns 0 or the link's error. (svc_open counts
 * the client as connected; svc_disconnect, or a take-over, uncounts it.) */
int svc_attach(struct broker *b, struct sess *s, const struct sess_link_ops *ops, void *link);

/* The connection that holds s (opened by svc_open, not taken over) ended. clean: it said DISCONNECT (no will
 * [MQTT-3.14.4-3]); else the will goes out [MQTT-3.1.2-8]. shutdown: the
 * broker is stopping (shared messages stay). Detaches the link, reaps a
 * clean session, starts the expiry of a persistent one. */
void svc_disconnect(struct broker *b, struct sess *s, bool clean, bool shutdown);

/* Forget an offline session its front-end knows no real client ever used
 * (MQTT-SN: opened only by connections whose source address was never
 * proven): reaped with its subscriptions, queue and record. No-op while a
 * link holds it. */
void svc_discard(struct broker *b, struct sess *s);

/* ---- wills ---- */

/* May the session's identity publish a will on topic (valid topic, not
 * $SYS, ACL write, retain_available)? */
enum svc_verdict svc_will_check(const struct broker *b, const struct sess *s,
                                struct gw_bytes topic, bool retain);

/* Replace the will of a connected session (MQTT-SN WILLTOPICUPD /
 * WILLMSGUPD); takes m (NULL deletes). Checked like svc_will_check: on a
 * refusal m is freed and the old will stays. */
enum svc_verdict svc_will_set(struct broker *b, struct sess *s, struct msg *m);

/* ---- publish ---- */

struct svc_publish {
    struct gw_bytes topic;
    struct gw_bytes payload;
    struct gw_bytes props;  /* MQTT 5 properties to deliver with it */
    uint8_t qos;
    bool retain;
    uint16_t packet_id;     /* QoS 2: de-duplication until svc_release */
    uint32_t expiry_s;      /* MQTT 5 Message Expiry Interval, 0 = none */
};

struct svc_outcome {
    bool pending;        /* acknowledge only after the store commit */
    bool no_subscribers; /* delivered to nobody (MQTT 5 0x10) */
    bool duplicate;      /* a QoS 2 resend before PUBREL: acknowledged, not routed */
};

/* Publish a message from session from (NULL: a sender without a session,
 * MQTT-SN QoS -1, checked against door). SVC_OK: acknowledge it (after the
 * commit when out->pending). SVC_NOT_AUTHORISED, SVC_TOO_LARGE: not routed,
 * acknowledged with a failure code where the protocol has one (MQTT 3.1.1
 * acknowledges it anyway, as mosquitto). SVC_QUOTA: the store refused it:
 * never acknowledge it as a success. SVC_RECV_MAX: the client sent more
 * QoS 2 than it was allowed (MQTT 5: DISCONNECT 0x93). SVC_NO_MEMORY. */
enum svc_verdict svc_publish(struct broker *b, struct sess *from, const struct svc_door *door,
                             const struct svc_publish *p, struct svc_outcome *out);

/* Publish a message the broker itself made (bridge notifications, $SYS):
 * no ACL. Borrows m. Returns what routing reported (svc_outcome.pending:
 * durable destinations took it). */
void svc_publish_msg(struct broker *b, struct msg *m, const struct sess *origin,
                     struct svc_outcome *out);

/* Inbound PUBREL for pid: forget it [MQTT-4.3.3-1 Method B]; *pending is
 * set when the PUBCOMP must wait for the commit. Unknown ids are fine. */
void svc_release(struct broker *b, struct sess *s, uint16_t pid, bool *pending);

/* ---- subscribe ---- */

struct svc_sub {
    struct gw_bytes filter; /* as the client sent it, $share/... included */
    uint8_t qos;
    uint8_t options;        /* router options: MQTT 5 No Local, Retain As Published */
    uint32_t sub_id;        /* MQTT 5 Subscription Identifier, 0 = none */
};

/* Subscribe s: SVC_INVALID (filter or share syntax), SVC_NOT_AUTHORISED
 * (ACL on the filter, for a shared one the part after the share name,
 * MQTT 5.0 section 4.8.2), SVC_LIMIT (a new filter past
 * max_subscriptions_per_client), SVC_NO_MEMORY, or SVC_OK with *replaced telling
 * whether s had that filter already. */
enum svc_verdict svc_subscribe(struct broker *b, struct sess *s, const struct svc_sub *sub,
                               bool *replaced);

/* Send s the retained messages matching filter that it may read, at
 * min(their QoS, qos), with tag's identifiers (borrowed, may be NULL). */
void svc_send_retained(struct broker *b, struct sess *s, struct gw_bytes filter, uint8_t qos,
                       struct sess_tag *tag);

/* Unsubscribe s from filter; false if it had no such subscription. */
bool svc_unsubscribe(struct broker *b, struct sess *s, struct gw_bytes filter);

#endif
