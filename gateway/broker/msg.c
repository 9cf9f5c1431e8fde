/* msg.c - immutable reference-counted messages. */
#include "msg.h"

#include "alloc.h"

#include <string.h>

struct msg *msg_create(struct gw_bytes topic, struct gw_bytes payload, struct gw_bytes props,
                       uint8_t qos, bool retain)
{
    if (topic.n > UINT16_MAX || payload.n > UINT32_MAX || props.n > UINT32_MAX) {
        return NULL;
    }
    struct msg *m = gw_alloc(sizeof(*m) + topic.n + 1 + payload.n + props.n);
    if (!m) {
        return NULL;
    }
    uint8_t *p = m->data;
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->topic_len = (uint16_t)topic.n;
    m->payload_len = (uint32_t)payload.n;
    m->props_len = (uint32_t)props.n;
    m->id = 0;
    m->expiry_ms = 0;
    m->created_s = 0;
    m->store_gen = 0;
    m->from_store = false;
    if (topic.n) {
        memcpy(p, topic.p, topic.n);
    }
    p[topic.n] = '\0';
    m->topic = (const char *)p;
    p += topic.n + 1;
    if (payload.n) {
        memcpy(p, payload.p, payload.n);
    }
    m->payload = p;
    p += payload.n;
    if (props.n) {
        memcpy(p, props.p, props.n);
    }
    m->props = p;
    return m;
}

struct msg *msg_ref(struct msg *m)
{
    m->refs++;
    return m;
}

void msg_unref(struct msg *m)
{
    if (m && --m->refs == 0) {
        gw_free(m);
    }
}
