/* broker_share.c - a shared subscription member that leaves hands its
 * messages back to the group (MQTT 5.0 section 4.8.2).
 *
 * A message that came through a shared subscription was meant for one
 * member of the group, any member. When that member's connection ends, or
 * its session ends, the messages it holds for the group would wait for it
 * (or be lost with the session) while other members could take them. So:
 *
 *  - messages queued for it and never sent go to another connected member;
 *  - QoS 1 messages sent and not acknowledged go too: the spec says the
 *    server MAY wait for the member to reconnect, SHOULD send them to
 *    another member if its session ends, and MAY do so as soon as the
 *    connection is lost. Tern does the latter, for persistent sessions too
 *    (as HiveMQ does for QoS 1): a member that went away is no reason to
 *    stall the group's work. A member that comes back may see the message
 *    again only if it acknowledged it before the connection broke and the
 *    PUBACK was lost, which QoS 1 allows;
 *  - a QoS 2 message once sent stays with its member, whose session must
 *    complete it on reconnect [MQTT-4.8.2-4] and MUST NOT hand it to
 *    anyone else if it ends [MQTT-4.8.2-5].
 *
 * When no other member is connected, the messages stay where they are (a
 * persistent member gets them on reconnect; a session that ends drops
 * them, as before). Messages of a durable session that are only on disk
 * (not loaded into memory) are not handed over. Not at broker shutdown:
 * every member is leaving then, and the store keeps the sessions. */
#include "broker.h"
#include "log.h"
#include "mqtt_props.h"
#include "route.h"
#include "sess.h"
#include "topic.h"

struct share_ctx {
    struct broker *b;
    const struct sess *leaving;
    struct msg *m;
};

/* Another member that is connected and may read the topic. */
static bool other_member_ok(void *arg, const struct route_hit *cand)
{
    const struct share_ctx *ctx = arg;
    const struct sess *t = sess_from_ep(cand->ep);
    return t != ctx->leaving && t->link != NULL && broker_may_read(ctx->b, t, msg_topic(ctx->m));
}

static bool hand_over(void *arg, struct sess *s, struct msg *m, uint8_t qos, bool retain,
                      struct sess_tag *tag)
{
    (void)s;
    (void)qos;
    (void)retain;
    struct share_ctx *ctx = arg;
    struct broker *b = ctx->b;
    struct gw_bytes full = sess_tag_share(tag);
    struct gw_bytes name;
    struct gw_bytes filter;
    uint32_t group;
    if (!topic_share_parse(full, &name, &filter) ||
        route_share_find(b->route, name, filter, &group) < 0) {
        return false; /* the group is gone */
    }
    ctx->m = m;
    struct route_hit hit;
    if (!route_share_next(b->route, group, other_member_ok, ctx, &hit)) {
        return false;
    }
    struct sess *to = sess_from_ep(hit.ep);
    /* As broker_publish_from would have delivered it to that member. */
    uint8_t q = m->qos < hit.qos ? m->qos : hit.qos;
    bool r = (hit.options & MQTT_SUB_OPT_RAP) ? m->retain : false;
    uint32_t id = hit.sub_id;
    struct sess_tag *t = sess_tag_create(&id, id ? 1 : 0, full);
    sess_deliver_tag(to, m, q, r, t);
    sess_tag_unref(t);
    return true;
}

void broker_share_release(struct broker *b, struct sess *s)
{
    struct share_ctx ctx = {b, s, NULL};
    size_t n = sess_share_release(s, hand_over, &ctx);
    if (n) {
        gw_log(GW_INFO, "broker",
               "client=\"%s\" left: %zu shared subscription message(s) "
               "handed to other members",
               s->id, n);
    }
}
