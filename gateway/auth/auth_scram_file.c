/* auth_scram_file.c - the scram_file of SCRAM-SHA-256 authentication:
 * loading and checking it, looking users up in it, and making its lines
 * (verifiers from passwords, for `tern --scram-passwd`). The format is in
 * auth_method.h; the exchange that uses the loaded users is auth_scram.c.
 *
 * Error messages go to the caller's buffer as "FILE:LINE: reason"; never
 * logs. A loaded file is immutable and its keys are wiped when freed. */
#include "alloc.h"
#include "auth_method.h"
#include "auth_scram_priv.h"
#include "crypto.h"
#include "file_text.h"
#include "gw_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES (16u * 1024u * 1024u)
#define SHOW           64 /* quoted names in messages are cut to this */
#define PREFIX         "SCRAM-SHA-256$"

/* ---- lookup --------------------------------------------------------------- */

static int cmp_name(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0) {
        return c;
    }
    return an < bn ? -1 : an > bn ? 1 : 0;
}

const struct scram_user *auth_scram_find_user(const struct auth_scram_creds *c, const char *name)
{
    size_t lo = 0;
    size_t hi = c->n;
    size_t n = strlen(name);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = cmp_name(name, n, c->users[mid].name, c->users[mid].name_n);
        if (r == 0) {
            return &c->users[mid];
        }
        if (r < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* ---- scram_file ----------------------------------------------------------- */

struct scram_parser {
    struct auth_scram_creds *c;
    const char *file;
    unsigned line;
    char *err;
    size_t errcap;
};

__attribute__((format(printf, 3, 4))) static void put_err(char *err, size_t cap, const char *fmt,
                                                          ...)
{
    if (!err || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Write "FILE:LINE: message" and return GW_E_CONFIG. */
__attribute__((format(printf, 2, 3))) static int fail_at(struct scram_parser *p, const char *fmt,
                                                         ...)
{
    if (!p->err || p->errcap == 0) {
        return GW_E_CONFIG;
    }
    int n = snprintf(p->err, p->errcap, "%s:%u: ", p->file, p->line);
    if (n > 0 && (size_t)n < p->errcap) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return GW_E_CONFIG;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_blank(*s)) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_blank(s[*n - 1])) {
        (*n)--;
    }
    return s;
}

/* Decimal 1..AUTH_SCRAM_MAX_ITERATIONS. */
static bool parse_iterations(const char *s, size_t n, uint32_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 9) {
            return false;
        }
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    if (n == 0 || v < 1 || v > AUTH_SCRAM_MAX_ITERATIONS) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Decode base64 s[0..n) into out, want bytes (or 1..want when !exact). */
static bool decode_field(const char *s, size_t n, uint8_t *out, size_t want, bool exact,
                         size_t *got_n)
{
    uint8_t tmp[AUTH_SCRAM_SALT_MAX + 3];
    long got = crypto_base64_decode(s, n, tmp, sizeof(tmp));
    bool ok = got > 0 && (exact ? (size_t)got == want : (size_t)got <= want);
    if (ok) {
        memcpy(out, tmp, (size_t)got);
        *got_n = (size_t)got;
    }
    crypto_wipe(tmp, sizeof(tmp));
    return ok;
}

/* "SCRAM-SHA-256$I:SALT$STORED:SERVER" h[0..n) into *v; 0 or a message. */
static int parse_verifier(struct scram_parser *p, const char *h, size_t n,
                          struct auth_scram_verifier *v, const char *name, int name_n)
{
    size_t pre = sizeof(PREFIX) - 1;
    if (n < pre || memcmp(h, PREFIX, pre) != 0) {
        return fail_at(p, "user '%.*s': expected a SCRAM-SHA-256$ verifier", name_n, name);
    }
    const char *f = h + pre;
    const char *end = h + n;
    const char *c1 = memchr(f, ':', (size_t)(end - f));
    const char *d = c1 ? memchr(c1, '$', (size_t)(end - c1)) : NULL;
    const char *c2 = d ? memchr(d, ':', (size_t)(end - d)) : NULL;
    if (!c2 || memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) ||
        memchr(d + 1, '$', (size_t)(end - d - 1))) {
        return fail_at(p,
                       "user '%.*s': malformed verifier (expected "
                       "SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY)",
                       name_n, name);
    }
    size_t got = 0;
    if (!parse_iterations(f, (size_t)(c1 - f), &v->iterations)) {
        return fail_at(p, "user '%.*s': bad iteration count (expected 1..%u)", name_n, name,
                       AUTH_SCRAM_MAX_ITERATIONS);
    }
    if (!decode_field(c1 + 1, (size_t)(d - c1 - 1), v->salt, AUTH_SCRAM_SALT_MAX, false,
                      &v->salt_n)) {
        return fail_at(p, "user '%.*s': bad salt (expected base64 of 1..%u bytes)", name_n, name,
                       AUTH_SCRAM_SALT_MAX);
    }
    if (!decode_field(d + 1, (size_t)(c2 - d - 1), v->stored_key, AUTH_SCRAM_KEY_LEN, true, &got) ||
        !decode_field(c2 + 1, (size_t)(end - c2 - 1), v->server_key, AUTH_SCRAM_KEY_LEN, true,
                      &got)) {
        return fail_at(p, "user '%.*s': bad StoredKey or ServerKey (expected base64 of %u bytes)",
                       name_n, name, AUTH_SCRAM_KEY_LEN);
    }
    return 0;
}

static bool valid_file_name(const char *s, size_t n)
{
    if (n == 0 || n > AUTH_SCRAM_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!auth_scram_is_printable(s[i])) {
            return false;
        }
    }
    return true;
}

