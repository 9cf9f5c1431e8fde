/* auth_priv.h - what auth.c (password file, loading) and auth_acl.c (ACL
 * file and checks) share; included only by those two.
 *
 * Both parsers run line by line over one struct auth_parser and report
 * errors as "FILE:LINE: message" through auth_fail: 0, GW_E_CONFIG or
 * -ENOMEM, as auth.h describes. Not thread-safe while loading. */
#ifndef AUTH_PRIV_H
#define AUTH_PRIV_H

#include "auth.h"
#include "crypto.h"

#include <stdbool.h>
#include <stddef.h>

struct auth_pw_user; /* one password file user: auth.c */

/* One ACL line: a filter and what it grants (0 = deny). */
struct auth_acl_entry {
    char *topic; /* NUL-terminated filter; for patterns before substitution */
    size_t topic_n;
    unsigned access; /* AUTH_READ | AUTH_WRITE, 0 in a deny vector */
    bool subst;      /* pattern containing %c or %u */
    bool needs_user; /* pattern containing %u: skipped for anonymous clients */
};

struct auth_acl_vec {
    struct auth_acl_entry *v;
    size_t n;
    size_t cap;
};

/* Entries of one block: denies are checked before grants. */
struct auth_acl_list {
    struct auth_acl_vec deny;
    struct auth_acl_vec grant;
};

struct auth_acl_user {
    char *name;
    struct auth_acl_list list;
};

struct auth {
    bool has_pw;
    bool has_acl;
    struct auth_pw_user *users; /* sorted by name after load */
    size_t n_users;
    size_t cap_users;
    struct crypto_pwhash dummy; /* verified for unknown users: same cost */
    struct auth_acl_list anon;
    struct auth_acl_user *acl_users; /* sorted by name after load */
    size_t n_acl_users;
    size_t cap_acl_users;
    struct auth_acl_list patterns;
};

/* Line-by-line parser state shared by both file kinds. */
struct auth_parser {
    struct auth *a;
    const char *file;
    unsigned line;
    char *err;
    size_t errcap;
    long cur_user; /* ACL: index into a->acl_users, -1 = anonymous block */
};

/* Quoted text in messages is cut to this many bytes. */
#define AUTH_SHOW 64

typedef int auth_line_fn(struct auth_parser *p, const char *s, size_t n);

/* ---- auth.c ------------------------------------------------------------ */

/* Write "FILE:LINE: message" to p's error buffer; returns GW_E_CONFIG. */
__attribute__((format(printf, 2, 3))) int auth_fail(struct auth_parser *p, const char *fmt, ...);

/* auth_fail "out of memory"; returns -ENOMEM. */
int auth_fail_nomem(struct auth_parser *p);

/* Space, tab, CR, VT or FF (not newline: lines are split before). */
bool auth_is_blank(char c);

/* Trim blanks at both ends of s[0..*n); returns the new start. */
const char *auth_trim(const char *s, size_t *n);

/* Call fn on every line of text (borrowed, NUL-terminated) without its
 * newline, counting p->line from 1; stops at the first error and returns it. */
int auth_parse_text(struct auth_parser *p, const char *text, auth_line_fn *fn);

/* ---- auth_acl.c -------------------------------------------------------- */

/* Parse ACL file text (borrowed) into p->a and sort its user blocks.
 * Returns 0, GW_E_CONFIG or -ENOMEM with the message in p. */
int auth_acl_load(struct auth_parser *p, const char *text);

/* Free the entries of l and zero it (l itself is not freed). */
void auth_acl_list_free(struct auth_acl_list *l);

#endif
