/* store.c - the loop thread's side of the store: open/close and the format
 * check, batch building and completions. Reads are in store_read.c, the
 * writer thread in store_writer.c, layouts in store_schema.h.
 *
 * Sync modes and LMDB flags:
 * - STORE_SYNC_BATCH: LMDB's default durable commit. Its commit writes the
 *   data pages, fdatasyncs, then writes and syncs the meta page. Opening
 *   with MDB_NOSYNC and calling mdb_env_sync after each commit would save
 *   one sync, but then the new meta page can reach the disk before the
 *   pages it points to, and a power cut there corrupts the file (lmdb.h,
 *   MDB_NOSYNC). Both happen on the writer thread, once per merged group.
 * - STORE_SYNC_PERIODIC: MDB_NOSYNC; the writer syncs every periodic_ms.
 * - STORE_SYNC_NONE: MDB_NOSYNC | MDB_NOMETASYNC; only store_close syncs.
 * - STORE_SYNC_JOURNAL: LMDB as in NONE; each transaction is also a journal
 *   record, fdatasynced before its batches complete; checkpoints sync LMDB
 *   (store_journal.h). The risk BATCH avoids (a meta page on disk before its
 *   pages) is LMDB's here between checkpoints; see store_journal.h.
 * MDB_NOTLS because read transactions run on the loop thread and the
 * write transactions on the writer. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "store_codec.h"
#include "store_ckpt.h"
#include "store_journal.h"
#include "store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAP_SIZE_DEFAULT     (64ull << 20)
#define MAP_SIZE_MAX_DEFAULT (1ull << 30)
#define SPARE_BATCHES        4u
#define SPARE_ARENA_MAX      (1u << 20)

static const char *const db_names[STORE_DB_COUNT] = STORE_DB_NAMES;

/* ---- open / close ---- */

static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        return -ENAMETOOLONG;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            return -errno;
        }
        path[i] = c;
    }
    return 0;
}

static int config_error(const struct store *s, char *err, size_t errcap, const char *what)
{
    (void)snprintf(err, errcap,
                   "store %s/data.mdb: %s: move it away or run the matching tern version", s->dir,
                   what);
    return GW_E_CONFIG;
}

/* A store without the meta database: new if the environment is empty,
 * somebody else's otherwise. */
static int check_fresh(struct store *s, MDB_txn *txn, bool *fresh, char *err, size_t errcap)
{
    MDB_dbi main_dbi;
    MDB_stat st;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0) {
        rc = mdb_stat(txn, main_dbi, &st);
    }
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    if (st.ms_entries != 0) {
        return config_error(s, err, errcap, "no Tern format record (not a Tern store?)");
    }
    *fresh = true;
    return 0;
}

static int check_version(struct store *s, MDB_txn *txn, uint32_t *from, char *err, size_t errcap)
{
    MDB_val k = {strlen(STORE_META_VERSION_KEY), (void *)STORE_META_VERSION_KEY};
    MDB_val v;
    uint32_t version;
    char what[128];
    int rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        return config_error(s, err, errcap, "format record missing (damaged store?)");
    }
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    if (store_version_decode(v.mv_data, v.mv_size, &version) < 0) {
        return config_error(s, err, errcap, "format record damaged");
    }
    *from = version;
    if (version >= STORE_FORMAT_UPGRADES_FROM && version < STORE_FORMAT_VERSION) {
        /* Version 2 is version 3 with a refs record for every message, 3
         * is 4 without a journal, 4 is 5 with format-1 journal records
         * (open_dbs refuses one that still holds unapplied ones) and without
         * the checkpoint copy: all read as they are. The record says 5 from
         * now on (committed with the open), so an older tern refuses the
         * store instead of keeping every single-reference message for ever,
         * ignoring the journal's records or replaying them onto a torn
         * data.mdb. */
        uint8_t buf[STORE_VERSION_LEN];
        store_version_encode(buf, STORE_FORMAT_VERSION);
        MDB_val nv = {sizeof buf, buf};
        gw_log(GW_NOTICE, "store", "dir=%s format version %u upgraded to %u", s->dir, version,
               STORE_FORMAT_VERSION);
        return store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_META], &k, &nv, 0));
    }
    if (version != STORE_FORMAT_VERSION) {
        (void)snprintf(what, sizeof what, "format version %u, this tern reads version %u", version,
                       STORE_FORMAT_VERSION);
        return config_error(s, err, errcap, what);
    }
    return 0;
}

