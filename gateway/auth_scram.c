/* auth_scram.c - SCRAM-SHA-256 (RFC 5802, RFC 7677) server side as an MQTT 5
 * enhanced-authentication method, and the scram_file loader (see
 * auth_method.h for the rules and the file format).
 *
 * The server never sees the password: it holds StoredKey = H(ClientKey)
 * and ServerKey per user, checks ClientProof against StoredKey and proves
 * itself with ServerSignature (RFC 5802 section 3). So a step costs a few
 * HMACs, never PBKDF2; the client pays the iterations.
 *
 * Never logs (the caller logs with connection context, from
 * auth_step.reason); one gw_alloc per exchange, in start(). */
#include "alloc.h"
#include "auth_method.h"
#include "crypto.h"
#include "gw_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES  (16u * 1024u * 1024u)
#define SNONCE_RAND_LEN 18u /* random bytes; 24 characters of base64 */
#define SNONCE_MAX      64u
#define SALT_B64_MAX    (((AUTH_SCRAM_SALT_MAX + 2u) / 3u) * 4u)
#define KEY_B64_LEN     44u
#define SHOW            64 /* quoted names in messages are cut to this */
#define PREFIX          "SCRAM-SHA-256$"

/* ---- credentials ---------------------------------------------------------- */

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

/* ---- session -------------------------------------------------------------- */

enum scram_state {
    SCRAM_ST_START,      /* nothing received */
    SCRAM_ST_WAIT_FIRST, /* sent an empty challenge: client-first next */
    SCRAM_ST_WAIT_FINAL, /* sent server-first: client-final next */
    SCRAM_ST_DONE,       /* authenticated */
    SCRAM_ST_FAILED,     /* refused or broken: every step fails */
    SCRAM_ST_COUNT
};

static const bool scram_transition_ok[SCRAM_ST_COUNT][SCRAM_ST_COUNT] = {
        [SCRAM_ST_START] = {[SCRAM_ST_WAIT_FIRST] = true,
                            [SCRAM_ST_WAIT_FINAL] = true,
                            [SCRAM_ST_FAILED] = true},
        [SCRAM_ST_WAIT_FIRST] = {[SCRAM_ST_WAIT_FINAL] = true, [SCRAM_ST_FAILED] = true},
        [SCRAM_ST_WAIT_FINAL] = {[SCRAM_ST_DONE] = true, [SCRAM_ST_FAILED] = true},
        [SCRAM_ST_DONE] = {[SCRAM_ST_FAILED] = true},
};

struct scram_session {
    struct auth_method_session base; /* first: the caller holds &base */
    enum scram_state state;
    const struct auth_scram_creds *creds;
    bool known;                   /* the user is in the file */
    struct auth_scram_verifier v; /* the user's, or a fake one */
    char gs2[3];                  /* "n,," or "y,,": what c= must decode to */
    char user[AUTH_SCRAM_NAME_MAX + 1];
    char snonce[SNONCE_MAX + 1]; /* server nonce, set by step 1 or the test hook */
    size_t snonce_n;
    char cfb[AUTH_SCRAM_MSG_MAX]; /* client-first-message-bare */
    size_t cfb_n;
    char sf[AUTH_METHOD_OUT_MAX]; /* server-first-message */
    size_t sf_n;
    size_t nonce_n; /* combined nonce: sf[2 .. 2 + nonce_n) */
};

/* A failed step: the "e=" value for the client and the reason for the log. */
struct scram_err {
    const char *e;
    const char *reason;
};

static void scram_set_state(struct scram_session *s, enum scram_state to)
{
    if (s->state >= SCRAM_ST_COUNT || to >= SCRAM_ST_COUNT || !scram_transition_ok[s->state][to]) {
        /* A broken invariant: stays on in release (STYLE section 3). */
        (void)fprintf(stderr, "%s:%d: scram state %d -> %d\n", __FILE__, __LINE__, (int)s->state,
                      (int)to);
        abort();
    }
    s->state = to;
}

/* Bounded output writer over the caller's buffer. */
struct out_w {
    uint8_t *p;
    size_t cap;
    size_t n;
    bool full;
};

