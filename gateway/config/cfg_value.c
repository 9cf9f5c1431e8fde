/* cfg_value.c - option values: numbers with their units, booleans,
 * numbered choices, and storing a parsed value into its field (the
 * config struct, a listener or a bridge). The option table and the
 * handlers that need more than one value live in cfg_opts.c. Nothing
 * here logs: errors go to the parser's buffer through cfg_fail. */
#include "alloc.h"
#include "cfg_priv.h"
#include "gw_err.h"
#include "log.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* ---- values ----------------------------------------------------------- */

/* Strict decimal: optional '-', digits, nothing else. */
bool cfg_parse_i64(const char *s, int64_t *out, const char **end)
{
    bool neg = *s == '-';
    s += neg ? 1 : 0;
    if (*s < '0' || *s > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    *end = s;
    return true;
}

/* Multiplier of a duration unit (mosquitto: month 30 days, year 365). */
static int64_t duration_unit(char u)
{
    switch (u) {
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return (int64_t)7 * 86400;
    case 'm':
        return (int64_t)30 * 86400;
    case 'y':
        return (int64_t)365 * 86400;
    default:
        return 0;
    }
}

static int64_t size_unit(char u)
{
    switch (u) {
    case '\0':
        return 1;
    case 'k':
    case 'K':
        return 1024;
    case 'm':
    case 'M':
        return (int64_t)1024 * 1024;
    case 'g':
    case 'G':
        return (int64_t)1024 * 1024 * 1024;
    default:
        return 0;
    }
}

/* Parse tok as the number o describes; false if it is not one. */
static bool parse_number(const struct cfg_opt *o, const char *tok, int64_t *out)
{
    const char *end = NULL;
    int64_t v = 0;
    if (!cfg_parse_i64(tok, &v, &end)) {
        return false;
    }
    int64_t mult = 1;
    if (o->type == CFG_T_DURATION || o->type == CFG_T_SIZE) {
        mult = o->type == CFG_T_DURATION ? duration_unit(*end) : size_unit(*end);
        if (mult == 0 || v < 0 || (*end != '\0' && end[1] != '\0')) {
            return false;
        }
        if (o->type == CFG_T_DURATION && *end == '\0') {
            return false; /* mosquitto requires the unit */
        }
    } else if (*end != '\0') {
        return false;
    }
    if (v > INT64_MAX / mult) {
        return false;
    }
    *out = v * mult;
    return true;
}

/* "sync, periodic MS or none" from o's choices, into buf. */
static const char *choices_text(const struct cfg_opt *o, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const struct cfg_choice *ch = o->choices; ch->name && used < cap; ch++) {
        const char *sep = ch == o->choices ? "" : ch[1].name ? ", " : " or ";
        int n = snprintf(buf + used, cap - used, "%s%s%s%s", sep, ch->name, ch->arg ? " " : "",
                         ch->arg ? ch->arg : "");
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

const char *cfg_opt_expected_text(const struct cfg_opt *o, char *buf, size_t cap)
{
    switch (o->type) {
    case CFG_T_BOOL:
        return "true or false";
    case CFG_T_DURATION:
        return "a duration like 1h 3d 2w 1m 1y";
    case CFG_T_SIZE:
        if (o->max == INT64_MAX) {
            (void)snprintf(buf, cap, "a size in bytes %lld.. (suffix k M G allowed)",
                           (long long)o->min);
        } else {
            (void)snprintf(buf, cap, "a size in bytes %lld..%lld (suffix k M G allowed)",
                           (long long)o->min, (long long)o->max);
        }
        return buf;
    case CFG_T_ENUM:
        return choices_text(o, buf, cap);
    case CFG_T_STRING:
        return "a value";
    default:
        (void)snprintf(buf, cap, "an integer %lld..%lld", (long long)o->min, (long long)o->max);
        return buf;
    }
}

size_t cfg_opt_field_size(enum cfg_opt_type t)
{
    switch (t) {
    case CFG_T_BOOL:
        return sizeof(bool);
    case CFG_T_U16:
        return sizeof(uint16_t);
    case CFG_T_U32:
    case CFG_T_DURATION:
        return sizeof(uint32_t);
    case CFG_T_U64:
    case CFG_T_SIZE:
        return sizeof(uint64_t);
    case CFG_T_INT:
    case CFG_T_ENUM:
        return sizeof(int);
    case CFG_T_STRING:
        return sizeof(char *);
    default:
        return 0;
    }
}

/* Store v into the field at dst (memcpy: no alignment casts). */
static void store_number(enum cfg_opt_type t, void *dst, int64_t v)
{
    bool b = v != 0;
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;
    uint64_t u64 = (uint64_t)v;
    int i = (int)v;
    const void *src = t == CFG_T_BOOL                           ? (const void *)&b
                      : t == CFG_T_U16                          ? (const void *)&u16
                      : (t == CFG_T_U32 || t == CFG_T_DURATION) ? (const void *)&u32
                      : (t == CFG_T_INT || t == CFG_T_ENUM)     ? (const void *)&i
                                                                : (const void *)&u64;
    memcpy(dst, src, cfg_opt_field_size(t));
}

int cfg_parse_bool(const char *tok, int64_t *v)
{
    if (strcmp(tok, "true") == 0) {
        *v = 1;
    } else if (strcmp(tok, "false") == 0) {
        *v = 0;
    } else {
        return -1;
    }
    return 0;
}

/* A CFG_T_ENUM value: one of o->choices, then its number if it takes one.
 * The number field is zeroed for a choice without one, so configs that mean
 * the same compare equal (cfg_diff_restart_needed). */
static int set_choice(struct cfg_parser *p, const struct cfg_opt *o, char *base, size_t off,
                      char *args)
{
    char what[80];
    const char *exp = cfg_opt_expected_text(o, what, sizeof(what));
    char *rest = args;
    char *tok = cfg_next_token(&rest);
    if (!tok) {
        return cfg_fail(p, "option '%s': missing value, expected %s", o->name, exp);
    }
    const struct cfg_choice *ch = o->choices;
    while (ch->name && strcmp(ch->name, tok) != 0) {
        ch++;
    }
    if (!ch->name) {
        return cfg_fail(p, "option '%s': expected %s, got '%.40s'", o->name, exp, tok);
    }
    int64_t n = 0;
    if (ch->arg) {
        char *num = cfg_next_token(&rest);
        const char *end = NULL;
        if (!num) {
            return cfg_fail(p, "option '%s': '%s' needs %s, an integer %lld..%lld", o->name,
                            ch->name, ch->arg, (long long)o->min, (long long)o->max);
        }
        if (!cfg_parse_i64(num, &n, &end) || *end != '\0' || n < o->min || n > o->max) {
            return cfg_fail(p, "option '%s': '%s' %s: expected an integer %lld..%lld, got '%.40s'",
                            o->name, ch->name, ch->arg, (long long)o->min, (long long)o->max, num);
        }
    }
    char *extra = cfg_next_token(&rest);
    if (extra) {
        return cfg_fail(p, "option '%s': unexpected extra argument '%.40s'", o->name, extra);
    }
    store_number(CFG_T_ENUM, base + off, ch->value);
    if (o->noff != 0) {
        store_number(CFG_T_U32, base + o->noff, n);
    }
    return 0;
}

/* Parse args for a plain-typed option into the field at base + off. */
int cfg_opt_set_value(struct cfg_parser *p, const struct cfg_opt *o, char *base, size_t off,
                      char *args)
{
    if (o->type == CFG_T_ENUM) {
        return set_choice(p, o, base, off, args);
    }
    char what[80];
    const char *exp = cfg_opt_expected_text(o, what, sizeof(what));
    if (o->type == CFG_T_STRING) {
        if (*args == '\0') {
            return cfg_fail(p, "option '%s': missing value, expected %s", o->name, exp);
        }
        char *s = gw_strdup(args);
        if (!s) {
            return cfg_fail_nomem(p);
        }
        char *old = NULL;
        memcpy(&old, base + off, sizeof(old));
        gw_free(old);
        memcpy(base + off, &s, sizeof(s));
        return 0;
    }
    char *tok = cfg_one_arg(p, o->name, args, exp);
    if (!tok) {
        return GW_E_CONFIG;
    }
    int64_t v = 0;
    bool ok = o->type == CFG_T_BOOL ? cfg_parse_bool(tok, &v) == 0 : parse_number(o, tok, &v);
    if (!ok || v < o->min || v > o->max) {
        return cfg_fail(p, "option '%s': expected %s, got '%.40s'", o->name, exp, tok);
    }
    store_number(o->type, base + off, v);
    return 0;
}

int cfg_opt_set_field(struct cfg_parser *p, const struct cfg_opt *o, void *base, size_t off,
                      char *args)
{
    return cfg_opt_set_value(p, o, (char *)base, off, args);
}