static int load_ids(struct store *s, MDB_txn *txn, bool fresh, char *err, size_t errcap)
{
    MDB_val k = {strlen(STORE_META_IDS_KEY), (void *)STORE_META_IDS_KEY};
    MDB_val v;
    uint8_t buf[STORE_IDS_LEN > STORE_VERSION_LEN ? STORE_IDS_LEN : STORE_VERSION_LEN];
    uint64_t max_msg = 0;
    uint64_t max_owner = 0;
    int rc;
    if (fresh) {
        MDB_val vk = {strlen(STORE_META_VERSION_KEY), (void *)STORE_META_VERSION_KEY};
        store_version_encode(buf, STORE_FORMAT_VERSION);
        v.mv_data = buf;
        v.mv_size = STORE_VERSION_LEN;
        rc = mdb_put(txn, s->dbi[STORE_DB_META], &vk, &v, 0);
        return store_mdb_err(rc);
    }
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (rc == 0 && store_ids_decode(v.mv_data, v.mv_size, &max_msg, &max_owner) < 0) {
        return config_error(s, err, errcap, "ids record damaged");
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return store_mdb_err(rc);
    }
    MDB_val jk = {strlen(STORE_META_JSEQ_KEY), (void *)STORE_META_JSEQ_KEY};
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &jk, &v);
    if (rc == 0 && store_u64_decode(v.mv_data, v.mv_size, &s->jseq) < 0) {
        return config_error(s, err, errcap, "jseq record damaged");
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return store_mdb_err(rc);
    }
    s->ids_saved_msg = max_msg;
    s->ids_saved_owner = max_owner;
    atomic_store(&s->max_msg_id, max_msg);
    atomic_store(&s->max_owner, max_owner);
    return 0;
}

/* Check the format record (writing it in a new store) and open every
 * database, in one write transaction that is aborted on any error. */
static int open_dbs(struct store *s, char *err, size_t errcap)
{
    MDB_txn *txn;
    bool fresh = false;
    uint32_t from = STORE_FORMAT_VERSION;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        return store_mdb_err(rc);
    }
    rc = mdb_dbi_open(txn, db_names[STORE_DB_META], 0, &s->dbi[STORE_DB_META]);
    if (rc == MDB_NOTFOUND) {
        rc = check_fresh(s, txn, &fresh, err, errcap);
    } else if (rc == MDB_INCOMPATIBLE) {
        rc = config_error(s, err, errcap, "\"meta\" is not a database (not a Tern store?)");
    } else if (rc == 0) {
        rc = check_version(s, txn, &from, err, errcap);
    } else {
        rc = store_mdb_err(rc);
    }
    for (int i = 0; i < STORE_DB_COUNT && rc == 0; i++) {
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
        if (rc == MDB_INCOMPATIBLE) {
            rc = config_error(s, err, errcap, "a database has the wrong type");
        } else {
            rc = store_mdb_err(rc);
        }
    }
    if (rc == 0) {
        rc = load_ids(s, txn, fresh, err, errcap);
    }
    if (rc == 0 && from < 5u) {
        /* Before the upgrade mark commits: an older journal with commits
         * LMDB may lack is refused while that tern can still open it. */
        rc = store_journal_check_old(s, err, errcap);
    }
    if (rc == 0) {
        atomic_store(&s->used_bytes, store_used_bytes(s, txn));
        rc = store_mdb_err(mdb_txn_commit(txn));
    } else {
        mdb_txn_abort(txn);
    }
    return rc;
}

static int open_env(struct store *s, const struct store_config *cfg, char *err, size_t errcap)
{
    unsigned flags = MDB_NOTLS;
    uint64_t map = cfg->map_size ? cfg->map_size : MAP_SIZE_DEFAULT;
    if (map > s->map_size_max) {
        map = s->map_size_max;
    }
    if (cfg->sync == STORE_SYNC_PERIODIC) {
        flags |= MDB_NOSYNC;
    } else if (cfg->sync == STORE_SYNC_NONE || cfg->sync == STORE_SYNC_JOURNAL) {
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    }
    int rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        (void)snprintf(err, errcap, "store %s: %s", s->dir, mdb_strerror(rc));
        return store_mdb_err(rc);
    }
    rc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT);
    if (rc == 0) {
        rc = mdb_env_set_mapsize(s->env, (size_t)map);
    }
    if (rc == 0) {
        rc = mdb_env_open(s->env, s->dir, flags, 0600);
    }
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED) {
        return config_error(s, err, errcap, mdb_strerror(rc));
    }
    if (rc != 0) {
        (void)snprintf(err, errcap, "store %s: %s", s->dir, mdb_strerror(rc));
        return store_mdb_err(rc);
    }
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0) {
        atomic_store(&s->map_bytes, (uint64_t)info.me_mapsize);
    }
    return 0;
}

static int init_sync(struct store *s)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        return -ENOMEM;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        return -rc;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_mutex_init(&s->done_mu, NULL) != 0 ||
        pthread_rwlock_init(&s->map_lock, NULL) != 0) {
        return -ENOMEM; /* glibc never fails these with NULL attributes */
    }
    return 0;
}

