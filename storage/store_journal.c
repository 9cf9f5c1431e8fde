/* store_journal.c - the commit journal: file, append, replay at open. See
 * store_journal.h for what it guarantees and store_journal_codec.h for the
 * record layout. */
#include "store_journal.h"

#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "store_ckpt.h"
#include "store_journal_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* store_journal_codec.c has compact forms for these types, by number. */
_Static_assert(STORE_OP_MSG_PUT == 1 && STORE_OP_QUEUE_ADD == 2 && STORE_OP_QUEUE_DEL == 3 &&
                       STORE_OP_INFLIGHT_PUT == 5 && STORE_OP_INFLIGHT_DEL == 6 &&
                       STORE_OP_LINK_DEL == STORE_JOP_TYPE_MAX,
               "enum store_op_type and the journal codec disagree");

static int path_of(const struct store *s, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", s->dir, name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int write_all_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? -errno : -EIO;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Write zeros up to STORE_JOURNAL_PREALLOC once, so that appends overwrite
 * allocated blocks: an fdatasync then writes the data page alone, no
 * extent or size update (ext4, f2fs). Zeros read as "no record". */
static int preallocate(struct store *s, uint64_t size)
{
    static const uint8_t zeros[4096];
    for (uint64_t off = size; off < STORE_JOURNAL_PREALLOC; off += sizeof zeros) {
        int rc = write_all_at(s->jfd, zeros, sizeof zeros, off);
        if (rc != 0) {
            return rc;
        }
    }
    if (fdatasync(s->jfd) != 0) {
        return -errno;
    }
    s->jsize = STORE_JOURNAL_PREALLOC;
    return sync_dir(s->dir);
}

/* Read the whole file into a gw_alloc'ed buffer (*len may be 0). */
static int read_file(struct store *s, uint8_t **out, size_t *len)
{
    struct stat st;
    if (fstat(s->jfd, &st) != 0) {
        return -errno;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = gw_alloc(n ? n : 1);
    if (!buf) {
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->jfd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            gw_free(buf);
            return r < 0 ? -errno : -EIO;
        }
        got += (size_t)r;
    }
    *out = buf;
    *len = n;
    s->jsize = n;
    return 0;
}

static int reserve(struct store *s, size_t need)
{
    if (s->jcap >= need) {
        return 0;
    }
    size_t cap = s->jcap ? s->jcap : 4096;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *p = gw_realloc(s->jbuf, cap);
    if (!p) {
        return -ENOMEM;
    }
    s->jbuf = p;
    s->jcap = cap;
    return 0;
}

/* Encode the count batches from first as one payload at out (sized by the
 * caller with payload_bound). Returns its length. */
static size_t encode_payload(uint8_t *out, const struct store_batch *first, size_t count)
{
    struct store_jctx ctx = {0};
    size_t n = store_jvar_put(out, count);
    const struct store_batch *b = first;
    for (size_t i = 0; i < count; i++, b = b->next) {
        n += store_jvar_put(out + n, b->nops);
        for (size_t k = 0; k < b->nops; k++) {
            const struct store_op *op = &b->ops[k];
            struct store_jop jo = {op->type,
                                   op->owner,
                                   op->seq,
                                   op->msg_id,
                                   {b->arena + op->key_off, op->key_len},
                                   {b->arena + op->val_off, op->val_len}};
            n += store_jop_encode(out + n, op->key_len + op->val_len + STORE_JOP_MAX_OVER, &ctx,
                                  &jo);
        }
    }
    return n;
}

static size_t payload_bound(const struct store_batch *first, size_t count)
{
    size_t n = 10;
    const struct store_batch *b = first;
    for (size_t i = 0; i < count; i++, b = b->next) {
        n += STORE_JBATCH_MAX_OVER + b->nops * STORE_JOP_MAX_OVER + b->used;
    }
    return n;
}

int store_journal_log(struct store *s, const struct store_batch *first, size_t count, uint64_t seq)
{
    size_t bound = payload_bound(first, count);
    if (reserve(s, bound + STORE_JREC_OVER) != 0) {
        return -ENOMEM;
    }
    size_t plen = encode_payload(s->jbuf + STORE_JREC_HDR, first, count);
    if (plen > STORE_JREC_MAX) {
        return -EFBIG;
    }
    uint32_t crc = store_jrec_put_hdr(s->jbuf, seq, (uint32_t)plen);
    crc = store_crc32(crc, s->jbuf + STORE_JREC_HDR, plen);
    store_jrec_put_crc(s->jbuf + STORE_JREC_HDR + plen, crc);
    size_t n = plen + STORE_JREC_OVER;
    uint64_t at = store_jrec_place(s->joff, n);
    int rc = write_all_at(s->jfd, s->jbuf, n, at);
    if (rc == 0 && fdatasync(s->jfd) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        return rc;
    }
    s->joff = at + n;
    if (s->joff > s->jsize) {
        s->jsize = s->joff;
    }
    atomic_fetch_add(&s->jrecords, 1);
    atomic_fetch_add(&s->jbytes, n);
    return 0;
}

void store_journal_close(struct store *s)
{
    if (s->jfd >= 0) {
        close(s->jfd);
        s->jfd = -1;
    }
    gw_free(s->jbuf);
    s->jbuf = NULL;
    s->jcap = 0;
}

/* ---- replay ---- */

static int ensure_ops(struct store_batch *b, size_t nops)
{
    if (b->ops_cap >= nops) {
        return 0;
    }
    struct store_op *ops = gw_realloc(b->ops, (nops ? nops : 1) * sizeof *ops);
    if (!ops) {
        return -ENOMEM;
    }
    b->ops = ops;
    b->ops_cap = nops;
    return 0;
}

static int ensure_arena(struct store_batch *b, size_t need)
{
    if (b->arena_cap >= need) {
        return 0;
    }
    uint8_t *a = gw_realloc(b->arena, need ? need : 1);
    if (!a) {
        return -ENOMEM;
    }
    b->arena = a;
    b->arena_cap = need;
    return 0;
}

/* Rebuild the batch at payload[*pos..] into b (its buffers reused): one
 * pass measures the keys and values, the second rebuilds them into the
 * arena. *ctx moves on as the ops' deltas need. */
static int batch_from(struct store_batch *b, struct gw_bytes pl, size_t *pos,
                      struct store_jctx *ctx)
{
    uint64_t nops;
    if (store_jbatch_count(pl, pos, &nops) != 0) {
        return GW_E_MALFORMED;
    }
    struct store_jctx measure = *ctx;
    size_t need = 0;
    size_t p = *pos;
    struct store_jop jo;
    for (uint64_t i = 0; i < nops; i++) {
        ssize_t used = store_jop_decode(pl.p + p, pl.n - p, &measure, &jo, NULL, 0);
        if (used < 0) {
            return GW_E_MALFORMED;
        }
        p += (size_t)used;
        need += jo.key.n + jo.val.n;
    }
    if (ensure_ops(b, (size_t)nops) != 0 || ensure_arena(b, need) != 0) {
        return -ENOMEM;
    }
    b->nops = (size_t)nops;
    b->used = 0;
    for (uint64_t i = 0; i < nops; i++) {
        ssize_t used = store_jop_decode(pl.p + *pos, pl.n - *pos, ctx, &jo, b->arena + b->used,
                                        b->arena_cap - b->used);
        if (used < 0) {
            return GW_E_MALFORMED;
        }
        *pos += (size_t)used;
        size_t koff = b->used;
        b->ops[i] = (struct store_op){koff,     jo.key.n, koff + jo.key.n, jo.val.n,
                                      jo.owner, jo.seq,   jo.msg_id,       jo.type};
        b->used += jo.key.n + jo.val.n;
    }
    return 0;
}

/* Apply every batch of one record's payload in one transaction, as the
 * writer did, which also writes seq as the store's jseq: a crash during the
 * replay resumes with the first record not applied. *chain holds batches
 * reused from record to record. */
static int apply_record(struct store *s, struct store_batch **chain, struct gw_bytes payload,
                        uint64_t seq, uint64_t *batches)
{
    uint64_t count;
    size_t pos = 0;
    struct store_jctx ctx = {0};
    int rc = store_jpayload_count(payload, &pos, &count);
    struct store_batch **link = chain;
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        if (!*link) {
            *link = gw_calloc(1, sizeof **link);
            if (!*link) {
                return -ENOMEM;
            }
        }
        rc = batch_from(*link, payload, &pos, &ctx);
        link = &(*link)->next;
    }
    if (rc == 0 && count > 0) {
        rc = store_writer_replay(s, *chain, (size_t)count, seq);
        *batches += count;
    } else if (rc == 0) {
        s->jseq = seq; /* nothing to apply; the chain of seqs goes on */
    }
    return rc;
}

