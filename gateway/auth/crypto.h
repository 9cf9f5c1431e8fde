/* crypto.h - the hashes Tern needs for password files and SCRAM (L1 core).
 *
 * The only place besides conn_tls.c that includes mbedTLS headers, so the
 * mbedTLS 2.28 -> 3.x API migration (sha*_*_ret renamed, pkcs5 moved to
 * mbedtls_pkcs5_pbkdf2_hmac_ext) is confined to crypto.c.
 *
 * Pure functions over caller buffers: no gw_alloc, no logging, no globals
 * (mbedTLS allocates its PBKDF2 HMAC context internally with calloc and
 * frees it before returning). Thread-safe. The one exception is
 * crypto_random (a global DRBG: loop thread only, see there). */
#ifndef GW_CRYPTO_H
#define GW_CRYPTO_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA512_LEN     64
#define CRYPTO_SHA256_LEN     32
#define CRYPTO_PBKDF2_MAX_OUT 1024

/* SHA-512 over a[0..an) followed by b[0..bn) (either may be empty; a or b
 * may be NULL when its length is 0), written to out (64 bytes).
 * Returns 0, or -EINVAL when mbedTLS reports a failure. */
int crypto_sha512_2(const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                    uint8_t out[CRYPTO_SHA512_LEN]);

/* PBKDF2-HMAC-SHA512 (RFC 8018 section 5.2) of the password with salt and
 * iterations (>= 1), writing out_n bytes (1..CRYPTO_PBKDF2_MAX_OUT) to out.
 * Returns 0, -EINVAL (bad arguments) or -ENOMEM (mbedTLS could not allocate
 * its HMAC context). out is written only on success. */
int crypto_pbkdf2_sha512(const uint8_t *password, size_t password_n, const uint8_t *salt,
                         size_t salt_n, uint32_t iterations, uint8_t *out, size_t out_n);

/* Decode standard base64 (RFC 4648 section 4, '=' padding required as
 * mosquitto_passwd writes it) from in[0..in_n) into out (cap bytes).
 * Characters outside the alphabet, whitespace included, are rejected.
 * Returns the decoded length (>= 0), -EINVAL (not base64) or -ENOSPC (out
 * too small). */
long crypto_base64_decode(const char *in, size_t in_n, uint8_t *out, size_t cap);

/* SHA-256 of p[0..n) (p may be NULL when n is 0) into out (32 bytes).
 * Returns 0, or -EINVAL when mbedTLS reports a failure. */
int crypto_sha256(const uint8_t *p, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);

/* HMAC-SHA-256 (RFC 2104) with key[0..key_n) over the concatenation of
 * parts[0..n_parts) (each a borrowed view; empty views may have p NULL),
 * into out (32 bytes). Built directly on the SHA-256 context, so nothing is
 * allocated and out-of-memory cannot happen. Returns 0, or -EINVAL when
 * mbedTLS reports a failure. */
int crypto_hmac_sha256(const uint8_t *key, size_t key_n, const struct gw_bytes *parts,
                       size_t n_parts, uint8_t out[CRYPTO_SHA256_LEN]);

/* PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2); same contract as
 * crypto_pbkdf2_sha512. This is SCRAM-SHA-256's Hi() (RFC 5802 section 2.2,
 * RFC 7677). */
int crypto_pbkdf2_sha256(const uint8_t *password, size_t password_n, const uint8_t *salt,
                         size_t salt_n, uint32_t iterations, uint8_t *out, size_t out_n);

/* Encode in[0..in_n) as standard base64 with '=' padding (RFC 4648 section
 * 4) into out (cap bytes), NUL-terminated. Returns the length without the
 * NUL (4 * ceil(in_n / 3)), or -ENOSPC when out cannot hold it and the NUL
 * (out is then unspecified). */
long crypto_base64_encode(const uint8_t *in, size_t in_n, char *out, size_t cap);

/* Fill out[0..n) with bytes from a CTR_DRBG (AES-256, NIST SP 800-90A)
 * seeded from mbedtls_entropy (getrandom / /dev/urandom) on first use.
 * The DRBG is a process global created lazily: call only from the loop
 * thread (or before it starts); it reseeds itself per mbedTLS's interval.
 * Returns 0, or -EIO when the entropy source or the DRBG fails (out is then
 * unspecified: do not use it). */
int crypto_random(uint8_t *out, size_t n);

/* Free the global DRBG (a later crypto_random seeds a new one). For clean
 * shutdown and leak checkers; same thread rule as crypto_random. */
void crypto_random_fini(void);

/* True if a[0..n) equals b[0..n). The time taken depends only on n, never on
 * the contents (compare secrets with this, never with memcmp). */
bool crypto_equal_ct(const uint8_t *a, const uint8_t *b, size_t n);

/* Overwrite p[0..n) with zeros in a way the compiler may not remove. */
void crypto_wipe(void *p, size_t n);

/* ---- mosquitto_passwd hashes ---------------------------------------------
 * "$7$ITERATIONS$SALT_B64$HASH_B64" (PBKDF2-HMAC-SHA512) and
 * "$6$SALT_B64$HASH_B64" (SHA-512 over password then salt), with the 12-byte
 * salt and 64-byte hash that mosquitto 2.0 requires. */

#define CRYPTO_PW_SALT_LEN           12
#define CRYPTO_PW_DEFAULT_ITERATIONS 101u /* mosquitto_passwd's default */

enum crypto_pw_kind {
    CRYPTO_PW_SHA512 = 6,       /* $6$ */
    CRYPTO_PW_SHA512_PBKDF2 = 7 /* $7$ */
};

/* A decoded password hash (caller memory; wipe with crypto_wipe). */
struct crypto_pwhash {
    enum crypto_pw_kind kind;
    uint32_t iterations; /* 1 for $6$ */
    uint8_t salt[CRYPTO_PW_SALT_LEN];
    uint8_t hash[CRYPTO_SHA512_LEN];
};

/* Why crypto_pwhash_parse refused a string. */
enum crypto_pwhash_err {
    CRYPTO_PW_BAD_TYPE = 1,   /* not $6$ or $7$ */
    CRYPTO_PW_MALFORMED,      /* wrong number of '$' fields */
    CRYPTO_PW_BAD_ITERATIONS, /* not a decimal 1..max_iterations */
    CRYPTO_PW_BAD_SALT,       /* not base64 of 12 bytes */
    CRYPTO_PW_BAD_HASH        /* not base64 of 64 bytes */
};

/* Parse s[0..n) (starting with '$') into *out. Returns 0, or -EINVAL with
 * the reason in *why. *out may be partly written on failure. */
int crypto_pwhash_parse(const char *s, size_t n, uint32_t max_iterations, struct crypto_pwhash *out,
                        enum crypto_pwhash_err *why);

/* True if password[0..n) hashes to h->hash (constant-time compare). False
 * also when mbedTLS fails (out of memory). Takes h->iterations HMACs. */
bool crypto_pwhash_verify(const struct crypto_pwhash *h, const uint8_t *password, size_t n);

#endif
