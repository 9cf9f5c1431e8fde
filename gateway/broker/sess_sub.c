/* sess_sub.c - a session's subscriptions, found by filter. See sess.h.
 *
 * A few are scanned; from SESS_SUB_IDX_FROM on, an open-addressing index
 * (linear probing, backward-shift deletion, at most 3/4 full) finds one
 * in O(1): a client that subscribes 40,000 filters must not make each new
 * one a scan of the others. */
#include "sess.h"

#include "alloc.h"
#include "gw_err.h"
#include "sess_priv.h"

#include <errno.h>
#include <string.h>

#define SESS_SUB_IDX_FROM 16u

static uint32_t filter_hash(struct gw_bytes f)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < f.n; i++) {
        h = (h ^ f.p[i]) * 16777619u;
    }
    return h;
}

static bool sub_is(const struct sess_sub *sub, struct gw_bytes f)
{
    return sub->filter_len == f.n && memcmp(sub->filter, f.p, f.n) == 0;
}

static struct gw_bytes sub_filter(const struct sess_sub *sub)
{
    return (struct gw_bytes){(const uint8_t *)sub->filter, sub->filter_len};
}

/* The index slot holding f, or the empty slot where it would go. */
static uint32_t *idx_slot(const struct sess *s, struct gw_bytes f)
{
    uint32_t mask = s->sub_idx_cap - 1;
    for (uint32_t i = filter_hash(f) & mask;; i = (i + 1) & mask) {
        uint32_t v = s->sub_idx[i];
        if (v == 0 || sub_is(&s->subs[v - 1], f)) {
            return &s->sub_idx[i];
        }
    }
}

