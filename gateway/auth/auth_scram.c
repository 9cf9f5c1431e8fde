/* auth_scram.c - SCRAM-SHA-256 (RFC 5802, RFC 7677) server side as an MQTT 5
 * enhanced-authentication method: the exchange's state machine, its
 * messages and the proof check (see auth_method.h for the rules). The
 * scram_file (loading, user lookup, making lines) is auth_scram_file.c.
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
#include "auth_scram_priv.h"
#include "crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNONCE_RAND_LEN 18u /* random bytes; 24 characters of base64 */
#define SNONCE_MAX      64u

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
        if (!auth_scram_is_printable(c) || o == AUTH_SCRAM_NAME_MAX) {
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
    const struct scram_user *u = auth_scram_find_user(c, s->user);
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
