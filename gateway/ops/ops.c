/* ops.c - the operations endpoints of ops.h: listeners, routing, health,
 * readiness, basic authentication. */
#include "ops.h"

#include "alloc.h"
#include "auth.h"
#include "auth_backoff.h"
#include "auth_worker.h"
#include "broker.h"
#include "crypto.h"
#include "gw_err.h"
#include "log.h"
#include "ops_priv.h"
#include "prom.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define JSON_TYPE  "application/json"

static void on_beat(struct loop *l, void *arg)
{
    struct ops *o = arg;
    uint64_t now = loop_now_ms(l);
    uint64_t due = o->beat.deadline_ms;
    o->last_lag_ms = now > due ? now - due : 0;
    if (o->last_lag_ms > OPS_STALL_MS) {
        o->stalls++;
        o->last_stall_ms = now;
        o->stall_lag_ms = o->last_lag_ms;
        gw_log(GW_WARN, "ops", "event loop stalled: a timer fired %llu ms late",
               (unsigned long long)o->last_lag_ms);
    }
    o->last_beat_ms = now;
    /* No fd event since the last beat (timers alone are not work from
     * outside): after OPS_QUIET_BEATS of those it rests, and on_iteration
     * arms it again with the next event. A loop with no work cannot stall. */
    uint64_t ev = loop_fd_events(l);
    o->quiet_beats = ev == o->beat_events ? o->quiet_beats + 1 : 0;
    o->beat_events = ev;
    if (o->quiet_beats < OPS_QUIET_BEATS) {
        (void)loop_timer_start(l, &o->beat, now + OPS_HEARTBEAT_MS);
    }
}

/* Before every sleep: an fd event woke the loop since the beat rested
 * (a socket, a signal, the store's completion; not a timer, or systemd's
 * WATCHDOG=1 every few seconds would keep the beat going), so there is
 * work, so watch for stalls. */
static void on_iteration(struct loop *l, void *arg)
{
    struct ops *o = arg;
    if (o->watching && !loop_timer_armed(&o->beat) && loop_fd_events(l) != o->beat_events) {
        o->quiet_beats = 0;
        o->beat_events = loop_fd_events(l);
        o->last_beat_ms = loop_now_ms(l);
        (void)loop_timer_start(l, &o->beat, o->last_beat_ms + OPS_HEARTBEAT_MS);
    }
}

bool ops_healthy(struct ops *o, char *why, size_t cap)
{
    uint64_t now = loop_now_ms(o->b->loop);
    if (o->last_stall_ms && now - o->last_stall_ms < OPS_STALL_WINDOW_MS) {
        (void)snprintf(why, cap, "event loop stalled for %llu ms %llu s ago",
                       (unsigned long long)o->stall_lag_ms,
                       (unsigned long long)((now - o->last_stall_ms) / 1000u));
        return false;
    }
    if (loop_timer_armed(&o->beat) && now > o->last_beat_ms + OPS_STALL_MS + OPS_HEARTBEAT_MS) {
        (void)snprintf(why, cap, "event loop heartbeat %llu ms old",
                       (unsigned long long)(now - o->last_beat_ms));
        return false;
    }
    struct store *st = o->b->persist.store;
    if (st) {
        struct store_commit_figures f;
        uint64_t stalled = 0;
        store_commit_figures_get(st, &f, &stalled);
        if (stalled > OPS_STORE_STALL_MS) {
            (void)snprintf(why, cap, "store commit waiting for %llu ms",
                           (unsigned long long)stalled);
            return false;
        }
        if (f.last_rc != 0) {
            (void)snprintf(why, cap, "last store commit failed: %s", gw_strerror(f.last_rc));
            return false;
        }
    }
    return true;
}

static void reply_text(struct http_reply *rep, int status, const char *text)
{
    rep->status = status;
    rep->content_type = TEXT_PLAIN;
    (void)http_body_printf(rep, "%s\n", text);
}

static void get_healthz(struct ops *o, struct http_reply *rep)
{
    char why[160];
    if (ops_healthy(o, why, sizeof(why))) {
        reply_text(rep, 200, "ok");
    } else {
        char t[200];
        (void)snprintf(t, sizeof(t), "unhealthy: %s", why);
        reply_text(rep, 503, t);
    }
}

