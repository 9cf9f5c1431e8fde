/* bridge_topic.c - a bridge's topic lines as filters and topic mappings
 * (pure: no allocation, no I/O). The rules are in bridge_topic.h; matching
 * is topic.h's, so the bridge and the router agree on what a filter means. */
#include "bridge_topic.h"

#include "gw_err.h"
#include "topic.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

bool bridge_topic_is_out(const struct cfg_bridge_topic *t)
{
    return (t->dir & CFG_BRIDGE_OUT) != 0;
}

bool bridge_topic_is_in(const struct cfg_bridge_topic *t)
{
    return (t->dir & CFG_BRIDGE_IN) != 0;
}

/* a (may be NULL) then b[0..nb) into buf, NUL-terminated. */
static ssize_t concat(const char *a, const uint8_t *b, size_t nb, char *buf, size_t cap)
{
    size_t na = a ? strlen(a) : 0;
    if (na + nb > BRIDGE_TOPIC_MAX) {
        return GW_E_TOO_LARGE;
    }
    if (na + nb >= cap) {
        return -ENOSPC;
    }
    if (na > 0) {
        memcpy(buf, a, na);
    }
    if (nb > 0) {
        memcpy(buf + na, b, nb);
    }
    buf[na + nb] = '\0';
    return (ssize_t)(na + nb);
}

static ssize_t filter(const char *prefix, const char *pattern, char *buf, size_t cap)
{
    return concat(prefix, (const uint8_t *)pattern, strlen(pattern), buf, cap);
}

ssize_t bridge_topic_local_filter(const struct cfg_bridge_topic *t, char *buf, size_t cap)
{
    return filter(t->local_prefix, t->pattern, buf, cap);
}

ssize_t bridge_topic_remote_filter(const struct cfg_bridge_topic *t, char *buf, size_t cap)
{
    return filter(t->remote_prefix, t->pattern, buf, cap);
}

/* topic matched from + pattern: strip from, prepend to. -ENOENT when the
 * line cannot map it (see the header: "P/#" matching "P"). */
static ssize_t rewrite(struct gw_bytes topic, const char *from, const char *to, char *buf,
                       size_t cap)
{
    size_t lf = from ? strlen(from) : 0;
    ssize_t n = 0;
    if (topic.n >= lf && (lf == 0 || memcmp(topic.p, from, lf) == 0)) {
        n = concat(to, topic.p + lf, topic.n - lf, buf, cap);
    } else {
        /* Only "FROM/" + "#" matches a topic not starting with FROM/: the
         * topic is FROM itself, whose counterpart is TO without its '/'. */
        size_t lt = to ? strlen(to) : 0;
        if (lt < 2 || to[lt - 1] != '/') {
            return -ENOENT;
        }
        n = concat(NULL, (const uint8_t *)to, lt - 1, buf, cap);
    }
    return n == 0 ? -ENOENT : n; /* an empty name is no topic: the line cannot map it */
}

static ssize_t map(const struct cfg_bridge *b, struct gw_bytes topic, bool out, char *buf,
                   size_t cap, size_t *line)
{
    if (!topic_name_valid(topic)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < b->n_topics; i++) {
        const struct cfg_bridge_topic *t = &b->topics[i];
        if (!(out ? bridge_topic_is_out(t) : bridge_topic_is_in(t))) {
            continue;
        }
        const char *from = out ? t->local_prefix : t->remote_prefix;
        const char *to = out ? t->remote_prefix : t->local_prefix;
        ssize_t n = filter(from, t->pattern, buf, cap); /* buf is scratch until a match */
        if (n < 0) {
            return n;
        }
        struct gw_bytes f = {(const uint8_t *)buf, (size_t)n};
        if (!topic_matches(f, topic)) {
            continue;
        }
        n = rewrite(topic, from, to, buf, cap);
        if (n == -ENOENT) {
            continue;
        }
        if (n >= 0 && line) {
            *line = i;
        }
        return n;
    }
    return -ENOENT;
}

ssize_t bridge_topic_map_out(const struct cfg_bridge *b, struct gw_bytes local_topic, char *buf,
                             size_t cap, size_t *line)
{
    return map(b, local_topic, true, buf, cap, line);
}

ssize_t bridge_topic_map_in(const struct cfg_bridge *b, struct gw_bytes remote_topic, char *buf,
                            size_t cap, size_t *line)
{
    return map(b, remote_topic, false, buf, cap, line);
}
