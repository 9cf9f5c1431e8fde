/* fuzz_topic.c - topic rules and the router against trivial references.
 *
 * Input: filter 0x00 topic. Checks topic_name_valid / topic_filter_valid
 * against a decode-every-code-point reference; when both parts are valid,
 * checks that topic_matches, route_match (one subscription) and
 * route_retain_match (one retained message) agree with a reference matcher
 * written straight from MQTT 3.1.1 section 4.7. */
#include "alloc.h"
#include "msg.h"
#include "route.h"
#include "topic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference UTF-8: decode each code point, then apply the rules. */
static bool ref_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        size_t len;
        uint32_t min;
        if (c < 0x80) {
            len = 1;
            min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            c = (c << 6) | (s[i + k] & 0x3Fu);
        }
        if (c == 0 || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

#define MAX_LEVELS 70000

static struct gw_bytes flev[MAX_LEVELS];
static struct gw_bytes tlev[MAX_LEVELS];

static size_t split(struct gw_bytes s, struct gw_bytes *out)
{
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i == s.n || s.p[i] == '/') {
            out[n].p = s.p + start;
            out[n].n = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

static bool lev_is(struct gw_bytes l, char c)
{
    return l.n == 1 && l.p[0] == (uint8_t)c;
}

static bool ref_has(struct gw_bytes s, char c)
{
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == (uint8_t)c) {
            return true;
        }
    }
    return false;
}

static bool ref_name_valid(struct gw_bytes s)
{
    return s.n >= 1 && s.n <= 65535 && !ref_has(s, '+') && !ref_has(s, '#') && ref_utf8(s.p, s.n);
}

static bool ref_filter_valid(struct gw_bytes s)
{
    if (s.n < 1 || s.n > 65535 || !ref_utf8(s.p, s.n)) {
        return false;
    }
    size_t n = split(s, flev);
    for (size_t i = 0; i < n; i++) {
        bool whole = lev_is(flev[i], '+') || (lev_is(flev[i], '#') && i == n - 1);
        if (!whole && (ref_has(flev[i], '+') || ref_has(flev[i], '#'))) {
            return false;
        }
    }
    return true;
}

/* 4.7: a filter ending in '#' matches its prefix levels and anything below
 * them (the parent level too); otherwise the level counts are equal; '+'
 * matches any one level; wildcards first never match a '$' topic. */
static bool ref_matches(struct gw_bytes f, struct gw_bytes t)
{
    size_t nf = split(f, flev);
    size_t nt = split(t, tlev);
    if (t.p[0] == '$' && (lev_is(flev[0], '+') || lev_is(flev[0], '#'))) {
        return false;
    }
    size_t fixed = nf;
    if (lev_is(flev[nf - 1], '#')) {
        fixed = nf - 1;
        if (nt < fixed) {
            return false;
        }
    } else if (nt != nf) {
        return false;
    }
    for (size_t i = 0; i < fixed; i++) {
        if (!lev_is(flev[i], '+') && !gw_bytes_eq(flev[i], tlev[i])) {
            return false;
        }
    }
    return true;
}

static void on_retained(void *arg, struct msg *m)
{
    (void)m;
    (*(size_t *)arg)++;
}

static void check_router(struct gw_bytes filter, struct gw_bytes topic, bool want)
{
    if (topic_is_share(filter)) {
        /* "$share/..." is a shared subscription to the router (MQTT 5
         * 4.8.2), not the literal filter the reference matcher models. */
        return;
    }
    struct route *r = NULL;
    struct route_ep ep = {0, 0};
    const struct route_hit *hits = NULL;
    struct gw_bytes none = {NULL, 0};
    struct gw_bytes payload = {(const uint8_t *)"p", 1};
    if (route_create(&r) < 0) {
        abort();
    }
    if (route_sub_add(r, filter, &ep, 1, 0, 0, NULL) < 0) {
        abort();
    }
    ssize_t n = route_match(r, topic, &hits);
    if (n != (want ? 1 : 0) || (n == 1 && (hits[0].ep != &ep || hits[0].qos != 1))) {
        abort();
    }
    struct msg *m = msg_create(topic, payload, none, 0, true);
    if (!m || route_retain_set(r, m) < 0) {
        abort();
    }
    msg_unref(m);
    size_t got = 0;
    route_retain_match(r, filter, on_retained, &got);
    if (got != (want ? 1u : 0u)) {
        abort();
    }
    if (route_sub_del(r, filter, &ep) != 0 || route_sub_count(r) != 0) {
        abort();
    }
    route_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_bytes whole = {data, size};
    if (topic_name_valid(whole) != ref_name_valid(whole) ||
        topic_filter_valid(whole) != ref_filter_valid(whole)) {
        abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) {
        return 0;
    }
    struct gw_bytes filter = {data, (size_t)(nul - data)};
    struct gw_bytes topic = {nul + 1, size - filter.n - 1};
    bool fv = topic_filter_valid(filter);
    bool tv = topic_name_valid(topic);
    if (fv != ref_filter_valid(filter) || tv != ref_name_valid(topic)) {
        abort();
    }
    if (!fv || !tv) {
        return 0;
    }
    bool want = ref_matches(filter, topic);
    if (topic_matches(filter, topic) != want) {
        abort();
    }
    check_router(filter, topic, want);
    return 0;
}
