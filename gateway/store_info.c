/* store_info.c - `tern --store-info`. */
#include "store_info.h"

#include "alloc.h"
#include "clock.h"
#include "gw_err.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INFO_MAX_ROWS 200 /* sessions listed; the totals count them all */

struct info_row {
    char id[48];
    uint64_t owner;
    uint64_t queued;
    uint64_t first_seq;
    uint64_t disconnected_s;
    uint32_t subs;
    uint32_t inflight;
    uint64_t oldest_s; /* created_s of the first queued message, 0 = none */
};

struct info {
    struct info_row *rows;
    size_t n;
    size_t cap;
    uint64_t sessions;
    uint64_t oldest_s;
};

static struct info_row *row_of(struct info *in, uint64_t owner)
{
    for (size_t i = 0; i < in->n; i++) {
        if (in->rows[i].owner == owner) {
            return &in->rows[i];
        }
    }
    return NULL;
}

static int on_session(void *arg, const struct store_session *ss, uint64_t first, uint64_t last,
                      uint64_t len)
{
    (void)last;
    struct info *in = arg;
    in->sessions++;
    if (in->n >= INFO_MAX_ROWS) {
        return 0;
    }
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        struct info_row *r = gw_realloc(in->rows, cap * sizeof(*r));
        if (!r) {
            return -ENOMEM;
        }
        in->rows = r;
        in->cap = cap;
    }
    struct info_row *r = &in->rows[in->n++];
    memset(r, 0, sizeof(*r));
    size_t n = ss->client_id.n < sizeof(r->id) - 1 ? ss->client_id.n : sizeof(r->id) - 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = ss->client_id.p[i];
        r->id[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    r->owner = ss->owner;
    r->queued = len;
    r->first_seq = first;
    r->disconnected_s = ss->disconnected_s;
    return 0;
}

static int on_sub(void *arg, const struct store_sub *sub)
{
    struct info_row *r = row_of(arg, sub->owner);
    if (r) {
        r->subs++;
    }
    return 0;
}

static int on_inflight(void *arg, const struct store_inflight *f, const struct store_msg *m)
{
    (void)m;
    struct info_row *r = row_of(arg, f->owner);
    if (r) {
        r->inflight++;
    }
    return 0;
}

static int on_retained(void *arg, const struct store_msg *m)
{
    (void)arg;
    (void)m;
    return 0;
}

static int on_first(void *arg, const struct store_qentry *e, const struct store_msg *m)
{
    (void)e;
    *(uint64_t *)arg = m->created_s;
    return 0;
}

static void format_age(char *out, size_t cap, uint64_t then_s, int64_t now_s)
{
    if (then_s == 0) {
        (void)snprintf(out, cap, "-");
        return;
    }
    int64_t d = now_s - (int64_t)then_s;
    if (d < 0) {
        d = 0;
    }
    if (d < 120) {
        (void)snprintf(out, cap, "%" PRId64 "s", d);
    } else if (d < 7200) {
        (void)snprintf(out, cap, "%" PRId64 "m", d / 60);
    } else if (d < 172800) {
        (void)snprintf(out, cap, "%" PRId64 "h", d / 3600);
    } else {
        (void)snprintf(out, cap, "%" PRId64 "d", d / 86400);
    }
}

static void print_rows(struct store *s, struct info *in, FILE *out)
{
    int64_t now = gw_clock_wall_s();
    (void)fprintf(out, "\n%-40s %10s %8s %5s %9s %s\n", "client id", "queued", "oldest", "subs",
                  "inflight", "offline for");
    for (size_t i = 0; i < in->n; i++) {
        struct info_row *r = &in->rows[i];
        if (r->queued) {
            (void)store_queue_read(s, r->owner, r->first_seq - 1, 1, on_first, &r->oldest_s);
            if (r->oldest_s && (!in->oldest_s || r->oldest_s < in->oldest_s)) {
                in->oldest_s = r->oldest_s;
            }
        }
        char age[32];
        char off[32];
        format_age(age, sizeof(age), r->oldest_s, now);
        format_age(off, sizeof(off), r->disconnected_s, now);
        (void)fprintf(out, "%-40s %10" PRIu64 " %8s %5u %9u %s\n", r->id, r->queued, age, r->subs,
                      r->inflight, r->disconnected_s ? off : "(connected at last write)");
    }
    if (in->sessions > in->n) {
        (void)fprintf(out, "... and %" PRIu64 " more sessions\n", in->sessions - in->n);
    }
}

/* persistence_durability journal leaves <dir>/journal (issue 15). Opening
 * the store applies the records LMDB does not have yet (after a power cut:
 * the count tells), otherwise they are all stored already. */
static void print_journal(const char *dir, const struct store_stats *ss, FILE *out)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/journal", dir);
    if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) != 0) {
        (void)fprintf(out, "journal: none (persistence_durability is not journal)\n");
        return;
    }
    (void)fprintf(out, "journal: %.1f KiB file, %" PRIu64 " records applied by this open\n",
                  (double)st.st_size / 1024.0, ss->journal_replayed);
}

int store_info_print(const struct gw_config *cfg, FILE *out)
{
    const char *dir = cfg->persistence_location;
    struct stat st;
    if (stat(dir, &st) != 0) {
        (void)fprintf(stderr, "tern: no store at %s (persistence_location): %s\n", dir,
                      strerror(errno)); /* NOLINT(concurrency-mt-unsafe) */
        return -ENOENT;
    }
    struct store_config sc = {.dir = dir};
    struct store *s = NULL;
    char err[512] = "";
    int rc = store_open(&sc, &s, err, sizeof(err));
    if (rc < 0) {
        (void)fprintf(stderr, "tern: %s\n", err[0] ? err : gw_strerror(rc));
        return rc;
    }
    struct info in = {0};
    static const struct store_load_ops ops = {on_session, on_sub, on_inflight, on_retained, NULL};
    rc = store_load(s, &ops, &in);
    struct store_stats ss = {0};
    if (rc == 0) {
        rc = store_stats(s, &ss);
    }
    if (rc == 0) {
        (void)fprintf(out, "store %s\n", dir);
        (void)fprintf(out, "size: %.1f KiB in use, map %.1f MiB\n",
                      (double)ss.used_bytes / 1024.0, (double)ss.map_bytes / 1048576.0);
        (void)fprintf(out,
                      "sessions %" PRIu64 ", queued %" PRIu64 ", inflight %" PRIu64
                      ", retained %" PRIu64 ", messages %" PRIu64 "\n",
                      ss.sessions, ss.queued, ss.inflight, ss.retained, ss.messages);
        print_journal(dir, &ss, out);
        print_rows(s, &in, out);
        char age[32];
        format_age(age, sizeof(age), in.oldest_s, gw_clock_wall_s());
        (void)fprintf(out, "\noldest queued message: %s\n", in.oldest_s ? age : "none");
    } else {
        (void)fprintf(stderr, "tern: reading %s: %s\n", dir, gw_strerror(rc));
    }
    gw_free(in.rows);
    store_close(s);
    return rc;
}
