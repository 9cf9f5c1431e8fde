/* sn_msg_eq.h - field-by-field equality of decoded MQTT-SN messages, shared
 * by the codec's unit test and its fuzz target (test support only). */
#ifndef SN_MSG_EQ_H
#define SN_MSG_EQ_H

#include "sn_codec.h"

#include <stdbool.h>

static inline bool bytes_eq(struct gw_bytes a, struct gw_bytes b)
{
    return gw_bytes_eq(a, b) != 0;
}

static inline bool flags_eq(const struct sn_flags *a, const struct sn_flags *b)
{
    return a->dup == b->dup && a->qos == b->qos && a->retain == b->retain && a->will == b->will &&
           a->clean == b->clean && a->topic_type == b->topic_type;
}

static inline bool publish_eq(const struct sn_publish *a, const struct sn_publish *b)
{
    return flags_eq(&a->flags, &b->flags) && a->topic_id == b->topic_id &&
           memcmp(a->short_name, b->short_name, 2) == 0 && a->msg_id == b->msg_id &&
           bytes_eq(a->data, b->data);
}

static inline bool subscribe_eq(const struct sn_subscribe *a, const struct sn_subscribe *b)
{
    return flags_eq(&a->flags, &b->flags) && a->msg_id == b->msg_id && a->topic_id == b->topic_id &&
           memcmp(a->short_name, b->short_name, 2) == 0 && bytes_eq(a->topic_name, b->topic_name);
}

static inline bool sn_msg_eq(const struct sn_msg *a, const struct sn_msg *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case SN_ADVERTISE:
        return a->u.advertise.gw_id == b->u.advertise.gw_id &&
               a->u.advertise.duration_s == b->u.advertise.duration_s;
    case SN_SEARCHGW:
        return a->u.radius == b->u.radius;
    case SN_GWINFO:
        return a->u.gwinfo.gw_id == b->u.gwinfo.gw_id &&
               bytes_eq(a->u.gwinfo.gw_addr, b->u.gwinfo.gw_addr);
    case SN_CONNECT:
        return flags_eq(&a->u.connect.flags, &b->u.connect.flags) &&
               a->u.connect.duration_s == b->u.connect.duration_s &&
               bytes_eq(a->u.connect.client_id, b->u.connect.client_id);
    case SN_CONNACK:
    case SN_WILLTOPICRESP:
    case SN_WILLMSGRESP:
        return a->u.rc == b->u.rc;
    case SN_WILLTOPIC:
    case SN_WILLTOPICUPD:
        return flags_eq(&a->u.will_topic.flags, &b->u.will_topic.flags) &&
               bytes_eq(a->u.will_topic.topic, b->u.will_topic.topic);
    case SN_WILLMSG:
    case SN_WILLMSGUPD:
        return bytes_eq(a->u.will_msg, b->u.will_msg);
    case SN_REGISTER:
        return a->u.reg.topic_id == b->u.reg.topic_id && a->u.reg.msg_id == b->u.reg.msg_id &&
               bytes_eq(a->u.reg.topic, b->u.reg.topic);
    case SN_REGACK:
    case SN_PUBACK:
        return a->u.topic_ack.topic_id == b->u.topic_ack.topic_id &&
               a->u.topic_ack.msg_id == b->u.topic_ack.msg_id &&
               a->u.topic_ack.rc == b->u.topic_ack.rc;
    case SN_PUBLISH:
        return publish_eq(&a->u.publish, &b->u.publish);
    case SN_PUBCOMP:
    case SN_PUBREC:
    case SN_PUBREL:
    case SN_UNSUBACK:
        return a->u.msg_id == b->u.msg_id;
    case SN_SUBSCRIBE:
    case SN_UNSUBSCRIBE:
        return subscribe_eq(&a->u.subscribe, &b->u.subscribe);
    case SN_SUBACK:
        return flags_eq(&a->u.suback.flags, &b->u.suback.flags) &&
               a->u.suback.topic_id == b->u.suback.topic_id &&
               a->u.suback.msg_id == b->u.suback.msg_id && a->u.suback.rc == b->u.suback.rc;
    case SN_PINGREQ:
        return bytes_eq(a->u.client_id, b->u.client_id);
    case SN_DISCONNECT:
        return a->u.disconnect.has_duration == b->u.disconnect.has_duration &&
               a->u.disconnect.duration_s == b->u.disconnect.duration_s;
    case SN_ENCAPSULATED:
        return a->u.encap.radius == b->u.encap.radius &&
               bytes_eq(a->u.encap.node_id, b->u.encap.node_id) &&
               bytes_eq(a->u.encap.inner, b->u.encap.inner);
    default:
        return true; /* WILLTOPICREQ WILLMSGREQ PINGRESP */
    }
}

#endif
