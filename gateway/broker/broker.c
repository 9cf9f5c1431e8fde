/* broker.c - the broker context: publish routing, wills, session reaping,
 * the end-of-iteration hook, reload and shutdown. */
#include "broker.h"

#include "alloc.h"
#include "auth.h"
#include "auth_backoff.h"
#include "auth_method.h"
#include "auth_worker.h"
#include "clock.h"
#include "crypto.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_props.h"
#include "persist.h"
#include "svc.h"
#include "sys.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static void apply_limits(struct broker *b)
{
    const struct gw_config *c = b->cfg;
    b->lim.loop = b->loop;
    b->lim.max_inflight = c->max_inflight_messages;
    b->lim.max_inflight_bytes = c->max_inflight_bytes;
    b->lim.max_queued = c->max_queued_messages;
    b->lim.max_queued_bytes = c->max_queued_bytes;
    b->lim.queue_qos0 = c->queue_qos0_messages;
}

static void end_of_iteration(struct loop *l, void *arg);
static void on_expiry_timer(struct loop *l, void *arg);

int broker_create(struct loop *l, struct gw_config *cfg, struct broker **out)
{
    struct broker *b = gw_calloc(1, sizeof(*b));
    if (!b) {
        return -ENOMEM;
    }
    b->loop = l;
    b->cfg = cfg;
    b->start_ms = loop_now_ms(l);
    apply_limits(b);
    int rc = route_create(&b->route);
    if (rc == 0) {
        rc = sess_table_init(&b->sessions);
    }
    if (rc == 0) {
        rc = loop_hook_add(l, end_of_iteration, b);
    }
    if (rc < 0) {
        route_destroy(b->route);
        sess_table_fini(&b->sessions);
        gw_free(b);
        return rc;
    }
    loop_timer_init(&b->expiry_timer, on_expiry_timer, b);
    *out = b;
    return 0;
}

static int load_methods(struct broker *b);

static void on_pw_results(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct broker *b = arg;
    auth_worker_collect(b->pw_worker);
}

/* The password checker and the back-off table, once: a reload that drops
 * the password_file keeps them (idle, they cost a sleeping thread). */
static int start_pw_worker(struct broker *b)
{
    if (b->pw_worker) {
        return 0;
    }
    b->pw_backoff = gw_alloc(sizeof(*b->pw_backoff));
    if (!b->pw_backoff) {
        return -ENOMEM;
    }
    auth_backoff_init(b->pw_backoff, (uint64_t)b->cfg->auth_backoff_max_s * 1000u);
    int rc = auth_worker_create(b->cfg->auth_max_pending, &b->pw_worker);
    if (rc == 0) {
        rc = loop_fd_add(b->loop, auth_worker_fd(b->pw_worker), LOOP_READ, on_pw_results, b);
    }
    if (rc < 0) {
        gw_log(GW_ERROR, "auth", "cannot start the password checker: %s", gw_strerror(rc));
        auth_worker_destroy(b->pw_worker);
        b->pw_worker = NULL;
        gw_free(b->pw_backoff);
        b->pw_backoff = NULL;
    }
    return rc;
}

int broker_load_auth(struct broker *b)
{
    struct auth *a = NULL;
    char err[512] = "";
    if (b->cfg->password_file || b->cfg->acl_file) {
        int rc = auth_load(b->cfg->password_file, b->cfg->acl_file, &a, err, sizeof(err));
        if (rc < 0) {
            gw_log(GW_ERROR, "auth", "%s", err[0] ? err : gw_strerror(rc));
            return rc;
        }
    }
    auth_free(b->auth);
    b->auth = a;
    int rc = auth_has_passwords(a) ? start_pw_worker(b) : 0;
    return rc < 0 ? rc : load_methods(b);
}

/* scram_file, once at start (restart-only: exchanges in flight borrow the
 * credentials). */
static int load_methods(struct broker *b)
{
    if (!b->cfg->scram_file || b->scram) {
        return 0;
    }
    char err[512] = "";
    int rc = auth_scram_load(b->cfg->scram_file, &b->scram, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "auth", "%s", err[0] ? err : gw_strerror(rc));
        return rc;
    }
    b->auth_methods = gw_calloc(1, sizeof(*b->auth_methods));
    if (!b->auth_methods) {
        return -ENOMEM;
    }
    b->auth_methods[0] = (struct auth_method_entry){&auth_scram_sha256, b->scram};
    b->n_auth_methods = 1;
    gw_log(GW_NOTICE, "auth", "MQTT 5 enhanced authentication: %s from %s", AUTH_SCRAM_NAME,
           b->cfg->scram_file);
    return 0;
}

