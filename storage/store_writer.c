/* store_writer.c - the writer thread: applies batches in write transactions.
 *
 * The writer takes every batch queued so far and applies them in one write
 * transaction (group commit: one commit and, in STORE_SYNC_BATCH, one
 * durable sync for all of them), then hands them back to the loop through
 * the done list and the eventfd, each with its own result, in order.
 *
 * Reference counts and queue lengths change by deltas collected while a
 * batch's operations run and applied at the end of that batch (not of the
 * whole transaction), so whether a message survives does not depend on
 * which batches happened to be merged: a message with no reference at the
 * end of its batch is deleted.
 *
 * MDB_MAP_FULL aborts the transaction, doubles the map (up to map_size_max)
 * and retries; at the maximum the result is -ENOSPC. A merged group that
 * fails with -ENOSPC is retried batch by batch, so a small batch (a delete)
 * is not failed because a large one was merged with it. A failed
 * transaction is aborted: nothing of its batches is written. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "store_codec.h"
#include "store_ckpt.h"
#include "store_journal.h"
#include "store_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What one transaction has seen so far. */
struct wtxn {
    MDB_txn *txn;
    uint64_t max_msg_id; /* largest id its operations use */
    uint64_t max_owner;
    uint64_t saved_msg; /* the bounds in meta once it commits */
    uint64_t saved_owner;
};

int store_mdb_err(int rc)
{
    if (rc == 0) {
        return 0;
    }
    if (rc == MDB_MAP_FULL) {
        return -ENOSPC;
    }
    if (rc > 0) {
        return -rc;
    }
    if (rc <= GW_E_BASE && rc > GW_E_LAST) {
        return rc; /* already ours (GW_E_MALFORMED from a decoder) */
    }
    if (rc < 0 && rc > -4000) {
        return rc; /* -errno from our own helpers */
    }
    return -EIO;
}

static int delta_add(struct store_deltas *d, uint64_t id, int64_t delta)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct store_delta *v = gw_realloc(d->v, cap * sizeof *v);
        if (!v) {
            return -ENOMEM;
        }
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n].id = id;
    d->v[d->n].delta = delta;
    d->v[d->n].fresh = false;
    d->n++;
    return 0;
}

static int delta_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct store_delta *)a)->id;
    uint64_t y = ((const struct store_delta *)b)->id;
    return (x > y) - (x < y);
}

static int ref(struct store *s, uint64_t msg_id, int64_t delta)
{
    return msg_id ? delta_add(&s->refs, msg_id, delta) : 0;
}

/* A message created in this batch: its count starts at 0, and the end of
 * the batch checks it has a reference (a 0 delta). */
static int ref_fresh(struct store *s, uint64_t msg_id)
{
    int rc = delta_add(&s->refs, msg_id, 0);
    if (rc == 0) {
        s->refs.v[s->refs.n - 1].fresh = true;
    }
    return rc;
}

static MDB_val val_of(void *p, size_t n)
{
    MDB_val v = {n, p};
    return v;
}

static MDB_val op_key(const struct store_batch *b, const struct store_op *op)
{
    return val_of(b->arena + op->key_off, op->key_len);
}

static MDB_val op_val(const struct store_batch *b, const struct store_op *op)
{
    return val_of(b->arena + op->val_off, op->val_len);
}

