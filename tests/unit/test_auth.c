/* test_auth.c - password_file and acl_file parsing and decisions.
 *
 * Passwords are checked against tests/data/passwd.fixture, written by the
 * real mosquitto_passwd 2.0.11 (plaintexts in the fixture's comment header):
 * alice/secret ($7$), bob/hunter2 ($6$), carol/"p:ss w0rd!" ($7$). */
#include "alloc.h"
#include "auth.h"
#include "auth_backoff.h"
#include "auth_worker.h"
#include "crypto.h"
#include "gw_err.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include <cmocka.h>

static char err[512];

/* tests/data/NAME, found next to this source file (CMake compiles it by
 * absolute path). */
static const char *data_path(const char *name)
{
    static char path[4096];
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');
    int n = slash ? (int)(slash - src) : 1;
    (void)snprintf(path, sizeof(path), "%.*s/../data/%s", n, slash ? src : ".", name);
    return path;
}

static struct gw_bytes b(const char *s)
{
    return gw_bytes_str(s);
}

static struct auth *acl_ok(const char *text)
{
    struct auth *a = NULL;
    int rc = auth_load_strings(NULL, NULL, text, "t.acl", &a, err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error %d: %s\n", rc, err);
    }
    assert_int_equal(rc, 0);
    assert_non_null(a);
    assert_true(auth_has_acl(a));
    assert_false(auth_has_passwords(a));
    return a;
}

static struct auth *pw_ok(const char *text)
{
    struct auth *a = NULL;
    int rc = auth_load_strings(text, "t.pw", NULL, NULL, &a, err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error %d: %s\n", rc, err);
    }
    assert_int_equal(rc, 0);
    assert_true(auth_has_passwords(a));
    return a;
}

static bool rd(const struct auth *a, const char *cid, const char *user, const char *topic)
{
    return auth_acl_check(a, cid, user, b(topic), AUTH_READ);
}

static bool wr(const struct auth *a, const char *cid, const char *user, const char *topic)
{
    return auth_acl_check(a, cid, user, b(topic), AUTH_WRITE);
}

static bool sb(const struct auth *a, const char *cid, const char *user, const char *filter)
{
    return auth_acl_check(a, cid, user, b(filter), AUTH_SUBSCRIBE);
}

static int teardown(void **state)
{
    (void)state;
    gw_alloc_fail_at(-1, 0);
    assert_int_equal(gw_alloc_bytes(), 0);
    return 0;
}

/* ---- crypto ------------------------------------------------------------ */

static void test_crypto_known_vectors_match(void **state)
{
    (void)state;
    uint8_t out[64];
    /* SHA-512("abc"), FIPS 180-2 appendix C.1 */
    assert_int_equal(crypto_sha512_2((const uint8_t *)"a", 1, (const uint8_t *)"bc", 2, out), 0);
    static const uint8_t abc[8] = {0xdd, 0xaf, 0x35, 0xa1, 0x93, 0x61, 0x7a, 0xba};
    assert_memory_equal(out, abc, sizeof(abc));
    /* PBKDF2-HMAC-SHA512("password", "salt", 1), RFC 7914-style vector */
    static const uint8_t pb[8] = {0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf};
    assert_int_equal(crypto_pbkdf2_sha512((const uint8_t *)"password", 8, (const uint8_t *)"salt",
                                          4, 1, out, 64),
                     0);
    assert_memory_equal(out, pb, sizeof(pb));
    assert_int_equal(crypto_pbkdf2_sha512(NULL, 0, NULL, 0, 0, out, 64), -EINVAL);
}