bool broker_memory_full(struct broker *b)
{
    uint64_t lim = b->cfg->memory_limit;
    if (!lim) {
        b->mem_episode = false;
        return false;
    }
    uint64_t used = gw_alloc_bytes();
    bool full = b->mem_episode ? used >= lim - lim / 16u : used >= lim;
    if (full != b->mem_episode) {
        b->mem_episode = full;
        if (full) {
            gw_log(GW_WARN, "broker",
                   "memory_limit %llu reached (%llu bytes in use): dropping QoS 0, not "
                   "acknowledging QoS 1/2, refusing new connections, subscriptions and retained "
                   "messages",
                   (unsigned long long)lim, (unsigned long long)used);
        } else {
            gw_log(GW_NOTICE, "broker", "below memory_limit again (%llu bytes in use, %llu "
                   "refused so far)", (unsigned long long)used,
                   (unsigned long long)b->st.memory_refused);
        }
    }
    return full;
}

bool broker_may_read(const struct broker *b, const struct sess *s, struct gw_bytes topic)
{
    if (!b->auth || !auth_has_acl(b->auth)) {
        return true;
    }
    return auth_acl_check(b->auth, s->id, s->username, topic, AUTH_READ);
}

int broker_start(struct broker *b)
{
    return sys_start(b);
}

static bool share_member_online(void *arg, const struct route_hit *cand)
{
    (void)arg;
    return sess_from_ep(cand->ep)->link != NULL;
}

/* A delivery that carries Subscription Identifiers, or that came through
 * a shared subscription at QoS 1/2 (the member may leave: broker_share.c),
 * gets a tag; the rest, every 3.1.1 delivery among them, does not. */
static unsigned deliver_tagged(struct broker *b, struct sess *s, struct msg *m, uint8_t qos,
                               bool retain, const struct route_hit *hit)
{
    uint32_t ids[SESS_TAG_IDS_MAX];
    size_t n = route_hit_ids(b->route, hit, ids, SESS_TAG_IDS_MAX);
    struct gw_bytes share = {NULL, 0};
    if (hit->shared && qos > 0) {
        share = route_share_filter(b->route, hit->group_idx);
    }
    struct sess_tag *tag = sess_tag_create(ids, n < SESS_TAG_IDS_MAX ? n : SESS_TAG_IDS_MAX, share);
    if (!tag && (n || share.n)) {
        gw_log(GW_WARN, "broker",
               "client=\"%s\" topic=\"%s\" delivered without its "
               "subscription identifiers: out of memory",
               s->id, m->topic);
    }
    unsigned dlv = sess_deliver_tag(s, m, qos, retain, tag);
    sess_tag_unref(tag);
    return dlv;
}

void broker_publish(struct broker *b, struct msg *m)
{
    unsigned dlv = 0;
    (void)broker_route(b, m, NULL, &dlv);
}

size_t broker_route(struct broker *b, struct msg *m, const struct sess *origin, unsigned *dlv)
{
    if (m->created_s == 0) {
        m->created_s = gw_clock_wall_s(); /* for a bridge backlog's maximum age */
    }
    if (m->retain && b->cfg->retain_available) {
        if (route_retain_set(b->route, m) < 0) {
            gw_log(GW_WARN, "broker", "topic=\"%s\" retained message not stored: out of memory",
                   m->topic);
        } else if (strncmp(m->topic, "$SYS/", 5) != 0) {
            /* $SYS is rebuilt every sys_interval: writing it to flash
             * would wear the card for nothing. */
            if (persist_retain(b, m)) {
                *dlv |= SESS_DLV_STORED;
            }
        }
    }
    const struct route_hit *hits;
    ssize_t n = route_match(b->route, msg_topic(m), &hits);
    if (n < 0) {
        b->st.pub_dropped++;
        gw_log(GW_WARN, "broker", "topic=\"%s\" not routed: out of memory", m->topic);
        *dlv |= SESS_DLV_NOMEM;
        return 0;
    }
    b->routing++;
    bool acl = b->auth && auth_has_acl(b->auth);
    size_t delivered = 0;
    for (ssize_t i = 0; i < n; i++) {
        struct route_hit alt;
        const struct route_hit *hit = &hits[i];
        if (hit->shared && !sess_from_ep(hit->ep)->link) {
            /* A shared group's message goes to one member: prefer one
             * that is connected; if none is, the one whose turn it was
             * queues it (MQTT 5.0 4.8.2). */
            if (route_share_next(b->route, hit->group_idx, share_member_online, NULL, &alt)) {
                hit = &alt;
            }
        }
        struct sess *s = sess_from_ep(hit->ep);
        uint8_t opts = hit->options;
        if ((opts & MQTT_SUB_OPT_NO_LOCAL) && s == origin) {
            continue; /* [MQTT-3.8.3-3] No Local */
        }
        if (acl && !auth_acl_check(b->auth, s->id, s->username, msg_topic(m), AUTH_READ)) {
            continue; /* the subscriber may not read this topic */
        }
        uint8_t qos = m->qos < hit->qos ? m->qos : hit->qos; /* [MQTT-3.8.4-6] */
        /* [MQTT-3.3.1-9] retain clear on live delivery, unless Retain As
         * Published [MQTT-3.3.1-12]. */
        bool retain = (opts & MQTT_SUB_OPT_RAP) ? m->retain : false;
        if (hit->sub_id || (hit->shared && qos > 0)) {
            *dlv |= deliver_tagged(b, s, m, qos, retain, hit);
        } else {
            *dlv |= sess_deliver(s, m, qos, retain);
        }
        delivered++;
    }
    b->routing--;
    return delivered;
}

