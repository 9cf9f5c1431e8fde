/* store.h - Tern's durable store on LMDB.
 *
 * One LMDB environment per process (a directory), with named databases for
 * messages, ordered queues, sessions, subscriptions, inflight state and
 * retained messages (layout in store_schema.h). The store knows nothing of
 * MQTT sessions or sockets: it keeps records the broker hands it.
 *
 * Threads: every function here is called from the loop thread, except where
 * a comment says otherwise. Writes are not done by the caller: the loop
 * appends operations to the current batch (store_*_put/del, which copy what
 * they need and do no I/O) and hands the batch over with store_commit. One
 * writer thread applies each batch in one write transaction (group commit),
 * makes it durable as the sync mode says, and wakes the loop through an
 * eventfd (store_event_fd); the loop then calls store_process_completions,
 * which runs each batch's done callback in commit order. The loop never
 * waits for fsync.
 *
 * Reads (store_load, store_queue_read, store_stats) run on the loop thread in
 * short read-only transactions and see committed data only: a batch that has
 * not completed yet is invisible to them.
 *
 * Messages are stored once and reference counted by the writer: every queue
 * entry, inflight record and retained entry that names a message id holds
 * one reference; a message whose count drops to zero is deleted in the same
 * transaction. store_msg_put with a message id that exists is a no-op
 * (fan-out to many sessions puts the message once per batch at most).
 *
 * Errors: 0 or a negative code of gw_err.h (-ENOMEM, -ENOSPC when the map
 * cannot grow or the quota is reached, -EIO for LMDB failures, GW_E_CONFIG for
 * a store of another format version or a damaged file at open). */
#ifndef STORE_H
#define STORE_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;

enum store_sync {
    STORE_SYNC_BATCH = 0, /* fsync every committed batch (default) */
    STORE_SYNC_PERIODIC,  /* fsync every periodic_ms: a crash loses at most that */
    STORE_SYNC_NONE,      /* never fsync: the OS decides; a power loss can lose anything */
    STORE_SYNC_JOURNAL    /* each batch appended to a journal and fdatasynced; LMDB
                             unsynced between checkpoints (store_journal.h) */
};

struct store_config {
    const char *dir;          /* created if missing (mode 0700) */
    uint64_t map_size;        /* initial map size in bytes; 0 = 64 MiB */
    uint64_t map_size_max;    /* growth stops here; 0 = 1 GiB (fits 32-bit ARM) */
    uint64_t quota_bytes;     /* 0 = none; see store_over_quota */
    enum store_sync sync;
    uint32_t periodic_ms;     /* STORE_SYNC_PERIODIC interval */
};

/* A message as stored. Views: copied by store_msg_put, borrowed in read
 * callbacks (valid until the callback returns). */
struct store_msg {
    uint64_t id;          /* broker-wide message id, never 0 */
    uint8_t qos;
    bool retain;
    uint64_t expiry_s;    /* wall-clock Unix seconds, 0 = never (MQTT 5) */
    uint64_t created_s;   /* wall-clock Unix seconds when it was received */
    struct gw_bytes topic;
    struct gw_bytes payload;
    struct gw_bytes props; /* MQTT 5 property block, may be empty */
};

/* A persistent session. owner is the broker-assigned id that every queue,
 * subscription and inflight record of the session is keyed by. */
struct store_session {
    uint64_t owner;
    struct gw_bytes client_id;
    uint8_t protocol;        /* MQTT protocol level, or 0x80 + n for MQTT-SN */
    uint32_t expiry_s;       /* session expiry interval, 0xFFFFFFFF = never */
    uint64_t disconnected_s; /* wall-clock Unix seconds, 0 = was connected */
    uint16_t next_pid;
    struct gw_bytes extra;   /* opaque to the store (will, MQTT-SN state ...) */
};

struct store_sub {
    uint64_t owner;
    struct gw_bytes filter;
    uint8_t qos;
    uint8_t options; /* MQTT 5 subscription options byte */
    uint32_t sub_id;
};

enum store_dir {
    STORE_OUT = 0, /* broker -> client: PUBLISH sent, waiting for PUBACK/PUBREC/PUBCOMP */
    STORE_IN = 1   /* client -> broker QoS 2: PUBREC sent, waiting for PUBREL */
};

