/* store_schema.h - the on-disk layout of Tern's LMDB store.
 *
 * One LMDB environment (a directory: data.mdb + lock.mdb) with the named
 * databases below. Every integer is big-endian and fixed width, so LMDB's
 * default memcmp key order is numeric order and cursors walk a queue, an
 * owner's records or the message ids in order. No record is ever rewritten
 * in place by anything but the writer thread (store_writer.c).
 *
 * Changing anything here means bumping STORE_FORMAT_VERSION: a store of
 * another version is refused at open (GW_E_CONFIG), never converted or wiped
 * (except STORE_FORMAT_UPGRADES_FROM, which reads as the current version
 * and is only marked with it).
 *
 * meta      key "version"  -> "TERN" be32 version                    (8 bytes)
 *           key "jseq"     -> be64 seq of the last journal record applied
 *           (version 4: absent = 0; written only with STORE_SYNC_JOURNAL)
 * journal   a file beside data.mdb (store_journal_codec.h): the records the
 *           store has made durable but LMDB may not have on disk yet; a
 *           version-3 tern would ignore it and lose them, hence version 4.
 * checkpoint a file beside data.mdb (store_ckpt.h): data.mdb's meta pages at
 *           the journal's last checkpoint, put back at open after an
 *           unclean stop. A version-4 tern would not, and would apply the
 *           journal onto a data.mdb a power cut may have torn, hence 5.
 *           Version 5: its records are format 2. A version-4 store whose
 *           journal still holds format-1 records newer than "jseq" (its
 *           tern was killed or lost power) is refused, not marked, so that
 *           tern can apply them first; after a clean stop it is marked 5.
 *           key "ids"      -> be64 max_msg_id, be64 max_owner        (16 bytes)
 *           "version" is written once when the store is created; a store
 *           without it (or with a damaged one) is refused. "ids" keeps a
 *           bound at or above the largest message id and owner ever stored,
 *           so new ids continue above them after the records themselves are
 *           deleted. The writer saves it STORE_IDS_AHEAD_* ahead of the ids
 *           in use, so it is rewritten once per that many ids, not per
 *           commit (the same meaning: no version bump).
 * msgs      be64 id -> u8 qos, u8 flags (bit 0 retain, others 0), be64 expiry_s,
 *           be64 created_s, be16 topic_len, be32 payload_len, be32 props_len,
 *           topic, payload, props                           (28 bytes + data)
 * refs      be64 id -> be32 refcount                                 (4 bytes)
 *           The count is kept apart from the message so a reference change
 *           rewrites 4 bytes, not the payload (LMDB copies every page it
 *           touches). Only counts over 1 have a record (version 3): a
 *           message without one has exactly one reference, so the usual
 *           single-destination message touches one B-tree less per commit.
 *           A message with count 0 at the end of the batch that touched it
 *           is deleted, with its record. (Version 2 had a record for every
 *           message; it reads the same and is marked 3 at open.)
 * queues    be64 owner, be64 seq -> be64 msg_id, u8 qos, u8 flags    (10 bytes)
 *           Each entry holds one reference on msg_id.
 * qcount    be64 owner -> be64 entries in the owner's queue          (8 bytes)
 *           Maintained by the writer on add/del/trim, so store_load reports
 *           queue lengths in O(sessions), not O(entries). No record = 0.
 * sessions  be64 owner -> u8 protocol, be32 expiry_s, be64 disconnected_s,
 *           be16 next_pid, be16 client_id_len, be32 extra_len,
 *           client_id, extra                                (21 bytes + data)
 *           No client_id -> owner index: the broker loads every session at
 *           start and keeps its own table.
 * subs      be64 owner, filter bytes -> u8 qos, u8 options, be32 sub_id (6 bytes)
 *           filter is 1..STORE_FILTER_MAX bytes (LMDB's key limit is 511).
 * inflight  be64 owner, u8 dir, be16 pid -> u8 qos, u8 state, be64 msg_id,
 *           be64 seq                                                 (18 bytes)
 *           Keyed by pid so a PUBACK/PUBREC/PUBCOMP deletes in O(log n);
 *           resend order is seq, so store_load gathers one owner's records
 *           (bounded by the client's Receive Maximum) and sorts them by
 *           (seq, dir, pid) in memory. A record with msg_id != 0 holds one
 *           reference (STORE_OUT; STORE_IN records carry 0).
 * retained  topic bytes -> be64 msg_id                               (8 bytes)
 *           topic is 1..STORE_TOPIC_KEY_MAX bytes; holds one reference.
 * links     be64 owner, key bytes -> value bytes
 *           A front-end's own per-session records, opaque to the store
 *           (MQTT-SN: one per registered topic id), so a change rewrites one
 *           small record instead of the whole session. key is
 *           1..STORE_FILTER_MAX bytes. Deleted with the session.
 *           Added without a version bump on purpose: a store of version 2
 *           made before it opens with it created empty (nothing to
 *           convert), and an older binary never opens it (it loses only
 *           what lives there, e.g. MQTT-SN topic ids, never a message).
 */
#ifndef STORE_SCHEMA_H
#define STORE_SCHEMA_H

/* 2: msgs carry created_s; 3: refs only for counts over 1; 4: meta "jseq"
 * and the commit journal file; 5: journal records of format 2 ("TJR2",
 * varint ops, store_journal_codec.h), which a version-4 tern would take for
 * the journal's end and so lose, and the checkpoint file. */
#define STORE_FORMAT_VERSION       5u
#define STORE_FORMAT_UPGRADES_FROM 2u /* 2..4 are opened and marked 5: nothing to convert */
#define STORE_MAGIC          "TERN"

/* LMDB's default maximum key size (mdb_env_get_maxkeysize) is 511 bytes. */
#define STORE_KEY_MAX       511u
#define STORE_TOPIC_KEY_MAX STORE_KEY_MAX
#define STORE_FILTER_MAX    (STORE_KEY_MAX - 8u)

#define STORE_META_VERSION_KEY "version"
#define STORE_META_IDS_KEY     "ids"
#define STORE_META_JSEQ_KEY    "jseq" /* be64: last journal record applied (version 4) */
#define STORE_IDS_AHEAD_MSG    65536u /* message ids the saved bound runs ahead */
#define STORE_IDS_AHEAD_OWNER  1024u  /* owners the saved bound runs ahead */

enum store_db {
    STORE_DB_META = 0,
    STORE_DB_MSGS,
    STORE_DB_REFS,
    STORE_DB_QUEUES,
    STORE_DB_QCOUNT,
    STORE_DB_SESSIONS,
    STORE_DB_SUBS,
    STORE_DB_INFLIGHT,
    STORE_DB_RETAINED,
    STORE_DB_LINKS,
    STORE_DB_COUNT
};

/* Names of the databases, indexed by enum store_db. */
#define STORE_DB_NAMES                                                                             \
    {                                                                                              \
        "meta", "msgs", "refs", "queues", "qcount", "sessions", "subs", "inflight", "retained",    \
                "links"                                                                    \
    }

#endif
