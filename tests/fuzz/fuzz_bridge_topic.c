/* fuzz_bridge_topic.c - a bridge topic line's mappings (bridge_topic.h).
 *
 * Input: one flag byte (bits 0-1 direction, bit 2 local prefix, bit 3
 * remote prefix, bit 4 a small buffer) then pattern 0x00 local_prefix 0x00
 * remote_prefix 0x00 topic. Lines the config would reject are skipped. Every
 * mapping must be a valid topic name of the length returned, never written
 * past the buffer; with a both line, mapping out then in gives the topic
 * back (outside the '$' topics, which wildcards do not match). */
#include "bridge_topic.h"
#include "topic.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next 0x00-terminated field of [*p, end) as a new string. */
static char *field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
    size_t n = z ? (size_t)(z - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, *p, n);
        s[n] = '\0';
    }
    *p = z ? z + 1 : end;
    return s;
}

/* The config's checks (cfg_bridge.c check_topic). */
static bool line_ok(const char *pattern, const char *lp, const char *rp)
{
    if ((*pattern == '\0' && (!lp || !rp)) || (lp && !topic_name_valid(gw_bytes_str(lp))) ||
        (rp && !topic_name_valid(gw_bytes_str(rp)))) {
        return false;
    }
    static char f[2 * BRIDGE_TOPIC_BUF];
    const char *pre[2] = {lp, rp};
    for (size_t i = 0; i < 2; i++) {
        size_t lpre = pre[i] ? strlen(pre[i]) : 0;
        if (lpre + strlen(pattern) >= sizeof(f)) {
            return false;
        }
        memcpy(f, pre[i] ? pre[i] : "", lpre);
        strcpy(f + lpre, pattern);
        if (!topic_filter_valid(gw_bytes_str(f))) {
            return false;
        }
    }
    return true;
}

static void check(const struct cfg_bridge *b, const char *topic, bool small)
{
    static char buf[BRIDGE_TOPIC_BUF + 1];
    size_t cap = small ? 16 : BRIDGE_TOPIC_BUF;
    for (int out = 0; out < 2; out++) {
        buf[cap] = 0x5a; /* canary just past the buffer */
        size_t line = 99;
        ssize_t n = out ? bridge_topic_map_out(b, gw_bytes_str(topic), buf, cap, &line)
                        : bridge_topic_map_in(b, gw_bytes_str(topic), buf, cap, &line);
        if (buf[cap] != 0x5a) {
            abort();
        }
        if (n < 0) {
            continue;
        }
        if (line != 0 || strlen(buf) != (size_t)n || !topic_name_valid(gw_bytes_str(buf))) {
            abort();
        }
        if (b->topics[0].dir != CFG_BRIDGE_BOTH || small || topic[0] == '$' || buf[0] == '$') {
            continue;
        }
        static char back[BRIDGE_TOPIC_BUF];
        ssize_t m = out ? bridge_topic_map_in(b, gw_bytes_str(buf), back, sizeof(back), NULL)
                        : bridge_topic_map_out(b, gw_bytes_str(buf), back, sizeof(back), NULL);
        if (m < 0 || strcmp(back, topic) != 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }

    static const enum cfg_bridge_dir dirs[4] = {CFG_BRIDGE_OUT, CFG_BRIDGE_IN, CFG_BRIDGE_BOTH,
                                                CFG_BRIDGE_BOTH};

    uint8_t flags = data[0];
    const uint8_t *p = data + 1;
    const uint8_t *end = data + size;
    char *s[4];
    for (size_t i = 0; i < 4; i++) {
        s[i] = field(&p, end);
    }
    if (s[0] && s[1] && s[2] && s[3]) {
        struct cfg_bridge_topic t = {s[0], (flags & 4) ? s[1] : NULL, (flags & 8) ? s[2] : NULL,
                                     dirs[flags & 3], 0};
        struct cfg_bridge b = {.topics = &t, .n_topics = 1};
        if (line_ok(t.pattern, t.local_prefix, t.remote_prefix) &&
            topic_name_valid(gw_bytes_str(s[3]))) {
            check(&b, s[3], (flags & 16) != 0);
        }
    }
    for (size_t i = 0; i < 4; i++) {
        free(s[i]);
    }
    return 0;
}
