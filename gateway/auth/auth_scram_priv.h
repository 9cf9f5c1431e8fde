/* auth_scram_priv.h - what the SCRAM-SHA-256 exchange (auth_scram.c) and
 * the scram_file (auth_scram_file.c) share; included only by those two.
 *
 * A struct auth_scram_creds is immutable once loaded: the exchange reads
 * it from the loop thread while it lives (auth_scram_free ends it). */
#ifndef AUTH_SCRAM_PRIV_H
#define AUTH_SCRAM_PRIV_H

#include "auth_method.h"
#include "crypto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Base64 lengths of a salt and of a StoredKey / ServerKey, no NUL. */
#define SALT_B64_MAX (((AUTH_SCRAM_SALT_MAX + 2u) / 3u) * 4u)
#define KEY_B64_LEN  44u

struct scram_user {
    char *name; /* NUL-terminated, unescaped */
    size_t name_n;
    unsigned line;
    struct auth_scram_verifier v;
};

struct auth_scram_creds {
    struct scram_user *users; /* sorted by name after loading */
    size_t n;
    size_t cap;
    uint8_t secret[CRYPTO_SHA256_LEN]; /* fake salts and keys for unknown users */
    uint32_t fake_iterations;
    size_t fake_salt_n;
};

/* The user named name (NUL-terminated, unescaped; borrowed) in c, or NULL.
 * The result is borrowed from c. Binary search: c is sorted by loading. */
const struct scram_user *auth_scram_find_user(const struct auth_scram_creds *c, const char *name);

/* Printable ASCII: the bytes allowed in user names. */
static inline bool auth_scram_is_printable(char c)
{
    return c >= 0x20 && c <= 0x7e;
}

#endif