static void put(struct out_w *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->n) {
        w->full = true;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void puts_w(struct out_w *w, const char *s)
{
    put(w, s, strlen(s));
}

static bool is_printable(char c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* ---- messages ------------------------------------------------------------- */

/* Split the next attribute off *m[0..*n) at ',' (or the end); the rest
 * starts after the comma. Returns false when nothing is left. */
static bool next_attr(const char **m, size_t *n, const char **a, size_t *an)
{
    if (*n == 0) {
        return false;
    }
    const char *comma = memchr(*m, ',', *n);
    *a = *m;
    *an = comma ? (size_t)(comma - *m) : *n;
    *m = comma ? comma + 1 : *m + *n;
    *n = comma ? *n - *an - 1 : 0;
    return true;
}

static bool has_key(const char *a, size_t an, char key)
{
    return an >= 2 && a[0] == key && a[1] == '=';
}

/* saslname (RFC 5802 section 7) p[0..n) into out (NUL-terminated):
 * "=2C" -> ',', "=3D" -> '=', printable ASCII only. */
static bool unescape_name(const char *p, size_t n, char out[AUTH_SCRAM_NAME_MAX + 1])
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '=') {
            bool comma = n - i >= 3 && p[i + 1] == '2' && p[i + 2] == 'C';
            bool equals = n - i >= 3 && p[i + 1] == '3' && p[i + 2] == 'D';
            if (!comma && !equals) {
                return false;
            }
            c = comma ? ',' : '=';
            i += 2;
        }
        if (!is_printable(c) || o == AUTH_SCRAM_NAME_MAX) {
            return false;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o > 0;
}

/* Nonce characters: printable ASCII except ',' [RFC 5802 section 7]. */
static bool valid_nonce(const char *p, size_t n, size_t max)
{
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',') {
            return false;
        }
    }
    return true;
}

/* Parse client-first-message m[0..n) into s (gs2 header, user, bare
 * message; the client nonce goes to the start of s->sf). */
static bool parse_client_first(struct scram_session *s, const char *m, size_t n,
                               struct scram_err *err)
{
    struct scram_err other = {"other-error", "malformed client-first-message"};
    *err = other;
    if (n >= 2 && m[0] == 'p' && m[1] == '=') {
        err->e = "channel-binding-not-supported";
        err->reason = "client requires channel binding";
        return false;
    }
    if (n < 3 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',') {
        return false;
    }
    if (m[2] != ',') {
        err->reason = "authzid not supported";
        return false;
    }
    memcpy(s->gs2, m, sizeof(s->gs2));
    const char *bare = m + 3;
    size_t bare_n = n - 3;
    const char *a = NULL;
    size_t an = 0;
    const char *rest = bare;
    size_t rest_n = bare_n;
    if (!next_attr(&rest, &rest_n, &a, &an) || has_key(a, an, 'm')) {
        err->e = an >= 2 && a[0] == 'm' ? "extensions-not-supported" : other.e;
        return false;
    }
    if (!has_key(a, an, 'n') || !unescape_name(a + 2, an - 2, s->user)) {
        err->e = has_key(a, an, 'n') ? "invalid-username-encoding" : other.e;
        err->reason = has_key(a, an, 'n') ? "bad username encoding" : other.reason;
        return false;
    }
    if (!next_attr(&rest, &rest_n, &a, &an) || !has_key(a, an, 'r') ||
        !valid_nonce(a + 2, an - 2, AUTH_SCRAM_NONCE_MAX)) {
        err->reason = "missing or bad client nonce";
        return false;
    }
    /* Extensions after the nonce are ignored [RFC 5802 section 5.1]. */
    memcpy(s->cfb, bare, bare_n);
    s->cfb_n = bare_n;
    s->sf_n = 0;
    memcpy(s->sf, "r=", 2);
    memcpy(s->sf + 2, a + 2, an - 2);
    s->nonce_n = an - 2;
    return true;
}

/* Bytes of the fake salt and keys for name: HMAC(secret, label || name). */
static int derive(const struct auth_scram_creds *c, const char *label, const char *name,
                  uint8_t out[CRYPTO_SHA256_LEN])
{
    struct gw_bytes parts[2] = {{(const uint8_t *)label, strlen(label) + 1}, gw_bytes_str(name)};
    return crypto_hmac_sha256(c->secret, sizeof(c->secret), parts, 2, out);
}

static int cmp_name(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0) {
        return c;
    }
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static const struct scram_user *find_user(const struct auth_scram_creds *c, const char *name)
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

/* Pick s->v: the user's verifier, or a fake one for an unknown user. The
 * fake is always derived so both paths do the same work (RFC 5802
 * section 7, "mock" exchange). */
