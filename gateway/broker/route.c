/* route.c - the router: the tree, subscriptions and topic matching.
 *
 * Two trees of the same node type, one node per topic level:
 *  - the subscription tree, keyed by filter levels; a node's '+' and '#'
 *    children hang off dedicated pointers, every other level sits in a
 *    small open-addressing hash table (linear probing, backward-shift
 *    delete, load <= 3/4) keyed by the level's bytes;
 *  - the retained tree, keyed by topic-name levels (all literal).
 *
 * route_match walks the subscription tree breadth-first, one topic level at
 * a time, with a frontier of the nodes matched so far: each level is hashed
 * once and looked up in every frontier node. Hits, frontier and hit array
 * belong to the router and only grow, so a warm router does not allocate
 * per match.
 *
 * Every other walk (retained matching, destroy) is depth-first without a
 * stack: a node knows its parent and its slot in the parent's table, so the
 * walk climbs back up and resumes with the next sibling. Topics may have
 * 32768 levels; recursion that deep could overflow a small thread stack,
 * and an explicit stack would need an allocation that route_retain_match
 * cannot report.
 *
 * Invariant: every node but the roots has subscriptions, a retained
 * message or a child; route_sub_del / route_retain_set prune nodes that
 * become empty, and a failed insert prunes what it created.
 *
 * Shared subscription groups hang off the node of their filter; their
 * bookkeeping is in route_share.c, route_match only asks it for one hit per
 * group of every node it matches.
 *
 * Retained messages (route_retain_*) are in route_retain.c; route_priv.h
 * holds the node type and the tree helpers the three files use. */
#include "route.h"

#include "alloc.h"
#include "route_priv.h"
#include "topic.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* ---- nodes --------------------------------------------------------------- */

static struct route_node *node_new(struct route_node *parent, const uint8_t *key, size_t klen,
                                   enum route_node_kind kind)
{
    /* The key starts in the struct's tail padding: offsetof, not sizeof
     * (a one-byte level then fits malloc's 112-byte class). */
    size_t head = offsetof(struct route_node, key);
    struct route_node *n = gw_alloc(head + klen);
    if (!n) {
        return NULL;
    }
    memset(n, 0, head);
    n->parent = parent;
    n->kind = (uint8_t)kind;
    n->klen = (uint32_t)klen;
    if (klen) {
        memcpy(n->key, key, klen);
    }
    n->hash = route_key_hash(key, klen);
    return n;
}

struct route_node_ext *route_node_ext_get(struct route_node *n)
{
    if (!n->ext) {
        n->ext = gw_calloc(1, sizeof(*n->ext));
    }
    return n->ext;
}

/* Nothing in use: no wildcard child, no index, no group (a group array
 * with no group in it is spare capacity). */
static bool ext_unused(const struct route_node_ext *x)
{
    return !x->plus && !x->multi && !x->sidx && x->nshares == 0;
}

void route_node_ext_trim(struct route_node *n)
{
    struct route_node_ext *x = n->ext;
    if (x && ext_unused(x)) {
        gw_free(x->shares);
        gw_free(x);
        n->ext = NULL;
    }
}

static void node_free(struct route_node *n)
{
    route_share_node_fini(n);
    gw_free(n->slots);
    if (n->subs_cap > 1) {
        gw_free(n->subs.many);
    }
    if (n->ext) {
        gw_free(n->ext->sidx);
        gw_free(n->ext);
    }
    gw_free(n);
}

static bool node_empty(const struct route_node *n)
{
    return n->nsubs == 0 && n->nchild == 0 && !n->retained && (!n->ext || ext_unused(n->ext));
}

struct route_node *route_node_child_find(const struct route_node *n, const uint8_t *key,
                                         size_t klen, uint32_t hash)
{
    if (n->nchild == 0) {
        return NULL;
    }
    uint32_t mask = n->cap - 1;
    for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
        struct route_node *c = n->slots[i];
        if (!c) {
            return NULL;
        }
        if (c->hash == hash && c->klen == klen && (klen == 0 || memcmp(c->key, key, klen) == 0)) {
            return c;
        }
    }
}

