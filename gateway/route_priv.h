/* route_priv.h - the tree node shared by route.c (subscriptions, matching)
 * and route_retain.c (retained messages); included only by those two.
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

struct route_sub; /* one subscription: route.c */

enum route_node_kind {
    ROUTE_NODE_ROOT,
    ROUTE_NODE_LITERAL,
    ROUTE_NODE_PLUS, /* "+" level of a filter */
    ROUTE_NODE_MULTI /* "#" level of a filter */
};

struct route_node {
    struct route_node *parent;
    struct route_node **slots; /* literal children; cap slots, NULL = free */
    struct route_node *plus;
    struct route_node *multi;
    struct route_sub *subs;
    uint32_t *sidx; /* ep -> subs index + 1, once nsubs is large */
    struct msg *retained;
    uint32_t cap;    /* 0 or a power of two */
    uint32_t nchild; /* literal children in slots */
    uint32_t nsubs;
    uint32_t subs_cap;
    uint32_t sidx_cap; /* 0 or a power of two */
    uint32_t hash;     /* of key, for the parent's table */
    uint32_t slot;     /* index in parent->slots (ROUTE_NODE_LITERAL) */
    uint32_t klen;
    uint8_t kind;
    uint8_t key[]; /* the level's bytes, not NUL-terminated */
};

struct route {
    struct route_node *sub_root;
    struct route_node *ret_root;
    size_t nsubs;
    size_t nretained;
    uint32_t gen;           /* match generation, never 0 */
    struct route_hit *hits; /* result of the last route_match */
    size_t nhits;
    size_t hits_cap;
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

#endif