static void free_batch(struct store_batch *b)
{
    if (b) {
        gw_free(b->ops);
        gw_free(b->arena);
        gw_free(b);
    }
}

static void destroy(struct store *s, bool sync_inited)
{
    store_journal_close(s);
    store_ckpt_close(s); /* its reader before the environment */
    if (s->env) {
        mdb_env_close(s->env);
    }
    if (s->efd >= 0) {
        close(s->efd);
    }
    if (sync_inited) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->done_mu);
        pthread_rwlock_destroy(&s->map_lock);
    }
    while (s->in_head) { /* submitted by a callback during store_close */
        struct store_batch *b = s->in_head;
        s->in_head = b->next;
        free_batch(b);
    }
    while (s->spare) {
        struct store_batch *b = s->spare;
        s->spare = b->next;
        free_batch(b);
    }
    free_batch(s->cur);
    gw_free(s->refs.v);
    gw_free(s->qcounts.v);
    gw_free(s->dir);
    gw_free(s);
}

/* Replay the journal if there is one, then start the writer (after
 * init_sync: a replay may grow the map, which takes map_lock). */
static int start_writing(struct store *s, char *err, size_t errcap)
{
    if (s->journal_on || store_journal_exists(s)) {
        /* Also when the store was last used with the journal and is opened
         * now without it: its records are applied first. */
        int rc = store_journal_open(s, err, errcap);
        if (rc != 0) {
            return rc;
        }
    }
    if (!s->journal_on) {
        store_ckpt_drop(s); /* LMDB's own syncs are what is durable now */
    }
    int rc = store_writer_start(s);
    if (rc != 0) {
        (void)snprintf(err, errcap, "store %s: cannot start the writer: %s", s->dir,
                       gw_strerror(rc));
    }
    return rc;
}

int store_open(const struct store_config *cfg, struct store **out, char *err, size_t errcap)
{
    bool sync_inited = false;
    if (!cfg || !cfg->dir || !out || (unsigned)cfg->sync > STORE_SYNC_JOURNAL) {
        (void)snprintf(err, errcap, "store: invalid configuration");
        return -EINVAL;
    }
    struct store *s = gw_calloc(1, sizeof *s);
    if (!s) {
        (void)snprintf(err, errcap, "store %s: out of memory", cfg->dir);
        return -ENOMEM;
    }
    s->efd = -1;
    s->jfd = -1;
    s->ckfd = -1;
    s->sync = cfg->sync;
    s->journal_on = cfg->sync == STORE_SYNC_JOURNAL;
    s->periodic_ms = cfg->periodic_ms ? cfg->periodic_ms : 1000;
    s->map_size_max = cfg->map_size_max ? cfg->map_size_max : MAP_SIZE_MAX_DEFAULT;
    s->quota_bytes = cfg->quota_bytes;
    int rc = -ENOMEM;
    s->dir = gw_strdup(cfg->dir);
    if (!s->dir) {
        (void)snprintf(err, errcap, "store %s: out of memory", cfg->dir);
        goto fail;
    }
    rc = mkdir_p(s->dir);
    if (rc != 0) {
        (void)snprintf(err, errcap, "store %s: cannot create directory: %s", s->dir,
                       gw_strerror(rc));
        goto fail;
    }
    /* Before LMDB reads data.mdb's meta pages (store_ckpt.h). */
    rc = store_ckpt_restore(s, err, errcap);
    rc = rc == 0 ? open_env(s, cfg, err, errcap) : rc;
    if (rc == 0) {
        rc = open_dbs(s, err, errcap);
        if (rc != 0 && rc != GW_E_CONFIG) {
            (void)snprintf(err, errcap, "store %s: cannot open: %s", s->dir, gw_strerror(rc));
        }
    }
    if (rc != 0) {
        goto fail;
    }
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        rc = -errno;
        (void)snprintf(err, errcap, "store %s: eventfd: %s", s->dir, gw_strerror(rc));
        goto fail;
    }
    rc = init_sync(s);
    sync_inited = rc == 0;
    if (rc != 0) {
        (void)snprintf(err, errcap, "store %s: cannot start the writer: %s", s->dir,
                       gw_strerror(rc));
        goto fail;
    }
    rc = start_writing(s, err, errcap);
    if (rc != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    destroy(s, sync_inited);
    return rc;
}

