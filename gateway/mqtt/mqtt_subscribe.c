/* mqtt_subscribe.c - SUBSCRIBE and UNSUBSCRIBE for MQTT 3.1.1 and 5.0:
 * filter checks, ACL, subscription options, SUBACK / UNSUBACK reason
 * codes, retained messages after SUBACK. */
#include "alloc.h"
#include "broker.h"
#include "conn.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_props.h"
#include "mqtt_proto_priv.h"
#include "mqtt_v5.h"
#include "svc.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Subscribe to one filter. opts is the SUBSCRIBE options byte (3.1.1:
 * QoS only), sub_id the packet's Subscription Identifier (0 = none).
 * Returns the SUBACK code and sets *send_retained. */
static uint8_t subscribe_one(struct conn *c, struct gw_bytes filter, uint8_t opts, uint32_t sub_id,
                             bool *send_retained)
{
    struct broker *b = c->b;
    bool v5 = c->version == MQTT_V5;
    uint8_t qos = (uint8_t)(opts & MQTT_SUB_OPT_QOS_MASK);
    char esc[128];
    *send_retained = false;
    gw_log_escape(esc, sizeof(esc), (const char *)filter.p, filter.n);
    bool shared = topic_is_share(filter);
    if (shared && v5 && (opts & MQTT_SUB_OPT_NO_LOCAL)) {
        c->v5_disconnect = MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.8.3-4] */
        return MQTT_RC_PROTOCOL_ERROR;
    }
    /* No Local and Retain As Published act at delivery (broker.c). */
    uint8_t route_opts = v5 ? (uint8_t)(opts & (MQTT_SUB_OPT_NO_LOCAL | MQTT_SUB_OPT_RAP)) : 0;
    if (c->bridge_client && !shared) {
        /* A bridge (level 0x83/0x84) gets neither its own messages back
         * nor retain flags cleared: mosquitto's meaning of try_private. */
        route_opts = MQTT_SUB_OPT_NO_LOCAL | MQTT_SUB_OPT_RAP;
    }
    struct svc_sub sub = {.filter = filter, .qos = qos, .options = route_opts, .sub_id = sub_id};
    bool replaced = false;
    enum svc_verdict verdict = svc_subscribe(b, c->sess, &sub, &replaced);
    switch (verdict) {
    case SVC_OK:
        break;
    case SVC_INVALID:
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" invalid filter \"%s\"", c->sess->id, esc);
        return v5 ? MQTT_RC_TOPIC_FILTER_INVALID : MQTT_SUBACK_FAILURE;
    case SVC_NOT_AUTHORISED:
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" subscription \"%s\" denied by ACL",
               c->sess->id, esc);
        return v5 ? MQTT_RC_NOT_AUTHORIZED : MQTT_SUBACK_FAILURE;
    case SVC_BUSY:
        return v5 ? MQTT_RC_QUOTA_EXCEEDED : MQTT_SUBACK_FAILURE; /* logged by the broker */
    case SVC_LIMIT:
        if (!c->sub_cap_logged) {
            c->sub_cap_logged = true; /* once per connection: a flood is one line */
            gw_log(GW_NOTICE, "mqtt",
                   "client=\"%s\" subscription \"%s\" refused: max_subscriptions_per_client "
                   "%u reached",
                   c->sess->id, esc, b->cfg->max_subscriptions_per_client);
        }
        return v5 ? MQTT_RC_QUOTA_EXCEEDED : MQTT_SUBACK_FAILURE;
    default:
        return v5 ? MQTT_RC_UNSPECIFIED : MQTT_SUBACK_FAILURE;
    }
    gw_log(GW_SUBSCRIBE, "mqtt", "client=\"%s\" subscribed \"%s\" qos=%u", c->sess->id, esc, qos);
    /* Retain Handling [MQTT-3.3.1-9..11]: 0 always, 1 only for a new
     * subscription, 2 never; 3.1.1 always [MQTT-3.8.4-3]. */
    unsigned rh = v5 ? MQTT_SUB_OPT_RH(opts) : 0;
    *send_retained = rh == 0 || (rh == 1 && !replaced);
    return qos; /* [MQTT-3.9.3-2]: granted QoS may be the requested one */
}

/* v5 SUBACK: a refused filter gets a Reason String naming the first one
 * (v5_send_explained applies the client's limits). */
static int send_suback_v5(struct conn *c, const struct mqtt_pkt *pkt, struct mqtt_pkt *ack,
                          const uint8_t *rcv, size_t n)
{
    struct mqtt_topic_iter it;
    struct gw_bytes filter;
    uint8_t opts;
    size_t i = 0;
    mqtt_topic_iter_init(&it, pkt);
    while (mqtt_topic_iter_next(&it, &filter, &opts) && i < n && rcv[i] < MQTT_RC_UNSPECIFIED) {
        i++;
    }
    if (i == n) {
        return mqtt_proto_send_pkt(c, ack);
    }
    char why[200];
    const char *name = mqtt_rc_name(rcv[i]);
    size_t k = strlen(name);
    memcpy(why, name, k);
    memcpy(why + k, ": \"", 3);
    k += 3;
    size_t fl = v5_reason_cut(filter.p, filter.n, sizeof(why) - k - 32); /* room for the rest */
    memcpy(why + k, filter.p, fl);
    k += fl;
    why[k++] = '"';
    if (n > 1) {
        k += (size_t)snprintf(why + k, sizeof(why) - k, " (filter %zu)", i + 1);
    }
    return v5_send_explained(c, ack, (struct gw_bytes){(const uint8_t *)why, k});
}

