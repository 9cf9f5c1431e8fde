/* test_bridge_topic.c - a bridge's topic lines as filters and mappings
 * (mosquitto.conf(5) "topic" remapping rules, bridge_topic.h). */
#include "bridge_topic.h"
#include "gw_err.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define OUT  CFG_BRIDGE_OUT
#define IN   CFG_BRIDGE_IN
#define BOTH CFG_BRIDGE_BOTH

static char buf[BRIDGE_TOPIC_BUF];

/* A bridge over a static array of lines (no config parsing here). */
static struct cfg_bridge bridge_of(struct cfg_bridge_topic *t, size_t n)
{
    struct cfg_bridge b = {.name = "t", .topics = t, .n_topics = n};
    return b;
}

static struct cfg_bridge_topic line(const char *pattern, enum cfg_bridge_dir dir, uint8_t qos,
                                    const char *lp, const char *rp)
{
    struct cfg_bridge_topic t = {(char *)pattern, (char *)lp, (char *)rp, dir, qos};
    return t;
}

enum way { W_OUT, W_IN };

struct map_case {
    enum way way;
    const char *topic;
    ssize_t rc;         /* length or an error */
    const char *result; /* when rc >= 0 */
    size_t line;        /* when rc >= 0 */
};

static void run_cases(const struct cfg_bridge *b, const struct map_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct map_case *c = &cases[i];
        size_t ln = 999;
        ssize_t rc =
                c->way == W_OUT
                        ? bridge_topic_map_out(b, gw_bytes_str(c->topic), buf, sizeof(buf), &ln)
                        : bridge_topic_map_in(b, gw_bytes_str(c->topic), buf, sizeof(buf), &ln);
        if (rc != c->rc) {
            print_error("case %zu (%s %s): rc %zd, expected %zd\n", i,
                        c->way == W_OUT ? "out" : "in", c->topic, rc, c->rc);
        }
        assert_int_equal(rc, c->rc);
        if (rc >= 0) {
            assert_string_equal(buf, c->result);
            assert_int_equal(strlen(buf), (size_t)rc);
            assert_int_equal(ln, c->line);
        } else {
            assert_int_equal(ln, 999); /* out-param untouched on error */
        }
    }
}

/* mosquitto.conf(5): topic # both 0 local/topic/ remote/topic/ */
static void test_bridge_topic_both_prefixes_map_both_ways(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("#", BOTH, 0, "local/topic/", "remote/topic/")};
    struct cfg_bridge b = bridge_of(t, 1);
    assert_int_equal(bridge_topic_local_filter(&t[0], buf, sizeof(buf)), 13);
    assert_string_equal(buf, "local/topic/#");
    assert_int_equal(bridge_topic_remote_filter(&t[0], buf, sizeof(buf)), 14);
    assert_string_equal(buf, "remote/topic/#");
    const struct map_case cases[] = {
            {W_OUT, "local/topic/a/b", 16, "remote/topic/a/b", 0},
            {W_OUT, "local/topic/x", 14, "remote/topic/x", 0},
            {W_OUT, "local/topic/", 13, "remote/topic/", 0}, /* empty last level */
            {W_OUT, "local/topic", 12, "remote/topic", 0},   /* "#" matches the parent */
            {W_OUT, "local/topics", -ENOENT, NULL, 0},
            {W_OUT, "remote/topic/x", -ENOENT, NULL, 0},
            {W_OUT, "other/a", -ENOENT, NULL, 0},
            {W_IN, "remote/topic/sensors/1", 21, "local/topic/sensors/1", 0},
            {W_IN, "remote/topic", 11, "local/topic", 0},
            {W_IN, "local/topic/x", -ENOENT, NULL, 0},
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
}

/* mosquitto.conf(5): an empty pattern maps one topic onto another. */
static void test_bridge_topic_empty_pattern_maps_one_topic(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("", OUT, 1, "sensors/a", "cloud/gw1/a")};
    struct cfg_bridge b = bridge_of(t, 1);
    assert_true(bridge_topic_is_out(&t[0]));
    assert_false(bridge_topic_is_in(&t[0]));
    assert_int_equal(bridge_topic_local_filter(&t[0], buf, sizeof(buf)), 9);
    assert_string_equal(buf, "sensors/a");
    assert_int_equal(bridge_topic_remote_filter(&t[0], buf, sizeof(buf)), 11);
    assert_string_equal(buf, "cloud/gw1/a");
    const struct map_case cases[] = {
            {W_OUT, "sensors/a", 11, "cloud/gw1/a", 0},
            {W_OUT, "sensors/a/b", -ENOENT, NULL, 0},
            {W_OUT, "sensors/ab", -ENOENT, NULL, 0},
            {W_IN, "cloud/gw1/a", -ENOENT, NULL, 0}, /* out only */
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
}

