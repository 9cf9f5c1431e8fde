/* route_share.c - shared subscription groups (MQTT 5.0 section 4.8.2).
 *
 * A subscription to "$share/{ShareName}/{filter}" makes its endpoint a
 * member of the group (ShareName, filter). The group hangs off the node of
 * filter in the subscription tree, so route_match reaches it by the same
 * walk as the normal subscriptions of that filter (and the '$' rule of
 * [MQTT-4.7.2-1] holds for it without a word here), and reports one member
 * per group: the one at the group's cursor, which then moves on. Members
 * stay in subscription order and leave without reordering the others, so
 * the round robin stays fair across unsubscribes.
 *
 * Members are found by a linear scan of the group: groups are worker pools,
 * a handful to a few hundred members, unlike a normal filter that every
 * device of a fleet may subscribe to (route.c indexes those).
 *
 * Every group also has a handle, its index in route.groups, so the caller
 * can come back to it (route_share_next) without the router keeping any
 * per-match state. Freed handles are reused last-freed first. */
#include "alloc.h"
#include "route.h"
#include "route_priv.h"
#include "topic.h"

#include <errno.h>
#include <string.h>

#define SHARE_PREFIX_LEN 7u /* "$share/" */

/* ---- handles ------------------------------------------------------------- */

static struct route_share *group_get(const struct route *r, uint32_t idx)
{
    return idx < r->groups_len ? r->groups[idx].g : NULL;
}

