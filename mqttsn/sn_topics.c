/* sn_topics.c - the per-client topic-id registry (MQTT-SN 1.2 §6.5 client
 * REGISTER, §6.10 gateway REGISTER, §6.9 SUBACK topic ids).
 *
 * Ids are drawn at random (sn_rand.h), never handed out in order: a
 * client proves it receives what the gateway sends by using one (sn_amp.h).
 * Entries sit in an array in registration order; an open-addressing index
 * maps an id to its entry, so an incoming PUBLISH resolves its id in O(1).
 * Finding the id of a topic name (an outgoing delivery) is a linear scan,
 * bounded by the registry's cap. */
#include "alloc.h"
#include "gw_bytes.h"
#include "log.h"
#include "persist.h"
#include "sn_gw_priv.h"
#include "sn_rand.h"

#include <errno.h>
#include <string.h>

/* §5.3.11: topic ids 0x0000 and 0xFFFF are reserved. */
#define SN_TOPIC_ID_MIN 1u
#define SN_TOPIC_ID_MAX 0xFFFEu

void sn_topics_fini(struct sn_topics *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        gw_free(t->v[i].name);
    }
    gw_free(t->v);
    gw_free(t->ix);
    uint32_t max = t->max;
    memset(t, 0, sizeof(*t));
    t->max = max;
}

static uint32_t ix_home(const struct sn_topics *t, uint16_t id)
{
    return (uint32_t)(id * 40503u) & (t->ix_cap - 1u); /* Knuth's multiplicative hash */
}

/* Slot (index into v) of id, or -1. */
static long ix_find(const struct sn_topics *t, uint16_t id)
{
    if (t->ix_cap == 0) {
        return -1;
    }
    for (uint32_t i = ix_home(t, id);; i = (i + 1u) & (t->ix_cap - 1u)) {
        uint32_t e = t->ix[i];
        if (e == 0) {
            return -1;
        }
        if (t->v[e - 1].id == id) {
            return (long)(e - 1);
        }
    }
}

static void ix_insert(struct sn_topics *t, uint32_t slot)
{
    uint32_t i = ix_home(t, t->v[slot].id);
    while (t->ix[i]) {
        i = (i + 1u) & (t->ix_cap - 1u);
    }
    t->ix[i] = slot + 1u;
}

/* Room for one more entry: v grows by doubling, the index stays at most
 * half full. Returns 0 or -ENOMEM (nothing changed). */
static int reserve_one(struct sn_topics *t)
{
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 8;
        struct sn_topic *v = gw_realloc(t->v, cap * sizeof(*v));
        if (!v) {
            return -ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    if ((t->n + 1u) * 2u > t->ix_cap) {
        uint32_t cap = t->ix_cap ? t->ix_cap * 2 : 16;
        uint32_t *ix = gw_calloc(cap, sizeof(*ix));
        if (!ix) {
            return -ENOMEM;
        }
        gw_free(t->ix);
        t->ix = ix;
        t->ix_cap = cap;
        for (uint32_t i = 0; i < t->n; i++) {
            ix_insert(t, i);
        }
    }
    return 0;
}

static uint32_t cap_of(const struct sn_topics *t)
{
    return t->max ? t->max : SN_TOPICS_MAX;
}

const struct sn_topic *sn_topics_get(const struct sn_topics *t, uint16_t id)
{
    long slot = ix_find(t, id);
    if (slot < 0 || !t->v[slot].name) {
        return NULL;
    }
    return &t->v[slot];
}

void sn_topics_set_acked(struct sn_topics *t, uint16_t id)
{
    long slot = ix_find(t, id);
    if (slot >= 0 && t->v[slot].name) {
        t->v[slot].acked = true;
    }
}

uint16_t sn_topics_find(const struct sn_topics *t, struct gw_bytes name)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const struct sn_topic *e = &t->v[i];
        if (e->name && e->len == name.n && memcmp(e->name, name.p, name.n) == 0) {
            return e->id;
        }
    }
    return 0;
}

/* Append name under id (unused, in range). */
static int append(struct sn_topics *t, uint16_t id, struct gw_bytes name, bool acked)
{
    int rc = reserve_one(t);
    if (rc < 0) {
        return rc;
    }
    char *s = gw_strndup((const char *)name.p, name.n);
    if (!s) {
        return -ENOMEM;
    }
    t->v[t->n] = (struct sn_topic){.name = s, .len = (uint16_t)name.n, .id = id, .acked = acked};
    ix_insert(t, t->n);
    t->n++;
    return 0;
}

