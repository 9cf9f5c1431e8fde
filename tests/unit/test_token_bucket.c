/* test_token_bucket.c - rate-limit buckets and the per-address table,
 * with a fake clock (the time is a parameter). */
#include "token_bucket.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_tb_starts_full_then_refills_at_rate(void **state)
{
    (void)state;
    struct token_bucket b = {0};
    uint64_t t = 5000;
    for (int i = 0; i < 10; i++) {
        assert_true(tb_take(&b, 10, 10, 1, t)); /* a full second's worth */
    }
    assert_false(tb_take(&b, 10, 10, 1, t));
    assert_false(tb_take(&b, 10, 10, 1, t + 99)); /* 0.99 token */
    assert_true(tb_take(&b, 10, 10, 1, t + 100));
    assert_false(tb_take(&b, 10, 10, 1, t + 100));
    /* Idle for long: back to the burst, never beyond. */
    t += 100000;
    for (int i = 0; i < 10; i++) {
        assert_true(tb_take(&b, 10, 10, 1, t));
    }
    assert_false(tb_take(&b, 10, 10, 1, t));
    /* A failed take takes nothing. */
    assert_false(tb_take(&b, 10, 10, 5, t + 400));
    assert_true(tb_take(&b, 10, 10, 4, t + 400));
}

static void test_tb_debt_tells_the_wait(void **state)
{
    (void)state;
    struct token_bucket b = {0};
    uint64_t t = 1;
    assert_int_equal(tb_take_debt(&b, 1000, 1000, 1000, t), 0); /* the burst */
    assert_int_equal(tb_take_debt(&b, 1000, 1000, 500, t), 500); /* 500 bytes at 1000/s */
    assert_int_equal(tb_take_debt(&b, 1000, 1000, 1, t + 250), 251);
    assert_int_equal(tb_take_debt(&b, 1000, 1000, 0, t + 600), 0);
    /* One event larger than the burst: a long wait, then it is paid. */
    struct token_bucket big = {0};
    assert_int_equal(tb_take_debt(&big, 100, 100, 1100, 10), 10000);
    assert_false(tb_take(&big, 100, 100, 1, 10009));
    assert_true(tb_take(&big, 100, 100, 1, 10020));
}

static void test_tb_table_fixed_and_least_recent_replaced(void **state)
{
    (void)state;
    static struct tb_table t;
    memset(&t, 0, sizeof(t));
    uint8_t a[16] = {127, 0, 0, 1};
    struct tb_slot *s = tb_table_get(&t, a, 10);
    assert_true(tb_take(&s->b, 2, 2, 2, 10));
    assert_false(tb_take(&tb_table_get(&t, a, 11)->b, 2, 2, 1, 11)); /* the same bucket */
    for (unsigned i = 0; i < TB_TABLE_SLOTS; i++) {
        uint8_t x[16] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i};
        (void)tb_table_get(&t, x, 100 + i);
    }
    /* a was the least recent: its slot went to another address; it comes
     * back with a full bucket. */
    assert_true(tb_take(&tb_table_get(&t, a, 1000)->b, 2, 2, 2, 1000));
    unsigned used = 0;
    for (unsigned i = 0; i < TB_TABLE_SLOTS; i++) {
        used += t.slot[i].seen_ms != 0;
    }
    assert_int_equal(used, TB_TABLE_SLOTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tb_starts_full_then_refills_at_rate),
            cmocka_unit_test(test_tb_debt_tells_the_wait),
            cmocka_unit_test(test_tb_table_fixed_and_least_recent_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
