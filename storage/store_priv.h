/* store_priv.h - what store.c (loop side) and store_writer.c (writer thread)
 * share. Included only inside storage/.
 *
 * Threads and ownership:
 * - s->cur and s->spare belong to the loop thread.
 * - A committed batch belongs to the writer from store_writer_submit until
 *   it is on the done list; store_process_completions (loop) takes it back.
 * - in_head/in_tail/stop are guarded by mu (+ cv); done_head/done_tail by
 *   done_mu. Counters the loop reads are atomics.
 * - map_lock: loop-thread read transactions hold it for reading; the writer
 *   holds it for writing while it grows the map (mdb_env_set_mapsize needs
 *   no transaction active in the process). */
#ifndef STORE_PRIV_H
#define STORE_PRIV_H

#include "store.h"
#include "store_schema.h"

#include <pthread.h>
#include <stdatomic.h>

#include <lmdb.h>

enum store_op_type {
    STORE_OP_MSG_PUT = 1,
    STORE_OP_QUEUE_ADD,
    STORE_OP_QUEUE_DEL,
    STORE_OP_QUEUE_TRIM,
    STORE_OP_INFLIGHT_PUT,
    STORE_OP_INFLIGHT_DEL,
    STORE_OP_SESSION_PUT,
    STORE_OP_SESSION_DEL,
    STORE_OP_SUB_PUT,
    STORE_OP_SUB_DEL,
    STORE_OP_RETAIN_PUT,
    STORE_OP_RETAIN_DEL,
    STORE_OP_LINK_PUT,
    STORE_OP_LINK_DEL
};

/* One operation: its key (and value for puts) already encoded into the
 * batch arena, plus what the writer needs for reference counts. */
struct store_op {
    size_t key_off;
    size_t key_len;
    size_t val_off;
    size_t val_len;
    uint64_t owner;  /* queue/inflight/session/sub ops; max_owner tracking */
    uint64_t seq;    /* QUEUE_TRIM: upto_seq */
    uint64_t msg_id; /* the message the op references or puts, 0 = none */
    uint8_t type;    /* enum store_op_type */
};

/* A batch: ops plus one arena for their bytes (no allocation per op). */
struct store_batch {
    struct store_batch *next;
    struct store_op *ops;
    size_t nops;
    size_t ops_cap;
    uint8_t *arena;
    size_t used;
    size_t arena_cap;
    store_done_cb *done;
    void *arg;
    int rc;
    uint64_t grow;      /* bytes its put ops add (an estimate, for the quota) */
    uint64_t submit_ns; /* CLOCK_MONOTONIC at store_commit (commit latency) */
};

/* (id, delta) pairs collected during one batch and applied at its end. */
struct store_delta {
    uint64_t id;
    int64_t delta;
    bool fresh; /* refs: the message was created in this batch (no count yet) */
};

struct store_deltas {
    struct store_delta *v;
    size_t n;
    size_t cap;
};

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    char *dir;
    enum store_sync sync;
    uint32_t periodic_ms;
    uint64_t map_size_max;
    uint64_t quota_bytes;
    int efd;

    /* loop thread only */
    struct store_batch *cur;
    uint64_t pending_grow;            /* grow of the batches submitted, not completed */
    struct store_batch *spare;        /* recycled batches, kept for their buffers */
    struct store_commit_figures figs; /* store_commit_figures_get */
    uint64_t progress_ns;             /* last commit or completion, for stalled_ms */
    unsigned nspare;

    /* writer input, guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct store_batch *in_head;
    struct store_batch *in_tail;
    bool stop;
    bool thread_started;
    pthread_t thread;

    /* writer output, guarded by done_mu */
    pthread_mutex_t done_mu;
    struct store_batch *done_head;
    struct store_batch *done_tail;

    pthread_rwlock_t map_lock;

    /* writer thread only */
    struct store_deltas refs;
    struct store_deltas qcounts;
    uint64_t ids_saved_msg; /* max ids as last written to meta */
    uint64_t ids_saved_owner;
    bool dirty;           /* committed since the last sync (PERIODIC) */
    uint64_t sync_due_ms; /* CLOCK_MONOTONIC time of the next PERIODIC sync */

    /* commit journal (STORE_SYNC_JOURNAL, store_journal.h): open and
     * replay run before the writer starts, then the writer alone uses it */
    bool journal_on;
    bool replaying; /* applying journal records: do not log them again */
    int jfd;
    uint64_t joff;  /* where the next record goes */
    uint64_t jsize; /* file size */
    uint64_t jseq;  /* seq of the last record applied to LMDB ("jseq" in meta) */
    uint8_t *jbuf;  /* record being written */
    size_t jcap;
    int ckfd;         /* "checkpoint" (store_ckpt.h), -1 = none */
    bool ck_locked;   /* this tern holds its flock */
    MDB_txn *ck_pin;  /* reader on the last checkpoint's state (writer thread) */

    /* written by the writer, read by the loop */
    _Atomic uint64_t used_bytes;
    _Atomic uint64_t map_bytes;
    _Atomic uint64_t max_msg_id;
    _Atomic uint64_t max_owner;
    _Atomic uint64_t batches;
    _Atomic uint64_t batch_ops_max;
    _Atomic uint64_t batch_ops_total;
    _Atomic uint64_t txns;
    _Atomic uint64_t jrecords;    /* journal records written since open */
    _Atomic uint64_t jbytes;      /* their bytes */
    _Atomic uint64_t checkpoints; /* journal checkpoints since open */
    _Atomic uint64_t jreplayed;   /* records replayed at open */
};

/* Map an LMDB or errno-style code to Tern's space: 0, -errno, -ENOSPC for
 * MDB_MAP_FULL, -EIO for other LMDB errors. */
int store_mdb_err(int rc);

/* Start / stop (drain, join) the writer thread. stop is idempotent. */
int store_writer_start(struct store *s);
void store_writer_stop(struct store *s);

/* Hand b to the writer (loop thread). Never fails. */
void store_writer_submit(struct store *s, struct store_batch *b);

/* Apply count batches from first in one transaction that records seq as
 * the store's jseq, without journaling them again (replay at open, before
 * the writer thread starts). 0 or an error of our space. */
int store_writer_replay(struct store *s, struct store_batch *first, size_t count, uint64_t seq);

/* PERIODIC: sync LMDB now. JOURNAL: a checkpoint (store_journal_rewind
 * after a successful sync). Writer thread. */
void store_writer_sync(struct store *s);

/* The batch being built (loop thread), created or recycled when there is
 * none. NULL when out of memory. */
struct store_batch *store_batch_get(struct store *s);

/* Append an op of type with key_len + val_len arena bytes to the current
 * batch; *key and *val point at them (store_ops.c). NULL (out of memory)
 * leaves the batch as it was. Loop thread. */
struct store_op *store_batch_add(struct store *s, uint8_t type, size_t key_len, size_t val_len,
                                 uint8_t **key, uint8_t **val);

/* Sum of pages in use by every database x page size (any txn). */
uint64_t store_used_bytes(struct store *s, MDB_txn *txn);

#endif
