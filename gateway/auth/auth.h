/* auth.h - mosquitto-compatible password_file and acl_file (L2 broker code,
 * built into tern_core: it needs only alloc, crypto and topic).
 *
 * Password file (mosquitto_passwd, mosquitto 2.0): one `username:HASH` per
 * line, HASH either
 *   $7$ITERATIONS$SALT_B64$HASH_B64  PBKDF2-HMAC-SHA512, 64-byte hash
 *   $6$SALT_B64$HASH_B64             SHA-512(password || salt), 64-byte hash
 * with a 12-byte salt, as mosquitto_passwd writes them. '#' lines and blank
 * lines are ignored; surrounding blanks are trimmed. Anything else is an
 * error with FILE:LINE, including plain-text passwords: mosquitto 2.0.11 logs
 * "Invalid password hash type for user X, removing entry" and starts anyway,
 * leaving that user unable to log in; Tern refuses to start and asks for
 * `mosquitto_passwd -U FILE`, so a half-working file is noticed at once.
 * A user listed twice is an error too (mosquitto keeps an arbitrary one).
 *
 * ACL file (mosquitto.conf(5) acl_file):
 *   topic [read|write|readwrite|deny] TOPIC   (no access word = readwrite)
 *   user USERNAME                             (starts a user block)
 *   pattern [read|write|readwrite|deny] TOPIC (all clients; %c = client id,
 *                                              %u = username)
 * `topic` lines before the first `user` line apply to anonymous clients.
 * TOPIC is the rest of the line, trimmed, and must be a valid filter.
 *
 * Decision (auth_acl_check), mosquitto 2.0 semantics except where marked:
 *  - no ACL file: everything allowed; with one, only what is granted;
 *  - the entries considered are the client's own block (the anonymous block
 *    when username is NULL; none when a named user has no block) plus every
 *    pattern (patterns using %u are skipped for anonymous clients);
 *  - a matching deny entry anywhere wins. (Differs: mosquitto checks the
 *    user block before the patterns, so there a user-block grant beats a
 *    deny pattern; in Tern any deny wins, never granting more.)
 *  - when the file has patterns, a client whose username or client id
 *    contains '+' or '#', or that has no client id, is denied everything
 *    (substitution would turn its id into wildcards; mosquitto denies at
 *    the same point but after its user-block grants: stricter here);
 *  - a pattern longer than AUTH_PATTERN_MAX bytes after substitution
 *    denies the check.
 *  READ    the topic name of a message about to be delivered is matched
 *          with topic_matches against entries granting read;
 *  WRITE   the topic name of a PUBLISH, against entries granting write;
 *  SUBSCRIBE  a filter is allowed when an entry granting read "covers" it:
 *          walking both level by level, an entry '#' covers the rest, an
 *          entry '+' covers any single requested level ('+' included), any
 *          other entry level must equal the requested level literally (so a
 *          requested '+' or '#' is only covered by '+' / '#' in the entry).
 *          This is sound (every topic the filter can match is readable) but
 *          not complete. A deny entry that covers the filter refuses the
 *          subscription; one that only overlaps it (deny a/secret under a
 *          requested a/#) is enforced per delivered message by READ. Note that
 *          mosquitto 2.0.11 grants every subscription with acl_file (its
 *          default check returns success for SUBSCRIBE) and filters at
 *          delivery only; Tern refuses early (SUBACK 0x80) and still checks
 *          READ per delivered message.
 *  A filter starting with a wildcard never matches a topic starting with
 *  '$' [MQTT-4.7.2-1]; grant $SYS with an explicit `topic read $SYS/#`.
 *
 * Never logs: errors come back as "FILE:LINE: reason" text for the caller
 * to log. Not thread-safe while loading; a loaded struct auth is immutable
 * and may be read from any thread. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest topic after %c/%u substitution that a pattern can grant. */
#define AUTH_PATTERN_MAX 512

/* Highest PBKDF2 iteration count accepted in a password file: each CONNECT
 * with a password costs that many HMACs on the loop thread. */
#define AUTH_PBKDF2_MAX_ITERATIONS 1000000u

/* Loaded password and ACL data. Created by auth_load / auth_load_strings,
 * freed by auth_free; immutable in between. */
struct auth;

/* Load either file (NULL = none; both NULL gives an auth that has neither).
 * Paths are borrowed. Returns 0 and *out (owned by the caller: auth_free),
 * or GW_E_CONFIG (syntax: "FILE:LINE: reason"), -ENOMEM or -errno (file
 * cannot be read: "FILE: strerror") with one line of text in err (errcap
 * bytes, always NUL-terminated when errcap > 0; err may be NULL). *out is
 * written only on success. */
int auth_load(const char *password_file, const char *acl_file, struct auth **out, char *err,
              size_t errcap);

/* Same as auth_load from NUL-terminated file contents (NULL = none); the
 * names (borrowed, NULL = "<string>") are used in messages. For tests and
 * fuzzing: no filesystem access. */
int auth_load_strings(const char *password_text, const char *password_name, const char *acl_text,
                      const char *acl_name, struct auth **out, char *err, size_t errcap);

/* Free a and everything it owns; password hashes are wiped. NULL is a no-op. */
void auth_free(struct auth *a);

/* True if a password file was loaded (it may hold no users). */
bool auth_has_passwords(const struct auth *a);

/* True if an ACL file was loaded (it may hold no entries: then all is denied). */
bool auth_has_acl(const struct auth *a);

/* True only if username exists in the password file and password verifies.
 * The hash is compared in constant time, and an unknown user costs the same
 * PBKDF2 work as a known one (no user enumeration by timing). Both views are
 * borrowed for the call. False when no password file is loaded, or on an
 * internal failure (out of memory inside mbedTLS). May take milliseconds
 * (PBKDF2 iterations). */
bool auth_check_password(const struct auth *a, struct gw_bytes username, struct gw_bytes password);

/* One password check, taken off the loop thread: auth_pw_job_prepare
 * copies what the check needs (the user's hash, or the dummy one for an
 * unknown user, so timing tells nothing) and the password, so the job
 * outlives a reload or free of the struct auth; auth_pw_job_run does the
 * PBKDF2 work on any thread and touches nothing shared. */
struct auth_pw_job;

/* A job for (username, password) against a's password file, or NULL
 * (out of memory, or no password file: check auth_has_passwords first).
 * Both views are copied. */
struct auth_pw_job *auth_pw_job_prepare(const struct auth *a, struct gw_bytes username,
                                        struct gw_bytes password);

/* Run the check: the same answer auth_check_password gives. Any thread. */
bool auth_pw_job_run(struct auth_pw_job *j);

/* Free a job; the password copy is wiped. NULL is a no-op. */
void auth_pw_job_free(struct auth_pw_job *j);

enum auth_access {
    AUTH_READ = 1,     /* deliver a message with this topic name to the client */
    AUTH_WRITE = 2,    /* accept a PUBLISH to this topic name from the client */
    AUTH_SUBSCRIBE = 4 /* accept a SUBSCRIBE with this filter */
};

/* ACL decision (see the file comment). client_id and username are borrowed
 * NUL-terminated strings; username NULL = anonymous; client_id NULL = none.
 * topic is a topic name for READ/WRITE and a filter for SUBSCRIBE; invalid
 * names or filters are denied when an ACL is loaded. True when no ACL file
 * is loaded. No allocation; %c/%u substitution uses a stack buffer of
 * AUTH_PATTERN_MAX bytes. */
bool auth_acl_check(const struct auth *a, const char *client_id, const char *username,
                    struct gw_bytes topic, enum auth_access access);

#endif
