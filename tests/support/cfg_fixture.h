/* cfg_fixture.h - the fixture of the config parser's unit tests
 * (test_cfg_parse.c, test_cfg_errors.c, test_cfg_load.c): load_ok() (a
 * config from a string that must load), the error buffer every load
 * writes, the config with every option set, and a temporary include_dir
 * tree on disk. */
#ifndef CFG_FIXTURE_H
#define CFG_FIXTURE_H

#include "cfg.h"

extern char err[512];

struct gw_config *load_ok(const char *text);

extern const char every_option[];

struct tmp_dir {
    char dir[64];
    char main[128];
};

void make_include_tree(struct tmp_dir *t, const char *b_conf);

void remove_include_tree(const struct tmp_dir *t);

#endif