static int add_user(struct scram_parser *p, const char *name, size_t name_n,
                    const struct auth_scram_verifier *v)
{
    struct auth_scram_creds *c = p->c;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct scram_user *u = gw_realloc(c->users, cap * sizeof(*u));
        if (!u) {
            (void)fail_at(p, "out of memory");
            return -ENOMEM;
        }
        c->users = u;
        c->cap = cap;
    }
    struct scram_user *u = &c->users[c->n];
    u->name = gw_strndup(name, name_n);
    if (!u->name) {
        (void)fail_at(p, "out of memory");
        return -ENOMEM;
    }
    u->name_n = name_n;
    u->line = p->line;
    u->v = *v;
    c->n++;
    return 0;
}

/* One line without its newline. */
static int parse_line(struct scram_parser *p, const char *s, size_t n)
{
    s = trim(s, &n);
    if (n == 0 || s[0] == '#') {
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    size_t name_n = colon ? (size_t)(colon - s) : 0;
    const char *name = trim(s, &name_n);
    int show = (int)(name_n < SHOW ? name_n : SHOW);
    if (!colon) {
        return fail_at(p, "expected 'username:SCRAM-SHA-256$...' (make lines with "
                          "tern --scram-passwd USER)");
    }
    if (!valid_file_name(name, name_n)) {
        return fail_at(p, "empty or too long username, or one with non-printable or non-ASCII "
                          "bytes");
    }
    size_t hn = n - (size_t)(colon - s) - 1;
    const char *h = trim(colon + 1, &hn);
    struct auth_scram_verifier v;
    int rc = parse_verifier(p, h, hn, &v, name, show);
    if (rc == 0) {
        rc = add_user(p, name, name_n, &v);
    }
    crypto_wipe(&v, sizeof(v));
    return rc;
}

static int cmp_user(const void *x, const void *y)
{
    const struct scram_user *a = x;
    const struct scram_user *b = y;
    return cmp_name(a->name, a->name_n, b->name, b->name_n);
}

/* Sort, reject duplicates, set the fake-verifier parameters and secret. */
static int finish(struct scram_parser *p, const char *text)
{
    struct auth_scram_creds *c = p->c;
    if (c->n > 1) {
        qsort(c->users, c->n, sizeof(*c->users), cmp_user);
    }
    for (size_t i = 1; i < c->n; i++) {
        const struct scram_user *x = &c->users[i - 1];
        const struct scram_user *y = &c->users[i];
        if (cmp_user(x, y) == 0) {
            p->line = x->line > y->line ? x->line : y->line;
            return fail_at(p, "user '%.*s' is already defined at line %u", SHOW, x->name,
                           x->line < y->line ? x->line : y->line);
        }
    }
    /* The first entry in file order sets what unknown users look like. */
    const struct scram_user *first = NULL;
    for (size_t i = 0; i < c->n; i++) {
        first = !first || c->users[i].line < first->line ? &c->users[i] : first;
    }
    c->fake_iterations = first ? first->v.iterations : AUTH_SCRAM_DEFAULT_ITERATIONS;
    c->fake_salt_n = first ? first->v.salt_n : AUTH_SCRAM_DEFAULT_SALT_LEN;
    static const char label[] = "tern scram fake-user secret";
    const struct gw_bytes parts[2] = {{(const uint8_t *)label, sizeof(label)}, gw_bytes_str(text)};
    if (crypto_hmac_sha256(NULL, 0, parts, 2, c->secret) < 0) {
        return fail_at(p, "hash failure");
    }
    return 0;
}

int auth_scram_load_string(const char *text, const char *name, struct auth_scram_creds **out,
                           char *err, size_t errcap)
{
    put_err(err, errcap, "%s", "");
    struct auth_scram_creds *c = gw_calloc(1, sizeof(*c));
    if (!c) {
        put_err(err, errcap, "out of memory");
        return -ENOMEM;
    }
    struct scram_parser p = {c, name ? name : "<string>", 0, err, errcap};
    int rc = 0;
    const char *s = text ? text : "";
    while (rc == 0 && *s) {
        p.line++;
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        rc = parse_line(&p, s, n);
        s = nl ? nl + 1 : s + n;
    }
    if (rc == 0) {
        rc = finish(&p, text ? text : "");
    }
    if (rc < 0) {
        auth_scram_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int auth_scram_load(const char *path, struct auth_scram_creds **out, char *err, size_t errcap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = file_text_read(path, MAX_FILE_BYTES, &text, &len);
    if (rc < 0) {
        put_err(err, errcap, "%s: %s", path, gw_strerror(rc));
        return rc;
    }
    rc = auth_scram_load_string(text, path, out, err, errcap);
    crypto_wipe(text, len + 1);
    gw_free(text);
    return rc;
}

void auth_scram_free(struct auth_scram_creds *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        gw_free(c->users[i].name);
    }
    if (c->users) {
        crypto_wipe(c->users, c->cap * sizeof(*c->users));
    }
    gw_free(c->users);
    crypto_wipe(c, sizeof(*c));
    gw_free(c);
}

size_t auth_scram_count(const struct auth_scram_creds *c)
{
    return c ? c->n : 0;
}

/* ---- verifiers ------------------------------------------------------------ */

int auth_scram_make_verifier(const uint8_t *password, size_t password_n, uint32_t iterations,
                             const uint8_t *salt, size_t salt_n, struct auth_scram_verifier *out)
{
    if (salt_n == 0 || salt_n > AUTH_SCRAM_SALT_MAX || !salt || iterations == 0 ||
        iterations > AUTH_SCRAM_MAX_ITERATIONS || (password_n > 0 && !password)) {
        return -EINVAL;
    }
    uint8_t salted[CRYPTO_SHA256_LEN];
    uint8_t client_key[CRYPTO_SHA256_LEN];
    struct auth_scram_verifier v = {.iterations = iterations, .salt_n = salt_n};
    memcpy(v.salt, salt, salt_n);
    /* RFC 5802 section 3: SaltedPassword = Hi(password, salt, i),
     * ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey =
     * H(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key"). */
    const struct gw_bytes ck = {(const uint8_t *)"Client Key", 10};
    const struct gw_bytes sk = {(const uint8_t *)"Server Key", 10};
    int rc = crypto_pbkdf2_sha256(password, password_n, salt, salt_n, iterations, salted,
                                  sizeof(salted));
    if (rc == 0) {
        rc = crypto_hmac_sha256(salted, sizeof(salted), &ck, 1, client_key);
    }
    if (rc == 0) {
        rc = crypto_sha256(client_key, sizeof(client_key), v.stored_key);
    }
    if (rc == 0) {
        rc = crypto_hmac_sha256(salted, sizeof(salted), &sk, 1, v.server_key);
    }
    if (rc == 0) {
        *out = v;
    }
    crypto_wipe(salted, sizeof(salted));
    crypto_wipe(client_key, sizeof(client_key));
    crypto_wipe(&v, sizeof(v));
    return rc;
}

long auth_scram_format_line(const char *username, const struct auth_scram_verifier *v, char *out,
                            size_t cap)
{
    if (!username) {
        return -EINVAL;
    }
    size_t un = strlen(username);
    if (!valid_file_name(username, un) || memchr(username, ':', un) || is_blank(username[0]) ||
        is_blank(username[un - 1]) || username[0] == '#' || v->salt_n == 0 ||
        v->salt_n > AUTH_SCRAM_SALT_MAX || v->iterations == 0 ||
        v->iterations > AUTH_SCRAM_MAX_ITERATIONS) {
        return -EINVAL;
    }
    char salt[SALT_B64_MAX + 1];
    char stored[KEY_B64_LEN + 1];
    char server[KEY_B64_LEN + 1];
    if (crypto_base64_encode(v->salt, v->salt_n, salt, sizeof(salt)) < 0 ||
        crypto_base64_encode(v->stored_key, AUTH_SCRAM_KEY_LEN, stored, sizeof(stored)) < 0 ||
        crypto_base64_encode(v->server_key, AUTH_SCRAM_KEY_LEN, server, sizeof(server)) < 0) {
        return -EINVAL;
    }
    int n = snprintf(out, cap, "%s:" PREFIX "%u:%s$%s:%s\n", username, (unsigned)v->iterations,
                     salt, stored, server);
    crypto_wipe(stored, sizeof(stored));
    crypto_wipe(server, sizeof(server));
    if (n < 0 || (size_t)n >= cap) {
        return -ENOSPC;
    }
    return n;
}

long auth_scram_make_line(const char *username, const uint8_t *password, size_t password_n,
                          uint32_t iterations, char *out, size_t cap)
{
    uint8_t salt[AUTH_SCRAM_DEFAULT_SALT_LEN];
    struct auth_scram_verifier v = {.iterations = 0};
    int rc = crypto_random(salt, sizeof(salt));
    if (rc == 0) {
        rc = auth_scram_make_verifier(password, password_n,
                                      iterations ? iterations : AUTH_SCRAM_DEFAULT_ITERATIONS, salt,
                                      sizeof(salt), &v);
    }
    long n = rc < 0 ? rc : auth_scram_format_line(username, &v, out, cap);
    crypto_wipe(&v, sizeof(v));
    return n;
}
