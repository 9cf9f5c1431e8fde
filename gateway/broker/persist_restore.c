/* persist_restore.c - opening the store and restoring the broker's state
 * from it at start (sessions, subscriptions, inflight, retained, waiting
 * wills); closing it. See persist.h. */
#include "persist.h"

#include "alloc.h"
#include "broker.h"
#include "clock.h"
#include "gw_err.h"
#include "log.h"
#include "persist_priv.h"
#include "sess.h"
#include "store.h"

#include <errno.h>
#include <string.h>

/* The inverse; arms the will's timer. Corrupt data is ignored (logged).
 * Returns the bytes of x the will section took (0: none or damaged). */
static size_t restore_will(struct broker *b, struct sess *s, struct gw_bytes x)
{
    const uint8_t *p = x.p;
    size_t n = x.n;
    if (n < 1 + 8 + 2 + 2 || p[0] != 1) {
        return 0;
    }
    int64_t due = (int64_t)gw_be64(p + 1);
    uint8_t qos = p[9];
    bool retain = p[10] != 0;
    size_t off = 11;
    struct gw_bytes f[3];
    for (int i = 0; i < 3; i++) {
        size_t w = i == 0 ? 2u : 4u;
        if (off + w > n) {
            goto bad;
        }
        size_t len = w == 2 ? gw_be16(p + off) : gw_be32(p + off);
        off += w;
        if (off + len > n) {
            goto bad;
        }
        f[i] = (struct gw_bytes){p + off, len};
        off += len;
    }
    struct msg *m = msg_create(f[0], f[1], f[2], qos > 2 ? 2 : qos, retain);
    if (!m) {
        return off;
    }
    sess_set_will(s, m);
    int64_t left = due - gw_clock_wall_s();
    (void)broker_delay_will(b, s, (uint64_t)(left > 0 ? left : 0) * 1000u);
    return off;
bad:
    gw_log(GW_WARN, "persist", "client=\"%s\" stored will is damaged: dropped", s->id);
    return 0;
}

/* The owner section (PERSIST_IDENTITY_TAG) at x[off..]: returns the bytes
 * it took, 0 if there is none or it is damaged. */
static size_t restore_identity(struct sess *s, struct gw_bytes x, size_t off)
{
    if (off + 3 > x.n || x.p[off] != PERSIST_IDENTITY_TAG) {
        return 0;
    }
    size_t len = gw_be16(x.p + off + 1);
    if (len > x.n - off - 3 || memchr(x.p + off + 3, '\0', len)) {
        return 0;
    }
    if (len && !(s->username = gw_strndup((const char *)x.p + off + 3, len))) {
        return 0;
    }
    s->identity_unknown = false;
    return 3 + len;
}

/* The extra of a session record: a waiting will, the link state, the
 * owner. A record written before owners were stored has none: the first
 * identity to open the session claims it (svc_open). */
static void restore_extra(struct broker *b, struct sess *s, struct gw_bytes x)
{
    size_t off = restore_will(b, s, x);
    if (off + 5 <= x.n && x.p[off] == PERSIST_LINK_STATE_TAG) {
        size_t len = gw_be32(x.p + off + 1);
        if (len > x.n - off - 5 || sess_set_link_state(s, x.p + off + 5, len) < 0) {
            gw_log(GW_WARN, "persist",
                   "client=\"%s\" stored link state damaged or no memory: dropped", s->id);
            return;
        }
        off += 5 + len;
    }
    (void)restore_identity(s, x, off);
}

static void on_store_event(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct broker *b = arg;
    store_process_completions(b->persist.store);
}

/* ---- restore at start ---- */

struct restore {
    struct broker *b;
    struct sess **by_owner; /* sorted by owner (the store walks in order) */
    size_t n;
    size_t cap;
    size_t subs;
    size_t inflight;
    size_t retained;
    uint64_t queued;
};

static struct sess *find_owner(const struct restore *r, uint64_t owner)
{
    size_t lo = 0;
    size_t hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->by_owner[mid]->owner < owner) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < r->n && r->by_owner[lo]->owner == owner ? r->by_owner[lo] : NULL;
}

