/* store_read.c - the loop thread's reads: store_load, store_queue_read and
 * store_stats. Each runs in one short read-only transaction, holding
 * map_lock for reading so the writer never resizes the map under it
 * (store_priv.h). Views handed to callbacks point into the map and die when
 * the callback returns. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "store_codec.h"
#include "store_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const db_names[STORE_DB_COUNT] = STORE_DB_NAMES;

/* ---- reads ---- */

static int read_begin(struct store *s, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&s->map_lock);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->map_lock);
        gw_log(GW_ERROR, "store", "dir=%s read txn: %s", s->dir, mdb_strerror(rc));
    }
    return store_mdb_err(rc);
}

static void read_end(struct store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->map_lock);
}

static int damaged(const struct store *s, enum store_db db, uint64_t id)
{
    gw_log(GW_ERROR, "store", "dir=%s damaged record db=%s id=%llu", s->dir, db_names[db],
           (unsigned long long)id);
    return GW_E_MALFORMED;
}

/* Fetch and decode message id. -ENOENT when missing. */
static int get_msg(struct store *s, MDB_txn *txn, uint64_t id, struct store_msg *m)
{
    uint8_t kb[STORE_ID_LEN];
    store_id_encode(kb, id);
    MDB_val k = {sizeof kb, kb};
    MDB_val v;
    int rc = mdb_get(txn, s->dbi[STORE_DB_MSGS], &k, &v);
    if (rc == MDB_NOTFOUND) {
        return -ENOENT;
    }
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    if (store_msg_decode(v.mv_data, v.mv_size, id, m) < 0) {
        return damaged(s, STORE_DB_MSGS, id);
    }
    return 0;
}

/* Position c on the first queue key >= (owner, seq); 0 and the decoded
 * entry when it belongs to owner, MDB_NOTFOUND otherwise. */
static int queue_seek(MDB_cursor *c, uint64_t owner, uint64_t seq, MDB_cursor_op op,
                      uint64_t *found_seq)
{
    uint8_t kb[STORE_QKEY_LEN];
    store_qkey_encode(kb, owner, seq);
    MDB_val k = {sizeof kb, kb};
    MDB_val v;
    int rc = mdb_cursor_get(c, &k, &v, op);
    uint64_t o;
    uint64_t sq;
    if (rc == 0 && (store_qkey_decode(k.mv_data, k.mv_size, &o, &sq) < 0 || o != owner)) {
        rc = MDB_NOTFOUND;
    }
    if (rc == 0) {
        *found_seq = sq;
    }
    return rc;
}

static int queue_bounds(struct store *s, MDB_txn *txn, MDB_cursor *c, uint64_t owner,
                        uint64_t *first, uint64_t *last, uint64_t *len)
{
    *first = *last = *len = 0;
    int rc = queue_seek(c, owner, 0, MDB_SET_RANGE, first);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    /* last: step back from the next owner's first key, or from the end. */
    uint8_t nb[STORE_QKEY_LEN];
    MDB_val k = {sizeof nb, nb};
    MDB_val v;
    uint64_t o = 0;
    rc = MDB_NOTFOUND;
    if (owner != UINT64_MAX) {
        store_qkey_encode(nb, owner + 1, 0);
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return store_mdb_err(rc);
    }
    rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    if (store_qkey_decode(k.mv_data, k.mv_size, &o, last) < 0 || o != owner) {
        return damaged(s, STORE_DB_QUEUES, owner);
    }
    uint8_t kb[STORE_ID_LEN];
    store_id_encode(kb, owner);
    k.mv_data = kb;
    k.mv_size = sizeof kb;
    rc = mdb_get(txn, s->dbi[STORE_DB_QCOUNT], &k, &v);
    if (rc == 0 && store_u64_decode(v.mv_data, v.mv_size, len) < 0) {
        return damaged(s, STORE_DB_QCOUNT, owner);
    }
    return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

static int load_sessions(struct store *s, MDB_txn *txn, const struct store_load_ops *ops, void *arg)
{
    MDB_cursor *c;
    MDB_cursor *qc;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_SESSIONS], &c);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    rc = mdb_cursor_open(txn, s->dbi[STORE_DB_QUEUES], &qc);
    if (rc != 0) {
        mdb_cursor_close(c);
        return store_mdb_err(rc);
    }
    MDB_val k;
    MDB_val v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    rc = 0;
    while (mrc == 0 && rc == 0) {
        struct store_session ss;
        uint64_t owner = 0;
        uint64_t first;
        uint64_t last;
        uint64_t len;
        if (store_id_decode(k.mv_data, k.mv_size, &owner) < 0 ||
            store_session_decode(v.mv_data, v.mv_size, owner, &ss) < 0) {
            rc = damaged(s, STORE_DB_SESSIONS, owner);
            break;
        }
        rc = queue_bounds(s, txn, qc, owner, &first, &last, &len);
        if (rc == 0) {
            rc = ops->session(arg, &ss, first, last, len);
        }
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(qc);
    mdb_cursor_close(c);
    return rc ? rc : (mrc == MDB_NOTFOUND ? 0 : store_mdb_err(mrc));
}