int sn_topics_add(struct sn_topics *t, struct gw_bytes name, bool acked, uint16_t *id)
{
    uint16_t have = sn_topics_find(t, name);
    if (have) {
        long slot = ix_find(t, have); /* found by name: present */
        bool changed = acked && slot >= 0 && !t->v[slot].acked;
        if (changed) {
            t->v[slot].acked = true;
        }
        *id = have;
        return changed ? 1 : 0;
    }
    if (t->n >= cap_of(t) || name.n > UINT16_MAX) {
        return -ENOSPC;
    }
    /* A free random id: the registry holds at most SN_TOPICS_CAP_MAX of
     * 65,534 ids, so a draw hits a used one rarely. */
    uint16_t pick;
    do {
        pick = sn_rand_range(SN_TOPIC_ID_MIN, SN_TOPIC_ID_MAX);
    } while (ix_find(t, pick) >= 0);
    int rc = append(t, pick, name, acked);
    if (rc < 0) {
        return rc;
    }
    *id = pick;
    return 1;
}

void sn_topics_del(struct sn_topics *t, uint16_t id)
{
    long slot = ix_find(t, id);
    if (slot < 0) {
        return;
    }
    /* The slot stays (a tombstone): the id is never reused while the
     * client lives. */
    gw_free(t->v[slot].name);
    t->v[slot].name = NULL;
    t->v[slot].len = 0;
    t->v[slot].acked = false;
}

/* ---- durable state ----
 *
 * The session record's link state holds the sleep state only: u8 version
 * 2, u8 flags (bit 0 asleep), be16 sleep seconds. Each acknowledged topic
 * id is a link record of its own (persist_link_put): key 't' be16 id,
 * value the name, so a new id writes one small record, never the whole
 * registry. Version 1 (before) held the registry in the link state: u8 1,
 * u8 flags, be16 sleep seconds, be16 count, count x (be16 id, be16 length,
 * name); it is still read, and converted on the way. */

#define SN_STATE_V1  1u
#define SN_STATE_V2  2u
#define SN_TOPIC_KEY 't'

static struct gw_bytes topic_key(uint8_t key[3], uint16_t id)
{
    key[0] = SN_TOPIC_KEY;
    gw_put_be16(key + 1, id);
    return (struct gw_bytes){key, 3};
}

void sn_state_save(struct sn_client *c)
{
    struct sess *s = c->sess;
    if (!s || !s->pops) {
        return; /* clean session or no store: nothing outlives the process */
    }
    bool asleep = c->state == SN_CL_ASLEEP || c->state == SN_CL_AWAKE;
    uint8_t buf[4] = {SN_STATE_V2, asleep ? 1 : 0};
    gw_put_be16(buf + 2, asleep ? c->sleep_s : 0);
    if (s->link_state_len == sizeof(buf) && memcmp(s->link_state, buf, sizeof(buf)) == 0) {
        return; /* unchanged: no rewrite */
    }
    if (sess_set_link_state(s, buf, sizeof(buf)) == 0) {
        persist_session_update(c->gw->b, s);
    }
}

void sn_state_topic_saved(struct sn_client *c, uint16_t id)
{
    struct sess *s = c->sess;
    const struct sn_topic *t = sn_topics_get(&c->topics, id);
    if (!s || !s->pops || !t || !t->acked) {
        return;
    }
    uint8_t key[3];
    persist_link_put(c->gw->b, s, topic_key(key, id),
                     (struct gw_bytes){(const uint8_t *)t->name, t->len});
}

void sn_state_topic_forgotten(struct sn_client *c, uint16_t id)
{
    struct sess *s = c->sess;
    if (s && s->pops) {
        uint8_t key[3];
        persist_link_del(c->gw->b, s, topic_key(key, id));
    }
}