static void get_readyz(struct ops *o, struct http_reply *rep)
{
    struct store *st = o->b->persist.store;
    if (!o->ready) {
        reply_text(rep, 503, "not ready: starting or stopping");
    } else if (st && store_over_quota(st) &&
               o->b->cfg->persistence_quota_policy == CFG_QUOTA_REFUSE) {
        reply_text(rep, 503, "not ready: store over persistence_quota, refusing durable messages");
    } else {
        reply_text(rep, 200, "ready");
    }
}

static void get_metrics(struct ops *o, struct http_reply *rep)
{
    rep->status = 200;
    rep->content_type = PROM_CONTENT_TYPE;
    ops_broker_metrics(o, rep);
    for (size_t i = 0; i < o->n_src; i++) {
        if (o->src[i].metrics) {
            o->src[i].metrics(o->src[i].arg, rep);
        }
    }
}

static void get_status(struct ops *o, struct http_reply *rep)
{
    rep->status = 200;
    rep->content_type = JSON_TYPE;
    ops_broker_status(o, rep);
    for (size_t i = 0; i < o->n_src; i++) {
        if (o->src[i].status) {
            o->src[i].status(o->src[i].arg, rep);
        }
    }
    (void)http_body_append(rep, "}\n", 2);
}

static bool bytes_ieq_prefix(struct gw_bytes b, const char *prefix)
{
    size_t n = strlen(prefix);
    if (b.n < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b.p[i];
        c = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
        if (c != (uint8_t)prefix[i]) {
            return false;
        }
    }
    return true;
}

/* RFC 7617: Authorization: Basic base64(user ":" password), checked
 * against the password_file on the auth worker (a PBKDF2 check on the loop
 * would stall every client: issue 11). Deny unless a user verifies. */
#define OPS_CRED_CACHE_MS 60000u

enum basic_auth { BASIC_DENY = 0, BASIC_ALLOW, BASIC_WAIT, BASIC_BUSY };

/* One check on the worker, for one waiting request. */
struct ops_pw {
    struct ops *o;
    struct http_wait *w;
    struct auth_worker_req *r;
    uint8_t peer[16];
    size_t cred_n; /* the Authorization value, cached when it verifies */
    uint8_t cred[512];
};

static void pw_free(struct ops_pw *p)
{
    crypto_wipe(p->cred, sizeof(p->cred));
    gw_free(p);
}

static void note_result(struct ops *o, const uint8_t *peer, const uint8_t *cred, size_t cred_n,
                        bool ok)
{
    uint64_t now = loop_now_ms(o->b->loop);
    if (o->b->pw_backoff) {
        if (ok) {
            auth_backoff_succeeded(o->b->pw_backoff, peer);
        } else {
            (void)auth_backoff_failed(o->b->pw_backoff, peer, now);
        }
    }
    if (ok && cred_n <= sizeof(o->cred)) {
        memcpy(o->cred, cred, cred_n);
        o->cred_n = cred_n;
        o->cred_until_ms = now + OPS_CRED_CACHE_MS;
    }
}

static void on_pw_done(void *arg, bool ok)
{
    struct ops_pw *p = arg;
    note_result(p->o, p->peer, p->cred, p->cred_n, ok);
    http_wake(p->w, ok ? BASIC_ALLOW : BASIC_DENY); /* the request is answered now */
    pw_free(p);
}

/* The request's connection ended before its check did. */
static void on_pw_gone(void *arg)
{
    struct ops_pw *p = arg;
    auth_worker_cancel(p->o->b->pw_worker, p->r);
    pw_free(p);
}

/* Hand (user, pass) to the worker and defer rep's answer. */
static enum basic_auth submit_check(struct ops *o, const struct http_request *req,
                                    struct http_reply *rep, struct gw_bytes v,
                                    struct gw_bytes user, struct gw_bytes pass)
{
    struct ops_pw *p = gw_calloc(1, sizeof(*p));
    struct auth_pw_job *job = p ? auth_pw_job_prepare(o->b->auth, user, pass) : NULL;
    if (!job || v.n > sizeof(p->cred)) {
        auth_pw_job_free(job);
        if (p) {
            pw_free(p);
        }
        return job ? BASIC_DENY : BASIC_BUSY;
    }
    p->o = o;
    memcpy(p->peer, req->peer, sizeof(p->peer));
    memcpy(p->cred, v.p, v.n);
    p->cred_n = v.n;
    int err = 0;
    p->r = auth_worker_submit(o->b->pw_worker, job, on_pw_done, p, &err);
    if (!p->r) {
        pw_free(p);
        return BASIC_BUSY; /* auth_max_pending checks already wait */
    }
    p->w = http_reply_defer(rep, on_pw_gone, p);
    if (!p->w) {
        auth_worker_cancel(o->b->pw_worker, p->r);
        pw_free(p);
        return BASIC_BUSY;
    }
    return BASIC_WAIT;
}

