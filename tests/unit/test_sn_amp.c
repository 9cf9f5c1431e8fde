/* test_sn_amp.c - anti-amplification accounting of an MQTT-SN peer
 * (mqttsn/sn_amp.h, RFC 9000 section 8.1): the budget is factor x bytes
 * received, what does not fit is refused and counted, a validated peer
 * or factor 0 has no limit, wrong proofs are bounded. */
#include "sn_amp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_sn_amp_nothing_received_nothing_sent(void **state)
{
    (void)state;
    struct sn_amp a = {0};
    assert_false(sn_amp_take(&a, 1, 3));
    assert_int_equal(a.tx, 0);
    assert_int_equal(a.blocked, 1);
    assert_int_equal(sn_amp_room(&a, 3), 0);
}

static void test_sn_amp_budget_is_three_times_received(void **state)
{
    (void)state;
    struct sn_amp a = {0};
    sn_amp_on_rx(&a, 10);
    assert_int_equal(sn_amp_room(&a, 3), 30);
    assert_true(sn_amp_take(&a, 20, 3));
    assert_true(sn_amp_take(&a, 10, 3)); /* exactly the budget */
    assert_int_equal(sn_amp_room(&a, 3), 0);
    assert_false(sn_amp_take(&a, 1, 3));
    assert_int_equal(a.tx, 30);
    assert_int_equal(a.blocked, 1);
    /* More received: more room, cumulatively. */
    sn_amp_on_rx(&a, 2);
    assert_int_equal(sn_amp_room(&a, 3), 6);
    assert_false(sn_amp_take(&a, 7, 3)); /* a datagram is all or nothing */
    assert_true(sn_amp_take(&a, 6, 3));
    assert_int_equal(a.tx, 36);
    assert_int_equal(a.blocked, 2);
}

static void test_sn_amp_validated_has_no_limit(void **state)
{
    (void)state;
    struct sn_amp a = {0};
    sn_amp_on_rx(&a, 5);
    assert_false(sn_amp_take(&a, 100, 3));
    a.limited = true;
    sn_amp_validate(&a);
    assert_false(a.limited);
    assert_true(sn_amp_take(&a, 100000, 3));
    assert_int_equal(sn_amp_room(&a, 3), UINT64_MAX);
    assert_false(sn_amp_strike(&a)); /* nothing to guess any more */
}

static void test_sn_amp_factor_zero_is_off(void **state)
{
    (void)state;
    struct sn_amp a = {0};
    assert_true(sn_amp_take(&a, 65535, 0));
    assert_int_equal(sn_amp_room(&a, 0), UINT64_MAX);
    assert_int_equal(a.blocked, 0);
}

static void test_sn_amp_other_factor(void **state)
{
    (void)state;
    struct sn_amp a = {0};
    sn_amp_on_rx(&a, 7);
    assert_int_equal(sn_amp_room(&a, 1), 7);
    assert_false(sn_amp_take(&a, 8, 1));
    assert_true(sn_amp_take(&a, 7, 1));
}

static void test_sn_amp_huge_rx_saturates(void **state)
{
    (void)state;
    struct sn_amp a = {.rx = UINT64_MAX / 2};
    assert_int_equal(sn_amp_room(&a, 1000), UINT64_MAX); /* no wrap to a small budget */
    assert_true(sn_amp_take(&a, 1000, 1000));
}

static void test_sn_amp_strikes_bounded(void **state)
{
    (void)state;
    struct sn_amp a = {0};
    for (unsigned i = 0; i < SN_AMP_STRIKES_MAX; i++) {
        assert_false(sn_amp_strike(&a));
    }
    assert_true(sn_amp_strike(&a));
    assert_true(sn_amp_strike(&a)); /* stays over, no wrap of the counter */
    assert_int_equal(a.strikes, SN_AMP_STRIKES_MAX + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sn_amp_nothing_received_nothing_sent),
            cmocka_unit_test(test_sn_amp_budget_is_three_times_received),
            cmocka_unit_test(test_sn_amp_validated_has_no_limit),
            cmocka_unit_test(test_sn_amp_factor_zero_is_off),
            cmocka_unit_test(test_sn_amp_other_factor),
            cmocka_unit_test(test_sn_amp_huge_rx_saturates),
            cmocka_unit_test(test_sn_amp_strikes_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
