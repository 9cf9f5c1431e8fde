/* topic.c - MQTT topic names and filters (L0: pure, no allocation).
 *
 * MQTT 3.1.1 section 4.7. A topic is split into levels by '/'; an empty
 * level is a level ("/finance" has the levels "" and "finance"). Every
 * function here is linear in its input and touches no memory but its
 * arguments. The UTF-8 check is local (L0 may not call mqtt_codec.c). */
#include "topic.h"

#include <stdint.h>
#include <string.h>

#define TOPIC_MAX_LEN 65535u

/* Well-formed UTF-8 per Unicode table 3-7 / RFC 3629: no overlongs, no
 * surrogates U+D800..U+DFFF, nothing above U+10FFFF [MQTT-1.5.3-1], and no
 * U+0000 [MQTT-1.5.3-2] [MQTT-4.7.3-2]. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0) {
                return false;
            }
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80;
        uint8_t hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = (c == 0xE0) ? 0xA0 : 0x80; /* overlong */
            hi = (c == 0xED) ? 0x9F : 0xBF; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = (c == 0xF0) ? 0x90 : 0x80; /* overlong */
            hi = (c == 0xF4) ? 0x8F : 0xBF; /* > U+10FFFF */
        } else {
            return false; /* continuation byte, C0/C1 overlong, F5..FF */
        }
        if (n - i <= need) {
            return false; /* truncated sequence */
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

/* Length rules shared by names and filters: at least one character
 * [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3]. */
static bool length_ok(struct gw_bytes b)
{
    return b.p != NULL && b.n >= 1 && b.n <= TOPIC_MAX_LEN;
}

bool topic_name_valid(struct gw_bytes name)
{
    if (!length_ok(name)) {
        return false;
    }
    /* Wildcards are for filters only [MQTT-4.7.1-1] [MQTT-3.3.2-2]. */
    if (topic_has_wildcard(name)) {
        return false;
    }
    return utf8_valid(name.p, name.n);
}

/* True if the level [p, p + n) obeys the wildcard placement rules; last
 * tells whether it is the filter's final level. */
static bool filter_level_ok(const uint8_t *p, size_t n, bool last)
{
    if (n == 1 && p[0] == '+') {
        return true; /* [MQTT-4.7.1-3] */
    }
    if (n == 1 && p[0] == '#') {
        return last; /* [MQTT-4.7.1-2] */
    }
    /* Inside a longer level neither wildcard may appear. */
    return memchr(p, '+', n) == NULL && memchr(p, '#', n) == NULL;
}

bool topic_filter_valid(struct gw_bytes filter)
{
    if (!length_ok(filter)) {
        return false;
    }
    const uint8_t *p = filter.p;
    const uint8_t *end = filter.p + filter.n;
    for (;;) {
        const uint8_t *sep = memchr(p, '/', (size_t)(end - p));
        const uint8_t *lend = sep ? sep : end;
        if (!filter_level_ok(p, (size_t)(lend - p), sep == NULL)) {
            return false;
        }
        if (!sep) {
            break;
        }
        p = sep + 1;
    }
    return utf8_valid(filter.p, filter.n);
}

bool topic_has_wildcard(struct gw_bytes filter)
{
    if (filter.n == 0) {
        return false;
    }
    return memchr(filter.p, '+', filter.n) != NULL || memchr(filter.p, '#', filter.n) != NULL;
}

#define SHARE_PREFIX     "$share/"
#define SHARE_PREFIX_LEN (sizeof(SHARE_PREFIX) - 1)

bool topic_is_share(struct gw_bytes filter)
{
    return filter.p != NULL && filter.n >= SHARE_PREFIX_LEN &&
           memcmp(filter.p, SHARE_PREFIX, SHARE_PREFIX_LEN) == 0;
}

bool topic_filter_reads_sys(struct gw_bytes f)
{
    if (f.p == NULL) {
        return false;
    }
    if (topic_is_share(f)) {
        const uint8_t *slash =
                memchr(f.p + SHARE_PREFIX_LEN, '/', f.n - SHARE_PREFIX_LEN); /* after ShareName */
        if (!slash) {
            return false;
        }
        f.n -= (size_t)(slash + 1 - f.p);
        f.p = slash + 1;
    }
    return f.n >= 4 && memcmp(f.p, "$SYS", 4) == 0 && (f.n == 4 || f.p[4] == '/');
}

bool topic_share_parse(struct gw_bytes full, struct gw_bytes *share_name, struct gw_bytes *filter)
{
    if (!topic_is_share(full) || full.n > TOPIC_MAX_LEN) {
        return false;
    }
    const uint8_t *name = full.p + SHARE_PREFIX_LEN;
    const uint8_t *end = full.p + full.n;
    const uint8_t *sep = memchr(name, '/', (size_t)(end - name));
    if (!sep) {
        return false; /* "$share/g": no filter follows the ShareName */
    }
    size_t nlen = (size_t)(sep - name);
    /* [MQTT-4.8.2-1] at least one character; [MQTT-4.8.2-2] no '/', '+'
     * or '#' ('/' ends it by construction). */
    if (nlen == 0 || memchr(name, '+', nlen) != NULL || memchr(name, '#', nlen) != NULL) {
        return false;
    }
    /* '/' never occurs inside a UTF-8 sequence, so checking the two parts
     * apart is checking the whole. */
    struct gw_bytes rest = {sep + 1, (size_t)(end - sep - 1)};
    if (!utf8_valid(name, nlen) || !topic_filter_valid(rest)) {
        return false;
    }
    if (share_name) {
        share_name->p = name;
        share_name->n = nlen;
    }
    if (filter) {
        *filter = rest;
    }
    return true;
}

/* End of the level starting at p: the next '/' or end. */
static const uint8_t *level_end(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *sep = memchr(p, '/', (size_t)(end - p));
    return sep ? sep : end;
}

bool topic_matches(struct gw_bytes filter, struct gw_bytes topic)
{
    if (filter.n == 0 || topic.n == 0) {
        return false;
    }
    /* [MQTT-4.7.2-1] a leading wildcard never matches a '$' topic. */
    if (topic.p[0] == '$' && (filter.p[0] == '+' || filter.p[0] == '#')) {
        return false;
    }
    const uint8_t *f = filter.p;
    const uint8_t *fend = filter.p + filter.n;
    const uint8_t *t = topic.p;
    const uint8_t *tend = topic.p + topic.n;
    for (;;) {
        const uint8_t *fl = level_end(f, fend);
        size_t fn = (size_t)(fl - f);
        if (fn == 1 && f[0] == '#') {
            return true; /* this and every deeper level [MQTT-4.7.1-2] */
        }
        const uint8_t *tl = level_end(t, tend);
        size_t tn = (size_t)(tl - t);
        bool plus = (fn == 1 && f[0] == '+');
        if (!plus && (fn != tn || (fn != 0 && memcmp(f, t, fn) != 0))) {
            return false;
        }
        if (fl == fend) {
            return tl == tend; /* filter done: topic must be done too */
        }
        if (tl == tend) {
            /* Topic done, filter not: only "/#" may remain, as "sport/#"
             * also matches "sport" (section 4.7.1.2). */
            return fend - fl == 2 && fl[1] == '#';
        }
        f = fl + 1;
        t = tl + 1;
    }
}