static int select_verifier(struct scram_session *s)
{
    const struct auth_scram_creds *c = s->creds;
    struct auth_scram_verifier fake = {.iterations = c->fake_iterations, .salt_n = c->fake_salt_n};
    int rc = derive(c, "salt-1", s->user, fake.salt);
    if (rc == 0) {
        rc = derive(c, "salt-2", s->user, fake.salt + CRYPTO_SHA256_LEN);
    }
    if (rc == 0) {
        rc = derive(c, "stored-key", s->user, fake.stored_key);
    }
    if (rc == 0) {
        rc = derive(c, "server-key", s->user, fake.server_key);
    }
    const struct scram_user *u = find_user(c, s->user);
    s->known = u != NULL;
    s->v = u ? u->v : fake;
    crypto_wipe(&fake, sizeof(fake));
    return rc;
}

/* Append "r=CNONCE SNONCE,s=SALT,i=ITER" after the "r=CNONCE" that
 * parse_client_first left in s->sf. */
static int build_server_first(struct scram_session *s)
{
    if (s->snonce_n == 0) {
        uint8_t rnd[SNONCE_RAND_LEN];
        int rc = crypto_random(rnd, sizeof(rnd));
        long n = rc < 0 ? rc : crypto_base64_encode(rnd, sizeof(rnd), s->snonce, sizeof(s->snonce));
        crypto_wipe(rnd, sizeof(rnd));
        if (n < 0) {
            return rc < 0 ? rc : -EINVAL;
        }
        s->snonce_n = (size_t)n;
    }
    char salt[SALT_B64_MAX + 1];
    char iter[16];
    if (crypto_base64_encode(s->v.salt, s->v.salt_n, salt, sizeof(salt)) < 0) {
        return -EINVAL;
    }
    (void)snprintf(iter, sizeof(iter), "%u", (unsigned)s->v.iterations);
    struct out_w w = {(uint8_t *)s->sf, sizeof(s->sf), 2 + s->nonce_n, false};
    put(&w, s->snonce, s->snonce_n);
    puts_w(&w, ",s=");
    puts_w(&w, salt);
    puts_w(&w, ",i=");
    puts_w(&w, iter);
    if (w.full) {
        return -ENOSPC; /* cannot happen: the limits in auth_method.h fit */
    }
    s->nonce_n += s->snonce_n;
    s->sf_n = w.n;
    return 0;
}

/* Parse client-final-message m[0..n): checks c= and r=, decodes the proof,
 * and sets *wp_n to the length of client-final-message-without-proof. */
static bool parse_client_final(const struct scram_session *s, const char *m, size_t n,
                               uint8_t proof[CRYPTO_SHA256_LEN], size_t *wp_n,
                               struct scram_err *err)
{
    err->e = "other-error";
    err->reason = "malformed client-final-message";
    const char *last = NULL;
    for (size_t i = n; i > 0 && !last; i--) {
        last = m[i - 1] == ',' ? m + i - 1 : NULL;
    }
    /* proof is the last attribute [RFC 5802 section 7]. */
    size_t pn = last ? n - (size_t)(last - m) - 1 : 0;
    uint8_t tmp[2 * CRYPTO_SHA256_LEN];
    long got = last && has_key(last + 1, pn, 'p')
                       ? crypto_base64_decode(last + 3, pn - 2, tmp, sizeof(tmp))
                       : -EINVAL;
    if (got != (long)CRYPTO_SHA256_LEN) {
        return false;
    }
    memcpy(proof, tmp, CRYPTO_SHA256_LEN);
    *wp_n = (size_t)(last - m);
    const char *rest = m;
    size_t rest_n = *wp_n;
    const char *a = NULL;
    size_t an = 0;
    uint8_t cb[16];
    if (!next_attr(&rest, &rest_n, &a, &an) || !has_key(a, an, 'c')) {
        return false;
    }
    got = crypto_base64_decode(a + 2, an - 2, cb, sizeof(cb));
    if (got != (long)sizeof(s->gs2) || memcmp(cb, s->gs2, sizeof(s->gs2)) != 0) {
        err->e = "channel-bindings-dont-match";
        err->reason = "channel binding differs from the gs2 header";
        return false;
    }
    if (!next_attr(&rest, &rest_n, &a, &an) || !has_key(a, an, 'r')) {
        return false;
    }
    if (an - 2 != s->nonce_n || memcmp(a + 2, s->sf + 2, s->nonce_n) != 0) {
        err->reason = "nonce mismatch";
        return false;
    }
    return true; /* extensions before the proof are ignored */
}