void store_close(struct store *s)
{
    if (!s) {
        return;
    }
    if (s->cur && s->cur->nops > 0) {
        struct store_batch *b = s->cur;
        s->cur = NULL;
        b->done = NULL;
        b->arg = NULL;
        store_writer_submit(s, b);
    }
    store_writer_stop(s); /* applies everything submitted */
    store_process_completions(s);
    int rc = mdb_env_sync(s->env, 1);
    if (rc != 0) {
        gw_log(GW_ERROR, "store", "dir=%s sync at close failed: %s", s->dir, mdb_strerror(rc));
    } else if (s->journal_on && (rc = store_ckpt_save(s, true)) != 0) {
        /* The next open puts the last checkpoint back and replays. */
        gw_log(GW_WARN, "store", "dir=%s checkpoint copy at close failed: %s", s->dir,
               gw_strerror(rc));
    }
    destroy(s, true);
}

int store_event_fd(const struct store *s)
{
    return s->efd;
}

/* ---- batch building ---- */

struct store_batch *store_batch_get(struct store *s)
{
    if (s->cur) {
        return s->cur;
    }
    struct store_batch *b = s->spare;
    if (b) {
        s->spare = b->next;
        s->nspare--;
    } else {
        b = gw_calloc(1, sizeof *b);
        if (!b) {
            return NULL;
        }
    }
    b->next = NULL;
    s->cur = b;
    return b;
}

static void batch_recycle(struct store *s, struct store_batch *b)
{
    if (s->nspare >= SPARE_BATCHES || b->arena_cap > SPARE_ARENA_MAX) {
        free_batch(b);
        return;
    }
    b->nops = 0;
    b->used = 0;
    b->grow = 0;
    b->done = NULL;
    b->arg = NULL;
    b->next = s->spare;
    s->spare = b;
    s->nspare++;
}

bool store_batch_empty(const struct store *s)
{
    return !s->cur || s->cur->nops == 0;
}

size_t store_batch_ops(const struct store *s)
{
    return s->cur ? s->cur->nops : 0;
}

const double store_latency_bounds_s[STORE_LATENCY_BUCKETS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
const double store_batch_bounds_ops[STORE_BATCH_BUCKETS] = {1,  2,   4,   8,    16,   32,
                                                            64, 128, 256, 1024, 4096, 16384};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t bucket_of(const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i]) {
        i++;
    }
    return i;
}

/* A batch completed: count its wait and size (loop thread). */
static void note_completion(struct store *s, const struct store_batch *b, uint64_t now)
{
    struct store_commit_figures *f = &s->figs;
    double wait_s = now > b->submit_ns ? (double)(now - b->submit_ns) / 1e9 : 0.0;
    f->latency_bucket[bucket_of(store_latency_bounds_s, STORE_LATENCY_BUCKETS, wait_s)]++;
    f->latency_sum_s += wait_s;
    f->batch_bucket[bucket_of(store_batch_bounds_ops, STORE_BATCH_BUCKETS, (double)b->nops)]++;
    f->batch_ops_sum += b->nops;
    f->completed++;
    f->failed += b->rc != 0;
    f->last_rc = b->rc;
    s->progress_ns = now;
}

void store_commit_figures_get(const struct store *s, struct store_commit_figures *out,
                              uint64_t *stalled_ms)
{
    *out = s->figs;
    uint64_t now = mono_ns();
    bool waiting = s->figs.submitted > s->figs.completed;
    *stalled_ms = waiting && now > s->progress_ns ? (now - s->progress_ns) / 1000000u : 0;
}

int store_commit(struct store *s, store_done_cb *done, void *arg)
{
    struct store_batch *b = store_batch_get(s);
    if (!b) {
        return -ENOMEM;
    }
    s->cur = NULL;
    b->done = done;
    b->arg = arg;
    s->pending_grow += b->grow;
    b->submit_ns = mono_ns();
    if (s->figs.submitted == s->figs.completed) {
        s->progress_ns = b->submit_ns; /* the writer was idle: the wait starts now */
    }
    s->figs.submitted++;
    store_writer_submit(s, b);
    return 0;
}

void store_process_completions(struct store *s)
{
    uint64_t n;
    if (read(s->efd, &n, sizeof n) < 0 && errno != EAGAIN) {
        gw_log(GW_ERROR, "store", "dir=%s eventfd read failed errno=%d", s->dir, errno);
    }
    pthread_mutex_lock(&s->done_mu);
    struct store_batch *b = s->done_head;
    s->done_head = NULL;
    s->done_tail = NULL;
    pthread_mutex_unlock(&s->done_mu);
    uint64_t now = b ? mono_ns() : 0;
    while (b) {
        struct store_batch *next = b->next;
        s->pending_grow -= b->grow <= s->pending_grow ? b->grow : s->pending_grow;
        note_completion(s, b, now);
        if (b->done) {
            b->done(b->arg, b->rc);
        }
        batch_recycle(s, b);
        b = next;
    }
}
