/* test_topic.c - topic name / filter rules and matching (MQTT 3.1.1 4.7). */
#include "topic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct gw_bytes bs(const char *s)
{
    return gw_bytes_str(s);
}

static struct gw_bytes bn(const char *s, size_t n)
{
    struct gw_bytes b = {(const uint8_t *)s, n};
    return b;
}

struct valid_case {
    const char *s;
    size_t n; /* 0: strlen(s) */
    bool name;
    bool filter;
};

static const struct valid_case valid_cases[] = {
        /* section 4.7.1.2 / 4.7.1.3 examples */
        {"sport/tennis/player1/#", 0, false, true},
        {"sport/#", 0, false, true},
        {"#", 0, false, true},
        {"sport/tennis#", 0, false, false}, /* [MQTT-4.7.1-2] */
        {"sport/tennis/#/ranking", 0, false, false},
        {"sport#", 0, false, false},
        {"#/", 0, false, false},
        {"##", 0, false, false},
        {"+", 0, false, true},
        {"+/tennis/#", 0, false, true},
        {"sport+", 0, false, false}, /* [MQTT-4.7.1-3] */
        {"sport/+/player1", 0, false, true},
        {"+/+", 0, false, true},
        {"/+", 0, false, true},
        {"+/", 0, false, true},
        {"++", 0, false, false},
        {"a/+b/c", 0, false, false},
        {"a/b+/c", 0, false, false},
        {"+#", 0, false, false},
        {"/#", 0, false, true},
        /* plain names are filters too */
        {"sport/tennis/player1", 0, true, true},
        {"/", 0, true, true},
        {"//", 0, true, true},
        {"/finance", 0, true, true},
        {"a b/c", 0, true, true},
        {"$SYS/monitor/Clients", 0, true, true},
        {"$SYS/#", 0, false, true},
        {"$", 0, true, true},
        /* [MQTT-4.7.3-1] empty */
        {"", 0, false, false},
        /* UTF-8 [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-4.7.3-2] */
        {"a\0b", 3, false, false},
        {"caf\xc3\xa9", 0, true, true},        /* U+00E9 */
        {"\xe2\x82\xac/x", 0, true, true},     /* U+20AC */
        {"\xf0\x9f\x98\x80", 0, true, true},   /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 0, true, true},   /* U+10FFFF */
        {"\xef\xbb\xbf", 0, true, true},       /* U+FEFF stays [MQTT-1.5.3-3] */
        {"\xc0\x80", 0, false, false},         /* overlong U+0000 */
        {"\xc1\xbf", 0, false, false},         /* overlong */
        {"\xe0\x80\xaf", 0, false, false},     /* overlong '/' */
        {"\xf0\x8f\xbf\xbf", 0, false, false}, /* overlong U+FFFF */
        {"\xed\xa0\x80", 0, false, false},     /* U+D800 surrogate */
        {"\xed\xbf\xbf", 0, false, false},     /* U+DFFF surrogate */
        {"\xed\x9f\xbf", 0, true, true},       /* U+D7FF ok */
        {"\xf4\x90\x80\x80", 0, false, false}, /* U+110000 */
        {"\xf5\x80\x80\x80", 0, false, false},
        {"\xff", 0, false, false},
        {"\x80", 0, false, false},         /* lone continuation */
        {"a\xc3", 0, false, false},        /* truncated */
        {"\xe2\x82", 0, false, false},     /* truncated */
        {"\xe2\x28\xa1", 0, false, false}, /* bad continuation */
        {"\xf0\x9f\x98", 0, false, false}, /* truncated 4-byte */
        {"\xf0\x9f\x28\x80", 0, false, false},
};

static void test_topic_valid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        struct gw_bytes b = c->n ? bn(c->s, c->n) : bs(c->s);
        if (topic_name_valid(b) != c->name || topic_filter_valid(b) != c->filter) {
            print_error("case %zu \"%s\": name %d filter %d\n", i, c->s, topic_name_valid(b),
                        topic_filter_valid(b));
            fail();
        }
    }
}

static void test_topic_valid_length_limit(void **state)
{
    (void)state;
    char *s = malloc(65536);
    assert_non_null(s);
    memset(s, 'a', 65536);
    assert_true(topic_name_valid(bn(s, 65535))); /* [MQTT-4.7.3-3] */
    assert_true(topic_filter_valid(bn(s, 65535)));
    assert_false(topic_name_valid(bn(s, 65536)));
    assert_false(topic_filter_valid(bn(s, 65536)));
    s[65534] = '#';
    s[65533] = '/';
    assert_true(topic_filter_valid(bn(s, 65535)));
    assert_false(topic_name_valid(bn(s, 65535)));
    free(s);
    struct gw_bytes null_view = {NULL, 0};
    assert_false(topic_name_valid(null_view));
    assert_false(topic_filter_valid(null_view));
}