static int on_session(void *arg, const struct store_session *ss, uint64_t first, uint64_t last,
                      uint64_t len)
{
    struct restore *r = arg;
    struct broker *b = r->b;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct sess **a = gw_realloc(r->by_owner, cap * sizeof(*a));
        if (!a) {
            return -ENOMEM;
        }
        r->by_owner = a;
        r->cap = cap;
    }
    struct sess *s = sess_create(ss->client_id, false, &b->lim, &b->scnt);
    if (!s) {
        return -ENOMEM;
    }
    s->owner = ss->owner;
    s->pops = &persist_sess_ops;
    s->persist_arg = b;
    s->protocol = ss->protocol;
    s->identity_unknown = true; /* until restore_extra finds the owner */
    s->next_pid = ss->next_pid ? ss->next_pid : 1;
    s->q_seq_next = last;
    s->q_store_len = len;
    s->q_store_after = len ? first - 1 : last;
    uint32_t exp = b->cfg->persistent_client_expiration_s;
    if (ss->expiry_s != 0xFFFFFFFFu) {
        s->expiry_s = ss->expiry_s; /* MQTT 5 session expiry interval */
        exp = ss->expiry_s;
    }
    if (exp) {
        /* Offline time counts from the stored disconnect, on the wall
         * clock (the monotonic clock restarts with the process). */
        int64_t now = gw_clock_wall_s();
        int64_t gone = ss->disconnected_s ? now - (int64_t)ss->disconnected_s : 0;
        int64_t left = (int64_t)exp - (gone > 0 ? gone : 0);
        s->expire_at_ms = loop_now_ms(b->loop) + (uint64_t)(left > 0 ? left : 0) * 1000u;
    }
    sess_table_add(&b->sessions, s);
    broker_expiry_arm(b, s);
    r->by_owner[r->n++] = s;
    if (ss->extra.n) {
        restore_extra(b, s, ss->extra);
    }
    r->queued += len;
    if (ss->owner >= b->persist.next_owner) {
        b->persist.next_owner = ss->owner + 1;
    }
    return 0;
}

static int on_sub(void *arg, const struct store_sub *sub)
{
    struct restore *r = arg;
    struct sess *s = find_owner(r, sub->owner);
    if (!s) {
        return 0; /* orphan: the session delete cascades it next time */
    }
    if (sess_sub_add_v5(s, sub->filter, sub->qos, sub->options, sub->sub_id) < 0 ||
        route_sub_add(r->b->route, sub->filter, &s->ep, sub->qos, sub->options, sub->sub_id, NULL) <
                0) {
        return -ENOMEM;
    }
    r->subs++;
    return 0;
}

static int on_link(void *arg, uint64_t owner, struct gw_bytes key, struct gw_bytes value)
{
    struct restore *r = arg;
    struct sess *s = find_owner(r, owner);
    if (!s) {
        return 0; /* orphan: the session delete cascades it next time */
    }
    int rc = sess_add_link_rec(s, key, value);
    if (rc == -EINVAL) {
        gw_log(GW_WARN, "persist", "client=\"%s\" stored link record too large: dropped",
               s->id);
        return 0;
    }
    return rc;
}

static int add_out(struct sess *s, const struct store_inflight *f, const struct store_msg *sm)
{
    if (s->n_out == s->cap_out) {
        uint32_t cap = s->cap_out ? s->cap_out * 2 : 4;
        struct sess_inflight *o = gw_realloc(s->out, cap * sizeof(*o));
        if (!o) {
            return -ENOMEM;
        }
        s->out = o;
        s->cap_out = cap;
    }
    struct msg *m = persist_msg_from_store(sm);
    if (!m) {
        return -ENOMEM;
    }
    /* At startup, before any id is allocated: no pid_bits to keep. */
    /* Subscriptions are loaded first: they give the message its
     * Subscription Identifiers again (the record does not keep them). */
    s->out[s->n_out++] = (struct sess_inflight){
            .m = m,
            .tag = s->protocol == 5 ? sess_tag_rebuild(s, msg_topic(m), false) : NULL,
            .seq = f->seq,
            .pid = f->pid,
            .qos = f->qos,
            .state = f->state};
    s->out_bytes += m->payload_len;
    s->cnt->inflight++;
    if (f->seq > s->out_seq_next) {
        s->out_seq_next = f->seq;
    }
    return 0;
}

