/* store_journal.h - the commit journal in front of LMDB (store_sync
 * STORE_SYNC_JOURNAL). Included only inside storage/.
 *
 * Each LMDB transaction of the writer is also appended to the file
 * "journal" in the store directory as one CRC-framed record
 * (store_journal_codec.h) and made durable with one fdatasync: that, not an
 * LMDB sync, is what makes the batches' acknowledgements durable. LMDB
 * commits without syncing (MDB_NOSYNC), so its pages are rewritten in the
 * page cache many times between checkpoints instead of reaching the disk
 * at every commit. A checkpoint (mdb_env_sync) runs when the journal holds
 * STORE_JOURNAL_CKPT_BYTES or STORE_JOURNAL_CKPT_MS after the first
 * unsynced commit, and at close; after it, the journal is written again
 * from offset 0. A record starts after its predecessor, or at the next
 * page when that dirties one page less (store_jrec_place): the page a
 * record ended in was synced already, and appending into it writes it
 * again (issue 15) (the file keeps its size: overwriting allocated blocks
 * needs no metadata write, which fdatasync would otherwise add).
 *
 * The LMDB meta database keeps the seq of the last record its transaction
 * came from ("jseq"); at open the records after it are applied again in
 * order (store_journal_replay). The journal ends at the first record that
 * is torn, fails its crc or does not follow its predecessor's seq (older
 * records of a previous cycle lie after the newest).
 *
 * The limit: between checkpoints LMDB commits without sync and reuses the
 * pages it freed, so if the kernel writes some of those pages back (memory
 * pressure, a sync(2), writeback older than vm.dirty_expire_centisecs,
 * 30 s by default and above the 5 s checkpoint) and the power then fails,
 * data.mdb can hold a meta page ahead of its pages; LMDB keeps no checksums
 * and cannot tell. A process crash (kill -9, abort) is safe: the page cache
 * holds every commit. The replay warns when LMDB was behind the journal,
 * which only a power cut or kernel crash causes. */
#ifndef STORE_JOURNAL_H
#define STORE_JOURNAL_H

#include "store_priv.h"

#define STORE_JOURNAL_FILE       "journal"
#define STORE_JOURNAL_DAMAGED    "journal.damaged"
/* The journal's room. A checkpoint rewrites LMDB's pages touched since the
 * last one (branches, the free list, the leaves being filled), so fewer of
 * them mean fewer bytes per message: 1 MiB gave 305 B per durable message
 * at 64 in flight, 4 MiB 293, 8 MiB 291 (issue 15, durable_bench.sh).
 * 4 MiB bounds what the replay at open reads into memory and applies
 * (about 30,000 queued 64-byte messages at worst, well under a second). */
#define STORE_JOURNAL_PREALLOC   (4u << 20) /* zeros written once when created */
#define STORE_JOURNAL_CKPT_BYTES (4u << 20)
#define STORE_JOURNAL_CKPT_MS    5000u

/* Open (creating and preallocating) the journal of s->dir and apply every
 * record newer than the store's jseq, then checkpoint. Called by store_open
 * before the writer starts. Without STORE_SYNC_JOURNAL the file is only
 * read (its records applied and synced) and closed. Returns 0 or an error
 * with a line in err. */
int store_journal_open(struct store *s, char *err, size_t errcap);

/* A store of format 4 or older is about to be marked with the current
 * format (store.c, before that commit): GW_E_CONFIG with a line in err if
 * its journal holds format-1 records newer than s->jseq (commits of the
 * older tern that LMDB may lack; their payload is not read any more), so
 * that the older tern can still open the store and apply them. 0 when
 * there is no such record or no journal. */
int store_journal_check_old(struct store *s, char *err, size_t errcap);

/* True when s->dir holds a journal file. */
bool store_journal_exists(const struct store *s);

/* Append the count batches from first (committed to LMDB as record seq)
 * as one record, fdatasync it. Writer thread. 0 or -errno. */
int store_journal_log(struct store *s, const struct store_batch *first, size_t count, uint64_t seq);

/* After a checkpoint: the next record goes to offset 0. */
void store_journal_rewind(struct store *s);

/* Put seq as the store's "jseq" into txn: the record this transaction is
 * logged as (store_journal_ckpt.c). Writer thread. An LMDB code. */
int store_journal_save_seq(struct store *s, MDB_txn *txn, uint64_t seq);

/* After the commit of count batches from first: append and sync their
 * record, then checkpoint when the journal is full; schedule the timed
 * checkpoint after the first commit since the last one. 0 or -errno (the
 * batches then fail: no acknowledgement). Writer thread. */
int store_journal_after_commit(struct store *s, struct store_batch *first, size_t count);

/* Close the file and free the record buffer. */
void store_journal_close(struct store *s);

#endif