/* RFC 5802 section 3: ClientKey = ClientProof XOR HMAC(StoredKey,
 * AuthMessage); accept when H(ClientKey) == StoredKey. Also computes
 * ServerSignature = HMAC(ServerKey, AuthMessage). */
static int check_proof(const struct scram_session *s, const char *wp, size_t wp_n,
                       const uint8_t proof[CRYPTO_SHA256_LEN], bool *match,
                       uint8_t server_sig[CRYPTO_SHA256_LEN])
{
    /* AuthMessage = client-first-message-bare + "," + server-first-message
     *               + "," + client-final-message-without-proof */
    const struct gw_bytes am[5] = {{(const uint8_t *)s->cfb, s->cfb_n},
                                   {(const uint8_t *)",", 1},
                                   {(const uint8_t *)s->sf, s->sf_n},
                                   {(const uint8_t *)",", 1},
                                   {(const uint8_t *)wp, wp_n}};
    uint8_t sig[CRYPTO_SHA256_LEN];
    uint8_t key[CRYPTO_SHA256_LEN];
    int rc = crypto_hmac_sha256(s->v.stored_key, AUTH_SCRAM_KEY_LEN, am, 5, sig);
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(proof[i] ^ sig[i]);
    }
    if (rc == 0) {
        rc = crypto_sha256(key, sizeof(key), sig);
    }
    *match = rc == 0 && crypto_equal_ct(sig, s->v.stored_key, AUTH_SCRAM_KEY_LEN);
    if (rc == 0) {
        rc = crypto_hmac_sha256(s->v.server_key, AUTH_SCRAM_KEY_LEN, am, 5, server_sig);
    }
    crypto_wipe(sig, sizeof(sig));
    crypto_wipe(key, sizeof(key));
    return rc;
}

/* ---- the method ----------------------------------------------------------- */

static int step_fail(struct scram_session *s, struct auth_step *st, struct scram_err err)
{
    if (s->state != SCRAM_ST_FAILED) {
        scram_set_state(s, SCRAM_ST_FAILED);
    }
    struct out_w w = {st->out, st->out_cap, 0, false};
    puts_w(&w, "e=");
    puts_w(&w, err.e);
    st->out_len = w.full ? 0 : w.n;
    st->result = AUTH_STEP_FAIL;
    st->reason = err.reason;
    return 0;
}

/* A negative error: the exchange is over. */
static int step_error(struct scram_session *s, int rc)
{
    if (s->state != SCRAM_ST_FAILED) {
        scram_set_state(s, SCRAM_ST_FAILED);
    }
    return rc;
}

static int on_client_first(struct scram_session *s, const char *m, size_t n, struct auth_step *st)
{
    struct scram_err err;
    if (n == 0 && s->state == SCRAM_ST_START) {
        scram_set_state(s, SCRAM_ST_WAIT_FIRST); /* empty challenge (RFC 4422 section 5) */
        st->result = AUTH_STEP_CONTINUE;
        return 0;
    }
    if (!parse_client_first(s, m, n, &err)) {
        return step_fail(s, st, err);
    }
    int rc = select_verifier(s);
    if (rc == 0) {
        rc = build_server_first(s);
    }
    if (rc == 0 && s->sf_n > st->out_cap) {
        rc = -ENOSPC;
    }
    if (rc < 0) {
        return step_error(s, rc);
    }
    memcpy(st->out, s->sf, s->sf_n);
    st->out_len = s->sf_n;
    st->result = AUTH_STEP_CONTINUE;
    s->creds = NULL; /* everything needed is copied */
    scram_set_state(s, SCRAM_ST_WAIT_FINAL);
    return 0;
}

static int on_client_final(struct scram_session *s, const char *m, size_t n, struct auth_step *st)
{
    struct scram_err err;
    uint8_t proof[CRYPTO_SHA256_LEN];
    uint8_t server_sig[CRYPTO_SHA256_LEN];
    size_t wp_n = 0;
    bool match = false;
    if (!parse_client_final(s, m, n, proof, &wp_n, &err)) {
        return step_fail(s, st, err);
    }
    int rc = check_proof(s, m, wp_n, proof, &match, server_sig);
    bool allowed = false;
    if (rc == 0 && s->known && match) {
        allowed = true;
    }
    char v[KEY_B64_LEN + 3] = "v=";
    long vn = rc < 0 ? rc
                     : crypto_base64_encode(server_sig, sizeof(server_sig), v + 2, sizeof(v) - 2);
    crypto_wipe(server_sig, sizeof(server_sig));
    if (rc < 0 || vn < 0 || (size_t)vn + 2 > st->out_cap) {
        return step_error(s, rc < 0 ? rc : -ENOSPC);
    }
    if (!allowed) {
        /* The same bytes for an unknown user and a wrong password. */
        err.e = "invalid-proof";
        err.reason = s->known ? "wrong password (invalid proof)" : "unknown user";
        return step_fail(s, st, err);
    }
    memcpy(st->out, v, (size_t)vn + 2);
    st->out_len = (size_t)vn + 2;
    st->result = AUTH_STEP_SUCCESS;
    st->username = s->user;
    scram_set_state(s, SCRAM_ST_DONE);
    return 0;
}

