/* auth_acl.c - acl_file: parse `topic`, `pattern` and `user` lines, and
 * auth_acl_check per SUBSCRIBE, PUBLISH and delivered message (see auth.h
 * for the rules).
 *
 * Each block keeps its deny entries apart from its grants so a check scans
 * the denies first; user blocks are sorted by name for bsearch. Patterns are
 * substituted into a stack buffer: nothing is allocated per check. */
#include "alloc.h"
#include "auth_priv.h"
#include "topic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- ACL lexing ---------------------------------------------------------- */

/* Split off the first blank-separated token of s[0..*n): returns its length,
 * and advances *s / *n past it and the blanks after it. */
static size_t next_token(const char **s, size_t *n, const char **tok)
{
    size_t len = 0;
    while (len < *n && !auth_is_blank((*s)[len])) {
        len++;
    }
    *tok = *s;
    *s += len;
    *n -= len;
    *s = auth_trim(*s, n);
    return len;
}

static bool tok_is(const char *tok, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(tok, word, n) == 0;
}

/* ---- ACL file ---------------------------------------------------------- */

static int vec_push(struct auth_parser *p, struct auth_acl_vec *v, const struct auth_acl_entry *e)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        struct auth_acl_entry *nv = gw_realloc(v->v, cap * sizeof(*nv));
        if (!nv) {
            return auth_fail_nomem(p);
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = *e;
    return 0;
}

void auth_acl_list_free(struct auth_acl_list *l)
{
    for (size_t i = 0; i < l->deny.n; i++) {
        gw_free(l->deny.v[i].topic);
    }
    for (size_t i = 0; i < l->grant.n; i++) {
        gw_free(l->grant.v[i].topic);
    }
    gw_free(l->deny.v);
    gw_free(l->grant.v);
    memset(l, 0, sizeof(*l));
}

/* "read" / "write" / "readwrite" / "deny" -> access bits (0 = deny), or -1. */
static int parse_access(const char *tok, size_t n)
{
    if (tok_is(tok, n, "read")) {
        return AUTH_READ;
    }
    if (tok_is(tok, n, "write")) {
        return AUTH_WRITE;
    }
    if (tok_is(tok, n, "readwrite")) {
        return AUTH_READ | AUTH_WRITE;
    }
    if (tok_is(tok, n, "deny")) {
        return 0;
    }
    return -1;
}

static bool has_subst(const char *t, size_t n, char which)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (t[i] == '%' && t[i + 1] == which) {
            return true;
        }
    }
    return false;
}

/* The block `topic` lines go to: the current user's, or the anonymous one. */
static struct auth_acl_list *current_list(struct auth_parser *p)
{
    return p->cur_user < 0 ? &p->a->anon : &p->a->acl_users[p->cur_user].list;
}

/* "topic|pattern [ACCESS] TOPIC": rest is what follows the keyword. */
static int parse_acl_entry(struct auth_parser *p, bool pattern, const char *rest, size_t n)
{
    const char *acc;
    size_t acc_n = next_token(&rest, &n, &acc);
    if (acc_n == 0) {
        return auth_fail(p, "missing topic after '%s'", pattern ? "pattern" : "topic");
    }
    int access = AUTH_READ | AUTH_WRITE; /* no access word: readwrite */
    if (n == 0) {
        rest = acc; /* mosquitto: a single word is the topic */
        n = acc_n;
    } else {
        access = parse_access(acc, acc_n);
        if (access < 0) {
            return auth_fail(p, "invalid access '%.*s' (expected read, write, readwrite or deny)",
                             (int)(acc_n < AUTH_SHOW ? acc_n : AUTH_SHOW), acc);
        }
    }
    struct gw_bytes f = {(const uint8_t *)rest, n};
    if (memchr(rest, '\0', n) || !topic_filter_valid(f)) {
        return auth_fail(p, "invalid topic filter '%.*s'", (int)(n < AUTH_SHOW ? n : AUTH_SHOW),
                         rest);
    }
    if (pattern && n >= AUTH_PATTERN_MAX) {
        return auth_fail(p, "pattern longer than %d bytes", AUTH_PATTERN_MAX - 1);
    }
    struct auth_acl_entry e = {0};
    e.topic = gw_strndup(rest, n);
    if (!e.topic) {
        return auth_fail_nomem(p);
    }
    e.topic_n = n;
    e.access = (unsigned)access;
    e.needs_user = pattern && has_subst(rest, n, 'u');
    e.subst = pattern && (e.needs_user || has_subst(rest, n, 'c'));
    struct auth_acl_list *l = pattern ? &p->a->patterns : current_list(p);
    int rc = vec_push(p, access == 0 ? &l->deny : &l->grant, &e);
    if (rc < 0) {
        gw_free(e.topic);
    }
    return rc;
}

