/* msg.h - an application message: immutable, reference counted.
 *
 * Topic, payload and (for MQTT 5) the raw property block live in one
 * allocation. Fan-out to many subscribers shares one msg: each queue or
 * inflight slot holds a reference (msg_ref) and drops it with msg_unref; the
 * last unref frees. Nothing may change a msg's content after msg_create
 * returns; id, store_gen and from_store are the store's bookkeeping
 * (persist.c).
 * Loop thread only: the count is not atomic. */
#ifndef MSG_H
#define MSG_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg {
    uint32_t refs;
    uint8_t qos; /* QoS the publisher sent with */
    bool retain; /* retain flag as published */
    uint16_t topic_len;
    uint32_t payload_len;
    uint32_t props_len; /* v5 property block, 0 otherwise */
    uint64_t id;        /* broker-wide sequence number, 0 = none */
    uint64_t expiry_ms; /* monotonic deadline, 0 = never (v5) */
    int64_t created_s;  /* wall-clock second it was received, 0 = unknown (bookkeeping) */
    uint32_t store_gen; /* bookkeeping, not content: store batch that has it */
    /* Bookkeeping: read back from a committed store record (a queue entry
     * or inflight record holds a reference on it there), so moving it
     * from the queue into flight needs no second copy of it in the batch
     * (persist.c hook_inflight_put). */
    bool from_store;
    const char *topic;  /* NUL-terminated, inside data[] */
    const uint8_t *payload;
    const uint8_t *props;
    uint8_t data[]; /* topic '\0' payload props */
};

/* Create a message with one reference owned by the caller. Copies topic,
 * payload and props. Returns NULL when out of memory. */
struct msg *msg_create(struct gw_bytes topic, struct gw_bytes payload, struct gw_bytes props,
                       uint8_t qos, bool retain);

/* Add a reference; returns m for chaining. */
struct msg *msg_ref(struct msg *m);

/* Drop a reference; frees the message with the last one. NULL is a no-op. */
void msg_unref(struct msg *m);

static inline struct gw_bytes msg_topic(const struct msg *m)
{
    struct gw_bytes b = {(const uint8_t *)m->topic, m->topic_len};
    return b;
}

static inline struct gw_bytes msg_payload(const struct msg *m)
{
    struct gw_bytes b = {m->payload, m->payload_len};
    return b;
}

#endif
