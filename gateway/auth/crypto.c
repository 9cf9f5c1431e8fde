/* crypto.c - SHA-256/512, HMAC-SHA-256, PBKDF2, base64, random bytes and
 * constant-time compare on top of mbedTLS 2.28 (see crypto.h). */
#include "crypto.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

int crypto_sha512_2(const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                    uint8_t out[CRYPTO_SHA512_LEN])
{
    mbedtls_sha512_context ctx;
    int rc = 0;
    mbedtls_sha512_init(&ctx);
    /* 0 = SHA-512, not SHA-384. The _ret variants are the 2.28 names;
     * mbedTLS 3 drops the suffix. */
    if (mbedtls_sha512_starts_ret(&ctx, 0) != 0 ||
        (an > 0 && mbedtls_sha512_update_ret(&ctx, a, an) != 0) ||
        (bn > 0 && mbedtls_sha512_update_ret(&ctx, b, bn) != 0) ||
        mbedtls_sha512_finish_ret(&ctx, out) != 0) {
        rc = -EINVAL;
    }
    mbedtls_sha512_free(&ctx);
    return rc;
}

/* PBKDF2-HMAC with the given mbedTLS digest (see crypto_pbkdf2_sha512). */
static int pbkdf2(mbedtls_md_type_t type, const uint8_t *password, size_t password_n,
                  const uint8_t *salt, size_t salt_n, uint32_t iterations, uint8_t *out,
                  size_t out_n)
{
    if (iterations == 0 || out_n == 0 || out_n > CRYPTO_PBKDF2_MAX_OUT) {
        return -EINVAL;
    }
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(type);
    if (!info) {
        return -EINVAL;
    }
    /* mbedtls_pkcs5_pbkdf2_hmac dereferences its pointers even for empty
     * inputs on some versions: give it a valid byte. */
    static const uint8_t empty[1] = {0};
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, info, 1 /* HMAC */);
    if (rc == MBEDTLS_ERR_MD_ALLOC_FAILED) {
        mbedtls_md_free(&md);
        return -ENOMEM;
    }
    if (rc == 0) {
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, password_n ? password : empty, password_n,
                                       salt_n ? salt : empty, salt_n, (unsigned int)iterations,
                                       (uint32_t)out_n, out);
    }
    mbedtls_md_free(&md);
    return rc == 0 ? 0 : -EINVAL;
}

int crypto_pbkdf2_sha512(const uint8_t *password, size_t password_n, const uint8_t *salt,
                         size_t salt_n, uint32_t iterations, uint8_t *out, size_t out_n)
{
    return pbkdf2(MBEDTLS_MD_SHA512, password, password_n, salt, salt_n, iterations, out, out_n);
}

int crypto_pbkdf2_sha256(const uint8_t *password, size_t password_n, const uint8_t *salt,
                         size_t salt_n, uint32_t iterations, uint8_t *out, size_t out_n)
{
    return pbkdf2(MBEDTLS_MD_SHA256, password, password_n, salt, salt_n, iterations, out, out_n);
}

/* SHA-256 over parts[0..n_parts) after an optional 64-byte block pre. */
static int sha256_parts(const uint8_t *pre, const struct gw_bytes *parts, size_t n_parts,
                        uint8_t out[CRYPTO_SHA256_LEN])
{
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    /* 0 = SHA-256, not SHA-224. */
    int rc = mbedtls_sha256_starts_ret(&ctx, 0);
    if (rc == 0 && pre) {
        rc = mbedtls_sha256_update_ret(&ctx, pre, 64);
    }
    for (size_t i = 0; rc == 0 && i < n_parts; i++) {
        if (parts[i].n > 0) {
            rc = mbedtls_sha256_update_ret(&ctx, parts[i].p, parts[i].n);
        }
    }
    if (rc == 0) {
        rc = mbedtls_sha256_finish_ret(&ctx, out);
    }
    mbedtls_sha256_free(&ctx);
    return rc == 0 ? 0 : -EINVAL;
}

int crypto_sha256(const uint8_t *p, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
    struct gw_bytes part = {p, n};
    return sha256_parts(NULL, &part, 1, out);
}

