/* mqtt_proto.h - MQTT 3.1 / 3.1.1 protocol handling for one connection:
 * packets in, session calls and packets out. */
#ifndef MQTT_PROTO_H
#define MQTT_PROTO_H

#include "mqtt_codec.h"
#include "sess.h"

struct conn;

/* Handle one decoded packet. Views in pkt end when this returns. Returns 0,
 * or a negative error: the caller closes the connection with it. */
int mqtt_proto_on_packet(struct conn *c, const struct mqtt_pkt *pkt);

/* Send PUBACK, PUBREC, PUBREL or PUBCOMP for pid now, with the MQTT 5
 * reason code rc (0 = success; not sent to 3.1.1 clients). */
int mqtt_proto_send_ack(struct conn *c, uint8_t type, uint16_t pid, uint8_t rc, const char *why);

/* Send a PUBLISH now, bypassing persistence ordering (persist.c uses it
 * for output that waited for a commit). tag (borrowed, may be NULL): the
 * delivery's Subscription Identifiers, sent to MQTT 5 clients only. */
int mqtt_proto_send_publish_now(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                                bool retain, struct sess_tag *tag);

/* The session link operations for an MQTT connection (link = struct conn). */
extern const struct sess_link_ops mqtt_link_ops;

#endif