/* Put c in the first free slot of its probe sequence; capacity reserved. */
static void slot_put(struct route_node **slots, uint32_t cap, struct route_node *c)
{
    uint32_t mask = cap - 1;
    uint32_t i = c->hash & mask;
    while (slots[i]) {
        i = (i + 1) & mask;
    }
    slots[i] = c;
    c->slot = i;
}

/* Make room for one more literal child. Returns 0 or -ENOMEM (n as before). */
static int child_reserve(struct route_node *n)
{
    if ((n->nchild + 1) * 4u <= n->cap * 3u) {
        return 0;
    }
    uint32_t cap = n->cap ? n->cap * 2 : 4;
    struct route_node **slots = gw_calloc(cap, sizeof(struct route_node *));
    if (!slots) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n->cap; i++) {
        if (n->slots[i]) {
            slot_put(slots, cap, n->slots[i]);
        }
    }
    gw_free(n->slots);
    n->slots = slots;
    n->cap = cap;
    return 0;
}

/* True if home lies cyclically in (i, j]: the entry at j may not move to i. */
static bool home_between(uint32_t home, uint32_t i, uint32_t j)
{
    return (i < j) ? (home > i && home <= j) : (home > i || home <= j);
}

/* Remove literal child c from n's table (backward-shift deletion keeps the
 * probe sequences intact without tombstones). */
static void child_remove(struct route_node *n, struct route_node *c)
{
    uint32_t mask = n->cap - 1;
    uint32_t i = c->slot;
    n->slots[i] = NULL;
    for (uint32_t j = (i + 1) & mask; n->slots[j]; j = (j + 1) & mask) {
        struct route_node *e = n->slots[j];
        if (home_between(e->hash & mask, i, j)) {
            continue;
        }
        n->slots[i] = e;
        e->slot = i;
        n->slots[j] = NULL;
        i = j;
    }
    if (--n->nchild == 0) {
        gw_free(n->slots);
        n->slots = NULL;
        n->cap = 0;
    }
}

/* Unlink c from its parent p. */
static void node_detach(struct route_node *p, struct route_node *c)
{
    if (c->kind == ROUTE_NODE_PLUS) {
        p->ext->plus = NULL;
        route_node_ext_trim(p);
    } else if (c->kind == ROUTE_NODE_MULTI) {
        p->ext->multi = NULL;
        route_node_ext_trim(p);
    } else {
        child_remove(p, c);
    }
}

/* Free n and its empty ancestors, stopping at a root or a node in use. */
void route_tree_prune(struct route_node *n)
{
    while (n->kind != ROUTE_NODE_ROOT && node_empty(n)) {
        struct route_node *p = n->parent;
        node_detach(p, n);
        node_free(n);
        n = p;
    }
}

/* ---- stackless iteration over children ----------------------------------- */

/* Child positions: [0, cap) are table slots, cap is '+', cap + 1 is '#'. */
struct route_node *route_node_child_from(const struct route_node *n, uint32_t pos)
{
    for (; pos < n->cap; pos++) {
        if (n->slots[pos]) {
            return n->slots[pos];
        }
    }
    struct route_node *plus = route_node_plus(n);
    struct route_node *multi = route_node_multi(n);
    if (pos == n->cap && plus) {
        return plus;
    }
    if (pos <= n->cap + 1 && multi) {
        return multi;
    }
    return NULL;
}

/* The position after child c in its parent's iteration order. */
uint32_t route_node_pos_after(const struct route_node *c)
{
    switch (c->kind) {
    case ROUTE_NODE_PLUS:
        return c->parent->cap + 1;
    case ROUTE_NODE_MULTI:
        return c->parent->cap + 2;
    default:
        return c->slot + 1;
    }
}