int crypto_hmac_sha256(const uint8_t *key, size_t key_n, const struct gw_bytes *parts,
                       size_t n_parts, uint8_t out[CRYPTO_SHA256_LEN])
{
    /* RFC 2104: H((K ^ opad) || H((K ^ ipad) || text)), K padded to the
     * 64-byte block, hashed first when longer. mbedtls_md_hmac would do the
     * same but callocs its context on every call. */
    uint8_t k[64] = {0};
    uint8_t pad[64];
    uint8_t inner[CRYPTO_SHA256_LEN];
    int rc = 0;
    if (key_n > sizeof(k)) {
        rc = crypto_sha256(key, key_n, k);
    } else if (key_n > 0) {
        memcpy(k, key, key_n);
    }
    for (size_t i = 0; i < sizeof(pad); i++) {
        pad[i] = (uint8_t)(k[i] ^ 0x36);
    }
    if (rc == 0) {
        rc = sha256_parts(pad, parts, n_parts, inner);
    }
    for (size_t i = 0; i < sizeof(pad); i++) {
        pad[i] = (uint8_t)(k[i] ^ 0x5c);
    }
    struct gw_bytes outer = {inner, sizeof(inner)};
    if (rc == 0) {
        rc = sha256_parts(pad, &outer, 1, out);
    }
    crypto_wipe(k, sizeof(k));
    crypto_wipe(pad, sizeof(pad));
    crypto_wipe(inner, sizeof(inner));
    return rc;
}

long crypto_base64_encode(const uint8_t *in, size_t in_n, char *out, size_t cap)
{
    if (in_n > (size_t)LONG_MAX / 2) {
        return -ENOSPC;
    }
    if (in_n == 0) {
        /* mbedtls_base64_encode writes nothing at all for an empty input. */
        if (cap == 0) {
            return -ENOSPC;
        }
        out[0] = '\0';
        return 0;
    }
    size_t olen = 0;
    /* Writes the NUL too; olen excludes it. */
    int rc = mbedtls_base64_encode((unsigned char *)out, cap, &olen, in, in_n);
    if (rc != 0) {
        return -ENOSPC;
    }
    return (long)olen;
}

/* ---- random bytes ------------------------------------------------------- */

/* The global DRBG: loop thread only (crypto.h). seeded is false until
 * mbedtls_ctr_drbg_seed succeeds. */
static mbedtls_entropy_context g_entropy;
static mbedtls_ctr_drbg_context g_drbg;
static bool g_seeded;

static int random_seed(void)
{
    static const unsigned char pers[] = "tern crypto_random";
    mbedtls_entropy_init(&g_entropy);
    mbedtls_ctr_drbg_init(&g_drbg);
    int rc = mbedtls_ctr_drbg_seed(&g_drbg, mbedtls_entropy_func, &g_entropy, pers,
                                   sizeof(pers) - 1);
    if (rc != 0) {
        mbedtls_ctr_drbg_free(&g_drbg);
        mbedtls_entropy_free(&g_entropy);
        return -EIO;
    }
    g_seeded = true;
    return 0;
}

int crypto_random(uint8_t *out, size_t n)
{
    if (!g_seeded && random_seed() < 0) {
        return -EIO;
    }
    while (n > 0) {
        size_t chunk = n < MBEDTLS_CTR_DRBG_MAX_REQUEST ? n : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        if (mbedtls_ctr_drbg_random(&g_drbg, out, chunk) != 0) {
            return -EIO;
        }
        out += chunk;
        n -= chunk;
    }
    return 0;
}

void crypto_random_fini(void)
{
    if (g_seeded) {
        mbedtls_ctr_drbg_free(&g_drbg);
        mbedtls_entropy_free(&g_entropy);
        g_seeded = false;
    }
}

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

long crypto_base64_decode(const char *in, size_t in_n, uint8_t *out, size_t cap)
{
    /* mbedtls_base64_decode skips line breaks and spaces; password file
     * fields never hold them, so reject them up front. */
    if (in_n == 0 || in_n % 4 != 0 || in_n > (size_t)LONG_MAX) {
        return -EINVAL;
    }
    for (size_t i = 0; i < in_n; i++) {
        if (!is_b64_char(in[i])) {
            return -EINVAL;
        }
    }
    size_t olen = 0;
    int rc = mbedtls_base64_decode(out, cap, &olen, (const unsigned char *)in, in_n);
    if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) {
        return -ENOSPC;
    }
    if (rc != 0) {
        return -EINVAL;
    }
    return (long)olen;
}