/* "user NAME": NAME is the rest of the line; repeated blocks merge. */
static int parse_acl_user(struct auth_parser *p, const char *name, size_t n)
{
    struct auth *a = p->a;
    if (n == 0 || memchr(name, '\0', n)) {
        return auth_fail(p, "missing username after 'user'");
    }
    for (size_t i = 0; i < a->n_acl_users; i++) {
        if (tok_is(name, n, a->acl_users[i].name)) {
            p->cur_user = (long)i;
            return 0;
        }
    }
    if (a->n_acl_users == a->cap_acl_users) {
        size_t cap = a->cap_acl_users ? a->cap_acl_users * 2 : 4;
        struct auth_acl_user *v = gw_realloc(a->acl_users, cap * sizeof(*v));
        if (!v) {
            return auth_fail_nomem(p);
        }
        a->acl_users = v;
        a->cap_acl_users = cap;
    }
    struct auth_acl_user *u = &a->acl_users[a->n_acl_users];
    memset(u, 0, sizeof(*u));
    u->name = gw_strndup(name, n);
    if (!u->name) {
        return auth_fail_nomem(p);
    }
    p->cur_user = (long)a->n_acl_users++;
    return 0;
}

/* One ACL file line, without its newline. */
static int parse_acl_line(struct auth_parser *p, const char *s, size_t n)
{
    s = auth_trim(s, &n);
    if (n == 0 || s[0] == '#') {
        return 0;
    }
    const char *kw;
    size_t kw_n = next_token(&s, &n, &kw);
    if (tok_is(kw, kw_n, "topic")) {
        return parse_acl_entry(p, false, s, n);
    }
    if (tok_is(kw, kw_n, "pattern")) {
        return parse_acl_entry(p, true, s, n);
    }
    if (tok_is(kw, kw_n, "user")) {
        return parse_acl_user(p, s, n);
    }
    return auth_fail(p, "unknown keyword '%.*s' (expected topic, pattern or user)",
                     (int)(kw_n < AUTH_SHOW ? kw_n : AUTH_SHOW), kw);
}

static int cmp_acl_user(const void *x, const void *y)
{
    return strcmp(((const struct auth_acl_user *)x)->name, ((const struct auth_acl_user *)y)->name);
}

int auth_acl_load(struct auth_parser *p, const char *text)
{
    p->a->has_acl = true;
    p->cur_user = -1;
    int rc = auth_parse_text(p, text, parse_acl_line);
    if (rc == 0 && p->a->n_acl_users > 1) {
        qsort(p->a->acl_users, p->a->n_acl_users, sizeof(*p->a->acl_users), cmp_acl_user);
    }
    return rc;
}

/* ---- ACL check --------------------------------------------------------- */

/* Next level of s[*pos..n): returns its start and sets *len; *pos moves past
 * the '/' (or to n + 1 after the last level). */
static const uint8_t *next_level(struct gw_bytes s, size_t *pos, size_t *len)
{
    const uint8_t *start = s.p + *pos;
    const uint8_t *slash = memchr(start, '/', s.n - *pos);
    *len = slash ? (size_t)(slash - start) : s.n - *pos;
    *pos += *len + 1;
    return start;
}

/* True if every topic the requested filter can match is matched by entry
 * (see auth.h, SUBSCRIBE). Both filters are valid. */
static bool filter_covers(struct gw_bytes entry, struct gw_bytes req)
{
    if (req.n > 0 && req.p[0] == '$' && entry.n > 0 && (entry.p[0] == '+' || entry.p[0] == '#')) {
        return false; /* [MQTT-4.7.2-1] */
    }
    size_t ep = 0;
    size_t rp = 0;
    while (ep <= entry.n) {
        size_t el;
        size_t rl;
        const uint8_t *e = next_level(entry, &ep, &el);
        if (el == 1 && e[0] == '#') {
            return true; /* covers the parent level and everything below */
        }
        if (rp > req.n) {
            return false; /* requested filter ended first */
        }
        const uint8_t *r = next_level(req, &rp, &rl);
        bool r_multi = rl == 1 && r[0] == '#';
        bool e_single = el == 1 && e[0] == '+';
        if (r_multi || (!e_single && (el != rl || memcmp(e, r, el) != 0))) {
            return false;
        }
    }
    return rp > req.n;
}

/* Does entry filter f apply to topic for this access kind? */
static bool entry_matches(struct gw_bytes f, struct gw_bytes topic, enum auth_access access)
{
    if (access == AUTH_SUBSCRIBE) {
        return filter_covers(f, topic);
    }
    return topic_matches(f, topic);
}

static unsigned needed_bit(enum auth_access access)
{
    return access == AUTH_WRITE ? (unsigned)AUTH_WRITE : (unsigned)AUTH_READ;
}

