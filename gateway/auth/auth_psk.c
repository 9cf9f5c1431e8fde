/* auth_psk.c - psk_file and hex key parsing (auth_psk.h). */
#include "auth_psk.h"

#include "alloc.h"
#include "file_text.h"
#include "gw_err.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PSK_FILE_MAX ((size_t)4 * 1024 * 1024)

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

ssize_t auth_psk_hex_decode(const char *hex, size_t n, uint8_t *out, size_t cap)
{
    if (n == 0 || n % 2 != 0) {
        return GW_E_MALFORMED;
    }
    if (n / 2 > cap) {
        return GW_E_TOO_LARGE;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_digit(hex[i]);
        int lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return GW_E_MALFORMED;
        }
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (ssize_t)(n / 2);
}

void auth_psk_table_free(struct auth_psk_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        gw_free(t->v[i].identity);
    }
    if (t->v) {
        volatile uint8_t *p = (volatile uint8_t *)t->v;
        for (size_t i = 0; i < t->n * sizeof(*t->v); i++) {
            p[i] = 0; /* the keys do not outlive the table in freed memory */
        }
    }
    gw_free(t->v);
    t->v = NULL;
    t->n = 0;
}

static bool identity_ok(const char *id, size_t n)
{
    if (n == 0 || n > AUTH_PSK_MAX_IDENTITY) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f) {
            return false; /* control characters would travel into logs and ACLs */
        }
    }
    return true;
}

static int add_entry(struct auth_psk_table *t, size_t *cap, const char *id, size_t id_n,
                     const uint8_t *key, size_t key_n)
{
    if (t->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct auth_psk *v = gw_realloc(t->v, ncap * sizeof(*v));
        if (!v) {
            return -ENOMEM;
        }
        t->v = v;
        *cap = ncap;
    }
    struct auth_psk *e = &t->v[t->n];
    e->identity = gw_alloc(id_n + 1);
    if (!e->identity) {
        return -ENOMEM;
    }
    memcpy(e->identity, id, id_n);
    e->identity[id_n] = '\0';
    memcpy(e->key, key, key_n);
    e->key_len = key_n;
    t->n++;
    return 0;
}

static bool seen(const struct auth_psk_table *t, const char *id, size_t n)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strlen(t->v[i].identity) == n && memcmp(t->v[i].identity, id, n) == 0) {
            return true;
        }
    }
    return false;
}

/* One line [p, p + n) without its newline. */
static int parse_line(struct auth_psk_table *t, size_t *cap, const char *p, size_t n,
                      const char *name, unsigned line, char *err, size_t errcap)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    size_t lead = 0;
    while (lead < n && (p[lead] == ' ' || p[lead] == '\t')) {
        lead++;
    }
    if (lead == n || p[lead] == '#') {
        return 0;
    }
    p += lead;
    n -= lead;
    const char *colon = memchr(p, ':', n);
    if (!colon) {
        (void)snprintf(err, errcap, "%s:%u: expected identity:hexkey", name, line);
        return GW_E_CONFIG;
    }
    size_t id_n = (size_t)(colon - p);
    if (!identity_ok(p, id_n)) {
        (void)snprintf(err, errcap,
                       "%s:%u: an identity is 1..%u bytes without control characters", name,
                       line, AUTH_PSK_MAX_IDENTITY);
        return GW_E_CONFIG;
    }
    uint8_t key[AUTH_PSK_MAX_KEY];
    ssize_t k = auth_psk_hex_decode(colon + 1, n - id_n - 1, key, sizeof(key));
    if (k < 0) {
        (void)snprintf(err, errcap, "%s:%u: %s", name, line,
                       k == GW_E_TOO_LARGE ? "key over 64 bytes (128 hex digits)"
                                           : "the key must be an even count of hex digits");
        return GW_E_CONFIG;
    }
    if (seen(t, p, id_n)) {
        (void)snprintf(err, errcap, "%s:%u: identity \"%.*s\" is given twice", name, line,
                       (int)(id_n > 60 ? 60 : id_n), p);
        return GW_E_CONFIG;
    }
    int rc = add_entry(t, cap, p, id_n, key, (size_t)k);
    memset(key, 0, sizeof(key));
    return rc;
}

int auth_psk_parse(const char *text, size_t len, const char *name, struct auth_psk_table *out,
                   char *err, size_t errcap)
{
    struct auth_psk_table t = {NULL, 0};
    size_t cap = 0;
    unsigned line = 0;
    size_t at = 0;
    int rc = 0;
    while (at < len && rc == 0) {
        const char *p = text + at;
        const char *nl = memchr(p, '\n', len - at);
        size_t n = nl ? (size_t)(nl - p) : len - at;
        line++;
        if (memchr(p, '\0', n)) {
            (void)snprintf(err, errcap, "%s:%u: NUL byte in the line", name, line);
            rc = GW_E_CONFIG;
            break;
        }
        rc = parse_line(&t, &cap, p, n, name, line, err, errcap);
        at += n + (nl ? 1 : 0);
    }
    if (rc < 0) {
        auth_psk_table_free(&t);
        return rc;
    }
    *out = t;
    return 0;
}

int auth_psk_load(const char *path, struct auth_psk_table *out, char *err, size_t errcap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = file_text_read(path, PSK_FILE_MAX, &text, &len);
    if (rc < 0) {
        if (rc == -ENOMEM) {
            return rc;
        }
        (void)snprintf(err, errcap, "psk_file %s: %s", path, gw_strerror(rc));
        return GW_E_CONFIG;
    }
    rc = auth_psk_parse(text, len, path, out, err, errcap);
    gw_free(text);
    return rc;
}
