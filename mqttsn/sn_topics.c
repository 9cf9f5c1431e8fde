/* sn_topics.c - the per-client topic-id registry (MQTT-SN 1.2 §6.5 client
 * REGISTER, §6.10 gateway REGISTER, §6.9 SUBACK topic ids).
 *
 * Ids are handed out in order from 1 and index the array directly, so an
 * incoming PUBLISH resolves its id in O(1); finding the id of a topic name
 * (an outgoing delivery) is a linear scan, bounded by SN_TOPICS_MAX. */
#include "alloc.h"
#include "gw_bytes.h"
#include "log.h"
#include "persist.h"
#include "sn_gw_priv.h"

#include <errno.h>
#include <string.h>

void sn_topics_fini(struct sn_topics *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        gw_free(t->v[i].name);
    }
    gw_free(t->v);
    memset(t, 0, sizeof(*t));
}

const struct sn_topic *sn_topics_get(const struct sn_topics *t, uint16_t id)
{
    if (id == 0 || id > t->n || !t->v[id - 1].name) {
        return NULL;
    }
    return &t->v[id - 1];
}

uint16_t sn_topics_find(const struct sn_topics *t, struct gw_bytes name)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const struct sn_topic *e = &t->v[i];
        if (e->name && e->len == name.n && memcmp(e->name, name.p, name.n) == 0) {
            return (uint16_t)(i + 1);
        }
    }
    return 0;
}

int sn_topics_add(struct sn_topics *t, struct gw_bytes name, bool acked, uint16_t *id)
{
    uint16_t have = sn_topics_find(t, name);
    if (have) {
        if (acked) {
            t->v[have - 1].acked = true;
        }
        *id = have;
        return 0;
    }
    if (t->n >= SN_TOPICS_MAX || name.n > UINT16_MAX) {
        return -ENOSPC;
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 8;
        struct sn_topic *v = gw_realloc(t->v, cap * sizeof(*v));
        if (!v) {
            return -ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    char *s = gw_strndup((const char *)name.p, name.n);
    if (!s) {
        return -ENOMEM;
    }
    t->v[t->n++] = (struct sn_topic){.name = s, .len = (uint16_t)name.n, .acked = acked};
    *id = (uint16_t)t->n;
    return 0;
}

void sn_topics_del(struct sn_topics *t, uint16_t id)
{
    if (id == 0 || id > t->n) {
        return;
    }
    gw_free(t->v[id - 1].name);
    t->v[id - 1].name = NULL;
    t->v[id - 1].len = 0;
    t->v[id - 1].acked = false;
}

/* ---- durable state: u8 version 1, u8 flags (bit 0 asleep), be16 sleep
 * seconds, be16 count, then count x (be16 id, be16 length, name) ---- */

#define SN_STATE_VERSION 1u

void sn_state_save(struct sn_client *c)
{
    struct sess *s = c->sess;
    if (!s || !s->pops) {
        return; /* clean session or no store: nothing outlives the process */
    }
    const struct sn_topics *t = &c->topics;
    size_t need = 6;
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->v[i].name && t->v[i].acked) {
            need += 4u + t->v[i].len;
            count++;
        }
    }
    uint8_t *buf = gw_alloc(need);
    if (!buf) {
        gw_log(GW_WARN, "mqttsn", "client=\"%s\" topic ids not saved: out of memory", c->id);
        return;
    }
    bool asleep = c->state == SN_CL_ASLEEP || c->state == SN_CL_AWAKE;
    buf[0] = SN_STATE_VERSION;
    buf[1] = asleep ? 1 : 0;
    gw_put_be16(buf + 2, asleep ? c->sleep_s : 0);
    gw_put_be16(buf + 4, (uint16_t)count);
    uint8_t *p = buf + 6;
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->v[i].name && t->v[i].acked) {
            gw_put_be16(p, (uint16_t)(i + 1));
            gw_put_be16(p + 2, t->v[i].len);
            memcpy(p + 4, t->v[i].name, t->v[i].len);
            p += 4u + t->v[i].len;
        }
    }
    if (sess_set_link_state(s, buf, need) == 0) {
        persist_session_update(c->gw->b, s);
    }
    gw_free(buf);
}

uint16_t sn_state_sleep_s(const struct sess *s)
{
    const uint8_t *p = s->link_state;
    if (s->link_state_len < 6 || p[0] != SN_STATE_VERSION || !(p[1] & 1u)) {
        return 0;
    }
    return gw_be16(p + 2);
}

/* Put name at id (1..SN_TOPICS_MAX), growing the table with free slots. */
static int topics_put(struct sn_topics *t, uint16_t id, struct gw_bytes name)
{
    if (id == 0 || id > SN_TOPICS_MAX || (id <= t->n && t->v[id - 1].name)) {
        return -EINVAL;
    }
    if (id > t->cap) {
        uint32_t cap = t->cap ? t->cap : 8;
        while (cap < id) {
            cap *= 2;
        }
        struct sn_topic *v = gw_realloc(t->v, cap * sizeof(*v));
        if (!v) {
            return -ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    while (t->n < id) {
        t->v[t->n++] = (struct sn_topic){0};
    }
    char *s = gw_strndup((const char *)name.p, name.n);
    if (!s) {
        return -ENOMEM;
    }
    t->v[id - 1] = (struct sn_topic){.name = s, .len = (uint16_t)name.n, .acked = true};
    return 0;
}

int sn_state_load(struct sn_client *c, const struct sess *s)
{
    const uint8_t *p = s->link_state;
    size_t n = s->link_state_len;
    if (n == 0) {
        return 0;
    }
    if (n < 6 || p[0] != SN_STATE_VERSION) {
        return -EINVAL;
    }
    size_t count = gw_be16(p + 4);
    size_t off = 6;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (off + 4 > n || off + 4 + gw_be16(p + off + 2) > n) {
            rc = -EINVAL;
            break;
        }
        struct gw_bytes name = {p + off + 4, gw_be16(p + off + 2)};
        rc = name.n ? topics_put(&c->topics, gw_be16(p + off), name) : -EINVAL;
        off += 4 + name.n;
    }
    if (rc < 0) {
        sn_topics_fini(&c->topics);
    }
    return rc;
}
