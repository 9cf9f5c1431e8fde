/* route_priv.h - the tree node shared by route.c (subscriptions, matching),
 * route_retain.c (retained messages) and route_share.c (shared
 * subscription groups); included only by those three.
 *
 * One node type for both trees: see route.c for the layout, the stackless
 * walks and the invariant that every node but the roots is in use. Loop
 * thread only, like route.h. */
#ifndef ROUTE_PRIV_H
#define ROUTE_PRIV_H

#include "route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One subscription of an endpoint: in a node's subs array, or a member of
 * a shared subscription group. */
struct route_sub {
    struct route_ep *ep;
    uint32_t sub_id;
    uint8_t qos;
    uint8_t options;
};

/* A hit's second and later subscription identifiers: a chain through
 * route.ids, from route_hit.more_ids (index + 1; 0 ends it). Only an
 * endpoint with several matching subscriptions that carry identifiers
 * uses it. */
struct route_id_link {
    uint32_t id;
    uint32_t next;
};

/* A shared subscription group (ShareName, filter), MQTT 5.0 section 4.8.2;
 * route_share.c. It hangs off the node of its filter in the subscription
 * tree, and route.groups[idx] finds it by handle. Freed with its last
 * member. */
struct route_share {
    struct route_node *node;
    struct route_sub *members; /* in subscription order: the round robin */
    uint32_t nmembers;         /* >= 1 while the group exists */
    uint32_t members_cap;
    uint32_t cursor; /* the member route_match picks next, < nmembers */
    uint32_t idx;    /* handle: index in route.groups */
    uint32_t name_len;
    uint32_t full_len;
    uint8_t full[]; /* "$share/{ShareName}/{filter}" as subscribed */
};

/* A slot of the group table: a group, or a link in the free list. */
struct route_share_slot {
    struct route_share *g; /* NULL: free */
    uint32_t next_free;
};

enum route_node_kind {
    ROUTE_NODE_ROOT,
    ROUTE_NODE_LITERAL,
    ROUTE_NODE_PLUS, /* "+" level of a filter */
    ROUTE_NODE_MULTI /* "#" level of a filter */
};

/* What few nodes need, made on first use (an idle gateway holds one leaf
 * per single-topic subscription: each byte of a node counts): wildcard
 * children, the endpoint index of a node with many subscriptions, the
 * shared subscription groups on a filter. Freed when none is left. */
struct route_node_ext {
    struct route_node *plus;     /* the "+" child */
    struct route_node *multi;    /* the "#" child */
    uint32_t *sidx;              /* ep -> subs index + 1, once nsubs is large */
    struct route_share **shares; /* groups on this filter, any order */
    uint32_t sidx_cap;           /* 0 or a power of two */
    uint32_t nshares;
    uint32_t shares_cap;
};

struct route_node {
    struct route_node *parent;
    struct route_node **slots; /* literal children; cap slots, NULL = free */
    /* The subscriptions: inline while there is at most one (subs_cap <= 1,
     * most filters), an array beyond. Read them with route_node_subs. */
    union {
        struct route_sub one;
        struct route_sub *many;
    } subs;
    struct route_node_ext *ext; /* NULL: no wildcard child, no index, no shared groups */
    struct msg *retained;
    uint32_t cap;    /* 0 or a power of two */
    uint32_t nchild; /* literal children in slots */
    uint32_t nsubs;
    uint32_t subs_cap; /* 0, 1 (inline) or the array's length */
    uint32_t hash; /* of key, for the parent's table */
    uint32_t slot; /* index in parent->slots (ROUTE_NODE_LITERAL) */
    uint32_t klen;
    uint8_t kind;
    uint8_t key[]; /* the level's bytes, not NUL-terminated */
};

/* n's subscriptions, [0, n->nsubs). Valid until the next add or delete. */
static inline struct route_sub *route_node_subs(struct route_node *n)
{
    return n->subs_cap > 1 ? n->subs.many : &n->subs.one;
}

static inline const struct route_sub *route_node_subs_c(const struct route_node *n)
{
    return n->subs_cap > 1 ? n->subs.many : &n->subs.one;
}

