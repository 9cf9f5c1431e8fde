/* auth.c - password_file and acl_file: parse once, check per CONNECT, per
 * PUBLISH and per delivered message (see auth.h for the rules).
 *
 * Layout: passwords and ACL user blocks sit in arrays sorted by username
 * (bsearch per check); each entry list keeps deny entries apart from grants
 * so a check scans the denies first. Nothing is allocated per check.
 *
 * This file: the password file, loading and freeing, the password check,
 * and the line helpers both parsers use. The ACL file and auth_acl_check
 * are in auth_acl.c; auth_priv.h holds what the two share. */
#include "auth.h"

#include "alloc.h"
#include "auth_priv.h"
#include "crypto.h"
#include "file_text.h"
#include "gw_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES (64u * 1024u * 1024u)
#define MAX_NAME_BYTES 65535u /* an MQTT string [MQTT-1.5.3] */

/* One password file user. Owned by struct auth. */
struct auth_pw_user {
    char *name;
    size_t name_n;
    unsigned line; /* for duplicate messages */
    struct crypto_pwhash h;
};

/* ---- messages ---------------------------------------------------------- */

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
__attribute__((format(printf, 2, 3))) int auth_fail(struct auth_parser *p, const char *fmt, ...)
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

int auth_fail_nomem(struct auth_parser *p)
{
    (void)auth_fail(p, "out of memory");
    return -ENOMEM;
}

/* ---- small string helpers ---------------------------------------------- */

bool auth_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim blanks at both ends of s[0..*n); returns the new start. */
const char *auth_trim(const char *s, size_t *n)
{
    while (*n > 0 && auth_is_blank(*s)) {
        s++;
        (*n)--;
    }
    while (*n > 0 && auth_is_blank(s[*n - 1])) {
        (*n)--;
    }
    return s;
}

/* ---- password file ----------------------------------------------------- */

/* Parse "$6$..." / "$7$..." (h[0..n)) into u->h, or report why not. */
static int parse_hash(struct auth_parser *p, const char *h, size_t n, struct auth_pw_user *u)
{
    enum crypto_pwhash_err why = CRYPTO_PW_MALFORMED;
    if (crypto_pwhash_parse(h, n, AUTH_PBKDF2_MAX_ITERATIONS, &u->h, &why) == 0) {
        return 0;
    }
    switch (why) {
    case CRYPTO_PW_BAD_TYPE:
        return auth_fail(p, "unknown password hash type for user '%.*s' (expected $6$ or $7$)",
                         AUTH_SHOW, u->name);
    case CRYPTO_PW_BAD_ITERATIONS:
        return auth_fail(p, "bad iteration count for user '%.*s' (expected 1..%u)", AUTH_SHOW,
                         u->name, AUTH_PBKDF2_MAX_ITERATIONS);
    case CRYPTO_PW_BAD_SALT:
        return auth_fail(p, "bad salt for user '%.*s' (expected %d bytes of base64)", AUTH_SHOW,
                         u->name, CRYPTO_PW_SALT_LEN);
    case CRYPTO_PW_BAD_HASH:
        return auth_fail(p, "bad hash for user '%.*s' (expected %d bytes of base64)", AUTH_SHOW,
                         u->name, CRYPTO_SHA512_LEN);
    case CRYPTO_PW_MALFORMED:
    default:
        return auth_fail(p, "malformed password hash for user '%.*s'", AUTH_SHOW, u->name);
    }
}

static int add_pw_user(struct auth_parser *p, const char *name, size_t name_n, const char *h,
                       size_t hn)
{
    struct auth *a = p->a;
    if (a->n_users == a->cap_users) {
        size_t cap = a->cap_users ? a->cap_users * 2 : 8;
        struct auth_pw_user *v = gw_realloc(a->users, cap * sizeof(*v));
        if (!v) {
            return auth_fail_nomem(p);
        }
        a->users = v;
        a->cap_users = cap;
    }
    struct auth_pw_user *u = &a->users[a->n_users];
    memset(u, 0, sizeof(*u));
    u->name = gw_strndup(name, name_n);
    if (!u->name) {
        return auth_fail_nomem(p);
    }
    u->name_n = name_n;
    u->line = p->line;
    int rc = parse_hash(p, h, hn, u);
    if (rc < 0) {
        gw_free(u->name);
        crypto_wipe(u, sizeof(*u));
        return rc;
    }
    a->n_users++;
    return 0;
}