static void free_chain(struct store_batch *b)
{
    while (b) {
        struct store_batch *next = b->next;
        gw_free(b->ops);
        gw_free(b->arena);
        gw_free(b);
        b = next;
    }
}

/* Is there a record with a crc that checks anywhere in buf[from..len) and a
 * seq above last? Then the journal was damaged in the middle, not torn at
 * its end: acknowledged records after the damage are lost. */
static bool valid_record_after(const uint8_t *buf, size_t len, size_t from, uint64_t last)
{
    for (size_t i = from; i + STORE_JREC_OVER <= len; i++) {
        uint64_t seq;
        struct gw_bytes pl;
        unsigned ver;
        if (buf[i] == 0x54 && store_jrec_decode(buf + i, len - i, &seq, &pl, &ver) > 0 &&
            seq > last) {
            return true;
        }
    }
    return false;
}

/* The record after prev (any, when first) at *off or, where the writer
 * skipped to a page boundary (store_jrec_place), at the next boundary; the
 * bytes skipped hold whatever was there. A record with seq prev + 1 there
 * is the one: seqs are never reused, so an older cycle's record never has
 * it. Returns its length and moves *off to it, or -1 at the end. */
static ssize_t next_record(const uint8_t *buf, size_t len, size_t *off, bool first, uint64_t prev,
                           uint64_t *seq, struct gw_bytes *pl, unsigned *ver)
{
    size_t at = *off;
    for (int tries = 0; tries < 2 && at < len; tries++) {
        ssize_t used = store_jrec_decode(buf + at, len - at, seq, pl, ver);
        if (used > 0 && (first || *seq == prev + 1) &&
            (*ver == 1 || store_jpayload_check(*pl) == 0)) {
            *off = at;
            return used;
        }
        if (first || at % STORE_JREC_ALIGN == 0) {
            break;
        }
        at = at - at % STORE_JREC_ALIGN + STORE_JREC_ALIGN;
    }
    return -1;
}