/* A will waiting for its Will Delay Interval (MQTT 5 section 3.1.3.2.2). */
struct will_wait {
    struct loop_timer timer;
    struct broker *b;
    struct sess *s;
    int64_t due_wall_s; /* for the store: the deadline survives a restart */
};

static void publish_will_now(struct broker *b, struct sess *s)
{
    struct msg *will = sess_take_will(s);
    if (!will) {
        return;
    }
    /* Checked again as it goes: the ACL may have changed since CONNECT. */
    enum svc_verdict v = svc_will_check(b, s, msg_topic(will), will->retain);
    if (v != SVC_OK) {
        gw_log(GW_NOTICE, "broker", "client=\"%s\" will to \"%s\" not published: %s", s->id,
               will->topic, svc_verdict_name(v));
        b->st.pub_dropped++;
    } else {
        gw_log(GW_INFO, "broker", "client=\"%s\" will published to \"%s\"", s->id, will->topic);
        broker_publish(b, will);
    }
    msg_unref(will);
}

static void free_will_wait(struct broker *b, struct sess *s)
{
    if (s->will_wait) {
        loop_timer_stop(b->loop, &s->will_wait->timer);
        gw_free(s->will_wait);
        s->will_wait = NULL;
    }
}

static void on_will_due(struct loop *l, void *arg)
{
    (void)l;
    struct will_wait *w = arg;
    struct sess *s = w->s;
    struct broker *b = w->b;
    free_will_wait(b, s);
    publish_will_now(b, s);
    persist_session_disconnected(b, s); /* the stored will is gone too */
}

int broker_delay_will(struct broker *b, struct sess *s, uint64_t delay_ms)
{
    struct will_wait *w = s->will_wait;
    if (!w) {
        w = gw_calloc(1, sizeof(*w));
        if (!w) {
            return -ENOMEM;
        }
        w->b = b;
        w->s = s;
        loop_timer_init(&w->timer, on_will_due, w);
        s->will_wait = w;
    }
    w->due_wall_s = gw_clock_wall_s() + (int64_t)(delay_ms / 1000u);
    return loop_timer_start(b->loop, &w->timer, loop_now_ms(b->loop) + delay_ms);
}

int64_t broker_will_due_wall_s(const struct sess *s)
{
    return s->will_wait ? s->will_wait->due_wall_s : 0;
}

void broker_publish_will(struct broker *b, struct sess *s)
{
    if (!s->will) {
        return;
    }
    /* The will goes at the earlier of its delay and the session's end
     * [MQTT-3.1.3-9]; a session that ends now sends it now. */
    if (s->will_delay_s && !s->clean) {
        uint64_t delay_s = s->will_delay_s;
        if (s->expiry_s && s->expiry_s != 0xFFFFFFFFu && s->expiry_s < delay_s) {
            delay_s = s->expiry_s;
        }
        if (broker_delay_will(b, s, delay_s * 1000u) == 0) {
            return;
        }
    }
    publish_will_now(b, s);
}

