/* auth_method.h - MQTT 5 enhanced authentication: the method plug-in
 * interface, and its one built-in method, SCRAM-SHA-256 (auth_scram.c).
 *
 * MQTT 5.0 section 4.12: a CONNECT carrying an Authentication Method
 * property (0x15) starts an exchange; its Authentication Data (0x16) is the
 * method's first input. The server answers AUTH 0x18 "continue
 * authentication" until the method succeeds (CONNACK 0x00) or fails. Later,
 * the client may send AUTH 0x19 "re-authenticate" with the same method to
 * run a new exchange on the live connection (section 4.12.1); that ends
 * with AUTH 0x00 success or a DISCONNECT.
 *
 * A method is a pure-ish state machine: bytes in, bytes out, no I/O, no
 * clock, no logging (the caller logs with connection context, using
 * auth_step.reason). What the protocol code (mqtt_proto.c / sess.c) does:
 *
 *   CONNECT with method M:
 *     e = auth_method_find(table, n, M.p, M.n);
 *     NULL -> CONNACK 0x8C Bad authentication method, close.
 *     rc = e->method->start(e->cfg, &s);       rc < 0 -> CONNACK 0x80, close
 *     feed the CONNECT's Authentication Data (possibly empty) to step().
 *   step() returned rc < 0 (out of memory, entropy failure): CONNACK 0x80
 *     Unspecified error (or DISCONNECT 0x80 when re-authenticating), close.
 *   result AUTH_STEP_CONTINUE: send AUTH 0x18 with method M and the
 *     out bytes as Authentication Data; wait for the client's AUTH 0x18
 *     (any other packet, a different method name, or the keep-alive /
 *     connect timeout expiring is a protocol error [MQTT-4.12.0-3..5]);
 *     feed its Authentication Data to step().
 *   result AUTH_STEP_SUCCESS: CONNACK 0x00 (or AUTH 0x00 when
 *     re-authenticating) carrying method M and the out bytes (for SCRAM the
 *     server-final "v=..." the client must check). auth_step.username is
 *     the authenticated user; copy it before destroy().
 *   result AUTH_STEP_FAIL: CONNACK 0x87 Not authorized (DISCONNECT 0x87
 *     when re-authenticating), close. The out bytes, if any (SCRAM:
 *     "e=invalid-proof" etc.), may go in that packet's Authentication
 *     Data; never reveal auth_step.reason to the client (it tells an
 *     unknown user from a wrong password, for the log only).
 *   Always destroy() the session when the exchange ends or the connection
 *   closes mid-exchange.
 *   Re-authentication: start a new session with the connection's method
 *   (a different method is a protocol error [MQTT-4.12.1-1]) and require
 *   the new username to equal the connection's: ACL decisions and the
 *   session were bound to it, MQTT leaves the rule to the server.
 *
 * Threads: loop thread only (SCRAM's server nonces come from crypto_random).
 */
#ifndef GW_AUTH_METHOD_H
#define GW_AUTH_METHOD_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Every method's output fits in this many bytes: size the out buffer so. */
#define AUTH_METHOD_OUT_MAX 512

enum auth_step_result {
    AUTH_STEP_CONTINUE = 1, /* send out in AUTH 0x18 and wait for the next input */
    AUTH_STEP_SUCCESS,      /* authenticated: send out in CONNACK / AUTH 0x00 */
    AUTH_STEP_FAIL          /* not authenticated (bad input included) */
};

/* In/out of one step. The caller sets out and out_cap; step() sets the
 * rest (only when it returns 0). */
struct auth_step {
    uint8_t *out;   /* in: caller buffer for the data to send (borrowed) */
    size_t out_cap; /* in: its size; AUTH_METHOD_OUT_MAX always suffices */
    size_t out_len; /* out: bytes written to out (may be 0) */
    enum auth_step_result result;
    /* out, SUCCESS only (else NULL): authenticated username, NUL-terminated,
     * printable ASCII; owned by the session, valid until destroy(). */
    const char *username;
    /* out, FAIL only (else NULL): why, for the log (static string). */
    const char *reason;
};

struct auth_method;

/* The per-exchange state. Each method's private session struct begins with
 * this one (the method casts), so the caller can hold just this pointer.
 * Created by method->start, freed by method->destroy (the caller owns it). */
struct auth_method_session {
    const struct auth_method *method;
};

/* A method's operations. Instances are immutable statics. */
struct auth_method {
    const char *name; /* the Authentication Method string, e.g. "SCRAM-SHA-256" */
    /* Begin one exchange. cfg is the method's configuration from the
     * registry entry (borrowed: see the method for how long it must live).
     * Returns 0 with *out set (free with destroy), or -ENOMEM; *out is
     * written only on success. */
    int (*start)(const void *cfg, struct auth_method_session **out);
    /* Feed the client's Authentication Data (in: a view, borrowed for the
     * call; the method copies what it keeps). Returns 0 with st->result
     * and friends set, or a negative error (-ENOMEM, -EIO, -ENOSPC when
     * st->out_cap is too small): the exchange is then failed and every
     * later step gives AUTH_STEP_FAIL. After SUCCESS or FAIL, further steps
     * give AUTH_STEP_FAIL. */
    int (*step)(struct auth_method_session *s, struct gw_bytes in, struct auth_step *st);
    /* Free s and wipe its secrets. NULL is a no-op. */
    void (*destroy)(struct auth_method_session *s);
};