static int idx_rebuild(struct sess *s, uint32_t cap)
{
    uint32_t *t = gw_calloc(cap, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    gw_free(s->sub_idx);
    s->sub_idx = t;
    s->sub_idx_cap = cap;
    for (uint32_t i = 0; i < s->n_subs; i++) {
        *idx_slot(s, sub_filter(&s->subs[i])) = i + 1;
    }
    return 0;
}

/* Room in the index for one more subscription (made when the count
 * reaches SESS_SUB_IDX_FROM). Returns 0 or -ENOMEM, the index as before. */
static int idx_reserve(struct sess *s)
{
    uint32_t want = s->n_subs + 1;
    if (!s->sub_idx && want < SESS_SUB_IDX_FROM) {
        return 0;
    }
    if (s->sub_idx && want * 4u <= s->sub_idx_cap * 3u) {
        return 0;
    }
    uint32_t cap = s->sub_idx_cap ? s->sub_idx_cap * 2u : 2u * SESS_SUB_IDX_FROM;
    while (want * 4u > cap * 3u) {
        cap *= 2u;
    }
    return idx_rebuild(s, cap);
}

static void idx_remove(struct sess *s, uint32_t *slot)
{
    uint32_t mask = s->sub_idx_cap - 1;
    uint32_t i = (uint32_t)(slot - s->sub_idx);
    s->sub_idx[i] = 0;
    for (uint32_t j = (i + 1) & mask; s->sub_idx[j]; j = (j + 1) & mask) {
        uint32_t home = filter_hash(sub_filter(&s->subs[s->sub_idx[j] - 1])) & mask;
        /* Entry j stays if its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) {
            continue;
        }
        s->sub_idx[i] = s->sub_idx[j];
        s->sub_idx[j] = 0;
        i = j;
    }
}

static ssize_t find_sub(const struct sess *s, struct gw_bytes filter)
{
    if (s->sub_idx) {
        uint32_t v = *idx_slot(s, filter);
        return v ? (ssize_t)v - 1 : -1;
    }
    for (size_t i = 0; i < s->n_subs; i++) {
        if (sub_is(&s->subs[i], filter)) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* A session with one subscription (cap_subs 1) keeps its filter in the
 * array's own block, after the entry: one malloc block instead of two for
 * the common sensor that subscribes to one topic (each block costs malloc
 * 16 bytes and a size class of slack). The second subscription moves the
 * filter out (grow); the last one's deletion frees the block. */
static bool filter_inline(const struct sess *s)
{
    return s->cap_subs == 1;
}

static int add_first(struct sess *s, struct gw_bytes filter, uint8_t qos, uint8_t options,
                     uint32_t sub_id)
{
    struct sess_sub *a = gw_alloc(sizeof(*a) + filter.n + 1);
    if (!a) {
        return -ENOMEM;
    }
    char *f = (char *)(a + 1);
    memcpy(f, filter.p, filter.n);
    f[filter.n] = '\0';
    a[0] = (struct sess_sub){f, (uint16_t)filter.n, qos, options, sub_id};
    gw_free(s->subs); /* none, or an emptied array */
    s->subs = a;
    s->cap_subs = 1;
    s->n_subs = 1;
    return 0;
}

/* Room for one more entry (n_subs == cap_subs >= 1). Returns 0 or -ENOMEM,
 * the subscriptions as before. */
static int grow(struct sess *s)
{
    uint32_t cap = s->cap_subs * 2;
    if (filter_inline(s)) {
        char *f = gw_strndup(s->subs[0].filter, s->subs[0].filter_len);
        struct sess_sub *a = f ? gw_alloc(cap * sizeof(*a)) : NULL;
        if (!a) {
            gw_free(f);
            return -ENOMEM;
        }
        a[0] = s->subs[0];
        a[0].filter = f;
        gw_free(s->subs);
        s->subs = a;
        s->cap_subs = cap;
        return 0;
    }
    struct sess_sub *a = gw_realloc(s->subs, cap * sizeof(*a));
    if (!a) {
        return -ENOMEM;
    }
    s->subs = a;
    s->cap_subs = cap;
    return 0;
}

void sess_sub_free_all(struct sess *s)
{
    if (!filter_inline(s)) {
        for (uint32_t i = 0; i < s->n_subs; i++) {
            gw_free(s->subs[i].filter);
        }
    }
    gw_free(s->subs);
    s->subs = NULL;
    s->n_subs = 0;
    s->cap_subs = 0;
    gw_free(s->sub_idx);
    s->sub_idx = NULL;
    s->sub_idx_cap = 0;
}

int sess_sub_add(struct sess *s, struct gw_bytes filter, uint8_t qos)
{
    return sess_sub_add_v5(s, filter, qos, 0, 0);
}

const struct sess_sub *sess_sub_find(const struct sess *s, struct gw_bytes filter)
{
    ssize_t i = find_sub(s, filter);
    return i >= 0 ? &s->subs[i] : NULL;
}

int sess_sub_add_v5(struct sess *s, struct gw_bytes filter, uint8_t qos, uint8_t options,
                    uint32_t sub_id)
{
    ssize_t i = find_sub(s, filter);
    if (i >= 0) {
        s->subs[i].qos = qos;
        s->subs[i].options = options;
        s->subs[i].sub_id = sub_id; /* replaced with the subscription [MQTT-3.8.4-3] */
        return 0;
    }
    if (s->n_subs == 0) {
        return add_first(s, filter, qos, options, sub_id);
    }
    if (s->n_subs == s->cap_subs && grow(s) < 0) {
        return -ENOMEM;
    }
    if (idx_reserve(s) < 0) {
        return -ENOMEM;
    }
    char *f = gw_strndup((const char *)filter.p, filter.n);
    if (!f) {
        return -ENOMEM;
    }
    s->subs[s->n_subs++] = (struct sess_sub){f, (uint16_t)filter.n, qos, options, sub_id};
    if (s->sub_idx) {
        *idx_slot(s, filter) = s->n_subs;
    }
    return 0;
}

int sess_sub_del(struct sess *s, struct gw_bytes filter)
{
    ssize_t i = find_sub(s, filter);
    if (i < 0) {
        return -ENOENT;
    }
    uint32_t last = s->n_subs - 1;
    if (s->sub_idx) {
        idx_remove(s, idx_slot(s, filter));
        if ((uint32_t)i != last) {
            /* The last one moves into the hole: its slot follows. */
            *idx_slot(s, sub_filter(&s->subs[last])) = (uint32_t)i + 1;
        }
    }
    if (last == 0) {
        sess_sub_free_all(s); /* the inline filter goes with its block */
        return 0;
    }
    gw_free(s->subs[i].filter);
    s->subs[i] = s->subs[last];
    s->n_subs--;
    return 0;
}
