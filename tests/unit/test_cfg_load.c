/* test_cfg_load.c - configs from files: include_dir (sorted, errors named
 * by file), a missing file, and what a running broker does with a config:
 * cfg_set_port, the reload diff, --help. */
#include "cfg_fixture.h"

#include "alloc.h"
#include "cfg.h"
#include "gw_err.h"
#include "log.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void test_cfg_include_dir_sorted(void **state)
{
    (void)state;
    struct tmp_dir t;
    make_include_tree(&t, "max_connections 9\nlistener 1885\n");
    struct gw_config *c = NULL;
    int rc = cfg_load(t.main, &c, err, sizeof(err));
    if (rc != 0) {
        print_error("%s\n", err);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(c->file, t.main);
    assert_int_equal(c->n_listeners, 3);
    assert_int_equal(c->listeners[0].port, 1883);
    assert_int_equal(c->listeners[1].port, 1884); /* a.conf before b.conf */
    assert_int_equal(c->listeners[1].max_connections, 3);
    assert_int_equal(c->listeners[2].port, 1885);
    /* b.conf's first line is outside any block: global, so 1883 and 1885 inherit it */
    assert_int_equal(c->max_connections, 9);
    assert_int_equal(c->listeners[0].max_connections, 9);
    assert_int_equal(c->sys_interval, 5);
    cfg_free(c);
    remove_include_tree(&t);
}

static void test_cfg_include_dir_error_names_included_file(void **state)
{
    (void)state;
    struct tmp_dir t;
    make_include_tree(&t, "\nmax_keepalive x\n");
    struct gw_config *c = NULL;
    assert_int_equal(cfg_load(t.main, &c, err, sizeof(err)), GW_E_CONFIG);
    char want[256];
    (void)snprintf(want, sizeof(want),
                   "%s/b.conf:2: option 'max_keepalive': expected an integer 0..65535, got 'x'",
                   t.dir);
    assert_string_equal(err, want);
    remove_include_tree(&t);

    /* include_dir in an included file: refused, so no recursion. */
    make_include_tree(&t, "include_dir /tmp\n");
    assert_int_equal(cfg_load(t.main, &c, err, sizeof(err)), GW_E_CONFIG);
    (void)snprintf(want, sizeof(want),
                   "%s/b.conf:1: option 'include_dir' is only allowed in the main configuration "
                   "file",
                   t.dir);
    assert_string_equal(err, want);
    remove_include_tree(&t);

    assert_int_equal(
            cfg_load_string("include_dir /nonexistent-tern\n", "t.conf", &c, err, sizeof(err)),
            -ENOENT);
    assert_string_equal(err,
                        "t.conf:1: include_dir '/nonexistent-tern': No such file or directory");
    assert_int_equal(cfg_load_string_flags("include_dir /tmp\n", "t.conf", CFG_F_NO_INCLUDE, &c,
                                           err, sizeof(err)),
                     GW_E_CONFIG);
    assert_string_equal(err, "t.conf:1: option 'include_dir' is disabled here");
    assert_null(c);
}

static void test_cfg_load_missing_file_errno(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    assert_int_equal(cfg_load("/nonexistent-tern.conf", &c, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "/nonexistent-tern.conf: No such file or directory");
    assert_int_equal(cfg_load("/tmp", &c, err, sizeof(err)), -EISDIR);
    assert_int_equal(cfg_load(NULL, &c, err, sizeof(err)), -EINVAL);
    assert_int_equal(cfg_load_string(NULL, "t.conf", &c, err, sizeof(err)), -EINVAL);

    char path[] = "/tmp/tern_cfg_nul_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "port 1\0\n", 8), 8);
    assert_int_equal(close(fd), 0);
    assert_int_equal(cfg_load(path, &c, err, sizeof(err)), GW_E_CONFIG);
    char want[80];
    (void)snprintf(want, sizeof(want), "%s: contains a NUL byte", path);
    assert_string_equal(err, want);
    (void)unlink(path);
    assert_null(c);
}

static void test_cfg_set_port(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    assert_int_equal(cfg_default(&c), 0);
    assert_int_equal(cfg_set_port(c, 0), -EINVAL);
    assert_int_equal(cfg_set_port(c, 1999), 0);
    assert_int_equal(c->n_listeners, 4);
    assert_int_equal(c->listeners[0].port, 1999);
    assert_int_equal(c->listeners[1].port, 1999);
    assert_int_equal(c->listeners[2].port, 1884); /* -p moves MQTT only */
    assert_int_equal(c->listeners[3].port, 9883);
    cfg_free(c);

    c = load_ok("listener 1883\n");
    assert_int_equal(cfg_set_port(c, 1883), GW_E_CONFIG); /* wildcard 1883 is taken */
    assert_int_equal(c->n_listeners, 1);
    assert_int_equal(cfg_set_port(c, 1884), 0);
    assert_int_equal(c->n_listeners, 3);
    assert_string_equal(c->listeners[1].bind_address, "127.0.0.1");
    assert_string_equal(c->listeners[2].bind_address, "::1");
    assert_int_equal(c->listeners[2].port, 1884);
    assert_false(c->listeners[2].allow_anonymous);
    cfg_free(c);
}

static void test_cfg_diff_restart_needed(void **state)
{
    (void)state;
    char buf[256];
    struct gw_config *a = load_ok("listener 1883\nmax_keepalive 60\nlog_type all\n");
    struct gw_config *b = load_ok("listener 1883\nmax_keepalive 30\nallow_anonymous true\n"
                                  "output_soft_limit 2M\nlog_dest syslog\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    cfg_free(b);

    b = load_ok("max_connections 4\nlistener 1884\npersistence false\n"
                "persistence_location /x\npid_file /p\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "listener, max_connections, persistence, persistence_location, "
                             "pid_file");
    char tiny[12];
    assert_int_equal(cfg_diff_restart_needed(a, b, tiny, sizeof(tiny)), 5);
    assert_string_equal(tiny, "listener, m");
    assert_int_equal(cfg_diff_restart_needed(a, b, NULL, 0), 5);
    cfg_free(b);

    b = load_ok("listener 1883\nsocket_domain ipv4\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "listener");
    cfg_free(b);
    cfg_free(a);

    /* Persistence: quota and policy reload, durability and map size need a restart. */
    a = load_ok("persistence_durability periodic 100\n");
    b = load_ok("persistence_durability periodic 100\npersistence_quota 10M\n"
                "persistence_quota_policy drop_oldest\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    cfg_free(b);
    b = load_ok("persistence_durability periodic 200\n"); /* same mode, another period */
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "persistence_durability");
    cfg_free(b);
    b = load_ok("persistence_durability none\npersistence_map_size 2G\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "persistence_durability, persistence_map_size");
    cfg_free(b);
    cfg_free(a);
    a = load_ok("persistence_durability periodic 100\npersistence_durability journal\n");
    b = load_ok("");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    cfg_free(b);
    cfg_free(a);
}

static void test_cfg_print_help_lists_options(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cfg_print_help(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "max_keepalive"));
    assert_non_null(strstr(text, "an integer 0..65535 (default 65535) [reloadable]"));
    assert_non_null(strstr(text, "persistence_location"));
    assert_non_null(strstr(text, "persistence_durability         sync, periodic MS, none or journal "
                                 "(default journal) [restart]"));
    assert_non_null(strstr(text, "persistence_quota              a size in bytes 0.. (suffix k "
                                 "M G allowed) (default 0) [reloadable]"));
    assert_non_null(strstr(text, "persistence_quota_policy       refuse or drop_oldest (default "
                                 "refuse) [reloadable]"));
    assert_non_null(strstr(text, "persistence_map_size           a size in bytes 1048576.."));
    assert_non_null(strstr(text, "(default 1G) [restart]"));
    assert_non_null(strstr(text, "on 32-bit ARM"));
    assert_non_null(strstr(text, "ignored (mosquitto compatibility): user autosave_interval "
                                 "autosave_on_changes"));
    assert_non_null(strstr(text, "\ncertfile")); /* a TLS listener option now */
    assert_null(strstr(text, "\ndhparamfile")); /* rejected: not listed */
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cfg_include_dir_sorted),
            cmocka_unit_test(test_cfg_include_dir_error_names_included_file),
            cmocka_unit_test(test_cfg_load_missing_file_errno),
            cmocka_unit_test(test_cfg_set_port),
            cmocka_unit_test(test_cfg_diff_restart_needed),
            cmocka_unit_test(test_cfg_print_help_lists_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