/* Room for one more handle. Returns 0 or -ENOMEM (table as before). */
static int slot_reserve(struct route *r)
{
    if (r->groups_free != ROUTE_SHARE_NONE || r->groups_len < r->groups_cap) {
        return 0;
    }
    if (r->groups_cap >= ROUTE_SHARE_NONE / 2) {
        return -ENOMEM; /* ROUTE_SHARE_NONE is never a handle */
    }
    uint32_t cap = r->groups_cap ? r->groups_cap * 2 : 4;
    struct route_share_slot *t = gw_realloc(r->groups, cap * sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    r->groups = t;
    r->groups_cap = cap;
    return 0;
}

/* Give g a handle; capacity reserved. */
static void slot_take(struct route *r, struct route_share *g)
{
    uint32_t i = r->groups_free;
    if (i != ROUTE_SHARE_NONE) {
        r->groups_free = r->groups[i].next_free;
    } else {
        i = r->groups_len++;
    }
    r->groups[i].g = g;
    r->groups[i].next_free = ROUTE_SHARE_NONE;
    g->idx = i;
    r->ngroups++;
}

static void slot_release(struct route *r, uint32_t i)
{
    r->groups[i].g = NULL;
    r->groups[i].next_free = r->groups_free;
    r->groups_free = i;
    r->ngroups--;
}

/* ---- groups and members -------------------------------------------------- */

static struct gw_bytes share_name(const struct route_share *g)
{
    struct gw_bytes b = {g->full + SHARE_PREFIX_LEN, g->name_len};
    return b;
}

static struct route_share *group_in_node(const struct route_node *n, struct gw_bytes name)
{
    for (uint32_t i = 0; i < route_node_nshares(n); i++) {
        if (gw_bytes_eq(share_name(n->ext->shares[i]), name)) {
            return n->ext->shares[i];
        }
    }
    return NULL;
}

static struct route_sub *member_find(const struct route_share *g, const struct route_ep *ep)
{
    for (uint32_t i = 0; i < g->nmembers; i++) {
        if (g->members[i].ep == ep) {
            return &g->members[i];
        }
    }
    return NULL;
}

/* Room for one more member. Returns 0 or -ENOMEM (g as before). */
static int members_reserve(struct route_share *g)
{
    if (g->nmembers < g->members_cap) {
        return 0;
    }
    uint32_t cap = g->members_cap * 2; /* a group is born with room for one */
    struct route_sub *m = gw_realloc(g->members, cap * sizeof(*m));
    if (!m) {
        return -ENOMEM;
    }
    g->members = m;
    g->members_cap = cap;
    return 0;
}

/* Room for one more group in n. Returns 0 or -ENOMEM (n as before). */
static int node_shares_reserve(struct route_node *n)
{
    struct route_node_ext *x = route_node_ext_get(n);
    if (!x) {
        return -ENOMEM;
    }
    if (x->nshares < x->shares_cap) {
        return 0;
    }
    uint32_t cap = x->shares_cap ? x->shares_cap * 2 : 1; /* most filters have one group */
    struct route_share **s = gw_realloc(x->shares, cap * sizeof(struct route_share *));
    if (!s) {
        route_node_ext_trim(n);
        return -ENOMEM;
    }
    x->shares = s;
    x->shares_cap = cap;
    return 0;
}

/* A new empty group for full (whose ShareName is name_len bytes) on n,
 * with room for its first member. Returns it, or NULL (-ENOMEM: the
 * router is as before, but for spare capacity). */
static struct route_share *group_create(struct route *r, struct route_node *n, struct gw_bytes full,
                                        size_t name_len)
{
    if (slot_reserve(r) < 0 || node_shares_reserve(n) < 0) {
        return NULL;
    }
    struct route_share *g = gw_alloc(sizeof(*g) + full.n);
    if (!g) {
        return NULL;
    }
    memset(g, 0, sizeof(*g));
    g->members = gw_alloc(sizeof(struct route_sub));
    if (!g->members) {
        gw_free(g);
        return NULL;
    }
    g->members_cap = 1;
    g->node = n;
    g->name_len = (uint32_t)name_len;
    g->full_len = (uint32_t)full.n;
    memcpy(g->full, full.p, full.n);
    n->ext->shares[n->ext->nshares++] = g;
    slot_take(r, g);
    return g;
}

/* Unlink the (empty) group g from its node and its handle, and free it. */
static void group_destroy(struct route *r, struct route_share *g)
{
    struct route_node *n = g->node;
    struct route_node_ext *x = n->ext; /* g is in it */
    for (uint32_t i = 0; i < x->nshares; i++) {
        if (x->shares[i] == g) {
            x->shares[i] = x->shares[--x->nshares]; /* order does not matter */
            break;
        }
    }
    if (x->nshares == 0) {
        gw_free(x->shares);
        x->shares = NULL;
        x->shares_cap = 0;
        route_node_ext_trim(n);
    }
    slot_release(r, g->idx);
    gw_free(g->members);
    gw_free(g);
}

void route_share_node_fini(struct route_node *n)
{
    struct route_node_ext *x = n->ext;
    if (!x) {
        return;
    }
    for (uint32_t i = 0; i < x->nshares; i++) {
        gw_free(x->shares[i]->members);
        gw_free(x->shares[i]);
    }
    gw_free(x->shares);
    x->shares = NULL;
    x->nshares = 0;
    x->shares_cap = 0;
}

/* ---- subscribe / unsubscribe --------------------------------------------- */

int route_share_sub_add(struct route *r, struct gw_bytes full, struct route_ep *ep, uint8_t qos,
                        uint8_t options, uint32_t sub_id, bool *replaced)
{
    struct gw_bytes name;
    struct gw_bytes filter;
    if (!topic_share_parse(full, &name, &filter)) {
        return -EINVAL; /* [MQTT-4.8.2-1] [MQTT-4.8.2-2] */
    }
    struct route_node *n;
    int rc = route_tree_path(r->sub_root, filter, true, true, &n);
    if (rc < 0) {
        return rc;
    }
    struct route_share *g = group_in_node(n, name);
    /* One subscription per (session, filter), the ShareName being part of
     * the filter: a new SUBSCRIBE replaces it [MQTT-3.8.4-3]. */
    struct route_sub *m = g ? member_find(g, ep) : NULL;
    bool existed = m != NULL;
    if (!g) {
        g = group_create(r, n, full, name.n);
    }
    if (!g || (!m && members_reserve(g) < 0)) {
        route_tree_prune(n); /* frees the nodes this call made, if any */
        return -ENOMEM;
    }
    if (!m) {
        m = &g->members[g->nmembers++]; /* last in the round robin */
        m->ep = ep;
        r->nsubs++;
    }
    m->qos = qos;
    m->options = options;
    m->sub_id = sub_id;
    if (replaced) {
        *replaced = existed;
    }
    return 0;
}

int route_share_sub_del(struct route *r, struct gw_bytes full, struct route_ep *ep)
{
    struct gw_bytes name;
    struct gw_bytes filter;
    struct route_node *n;
    if (!topic_share_parse(full, &name, &filter) ||
        route_tree_path(r->sub_root, filter, true, false, &n) < 0) {
        return -ENOENT;
    }
    struct route_share *g = group_in_node(n, name);
    struct route_sub *m = g ? member_find(g, ep) : NULL;
    if (!m) {
        return -ENOENT;
    }
    uint32_t k = (uint32_t)(m - g->members);
    memmove(m, m + 1, (g->nmembers - k - 1) * sizeof(*m));
    g->nmembers--;
    r->nsubs--;
    if (g->nmembers == 0) {
        group_destroy(r, g);
        route_tree_prune(n);
        return 0;
    }
    /* Keep the turn where it was: on the member after ep if it was ep's
     * turn, else on the same member, which moved down if it was after ep. */
    if (k < g->cursor) {
        g->cursor--;
    }
    if (g->cursor >= g->nmembers) {
        g->cursor = 0;
    }
    return 0;
}

/* ---- delivery ------------------------------------------------------------ */

static void hit_fill(struct route_hit *h, const struct route_sub *m, uint32_t idx)
{
    h->ep = m->ep;
    h->qos = m->qos;
    h->options = m->options;
    h->shared = true;
    h->sub_id = m->sub_id;
    h->group_idx = idx;
    h->more_ids = 0; /* one subscription: its own id only [MQTT-3.3.4-5] */
}

/* The member whose turn it is; the turn passes to the next one. */
static const struct route_sub *turn_take(struct route_share *g)
{
    const struct route_sub *m = &g->members[g->cursor];
    g->cursor = (g->cursor + 1 == g->nmembers) ? 0 : g->cursor + 1;
    return m;
}

void route_share_hits_put(struct route *r, const struct route_node *n)
{
    for (uint32_t i = 0; i < n->ext->nshares; i++) {
        struct route_share *g = n->ext->shares[i];
        hit_fill(&r->hits[r->nhits++], turn_take(g), g->idx);
    }
}

struct route_ep *route_share_next(struct route *r, uint32_t group_idx, route_share_ok_cb *ok,
                                  void *arg, struct route_hit *out)
{
    struct route_share *g = group_get(r, group_idx);
    if (!g) {
        return NULL;
    }
    /* n turns bring the cursor back where it was: nobody willing leaves
     * the round robin as it found it. */
    for (uint32_t k = 0; k < g->nmembers; k++) {
        struct route_hit cand;
        hit_fill(&cand, turn_take(g), group_idx);
        if (!ok || ok(arg, &cand)) {
            if (out) {
                *out = cand;
            }
            return cand.ep;
        }
    }
    return NULL;
}

/* ---- lookups ------------------------------------------------------------- */

int route_share_find(const struct route *r, struct gw_bytes share_name, struct gw_bytes filter,
                     uint32_t *group_idx)
{
    struct route_node *n;
    if (route_tree_path(r->sub_root, filter, true, false, &n) < 0) {
        return -ENOENT;
    }
    const struct route_share *g = group_in_node(n, share_name);
    if (!g) {
        return -ENOENT;
    }
    *group_idx = g->idx;
    return 0;
}

struct gw_bytes route_share_filter(const struct route *r, uint32_t group_idx)
{
    const struct route_share *g = group_get(r, group_idx);
    struct gw_bytes b = {NULL, 0};
    if (g) {
        b.p = g->full;
        b.n = g->full_len;
    }
    return b;
}

size_t route_share_members(const struct route *r, uint32_t group_idx)
{
    const struct route_share *g = group_get(r, group_idx);
    return g ? g->nmembers : 0;
}

size_t route_share_count(const struct route *r)
{
    return r->ngroups;
}