void broker_cancel_delayed_will(struct broker *b, struct sess *s)
{
    if (s->will_wait) {
        free_will_wait(b, s);
        sess_set_will(s, NULL);
    }
}

void broker_reap_session(struct broker *b, struct sess *s)
{
    /* Reaped twice, the reap list would loop and free s twice. */
    assert(!s->reaped);
    s->reaped = true;
    broker_expiry_disarm(b, s);
    if (s->will_wait) {
        /* The session ends before the will's delay: it goes now. */
        free_will_wait(b, s);
        publish_will_now(b, s);
    }
    if (!s->link) {
        broker_share_release(b, s); /* what it held for a group goes on */
    }
    persist_session_delete(b, s);
    if (s->in_table) {
        sess_table_del(&b->sessions, s);
    }
    if (!b->routing) {
        /* No delivery may reach it from now on (a clean start, then a
         * publish in the same iteration); inside a delivery the router's
         * hits stay valid, and the end of the iteration unroutes it. */
        sess_unroute(s, b->route);
    }
    s->hash_next = b->reap;
    b->reap = s;
}

static void free_reaped(struct broker *b)
{
    while (b->reap) {
        struct sess *s = b->reap;
        b->reap = s->hash_next;
        sess_destroy(s, b->route);
    }
}

/* Front-ends first (closing connections publishes wills and reaps
 * sessions, flushing output may close more): in rounds until none has
 * work left; then free what was reaped and commit the store's batch. */
static void end_of_iteration(struct loop *l, void *arg)
{
    (void)l;
    struct broker *b = arg;
    bool more = true;
    for (int round = 0; round < 8 && more; round++) {
        more = false;
        for (size_t i = 0; i < b->n_hooks; i++) {
            more = b->hooks[i].fn(b->hooks[i].arg) || more;
        }
    }
    free_reaped(b);
    persist_flush(b);
    if (b->mem_episode) {
        (void)broker_memory_full(b); /* notices, and logs, the end of an episode */
    }
    if (more) {
        loop_skip_sleep(b->loop); /* more work queued by the last flush */
    }
}

int broker_hook_add(struct broker *b, broker_hook_cb *fn, void *arg)
{
    struct broker_hook *h = gw_realloc(b->hooks, (b->n_hooks + 1) * sizeof(*h));
    if (!h) {
        return -ENOMEM;
    }
    b->hooks = h;
    b->hooks[b->n_hooks++] = (struct broker_hook){fn, arg};
    return 0;
}

void broker_hook_del(struct broker *b, broker_hook_cb *fn, void *arg)
{
    for (size_t i = 0; i < b->n_hooks; i++) {
        if (b->hooks[i].fn == fn && b->hooks[i].arg == arg) {
            memmove(&b->hooks[i], &b->hooks[i + 1], (b->n_hooks - i - 1) * sizeof(*b->hooks));
            b->n_hooks--;
            return;
        }
    }
}