static inline struct route_node *route_node_plus(const struct route_node *n)
{
    return n->ext ? n->ext->plus : NULL;
}

static inline struct route_node *route_node_multi(const struct route_node *n)
{
    return n->ext ? n->ext->multi : NULL;
}

static inline uint32_t route_node_nshares(const struct route_node *n)
{
    return n->ext ? n->ext->nshares : 0;
}

/* n's extension, made if missing. NULL on -ENOMEM (n as before). */
struct route_node_ext *route_node_ext_get(struct route_node *n);

/* Free n's extension if nothing is left in it. */
void route_node_ext_trim(struct route_node *n);

struct route {
    struct route_node *sub_root;
    struct route_node *ret_root;
    size_t nsubs; /* shared subscriptions (group members) included */
    size_t nsys;  /* of those, filters that can match $SYS topics (route_sys_sub_count) */
    size_t nretained;
    struct route_share_slot *groups; /* group handles; [0, groups_len) used or free */
    uint32_t groups_len;
    uint32_t groups_cap;
    uint32_t groups_free; /* head of the free list, ROUTE_SHARE_NONE = empty */
    uint32_t ngroups;
    uint32_t gen;           /* match generation, never 0 */
    struct route_hit *hits; /* result of the last route_match */
    size_t nhits;
    size_t hits_cap;
    struct route_id_link *ids; /* more subscription identifiers of the hits */
    uint32_t nids;
    uint32_t ids_cap;
    struct route_node **cur; /* frontier of route_match */
    struct route_node **next;
    size_t cur_cap;
    size_t next_cap;
};

/* ---- levels and hashing (small enough to inline in both files) --------- */

/* End of the level that starts at p: the next '/' or end. */
static inline const uint8_t *route_level_end(const uint8_t *p, const uint8_t *end)
{
    if (p == end) {
        return end;
    }
    const uint8_t *sep = memchr(p, '/', (size_t)(end - p));
    return sep ? sep : end;
}

/* FNV-1a with a final avalanche, as the table uses the low bits. */
static inline uint32_t route_key_hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

static inline bool route_level_is(const uint8_t *p, size_t n, uint8_t c)
{
    return n == 1 && p[0] == c;
}

/* ---- tree helpers (route.c) -------------------------------------------- */

/* Literal child of n with key[0..klen) and its hash, or NULL. */
struct route_node *route_node_child_find(const struct route_node *n, const uint8_t *key,
                                         size_t klen, uint32_t hash);

/* Child positions: [0, cap) are table slots, cap is '+', cap + 1 is '#'.
 * Returns the first child of n at or after pos, or NULL. */
struct route_node *route_node_child_from(const struct route_node *n, uint32_t pos);

/* The position after child c in its parent's iteration order. */
uint32_t route_node_pos_after(const struct route_node *c);

/* Find (create: or make) the node for key under root. wild: key is a
 * filter and "+" / "#" levels are wildcards. Returns 0 and *out, -ENOENT
 * (not create) or -ENOMEM (create; the tree is as before). */
int route_tree_path(struct route_node *root, struct gw_bytes key, bool wild, bool create,
                    struct route_node **out);

/* Free n and its empty ancestors, stopping at a root or a node in use. */
void route_tree_prune(struct route_node *n);

/* Room for n more hits in r->hits. Returns 0 or -ENOMEM. */
int route_hits_reserve(struct route *r, size_t n);

/* ---- shared subscriptions (route_share.c) ------------------------------ */

/* route_sub_add / route_sub_del for a filter that topic_is_share: same
 * contract, plus -EINVAL (add) or -ENOENT (del) when full is not a valid
 * shared subscription filter. */
int route_share_sub_add(struct route *r, struct gw_bytes full, struct route_ep *ep, uint8_t qos,
                        uint8_t options, uint32_t sub_id, bool *replaced);
int route_share_sub_del(struct route *r, struct gw_bytes full, struct route_ep *ep);

/* Append one hit per group of n (its cursor member) and advance each
 * cursor. Room for n->nshares hits must be reserved. */
void route_share_hits_put(struct route *r, const struct route_node *n);

/* Free the groups hanging off n and n's group array (n is being freed). */
void route_share_node_fini(struct route_node *n);

#endif