/* Free the whole tree under and including root, unreferencing retained
 * messages. Post-order: a node is freed once its cursor passed every child;
 * freed children are never read again because the cursor only moves on. */
static void tree_free(struct route_node *root)
{
    struct route_node *n = root;
    uint32_t pos = 0;
    while (n) {
        struct route_node *c = route_node_child_from(n, pos);
        if (c) {
            n = c;
            pos = 0;
            continue;
        }
        struct route_node *p = n->parent;
        if (p) {
            pos = route_node_pos_after(n);
        }
        msg_unref(n->retained);
        node_free(n);
        n = p;
    }
}

/* ---- paths --------------------------------------------------------------- */

/* Existing child of n for level [k, k + len), or NULL. wild: filter tree. */
static struct route_node *path_step(const struct route_node *n, const uint8_t *k, size_t len,
                                    bool wild)
{
    if (wild && route_level_is(k, len, '+')) {
        return route_node_plus(n);
    }
    if (wild && route_level_is(k, len, '#')) {
        return route_node_multi(n);
    }
    return route_node_child_find(n, k, len, route_key_hash(k, len));
}

/* Create the child of n for level [k, k + len). Returns it or NULL. */
static struct route_node *path_attach(struct route_node *n, const uint8_t *k, size_t len, bool wild)
{
    enum route_node_kind kind = ROUTE_NODE_LITERAL;
    if (wild && route_level_is(k, len, '+')) {
        kind = ROUTE_NODE_PLUS;
    } else if (wild && route_level_is(k, len, '#')) {
        kind = ROUTE_NODE_MULTI;
    }
    struct route_node *c = node_new(n, k, len, kind);
    if (!c) {
        return NULL;
    }
    struct route_node_ext *x = kind != ROUTE_NODE_LITERAL ? route_node_ext_get(n) : NULL;
    if (kind != ROUTE_NODE_LITERAL && !x) {
        node_free(c);
        return NULL;
    }
    if (kind == ROUTE_NODE_PLUS) {
        x->plus = c;
    } else if (kind == ROUTE_NODE_MULTI) {
        x->multi = c;
    } else if (child_reserve(n) == 0) {
        slot_put(n->slots, n->cap, c);
        n->nchild++;
    } else {
        node_free(c);
        return NULL;
    }
    return c;
}

/* Find (create: or make) the node for key under root. wild: key is a
 * filter and "+" / "#" levels are wildcards. Returns 0 and *out, -ENOENT
 * (not create) or -ENOMEM (create; the tree is as before). */
int route_tree_path(struct route_node *root, struct gw_bytes key, bool wild, bool create,
                    struct route_node **out)
{
    static const uint8_t none = 0;
    struct route_node *n = root;
    const uint8_t *p = key.n ? key.p : &none; /* an empty key is one empty level */
    const uint8_t *end = p + key.n;
    for (;;) {
        const uint8_t *le = route_level_end(p, end);
        size_t len = (size_t)(le - p);
        struct route_node *c = path_step(n, p, len, wild);
        if (!c && !create) {
            return -ENOENT;
        }
        if (!c) {
            c = path_attach(n, p, len, wild);
        }
        if (!c) {
            route_tree_prune(n); /* frees the empty nodes made by this call */
            return -ENOMEM;
        }
        n = c;
        if (le == end) {
            break;
        }
        p = le + 1;
    }
    *out = n;
    return 0;
}

/* ---- create / destroy ---------------------------------------------------- */

int route_create(struct route **out)
{
    struct route *r = gw_calloc(1, sizeof(*r));
    if (!r) {
        return -ENOMEM;
    }
    r->sub_root = node_new(NULL, NULL, 0, ROUTE_NODE_ROOT);
    r->ret_root = node_new(NULL, NULL, 0, ROUTE_NODE_ROOT);
    r->cur_cap = 16;
    r->next_cap = 16;
    r->cur = gw_alloc(r->cur_cap * sizeof(struct route_node *));
    r->next = gw_alloc(r->next_cap * sizeof(struct route_node *));
    if (!r->sub_root || !r->ret_root || !r->cur || !r->next) {
        route_destroy(r);
        return -ENOMEM;
    }
    r->gen = 1;
    r->groups_free = ROUTE_SHARE_NONE;
    *out = r;
    return 0;
}

