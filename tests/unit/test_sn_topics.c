/* test_sn_topics.c - the MQTT-SN topic-id registry (mqttsn/sn_topics.c):
 * ids are random (not 1, 2, 3 ...), distinct, in 1..0xFFFE, found by id
 * through the index as it grows, never reused after a delete, bounded by
 * the registry's cap; add reports whether it changed anything. */
#include "sn_gw_priv.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static struct gw_bytes name_of(char *buf, size_t cap, unsigned i)
{
    int n = snprintf(buf, cap, "t/%u", i);
    return (struct gw_bytes){(const uint8_t *)buf, (size_t)n};
}

static void test_sn_topics_random_distinct_and_found(void **state)
{
    (void)state;
    struct sn_topics t = {.max = 5000};
    static uint8_t seen[65536];
    memset(seen, 0, sizeof(seen));
    unsigned successive = 0;
    uint16_t prev = 0;
    for (unsigned i = 0; i < 5000; i++) {
        char buf[32];
        uint16_t id = 0;
        assert_int_equal(sn_topics_add(&t, name_of(buf, sizeof(buf), i), i % 2 == 0, &id), 1);
        assert_true(id >= 1 && id <= 0xFFFE);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        successive += id == (uint16_t)(prev + 1);
        prev = id;
    }
    assert_true(successive < 20); /* not a counter */
    for (unsigned i = 0; i < 5000; i++) {
        char buf[32];
        struct gw_bytes n = name_of(buf, sizeof(buf), i);
        uint16_t id = sn_topics_find(&t, n);
        const struct sn_topic *e = sn_topics_get(&t, id);
        assert_non_null(e);
        assert_int_equal(e->len, n.n);
        assert_memory_equal(e->name, n.p, n.n);
        assert_int_equal(e->acked, i % 2 == 0);
    }
    char buf[32];
    uint16_t id = 0;
    assert_int_equal(sn_topics_add(&t, name_of(buf, sizeof(buf), 9999), true, &id), -ENOSPC);
    sn_topics_fini(&t);
    assert_int_equal(t.max, 5000); /* the cap outlives a reset */
}

static void test_sn_topics_add_reports_changes(void **state)
{
    (void)state;
    struct sn_topics t = {0};
    struct gw_bytes a = {(const uint8_t *)"a/b", 3};
    uint16_t id = 0;
    uint16_t again = 0;
    assert_int_equal(sn_topics_add(&t, a, false, &id), 1);   /* new, not acked */
    assert_int_equal(sn_topics_add(&t, a, false, &again), 0); /* nothing new */
    assert_int_equal(again, id);
    assert_int_equal(sn_topics_add(&t, a, true, &again), 1); /* newly acked */
    assert_int_equal(sn_topics_add(&t, a, true, &again), 0);
    assert_true(sn_topics_get(&t, id)->acked);
    sn_topics_fini(&t);
}

static void test_sn_topics_del_never_reuses(void **state)
{
    (void)state;
    struct sn_topics t = {.max = 3};
    struct gw_bytes a = {(const uint8_t *)"x", 1};
    struct gw_bytes b = {(const uint8_t *)"y", 1};
    uint16_t ia = 0;
    uint16_t ib = 0;
    assert_int_equal(sn_topics_add(&t, a, true, &ia), 1);
    sn_topics_del(&t, ia);
    assert_null(sn_topics_get(&t, ia));
    assert_int_equal(sn_topics_find(&t, a), 0);
    sn_topics_del(&t, ia);     /* twice: no-op */
    sn_topics_del(&t, 0);      /* unknown: no-op */
    assert_int_equal(sn_topics_add(&t, a, true, &ib), 1); /* a new id for the name */
    assert_int_not_equal(ib, ia);
    assert_int_equal(sn_topics_add(&t, b, true, &ib), 1);
    /* The freed slot still counts against the cap (ids are not reused). */
    struct gw_bytes c = {(const uint8_t *)"z", 1};
    assert_int_equal(sn_topics_add(&t, c, true, &ib), -ENOSPC);
    assert_null(sn_topics_get(&t, 0));
    assert_null(sn_topics_get(&t, 0xFFFF));
    sn_topics_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sn_topics_random_distinct_and_found),
            cmocka_unit_test(test_sn_topics_add_reports_changes),
            cmocka_unit_test(test_sn_topics_del_never_reuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