bool crypto_equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
    /* volatile keeps the compiler from turning this into an early exit. */
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff = (uint8_t)(diff | (a[i] ^ b[i]));
    }
    return diff == 0;
}

void crypto_wipe(void *p, size_t n)
{
    if (p && n) {
        mbedtls_platform_zeroize(p, n);
    }
}

/* Parse a decimal iteration count in s[0..n): 1..max. */
static bool parse_iterations(const char *s, size_t n, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;
    if (n == 0 || n > 10) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        uint64_t next = (uint64_t)v * 10u + (uint64_t)(s[i] - '0');
        if (next > max) {
            return false;
        }
        v = (uint32_t)next;
    }
    *out = v;
    return v >= 1;
}

/* Decode base64 s[0..n) into exactly want bytes at out. */
static bool decode_exact(const char *s, size_t n, uint8_t *out, size_t want)
{
    uint8_t tmp[2 * CRYPTO_SHA512_LEN];
    long got = crypto_base64_decode(s, n, tmp, sizeof(tmp));
    bool ok = got >= 0 && (size_t)got == want;
    if (ok) {
        memcpy(out, tmp, want);
    }
    crypto_wipe(tmp, sizeof(tmp));
    return ok;
}

/* Split s[1..n) at '$' into at most 4 fields; returns how many, or 5 if
 * there are more. */
static size_t split_fields(const char *s, size_t n, const char *f[4], size_t fn[4])
{
    const char *p = s + 1;
    const char *end = s + n;
    for (size_t nf = 0; nf < 4; nf++) {
        const char *d = memchr(p, '$', (size_t)(end - p));
        f[nf] = p;
        fn[nf] = (size_t)((d ? d : end) - p);
        if (!d) {
            return nf + 1;
        }
        p = d + 1;
    }
    return 5;
}

int crypto_pwhash_parse(const char *s, size_t n, uint32_t max_iterations, struct crypto_pwhash *out,
                        enum crypto_pwhash_err *why)
{
    const char *f[4];
    size_t fn[4];
    size_t nf = n > 0 && s[0] == '$' ? split_fields(s, n, f, fn) : 0;
    bool pbkdf2 = nf > 0 && fn[0] == 1 && f[0][0] == '7';
    if (nf == 0 || fn[0] != 1 || (f[0][0] != '6' && !pbkdf2)) {
        *why = CRYPTO_PW_BAD_TYPE;
        return -EINVAL;
    }
    size_t i = pbkdf2 ? 2 : 1; /* index of the salt field */
    out->kind = pbkdf2 ? CRYPTO_PW_SHA512_PBKDF2 : CRYPTO_PW_SHA512;
    out->iterations = 1;
    if (nf != i + 2) {
        *why = CRYPTO_PW_MALFORMED;
    } else if (pbkdf2 && !parse_iterations(f[1], fn[1], max_iterations, &out->iterations)) {
        *why = CRYPTO_PW_BAD_ITERATIONS;
    } else if (!decode_exact(f[i], fn[i], out->salt, CRYPTO_PW_SALT_LEN)) {
        *why = CRYPTO_PW_BAD_SALT;
    } else if (!decode_exact(f[i + 1], fn[i + 1], out->hash, CRYPTO_SHA512_LEN)) {
        *why = CRYPTO_PW_BAD_HASH;
    } else {
        return 0;
    }
    return -EINVAL;
}

bool crypto_pwhash_verify(const struct crypto_pwhash *h, const uint8_t *password, size_t n)
{
    uint8_t hash[CRYPTO_SHA512_LEN];
    int rc;
    if (h->kind == CRYPTO_PW_SHA512_PBKDF2) {
        rc = crypto_pbkdf2_sha512(password, n, h->salt, CRYPTO_PW_SALT_LEN, h->iterations, hash,
                                  sizeof(hash));
    } else {
        rc = crypto_sha512_2(password, n, h->salt, CRYPTO_PW_SALT_LEN, hash);
    }
    bool ok = rc == 0 && crypto_equal_ct(hash, h->hash, sizeof(hash));
    crypto_wipe(hash, sizeof(hash));
    return ok;
}
