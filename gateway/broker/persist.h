/* persist.h - the broker's side of the durable store: what goes to LMDB
 * and when an acknowledgement may leave.
 *
 * "Acknowledged means durable": every state change of a durable session
 * (clean session 0), every retained message and the messages they hold are
 * added to the store's current batch as they happen (no I/O on the loop).
 * At the end of each loop iteration the batch is committed by the store's
 * writer thread (one no acknowledgement waits for: a little later, see
 * persist_flush). Front-ends hold back the acknowledgements that depend on
 * it (svc_publish tells them which) and register persist_after_commit
 * callbacks, run in order when the commit completes; each front-end keeps
 * its acknowledgements in the order of the packets they answer
 * [MQTT-4.6.0-2] [MQTT-4.6.0-3] (gateway/mqtt/mqtt_ack.h).
 *
 * With persistence off every function here is a cheap no-op and sessions
 * stay in memory. Loop thread only. */
#ifndef PERSIST_H
#define PERSIST_H

#include "gw_bytes.h"
#include "msg.h"
#include "sess_tag.h"

#include <stdbool.h>
#include <stdint.h>

struct broker;
struct sess;

/* Open the store named by the config (persistence true), restore sessions,
 * subscriptions, inflight state and retained messages into the broker, and
 * watch the store's eventfd. Returns 0 (also with persistence off) or an
 * error, logged with what to do. */
int persist_open(struct broker *b);

/* Apply reloadable options (quota) after SIGHUP. */
void persist_reload(struct broker *b);

/* Commit what is pending and close the store (after all connections were
 * closed). Runs the last completions. */
void persist_close(struct broker *b);

/* A session is now persistent and connected (CONNECT with clean session 0):
 * give it an owner id and the persistence hooks, and store its record.
 * Returns 0 (also with persistence off or a clean session), or the
 * store's error (the record is not in the batch). */
int persist_session_connected(struct broker *b, struct sess *s, uint8_t protocol);

/* The session's link state (sess_set_link_state) changed: rewrite its
 * record. No-op for a session that is not durable. */
void persist_session_update(struct broker *b, struct sess *s);

/* A link protocol's own record of a durable session (MQTT-SN: one per topic
 * id) is key -> value now, or gone: written to the store as one small
 * record, not as a rewrite of the session (a client adding a thousand
 * topic ids must not rewrite its registry a thousand times). Restored into
 * s->link_recs at start. No-op for a session that is not durable; errors
 * are counted and logged as for other store writes. key is 1..503 bytes. */
void persist_link_put(struct broker *b, struct sess *s, struct gw_bytes key,
                      struct gw_bytes value);
void persist_link_del(struct broker *b, struct sess *s, struct gw_bytes key);

/* A persistent session's connection ended: record the time (expiry). */
void persist_session_disconnected(struct broker *b, struct sess *s);

/* The session is gone for good (clean session, expiry): delete it and all
 * it holds. */
void persist_session_delete(struct broker *b, struct sess *s);

/* options: the MQTT 5 subscription options byte (0 for 3.1.1). */
void persist_sub_add(struct broker *b, struct sess *s, struct gw_bytes filter, uint8_t qos,
                     uint8_t options);
void persist_sub_del(struct broker *b, struct sess *s, struct gw_bytes filter);

/* m became (or, with an empty payload, cleared) the retained message of
 * its topic. Returns true when that joined the store's batch. */
bool persist_retain(struct broker *b, struct msg *m);

/* True with a store (persistence true). */
bool persist_enabled(const struct broker *b);

/* True while the store is over persistence_quota. */
bool persist_over_quota(const struct broker *b);

/* Called once the batch it waited for committed (rc 0) or failed (rc <
 * 0: then nothing of that batch is on disk). */
typedef void persist_commit_cb(void *arg, uint32_t data, int rc);

/* Run fn(arg, data, rc) after the current batch commits, in order with the
 * acknowledgements waiting for it (at once, with rc 0, when persistence is
 * off). arg must stay valid until then. Returns 0 or -ENOMEM. */
int persist_after_commit(struct broker *b, persist_commit_cb *fn, void *arg, uint32_t data);

/* The current batch's number: it grows by one each time a batch goes to
 * the writer (a front-end tags what waits for it). */
uint32_t persist_batch_gen(const struct broker *b);

/* End of a loop iteration: hand the batch (and its waiting
 * acknowledgements) to the writer. A batch no acknowledgement waits for
 * is held back up to 10 ms or 2,048 operations, to go with the next one
 * (persist.c, PERSIST_LAZY_MS). */
void persist_flush(struct broker *b);

#endif