int mqtt_sub_on_subscribe(struct conn *c, const struct mqtt_pkt *pkt)
{
    /* Subscription Identifier (3.8.2.1.2): one per SUBSCRIBE, 1..268435455
     * (the codec refused 0 and repeats); it applies to every filter of
     * the packet. */
    uint32_t sub_id = 0;
    if (c->version == MQTT_V5) {
        struct mqtt_prop_iter pit;
        struct mqtt_prop pr;
        mqtt_prop_iter_init(&pit, pkt->u.subscribe.props);
        while (mqtt_prop_iter_next(&pit, &pr) > 0) {
            if (pr.id == MQTT_PROP_SUBSCRIPTION_ID) {
                sub_id = pr.num;
            }
        }
    }
    struct mqtt_topic_iter it;
    struct gw_bytes filter;
    uint8_t opts;
    size_t n = 0;
    mqtt_topic_iter_init(&it, pkt);
    while (mqtt_topic_iter_next(&it, &filter, &opts)) {
        n++;
    }
    uint8_t stack[256];
    uint8_t *rcv = n * 2 <= sizeof(stack) ? stack : gw_alloc(n * 2);
    if (!rcv) {
        return -ENOMEM;
    }
    uint8_t *send_ret = rcv + n;
    size_t i = 0;
    mqtt_topic_iter_init(&it, pkt);
    while (mqtt_topic_iter_next(&it, &filter, &opts)) {
        bool sr;
        rcv[i] = subscribe_one(c, filter, opts, sub_id, &sr);
        send_ret[i++] = sr;
        if (c->v5_disconnect) {
            if (rcv != stack) {
                gw_free(rcv);
            }
            return GW_E_PROTOCOL;
        }
    }
    /* [MQTT-3.8.4-1] SUBACK with one return code per filter, in order
     * [MQTT-3.8.4-5]; retained messages follow it [MQTT-3.8.4-3]. */
    struct mqtt_pkt ack = {.type = MQTT_SUBACK};
    ack.u.suback.packet_id = pkt->u.subscribe.packet_id;
    ack.u.suback.rcs.p = rcv;
    ack.u.suback.rcs.n = n;
    int rc = c->version == MQTT_V5 ? send_suback_v5(c, pkt, &ack, rcv, n)
                                   : mqtt_proto_send_pkt(c, &ack);
    i = 0;
    /* Retained messages sent for the subscription carry its identifier. */
    struct sess_tag *tag = sub_id ? sess_tag_create(&sub_id, 1, (struct gw_bytes){NULL, 0}) : NULL;
    mqtt_topic_iter_init(&it, pkt);
    while (rc == 0 && mqtt_topic_iter_next(&it, &filter, &opts)) {
        if (rcv[i] <= 2 && send_ret[i]) {
            svc_send_retained(c->b, c->sess, filter, rcv[i], tag);
        }
        i++;
    }
    sess_tag_unref(tag);
    if (rcv != stack) {
        gw_free(rcv);
    }
    return rc;
}

int mqtt_sub_on_unsubscribe(struct conn *c, const struct mqtt_pkt *pkt)
{
    struct mqtt_topic_iter it;
    struct gw_bytes filter;
    uint8_t opts;
    char esc[128];
    uint8_t stack[256];
    size_t n = 0;
    uint8_t *rcs = stack;
    mqtt_topic_iter_init(&it, pkt);
    while (mqtt_topic_iter_next(&it, &filter, &opts)) {
        uint8_t rc = MQTT_RC_NO_SUBSCRIPTION_EXISTED;
        if (svc_unsubscribe(c->b, c->sess, filter)) {
            rc = MQTT_RC_SUCCESS;
        }
        if (n < sizeof(stack)) {
            rcs[n++] = rc; /* more than 256 filters: the rest are reported as 0x11 */
        }
        gw_log(GW_UNSUBSCRIBE, "mqtt", "client=\"%s\" unsubscribed \"%s\"", c->sess->id,
               gw_log_escape(esc, sizeof(esc), (const char *)filter.p, filter.n));
    }
    /* [MQTT-3.10.4-4] [MQTT-3.10.4-5]: UNSUBACK even when nothing matched;
     * MQTT 5 with a reason code per filter [MQTT-3.11.3-1]. */
    struct mqtt_pkt ack = {.type = MQTT_UNSUBACK};
    ack.u.ack.packet_id = pkt->u.subscribe.packet_id;
    if (c->version == MQTT_V5) {
        ack.u.ack.rcs.p = rcs;
        ack.u.ack.rcs.n = n;
    }
    return mqtt_proto_send_pkt(c, &ack);
}