struct replay_figs {
    uint64_t records;
    uint64_t batches;
    uint64_t skipped;
    size_t end;
    uint64_t last;
    bool old_pending; /* a format-1 record not applied yet */
};

/* Apply record seq (above the store's jseq); *gap when it does not follow
 * jseq: the records between are lost, the replay ends there. */
static int apply_next(struct store *s, struct store_batch **chain, struct gw_bytes pl, uint64_t seq,
                      struct replay_figs *f, bool *gap)
{
    if (seq != s->jseq + 1) {
        gw_log(GW_ERROR, "store", "dir=%s journal starts at seq=%llu, store has %llu", s->dir,
               (unsigned long long)seq, (unsigned long long)s->jseq);
        *gap = true;
        return 0;
    }
    int rc = apply_record(s, chain, pl, seq, &f->batches);
    f->records += rc == 0;
    return rc;
}

static int walk(struct store *s, const uint8_t *buf, size_t len, struct replay_figs *f)
{
    struct store_batch *chain = NULL;
    uint64_t prev = 0;
    bool first = true;
    int rc = 0;
    size_t off = 0;
    for (;;) {
        uint64_t seq;
        struct gw_bytes pl;
        unsigned ver;
        ssize_t used = next_record(buf, len, &off, first, prev, &seq, &pl, &ver);
        if (used < 0) {
            break; /* the end: torn, damaged, or an older cycle's record */
        }
        if (seq > s->jseq && ver == 1) {
            f->old_pending = true; /* refused: its payload is not read any more */
            rc = GW_E_CONFIG;
            break;
        }
        if (seq > s->jseq) {
            bool gap = false;
            rc = apply_next(s, &chain, pl, seq, f, &gap);
            if (rc != 0 || gap) {
                break;
            }
        } else {
            f->skipped++;
        }
        prev = seq;
        first = false;
        off += (size_t)used;
    }
    f->end = off;
    f->last = prev;
    free_chain(chain);
    return rc;
}

/* Copy the journal to STORE_JOURNAL_DAMAGED for whoever investigates (best
 * effort: the replay goes on either way). */
static void keep_copy(const struct store *s)
{
    char from[4096];
    char to[4096];
    if (path_of(s, STORE_JOURNAL_FILE, from, sizeof from) != 0 ||
        path_of(s, STORE_JOURNAL_DAMAGED, to, sizeof to) != 0) {
        return;
    }
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    uint8_t chunk[4096];
    ssize_t r;
    while (in >= 0 && out >= 0 && (r = read(in, chunk, sizeof chunk)) > 0) {
        if (write(out, chunk, (size_t)r) != r) {
            break;
        }
    }
    if (in >= 0) {
        close(in);
    }
    if (out >= 0) {
        (void)fsync(out);
        close(out);
    }
}

static void old_journal_error(const struct store *s, char *err, size_t errcap)
{
    (void)snprintf(err, errcap,
                   "store %s/%s: written by an older tern (journal format 1) and holds commits "
                   "not in data.mdb yet: start that tern once and stop it cleanly (it "
                   "checkpoints), then this one",
                   s->dir, STORE_JOURNAL_FILE);
}