static int on_inflight(void *arg, const struct store_inflight *f, const struct store_msg *sm)
{
    struct restore *r = arg;
    struct sess *s = find_owner(r, f->owner);
    if (!s) {
        return 0;
    }
    r->inflight++;
    if (f->dir == STORE_IN) {
        int err;
        const struct sess_persist_ops *ops = s->pops;
        s->pops = NULL; /* already stored: do not write it again */
        (void)sess_in_qos2_begin(s, f->pid, &err);
        s->pops = ops;
        return err;
    }
    return sm ? add_out(s, f, sm) : 0;
}

static int on_retained(void *arg, const struct store_msg *sm)
{
    struct restore *r = arg;
    struct msg *m = persist_msg_from_store(sm);
    if (!m) {
        return -ENOMEM;
    }
    /* Shared by every later subscriber, and its record may go with the
     * next retained message on its topic: whoever takes it puts it again
     * (hook_inflight_put). */
    m->from_store = false;
    int rc = route_retain_set(r->b->route, m);
    msg_unref(m);
    r->retained++;
    return rc;
}

static struct store_config store_config_of(const struct gw_config *cfg)
{
    struct store_config sc = {
            .dir = cfg->persistence_location,
            .map_size_max = cfg->persistence_map_max_bytes,
            .quota_bytes = cfg->persistence_quota_bytes,
            .sync = STORE_SYNC_BATCH,
            .periodic_ms = cfg->persistence_periodic_ms,
    };
    if (cfg->persistence_durability == CFG_DURABILITY_PERIODIC) {
        sc.sync = STORE_SYNC_PERIODIC;
    } else if (cfg->persistence_durability == CFG_DURABILITY_NONE) {
        sc.sync = STORE_SYNC_NONE;
    } else if (cfg->persistence_durability == CFG_DURABILITY_JOURNAL) {
        sc.sync = STORE_SYNC_JOURNAL;
    }
    if (sc.map_size_max && sc.map_size_max < 64u * 1024u * 1024u) {
        sc.map_size = sc.map_size_max; /* start at the maximum when it is small */
    }
    return sc;
}

void persist_reload(struct broker *b)
{
    if (b->persist.store) {
        store_set_quota(b->persist.store, b->cfg->persistence_quota_bytes);
    }
}

int persist_open(struct broker *b)
{
    b->persist.next_msg_id = 1;
    b->persist.next_owner = 1;
    b->persist.batch_gen = 1;
    persist_lazy_init(b);
    if (!b->cfg->persistence) {
        return 0;
    }
    char err[512] = "";
    struct store_config sc = store_config_of(b->cfg);
    uint64_t t0 = gw_clock_now_ms();
    int rc = store_open(&sc, &b->persist.store, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "persist", "%s", err[0] ? err : gw_strerror(rc));
        return rc;
    }
    struct store_stats st;
    if (store_stats(b->persist.store, &st) == 0) {
        b->persist.next_msg_id = st.max_msg_id + 1;
        b->persist.next_owner = st.max_owner + 1;
    }
    struct restore r = {.b = b};
    static const struct store_load_ops ops = {on_session, on_sub, on_inflight, on_retained,
                                              on_link};
    rc = store_load(b->persist.store, &ops, &r);
    gw_free(r.by_owner);
    if (rc < 0) {
        gw_log(GW_ERROR, "persist", "restoring from %s failed: %s", sc.dir, gw_strerror(rc));
        return rc;
    }
    rc = loop_fd_add(b->loop, store_event_fd(b->persist.store), LOOP_READ, on_store_event, b);
    if (rc < 0) {
        return rc;
    }
    gw_log(GW_NOTICE, "persist",
           "store %s: %zu sessions, %llu queued, %zu subscriptions, %zu inflight, %zu retained "
           "restored in %llu ms",
           sc.dir, r.n, (unsigned long long)r.queued, r.subs, r.inflight, r.retained,
           (unsigned long long)(gw_clock_now_ms() - t0));
    return 0;
}

void persist_close(struct broker *b)
{
    if (!b->persist.store) {
        return;
    }
    persist_commit_pending(b);
    (void)loop_fd_del(b->loop, store_event_fd(b->persist.store));
    store_close(b->persist.store); /* runs the last completions */
    b->persist.store = NULL;
}
