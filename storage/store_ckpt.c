/* store_ckpt.c - the meta pages of the last checkpoint, and the reader that
 * pins its pages. See store_ckpt.h for why.
 *
 * File layout of "checkpoint": be32 magic "TCK1", be32 page size P, be32
 * flags (CKPT_CLEAN), be32 crc (CRC-32 over the page size, the flags and
 * the pages), then 2 x P bytes: pages 0 and 1 of data.mdb as they were
 * after the sync. */
#include "store_ckpt.h"

#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "store_journal.h"
#include "store_journal_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define CKPT_MAGIC    0x54434b31u /* "TCK1" */
#define CKPT_HDR      16u
#define CKPT_PAGE_MAX 65536u /* LMDB's largest page size */
#define CKPT_CLEAN    1u     /* written by store_close: nothing to put back */

static int path_of(const struct store *s, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", s->dir, name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read exactly n bytes at off: 0, -ENODATA if the file is shorter, -errno. */
static int read_at(int fd, uint8_t *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r < 0 ? -errno : -ENODATA;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static int write_at(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? -errno : -EIO;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static uint32_t crc_of(const uint8_t *rec, size_t pages_len)
{
    uint32_t crc = store_crc32(0, rec + 4, 8); /* the page size and the flags */
    return store_crc32(crc, rec + CKPT_HDR, pages_len);
}

/* The copy in fd, checked: 0 and *rec (gw_free) with *psize and the flags
 * at rec + 8, -ENODATA for an empty file, -EBADMSG for a damaged one,
 * -errno. */
static int read_copy(int fd, uint8_t **rec, uint32_t *psize)
{
    uint8_t hdr[CKPT_HDR];
    int rc = read_at(fd, hdr, sizeof hdr, 0);
    if (rc != 0) {
        return rc;
    }
    uint32_t p = get_be32(hdr + 4);
    if (get_be32(hdr) != CKPT_MAGIC || p < 512 || p > CKPT_PAGE_MAX || (p & (p - 1)) != 0) {
        return -EBADMSG;
    }
    uint8_t *r = gw_alloc(CKPT_HDR + 2 * (size_t)p);
    if (!r) {
        return -ENOMEM;
    }
    memcpy(r, hdr, sizeof hdr);
    rc = read_at(fd, r + CKPT_HDR, 2 * (size_t)p, CKPT_HDR);
    if (rc == 0 && crc_of(r, 2 * (size_t)p) != get_be32(hdr + 12)) {
        rc = -EBADMSG;
    }
    if (rc != 0) {
        gw_free(r);
        return rc == -ENODATA ? -EBADMSG : rc;
    }
    *rec = r;
    *psize = p;
    return 0;
}

/* LMDB 0.9's meta page (lmdb.h's MDB_meta after the page header), the one
 * part of LMDB's layout read here, to refuse a copy that cannot belong to
 * this data.mdb. pgno_t and the other sizes are size_t, stored in the
 * machine's own byte order: the page header is pgno, pad, flags and
 * lower/upper (S + 8 bytes for S = sizeof(size_t)); then magic, version,
 * address, mapsize, two MDB_db of 8 + 5 S bytes, and mm_last_pg. So the
 * magic is at 16 and mm_last_pg at 136 on 64-bit, 12 and 84 on 32-bit. */
#define MDB_META_MAGIC_OFF   (sizeof(size_t) + 8u)
#define MDB_META_LAST_PG_OFF (MDB_META_MAGIC_OFF + 24u + 12u * sizeof(size_t))
#define MDB_META_MAGIC       0xBEEFC0DEu

/* Does the copy fit a file of size bytes? Both meta pages LMDB's, and
 * every page they name inside the file: a copy newer than the file (its
 * disk lied about a sync, or the file was replaced) is not put back. */
static bool copy_fits(const uint8_t *pages, uint32_t psize, off_t size)
{
    for (int i = 0; i < 2; i++) {
        const uint8_t *m = pages + (size_t)i * psize;
        uint32_t magic;
        size_t last;
        memcpy(&magic, m + MDB_META_MAGIC_OFF, sizeof magic);
        memcpy(&last, m + MDB_META_LAST_PG_OFF, sizeof last);
        if (magic != MDB_META_MAGIC || (uint64_t)last >= (uint64_t)size / psize) {
            return false;
        }
    }
    return true;
}

/* data.mdb's meta pages differ from the copy rec: write the copy over
 * them and sync. 0 with *restored, or -errno. A data.mdb too short to hold
 * them is a new store: nothing to restore. */
static int put_back(struct store *s, const uint8_t *rec, uint32_t psize, bool *restored)
{
    char path[4096];
    int rc = path_of(s, "data.mdb", path, sizeof path);
    if (rc != 0) {
        return rc;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    size_t n = 2 * (size_t)psize;
    uint8_t *now = gw_alloc(n);
    rc = now ? read_at(fd, now, n, 0) : -ENOMEM;
    off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : 0;
    if (rc == 0 && memcmp(now, rec + CKPT_HDR, n) != 0 && !copy_fits(rec + CKPT_HDR, psize, size)) {
        gw_log(GW_ERROR, "store",
               "dir=%s %s names pages beyond data.mdb's end: not put back, data.mdb opened as "
               "it is (it may be inconsistent)",
               s->dir, STORE_CKPT_FILE);
    } else if (rc == 0 && memcmp(now, rec + CKPT_HDR, n) != 0) {
        rc = write_at(fd, rec + CKPT_HDR, n, 0);
        if (rc == 0 && fdatasync(fd) != 0) {
            rc = -errno;
        }
        *restored = rc == 0;
    } else if (rc == -ENODATA) {
        rc = 0;
    }
    gw_free(now);
    close(fd);
    return rc;
}

int store_ckpt_restore(struct store *s, char *err, size_t errcap)
{
    char path[4096];
    s->ckfd = -1;
    int rc = path_of(s, STORE_CKPT_FILE, path, sizeof path);
    if (rc == 0) {
        s->ckfd = open(path, O_RDWR | O_CLOEXEC | (s->journal_on ? O_CREAT : 0), 0600);
        rc = s->ckfd < 0 && errno != ENOENT ? -errno : 0;
    }
    if (rc != 0 || s->ckfd < 0) {
        goto out;
    }
    if (flock(s->ckfd, LOCK_EX | LOCK_NB) != 0) {
        /* Another tern owns this store and its page cache is what counts:
         * opened beside it (tern --store-info), never restore. */
        close(s->ckfd);
        s->ckfd = -1;
        return 0;
    }
    s->ck_locked = true;
    if (!store_journal_exists(s)) {
        return 0; /* no journal to replay after K: the copy means nothing */
    }
    uint8_t *rec = NULL;
    uint32_t psize = 0;
    rc = read_copy(s->ckfd, &rec, &psize);
    if (rc == -ENODATA) {
        return 0; /* created now, or before the first checkpoint */
    }
    if (rc == -EBADMSG) {
        /* Torn while being written: the sync before it had finished and
         * nothing was committed after it, so data.mdb is at that state. */
        gw_log(GW_WARN, "store", "dir=%s %s damaged: data.mdb opened as it is", s->dir,
               STORE_CKPT_FILE);
        return 0;
    }
    bool restored = false;
    if (rc == 0 && (get_be32(rec + 8) & CKPT_CLEAN) != 0) {
        /* Closed cleanly: LMDB was synced after this copy, and whatever
         * changed data.mdb since (tern --store-info, a tool) is its own. */
        gw_free(rec);
        return 0;
    }
    rc = rc == 0 ? put_back(s, rec, psize, &restored) : rc;
    gw_free(rec);
    if (restored) {
        gw_log(GW_NOTICE, "store",
               "dir=%s not closed cleanly: data.mdb back at its last checkpoint, the journal "
               "replays what came after",
               s->dir);
    }
out:
    if (rc != 0) {
        (void)snprintf(err, errcap, "store %s/%s: %s", s->dir, STORE_CKPT_FILE, gw_strerror(rc));
    }
    return rc;
}

/* Hold a reader on the state just synced, releasing the one before. */
static int move_pin(struct store *s)
{
    if (s->ck_pin) {
        mdb_txn_reset(s->ck_pin);
        int rc = mdb_txn_renew(s->ck_pin);
        if (rc == 0) {
            return 0;
        }
        mdb_txn_abort(s->ck_pin);
        s->ck_pin = NULL;
    }
    return store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->ck_pin));
}

int store_ckpt_save(struct store *s, bool clean)
{
    if (s->ckfd < 0 || !s->ck_locked) {
        return -EBADF;
    }
    MDB_stat st;
    int rc = store_mdb_err(mdb_env_stat(s->env, &st));
    if (rc != 0) {
        return rc;
    }
    uint32_t psize = st.ms_psize;
    size_t n = 2 * (size_t)psize;
    uint8_t *rec = gw_alloc(CKPT_HDR + n);
    if (!rec) {
        return -ENOMEM;
    }
    char path[4096];
    int fd = -1;
    rc = path_of(s, "data.mdb", path, sizeof path);
    if (rc == 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? -errno : read_at(fd, rec + CKPT_HDR, n, 0);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0) {
        put_be32(rec, CKPT_MAGIC);
        put_be32(rec + 4, psize);
        put_be32(rec + 8, clean ? CKPT_CLEAN : 0);
        put_be32(rec + 12, crc_of(rec, n));
        rc = write_at(s->ckfd, rec, CKPT_HDR + n, 0);
    }
    if (rc == 0 && fdatasync(s->ckfd) != 0) {
        rc = -errno;
    }
    gw_free(rec);
    /* Only now, with the copy durable, may K's predecessor's pages go. */
    return rc == 0 && !clean ? move_pin(s) : rc;
}

void store_ckpt_drop(struct store *s)
{
    if (s->ckfd < 0 || !s->ck_locked) {
        return;
    }
    char path[4096];
    if (path_of(s, STORE_CKPT_FILE, path, sizeof path) == 0 && unlink(path) != 0 &&
        errno != ENOENT) {
        gw_log(GW_WARN, "store", "dir=%s cannot remove %s: %s", s->dir, STORE_CKPT_FILE,
               gw_strerror(-errno));
    }
}

void store_ckpt_close(struct store *s)
{
    if (s->ck_pin) {
        mdb_txn_abort(s->ck_pin);
        s->ck_pin = NULL;
    }
    if (s->ckfd >= 0) {
        close(s->ckfd); /* releases the flock */
        s->ckfd = -1;
    }
    s->ck_locked = false;
}