static int scram_step(struct auth_method_session *base, struct gw_bytes in, struct auth_step *st)
{
    struct scram_session *s = (struct scram_session *)(void *)base;
    const char *m = (const char *)in.p;
    st->out_len = 0;
    st->username = NULL;
    st->reason = NULL;
    if (in.n > AUTH_SCRAM_MSG_MAX || (in.n > 0 && (!in.p || memchr(in.p, '\0', in.n)))) {
        struct scram_err err = {"other-error", "message too long or holds a NUL"};
        return step_fail(s, st, err);
    }
    switch (s->state) {
    case SCRAM_ST_START:
    case SCRAM_ST_WAIT_FIRST:
        return on_client_first(s, m, in.n, st);
    case SCRAM_ST_WAIT_FINAL:
        return on_client_final(s, m, in.n, st);
    case SCRAM_ST_DONE:
    case SCRAM_ST_FAILED:
    case SCRAM_ST_COUNT:
    default: {
        struct scram_err err = {"other-error", "exchange already finished"};
        return step_fail(s, st, err);
    }
    }
}

static int scram_start(const void *cfg, struct auth_method_session **out)
{
    if (!cfg) {
        return -EINVAL;
    }
    struct scram_session *s = gw_calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->base.method = &auth_scram_sha256;
    s->state = SCRAM_ST_START;
    s->creds = cfg;
    *out = &s->base;
    return 0;
}

static void scram_destroy(struct auth_method_session *base)
{
    if (!base) {
        return;
    }
    crypto_wipe(base, sizeof(struct scram_session));
    gw_free(base);
}

const struct auth_method auth_scram_sha256 = {
        .name = AUTH_SCRAM_NAME,
        .start = scram_start,
        .step = scram_step,
        .destroy = scram_destroy,
};

int auth_scram_set_server_nonce(struct auth_method_session *base, const char *nonce, size_t n)
{
    if (!base || base->method != &auth_scram_sha256 || !nonce ||
        !valid_nonce(nonce, n, SNONCE_MAX)) {
        return -EINVAL;
    }
    struct scram_session *s = (struct scram_session *)(void *)base;
    if (s->state != SCRAM_ST_START) {
        return -EINVAL;
    }
    memcpy(s->snonce, nonce, n);
    s->snonce[n] = '\0';
    s->snonce_n = n;
    return 0;
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
        if (!is_printable(s[i])) {
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

/* Read a whole regular file into a new NUL-terminated buffer (*out, gw_free). */
static int read_text(const char *path, char **out, size_t *out_n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && !S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if (rc == 0 && st.st_size > (off_t)MAX_FILE_BYTES) {
        rc = -EFBIG;
    }
    size_t size = rc == 0 ? (size_t)st.st_size : 0;
    char *buf = rc == 0 ? gw_alloc(size + 1) : NULL;
    size_t got = 0;
    rc = rc < 0 ? rc : !buf ? -ENOMEM : 0;
    while (rc == 0 && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno != EINTR) {
            rc = -errno;
        } else if (r == 0) {
            break; /* file shrank: parse what we have */
        } else if (r > 0) {
            got += (size_t)r;
        }
    }
    (void)close(fd);
    if (rc < 0) {
        gw_free(buf);
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *out_n = size + 1;
    return 0;
}

int auth_scram_load(const char *path, struct auth_scram_creds **out, char *err, size_t errcap)
{
    char *text = NULL;
    size_t cap = 0;
    int rc = read_text(path, &text, &cap);
    if (rc < 0) {
        put_err(err, errcap, "%s: %s", path, gw_strerror(rc));
        return rc;
    }
    rc = auth_scram_load_string(text, path, out, err, errcap);
    crypto_wipe(text, cap);
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