int broker_sys_source_add(struct broker *b, broker_sys_cb *fn, void *arg)
{
    struct broker_sys_source *v = gw_realloc(b->sys_src, (b->n_sys_src + 1) * sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    b->sys_src = v;
    b->sys_src[b->n_sys_src++] = (struct broker_sys_source){fn, arg};
    return 0;
}

void broker_sys_source_del(struct broker *b, broker_sys_cb *fn, void *arg)
{
    for (size_t i = 0; i < b->n_sys_src; i++) {
        if (b->sys_src[i].fn == fn && b->sys_src[i].arg == arg) {
            memmove(&b->sys_src[i], &b->sys_src[i + 1],
                    (b->n_sys_src - i - 1) * sizeof(*b->sys_src));
            b->n_sys_src--;
            return;
        }
    }
}

static void on_expiry_timer(struct loop *l, void *arg)
{
    struct broker *b = arg;
    broker_expiry_run(b, loop_now_ms(l));
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The same socket or serial port in two configs (broker_reload). */
static bool same_listener(const struct cfg_listener *a, const struct cfg_listener *b)
{
    return a->port == b->port && same_str(a->bind_address, b->bind_address) &&
           same_str(a->mqttsn_serial_device, b->mqttsn_serial_device) &&
           strcmp(a->protocol, b->protocol) == 0;
}

void broker_reload(struct broker *b, struct gw_config *cfg)
{
    char restart[256];
    size_t n = cfg_diff_restart_needed(b->cfg, cfg, restart, sizeof(restart));
    if (n > 0) {
        gw_log(GW_WARN, "broker", "reload: these options change only on restart: %s", restart);
    }
    /* Keep the listeners' config (open listeners borrow it), but take the
     * reloadable per-listener values from the matching new entry. */
    struct gw_config *old = b->cfg;
    for (size_t i = 0; i < old->n_listeners; i++) {
        struct cfg_listener *ol = &old->listeners[i];
        for (size_t j = 0; j < cfg->n_listeners; j++) {
            const struct cfg_listener *nl = &cfg->listeners[j];
            if (same_listener(ol, nl)) {
                ol->allow_anonymous = nl->allow_anonymous;
                ol->max_connections = nl->max_connections;
                break;
            }
        }
    }
    struct cfg_listener *keep = old->listeners;
    size_t keep_n = old->n_listeners;
    bool keep_default = old->default_listener;
    old->listeners = cfg->listeners;
    old->n_listeners = cfg->n_listeners;
    cfg->listeners = keep;
    cfg->n_listeners = keep_n;
    cfg->default_listener = keep_default;
    /* Persistence options need a restart too (the quota reloads). */
    cfg->persistence = old->persistence;
    cfg->persistence_durability = old->persistence_durability;
    cfg->persistence_periodic_ms = old->persistence_periodic_ms;
    cfg->persistence_map_max_bytes = old->persistence_map_max_bytes;
    char *loc = cfg->persistence_location;
    cfg->persistence_location = old->persistence_location;
    old->persistence_location = loc;
    b->cfg = cfg;
    cfg_free(old);
    apply_limits(b);
    persist_reload(b);
    if (broker_load_auth(b) < 0) {
        gw_log(GW_ERROR, "broker",
               "reload: password_file / acl_file rejected, keeping the old ones");
    }
    (void)gw_log_configure(cfg->log_type_mask, cfg->log_dest_mask, cfg->log_file,
                           cfg->log_timestamp);
    loop_timer_stop(b->loop, &b->sys_timer);
    (void)sys_start(b);
    gw_log(GW_NOTICE, "broker", "configuration reloaded");
}

void broker_shutdown(struct broker *b)
{
    end_of_iteration(b->loop, b);
}

void broker_stop(struct broker *b)
{
    broker_shutdown(b);
    /* After the last acknowledgements and wills: runs the completions
     * front-ends wait for. */
    persist_close(b);
}

void broker_destroy(struct broker *b)
{
    if (!b) {
        return;
    }
    broker_stop(b);
    broker_expiry_fini(b); /* before the sessions it points to go */
    /* Sessions end with the process, not for good: the store keeps them. */
    for (size_t i = 0; i < b->sessions.n_slots; i++) {
        struct sess *s = b->sessions.slots[i];
        while (s) {
            struct sess *next = s->hash_next;
            free_will_wait(b, s); /* the store keeps it for the next start */
            sess_table_del(&b->sessions, s);
            sess_destroy(s, b->route);
            s = next;
        }
    }
    loop_timer_stop(b->loop, &b->sys_timer);
    loop_timer_stop(b->loop, &b->expiry_timer);
    sess_table_fini(&b->sessions);
    route_destroy(b->route);
    if (b->pw_worker) {
        (void)loop_fd_del(b->loop, auth_worker_fd(b->pw_worker));
        auth_worker_destroy(b->pw_worker);
    }
    gw_free(b->pw_backoff);
    auth_free(b->auth);
    gw_free(b->auth_methods);
    auth_scram_free(b->scram);
    crypto_random_fini();
    cfg_free(b->cfg);
    for (size_t i = 0; i < b->n_reserved_ids; i++) {
        gw_free(b->reserved_ids[i]);
    }
    gw_free(b->reserved_ids);
    gw_free(b->hooks);
    gw_free(b->sys_src);
    gw_free(b);
}

int broker_reserve_id(struct broker *b, const char *id)
{
    char **a = gw_realloc(b->reserved_ids, (b->n_reserved_ids + 1) * sizeof(*a));
    if (!a) {
        return -ENOMEM;
    }
    b->reserved_ids = a;
    if (!(a[b->n_reserved_ids] = gw_strdup(id))) {
        return -ENOMEM;
    }
    b->n_reserved_ids++;
    return 0;
}

bool broker_id_reserved(const struct broker *b, struct gw_bytes id)
{
    for (size_t i = 0; i < b->n_reserved_ids; i++) {
        if (gw_bytes_eq(id, gw_bytes_str(b->reserved_ids[i]))) {
            return true;
        }
    }
    return false;
}
