/* svc_sub.c - the session service: subscribe, unsubscribe and the
 * retained messages a new subscription gets, with the ACL applied to the
 * filter a subscription really covers. See svc.h. */
#include "svc.h"

#include "auth.h"
#include "broker.h"
#include "log.h"
#include "persist.h"
#include "route.h"
#include "sys.h"
#include "topic.h"

enum svc_verdict svc_subscribe(struct broker *b, struct sess *s, const struct svc_sub *sub,
                               bool *replaced)
{
    struct gw_bytes filter = sub->filter;
    struct gw_bytes covered = filter;
    *replaced = false;
    if (topic_is_share(filter) ? !topic_share_parse(filter, NULL, &covered)
                               : !topic_filter_valid(filter)) {
        return SVC_INVALID;
    }
    /* A shared subscription "$share/{ShareName}/{filter}" receives what
     * filter matches: the ACL judges that part (MQTT 5.0 section 4.8.2). */
    const struct auth *au = b->auth;
    if (au && auth_has_acl(au) &&
        !auth_acl_check(au, s->id, s->username, covered, AUTH_SUBSCRIBE)) {
        return SVC_NOT_AUTHORISED;
    }
    if (broker_memory_full(b) && !sess_sub_find(s, filter)) {
        b->st.memory_refused++;
        return SVC_BUSY;
    }
    uint32_t cap = b->cfg->max_subscriptions_per_client;
    if (cap && s->n_subs >= cap && !sess_sub_find(s, filter)) {
        return SVC_LIMIT; /* each filter costs memory and routing work */
    }
    /* A subscription made again replaces its options and identifier, or
     * drops the identifier when the new SUBSCRIBE has none [MQTT-3.8.4-3]. */
    bool reads_sys = topic_filter_reads_sys(filter);
    if (reads_sys) {
        sys_refresh(b);
    }
    if (sess_sub_add_v5(s, filter, sub->qos, sub->options, sub->sub_id) < 0 ||
        route_sub_add(b->route, filter, &s->ep, sub->qos, sub->options, sub->sub_id, replaced) <
                0) {
        (void)sess_sub_del(s, filter);
        (void)route_sub_del(b->route, filter, &s->ep);
        return SVC_NO_MEMORY;
    }
    persist_sub_add(b, s, filter, sub->qos, sub->options);
    if (reads_sys) {
        sys_wake(b);
    }
    return SVC_OK;
}

struct retained_ctx {
    const struct broker *b;
    struct sess *s;
    struct sess_tag *tag;
    uint8_t qos;
};

static void deliver_retained(void *arg, struct msg *m)
{
    struct retained_ctx *ctx = arg;
    if (!broker_may_read(ctx->b, ctx->s, msg_topic(m))) {
        return;
    }
    uint8_t qos = m->qos < ctx->qos ? m->qos : ctx->qos;
    (void)sess_deliver_tag(ctx->s, m, qos, true, ctx->tag); /* [MQTT-3.3.1-8] */
}

void svc_send_retained(struct broker *b, struct sess *s, struct gw_bytes filter, uint8_t qos,
                       struct sess_tag *tag)
{
    /* Shared subscriptions get no retained messages (MQTT 5.0 4.8.2). */
    if (!b->cfg->retain_available || topic_is_share(filter)) {
        return;
    }
    struct retained_ctx ctx = {b, s, tag, qos};
    route_retain_match(b->route, filter, deliver_retained, &ctx);
}

bool svc_unsubscribe(struct broker *b, struct sess *s, struct gw_bytes filter)
{
    if (sess_sub_del(s, filter) < 0) {
        return false;
    }
    (void)route_sub_del(b->route, filter, &s->ep);
    persist_sub_del(b, s, filter);
    return true;
}
