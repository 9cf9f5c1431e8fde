/* store_fixture.c - see store_fixture.h. */
#include "store_fixture.h"

#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h>

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_with(void **state, enum store_sync sync)
{
    struct store_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tern_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cfg.dir = f->dir;
    f->cfg.sync = sync;
    *state = f;
    return 0;
}

int store_fx_setup(void **state)
{
    const char *mode = getenv("TERN_TEST_STORE_SYNC");
    bool journal = mode && strcmp(mode, "journal") == 0;
    return setup_with(state, journal ? STORE_SYNC_JOURNAL : STORE_SYNC_BATCH);
}

int store_fx_setup_journal(void **state)
{
    return setup_with(state, STORE_SYNC_JOURNAL);
}

int store_fx_teardown(void **state)
{
    struct store_fx *f = *state;
    store_close(f->s);
    nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

void store_fx_open(struct store_fx *f)
{
    char err[256] = "";
    int rc = store_open(&f->cfg, &f->s, err, sizeof err);
    if (rc != 0) {
        fail_msg("store_open: %d %s", rc, err);
    }
}

void store_fx_close(struct store_fx *f)
{
    store_close(f->s);
    f->s = NULL;
}

void store_fx_reopen(struct store_fx *f)
{
    store_fx_close(f);
    store_fx_open(f);
}

uint64_t store_fx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void store_fx_wait_flag(struct store *s, const int *flag)
{
    uint64_t deadline = store_fx_now_ms() + STORE_FX_WAIT_MS;
    while (!*flag) {
        struct pollfd p = {store_event_fd(s), POLLIN, 0};
        uint64_t now = store_fx_now_ms();
        assert_true(now < deadline);
        int n = poll(&p, 1, (int)(deadline - now));
        assert_true(n >= 0);
        store_process_completions(s);
    }
}

struct done {
    int fired;
    int rc;
};

static void on_done(void *arg, int rc)
{
    struct done *d = arg;
    d->fired = 1;
    d->rc = rc;
}

int store_fx_commit(struct store *s)
{
    struct done d = {0, 0};
    assert_int_equal(store_commit(s, on_done, &d), 0);
    store_fx_wait_flag(s, &d.fired);
    return d.rc;
}

void store_fx_raw_meta(const char *dir, const char *key, const void *val, size_t n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key};
    if (val) {
        MDB_val v = {n, (void *)val};
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    } else {
        assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

uint32_t store_fx_raw_version(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {7, (void *)"version"};
    MDB_val v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_int_equal(v.mv_size, 8);
    const uint8_t *p = v.mv_data;
    uint32_t n = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return n;
}