static int load_subs(struct store *s, MDB_txn *txn, const struct store_load_ops *ops, void *arg)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_SUBS], &c);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    MDB_val k;
    MDB_val v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (mrc == 0 && rc == 0) {
        struct store_sub sub;
        if (store_subkey_decode(k.mv_data, k.mv_size, &sub.owner, &sub.filter) < 0 ||
            store_subval_decode(v.mv_data, v.mv_size, &sub) < 0) {
            rc = damaged(s, STORE_DB_SUBS, k.mv_size >= 8 ? gw_be64(k.mv_data) : 0);
            break;
        }
        rc = ops->sub(arg, &sub);
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc ? rc : (mrc == MDB_NOTFOUND ? 0 : store_mdb_err(mrc));
}

static int load_links(struct store *s, MDB_txn *txn, const struct store_load_ops *ops, void *arg)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LINKS], &c);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    MDB_val k;
    MDB_val v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (mrc == 0 && rc == 0) {
        uint64_t owner;
        struct gw_bytes key;
        if (store_subkey_decode(k.mv_data, k.mv_size, &owner, &key) < 0) {
            rc = damaged(s, STORE_DB_LINKS, k.mv_size >= 8 ? gw_be64(k.mv_data) : 0);
            break;
        }
        rc = ops->link(arg, owner, key, (struct gw_bytes){v.mv_data, v.mv_size});
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc ? rc : (mrc == MDB_NOTFOUND ? 0 : store_mdb_err(mrc));
}

static int inflight_cmp(const void *a, const void *b)
{
    const struct store_inflight *x = a;
    const struct store_inflight *y = b;
    if (x->seq != y->seq) {
        return x->seq < y->seq ? -1 : 1;
    }
    if (x->dir != y->dir) {
        return x->dir < y->dir ? -1 : 1;
    }
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Sort one owner's inflight records by seq and hand them out. */
static int emit_inflight(struct store *s, MDB_txn *txn, const struct store_load_ops *ops, void *arg,
                         struct store_inflight *v, size_t n)
{
    qsort(v, n, sizeof *v, inflight_cmp);
    for (size_t i = 0; i < n; i++) {
        struct store_msg m;
        const struct store_msg *mp = NULL;
        if (v[i].msg_id != 0) {
            int rc = get_msg(s, txn, v[i].msg_id, &m);
            if (rc != 0 && rc != -ENOENT) {
                return rc;
            }
            mp = rc == 0 ? &m : NULL;
        }
        int rc = ops->inflight(arg, &v[i], mp);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

struct inflight_buf {
    struct store_inflight *v;
    size_t n;
    size_t cap;
};

static int inflight_push(struct inflight_buf *b, const struct store_inflight *f)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct store_inflight *v = gw_realloc(b->v, cap * sizeof *v);
        if (!v) {
            return -ENOMEM;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = *f;
    return 0;
}

static int load_inflight(struct store *s, MDB_txn *txn, const struct store_load_ops *ops, void *arg)
{
    struct inflight_buf buf = {NULL, 0, 0};
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_INFLIGHT], &c);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    MDB_val k;
    MDB_val v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (mrc == 0 && rc == 0) {
        struct store_inflight f;
        if (store_ifkey_decode(k.mv_data, k.mv_size, &f.owner, &f.dir, &f.pid) < 0 ||
            store_ifval_decode(v.mv_data, v.mv_size, &f) < 0) {
            rc = damaged(s, STORE_DB_INFLIGHT, k.mv_size >= 8 ? gw_be64(k.mv_data) : 0);
            break;
        }
        if (buf.n > 0 && buf.v[0].owner != f.owner) {
            rc = emit_inflight(s, txn, ops, arg, buf.v, buf.n);
            buf.n = 0;
        }
        if (rc == 0) {
            rc = inflight_push(&buf, &f);
        }
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc == 0 && mrc != MDB_NOTFOUND) {
        rc = store_mdb_err(mrc);
    }
    if (rc == 0 && buf.n > 0) {
        rc = emit_inflight(s, txn, ops, arg, buf.v, buf.n);
    }
    gw_free(buf.v);
    return rc;
}

/* A record naming a message that is not there: logged and skipped. */
static int orphan(const struct store *s, const char *db, uint64_t owner, uint64_t key)
{
    gw_log(GW_WARN, "store", "dir=%s %s record without its message owner=%llu key=%llu", s->dir, db,
           (unsigned long long)owner, (unsigned long long)key);
    return 0;
}

static int load_retained(struct store *s, MDB_txn *txn, const struct store_load_ops *ops, void *arg)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_RETAINED], &c);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    MDB_val k;
    MDB_val v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (mrc == 0 && rc == 0) {
        uint64_t id = 0;
        struct store_msg m;
        if (store_u64_decode(v.mv_data, v.mv_size, &id) < 0) {
            rc = damaged(s, STORE_DB_RETAINED, id);
            break;
        }
        rc = get_msg(s, txn, id, &m);
        if (rc == -ENOENT) {
            rc = orphan(s, "retained", 0, id);
        } else if (rc == 0) {
            rc = ops->retained(arg, &m);
        }
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc ? rc : (mrc == MDB_NOTFOUND ? 0 : store_mdb_err(mrc));
}