static enum basic_auth basic_auth_check(struct ops *o, const struct http_request *req,
                                        struct http_reply *rep)
{
    struct gw_bytes v;
    if (!o->b->auth || !auth_has_passwords(o->b->auth) ||
        !http_header_get(req, "authorization", &v) || !bytes_ieq_prefix(v, "basic ")) {
        return BASIC_DENY;
    }
    if (rep->resumed) {
        return (enum basic_auth)rep->wake_result; /* the worker's answer */
    }
    uint64_t now = loop_now_ms(o->b->loop);
    if (o->cred_n && v.n == o->cred_n && now < o->cred_until_ms &&
        crypto_equal_ct(v.p, o->cred, v.n)) {
        return BASIC_ALLOW; /* verified a minute ago at most */
    }
    uint64_t retry;
    if (o->b->pw_backoff && auth_backoff_blocked(o->b->pw_backoff, req->peer, now, &retry)) {
        return BASIC_DENY;
    }
    struct gw_bytes cred = {v.p + 6, v.n - 6};
    while (cred.n && cred.p[0] == ' ') {
        cred.p++;
        cred.n--;
    }
    uint8_t dec[512];
    enum basic_auth res = BASIC_DENY;
    ssize_t n = http_base64_decode(cred, dec, sizeof(dec));
    const uint8_t *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
    if (colon && colon > dec) {
        struct gw_bytes user = {dec, (size_t)(colon - dec)};
        struct gw_bytes pass = {colon + 1, (size_t)n - user.n - 1};
        if (o->b->pw_worker) {
            res = submit_check(o, req, rep, v, user, pass);
        } else if (auth_check_password(o->b->auth, user, pass)) {
            res = BASIC_ALLOW; /* no worker (unit tests): on the caller's thread */
        }
    }
    crypto_wipe(dec, sizeof(dec));
    if (res == BASIC_ALLOW || res == BASIC_DENY) {
        note_result(o, req->peer, v.p, v.n, res == BASIC_ALLOW); /* answered here */
    }
    return res;
}

static bool path_is(const struct http_request *req, const char *p)
{
    return gw_bytes_eq(req->path, gw_bytes_str(p));
}

static void on_request(void *arg, const struct http_request *req, struct http_reply *rep)
{
    struct ops_lsn *ls = arg;
    struct ops *o = ls->o;
    if (path_is(req, "/healthz")) {
        get_healthz(o, rep);
        return;
    }
    if (path_is(req, "/readyz")) {
        get_readyz(o, rep);
        return;
    }
    bool known = path_is(req, "/metrics") || path_is(req, "/api/v1/status");
    enum basic_auth ba = known && ls->basic_auth ? basic_auth_check(o, req, rep) : BASIC_ALLOW;
    if (ba == BASIC_WAIT) {
        return; /* answered when the password check is done */
    }
    if (ba == BASIC_BUSY) {
        reply_text(rep, 503, "busy: too many password checks waiting");
        rep->extra_header = "Retry-After: 1";
        return;
    }
    if (ba == BASIC_DENY) {
        reply_text(rep, 401, "authentication required");
        rep->extra_header = "WWW-Authenticate: Basic realm=\"tern\", charset=\"UTF-8\"";
        gw_log(GW_NOTICE, "ops", "listener=%s %.*s: missing or wrong credentials", ls->name,
               (int)req->path.n, (const char *)req->path.p);
        return;
    }
    if (path_is(req, "/metrics")) {
        get_metrics(o, rep);
    } else if (path_is(req, "/api/v1/status")) {
        get_status(o, rep);
    } else {
        reply_text(rep, 404, "not found: try /metrics, /healthz, /readyz or /api/v1/status");
    }
}