void route_destroy(struct route *r)
{
    if (!r) {
        return;
    }
    if (r->sub_root) {
        tree_free(r->sub_root);
    }
    if (r->ret_root) {
        tree_free(r->ret_root);
    }
    gw_free(r->groups); /* the groups went with their nodes */
    gw_free(r->hits);
    gw_free(r->ids);
    gw_free(r->cur);
    gw_free(r->next);
    gw_free(r);
}

/* ---- subscriptions ------------------------------------------------------- */

/* Above this many subscriptions on one filter a node indexes them by
 * endpoint, so a reconnect storm of many clients subscribing to one filter
 * costs O(1) per SUBSCRIBE instead of a scan. */
#define SUBS_INDEX_MIN 16u

static uint32_t ep_hash(const struct route_ep *ep)
{
    uint64_t x = (uint64_t)(uintptr_t)ep;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* The index slot that holds ep, or the free slot where it would go (the
 * index exists: n->ext->sidx). */
static uint32_t *sidx_slot(struct route_node *n, const struct route_ep *ep)
{
    const struct route_sub *subs = route_node_subs(n);
    uint32_t *sidx = n->ext->sidx;
    uint32_t mask = n->ext->sidx_cap - 1;
    for (uint32_t i = ep_hash(ep) & mask;; i = (i + 1) & mask) {
        uint32_t v = sidx[i];
        if (v == 0 || subs[v - 1].ep == ep) {
            return &sidx[i];
        }
    }
}

static bool has_sidx(const struct route_node *n)
{
    return n->ext && n->ext->sidx;
}

static struct route_sub *sub_find(struct route_node *n, const struct route_ep *ep)
{
    struct route_sub *subs = route_node_subs(n);
    if (has_sidx(n)) {
        uint32_t v = *sidx_slot(n, ep);
        return v ? &subs[v - 1] : NULL;
    }
    for (uint32_t i = 0; i < n->nsubs; i++) {
        if (subs[i].ep == ep) {
            return &subs[i];
        }
    }
    return NULL;
}

/* Index the subscriptions [0..nsubs) of n in a new table of cap slots. */
static int sidx_rebuild(struct route_node *n, uint32_t cap)
{
    struct route_node_ext *x = route_node_ext_get(n);
    uint32_t *t = x ? gw_calloc(cap, sizeof(*t)) : NULL;
    if (!t) {
        if (x) {
            route_node_ext_trim(n);
        }
        return -ENOMEM;
    }
    gw_free(x->sidx);
    x->sidx = t;
    x->sidx_cap = cap;
    const struct route_sub *subs = route_node_subs(n);
    for (uint32_t i = 0; i < n->nsubs; i++) {
        *sidx_slot(n, subs[i].ep) = i + 1;
    }
    return 0;
}

/* Backward-shift delete of an index slot (no tombstones). */
static void sidx_remove(struct route_node *n, uint32_t *slot)
{
    const struct route_sub *subs = route_node_subs(n);
    uint32_t *sidx = n->ext->sidx;
    uint32_t mask = n->ext->sidx_cap - 1;
    uint32_t i = (uint32_t)(slot - sidx);
    sidx[i] = 0;
    for (uint32_t j = (i + 1) & mask; sidx[j]; j = (j + 1) & mask) {
        uint32_t home = ep_hash(subs[sidx[j] - 1].ep) & mask;
        if (home_between(home, i, j)) {
            continue;
        }
        sidx[i] = sidx[j];
        sidx[j] = 0;
        i = j;
    }
}

/* Room for one more subscription in n (array and index). Returns 0 or
 * -ENOMEM; n's subscriptions are unchanged either way. The first one is
 * inline (most filters have one subscriber); the second moves both to an
 * array. */
static int subs_reserve(struct route_node *n)
{
    if (n->nsubs == n->subs_cap) {
        uint32_t cap = n->subs_cap ? n->subs_cap * 2 : 1;
        if (cap == 2) {
            struct route_sub *s = gw_alloc(cap * sizeof(*s));
            if (!s) {
                return -ENOMEM;
            }
            s[0] = n->subs.one;
            n->subs.many = s;
        } else if (cap > 2) {
            struct route_sub *s = gw_realloc(n->subs.many, cap * sizeof(*s));
            if (!s) {
                return -ENOMEM;
            }
            n->subs.many = s;
        }
        n->subs_cap = cap;
    }
    uint32_t want = n->nsubs + 1;
    uint32_t icap = n->ext ? n->ext->sidx_cap : 0;
    if (want >= SUBS_INDEX_MIN && want * 2 > icap) {
        return sidx_rebuild(n, icap ? icap * 2 : 2 * SUBS_INDEX_MIN);
    }
    return 0;
}

static void subs_clear(struct route_node *n)
{
    if (n->subs_cap > 1) {
        gw_free(n->subs.many);
    }
    memset(&n->subs, 0, sizeof(n->subs));
    n->subs_cap = 0;
    if (n->ext) {
        gw_free(n->ext->sidx);
        n->ext->sidx = NULL;
        n->ext->sidx_cap = 0;
        route_node_ext_trim(n);
    }
}

static int tree_sub_add(struct route *r, struct gw_bytes filter, struct route_ep *ep, uint8_t qos,
                        uint8_t options, uint32_t sub_id, bool *replaced)
{
    struct route_node *n;
    int rc = route_tree_path(r->sub_root, filter, true, true, &n);
    if (rc < 0) {
        return rc;
    }
    /* One subscription per (session, filter): a new SUBSCRIBE replaces it
     * [MQTT-3.8.4-3]. */
    struct route_sub *s = sub_find(n, ep);
    bool existed = s != NULL;
    if (!s) {
        if (subs_reserve(n) < 0) {
            route_tree_prune(n);
            return -ENOMEM;
        }
        s = &route_node_subs(n)[n->nsubs++];
        s->ep = ep;
        if (has_sidx(n)) {
            *sidx_slot(n, ep) = n->nsubs;
        }
        r->nsubs++;
    }
    s->qos = qos;
    s->options = options;
    s->sub_id = sub_id;
    *replaced = existed;
    return 0;
}

int route_sub_add(struct route *r, struct gw_bytes filter, struct route_ep *ep, uint8_t qos,
                  uint8_t options, uint32_t sub_id, bool *replaced)
{
    bool existed = false;
    int rc = topic_is_share(filter)
                     ? route_share_sub_add(r, filter, ep, qos, options, sub_id, &existed)
                     : tree_sub_add(r, filter, ep, qos, options, sub_id, &existed);
    if (rc < 0) {
        return rc;
    }
    if (!existed && topic_filter_reads_sys(filter)) {
        r->nsys++;
    }
    if (replaced) {
        *replaced = existed;
    }
    return 0;
}

static int tree_sub_del(struct route *r, struct gw_bytes filter, struct route_ep *ep)
{
    struct route_node *n;
    if (route_tree_path(r->sub_root, filter, true, false, &n) < 0) {
        return -ENOENT;
    }
    struct route_sub *s = sub_find(n, ep);
    if (!s) {
        return -ENOENT;
    }
    struct route_sub *subs = route_node_subs(n);
    uint32_t k = (uint32_t)(s - subs);
    uint32_t last = n->nsubs - 1;
    if (has_sidx(n)) {
        sidx_remove(n, sidx_slot(n, ep));
        if (k != last) {
            *sidx_slot(n, subs[last].ep) = k + 1;
        }
    }
    subs[k] = subs[last]; /* order of subscriptions does not matter */
    n->nsubs = last;
    r->nsubs--;
    if (n->nsubs == 0) {
        subs_clear(n);
    }
    route_tree_prune(n);
    return 0;
}

int route_sub_del(struct route *r, struct gw_bytes filter, struct route_ep *ep)
{
    int rc = topic_is_share(filter) ? route_share_sub_del(r, filter, ep)
                                    : tree_sub_del(r, filter, ep);
    if (rc == 0 && topic_filter_reads_sys(filter)) {
        r->nsys--;
    }
    return rc;
}

size_t route_sub_count(const struct route *r)
{
    return r->nsubs;
}

size_t route_sys_sub_count(const struct route *r)
{
    return r->nsys;
}

/* ---- matching ------------------------------------------------------------ */

int route_hits_reserve(struct route *r, size_t n)
{
    if (r->nhits + n <= r->hits_cap) {
        return 0;
    }
    size_t cap = r->hits_cap ? r->hits_cap : 16;
    while (cap < r->nhits + n) {
        cap *= 2;
    }
    struct route_hit *h = gw_realloc(r->hits, cap * sizeof(*h));
    if (!h) {
        return -ENOMEM;
    }
    r->hits = h;
    r->hits_cap = cap;
    return 0;
}

/* The normal hit of ep in this match, or NULL. ep->match_gen / match_idx
 * find it in O(1); the ep and shared checks make a stale generation
 * harmless (shared hits never set them). */
static struct route_hit *hit_of(const struct route *r, const struct route_ep *ep)
{
    if (ep->match_gen != r->gen || ep->match_idx >= r->nhits) {
        return NULL;
    }
    struct route_hit *h = &r->hits[ep->match_idx];
    return (h->ep == ep && !h->shared) ? h : NULL;
}

/* One more subscription identifier for hit h: the first goes in
 * h->sub_id, later ones on h's chain (kept in match order). Only a session
 * with overlapping identified subscriptions gets here. */
static int hit_id_add(struct route *r, struct route_hit *h, uint32_t id)
{
    if (!h->sub_id) {
        h->sub_id = id;
        return 0;
    }
    if (r->nids == r->ids_cap) {
        uint32_t cap = r->ids_cap ? r->ids_cap * 2 : 16;
        struct route_id_link *a = gw_realloc(r->ids, cap * sizeof(*a));
        if (!a) {
            return -ENOMEM;
        }
        r->ids = a;
        r->ids_cap = cap;
    }
    uint32_t *link = &h->more_ids;
    while (*link) {
        link = &r->ids[*link - 1].next;
    }
    r->ids[r->nids] = (struct route_id_link){id, 0};
    *link = ++r->nids;
    return 0;
}

size_t route_hit_ids(const struct route *r, const struct route_hit *h, uint32_t *out, size_t cap)
{
    size_t n = 0;
    if (h->sub_id) {
        if (n < cap) {
            out[n] = h->sub_id;
        }
        n++;
    }
    for (uint32_t l = h->more_ids; l; l = r->ids[l - 1].next) {
        if (n < cap) {
            out[n] = r->ids[l - 1].id;
        }
        n++;
    }
    return n;
}

/* Report n's subscriptions: each endpoint once, with its highest QoS
 * [MQTT-3.3.5-1] and all their identifiers [MQTT-3.3.4-4]; then one
 * member of each of n's shared groups. */
static int hits_add(struct route *r, const struct route_node *n)
{
    uint32_t nshares = route_node_nshares(n);
    if (route_hits_reserve(r, (size_t)n->nsubs + nshares) < 0) {
        return -ENOMEM;
    }
    const struct route_sub *subs = route_node_subs_c(n);
    for (uint32_t i = 0; i < n->nsubs; i++) {
        const struct route_sub *s = &subs[i];
        struct route_ep *ep = s->ep;
        struct route_hit *h = hit_of(r, ep);
        if (h) {
            /* Another subscription of the same endpoint: one copy with
             * the highest QoS [MQTT-3.3.4-2] and every identifier. */
            if (s->sub_id && hit_id_add(r, h, s->sub_id) < 0) {
                return -ENOMEM;
            }
            if (s->qos > h->qos) {
                h->qos = s->qos;
                h->options = s->options;
            }
            continue;
        }
        ep->match_gen = r->gen;
        ep->match_idx = (uint32_t)r->nhits;
        h = &r->hits[r->nhits++];
        h->ep = ep;
        h->shared = false;
        h->group_idx = ROUTE_SHARE_NONE;
        h->qos = s->qos;
        h->options = s->options;
        h->sub_id = s->sub_id;
        h->more_ids = 0;
    }
    if (nshares) {
        route_share_hits_put(r, n);
    }
    return 0;
}

/* Room for two children per frontier node in r->next. */
static int frontier_reserve(struct route *r, size_t ncur)
{
    if (ncur * 2 <= r->next_cap) {
        return 0;
    }
    size_t cap = r->next_cap * 2;
    while (cap < ncur * 2) {
        cap *= 2;
    }
    struct route_node **nx = gw_realloc(r->next, cap * sizeof(struct route_node *));
    if (!nx) {
        return -ENOMEM;
    }
    r->next = nx;
    r->next_cap = cap;
    return 0;
}

/* Advance the frontier r->cur[0..*ncur) by one topic level. '#' children
 * match here and now; wild == false at the root of a '$' topic
 * [MQTT-4.7.2-1]. Leaves the new frontier in r->cur. */
static int match_level(struct route *r, size_t *ncur, const uint8_t *k, size_t len, bool wild)
{
    if (frontier_reserve(r, *ncur) < 0) {
        return -ENOMEM;
    }
    uint32_t hash = route_key_hash(k, len);
    size_t nnext = 0;
    for (size_t i = 0; i < *ncur; i++) {
        const struct route_node *n = r->cur[i];
        const struct route_node_ext *x = n->ext;
        if (wild && x && x->multi && hits_add(r, x->multi) < 0) {
            return -ENOMEM;
        }
        if (wild && x && x->plus) {
            r->next[nnext++] = x->plus;
        }
        struct route_node *c = route_node_child_find(n, k, len, hash);
        if (c) {
            r->next[nnext++] = c;
        }
    }
    struct route_node **tmp = r->cur;
    size_t tcap = r->cur_cap;
    r->cur = r->next;
    r->cur_cap = r->next_cap;
    r->next = tmp;
    r->next_cap = tcap;
    *ncur = nnext;
    return 0;
}

ssize_t route_match(struct route *r, struct gw_bytes topic, const struct route_hit **hits)
{
    r->nhits = 0;
    r->nids = 0;
    if (topic.n == 0) {
        *hits = r->hits;
        return 0; /* not a topic name [MQTT-4.7.3-1] */
    }
    if (++r->gen == 0) {
        r->gen = 1;
    }
    const uint8_t *p = topic.p;
    const uint8_t *end = topic.p + topic.n;
    bool wild = !(topic.n > 0 && topic.p[0] == '$');
    size_t ncur = 1;
    r->cur[0] = r->sub_root;
    for (;;) {
        const uint8_t *le = route_level_end(p, end);
        if (match_level(r, &ncur, p, (size_t)(le - p), wild) < 0) {
            return -ENOMEM;
        }
        wild = true;
        if (ncur == 0 || le == end) {
            break;
        }
        p = le + 1;
    }
    /* Topic consumed: the frontier matches, and so do its '#' children
     * ("sport/#" matches "sport", section 4.7.1.2). */
    for (size_t i = 0; i < ncur; i++) {
        const struct route_node *n = r->cur[i];
        const struct route_node *multi = route_node_multi(n);
        if (hits_add(r, n) < 0 || (multi && hits_add(r, multi) < 0)) {
            return -ENOMEM;
        }
    }
    *hits = r->hits;
    return (ssize_t)r->nhits;
}