int store_load(struct store *s, const struct store_load_ops *ops, void *arg)
{
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc != 0) {
        return rc;
    }
    if (ops->session) {
        rc = load_sessions(s, txn, ops, arg);
    }
    if (rc == 0 && ops->sub) {
        rc = load_subs(s, txn, ops, arg);
    }
    if (rc == 0 && ops->inflight) {
        rc = load_inflight(s, txn, ops, arg);
    }
    if (rc == 0 && ops->retained) {
        rc = load_retained(s, txn, ops, arg);
    }
    if (rc == 0 && ops->link) {
        rc = load_links(s, txn, ops, arg);
    }
    read_end(s, txn);
    return rc;
}

static ssize_t queue_walk(struct store *s, MDB_txn *txn, MDB_cursor *c, uint64_t owner,
                          uint64_t after_seq, size_t max, store_queue_cb *cb, void *arg)
{
    uint64_t seq;
    ssize_t n = 0;
    int rc = queue_seek(c, owner, after_seq + 1, MDB_SET_RANGE, &seq);
    while (rc == 0 && (size_t)n < max) {
        MDB_val k;
        MDB_val v;
        struct store_qentry e = {.owner = owner, .seq = seq};
        struct store_msg m;
        rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
        if (rc == 0 && store_qval_decode(v.mv_data, v.mv_size, &e) < 0) {
            return damaged(s, STORE_DB_QUEUES, owner);
        }
        if (rc == 0) {
            rc = get_msg(s, txn, e.msg_id, &m);
        }
        if (rc == -ENOENT) {
            (void)orphan(s, "queues", owner, seq);
        } else if (rc == 0) {
            int crc = cb(arg, &e, &m);
            if (crc < 0) {
                return crc; /* the callback's own error, whatever it is */
            }
            n++;
        }
        if (rc != 0 && rc != -ENOENT) {
            return rc;
        }
        rc = queue_seek(c, owner, 0, MDB_NEXT, &seq);
    }
    return rc == 0 || rc == MDB_NOTFOUND ? n : store_mdb_err(rc);
}

ssize_t store_queue_read(struct store *s, uint64_t owner, uint64_t after_seq, size_t max,
                         store_queue_cb *cb, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *c;
    if (max == 0 || after_seq == UINT64_MAX) {
        return 0;
    }
    int rc = read_begin(s, &txn);
    if (rc != 0) {
        return rc;
    }
    rc = mdb_cursor_open(txn, s->dbi[STORE_DB_QUEUES], &c);
    if (rc != 0) {
        read_end(s, txn);
        return store_mdb_err(rc);
    }
    ssize_t n = queue_walk(s, txn, c, owner, after_seq, max, cb, arg);
    mdb_cursor_close(c);
    read_end(s, txn);
    return n;
}

static uint64_t entries(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    return mdb_stat(txn, dbi, &st) == 0 ? (uint64_t)st.ms_entries : 0;
}

int store_stats(struct store *s, struct store_stats *out)
{
    MDB_txn *txn;
    int rc = read_begin(s, &txn);
    if (rc != 0) {
        return rc;
    }
    struct store_stats st = {0};
    st.sessions = entries(txn, s->dbi[STORE_DB_SESSIONS]);
    st.queued = entries(txn, s->dbi[STORE_DB_QUEUES]);
    st.messages = entries(txn, s->dbi[STORE_DB_MSGS]);
    st.retained = entries(txn, s->dbi[STORE_DB_RETAINED]);
    st.inflight = entries(txn, s->dbi[STORE_DB_INFLIGHT]);
    read_end(s, txn);
    st.max_msg_id = atomic_load(&s->max_msg_id);
    st.max_owner = atomic_load(&s->max_owner);
    st.used_bytes = atomic_load(&s->used_bytes);
    st.map_bytes = atomic_load(&s->map_bytes);
    st.batches = atomic_load(&s->batches);
    st.batch_ops_max = atomic_load(&s->batch_ops_max);
    st.batch_ops_total = atomic_load(&s->batch_ops_total);
    st.journal = s->journal_on;
    st.journal_records = atomic_load(&s->jrecords);
    st.journal_bytes = atomic_load(&s->jbytes);
    st.journal_checkpoints = atomic_load(&s->checkpoints);
    st.journal_replayed = atomic_load(&s->jreplayed);
    *out = st;
    return 0;
}

void store_set_quota(struct store *s, uint64_t quota_bytes)
{
    s->quota_bytes = quota_bytes;
}

bool store_over_quota(const struct store *s)
{
    if (s->quota_bytes == 0) {
        return false;
    }
    /* What the last commit measured, plus what the batches on their way
     * to the writer will add: counted on the committed size alone, a busy
     * or slow writer let whole batches past the quota before it knew. */
    uint64_t ahead = s->pending_grow + (s->cur ? s->cur->grow : 0);
    return atomic_load(&s->used_bytes) + ahead >= s->quota_bytes;
}