int ops_create(struct broker *b, struct ops **out)
{
    struct ops *o = gw_calloc(1, sizeof(*o));
    if (!o) {
        return -ENOMEM;
    }
    o->b = b;
    o->last_beat_ms = loop_now_ms(b->loop);
    loop_timer_init(&o->beat, on_beat, o);
    *out = o;
    return 0;
}

int ops_watch_loop(struct ops *o)
{
    if (o->watching) {
        return 0;
    }
    int rc = loop_hook_add(o->b->loop, on_iteration, o);
    if (rc < 0) {
        return rc;
    }
    o->watching = true;
    o->beat_events = loop_fd_events(o->b->loop);
    o->last_beat_ms = loop_now_ms(o->b->loop);
    return loop_timer_start(o->b->loop, &o->beat, o->last_beat_ms + OPS_HEARTBEAT_MS);
}

static int listen_one(struct ops *o, const struct cfg_listener *cl)
{
    struct ops_lsn *ls = gw_calloc(1, sizeof(*ls));
    if (!ls) {
        return -ENOMEM;
    }
    ls->o = o;
    ls->basic_auth = cl->http_basic_auth;
    bool v6 = cl->bind_address && strchr(cl->bind_address, ':');
    (void)snprintf(ls->name, sizeof(ls->name), "%s%s%s:%u", v6 ? "[" : "",
                   cl->bind_address ? cl->bind_address : "*", v6 ? "]" : "", cl->port);
    struct http_limits lim = {.max_conns =
                                      cl->max_connections > 0 ? (size_t)cl->max_connections : 0};
    int rc = http_server_create(o->b->loop, &lim, on_request, ls, &ls->srv);
    if (rc == 0) {
        rc = http_server_listen(ls->srv, cl->bind_address, cl->port, cl->socket_domain);
    }
    if (rc < 0) {
        gw_log(cl->best_effort ? GW_WARN : GW_ERROR, "ops", "listener=%s (%s): cannot listen: %s%s",
               ls->name, cl->origin, gw_strerror(rc),
               cl->best_effort ? "; the default metrics listener stays off" : "");
        http_server_destroy(ls->srv);
        gw_free(ls);
        return cl->best_effort ? 0 : rc;
    }
    gw_log(GW_NOTICE, "ops", "listener=%s serving /metrics /healthz /readyz /api/v1/status%s",
           ls->name, ls->basic_auth ? " (basic auth)" : "");
    ls->next = o->lsns;
    o->lsns = ls;
    return 0;
}

int ops_listen(struct ops *o)
{
    const struct gw_config *cfg = o->b->cfg;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        if (strcmp(cl->protocol, "http") == 0) {
            int rc = listen_one(o, cl);
            rc = rc == 0 ? ops_watch_loop(o) : rc; /* /healthz reports stalls */
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

int ops_source_add(struct ops *o, const struct ops_source *src)
{
    struct ops_source *v = gw_realloc(o->src, (o->n_src + 1) * sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    v[o->n_src++] = *src;
    o->src = v;
    return 0;
}

void ops_set_ready(struct ops *o, bool ready)
{
    o->ready = ready;
}

void ops_destroy(struct ops *o)
{
    if (!o) {
        return;
    }
    while (o->lsns) {
        struct ops_lsn *ls = o->lsns;
        o->lsns = ls->next;
        http_server_destroy(ls->srv);
        gw_free(ls);
    }
    loop_timer_stop(o->b->loop, &o->beat);
    if (o->watching) {
        loop_hook_del(o->b->loop, on_iteration, o);
    }
    gw_free(o->src);
    crypto_wipe(o->cred, sizeof(o->cred));
    gw_free(o);
}

void ops_json_str(struct http_reply *r, const char *s)
{
    (void)http_body_append(r, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            (void)http_body_append(r, e, 2);
        } else if (*p < 0x20) {
            (void)http_body_printf(r, "\\u%04x", *p); /* RFC 8259 section 7 */
        } else {
            (void)http_body_append(r, p, 1);
        }
    }
    (void)http_body_append(r, "\"", 1);
}

void ops_json_u64(struct http_reply *r, uint64_t v)
{
    (void)http_body_printf(r, "%llu", (unsigned long long)v);
}