static int del_notfound_ok(MDB_txn *txn, MDB_dbi dbi, MDB_val *k)
{
    int rc = mdb_del(txn, dbi, k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The reference count of message id before this batch's deltas: its refs
 * record, or 1 when it has none (a message with one reference, the usual
 * single destination, keeps no refs record: one B-tree less per message in
 * every commit, issue 15), or 0 for a fresh one. *has_rec says whether a
 * record exists; MDB_NOTFOUND: no such message. */
static int ref_count_get(struct store *s, MDB_txn *txn, MDB_val *k, bool fresh, uint32_t *count,
                         bool *has_rec)
{
    MDB_val v;
    *has_rec = false;
    *count = 0;
    if (fresh) {
        return 0;
    }
    int rc = mdb_get(txn, s->dbi[STORE_DB_REFS], k, &v);
    if (rc == 0) {
        *has_rec = true;
        return store_ref_decode(v.mv_data, v.mv_size, count) < 0 ? GW_E_MALFORMED : 0;
    }
    if (rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = mdb_get(txn, s->dbi[STORE_DB_MSGS], k, &v);
    *count = rc == 0 ? 1u : 0u;
    return rc;
}

/* Store count c for message k (the refs record had it already when same,
 * exists when has_rec): 0 deletes the message, 1 keeps it without a refs
 * record, more writes the count. */
static int set_ref_count(struct store *s, MDB_txn *txn, MDB_val *k, uint32_t c, bool same,
                         bool has_rec)
{
    if (c == 0) {
        int rc = del_notfound_ok(txn, s->dbi[STORE_DB_MSGS], k);
        return rc || !has_rec ? rc : mdb_del(txn, s->dbi[STORE_DB_REFS], k, NULL);
    }
    if (c == 1) {
        return has_rec ? mdb_del(txn, s->dbi[STORE_DB_REFS], k, NULL) : 0;
    }
    if (same) {
        return 0;
    }
    uint8_t vb[STORE_REFVAL_LEN];
    store_ref_encode(vb, c);
    MDB_val v = val_of(vb, sizeof vb);
    return mdb_put(txn, s->dbi[STORE_DB_REFS], k, &v, 0);
}

/* Apply the summed reference delta of one message at the end of a batch:
 * 0 deletes the message, 1 keeps it without a refs record, more writes the
 * count. */
static int apply_ref(struct store *s, MDB_txn *txn, uint64_t id, int64_t delta, bool fresh)
{
    uint8_t kb[STORE_ID_LEN];
    uint32_t count;
    bool has_rec;
    store_id_encode(kb, id);
    MDB_val k = val_of(kb, sizeof kb);
    int rc = ref_count_get(s, txn, &k, fresh, &count, &has_rec);
    if (rc == MDB_NOTFOUND && delta > 0) {
        gw_log(GW_WARN, "store", "reference to missing message msg=%llu", (unsigned long long)id);
    }
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc == GW_E_MALFORMED) {
        gw_log(GW_ERROR, "store", "damaged refs record msg=%llu", (unsigned long long)id);
    }
    if (rc != 0) {
        return rc;
    }
    int64_t c = (int64_t)count + delta;
    if (c < 0 || c > (int64_t)UINT32_MAX) {
        gw_log(GW_WARN, "store", "refcount out of range msg=%llu count=%lld",
               (unsigned long long)id, (long long)c);
        c = c < 0 ? 0 : (int64_t)UINT32_MAX;
    }
    return set_ref_count(s, txn, &k, (uint32_t)c, has_rec && c == (int64_t)count, has_rec);
}

static int apply_qcount(struct store *s, MDB_txn *txn, uint64_t owner, int64_t delta, bool fresh)
{
    (void)fresh;
    uint8_t kb[STORE_ID_LEN];
    uint8_t vb[STORE_COUNT_LEN];
    uint64_t count = 0;
    store_id_encode(kb, owner);
    MDB_val k = val_of(kb, sizeof kb);
    MDB_val v;
    int rc = mdb_get(txn, s->dbi[STORE_DB_QCOUNT], &k, &v);
    if (rc == 0 && store_u64_decode(v.mv_data, v.mv_size, &count) < 0) {
        gw_log(GW_WARN, "store", "damaged qcount record owner=%llu: reset",
               (unsigned long long)owner);
        count = 0;
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    int64_t c = (int64_t)count + delta;
    if (c <= 0) {
        return del_notfound_ok(txn, s->dbi[STORE_DB_QCOUNT], &k);
    }
    store_u64_encode(vb, (uint64_t)c);
    v = val_of(vb, sizeof vb);
    return mdb_put(txn, s->dbi[STORE_DB_QCOUNT], &k, &v, 0);
}

typedef int delta_apply_fn(struct store *s, MDB_txn *txn, uint64_t id, int64_t delta, bool fresh);

/* Sort the deltas by id, sum each id's run, apply, empty the list. */
static int flush_deltas(struct store *s, MDB_txn *txn, struct store_deltas *d, delta_apply_fn *fn)
{
    int rc = 0;
    if (d->n == 0) {
        return 0;
    }
    qsort(d->v, d->n, sizeof *d->v, delta_cmp);
    for (size_t i = 0; i < d->n && rc == 0;) {
        uint64_t id = d->v[i].id;
        int64_t sum = 0;
        bool fresh = false;
        while (i < d->n && d->v[i].id == id) {
            fresh = fresh || d->v[i].fresh;
            sum += d->v[i++].delta;
        }
        /* A count that did not change needs no look-up: a replayed message
         * moves its one reference from its queue entry to its inflight
         * record in one batch (-1 +1), and two B-tree reads per message
         * were spent learning that nothing changed (issue 15). */
        if (sum != 0 || fresh) {
            rc = fn(s, txn, id, sum, fresh);
        }
    }
    d->n = 0;
    return rc;
}

static int op_msg_put(struct store *s, struct wtxn *w, const struct store_batch *b,
                      const struct store_op *op)
{
    MDB_val k = op_key(b, op);
    MDB_val v = op_val(b, op);
    int rc = mdb_put(w->txn, s->dbi[STORE_DB_MSGS], &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        return 0; /* stored already: a no-op */
    }
    if (op->msg_id > w->max_msg_id) {
        w->max_msg_id = op->msg_id;
    }
    /* No refs record yet: the end of the batch writes one only for a count
     * over 1, and deletes the message if nothing references it. */
    return rc ? rc : ref_fresh(s, op->msg_id);
}

/* Put the op's record; the old record's message (if any) loses a reference
 * and the new one gains one. decode_old reads the old record's msg_id. */
static int put_replacing(struct store *s, struct wtxn *w, MDB_dbi dbi, const struct store_batch *b,
                         const struct store_op *op, bool *existed)
{
    MDB_val k = op_key(b, op);
    MDB_val old;
    int rc = mdb_get(w->txn, dbi, &k, &old);
    *existed = rc == 0;
    if (rc == 0) {
        uint64_t old_id = 0;
        struct store_qentry qe;
        struct store_inflight fe;
        if (dbi == s->dbi[STORE_DB_QUEUES] &&
            store_qval_decode(old.mv_data, old.mv_size, &qe) == 0) {
            old_id = qe.msg_id;
        } else if (dbi == s->dbi[STORE_DB_INFLIGHT] &&
                   store_ifval_decode(old.mv_data, old.mv_size, &fe) == 0) {
            old_id = fe.msg_id;
        } else if (dbi == s->dbi[STORE_DB_RETAINED]) {
            (void)store_u64_decode(old.mv_data, old.mv_size, &old_id);
        }
        rc = ref(s, old_id, -1);
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (rc == 0) {
        MDB_val v = op_val(b, op);
        rc = mdb_put(w->txn, dbi, &k, &v, 0);
    }
    if (op->owner > w->max_owner) {
        w->max_owner = op->owner;
    }
    return rc ? rc : ref(s, op->msg_id, 1);
}

/* Delete the op's record, releasing the reference it held. */
static int del_releasing(struct store *s, struct wtxn *w, MDB_dbi dbi, const struct store_batch *b,
                         const struct store_op *op, bool *existed)
{
    MDB_val k = op_key(b, op);
    MDB_val old;
    uint64_t old_id = 0;
    int rc = mdb_get(w->txn, dbi, &k, &old);
    *existed = rc == 0;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    struct store_qentry qe;
    struct store_inflight fe;
    if (dbi == s->dbi[STORE_DB_QUEUES] && store_qval_decode(old.mv_data, old.mv_size, &qe) == 0) {
        old_id = qe.msg_id;
    } else if (dbi == s->dbi[STORE_DB_INFLIGHT] &&
               store_ifval_decode(old.mv_data, old.mv_size, &fe) == 0) {
        old_id = fe.msg_id;
    } else if (dbi == s->dbi[STORE_DB_RETAINED]) {
        (void)store_u64_decode(old.mv_data, old.mv_size, &old_id);
    }
    rc = mdb_del(w->txn, dbi, &k, NULL);
    return rc ? rc : ref(s, old_id, -1);
}

/* Release the reference held by one record about to be deleted by a range
 * walk (queue entry or inflight record). */
static int release_record(struct store *s, enum store_db db, uint64_t owner, const MDB_val *v)
{
    if (db == STORE_DB_QUEUES) {
        struct store_qentry qe;
        int rc = delta_add(&s->qcounts, owner, -1);
        if (rc == 0 && store_qval_decode(v->mv_data, v->mv_size, &qe) == 0) {
            rc = ref(s, qe.msg_id, -1);
        }
        return rc;
    }
    if (db == STORE_DB_INFLIGHT) {
        struct store_inflight fe;
        if (store_ifval_decode(v->mv_data, v->mv_size, &fe) == 0) {
            return ref(s, fe.msg_id, -1);
        }
    }
    return 0;
}

/* Delete every record of db whose key starts with be64 owner (for queues:
 * and whose seq <= upto), releasing what they hold. */
static int del_owner_range(struct store *s, MDB_txn *txn, enum store_db db, uint64_t owner,
                           uint64_t upto)
{
    MDB_cursor *c;
    uint8_t kb[STORE_QKEY_LEN];
    int rc = mdb_cursor_open(txn, s->dbi[db], &c);
    if (rc != 0) {
        return rc;
    }
    store_id_encode(kb, owner);
    MDB_val k = val_of(kb, STORE_ID_LEN);
    MDB_val v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < STORE_ID_LEN || gw_be64(kp) != owner) {
            break;
        }
        if (db == STORE_DB_QUEUES && k.mv_size == STORE_QKEY_LEN && gw_be64(kp + 8) > upto) {
            break;
        }
        rc = release_record(s, db, owner, &v);
        if (rc == 0) {
            rc = mdb_cursor_del(c, 0);
        }
        if (rc == 0) {
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int op_session_del(struct store *s, struct wtxn *w, const struct store_batch *b,
                          const struct store_op *op)
{
    MDB_val k = op_key(b, op);
    int rc = del_notfound_ok(w->txn, s->dbi[STORE_DB_SESSIONS], &k);
    if (rc == 0) {
        rc = del_owner_range(s, w->txn, STORE_DB_SUBS, op->owner, UINT64_MAX);
    }
    if (rc == 0) {
        rc = del_owner_range(s, w->txn, STORE_DB_QUEUES, op->owner, UINT64_MAX);
    }
    if (rc == 0) {
        rc = del_owner_range(s, w->txn, STORE_DB_INFLIGHT, op->owner, UINT64_MAX);
    }
    if (rc == 0) {
        rc = del_owner_range(s, w->txn, STORE_DB_LINKS, op->owner, UINT64_MAX);
    }
    return rc;
}

static int op_plain_put(struct store *s, struct wtxn *w, enum store_db db,
                        const struct store_batch *b, const struct store_op *op)
{
    MDB_val k = op_key(b, op);
    MDB_val v = op_val(b, op);
    if (op->owner > w->max_owner) {
        w->max_owner = op->owner;
    }
    return mdb_put(w->txn, s->dbi[db], &k, &v, 0);
}

static int apply_op(struct store *s, struct wtxn *w, const struct store_batch *b,
                    const struct store_op *op)
{
    MDB_val k = op_key(b, op);
    bool existed = false;
    int rc;
    switch (op->type) {
    case STORE_OP_MSG_PUT:
        return op_msg_put(s, w, b, op);
    case STORE_OP_QUEUE_ADD:
        rc = put_replacing(s, w, s->dbi[STORE_DB_QUEUES], b, op, &existed);
        return rc || existed ? rc : delta_add(&s->qcounts, op->owner, 1);
    case STORE_OP_QUEUE_DEL:
        rc = del_releasing(s, w, s->dbi[STORE_DB_QUEUES], b, op, &existed);
        return rc || !existed ? rc : delta_add(&s->qcounts, op->owner, -1);
    case STORE_OP_QUEUE_TRIM:
        return del_owner_range(s, w->txn, STORE_DB_QUEUES, op->owner, op->seq);
    case STORE_OP_INFLIGHT_PUT:
        return put_replacing(s, w, s->dbi[STORE_DB_INFLIGHT], b, op, &existed);
    case STORE_OP_INFLIGHT_DEL:
        return del_releasing(s, w, s->dbi[STORE_DB_INFLIGHT], b, op, &existed);
    case STORE_OP_SESSION_PUT:
        return op_plain_put(s, w, STORE_DB_SESSIONS, b, op);
    case STORE_OP_SESSION_DEL:
        return op_session_del(s, w, b, op);
    case STORE_OP_SUB_PUT:
        return op_plain_put(s, w, STORE_DB_SUBS, b, op);
    case STORE_OP_SUB_DEL:
        return del_notfound_ok(w->txn, s->dbi[STORE_DB_SUBS], &k);
    case STORE_OP_RETAIN_PUT:
        return put_replacing(s, w, s->dbi[STORE_DB_RETAINED], b, op, &existed);
    case STORE_OP_RETAIN_DEL:
        return del_releasing(s, w, s->dbi[STORE_DB_RETAINED], b, op, &existed);
    case STORE_OP_LINK_PUT:
        return op_plain_put(s, w, STORE_DB_LINKS, b, op);
    case STORE_OP_LINK_DEL:
        return del_notfound_ok(w->txn, s->dbi[STORE_DB_LINKS], &k);
    default:
        return -EINVAL;
    }
}

static int apply_batch(struct store *s, struct wtxn *w, const struct store_batch *b)
{
    int rc = 0;
    s->refs.n = 0;
    s->qcounts.n = 0;
    for (size_t i = 0; i < b->nops && rc == 0; i++) {
        rc = apply_op(s, w, b, &b->ops[i]);
    }
    if (rc == 0) {
        rc = flush_deltas(s, w->txn, &s->refs, apply_ref);
    }
    if (rc == 0) {
        rc = flush_deltas(s, w->txn, &s->qcounts, apply_qcount);
    }
    return rc;
}

/* Persist the id bounds in meta when this transaction went past them. A
 * bound is saved ahead of the ids in use (STORE_IDS_AHEAD_*), so the meta
 * database is written once per that many new ids, not in every commit:
 * with one message per commit it was one page of every commit's writes
 * (issue 15). Ids continue above the saved bound after a restart; the ones
 * skipped are never used, and a 64-bit id does not run out. */
static int save_ids(struct store *s, struct wtxn *w)
{
    if (w->max_msg_id <= s->ids_saved_msg && w->max_owner <= s->ids_saved_owner) {
        return 0;
    }
    uint64_t m = w->max_msg_id > s->ids_saved_msg ? w->max_msg_id + STORE_IDS_AHEAD_MSG
                                                  : s->ids_saved_msg;
    uint64_t o = w->max_owner > s->ids_saved_owner ? w->max_owner + STORE_IDS_AHEAD_OWNER
                                                   : s->ids_saved_owner;
    uint8_t vb[STORE_IDS_LEN];
    store_ids_encode(vb, m, o);
    MDB_val k = val_of((void *)STORE_META_IDS_KEY, strlen(STORE_META_IDS_KEY));
    MDB_val v = val_of(vb, sizeof vb);
    w->saved_msg = m;
    w->saved_owner = o;
    return mdb_put(w->txn, s->dbi[STORE_DB_META], &k, &v, 0);
}

uint64_t store_used_bytes(struct store *s, MDB_txn *txn)
{
    uint64_t pages = 0;
    uint64_t psize = 4096;
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        MDB_stat st;
        if (mdb_stat(txn, s->dbi[i], &st) == 0) {
            pages += (uint64_t)st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
            psize = st.ms_psize;
        }
    }
    return (pages + 2) * psize; /* + the two meta pages */
}

/* Double the map up to map_size_max. No transaction may be active in the
 * process: the loop's readers hold map_lock for reading around theirs. */
static int grow_map(struct store *s)
{
    MDB_envinfo info;
    int rc = mdb_env_info(s->env, &info);
    if (rc != 0) {
        return rc;
    }
    uint64_t cur = info.me_mapsize;
    if (cur >= s->map_size_max) {
        return -ENOSPC;
    }
    uint64_t next = cur * 2 < s->map_size_max ? cur * 2 : s->map_size_max;
    pthread_rwlock_wrlock(&s->map_lock);
    rc = mdb_env_set_mapsize(s->env, (size_t)next);
    pthread_rwlock_unlock(&s->map_lock);
    if (rc != 0) {
        gw_log(GW_ERROR, "store", "dir=%s map growth to %llu failed: %s", s->dir,
               (unsigned long long)next, mdb_strerror(rc));
        return rc;
    }
    atomic_store(&s->map_bytes, next);
    gw_log(GW_INFO, "store", "dir=%s map grown from %llu to %llu bytes", s->dir,
           (unsigned long long)cur, (unsigned long long)next);
    return 0;
}

static int try_txn(struct store *s, struct store_batch *first, size_t count, uint64_t *used)
{
    struct wtxn w = {NULL, 0, 0, s->ids_saved_msg, s->ids_saved_owner};
    int rc = mdb_txn_begin(s->env, NULL, 0, &w.txn);
    if (rc != 0) {
        return rc;
    }
    struct store_batch *b = first;
    for (size_t i = 0; i < count && rc == 0; i++, b = b->next) {
        rc = apply_batch(s, &w, b);
    }
    if (rc == 0) {
        rc = save_ids(s, &w);
    }
    bool journaled = s->journal_on || s->replaying; /* replays in any mode */
    if (rc == 0 && journaled) {
        rc = store_journal_save_seq(s, w.txn, s->jseq + 1);
    }
    if (rc != 0) {
        mdb_txn_abort(w.txn);
        return rc;
    }
    *used = store_used_bytes(s, w.txn);
    rc = mdb_txn_commit(w.txn); /* frees the txn on failure too */
    if (rc == 0) {
        s->jseq += journaled ? 1u : 0u;
        s->ids_saved_msg = w.saved_msg;
        s->ids_saved_owner = w.saved_owner;
        if (w.max_msg_id > atomic_load(&s->max_msg_id)) {
            atomic_store(&s->max_msg_id, w.max_msg_id);
        }
        if (w.max_owner > atomic_load(&s->max_owner)) {
            atomic_store(&s->max_owner, w.max_owner);
        }
    }
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* PERIODIC: sync LMDB. JOURNAL: a checkpoint: once LMDB is on disk the
 * records before it are no longer needed and the journal starts again at
 * its beginning (a failed sync keeps the journal as it is). */
void store_writer_sync(struct store *s)
{
    int rc = mdb_env_sync(s->env, 1);
    if (rc != 0) {
        gw_log(GW_ERROR, "store", "dir=%s sync failed: %s", s->dir, mdb_strerror(rc));
    } else if (s->journal_on && (rc = store_ckpt_save(s, false)) != 0) {
        /* The journal keeps its records since the last copy, whose pages
         * stay pinned: a restart goes back to that one (store_ckpt.h). */
        gw_log(GW_ERROR, "store", "dir=%s checkpoint copy failed: %s", s->dir, gw_strerror(rc));
    } else if (s->journal_on) {
        store_journal_rewind(s);
    }
    s->dirty = false;
}

/* Apply count batches from first in one transaction, growing the map as
 * needed. Returns 0 or an error of our space. */
static int apply_txn(struct store *s, struct store_batch *first, size_t count)
{
    uint64_t used = 0;
    int rc;
    for (;;) {
        rc = try_txn(s, first, count, &used);
        if (rc != MDB_MAP_FULL) {
            break;
        }
        rc = grow_map(s);
        if (rc != 0) {
            break;
        }
    }
    if (rc != 0) {
        rc = store_mdb_err(rc);
        gw_log(GW_WARN, "store", "dir=%s write of %zu batch(es) failed rc=%d (%s)", s->dir, count,
               rc, gw_strerror(rc));
        return rc;
    }
    atomic_fetch_add(&s->txns, 1);
    atomic_store(&s->used_bytes, used);
    if (s->journal_on && !s->replaying) {
        return store_journal_after_commit(s, first, count);
    }
    if (s->sync == STORE_SYNC_PERIODIC && !s->dirty) {
        s->dirty = true;
        s->sync_due_ms = now_ms() + s->periodic_ms;
    }
    return 0;
}

int store_writer_replay(struct store *s, struct store_batch *first, size_t count, uint64_t seq)
{
    s->replaying = true;
    s->jseq = seq - 1; /* the transaction records seq */
    int rc = apply_txn(s, first, count);
    s->replaying = false;
    return rc;
}

static void count_batch(struct store *s, const struct store_batch *b)
{
    atomic_fetch_add(&s->batches, 1);
    atomic_fetch_add(&s->batch_ops_total, b->nops);
    if (b->nops > atomic_load(&s->batch_ops_max)) {
        atomic_store(&s->batch_ops_max, b->nops);
    }
}

static void complete(struct store *s, struct store_batch *first, struct store_batch *last)
{
    pthread_mutex_lock(&s->done_mu);
    if (s->done_tail) {
        s->done_tail->next = first;
    } else {
        s->done_head = first;
    }
    s->done_tail = last;
    pthread_mutex_unlock(&s->done_mu);
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) < 0 && errno != EAGAIN) {
        gw_log(GW_ERROR, "store", "dir=%s eventfd write failed errno=%d", s->dir, errno);
    }
}

static void run_group(struct store *s, struct store_batch *first)
{
    size_t count = 0;
    struct store_batch *last = first;
    for (struct store_batch *b = first; b; b = b->next) {
        count++;
        last = b;
    }
    int rc = apply_txn(s, first, count);
    if (rc == -ENOSPC && count > 1) {
        /* Alone, the small batches (deletes) may still fit. */
        for (struct store_batch *b = first; b; b = b->next) {
            b->rc = apply_txn(s, b, 1);
        }
    } else {
        for (struct store_batch *b = first; b; b = b->next) {
            b->rc = rc;
        }
    }
    for (struct store_batch *b = first; b; b = b->next) {
        if (b->rc == 0) {
            count_batch(s, b);
        }
    }
    complete(s, first, last);
}

static void wait_for_work(struct store *s)
{
    while (!s->in_head && !s->stop) {
        if (!s->dirty) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        uint64_t due = s->sync_due_ms;
        if (now_ms() >= due) {
            pthread_mutex_unlock(&s->mu);
            store_writer_sync(s);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        struct timespec ts = {(time_t)(due / 1000u), (long)(due % 1000u) * 1000000L};
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        wait_for_work(s);
        struct store_batch *group = s->in_head;
        if (!group) {
            break; /* stopping and drained */
        }
        s->in_head = NULL;
        s->in_tail = NULL;
        pthread_mutex_unlock(&s->mu);
        run_group(s, group);
        if (s->dirty && now_ms() >= s->sync_due_ms) {
            store_writer_sync(s); /* PERIODIC under a steady stream of batches */
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int store_writer_start(struct store *s)
{
    int rc = pthread_create(&s->thread, NULL, writer_main, s);
    if (rc != 0) {
        return -rc;
    }
    s->thread_started = true;
    return 0;
}

void store_writer_stop(struct store *s)
{
    if (!s->thread_started) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

void store_writer_submit(struct store *s, struct store_batch *b)
{
    b->next = NULL;
    b->rc = 0;
    pthread_mutex_lock(&s->mu);
    if (s->in_tail) {
        s->in_tail->next = b;
    } else {
        s->in_head = b;
    }
    s->in_tail = b;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