/* The acknowledged ids of t as link records of s. Returns 0 or -ENOMEM. */
static int stash_topics(struct sess *s, const struct sn_topics *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const struct sn_topic *e = &t->v[i];
        uint8_t key[3];
        if (e->name && e->acked &&
            sess_add_link_rec(s, topic_key(key, e->id),
                              (struct gw_bytes){(const uint8_t *)e->name, e->len}) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

void sn_state_stash(struct sn_client *c)
{
    struct sess *s = c->sess;
    if (!s || !s->pops) {
        return;
    }
    (void)sess_set_link_recs(s, NULL, 0);
    if (stash_topics(s, &c->topics) < 0) {
        gw_log(GW_WARN, "mqttsn",
               "client=\"%s\" topic ids not kept in memory: out of memory (the store has "
               "them: a restart brings them back)",
               c->id);
    }
}

uint16_t sn_state_sleep_s(const struct sess *s)
{
    const uint8_t *p = s->link_state;
    if (s->link_state_len < 4 || (p[0] != SN_STATE_V1 && p[0] != SN_STATE_V2) ||
        !(p[1] & 1u)) {
        return 0;
    }
    return gw_be16(p + 2);
}

/* Put name at id (as stored), as the client knew it. */
static int topics_put(struct sn_topics *t, uint16_t id, struct gw_bytes name)
{
    /* Not bounded by the cap: a lowered cap must not forget what a client
     * already knows (it is enforced on new registrations). */
    if (name.n == 0 || name.n > UINT16_MAX || id < SN_TOPIC_ID_MIN || id > SN_TOPIC_ID_MAX ||
        ix_find(t, id) >= 0) {
        return -EINVAL;
    }
    return append(t, id, name, true);
}

/* The records of s->link_recs (be16 key length, key, be32 value length,
 * value) that are topic ids. */
static int load_recs(struct sn_topics *t, const struct sess *s)
{
    const uint8_t *p = s->link_recs;
    size_t n = s->link_recs_len;
    size_t off = 0;
    while (off < n) {
        if (n - off < 2 || n - off - 2 < gw_be16(p + off) + 4u) {
            return -EINVAL;
        }
        size_t klen = gw_be16(p + off);
        const uint8_t *key = p + off + 2;
        size_t vlen = gw_be32(key + klen);
        if (vlen > n - off - 6 - klen) {
            return -EINVAL;
        }
        struct gw_bytes name = {key + klen + 4, vlen};
        if (klen == 3 && key[0] == SN_TOPIC_KEY) {
            int rc = topics_put(t, gw_be16(key + 1), name);
            if (rc < 0) {
                return rc;
            }
        }
        off += 6 + klen + vlen;
    }
    return 0;
}

/* The registry of a version 1 link state. */
static int load_v1(struct sn_topics *t, const uint8_t *p, size_t n)
{
    if (n < 6) {
        return -EINVAL;
    }
    size_t count = gw_be16(p + 4);
    size_t off = 6;
    for (size_t i = 0; i < count; i++) {
        if (off + 4 > n || off + 4 + gw_be16(p + off + 2) > n) {
            return -EINVAL;
        }
        struct gw_bytes name = {p + off + 4, gw_be16(p + off + 2)};
        int rc = topics_put(t, gw_be16(p + off), name);
        if (rc < 0) {
            return rc;
        }
        off += 4 + name.n;
    }
    return 0;
}

/* A version 1 state was loaded: store each id as its own record and shrink
 * the session's link state to version 2 (same sleep state). */
static void convert_v1(struct sn_client *c, struct sess *s)
{
    for (uint32_t i = 0; i < c->topics.n; i++) {
        sn_state_topic_saved(c, c->topics.v[i].id);
    }
    uint8_t buf[4] = {SN_STATE_V2, s->link_state[1], s->link_state[2], s->link_state[3]};
    if (sess_set_link_state(s, buf, sizeof(buf)) == 0) {
        persist_session_update(c->gw->b, s);
    }
}

int sn_state_load(struct sn_client *c, struct sess *s)
{
    const uint8_t *p = s->link_state;
    size_t n = s->link_state_len;
    int rc = 0;
    bool v1 = n > 0 && p[0] == SN_STATE_V1;
    if (n > 0 && !v1 && (p[0] != SN_STATE_V2 || n < 4)) {
        rc = -EINVAL;
    } else if (v1) {
        rc = load_v1(&c->topics, p, n);
    }
    if (rc == 0) {
        rc = load_recs(&c->topics, s);
    }
    if (rc < 0) {
        sn_topics_fini(&c->topics);
        return rc;
    }
    /* The client holds the registry now; the copy comes back when it
     * leaves (sn_state_stash). */
    (void)sess_set_link_recs(s, NULL, 0);
    if (v1 && c->sess == s) {
        convert_v1(c, s);
    }
    return 0;
}
