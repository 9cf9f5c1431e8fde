/* sn_topics.c - the per-client topic-id registry (MQTT-SN 1.2 §6.5 client
 * REGISTER, §6.10 gateway REGISTER, §6.9 SUBACK topic ids).
 *
 * Ids are handed out in order from 1 and index the array directly, so an
 * incoming PUBLISH resolves its id in O(1); finding the id of a topic name
 * (an outgoing delivery) is a linear scan, bounded by SN_TOPICS_MAX. */
#include "alloc.h"
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