/* No prefixes: the topic keeps its name; wildcards and the '$' rule of
 * MQTT-4.7.2-1 apply as in the router. */
static void test_bridge_topic_no_prefix_keeps_name(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("sensors/+/temp", OUT, 1, NULL, NULL),
                                   line("#", IN, 2, NULL, NULL)};
    struct cfg_bridge b = bridge_of(t, 2);
    const struct map_case cases[] = {
            {W_OUT, "sensors/x/temp", 14, "sensors/x/temp", 0},
            {W_OUT, "sensors/x/hum", -ENOENT, NULL, 0},
            {W_OUT, "sensors/x/temp/1", -ENOENT, NULL, 0},
            {W_IN, "cmd/gw1/reboot", 14, "cmd/gw1/reboot", 1},
            {W_IN, "$SYS/broker/uptime", -ENOENT, NULL, 0}, /* [MQTT-4.7.2-1] */
            {W_OUT, "$SYS/x/temp", -ENOENT, NULL, 0},
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
}

/* One prefix only, wildcards inside the pattern, a '$' prefix. */
static void test_bridge_topic_one_prefix(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("sensors/#", OUT, 1, NULL, "site/gw1/"),
                                   line("+/cmd", IN, 1, "remote/", NULL),
                                   line("#", OUT, 0, "$SYS/broker/", "gw1/sys/")};
    struct cfg_bridge b = bridge_of(t, 3);
    const struct map_case cases[] = {
            {W_OUT, "sensors/t1", 19, "site/gw1/sensors/t1", 0},
            {W_OUT, "sensors", 16, "site/gw1/sensors", 0},
            {W_IN, "gw1/cmd", 14, "remote/gw1/cmd", 1},
            {W_IN, "site/gw1/sensors/t1", -ENOENT, NULL, 0},
            {W_OUT, "$SYS/broker/uptime", 14, "gw1/sys/uptime", 2},
            {W_OUT, "$SYS/broker", 7, "gw1/sys", 2},
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
}

/* The first line of the direction whose filter matches wins; its index
 * tells the caller the QoS. */
static void test_bridge_topic_first_match_wins(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("a/#", IN, 0, NULL, NULL), line("a/b", OUT, 2, NULL, "up/"),
                                   line("a/#", OUT, 1, NULL, NULL)};
    struct cfg_bridge b = bridge_of(t, 3);
    const struct map_case cases[] = {
            {W_OUT, "a/b", 6, "up/a/b", 1},
            {W_OUT, "a/c", 3, "a/c", 2},
            {W_IN, "a/b", 3, "a/b", 0},
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
    assert_int_equal(t[1].qos, 2);

    struct cfg_bridge_topic r[] = {line("a/#", OUT, 1, NULL, NULL),
                                   line("a/b", OUT, 2, NULL, "up/")};
    b = bridge_of(r, 2);
    const struct map_case rev[] = {{W_OUT, "a/b", 3, "a/b", 0}};
    run_cases(&b, rev, 1);
}

/* "P/#" matching "P" with no prefix on the other side cannot be mapped:
 * that line is skipped and a later one may take the topic. */