struct store_inflight {
    uint64_t owner;
    uint8_t dir;      /* enum store_dir */
    uint16_t pid;
    uint8_t qos;
    uint8_t state;    /* the caller's phase number, kept as is */
    uint64_t msg_id;  /* STORE_OUT: the message (one reference); STORE_IN: 0 */
    uint64_t seq;     /* send order within the owner, for resend in order */
};

struct store_qentry {
    uint64_t owner;
    uint64_t seq;     /* order within the owner's queue */
    uint64_t msg_id;  /* holds one reference */
    uint8_t qos;
    uint8_t flags;    /* the caller's bits (e.g. retain as delivered) */
};

/* Open (creating if needed) the store in cfg->dir, check its format version,
 * start the writer thread. Returns 0 and *out, or an error with one line in
 * err (errcap bytes; names the file and what to do for a version mismatch or
 * a damaged file; never wipes anything). */
int store_open(const struct store_config *cfg, struct store **out, char *err, size_t errcap);

/* Commit what is pending, stop the writer, close LMDB. Completion callbacks
 * still queued are run (with their result) before it returns. NULL no-op. */
void store_close(struct store *s);

/* The eventfd that becomes readable when batches complete (register it with
 * the loop for reading; call store_process_completions then). */
int store_event_fd(const struct store *s);

/* ---- batch building (loop thread; copies, no I/O) ---- */

int store_msg_put(struct store *s, const struct store_msg *m);
int store_queue_add(struct store *s, const struct store_qentry *e);
int store_queue_del(struct store *s, uint64_t owner, uint64_t seq);
/* Delete every queue entry of owner with seq <= upto_seq. */
int store_queue_trim(struct store *s, uint64_t owner, uint64_t upto_seq);
int store_inflight_put(struct store *s, const struct store_inflight *f); /* insert or replace */
int store_inflight_del(struct store *s, uint64_t owner, uint8_t dir, uint16_t pid);
int store_session_put(struct store *s, const struct store_session *ss); /* insert or replace */
/* Delete the session and everything keyed by its owner (subscriptions,
 * queue, inflight), releasing message references. */
int store_session_del(struct store *s, uint64_t owner);
int store_sub_put(struct store *s, const struct store_sub *sub); /* insert or replace */
int store_sub_del(struct store *s, uint64_t owner, struct gw_bytes filter);
/* A front-end's own record of a session (links database, store_schema.h):
 * insert or replace key -> value of owner, or delete it (absent: no-op).
 * key is 1..STORE_FILTER_MAX bytes (-EINVAL / GW_E_TOO_LARGE). */
int store_link_put(struct store *s, uint64_t owner, struct gw_bytes key, struct gw_bytes value);
int store_link_del(struct store *s, uint64_t owner, struct gw_bytes key);

/* Make msg_id the retained message of topic (replacing and releasing the
 * previous one). The message must be put in this or an earlier batch. */
int store_retain_put(struct store *s, struct gw_bytes topic, uint64_t msg_id);
int store_retain_del(struct store *s, struct gw_bytes topic);

/* True when the current batch holds no operation. */
bool store_batch_empty(const struct store *s);

/* Operations in the current batch (0 when none). */
size_t store_batch_ops(const struct store *s);

/* Called on the loop thread once the batch is durable (rc 0) or failed (rc <
 * 0: nothing of the batch was written). */
typedef void store_done_cb(void *arg, int rc);

/* Hand the current batch to the writer; done(arg, rc) runs later from
 * store_process_completions. An empty batch completes too (after every
 * earlier batch), which makes it a barrier. Returns 0, or an error
 * (-ENOMEM: the batch stays current and done is never called). */
int store_commit(struct store *s, store_done_cb *done, void *arg);

/* Run done callbacks of completed batches, in commit order. Call when
 * store_event_fd is readable (reading the eventfd is done here). */
void store_process_completions(struct store *s);

/* ---- reads (loop thread; committed data only) ---- */

