/* ops.h - the operations endpoints: Prometheus metrics, health, readiness
 * and a JSON status, served over HTTP on every `protocol http` listener.
 *
 *   GET /metrics        Prometheus text format 0.0.4 (prom.h)
 *   GET /healthz        200 "ok", or 503 with the reason: the loop stalled
 *                       (a heartbeat timer fired more than OPS_STALL_MS
 *                       late within the last OPS_STALL_WINDOW_MS), the
 *                       store has batches waiting longer than
 *                       OPS_STORE_STALL_MS, or its last commit failed
 *   GET /readyz         200 once main called ops_set_ready (listeners and
 *                       store up), 503 before, while stopping, and while
 *                       the store is over its quota (refusing messages)
 *   GET /api/v1/status  JSON: version, uptime, listeners, clients, store,
 *                       bridges, MQTT-SN gateways
 *
 * With `http_basic_auth true` on the listener every path but /healthz and
 * /readyz needs HTTP Basic credentials (RFC 7617) of a password_file user;
 * the check is the broker's own password verification, on the loop thread
 * (PBKDF2: mosquitto_passwd's 101 rounds cost well under a millisecond).
 *
 * The broker core's figures are written by ops itself (ops_broker.c); the
 * front-ends' (MQTT listeners, bridges, MQTT-SN) by sources main adds,
 * since gateway/ knows no front-end. Loop thread only. */
#ifndef OPS_H
#define OPS_H

#include "http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPS_HEARTBEAT_MS    250u
#define OPS_QUIET_BEATS     4u /* beats with no fd event before the heartbeat rests */
#define OPS_STALL_MS        2000u
#define OPS_STALL_WINDOW_MS 10000u
#define OPS_STORE_STALL_MS  10000u

struct broker;
struct ops;

/* Extra figures from a module gateway/ cannot include. metrics appends
 * whole metric families (prom.h); status appends JSON members, each
 * starting with a comma (`,"bridges":[...]`). Either may be NULL. */
struct ops_source {
    void (*metrics)(void *arg, struct http_reply *rep);
    void (*status)(void *arg, struct http_reply *rep);
    void *arg;
};

/* Create the endpoints of broker b (borrowed; outlives ops). The
 * heartbeat timer starts with the first http listener (ops_listen) or
 * ops_watch_loop. Returns 0 and *out, or -ENOMEM. */
int ops_create(struct broker *b, struct ops **out);

/* Open every `protocol http` listener of the broker's configuration.
 * Returns 0 or the first error (logged with the address). */
int ops_listen(struct ops *o);

/* Add a source (copied). Returns 0 or -ENOMEM. */
int ops_source_add(struct ops *o, const struct ops_source *src);

/* Watch the loop for stalls: a heartbeat every OPS_HEARTBEAT_MS, whose
 * lateness is the loop's lag; one past OPS_STALL_MS makes ops_healthy
 * false. Called when someone can ask ops_healthy (an http listener,
 * systemd's STATUS). The heartbeat runs while the loop has work: after
 * OPS_QUIET_BEATS beats with no fd event it rests until the next one
 * (timers do not count: systemd's WATCHDOG=1 would keep it going), so an
 * idle gateway does not wake for it (a loop that has nothing
 * to do cannot stall; a frozen process is seen if it had work).
 * Idempotent. Returns 0 or -ENOMEM. */
int ops_watch_loop(struct ops *o);

/* Ready (true: listeners and store are up) or not (false: stopping). */
void ops_set_ready(struct ops *o, bool ready);

/* The health verdict /healthz gives: true when healthy; otherwise false
 * with the reason in why (cap bytes). Also used for the systemd watchdog. */
bool ops_healthy(struct ops *o, char *why, size_t cap);

/* Close the listeners and free. NULL is a no-op. */
void ops_destroy(struct ops *o);

/* ---- for the sources (gateway/ops_fronts.c) ---- */

/* Append s as a JSON string (quoted, escaped per RFC 8259 section 7). */
void ops_json_str(struct http_reply *r, const char *s);

/* Append a number. */
void ops_json_u64(struct http_reply *r, uint64_t v);

#endif