/* True if any entry of v (denies: all of them; grants: those with the
 * needed bit) applies to topic. */
static bool vec_any(const struct auth_acl_vec *v, struct gw_bytes topic, enum auth_access access,
                    bool deny)
{
    for (size_t i = 0; i < v->n; i++) {
        const struct auth_acl_entry *e = &v->v[i];
        if (!deny && !(e->access & needed_bit(access))) {
            continue;
        }
        struct gw_bytes f = {(const uint8_t *)e->topic, e->topic_n};
        if (entry_matches(f, topic, access)) {
            return true;
        }
    }
    return false;
}

/* Substitute %c and %u of e into buf (AUTH_PATTERN_MAX bytes). Returns false
 * if the result does not fit. */
static bool substitute(const struct auth_acl_entry *e, const char *cid, const char *user, char *buf,
                       struct gw_bytes *out)
{
    size_t o = 0;
    for (size_t i = 0; i < e->topic_n; i++) {
        const char *ins = NULL;
        if (e->topic[i] == '%' && i + 1 < e->topic_n) {
            ins = e->topic[i + 1] == 'c' ? cid : e->topic[i + 1] == 'u' ? user : NULL;
        }
        size_t n = ins ? strlen(ins) : 1;
        if (n > AUTH_PATTERN_MAX - o) {
            return false;
        }
        /* a length-counted view, not a C string */
        memcpy(buf + o, ins ? ins : &e->topic[i], n); // NOLINT(bugprone-not-null-terminated-result)
        o += n;
        i += ins ? 1 : 0;
    }
    out->p = (const uint8_t *)buf;
    out->n = o;
    return true;
}

/* Patterns: 1 if one applies, 0 if none, -1 if a substitution overflowed. */
static int patterns_any(const struct auth_acl_vec *v, const char *cid, const char *user,
                        struct gw_bytes topic, enum auth_access access, bool deny)
{
    char buf[AUTH_PATTERN_MAX];
    for (size_t i = 0; i < v->n; i++) {
        const struct auth_acl_entry *e = &v->v[i];
        if ((e->needs_user && !user) || (!deny && !(e->access & needed_bit(access)))) {
            continue;
        }
        struct gw_bytes f = {(const uint8_t *)e->topic, e->topic_n};
        if (e->subst && !substitute(e, cid, user, buf, &f)) {
            return -1;
        }
        if (entry_matches(f, topic, access)) {
            return 1;
        }
    }
    return 0;
}

/* bsearch comparator: key is a username, element a struct auth_acl_user. */
static int cmp_key_acl_user(const void *key, const void *elem)
{
    return strcmp(key, ((const struct auth_acl_user *)elem)->name);
}

static const struct auth_acl_list *find_acl_list(const struct auth *a, const char *username)
{
    if (!username) {
        return &a->anon;
    }
    const struct auth_acl_user *u = NULL;
    if (a->n_acl_users > 0) {
        u = bsearch(username, a->acl_users, a->n_acl_users, sizeof(*a->acl_users),
                    cmp_key_acl_user);
    }
    return u ? &u->list : NULL;
}

static bool topic_ok(struct gw_bytes topic, enum auth_access access)
{
    if (topic.n > 0 && !topic.p) {
        return false;
    }
    return access == AUTH_SUBSCRIBE ? topic_filter_valid(topic) : topic_name_valid(topic);
}

bool auth_acl_check(const struct auth *a, const char *client_id, const char *username,
                    struct gw_bytes topic, enum auth_access access)
{
    bool allowed = false;
    if (!a || !a->has_acl) {
        allowed = true; /* no acl_file: mosquitto allows everything */
        return allowed;
    }
    if ((access != AUTH_READ && access != AUTH_WRITE && access != AUTH_SUBSCRIBE) ||
        !topic_ok(topic, access)) {
        return allowed;
    }
    const struct auth_acl_list *own = find_acl_list(a, username);
    bool patterns = a->patterns.deny.n + a->patterns.grant.n > 0;
    if (patterns &&
        (!client_id || strpbrk(client_id, "+#") || (username && strpbrk(username, "+#")))) {
        return allowed; /* substitution would turn the id into wildcards */
    }
    if ((own && vec_any(&own->deny, topic, access, true)) ||
        (patterns && patterns_any(&a->patterns.deny, client_id, username, topic, access, true))) {
        return allowed; /* any deny wins; an overflowing deny pattern denies too */
    }
    if ((own && vec_any(&own->grant, topic, access, false)) ||
        (patterns &&
         patterns_any(&a->patterns.grant, client_id, username, topic, access, false) > 0)) {
        allowed = true;
    }
    return allowed;
}