static void test_bridge_topic_parent_without_other_prefix_skips_line(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {
            line("#", OUT, 0, "local/", NULL), line("#", OUT, 0, "local/", "/"),
            line("local", OUT, 1, NULL, NULL), line("/#", BOTH, 1, "a", "b")};
    struct cfg_bridge b = bridge_of(t, 4);
    const struct map_case cases[] = {
            {W_OUT, "local/x", 1, "x", 0}, {W_OUT, "local", 5, "local", 2},
            {W_OUT, "a", 1, "b", 3}, /* "a" + "/#" matches "a": strip "a", prepend "b" */
            {W_OUT, "a/x", 3, "b/x", 3},   {W_IN, "b", 1, "a", 3},
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_bridge_topic_bad_topic_einval(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("#", BOTH, 0, NULL, NULL)};
    struct cfg_bridge b = bridge_of(t, 1);
    const struct map_case cases[] = {
            {W_OUT, "a/+", -EINVAL, NULL, 0},
            {W_IN, "#", -EINVAL, NULL, 0},
            {W_OUT, "", -EINVAL, NULL, 0},
    };
    run_cases(&b, cases, sizeof(cases) / sizeof(cases[0]));
    const uint8_t nul[] = {'a', 0, 'b'};
    struct gw_bytes v = {nul, sizeof(nul)};
    assert_int_equal(bridge_topic_map_out(&b, v, buf, sizeof(buf), NULL), -EINVAL);
    struct cfg_bridge none = bridge_of(NULL, 0);
    assert_int_equal(bridge_topic_map_out(&none, gw_bytes_str("a"), buf, sizeof(buf), NULL),
                     -ENOENT);
}

/* The buffer holds the filter while matching, then the result. */
static void test_bridge_topic_small_buffer_enospc(void **state)
{
    (void)state;
    struct cfg_bridge_topic t[] = {line("#", OUT, 0, "local/", "remote/long/")};
    struct cfg_bridge b = bridge_of(t, 1);
    char small[16];
    memset(small, 'z', sizeof(small));
    assert_int_equal(bridge_topic_local_filter(&t[0], small, 7), -ENOSPC); /* "local/#" = 7 */
    assert_int_equal(small[0], 'z');
    assert_int_equal(bridge_topic_local_filter(&t[0], small, 8), 7);
    assert_string_equal(small, "local/#");
    assert_int_equal(bridge_topic_local_filter(&t[0], small, 0), -ENOSPC);
    /* "remote/long/x" is 13 bytes: 13 is too small, 14 fits */
    assert_int_equal(bridge_topic_map_out(&b, gw_bytes_str("local/x"), small, 13, NULL), -ENOSPC);
    assert_int_equal(bridge_topic_map_out(&b, gw_bytes_str("local/x"), small, 14, NULL), 13);
    assert_string_equal(small, "remote/long/x");
    /* the filter itself does not fit: -ENOSPC even if nothing would match */
    assert_int_equal(bridge_topic_map_out(&b, gw_bytes_str("zz"), small, 4, NULL), -ENOSPC);
}

/* A long remote prefix can push the mapped name past 65535 bytes. */
static void test_bridge_topic_result_too_long(void **state)
{
    (void)state;
    size_t np = 40000;
    char *prefix = malloc(np + 1);
    char *topic = malloc(np + 1);
    assert_non_null(prefix);
    assert_non_null(topic);
    memset(prefix, 'p', np - 1);
    prefix[np - 1] = '/';
    prefix[np] = '\0';
    memcpy(topic, "local/", 6);
    memset(topic + 6, 't', 30000);
    topic[30006] = '\0';
    struct cfg_bridge_topic t[] = {line("#", OUT, 0, "local/", prefix)};
    struct cfg_bridge b = bridge_of(t, 1);
    size_t ln = 7;
    assert_int_equal(bridge_topic_map_out(&b, gw_bytes_str(topic), buf, sizeof(buf), &ln),
                     GW_E_TOO_LARGE);
    assert_int_equal(ln, 7);
    topic[6 + 25535 - 1] = '\0'; /* 40000 + 25534 = 65534: fits */
    assert_int_equal(bridge_topic_map_out(&b, gw_bytes_str(topic), buf, sizeof(buf), &ln), 65534);
    assert_int_equal(ln, 0);
    assert_int_equal(buf[65534], '\0');
    free(prefix);
    free(topic);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bridge_topic_both_prefixes_map_both_ways),
            cmocka_unit_test(test_bridge_topic_empty_pattern_maps_one_topic),
            cmocka_unit_test(test_bridge_topic_no_prefix_keeps_name),
            cmocka_unit_test(test_bridge_topic_one_prefix),
            cmocka_unit_test(test_bridge_topic_first_match_wins),
            cmocka_unit_test(test_bridge_topic_parent_without_other_prefix_skips_line),
            cmocka_unit_test(test_bridge_topic_bad_topic_einval),
            cmocka_unit_test(test_bridge_topic_small_buffer_enospc),
            cmocka_unit_test(test_bridge_topic_result_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
