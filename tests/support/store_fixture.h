/* store_fixture.h - the fixture of the store's unit tests (test_store.c,
 * test_store_journal.c): a real LMDB store in a mkdtemp directory under
 * /tmp, removed with everything in it at teardown. Commits complete by
 * polling the store's eventfd, bounded by STORE_FX_WAIT_MS; no sleep. */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_FX_WAIT_MS 20000

/* One test's store: dir and cfg are set by the setup, s by store_fx_open. */
struct store_fx {
    char dir[64];
    struct store_config cfg;
    struct store *s;
};

/* cmocka setup: a fresh directory; cfg.sync is STORE_SYNC_JOURNAL when the
 * environment has TERN_TEST_STORE_SYNC=journal (ctest runs test_store twice,
 * the second time in journal mode), STORE_SYNC_BATCH otherwise. */
int store_fx_setup(void **state);

/* cmocka setup: the same, always STORE_SYNC_JOURNAL. */
int store_fx_setup_journal(void **state);

/* cmocka teardown: close the store if open, remove the directory. */
int store_fx_teardown(void **state);

/* Open f->s with f->cfg (a failed open fails the test with its message). */
void store_fx_open(struct store_fx *f);

/* Close f->s (a clean close: it checkpoints) and clear it. */
void store_fx_close(struct store_fx *f);

/* Close and open again. */
void store_fx_reopen(struct store_fx *f);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t store_fx_now_ms(void);

/* Poll the eventfd and run completions until *flag is set (fails the test
 * after STORE_FX_WAIT_MS). */
void store_fx_wait_flag(struct store *s, const int *flag);

/* Commit the current batch, wait for it and return its result. */
int store_fx_commit(struct store *s);

/* Put (val non-NULL) or delete key in the meta database of the closed
 * store in dir, with LMDB itself: how a test makes an older or damaged
 * format record. */
void store_fx_raw_meta(const char *dir, const char *key, const void *val, size_t n);

/* The format version recorded in the closed store in dir. */
uint32_t store_fx_raw_version(const char *dir);

#endif
