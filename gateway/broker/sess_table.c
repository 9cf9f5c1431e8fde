/* sess_table.c - sessions by client id: a chained hash table (FNV-1a). */
#include "alloc.h"
#include "sess.h"

#include <errno.h>
#include <string.h>

static size_t hash_id(struct gw_bytes id)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < id.n; i++) {
        h ^= id.p[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

int sess_table_init(struct sess_table *t)
{
    t->n_slots = 256;
    t->count = 0;
    t->slots = gw_calloc(t->n_slots, sizeof(*t->slots));
    return t->slots ? 0 : -ENOMEM;
}

void sess_table_fini(struct sess_table *t)
{
    gw_free(t->slots);
    memset(t, 0, sizeof(*t));
}

struct sess *sess_table_get(const struct sess_table *t, struct gw_bytes id)
{
    struct sess *s = t->slots[hash_id(id) & (t->n_slots - 1)];
    while (s) {
        if (s->id_len == id.n && memcmp(s->id, id.p, id.n) == 0) {
            return s;
        }
        s = s->hash_next;
    }
    return NULL;
}

static void grow(struct sess_table *t)
{
    size_t n = t->n_slots * 2;
    struct sess **slots = gw_calloc(n, sizeof(*slots));
    if (!slots) {
        return; /* stay at the current size: slower, still correct */
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        struct sess *s = t->slots[i];
        while (s) {
            struct sess *next = s->hash_next;
            struct gw_bytes id = {(const uint8_t *)s->id, s->id_len};
            size_t j = hash_id(id) & (n - 1);
            s->hash_next = slots[j];
            slots[j] = s;
            s = next;
        }
    }
    gw_free(t->slots);
    t->slots = slots;
    t->n_slots = n;
}

void sess_table_add(struct sess_table *t, struct sess *s)
{
    if (t->count >= t->n_slots) {
        grow(t);
    }
    struct gw_bytes id = {(const uint8_t *)s->id, s->id_len};
    size_t i = hash_id(id) & (t->n_slots - 1);
    s->hash_next = t->slots[i];
    t->slots[i] = s;
    s->in_table = true;
    t->count++;
}

void sess_table_del(struct sess_table *t, struct sess *s)
{
    struct gw_bytes id = {(const uint8_t *)s->id, s->id_len};
    struct sess **pp = &t->slots[hash_id(id) & (t->n_slots - 1)];
    while (*pp) {
        if (*pp == s) {
            *pp = s->hash_next;
            s->hash_next = NULL;
            s->in_table = false;
            t->count--;
            return;
        }
        pp = &(*pp)->hash_next;
    }
}
