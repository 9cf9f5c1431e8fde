/* route_retain.c - retained messages: the retained tree of the router.
 *
 * Keyed by topic-name levels (all literal), with the node type and tree
 * helpers of route.c (route_priv.h). route_retain_match walks only the
 * branches the filter can match, depth-first without a stack (see route.c
 * for why): a node knows its parent and its slot, so the walk climbs back
 * up and resumes with the next sibling; the filter position climbs with it. */
#include "route.h"
#include "route_priv.h"

int route_retain_set(struct route *r, struct msg *m)
{
    struct route_node *n;
    if (m->payload_len == 0) {
        /* An empty retained message clears the topic and is not stored
         * itself [MQTT-3.3.1-10] [MQTT-3.3.1-11]. */
        if (route_tree_path(r->ret_root, msg_topic(m), false, false, &n) == 0 && n->retained) {
            msg_unref(n->retained);
            n->retained = NULL;
            r->nretained--;
            route_tree_prune(n);
        }
        return 0;
    }
    int rc = route_tree_path(r->ret_root, msg_topic(m), false, true, &n);
    if (rc < 0) {
        return rc;
    }
    struct msg *old = n->retained;
    n->retained = msg_ref(m); /* [MQTT-3.3.1-5] replaces the previous one */
    if (old) {
        msg_unref(old);
    } else {
        r->nretained++;
    }
    return 0;
}

size_t route_retain_count(const struct route *r)
{
    return r->nretained;
}

static bool is_dollar(const struct route_node *c)
{
    return c->klen > 0 && c->key[0] == '$';
}

/* Every retained message in the subtree of top, top included. skip_dollar:
 * top is the root and a wildcard level is matching it [MQTT-4.7.2-1]. */
static void retain_subtree(struct route_node *top, bool skip_dollar, route_retain_cb *cb, void *arg)
{
    struct route_node *n = top;
    uint32_t pos = 0;
    if (n->retained) {
        cb(arg, n->retained);
    }
    for (;;) {
        struct route_node *c = route_node_child_from(n, pos);
        if (c && skip_dollar && n == top && is_dollar(c)) {
            pos = route_node_pos_after(c);
            continue;
        }
        if (c) {
            n = c;
            pos = 0;
            if (n->retained) {
                cb(arg, n->retained);
            }
            continue;
        }
        if (n == top) {
            return;
        }
        pos = route_node_pos_after(n);
        n = n->parent;
    }
}

/* How the filter-guided walk treats a node's children. */
enum walk_mode {
    WALK_NONE, /* nothing below matters */
    WALK_ALL,  /* '+': every child */
    WALK_ONE   /* literal: the one child with the level's key */
};

/* The filter level for a node's children starts at fpos; past the end
 * (fpos > n) the filter is used up. */
static enum walk_mode walk_mode_at(struct gw_bytes f, size_t fpos)
{
    if (fpos > f.n) {
        return WALK_NONE;
    }
    const uint8_t *p = f.p + fpos;
    size_t len = (size_t)(route_level_end(p, f.p + f.n) - p);
    if (route_level_is(p, len, '#')) {
        return WALK_NONE;
    }
    return route_level_is(p, len, '+') ? WALK_ALL : WALK_ONE;
}

/* Act on entering node n whose children take the filter level at fpos. */
static void walk_enter(struct route_node *n, struct gw_bytes f, size_t fpos, route_retain_cb *cb,
                       void *arg)
{
    if (fpos > f.n) {
        if (n->retained) {
            cb(arg, n->retained);
        }
        return;
    }
    const uint8_t *p = f.p + fpos;
    if (route_level_is(p, (size_t)(route_level_end(p, f.p + f.n) - p), '#')) {
        retain_subtree(n, n->kind == ROUTE_NODE_ROOT, cb, arg);
    }
}

/* Start of the filter level before the one at fpos (fpos > 0). */
static size_t level_prev(struct gw_bytes f, size_t fpos)
{
    size_t i = fpos - 1;
    while (i > 0 && f.p[i - 1] != '/') {
        i--;
    }
    return i;
}

/* Next child of n to visit from position pos under mode, or NULL. */
static struct route_node *walk_next(const struct route_node *n, struct gw_bytes f, size_t fpos,
                                    enum walk_mode mode, uint32_t pos)
{
    if (mode == WALK_ONE) {
        if (pos != 0) {
            return NULL;
        }
        const uint8_t *p = f.p + fpos;
        size_t len = (size_t)(route_level_end(p, f.p + f.n) - p);
        return route_node_child_find(n, p, len, route_key_hash(p, len));
    }
    if (mode != WALK_ALL) {
        return NULL;
    }
    struct route_node *c = route_node_child_from(n, pos);
    while (c && n->kind == ROUTE_NODE_ROOT && is_dollar(c)) {
        c = route_node_child_from(n, route_node_pos_after(c)); /* [MQTT-4.7.2-1] */
    }
    return c;
}

void route_retain_match(struct route *r, struct gw_bytes filter, route_retain_cb *cb, void *arg)
{
    if (filter.n == 0) {
        return;
    }
    struct route_node *n = r->ret_root;
    size_t fpos = 0;
    uint32_t pos = 0;
    enum walk_mode mode = walk_mode_at(filter, fpos);
    walk_enter(n, filter, fpos, cb, arg);
    for (;;) {
        struct route_node *c = walk_next(n, filter, fpos, mode, pos);
        if (c) {
            const uint8_t *p = filter.p + fpos;
            n = c;
            fpos = (size_t)(route_level_end(p, filter.p + filter.n) - filter.p) + 1;
            pos = 0;
            mode = walk_mode_at(filter, fpos);
            walk_enter(n, filter, fpos, cb, arg);
            continue;
        }
        if (n->kind == ROUTE_NODE_ROOT) {
            return;
        }
        pos = route_node_pos_after(n);
        n = n->parent;
        fpos = level_prev(filter, fpos);
        mode = walk_mode_at(filter, fpos);
    }
}