struct store_load_ops {
    /* Each returns 0 to go on or a negative error to stop the load. */
    int (*session)(void *arg, const struct store_session *ss, uint64_t queue_first_seq,
                   uint64_t queue_last_seq, uint64_t queue_len);
    int (*sub)(void *arg, const struct store_sub *sub);
    int (*inflight)(void *arg, const struct store_inflight *f, const struct store_msg *m);
    int (*retained)(void *arg, const struct store_msg *m);
    /* May be NULL. key and value are borrowed for the call. */
    int (*link)(void *arg, uint64_t owner, struct gw_bytes key, struct gw_bytes value);
};

/* Walk every session (with its queue bounds: first and last seq, 0 and 0
 * when empty, and length), then every subscription, every inflight record
 * (with its message, NULL for STORE_IN) in (owner, seq) order, then every
 * retained message, then every link record in (owner, key) order. Queue entries themselves are not loaded: a backlog of
 * millions costs disk, not RAM. The largest message id and owner in the
 * store are reported through store_stats so new ids continue above them. */
int store_load(struct store *s, const struct store_load_ops *ops, void *arg);

typedef int store_queue_cb(void *arg, const struct store_qentry *e, const struct store_msg *m);

/* Read up to max queue entries of owner with seq > after_seq, in order, each
 * with its message. Returns the number passed to cb, or an error (cb's
 * negative return stops the walk and is returned). */
ssize_t store_queue_read(struct store *s, uint64_t owner, uint64_t after_seq, size_t max,
                         store_queue_cb *cb, void *arg);

struct store_stats {
    uint64_t sessions;
    uint64_t queued;          /* queue entries, all owners */
    uint64_t messages;        /* message records */
    uint64_t retained;
    uint64_t inflight;
    uint64_t max_msg_id;      /* no id above it is in use: after open the bound saved
                                 in the store (up to STORE_IDS_AHEAD_MSG above the
                                 largest ever stored), then the largest seen since */
    uint64_t max_owner;       /* the same for owners (STORE_IDS_AHEAD_OWNER) */
    uint64_t used_bytes;      /* pages in use x page size */
    uint64_t map_bytes;       /* current map size */
    uint64_t batches;         /* committed since open */
    uint64_t batch_ops_max;   /* largest batch since open, in operations */
    uint64_t batch_ops_total; /* operations committed since open */
    bool journal;             /* STORE_SYNC_JOURNAL */
    uint64_t journal_records; /* journal records written since open */
    uint64_t journal_bytes;   /* their bytes (framing included, no padding) */
    uint64_t journal_checkpoints;
    uint64_t journal_replayed; /* records replayed at open */
};

int store_stats(struct store *s, struct store_stats *out);

/* Commit figures kept on the loop thread: how long each batch waited from
 * store_commit to its completion (what an acknowledgement waits: the
 * transaction and its fsync), how many operations it held, and whether the
 * writer keeps up. Histogram buckets are per bucket, not cumulative; the
 * last one is everything above the highest bound. */
#define STORE_LATENCY_BUCKETS 12
#define STORE_BATCH_BUCKETS   12

/* Upper bounds: seconds for latency, operations for batch size. */
extern const double store_latency_bounds_s[STORE_LATENCY_BUCKETS];
extern const double store_batch_bounds_ops[STORE_BATCH_BUCKETS];

struct store_commit_figures {
    uint64_t latency_bucket[STORE_LATENCY_BUCKETS + 1];
    double latency_sum_s;
    uint64_t batch_bucket[STORE_BATCH_BUCKETS + 1];
    uint64_t batch_ops_sum;
    uint64_t completed; /* batches completed (either way) */
    uint64_t failed;    /* of those, written with an error (nothing of them stored) */
    uint64_t submitted; /* batches handed to the writer */
    int last_rc;        /* result of the last completed batch */
};

/* Copy the figures into *out. stalled_ms: how long batches have waited
 * with no completion (0 when none is outstanding). Loop thread. */
void store_commit_figures_get(const struct store *s, struct store_commit_figures *out,
                              uint64_t *stalled_ms);

/* Change the quota (SIGHUP). 0 = none. */
void store_set_quota(struct store *s, uint64_t quota_bytes);

/* True when the store's last committed size plus an estimate of what the
 * batches not yet committed add (their records' bytes) is at or over the
 * quota: the broker then refuses or drops new durable messages per its
 * policy. Loop thread; cheap (no I/O). */
bool store_over_quota(const struct store *s);

#endif
