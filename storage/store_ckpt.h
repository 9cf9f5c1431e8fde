/* store_ckpt.h - what makes the journal safe against a power cut
 * (store_sync STORE_SYNC_JOURNAL). Included only inside storage/.
 *
 * Between checkpoints LMDB commits without syncing (store_journal.h). If
 * the kernel writes back some of those pages and the power then fails,
 * data.mdb on disk can hold a meta page that points at pages never written,
 * or pages of the last synced state overwritten by later commits; LMDB
 * keeps no checksums and would open that. Two rules close it:
 *
 * - At each checkpoint, once mdb_env_sync returned, the two meta pages of
 *   data.mdb (pages 0 and 1: the synced state K and its predecessor) are
 *   copied into the file "checkpoint" with a CRC-32 and fdatasynced, and a
 *   read transaction is opened on K and held until the next checkpoint. A
 *   live reader is what keeps LMDB from reusing any page of K (it reuses
 *   only pages freed before the oldest reader's snapshot), so K's tree stays
 *   on disk as it was synced, whatever else is written back.
 * - At open, before LMDB reads data.mdb, meta pages that differ from the
 *   copy are put back: LMDB opens at K, and the journal, written again from
 *   its start after K, replays what came after. After a kill -9 this gives
 *   the same state LMDB had; after a power cut the state every synced
 *   journal record describes. A clean close writes the copy once more,
 *   marked clean, and such a copy is never put back: what changed data.mdb
 *   after a clean stop (a tool, tern --store-info) stands.
 *
 * The copy is moved only once it is durable (the old pin is held until
 * then), so a cut while writing it leaves data.mdb exactly at K with a
 * valid old copy whose pages are still pinned, or a torn copy that fails
 * its CRC, in which case nothing after K was committed and data.mdb is
 * opened as it is. The cost: one fdatasync of 8 KiB per checkpoint, and
 * data.mdb grows by the pages one checkpoint interval rewrites.
 *
 * "checkpoint" is held under flock(LOCK_EX) by the tern that owns the
 * store; a second opener (tern --store-info of a running tern) finds it
 * locked and never restores. Opened without the journal, the store's copy
 * is removed once the journal has been applied and LMDB synced: from then
 * on LMDB's own syncs are what is durable. */
#ifndef STORE_CKPT_H
#define STORE_CKPT_H

#include "store_priv.h"

#define STORE_CKPT_FILE "checkpoint"

/* Before LMDB opens: take the lock on s->dir's "checkpoint" (created when
 * the store uses the journal), and if the journal exists and data.mdb's
 * meta pages differ from a valid copy, put the copy back (logged). Returns
 * 0 or an error with a line in err (a store that cannot be made consistent
 * is not opened). */
int store_ckpt_restore(struct store *s, char *err, size_t errcap);

/* After mdb_env_sync returned 0 (journal mode, no write transaction open):
 * copy the meta pages, sync the copy, move the pin to the synced state.
 * clean (store_close, the writer stopped): the copy says so, and the next
 * open puts nothing back. 0 or -errno / -EIO; on error the old copy and
 * pin stay. */
int store_ckpt_save(struct store *s, bool clean);

/* Opened without the journal, after the journal was applied and LMDB
 * synced: remove the copy (when this tern holds its lock). */
void store_ckpt_drop(struct store *s);

/* Release the pin (before mdb_env_close) and the file. */
void store_ckpt_close(struct store *s);

#endif