static int replay(struct store *s, char *err, size_t errcap)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    struct replay_figs f = {0};
    int rc = read_file(s, &buf, &len);
    if (rc == 0) {
        rc = walk(s, buf, len, &f);
    }
    if (rc != 0) {
        gw_free(buf);
        if (f.old_pending) {
            old_journal_error(s, err, errcap);
        } else {
            (void)snprintf(err, errcap, "store %s/%s: replay failed: %s", s->dir,
                           STORE_JOURNAL_FILE, gw_strerror(rc));
        }
        return rc;
    }
    bool damaged = valid_record_after(buf, len, f.end, f.last > s->jseq ? f.last : s->jseq);
    gw_free(buf);
    if (damaged) {
        gw_log(GW_ERROR, "store",
               "dir=%s journal damaged at offset %zu: records after it are lost; a copy is "
               "kept as %s",
               s->dir, f.end, STORE_JOURNAL_DAMAGED);
        keep_copy(s);
    }
    atomic_store(&s->jreplayed, f.records);
    if (f.records > 0) {
        /* LMDB was behind the journal: tern stopped without closing the
         * store (a crash, kill -9, a power cut) and store_ckpt_restore put
         * data.mdb back at its last checkpoint, or the power failed before
         * LMDB's own write-back. */
        gw_log(GW_WARN, "store",
               "dir=%s journal replayed records=%llu batches=%llu already_stored=%llu "
               "end_offset=%zu: the store was not closed cleanly",
               s->dir, (unsigned long long)f.records, (unsigned long long)f.batches,
               (unsigned long long)f.skipped, f.end);
    } else if (f.skipped > 0 || damaged) {
        gw_log(GW_NOTICE, "store",
               "dir=%s journal replayed records=0 batches=0 already_stored=%llu end_offset=%zu",
               s->dir, (unsigned long long)f.skipped, f.end);
    }
    return 0;
}

int store_journal_check_old(struct store *s, char *err, size_t errcap)
{
    char path[4096];
    uint8_t *buf = NULL;
    size_t len = 0;
    if (path_of(s, STORE_JOURNAL_FILE, path, sizeof path) != 0) {
        return 0;
    }
    s->jfd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->jfd < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    int rc = read_file(s, &buf, &len);
    close(s->jfd);
    s->jfd = -1;
    s->jsize = 0;
    bool pending = false;
    for (size_t off = 0; rc == 0 && off < len && !pending;) {
        uint64_t seq;
        struct gw_bytes pl;
        unsigned ver;
        ssize_t used = store_jrec_decode(buf + off, len - off, &seq, &pl, &ver);
        if (used < 0) {
            break; /* format 1 wrote its records one after another */
        }
        pending = ver == 1 && seq > s->jseq;
        off += (size_t)used;
    }
    gw_free(buf);
    if (pending) {
        old_journal_error(s, err, errcap);
        return GW_E_CONFIG;
    }
    return rc;
}

bool store_journal_exists(const struct store *s)
{
    char path[4096];
    return path_of(s, STORE_JOURNAL_FILE, path, sizeof path) == 0 && access(path, F_OK) == 0;
}

int store_journal_open(struct store *s, char *err, size_t errcap)
{
    char path[4096];
    int rc = path_of(s, STORE_JOURNAL_FILE, path, sizeof path);
    if (rc == 0) {
        s->jfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        rc = s->jfd < 0 ? -errno : 0;
    }
    if (rc == 0) {
        rc = replay(s, err, errcap);
        if (rc != 0) {
            return rc;
        }
    }
    if (rc == 0) {
        /* What was replayed is in LMDB now: make it durable there before
         * the journal is written again from its start. */
        rc = store_mdb_err(mdb_env_sync(s->env, 1));
    }
    if (rc == 0 && s->journal_on) {
        rc = store_ckpt_save(s, false); /* the first checkpoint: LMDB's state now */
    }
    if (rc == 0 && !s->journal_on) {
        /* Kept, not removed: `tern --store-info` opens the store of a
         * running tern this way, and that tern is writing this file. Its
         * records are all at or below jseq now and are skipped next time. */
        close(s->jfd);
        s->jfd = -1;
    } else if (rc == 0 && s->jsize < STORE_JOURNAL_PREALLOC) {
        rc = preallocate(s, s->jsize);
    }
    if (rc != 0) {
        (void)snprintf(err, errcap, "store %s/%s: %s", s->dir, STORE_JOURNAL_FILE, gw_strerror(rc));
        return rc;
    }
    s->joff = 0;
    return 0;
}