/* One configured method: built by the composition root from the config
 * (e.g. {&auth_scram_sha256, creds} when scram_file is set). */
struct auth_method_entry {
    const struct auth_method *method;
    const void *cfg; /* passed to method->start (borrowed) */
};

/* The entry of table[0..n) whose method name equals name[0..len) exactly
 * (byte for byte, case-sensitive like SASL mechanism names), or NULL:
 * answer CONNACK 0x8C Bad authentication method. */
static inline const struct auth_method_entry *
auth_method_find(const struct auth_method_entry *table, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const char *m = table[i].method->name;
        if (strlen(m) == len && (len == 0 || memcmp(m, name, len) == 0)) {
            return &table[i];
        }
    }
    return NULL;
}

/* ---- SCRAM-SHA-256 (RFC 5802, RFC 7677), server side: auth_scram.c --------
 *
 * Exchange (MQTT 5.0 section 4.12 uses SCRAM as its example):
 *   CONNECT  data = client-first   "n,,n=user,r=CNONCE"
 *   AUTH 18  data = server-first   "r=CNONCE SNONCE,s=SALT,i=ITER"   CONTINUE
 *   AUTH 18  data = client-final   "c=biws,r=CNONCE SNONCE,p=PROOF"
 *   CONNACK  data = server-final   "v=SIGNATURE"                      SUCCESS
 * An empty first input (CONNECT without Authentication Data) is answered
 * with an empty challenge (CONTINUE, out_len 0) once, as RFC 4422 section
 * 5 asks of client-first mechanisms; the next input must be client-first.
 *
 * What is supported and checked:
 *  - gs2 header "n,," or "y,," (no channel binding; Tern offers no -PLUS
 *    variant, so "y" is no downgrade). "p=..." fails with
 *    "e=channel-binding-not-supported". An authzid ("n,a=x,") fails: Tern
 *    has no authorization identities. "m=" (reserved-mext) fails with
 *    "e=extensions-not-supported" [RFC 5802 section 5.1]; other extensions
 *    after the nonce are ignored.
 *  - Usernames: "=2C" -> ',' and "=3D" -> '=' unescaping; any other '=' is
 *    "e=invalid-username-encoding", as are bytes outside printable ASCII
 *    (0x20..0x7E) and names over AUTH_SCRAM_NAME_MAX. This is the only
 *    SASLprep (RFC 4013) done: for printable ASCII SASLprep is the
 *    identity, so ASCII names and passwords interoperate with every client.
 *    Passwords are hashed as the given bytes (auth_scram_make_verifier);
 *    a non-ASCII password may not match a client that applies SASLprep.
 *  - Client nonce: 1..AUTH_SCRAM_NONCE_MAX printable ASCII bytes, no ','.
 *    The server appends 18 random bytes in base64 (24 characters).
 *  - Client-final: "c=" must decode to the gs2 header of client-first,
 *    "r=" must equal the combined nonce, "p=" must be last and decode to
 *    32 bytes; the proof is checked as RFC 5802 section 3 describes with a
 *    constant-time compare. A client-final sent twice fails the second
 *    time (the session is done); one replayed into a new session fails on
 *    the nonce (fresh random server nonce).
 *  - Unknown users get a server-first with a fake salt (salt length and
 *    iteration count of the file's first entry; 16 and 4096 for an empty
 *    file) derived by HMAC from a secret and the name, as RFC 5802 section
 *    7 suggests, so the salt is stable per name; the exchange then runs to
 *    the end and fails with "e=invalid-proof", the same bytes a wrong
 *    password gets, after the same HMAC work. The secret is SHA-256 of
 *    the scram_file text (which holds every StoredKey): stable across
 *    restarts, unknown to anyone who cannot read the file; it changes when
 *    the file changes, so a fake salt may change where real salts do not.
 *  - Messages longer than AUTH_SCRAM_MSG_MAX bytes, or holding a NUL, fail.
 *
 * scram_file format: one `username:VERIFIER` per line, VERIFIER as
 * PostgreSQL stores SCRAM secrets in pg_authid.rolpassword
 * (src/common/scram-common.c scram_build_secret()):
 *   SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>
 * iterations 1..AUTH_SCRAM_MAX_ITERATIONS, salt 1..AUTH_SCRAM_SALT_MAX
 * bytes, keys 32 bytes each; standard base64 with padding. The username is
 * everything before the first ':' (trimmed), printable ASCII without ':',
 * 1..AUTH_SCRAM_NAME_MAX bytes, stored unescaped ("a,b" not "a=2Cb"). '#'
 * lines and blank lines are ignored, blanks around fields trimmed; a user
 * listed twice is an error. Errors are "FILE:LINE: reason".
 * The verifier of a PostgreSQL role copies over unchanged. */

