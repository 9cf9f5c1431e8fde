/* mqtt_ack.h - MQTT output that waits for a store commit, in order.
 *
 * "Acknowledged means durable": a PUBACK / PUBREC / PUBCOMP whose packet
 * wrote to the store, a PUBREL, and a QoS 2 PUBLISH to a durable session
 * wait until the store's current batch commits. Everything a connection
 * sends after one of them waits behind it, so acknowledgements keep the
 * order of the packets they answer [MQTT-4.6.0-2] [MQTT-4.6.0-3].
 *
 * Each connection keeps its own queue of waiting output, tagged with the
 * batch it waits for; one persist_after_commit callback per connection and
 * batch releases it. A failed commit sends nothing (MQTT 3.1.1 has no
 * negative acknowledgement: the client sends the message again). Loop
 * thread only. */
#ifndef MQTT_ACK_H
#define MQTT_ACK_H

#include "msg.h"
#include "sess_tag.h"

#include <stdbool.h>
#include <stdint.h>

struct conn;

/* One waiting output (conn.waits). */
struct mqtt_wait {
    struct msg *m;        /* PUBLISH only: one reference */
    struct sess_tag *tag; /* PUBLISH only: one reference or NULL */
    const char *why;      /* acknowledgement: its Reason String (static), or NULL */
    uint32_t gen;         /* the store batch it waits for */
    uint16_t pid;
    uint8_t type; /* MQTT packet type */
    uint8_t qos;  /* PUBLISH: its QoS; acknowledgement: its reason code */
    bool dup;
    bool retain;
};

/* Send a PUBACK / PUBREC / PUBREL / PUBCOMP now, or after the current batch
 * commits when durable is true or c has output waiting. rc: the MQTT 5
 * reason code (0 = success; ignored for 3.1.1); why: the Reason String of
 * a failure code (a static string), NULL = the code's name. Returns 0 or
 * the connection's error. */
int mqtt_ack_send(struct conn *c, uint8_t type, uint16_t pid, uint8_t rc, const char *why,
                  bool durable);

/* True when a PUBLISH of qos to c must wait for the current batch: QoS 2
 * to a durable session (its exactly-once state goes to disk first), or
 * anything behind output that already waits (order). */
bool mqtt_ack_must_wait(const struct conn *c, uint8_t qos);

/* Queue a PUBLISH to go out when the current batch commits (takes a
 * reference to m and to tag, which may be NULL). Returns 0 or -ENOMEM. */
int mqtt_ack_defer_publish(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                           bool retain, struct sess_tag *tag);

/* True while a batch still holds output of c (a closed c is freed when the
 * last one completes). */
bool mqtt_ack_waiting(const struct conn *c);

/* Drop whatever still waits (conn_destroy). */
void mqtt_ack_clear(struct conn *c);

#endif