static void test_topic_has_wildcard_table(void **state)
{
    (void)state;
    assert_true(topic_has_wildcard(bs("#")));
    assert_true(topic_has_wildcard(bs("a/+/b")));
    assert_true(topic_has_wildcard(bs("a/b/#")));
    assert_false(topic_has_wildcard(bs("a/b/c")));
    assert_false(topic_has_wildcard(bs("$SYS")));
    assert_false(topic_has_wildcard(bs("")));
}

struct match_case {
    const char *filter;
    const char *topic;
    bool match;
};

static const struct match_case match_cases[] = {
        /* 4.7.1.2 multi-level wildcard */
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/tennis/player1/#", "sport/tennis/player2", false},
        {"sport/tennis/player1/#", "sport/tennis", false},
        {"sport/#", "sport", true}, /* the parent level */
        {"sport/#", "sport/", true},
        {"sport/#", "sports", false},
        {"#", "sport", true},
        {"#", "/", true},
        {"#", "/finance", true},
        {"/#", "/finance", true},
        {"/#", "finance", false},
        /* 4.7.1.3 single-level wildcard */
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+", "sport", true},
        {"+", "sport/tennis", false},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+/tennis/#", "sport/tennis/player1", true},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/golf", false},
        {"+/+/+", "a/b/c", true},
        {"+/+/+", "a/b", false},
        {"+/+", "/", true},
        {"+", "", false},
        /* 4.7.2 topics beginning with '$' [MQTT-4.7.2-1] */
        {"#", "$SYS/monitor/Clients", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"$SYS/#", "$SYS", true},
        {"+", "$SYS", false},
        {"#", "$", false},
        {"a/#", "a/$SYS", true}, /* only the first level is special */
        {"a/+", "a/$x", true},
        {"#", "x$", true},
        /* exact, case sensitive, empty levels distinct (4.7.3) */
        {"ACCOUNTS", "Accounts", false},
        {"a/b", "a/b", true},
        {"a/b", "a/b/", false},
        {"a/b/", "a/b", false},
        {"/a", "a", false},
        {"a//b", "a//b", true},
        {"a/+/b", "a//b", true},
        {"a/b", "a/bc", false},
        {"a/bc", "a/b", false},
};

static void test_topic_matches_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct match_case *c = &match_cases[i];
        bool got = topic_matches(bs(c->filter), bs(c->topic));
        if (got != c->match) {
            print_error("filter \"%s\" topic \"%s\": got %d\n", c->filter, c->topic, got);
            fail();
        }
    }
}

/* Every name in the tables that is a valid filter matches itself. */
static void test_topic_matches_name_self(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        struct gw_bytes b = c->n ? bn(c->s, c->n) : bs(c->s);
        if (c->name) {
            assert_true(topic_matches(b, b));
        }
    }
}

/* ---- shared subscriptions (MQTT 5.0 section 4.8.2) ------------------------ */

struct share_case {
    const char *s;
    size_t n;           /* 0: strlen(s) */
    bool is_share;      /* topic_is_share */
    const char *name;   /* expected ShareName, NULL: parse fails */
    const char *filter; /* expected filter */
};

