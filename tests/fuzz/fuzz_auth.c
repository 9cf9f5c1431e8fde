/* fuzz_auth.c - libFuzzer target for the password_file and acl_file parsers.
 *
 * The input becomes a NUL-terminated string and is parsed once as a password
 * file and once as an ACL file (auth_load_strings: no filesystem access).
 * A loaded ACL answers a fixed set of checks (patterns, wildcards, $SYS,
 * SUBSCRIBE coverage); passwords are not verified because a fuzzed iteration
 * count makes PBKDF2 arbitrarily slow. Errors must be terminated
 * "NAME:LINE: ..." lines and nothing may leak through gw_alloc. */
#include "alloc.h"
#include "auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(int rc, const char *err, size_t cap)
{
    if (rc == 0) {
        return;
    }
    if (memchr(err, '\0', cap) == NULL) {
        abort(); /* the message must always be terminated */
    }
    if (rc != -12 /* ENOMEM */ && strstr(err, "fuzz.") != err) {
        abort(); /* syntax errors name the file and line */
    }
}

static void exercise_acl(const struct auth *a)
{
    static const char *const topics[] = {"a", "a/b", "$SYS/x", "dev/c1/t", "u1/x", "/", "a//b"};
    static const char *const filters[] = {"#", "+", "a/#", "a/+/b", "$SYS/#", "dev/c1/#"};
    static const char *const users[] = {NULL, "u1", "alice"};
    for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
            (void)auth_acl_check(a, "c1", users[u], gw_bytes_str(topics[i]), AUTH_READ);
            (void)auth_acl_check(a, "c1", users[u], gw_bytes_str(topics[i]), AUTH_WRITE);
        }
        for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
            (void)auth_acl_check(a, "c1", users[u], gw_bytes_str(filters[i]), AUTH_SUBSCRIBE);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    size_t base = gw_alloc_bytes();
    char err[256];
    struct auth *a = NULL;
    int rc = auth_load_strings(text, "fuzz.pw", NULL, NULL, &a, err, sizeof(err));
    check_error(rc, err, sizeof(err));
    auth_free(a);
    a = NULL;
    rc = auth_load_strings(NULL, NULL, text, "fuzz.acl", &a, err, sizeof(err));
    check_error(rc, err, sizeof(err));
    if (rc == 0) {
        exercise_acl(a);
    }
    auth_free(a);
    if (gw_alloc_bytes() != base) {
        abort(); /* leak through gw_alloc on some path */
    }
    free(text);
    return 0;
}
