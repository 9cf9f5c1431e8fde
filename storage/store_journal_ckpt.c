/* store_journal_ckpt.c - the journal's side of each writer transaction:
 * the record's seq kept in LMDB, the append after the commit, and when a
 * checkpoint (an LMDB sync, then the journal written again from its start)
 * is due. See store_journal.h. Writer thread only. */
#include "gw_err.h"
#include "log.h"
#include "store_codec.h"
#include "store_journal.h"

#include <string.h>
#include <time.h>

static MDB_val val_of(void *p, size_t n)
{
    MDB_val v = {n, p};
    return v;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The journal record this transaction comes from (store_journal.h): one
 * 8-byte value in a page LMDB rewrites in the page cache at every commit
 * anyway (NOSYNC), so it costs no write to the disk of its own. */
int store_journal_save_seq(struct store *s, MDB_txn *txn, uint64_t seq)
{
    uint8_t vb[STORE_COUNT_LEN];
    store_u64_encode(vb, seq);
    MDB_val k = val_of((void *)STORE_META_JSEQ_KEY, strlen(STORE_META_JSEQ_KEY));
    MDB_val v = val_of(vb, sizeof vb);
    return mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
}

/* JOURNAL: the transaction is in LMDB (not on disk); its record in the
 * journal, synced, is what makes it durable. If that fails the batches are
 * reported failed (no acknowledgement), though LMDB shows them and a
 * checkpoint keeps them: a publisher then sends again and a subscriber may
 * see a duplicate, never a loss. A checkpoint follows when
 * the journal is full, or STORE_JOURNAL_CKPT_MS after the first commit
 * since the last one (wait_for_work). */
int store_journal_after_commit(struct store *s, struct store_batch *first, size_t count)
{
    int rc = store_journal_log(s, first, count, s->jseq);
    if (rc != 0) {
        gw_log(GW_ERROR, "store", "dir=%s journal write failed: %s", s->dir, gw_strerror(rc));
        /* LMDB has this transaction's jseq but the journal lacks its
         * record: without a checkpoint now, a replay would stop at the gap
         * and lose the acknowledged records after it. */
        store_writer_sync(s);
        return rc;
    }
    if (!s->dirty) {
        s->dirty = true;
        s->sync_due_ms = now_ms() + STORE_JOURNAL_CKPT_MS;
    }
    if (s->joff >= STORE_JOURNAL_CKPT_BYTES) {
        store_writer_sync(s);
    }
    return 0;
}

void store_journal_rewind(struct store *s)
{
    s->joff = 0;
    atomic_fetch_add(&s->checkpoints, 1);
}