static void test_crypto_base64_strict(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(crypto_base64_decode("aGk=", 4, out, sizeof(out)), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(crypto_base64_decode("aGk", 3, out, sizeof(out)), -EINVAL);
    assert_int_equal(crypto_base64_decode("aG k", 4, out, sizeof(out)), -EINVAL);
    assert_int_equal(crypto_base64_decode("a*k=", 4, out, sizeof(out)), -EINVAL);
    assert_int_equal(crypto_base64_decode("", 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(crypto_base64_decode("aGVsbG8gd29ybGQ=", 16, out, 4), -ENOSPC);
    assert_true(crypto_equal_ct((const uint8_t *)"abc", (const uint8_t *)"abc", 3));
    assert_false(crypto_equal_ct((const uint8_t *)"abc", (const uint8_t *)"abd", 3));
}

/* ---- passwords --------------------------------------------------------- */

static void test_auth_fixture_passwords_verify(void **state)
{
    (void)state;
    struct auth *a = NULL;
    int rc = auth_load(data_path("passwd.fixture"), NULL, &a, err, sizeof(err));
    if (rc != 0) {
        print_error("%s\n", err);
    }
    assert_int_equal(rc, 0);
    assert_true(auth_has_passwords(a));
    assert_false(auth_has_acl(a));
    /* right passwords: $7$ and $6$ */
    assert_true(auth_check_password(a, b("alice"), b("secret")));
    assert_true(auth_check_password(a, b("bob"), b("hunter2")));
    assert_true(auth_check_password(a, b("carol"), b("p:ss w0rd!")));
    /* wrong ones */
    assert_false(auth_check_password(a, b("alice"), b("Secret")));
    assert_false(auth_check_password(a, b("alice"), b("secret ")));
    assert_false(auth_check_password(a, b("alice"), b("")));
    assert_false(auth_check_password(a, b("bob"), b("hunter")));
    assert_false(auth_check_password(a, b("alice"), b("hunter2"))); /* bob's */
    assert_false(auth_check_password(a, b("carol"), b("p")));       /* before ':' */
    /* unknown users, including prefixes and case */
    assert_false(auth_check_password(a, b("mallory"), b("secret")));
    assert_false(auth_check_password(a, b("alic"), b("secret")));
    assert_false(auth_check_password(a, b("Alice"), b("secret")));
    assert_false(auth_check_password(a, b(""), b("")));
    struct gw_bytes none = {NULL, 0};
    assert_false(auth_check_password(a, none, none));
    /* the ACL is off: everything allowed */
    assert_true(wr(a, "c", "alice", "any/topic"));
    assert_true(sb(a, "c", NULL, "#"));
    auth_free(a);
}

/* ---- password checks off the loop ---- */

struct answers {
    int n;
    bool ok[8];
    int who[8];
};

static struct answers answers;
static int who_ids[8];

static void on_answer(void *arg, bool ok)
{
    answers.who[answers.n] = *(int *)arg;
    answers.ok[answers.n++] = ok;
}

static void wait_answers(struct auth_worker *w, int n)
{
    for (int i = 0; i < 500 && answers.n < n; i++) {
        struct pollfd p = {.fd = auth_worker_fd(w), .events = POLLIN};
        (void)poll(&p, 1, 20);
        auth_worker_collect(w);
    }
}

/* The worker gives auth_check_password's answers, in order, with the
 * jobs copied (the struct auth is freed before they run); max_pending
 * refuses more; a cancelled request is never answered. */
static void test_auth_worker_answers_like_the_loop(void **state)
{
    (void)state;
    struct auth *a = NULL;
    assert_int_equal(auth_load(data_path("passwd.fixture"), NULL, &a, err, sizeof(err)), 0);
    struct auth_worker *w = NULL;
    assert_int_equal(auth_worker_create(4, &w), 0);
    memset(&answers, 0, sizeof(answers));
    const char *users[] = {"alice", "alice", "mallory", "bob"};
    const char *pws[] = {"secret", "wrong", "secret", "hunter2"};
    struct auth_worker_req *reqs[4];
    for (int i = 0; i < 4; i++) {
        who_ids[i] = i;
        int e = 1;
        reqs[i] = auth_worker_submit(w, auth_pw_job_prepare(a, b(users[i]), b(pws[i])), on_answer,
                                     &who_ids[i], &e);
        assert_non_null(reqs[i]);
        assert_int_equal(e, 0);
    }
    auth_free(a); /* the jobs hold copies */
    int e = 0;
    assert_null(auth_worker_submit(w, NULL, on_answer, &who_ids[4], &e));
    assert_int_equal(e, -EBUSY);
    assert_int_equal(auth_worker_pending(w), 4);
    auth_worker_cancel(w, reqs[2]);
    wait_answers(w, 3);
    for (int i = 0; i < 20 && auth_worker_pending(w) > 0; i++) {
        wait_answers(w, 4); /* the cancelled one comes back unannounced */
    }
    assert_int_equal(answers.n, 3);
    assert_int_equal(answers.who[0], 0);
    assert_true(answers.ok[0]);
    assert_int_equal(answers.who[1], 1);
    assert_false(answers.ok[1]);
    assert_int_equal(answers.who[2], 3);
    assert_true(answers.ok[2]);
    assert_int_equal(auth_worker_pending(w), 0);
    /* Destroyed with work queued: nothing leaks, nothing is called. */
    a = NULL;
    assert_int_equal(auth_load(data_path("passwd.fixture"), NULL, &a, err, sizeof(err)), 0);
    assert_non_null(auth_worker_submit(w, auth_pw_job_prepare(a, b("alice"), b("x")), on_answer,
                                       &who_ids[5], &e));
    auth_worker_destroy(w);
    auth_free(a);
    assert_int_equal(answers.n, 3);
}

static void test_auth_backoff_doubles_caps_and_clears(void **state)
{
    (void)state;
    static struct auth_backoff t;
    auth_backoff_init(&t, 10000);
    uint8_t x[16] = {127, 0, 0, 1};
    uint8_t y[16] = {10, 0, 0, 9};
    uint64_t retry = 0;
    uint64_t now = 1000;
    for (unsigned i = 0; i < AUTH_BACKOFF_FREE; i++) {
        assert_int_equal(auth_backoff_failed(&t, x, now), 0); /* free tries */
        assert_false(auth_backoff_blocked(&t, x, now, &retry));
    }
    assert_int_equal(auth_backoff_failed(&t, x, now), 1000);
    assert_true(auth_backoff_blocked(&t, x, now + 999, &retry));
    assert_int_equal(retry, now + 1000);
    assert_false(auth_backoff_blocked(&t, x, now + 1000, &retry));
    assert_false(auth_backoff_blocked(&t, y, now, &retry)); /* per address */
    assert_int_equal(auth_backoff_failed(&t, x, now), 2000);
    assert_int_equal(auth_backoff_failed(&t, x, now), 4000);
    assert_int_equal(auth_backoff_failed(&t, x, now), 8000);
    assert_int_equal(auth_backoff_failed(&t, x, now), 10000); /* capped */
    for (int i = 0; i < 40; i++) {
        assert_int_equal(auth_backoff_failed(&t, x, now), 10000);
    }
    auth_backoff_succeeded(&t, x);
    assert_false(auth_backoff_blocked(&t, x, now, &retry));
    assert_int_equal(auth_backoff_failed(&t, x, now), 0);
    /* A full table: the address seen least recently makes room; the
     * table never grows. */
    for (unsigned i = 0; i < AUTH_BACKOFF_SLOTS + 10; i++) {
        uint8_t z[16] = {10, 1, (uint8_t)(i >> 8), (uint8_t)i};
        (void)auth_backoff_failed(&t, z, now + 10 + i);
    }
    uint8_t last[16] = {10, 1, (uint8_t)((AUTH_BACKOFF_SLOTS + 9) >> 8),
                        (uint8_t)(AUTH_BACKOFF_SLOTS + 9)};
    for (unsigned i = 0; i < AUTH_BACKOFF_FREE; i++) {
        (void)auth_backoff_failed(&t, last, now + 5000);
    }
    assert_true(auth_backoff_blocked(&t, last, now + 5000, &retry));
    /* Off: never blocks. */
    auth_backoff_init(&t, 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(auth_backoff_failed(&t, x, now), 0);
    }
    assert_false(auth_backoff_blocked(&t, x, now, &retry));
}

static void test_auth_empty_password_and_blanks_verify(void **state)
{
    (void)state;
    /* mosquitto_passwd -b F dave '' ; with blanks and CRLF around it */
    struct auth *a = pw_ok("  dave : $7$101$XV15tVkCb9YaYCOL$r7mafCzKwVCWjo2HnPVjA+4EXTEdS1cl4+n7w"
                           "teLqu8PSI/Bl6iBLe8giCPgsZLxjMtKkQpcd4Ox0r4Hp6SrIQ== \r\n");
    assert_true(auth_check_password(a, b("dave"), b("")));
    assert_false(auth_check_password(a, b("dave"), b(" ")));
    auth_free(a);
    a = pw_ok("# only comments\n\n   \n");
    assert_false(auth_check_password(a, b("dave"), b("")));
    auth_free(a);
}

static void test_auth_no_files_allow_all_and_no_password(void **state)
{
    (void)state;
    struct auth *a = NULL;
    assert_int_equal(auth_load(NULL, NULL, &a, err, sizeof(err)), 0);
    assert_false(auth_has_passwords(a));
    assert_false(auth_has_acl(a));
    assert_false(auth_check_password(a, b("alice"), b("secret")));
    assert_true(rd(a, "c", NULL, "a"));
    auth_free(a);
    assert_true(auth_acl_check(NULL, "c", NULL, b("x"), AUTH_WRITE));
    assert_false(auth_check_password(NULL, b("a"), b("b")));
}

struct bad_case {
    const char *text;
    const char *want; /* substring of the message, including "t.pw:LINE:" */
};

#define HASH7                                                                                      \
    "$7$101$XV15tVkCb9YaYCOL$r7mafCzKwVCWjo2HnPVjA+4EXTEdS1cl4+n7wteLqu8PSI/Bl6iBLe8giC"           \
    "PgsZLxjMtKkQpcd4Ox0r4Hp6SrIQ=="
#define HASH6                                                                                      \
    "$6$ZWNCYNXiklkWRTYQ$YDf2nZ2399G9Ep8Ee6CMN4HGhmB+Us80V8BBjXrnksdXh/DQ0KuMT2JUgaw4yl"           \
    "bSzlvPvZgZXmwOKRicE3HrPw=="

static void test_auth_malformed_password_lines_report_line(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
            {"erin:plain\n", "t.pw:1: plain-text password for user 'erin'"},
            {"# c\n\nerin:plain\n", "t.pw:3: plain-text password for user 'erin': hash the file "
                                    "with 'mosquitto_passwd -U t.pw'"},
            {"a:" HASH7 "\nnocolon\n", "t.pw:2: expected 'username:hash'"},
            {":" HASH7 "\n", "t.pw:1: empty or too long username"},
            {"x:\n", "t.pw:1: missing password hash for user 'x'"},
            {"x:" HASH7 ":extra\n", "t.pw:1: unexpected ':'"},
            {"x:$5$abc$def\n", "t.pw:1: unknown password hash type for user 'x'"},
            {"x:$\n", "t.pw:1: unknown password hash type"},
            {"x:$7$101$XV15tVkCb9YaYCOL\n", "t.pw:1: malformed password hash for user 'x'"},
            {"x:" HASH7 "$more\n", "t.pw:1: malformed password hash"},
            {"x:" HASH6 "$\n", "t.pw:1: malformed password hash"},
            {"x:$7$0$XV15tVkCb9YaYCOL$AAAA\n", "t.pw:1: bad iteration count for user 'x'"},
            {"x:$7$-1$XV15tVkCb9YaYCOL$AAAA\n", "t.pw:1: bad iteration count"},
            {"x:$7$99999999999$XV15tVkCb9YaYCOL$AAAA\n", "t.pw:1: bad iteration count"},
            {"x:$7$101$XV15tVkCb9YaYC$AAAA\n", "t.pw:1: bad salt for user 'x'"},
            {"x:$7$101$XV15tV!Cb9YaYCOL$AAAA\n", "t.pw:1: bad salt"},
            {"x:$7$101$XV15tVkCb9YaYCOL$AAAA\n", "t.pw:1: bad hash for user 'x'"},
            {"x:$6$XV15tVkCb9YaYCOL$\n", "t.pw:1: bad hash"},
            {"x:" HASH7 "\ny:" HASH6 "\nx:" HASH6 "\n",
             "t.pw:3: user 'x' is already defined at line 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth *a = NULL;
        err[0] = '\0';
        int rc = auth_load_strings(cases[i].text, "t.pw", NULL, NULL, &a, err, sizeof(err));
        if (rc != GW_E_CONFIG || !strstr(err, cases[i].want)) {
            print_error("case %zu: rc=%d err='%s' want '%s'\n", i, rc, err, cases[i].want);
        }
        assert_int_equal(rc, GW_E_CONFIG);
        assert_non_null(strstr(err, cases[i].want));
        assert_null(a);
    }
}

static void test_auth_missing_file_reports_errno(void **state)
{
    (void)state;
    struct auth *a = NULL;
    assert_int_equal(auth_load("/nonexistent/pw", NULL, &a, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/pw: "));
    assert_int_equal(auth_load(NULL, "/nonexistent/acl", &a, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/acl: "));
    assert_int_equal(auth_load("/", NULL, &a, err, sizeof(err)), -EISDIR);
    assert_null(a);
    /* a tiny errcap stays terminated */
    char small[8];
    assert_int_equal(auth_load_strings("x:y\n", "t.pw", NULL, NULL, &a, small, sizeof(small)),
                     GW_E_CONFIG);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(auth_load_strings("x:y\n", "t.pw", NULL, NULL, &a, NULL, 0), GW_E_CONFIG);
}

/* ---- ACL --------------------------------------------------------------- */

static void test_auth_acl_anonymous_block(void **state)
{
    (void)state;
    struct auth *a = acl_ok("# anonymous clients\n"
                            "topic read pub/#\n"
                            "topic write in/+\n"
                            "topic both\n" /* no access word: readwrite */
                            "user alice\n"
                            "topic readwrite alice/#\n");
    assert_true(rd(a, "c", NULL, "pub/x"));
    assert_true(rd(a, "c", NULL, "pub"));
    assert_false(wr(a, "c", NULL, "pub/x"));
    assert_true(wr(a, "c", NULL, "in/x"));
    assert_false(wr(a, "c", NULL, "in/x/y"));
    assert_false(rd(a, "c", NULL, "in/x"));
    assert_true(rd(a, "c", NULL, "both"));
    assert_true(wr(a, "c", NULL, "both"));
    assert_false(rd(a, "c", NULL, "other"));
    assert_false(wr(a, "c", NULL, "alice/x")); /* alice's block is not anonymous */
    /* a named user gets only its own block: no fallback to the anonymous one */
    assert_false(rd(a, "c", "alice", "pub/x"));
    assert_true(rd(a, "c", "alice", "alice/x"));
    assert_false(rd(a, "c", "bob", "pub/x"));
    assert_false(rd(a, "c", "bob", "alice/x"));
    auth_free(a);
}

static void test_auth_acl_user_blocks_merge_and_lookup(void **state)
{
    (void)state;
    struct auth *a = acl_ok("user zed\n"
                            "topic read z/#\n"
                            "user alice\n"
                            "topic write a/1\n"
                            "user  bob smith \n" /* the rest of the line, trimmed */
                            "topic read b/#\n"
                            "user alice\n"
                            "topic read a/2\n");
    assert_true(wr(a, "c", "alice", "a/1"));
    assert_true(rd(a, "c", "alice", "a/2"));
    assert_false(rd(a, "c", "alice", "a/1"));
    assert_true(rd(a, "c", "zed", "z/q"));
    assert_true(rd(a, "c", "bob smith", "b/q"));
    assert_false(rd(a, "c", "bob", "b/q"));
    assert_false(rd(a, "c", "alic", "a/2"));
    assert_false(rd(a, "c", "", "a/2"));
    assert_false(rd(a, "c", NULL, "z/q"));
    auth_free(a);
}

static void test_auth_acl_patterns_substitute(void **state)
{
    (void)state;
    struct auth *a = acl_ok("pattern readwrite dev/%c/#\n"
                            "pattern read users/%u/in\n"
                            "pattern write lit/%x/%\n");
    assert_true(wr(a, "th-04", NULL, "dev/th-04/temp"));
    assert_true(rd(a, "th-04", "alice", "dev/th-04"));
    assert_false(wr(a, "th-04", NULL, "dev/th-05/temp"));
    assert_true(rd(a, "c", "alice", "users/alice/in"));
    assert_false(wr(a, "c", "alice", "users/alice/in"));
    assert_false(rd(a, "c", "bob", "users/alice/in"));
    assert_false(rd(a, "c", NULL, "users/%u/in")); /* %u patterns skip anonymous */
    assert_true(wr(a, "c", NULL, "lit/%x/%"));     /* other % sequences are literal */
    /* ids with wildcards are denied when patterns exist */
    assert_false(wr(a, "+", NULL, "dev/x/temp"));
    assert_false(wr(a, "#", NULL, "dev/#/temp"));
    assert_false(rd(a, "c", "a+", "users/a+/in"));
    assert_false(rd(a, NULL, "alice", "users/alice/in"));
    /* a client id containing '/' spans levels, as in mosquitto */
    assert_true(wr(a, "x/y", NULL, "dev/x/y/z"));
    auth_free(a);
}

static void test_auth_acl_pattern_overflow_denies(void **state)
{
    (void)state;
    struct auth *a = acl_ok("pattern readwrite %c/%c/%c/%c\n");
    char id[200];
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    char topic[1024];
    (void)snprintf(topic, sizeof(topic), "%s/%s", id, id);
    struct auth *a2 = acl_ok("pattern readwrite %c/%c\n");
    assert_true(wr(a2, id, NULL, topic)); /* 399 bytes fit */
    (void)snprintf(topic, sizeof(topic), "%s/%s/%s/%s", id, id, id, id);
    assert_false(wr(a, id, NULL, topic)); /* 799 bytes do not */
    auth_free(a2);
    auth_free(a);
    a = acl_ok("topic readwrite #\npattern deny %c/%c/%c/%c\n");
    assert_true(wr(a, "short", NULL, "x"));
    assert_false(wr(a, id, NULL, "x")); /* an overflowing deny pattern denies */
    auth_free(a);
}

static void test_auth_acl_deny_takes_precedence(void **state)
{
    (void)state;
    struct auth *a = acl_ok("topic readwrite a/#\n"
                            "topic deny a/secret/#\n"
                            "user alice\n"
                            "topic readwrite #\n"
                            "topic deny private\n"
                            "pattern deny dev/%c/admin\n");
    assert_true(rd(a, "c", NULL, "a/x"));
    assert_false(rd(a, "c", NULL, "a/secret"));
    assert_false(wr(a, "c", NULL, "a/secret/k"));
    assert_true(wr(a, "c", "alice", "anything"));
    assert_false(wr(a, "c", "alice", "private"));
    assert_false(rd(a, "c", "alice", "private"));
    /* deny precedes allow regardless of line order */
    assert_false(wr(a, "c", "alice", "dev/c/admin"));
    assert_true(wr(a, "c", "alice", "dev/d/admin"));
    auth_free(a);
}

static void test_auth_acl_wildcards_and_dollar(void **state)
{
    (void)state;
    struct auth *a = acl_ok("topic read +/status\n"
                            "topic read $SYS/broker/#\n"
                            "topic write #\n");
    assert_true(rd(a, "c", NULL, "x/status"));
    assert_false(rd(a, "c", NULL, "x/y/status"));
    assert_true(rd(a, "c", NULL, "$SYS/broker/uptime"));
    assert_false(rd(a, "c", NULL, "$SYS/other"));
    assert_true(wr(a, "c", NULL, "any/thing"));
    assert_false(wr(a, "c", NULL, "$SYS/x")); /* '#' does not match '$' topics */
    /* invalid names and filters are denied */
    assert_false(wr(a, "c", NULL, "a/#"));
    assert_false(wr(a, "c", NULL, ""));
    assert_false(sb(a, "c", NULL, "a/#/b"));
    assert_false(auth_acl_check(a, "c", NULL, b("x/status"), (enum auth_access)3));
    auth_free(a);
}

static void test_auth_acl_subscribe_coverage(void **state)
{
    (void)state;
    struct auth *a = acl_ok("topic read sensors/#\n"
                            "topic read rooms/+/temp\n"
                            "topic write cmd/#\n"
                            "topic readwrite exact/t\n"
                            "topic deny sensors/secret/#\n"
                            "topic read +/pub\n");
    /* identical and narrower filters are covered */
    assert_true(sb(a, "c", NULL, "sensors/#"));
    assert_true(sb(a, "c", NULL, "sensors/+/x"));
    assert_true(sb(a, "c", NULL, "sensors"));
    assert_true(sb(a, "c", NULL, "sensors/a/#"));
    assert_true(sb(a, "c", NULL, "rooms/+/temp"));
    assert_true(sb(a, "c", NULL, "rooms/kitchen/temp"));
    assert_true(sb(a, "c", NULL, "exact/t"));
    assert_true(sb(a, "c", NULL, "x/pub"));
    /* wider filters are not */
    assert_false(sb(a, "c", NULL, "#"));
    assert_false(sb(a, "c", NULL, "rooms/#"));
    assert_false(sb(a, "c", NULL, "rooms/+/#"));
    assert_false(sb(a, "c", NULL, "rooms/+"));
    assert_false(sb(a, "c", NULL, "exact/+"));
    assert_false(sb(a, "c", NULL, "+/t"));
    assert_false(sb(a, "c", NULL, "$SYS/pub")); /* '+' does not cover '$' levels */
    /* write-only entries do not allow subscribing */
    assert_false(sb(a, "c", NULL, "cmd/x"));
    /* a deny that covers the filter refuses it; one that overlaps leaves it to READ */
    assert_false(sb(a, "c", NULL, "sensors/secret/#"));
    assert_false(sb(a, "c", NULL, "sensors/secret/x"));
    assert_true(sb(a, "c", NULL, "sensors/+"));
    assert_false(rd(a, "c", NULL, "sensors/secret/x"));
    auth_free(a);
}

static void test_auth_acl_empty_file_denies_all(void **state)
{
    (void)state;
    struct auth *a = acl_ok("# nothing granted\n");
    assert_false(rd(a, "c", NULL, "a"));
    assert_false(wr(a, "c", "alice", "a"));
    assert_false(sb(a, "c", NULL, "a"));
    auth_free(a);
}

static void test_auth_malformed_acl_lines_report_line(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
            {"topic read a\nbogus x\n", "t.acl:2: unknown keyword 'bogus'"},
            {"topic\n", "t.acl:1: missing topic after 'topic'"},
            {"\n\npattern   \n", "t.acl:3: missing topic after 'pattern'"},
            {"topic reed a/b\n", "t.acl:1: invalid access 'reed'"},
            {"topic read a/#/b\n", "t.acl:1: invalid topic filter 'a/#/b'"},
            {"topic read a+\n", "t.acl:1: invalid topic filter 'a+'"},
            {"user\n", "t.acl:1: missing username after 'user'"},
            {"user   \t\n", "t.acl:1: missing username"},
            {"  # indented comment is fine\nTopic read a\n", "t.acl:2: unknown keyword 'Topic'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth *a = NULL;
        err[0] = '\0';
        int rc = auth_load_strings(NULL, NULL, cases[i].text, "t.acl", &a, err, sizeof(err));
        if (rc != GW_E_CONFIG || !strstr(err, cases[i].want)) {
            print_error("case %zu: rc=%d err='%s' want '%s'\n", i, rc, err, cases[i].want);
        }
        assert_int_equal(rc, GW_E_CONFIG);
        assert_non_null(strstr(err, cases[i].want));
        assert_null(a);
    }
    char big[700];
    memset(big, 'p', sizeof(big));
    memcpy(big, "pattern read ", 13);
    big[sizeof(big) - 1] = '\0';
    struct auth *a = NULL;
    assert_int_equal(auth_load_strings(NULL, NULL, big, "t.acl", &a, err, sizeof(err)),
                     GW_E_CONFIG);
    assert_non_null(strstr(err, "t.acl:1: pattern longer than 511 bytes"));
}

static void test_auth_files_load_together(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_auth_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char acl[64];
    (void)snprintf(acl, sizeof(acl), "%s/acl", dir);
    FILE *f = fopen(acl, "w");
    assert_non_null(f);
    (void)fputs("user alice\ntopic readwrite alice/#\n", f);
    assert_int_equal(fclose(f), 0);
    struct auth *a = NULL;
    assert_int_equal(auth_load(data_path("passwd.fixture"), acl, &a, err, sizeof(err)), 0);
    assert_true(auth_has_passwords(a));
    assert_true(auth_has_acl(a));
    assert_true(auth_check_password(a, b("alice"), b("secret")));
    assert_true(wr(a, "c", "alice", "alice/x"));
    assert_false(wr(a, "c", "bob", "alice/x"));
    auth_free(a);
    assert_int_equal(unlink(acl), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Fail the n-th allocation for n = 0, 1, ... until loading succeeds: every
 * failure is a clean -ENOMEM and nothing leaks (STYLE.md section 11). */
static void test_auth_alloc_failure_each_step(void **state)
{
    (void)state;
    static const char pw[] = "alice:" HASH7 "\nbob:" HASH6 "\ncarol:" HASH7 "\n";
    static const char acl[] = "topic read pub/#\ntopic deny pub/x\n"
                              "user alice\ntopic write a/#\ntopic read a/#\ntopic deny a/b\n"
                              "user bob\ntopic b\nuser carol\ntopic c\nuser dave\ntopic d\n"
                              "user erin\ntopic e\n"
                              "pattern read %c/#\npattern deny %u/x\npattern write p/1\n"
                              "pattern write p/2\npattern write p/3\npattern write p/4\n"
                              "pattern write p/5\n";
    size_t base = gw_alloc_bytes();
    int rc = -ENOMEM;
    long n = 0;
    for (; rc != 0 && n < 1000; n++) {
        struct auth *a = NULL;
        gw_alloc_fail_at(n, 0);
        rc = auth_load_strings(pw, "t.pw", acl, "t.acl", &a, err, sizeof(err));
        gw_alloc_fail_at(-1, 0);
        if (rc == 0) {
            assert_true(auth_check_password(a, b("dave"), b("")) == false);
            assert_true(rd(a, "c", "alice", "a/q"));
            assert_false(rd(a, "c", "alice", "a/b"));
            auth_free(a);
        } else {
            assert_int_equal(rc, -ENOMEM);
            assert_null(a);
            assert_non_null(strstr(err, "out of memory"));
        }
        assert_int_equal(gw_alloc_bytes(), base);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_teardown(test_crypto_known_vectors_match, teardown),
            cmocka_unit_test_teardown(test_crypto_base64_strict, teardown),
            cmocka_unit_test_teardown(test_auth_fixture_passwords_verify, teardown),
            cmocka_unit_test_teardown(test_auth_worker_answers_like_the_loop, teardown),
            cmocka_unit_test_teardown(test_auth_backoff_doubles_caps_and_clears, teardown),
            cmocka_unit_test_teardown(test_auth_empty_password_and_blanks_verify, teardown),
            cmocka_unit_test_teardown(test_auth_no_files_allow_all_and_no_password, teardown),
            cmocka_unit_test_teardown(test_auth_malformed_password_lines_report_line, teardown),
            cmocka_unit_test_teardown(test_auth_missing_file_reports_errno, teardown),
            cmocka_unit_test_teardown(test_auth_acl_anonymous_block, teardown),
            cmocka_unit_test_teardown(test_auth_acl_user_blocks_merge_and_lookup, teardown),
            cmocka_unit_test_teardown(test_auth_acl_patterns_substitute, teardown),
            cmocka_unit_test_teardown(test_auth_acl_pattern_overflow_denies, teardown),
            cmocka_unit_test_teardown(test_auth_acl_deny_takes_precedence, teardown),
            cmocka_unit_test_teardown(test_auth_acl_wildcards_and_dollar, teardown),
            cmocka_unit_test_teardown(test_auth_acl_subscribe_coverage, teardown),
            cmocka_unit_test_teardown(test_auth_acl_empty_file_denies_all, teardown),
            cmocka_unit_test_teardown(test_auth_malformed_acl_lines_report_line, teardown),
            cmocka_unit_test_teardown(test_auth_files_load_together, teardown),
            cmocka_unit_test_teardown(test_auth_alloc_failure_each_step, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