/* One password file line, without its newline. */
static int parse_pw_line(struct auth_parser *p, const char *s, size_t n)
{
    s = auth_trim(s, &n);
    if (n == 0 || s[0] == '#') {
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    if (!colon) {
        return auth_fail(p, "expected 'username:hash' (create entries with mosquitto_passwd)");
    }
    size_t name_n = (size_t)(colon - s);
    const char *name = auth_trim(s, &name_n);
    size_t hn = n - (size_t)(colon - s) - 1;
    const char *h = auth_trim(colon + 1, &hn);
    if (name_n == 0 || name_n > MAX_NAME_BYTES || memchr(name, '\0', name_n)) {
        return auth_fail(p, "empty or too long username");
    }
    if (memchr(h, ':', hn)) {
        return auth_fail(p, "unexpected ':' after the password hash of user '%.*s'",
                         (int)(name_n < AUTH_SHOW ? name_n : AUTH_SHOW), name);
    }
    if (hn == 0) {
        return auth_fail(p, "missing password hash for user '%.*s'",
                         (int)(name_n < AUTH_SHOW ? name_n : AUTH_SHOW), name);
    }
    if (h[0] != '$') {
        return auth_fail(p,
                         "plain-text password for user '%.*s': hash the file with "
                         "'mosquitto_passwd -U %s'",
                         (int)(name_n < AUTH_SHOW ? name_n : AUTH_SHOW), name, p->file);
    }
    return add_pw_user(p, name, name_n, h, hn);
}

static int cmp_pw_user(const void *x, const void *y)
{
    const struct auth_pw_user *a = x;
    const struct auth_pw_user *b = y;
    size_t n = a->name_n < b->name_n ? a->name_n : b->name_n;
    int c = memcmp(a->name, b->name, n);
    if (c != 0) {
        return c;
    }
    return a->name_n < b->name_n ? -1 : a->name_n > b->name_n ? 1 : 0;
}

/* Sort users, reject duplicates, set up the dummy entry. */
static int finish_passwords(struct auth_parser *p)
{
    struct auth *a = p->a;
    if (a->n_users > 1) {
        qsort(a->users, a->n_users, sizeof(*a->users), cmp_pw_user);
    }
    for (size_t i = 1; i < a->n_users; i++) {
        if (cmp_pw_user(&a->users[i - 1], &a->users[i]) == 0) {
            const struct auth_pw_user *x = &a->users[i - 1];
            const struct auth_pw_user *y = &a->users[i];
            p->line = x->line > y->line ? x->line : y->line;
            return auth_fail(p, "user '%.*s' is already defined at line %u", AUTH_SHOW, x->name,
                             x->line < y->line ? x->line : y->line);
        }
    }
    /* Unknown users pay the cost of the first real entry (or mosquitto's
     * default) so response time does not reveal which names exist. */
    if (a->n_users) {
        a->dummy = a->users[0].h;
    } else {
        a->dummy.kind = CRYPTO_PW_SHA512_PBKDF2;
        a->dummy.iterations = CRYPTO_PW_DEFAULT_ITERATIONS;
    }
    memset(a->dummy.hash, 0, sizeof(a->dummy.hash));
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

int auth_parse_text(struct auth_parser *p, const char *text, auth_line_fn *fn)
{
    const char *s = text;
    p->line = 0;
    while (s && *s) {
        p->line++;
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        int rc = fn(p, s, n);
        if (rc < 0) {
            return rc;
        }
        s = nl ? nl + 1 : NULL;
    }
    return 0;
}

static int load_passwords(struct auth_parser *p, const char *text)
{
    p->a->has_pw = true;
    int rc = auth_parse_text(p, text, parse_pw_line);
    return rc < 0 ? rc : finish_passwords(p);
}

static struct auth *auth_new(char *err, size_t errcap)
{
    struct auth *a = gw_calloc(1, sizeof(*a));
    if (!a) {
        put_err(err, errcap, "out of memory");
    }
    return a;
}

int auth_load_strings(const char *password_text, const char *password_name, const char *acl_text,
                      const char *acl_name, struct auth **out, char *err, size_t errcap)
{
    put_err(err, errcap, "%s", "");
    struct auth *a = auth_new(err, errcap);
    if (!a) {
        return -ENOMEM;
    }
    struct auth_parser p = {a, password_name ? password_name : "<string>", 0, err, errcap, -1};
    int rc = password_text ? load_passwords(&p, password_text) : 0;
    if (rc == 0 && acl_text) {
        p.file = acl_name ? acl_name : "<string>";
        rc = auth_acl_load(&p, acl_text);
    }
    if (rc < 0) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* Read path into *text; on failure write "PATH: reason". */
static int read_or_report(const char *path, char **text, char *err, size_t errcap)
{
    if (!path) {
        *text = NULL;
        return 0;
    }
    size_t len = 0;
    int rc = file_text_read(path, MAX_FILE_BYTES, text, &len);
    if (rc < 0) {
        put_err(err, errcap, "%s: %s", path, gw_strerror(rc));
    }
    return rc;
}

int auth_load(const char *password_file, const char *acl_file, struct auth **out, char *err,
              size_t errcap)
{
    char *pw_text = NULL;
    char *acl_text = NULL;
    int rc = read_or_report(password_file, &pw_text, err, errcap);
    if (rc == 0) {
        rc = read_or_report(acl_file, &acl_text, err, errcap);
    }
    if (rc == 0) {
        rc = auth_load_strings(pw_text, password_file, acl_text, acl_file, out, err, errcap);
    }
    if (pw_text) {
        crypto_wipe(pw_text, strlen(pw_text));
    }
    gw_free(pw_text);
    gw_free(acl_text);
    return rc;
}

void auth_free(struct auth *a)
{
    if (!a) {
        return;
    }
    for (size_t i = 0; i < a->n_users; i++) {
        gw_free(a->users[i].name);
    }
    if (a->users) {
        crypto_wipe(a->users, a->cap_users * sizeof(*a->users));
    }
    gw_free(a->users);
    auth_acl_list_free(&a->anon);
    for (size_t i = 0; i < a->n_acl_users; i++) {
        gw_free(a->acl_users[i].name);
        auth_acl_list_free(&a->acl_users[i].list);
    }
    gw_free(a->acl_users);
    auth_acl_list_free(&a->patterns);
    gw_free(a);
}

bool auth_has_passwords(const struct auth *a)
{
    return a && a->has_pw;
}

bool auth_has_acl(const struct auth *a)
{
    return a && a->has_acl;
}

/* ---- password check ---------------------------------------------------- */

/* bsearch comparator: key is a struct gw_bytes, element a struct auth_pw_user. */
static int cmp_key_pw_user(const void *key, const void *elem)
{
    const struct gw_bytes *k = key;
    const struct auth_pw_user *u = elem;
    size_t n = k->n < u->name_n ? k->n : u->name_n;
    int c = n ? memcmp(k->p, u->name, n) : 0;
    if (c != 0) {
        return c;
    }
    return k->n < u->name_n ? -1 : k->n > u->name_n ? 1 : 0;
}

static const struct auth_pw_user *find_pw_user(const struct auth *a, struct gw_bytes name)
{
    if (a->n_users == 0 || (name.n > 0 && !name.p)) {
        return NULL;
    }
    return bsearch(&name, a->users, a->n_users, sizeof(*a->users), cmp_key_pw_user);
}

struct auth_pw_job {
    struct crypto_pwhash h;
    bool known; /* the user exists: only then may the check succeed */
    size_t n;
    uint8_t password[]; /* n bytes */
};

struct auth_pw_job *auth_pw_job_prepare(const struct auth *a, struct gw_bytes username,
                                        struct gw_bytes password)
{
    if (!a || !a->has_pw || (password.n > 0 && !password.p)) {
        return NULL;
    }
    struct auth_pw_job *j = gw_alloc(sizeof(*j) + password.n);
    if (!j) {
        return NULL;
    }
    const struct auth_pw_user *u = find_pw_user(a, username);
    j->h = u ? u->h : a->dummy;
    j->known = u != NULL;
    j->n = password.n;
    if (password.n) {
        memcpy(j->password, password.p, password.n);
    }
    return j;
}

bool auth_pw_job_run(struct auth_pw_job *j)
{
    /* The work is done for unknown users too (no enumeration by timing). */
    bool match = crypto_pwhash_verify(&j->h, j->password, j->n);
    return match && j->known;
}

void auth_pw_job_free(struct auth_pw_job *j)
{
    if (j) {
        crypto_wipe(j, sizeof(*j) + j->n);
        gw_free(j);
    }
}

bool auth_check_password(const struct auth *a, struct gw_bytes username, struct gw_bytes password)
{
    bool allowed = false;
    if (!a || !a->has_pw || (password.n > 0 && !password.p)) {
        return allowed;
    }
    const struct auth_pw_user *u = find_pw_user(a, username);
    const struct crypto_pwhash *check = u ? &u->h : &a->dummy;
    if (crypto_pwhash_verify(check, password.p, password.n) && u != NULL) {
        allowed = true;
    }
    return allowed;
}
