/* sess_tag.c - per-delivery Subscription Identifiers and share filter.
 * See sess_tag.h. */
#include "sess_tag.h"

#include "alloc.h"
#include "sess.h"
#include "topic.h"

#include <string.h>

struct sess_tag *sess_tag_create(const uint32_t *ids, size_t n_ids, struct gw_bytes share)
{
    size_t keep = 0;
    for (size_t i = 0; i < n_ids && keep < SESS_TAG_IDS_MAX; i++) {
        keep += ids[i] != 0;
    }
    if ((keep == 0 && share.n == 0) || share.n > UINT16_MAX) {
        return NULL;
    }
    struct sess_tag *t = gw_alloc(sizeof(*t) + keep * sizeof(uint32_t) + share.n);
    if (!t) {
        return NULL;
    }
    t->refs = 1;
    t->n_ids = 0;
    for (size_t i = 0; i < n_ids && t->n_ids < keep; i++) {
        if (ids[i]) {
            t->ids[t->n_ids++] = ids[i];
        }
    }
    t->share_len = (uint16_t)share.n;
    if (share.n) {
        memcpy(t->ids + t->n_ids, share.p, share.n);
    }
    return t;
}

struct sess_tag *sess_tag_ref(struct sess_tag *t)
{
    if (t) {
        t->refs++;
    }
    return t;
}

void sess_tag_unref(struct sess_tag *t)
{
    if (t && --t->refs == 0) {
        gw_free(t);
    }
}

struct gw_bytes sess_tag_share(const struct sess_tag *t)
{
    struct gw_bytes b = {NULL, 0};
    if (t && t->share_len) {
        b.p = (const uint8_t *)(t->ids + t->n_ids);
        b.n = t->share_len;
    }
    return b;
}

struct sess_tag *sess_tag_rebuild(const struct sess *s, struct gw_bytes topic, bool shared)
{
    uint32_t ids[SESS_TAG_IDS_MAX];
    size_t n = 0;
    for (uint32_t i = 0; i < s->n_subs && n < SESS_TAG_IDS_MAX; i++) {
        const struct sess_sub *sub = &s->subs[i];
        struct gw_bytes full = {(const uint8_t *)sub->filter, sub->filter_len};
        struct gw_bytes filter = full;
        bool is_share = topic_is_share(full);
        if (is_share != shared || (is_share && !topic_share_parse(full, NULL, &filter)) ||
            !topic_matches(filter, topic)) {
            continue;
        }
        if (shared) {
            /* The group it came through is not on disk: the first one
             * that matches stands for it. */
            uint32_t id = sub->sub_id;
            return sess_tag_create(&id, id ? 1 : 0, full);
        }
        if (sub->sub_id) {
            ids[n++] = sub->sub_id;
        }
    }
    return n ? sess_tag_create(ids, n, (struct gw_bytes){NULL, 0}) : NULL;
}