static const struct share_case share_cases[] = {
        {"$share/g/a/b", 0, true, "g", "a/b"},
        {"$share/g/#", 0, true, "g", "#"},
        {"$share/g/+/x", 0, true, "g", "+/x"},
        {"$share/g/+", 0, true, "g", "+"},
        {"$share/group-1/$SYS/#", 0, true, "group-1", "$SYS/#"},
        {"$share/g//", 0, true, "g", "/"},
        {"$share/g/$share/h/x", 0, true, "g", "$share/h/x"}, /* an ordinary filter after g */
        {"$share/caf\xc3\xa9/t", 0, true, "caf\xc3\xa9", "t"},
        {"$share/$/t", 0, true, "$", "t"},
        {"$share/g", 0, true, NULL, NULL},    /* no filter */
        {"$share/g/", 0, true, NULL, NULL},   /* empty filter [MQTT-4.7.3-1] */
        {"$share//a", 0, true, NULL, NULL},   /* empty ShareName [MQTT-4.8.2-1] */
        {"$share/", 0, true, NULL, NULL},     /* nothing at all */
        {"$share/+/a", 0, true, NULL, NULL},  /* [MQTT-4.8.2-2] */
        {"$share/#/a", 0, true, NULL, NULL},  /* [MQTT-4.8.2-2] */
        {"$share/g+/a", 0, true, NULL, NULL}, /* [MQTT-4.8.2-2] */
        {"$share/g#/a", 0, true, NULL, NULL}, /* [MQTT-4.8.2-2] */
        {"$share/g/a/#/b", 0, true, NULL, NULL},
        {"$share/g/a+", 0, true, NULL, NULL},
        {"$share/g/a\0b", 12, true, NULL, NULL},    /* U+0000 in the filter */
        {"$share/g\0h/a", 12, true, NULL, NULL},    /* U+0000 in the ShareName */
        {"$share/\xc0\x80/a", 0, true, NULL, NULL}, /* overlong in the ShareName */
        {"$share", 0, false, NULL, NULL},           /* ordinary filters */
        {"$shar/g/a", 0, false, NULL, NULL},
        {"$SHARE/g/a", 0, false, NULL, NULL}, /* case sensitive */
        {"a/$share/g/a", 0, false, NULL, NULL},
        {"", 0, false, NULL, NULL},
};

static void test_topic_share_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(share_cases) / sizeof(share_cases[0]); i++) {
        const struct share_case *c = &share_cases[i];
        struct gw_bytes b = c->n ? bn(c->s, c->n) : bs(c->s);
        struct gw_bytes name = {NULL, 7};
        struct gw_bytes filter = {NULL, 9};
        bool ok = topic_share_parse(b, &name, &filter);
        if (topic_is_share(b) != c->is_share || ok != (c->name != NULL)) {
            print_error("case %zu \"%s\": is_share %d parse %d\n", i, c->s, topic_is_share(b), ok);
            fail();
        }
        if (!ok) {
            assert_null(name.p); /* untouched on failure */
            assert_int_equal(name.n, 7);
            assert_null(filter.p);
            assert_int_equal(filter.n, 9);
            continue;
        }
        assert_true(gw_bytes_eq(name, bs(c->name)));
        assert_true(gw_bytes_eq(filter, bs(c->filter)));
        /* Views into the input, and NULL out-params are allowed. */
        assert_ptr_equal(name.p, b.p + 7);
        assert_ptr_equal(filter.p + filter.n, b.p + b.n);
        assert_true(topic_share_parse(b, NULL, NULL));
    }
    struct gw_bytes null_view = {NULL, 0};
    assert_false(topic_is_share(null_view));
    assert_false(topic_share_parse(null_view, NULL, NULL));
}

static void test_topic_share_parse_length_limit(void **state)
{
    (void)state;
    char *s = malloc(65536);
    assert_non_null(s);
    memset(s, 'a', 65536);
    const char *prefix = "$share/g/";
    for (size_t i = 0; prefix[i]; i++) {
        s[i] = prefix[i];
    }
    assert_true(topic_share_parse(bn(s, 65535), NULL, NULL)); /* [MQTT-4.7.3-3] */
    assert_false(topic_share_parse(bn(s, 65536), NULL, NULL));
    free(s);
}

static void test_topic_filter_reads_sys_table(void **state)
{
    (void)state;

    static const struct {
        const char *f;
        bool sys;
    } t[] = {
            {"$SYS", true},         {"$SYS/#", true},          {"$SYS/broker/uptime", true},
            {"$SYS/", true},        {"$share/g/$SYS/#", true}, {"$share/g/$SYS", true},
            {"#", false},           {"+/broker", false},       {"$SYSX", false},
            {"$SY", false},         {"a/$SYS", false},         {"$share/g/#", false},
            {"$share/$SYS", false}, {"$share", false},         {"", false},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (topic_filter_reads_sys(bs(t[i].f)) != t[i].sys) {
            fail_msg("topic_filter_reads_sys(\"%s\") != %d", t[i].f, t[i].sys);
        }
    }
    struct gw_bytes none = {NULL, 0};
    assert_false(topic_filter_reads_sys(none));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_topic_valid_table),
            cmocka_unit_test(test_topic_valid_length_limit),
            cmocka_unit_test(test_topic_has_wildcard_table),
            cmocka_unit_test(test_topic_matches_table),
            cmocka_unit_test(test_topic_matches_name_self),
            cmocka_unit_test(test_topic_share_parse_table),
            cmocka_unit_test(test_topic_share_parse_length_limit),
            cmocka_unit_test(test_topic_filter_reads_sys_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
