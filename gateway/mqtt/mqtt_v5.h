/* mqtt_v5.h - what an MQTT 5.0 connection adds to the 3.1.1 rules:
 * CONNECT / CONNACK properties, inbound topic aliases, PUBLISH properties
 * in both directions, reason codes, DISCONNECT from the server.
 *
 * The state lives in struct mqtt_v5, allocated only for v5 connections so
 * 3.1.1 connections stay small. Loop thread only. */
#ifndef MQTT_V5_H
#define MQTT_V5_H

#include "gw_bytes.h"
#include "mqtt_codec.h"
#include "msg.h"
#include "sess_tag.h"

#include <stdbool.h>
#include <stdint.h>

struct broker;
struct conn;
struct auth_method_entry;
struct auth_method_session;

#define V5_TOPIC_ALIAS_MAX 10 /* ours, as mosquitto's max_topic_alias default */
#define V5_NEVER_EXPIRES   0xFFFFFFFFu
#define V5_TOPIC_ALIAS_OUT_MAX 32 /* outbound aliases kept per connection */

/* Kept small: every MQTT 5 connection has one. The topic alias tables
 * and the enhanced-authentication output are made on first use (352 and
 * 512 bytes that most clients never need). */
struct mqtt_v5 {
    char **alias; /* inbound topic aliases, V5_TOPIC_ALIAS_MAX + 1 ([0] unused); NULL = none */
    char **alias_out; /* ours, towards the client: alias_out_max + 1; NULL = none yet */
    uint64_t dropped_too_large; /* PUBLISH over the client's maximum, dropped */
    /* Enhanced authentication (mqtt_auth.c). */
    const struct auth_method_entry *auth_entry;
    struct auth_method_session *auth_sess; /* an exchange in progress */
    uint8_t *pending_connect; /* the CONNECT kept during the exchange */
    size_t pending_len;
    char *auth_user;      /* authenticated username */
    uint8_t *auth_out; /* last server data, for CONNACK: AUTH_METHOD_OUT_MAX bytes,
                          made at the first step of an exchange */
    size_t auth_out_len;
    uint32_t session_expiry_s; /* as the client asked (CONNECT, DISCONNECT) */
    uint32_t max_packet_out;   /* client's Maximum Packet Size, 0 = none */
    uint16_t recv_max_out;     /* client's Receive Maximum */
    uint16_t alias_out_max;  /* the client's Topic Alias Maximum, capped */
    uint16_t alias_out_next; /* next slot to (re)assign, round robin */
    bool problem_info;         /* Request Problem Information (default 1) */
    bool response_info;        /* Request Response Information */
    bool auth_requested;  /* CONNECT named an Authentication Method */
    bool auth_done;       /* the exchange succeeded */
};

/* Parse the CONNECT properties of a v5 client into c->v5 (allocated here).
 * Returns 0, or a v5 CONNACK reason code (> 0) to refuse with, or -ENOMEM. */
int v5_on_connect(struct conn *c, const struct mqtt_connect *cp);

/* Send CONNACK: rc is a v5 reason code. assigned_id (may be NULL) and
 * server_keepalive (0 = none) become properties. */
/* The Receive Maximum announced in CONNACK: max_inflight_messages (0:
 * 65535), as mosquitto announces it. */
uint16_t v5_recv_max(const struct broker *b);

int v5_send_connack(struct conn *c, uint8_t rc, bool present, const char *assigned_id,
                    uint16_t server_keepalive);

/* The v5 reason code that answers a 3.1.1 CONNACK return code. */
uint8_t v5_connack_rc(uint8_t rc311);

/* Send DISCONNECT with rc before the server closes the connection. */
int v5_send_disconnect(struct conn *c, uint8_t rc);

/* The DISCONNECT reason for closing with err (gw_err.h), 0 = none sent. */
uint8_t v5_disconnect_rc(int err);

/* Inbound PUBLISH: resolve the topic alias [MQTT-3.3.2-12], check the
 * payload format [MQTT-3.3.2-4 is a SHOULD], and copy the properties minus
 * the Topic Alias into props_buf. Writes *topic, *props and
 * *expiry_s (Message Expiry Interval, 0 = none). Returns 0, a reason code
 * (> 0: 0x94 topic alias invalid, 0x82 protocol error -> DISCONNECT; 0x99
 * payload format invalid -> acknowledge with it), or -ENOMEM. */
int v5_publish_in(struct conn *c, const struct mqtt_publish *p, struct gw_bytes *topic,
                  uint8_t *props_buf, size_t cap, struct gw_bytes *props, uint32_t *expiry_s);

/* Send a PUBLISH of m to a v5 client: its properties with the Message
 * Expiry Interval counted down and the Subscription Identifiers of tag
 * (borrowed, may be NULL); dropped (and counted) if it would exceed the
 * client's Maximum Packet Size [MQTT-3.1.2-24]. */
int v5_send_publish(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup, bool retain,
                    const struct sess_tag *tag);

/* Will properties: copy in minus the Will Delay Interval (it is not sent
 * with the will) into buf (cap >= in.n), set *out; returns the delay in
 * seconds (0 = none). */
uint32_t v5_will_props(struct gw_bytes in, uint8_t *buf, size_t cap, struct gw_bytes *out);

/* Send pkt (a CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK,
 * DISCONNECT or AUTH whose properties are empty) to the v5 client of c,
 * with why (UTF-8, cut at 160 bytes on a character boundary; empty: none)
 * as its Reason String where the client allows one: Request Problem
 * Information [MQTT-3.1.2-29] and Maximum Packet Size (the string is
 * dropped, never the packet). pkt's props are overwritten. Returns 0 or
 * GW_E_CLOSED (mqtt_v5_reason.c). */
int v5_send_explained(struct conn *c, struct mqtt_pkt *pkt, struct gw_bytes why);

/* The length of p[0..n) cut to at most max bytes without splitting a UTF-8
 * character. */
size_t v5_reason_cut(const uint8_t *p, size_t n, size_t max);

/* Free c->v5. */
void v5_free(struct mqtt_v5 *v5);

#endif