#define AUTH_SCRAM_NAME               "SCRAM-SHA-256"
#define AUTH_SCRAM_NAME_MAX           255u  /* username bytes, unescaped */
#define AUTH_SCRAM_NONCE_MAX          255u  /* client nonce bytes */
#define AUTH_SCRAM_SALT_MAX           64u   /* salt bytes */
#define AUTH_SCRAM_MSG_MAX            1024u /* longest client message accepted */
#define AUTH_SCRAM_DEFAULT_SALT_LEN   16u   /* PostgreSQL's SCRAM_DEFAULT_SALT_LEN */
#define AUTH_SCRAM_DEFAULT_ITERATIONS 4096u /* RFC 7677 section 4 minimum */
#define AUTH_SCRAM_MAX_ITERATIONS     10000000u
#define AUTH_SCRAM_KEY_LEN            32u

/* The method. Its cfg is a const struct auth_scram_creds *. A session
 * reads it only until the step that answers client-first returns (it then
 * holds copies), but the simple rule is: keep creds valid until every
 * session started from them is destroyed (on reload, keep the old creds
 * until then, or destroy the in-flight sessions and fail those
 * connections). */
extern const struct auth_method auth_scram_sha256;

/* A loaded scram_file: immutable after loading, freed by auth_scram_free. */
struct auth_scram_creds;

/* One user's secrets (RFC 5802 section 3). Caller memory; wipe it with
 * crypto_wipe. */
struct auth_scram_verifier {
    uint32_t iterations;
    size_t salt_n;
    uint8_t salt[AUTH_SCRAM_SALT_MAX];
    uint8_t stored_key[AUTH_SCRAM_KEY_LEN]; /* H(ClientKey) */
    uint8_t server_key[AUTH_SCRAM_KEY_LEN]; /* HMAC(SaltedPassword, "Server Key") */
};

/* Load the scram_file at path (borrowed). Returns 0 and *out (owned by the
 * caller: auth_scram_free), GW_E_CONFIG ("FILE:LINE: reason"), -ENOMEM,
 * or -errno when the file cannot be read ("FILE: reason"), with one line of
 * text in err (errcap bytes, NUL-terminated when errcap > 0; err may be
 * NULL). *out is written only on success. Not for the loop's hot path:
 * reads the file synchronously. */
int auth_scram_load(const char *path, struct auth_scram_creds **out, char *err, size_t errcap);

/* Same from NUL-terminated text (borrowed); name (NULL = "<string>") is
 * used in messages. No filesystem access: for tests and fuzzing. */
int auth_scram_load_string(const char *text, const char *name, struct auth_scram_creds **out,
                           char *err, size_t errcap);

/* Free c and wipe its keys. NULL is a no-op. Sessions started from c must
 * be destroyed first. */
void auth_scram_free(struct auth_scram_creds *c);

/* Number of users in c. */
size_t auth_scram_count(const struct auth_scram_creds *c);

/* Derive a verifier from password[0..password_n) (bytes as given, see the
 * SASLprep note) with salt[0..salt_n) (1..AUTH_SCRAM_SALT_MAX) and
 * iterations (1..AUTH_SCRAM_MAX_ITERATIONS): SaltedPassword = Hi(...),
 * then StoredKey and ServerKey. Takes `iterations` HMACs: not for the
 * loop thread with large counts. Returns 0, -EINVAL (bad arguments) or
 * -ENOMEM (inside mbedTLS). *out is written only on success. */
int auth_scram_make_verifier(const uint8_t *password, size_t password_n, uint32_t iterations,
                             const uint8_t *salt, size_t salt_n, struct auth_scram_verifier *out);

/* Format "username:SCRAM-SHA-256$I:SALT$STORED:SERVER\n" into out (cap
 * bytes, NUL-terminated): one scram_file line. username (NUL-terminated,
 * borrowed) must be valid for the file (see above). Returns the length
 * without the NUL, -EINVAL (bad username or verifier) or -ENOSPC. */
long auth_scram_format_line(const char *username, const struct auth_scram_verifier *v, char *out,
                            size_t cap);

/* What `tern --scram-passwd USER` needs: a random AUTH_SCRAM_DEFAULT_SALT_LEN
 * salt (crypto_random: loop thread / main thread rule), iterations (0 =
 * AUTH_SCRAM_DEFAULT_ITERATIONS), then auth_scram_format_line. Returns the
 * line length, or -EINVAL, -ENOSPC, -ENOMEM, -EIO (no entropy). The caller
 * reads the password (without its newline), prints out, wipes both. */
long auth_scram_make_line(const char *username, const uint8_t *password, size_t password_n,
                          uint32_t iterations, char *out, size_t cap);

/* Test hook: use nonce[0..n) (1..64 printable ASCII bytes, no ',') as the
 * server nonce instead of random bytes. Call after start, before the first
 * step. Returns 0, or -EINVAL (bad nonce, or s is not a fresh SCRAM
 * session). */
int auth_scram_set_server_nonce(struct auth_method_session *s, const char *nonce, size_t n);

#endif
