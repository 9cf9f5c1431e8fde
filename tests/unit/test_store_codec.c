/* test_store_codec.c - store record layouts: round trips, every truncation
 * and extension is GW_E_MALFORMED, big-endian keys sort numerically. */
#include "gw_err.h"
#include "store_codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define B(s) gw_bytes_str(s)

static void assert_bytes(struct gw_bytes a, struct gw_bytes b)
{
    assert_int_equal(a.n, b.n);
    if (a.n) {
        assert_memory_equal(a.p, b.p, a.n);
    }
}

/* A decoder under test: decode p[0..n) and say whether it succeeded. */
typedef int decode_fn(const uint8_t *p, size_t n);

/* Every strict prefix and a one-byte extension must be malformed. The
 * prefix is copied into an exact-size heap block so ASan catches reads past
 * it. */
static void check_truncations(const uint8_t *enc, size_t n, decode_fn *dec)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = malloc(i ? i : 1);
        assert_non_null(p);
        memcpy(p, enc, i);
        assert_int_equal(dec(p, i), GW_E_MALFORMED);
        free(p);
    }
    uint8_t *p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, enc, n);
    p[n] = 0;
    assert_int_equal(dec(p, n + 1), GW_E_MALFORMED);
    assert_int_equal(dec(p, n), 0);
    free(p);
}

static int dec_msg(const uint8_t *p, size_t n)
{
    struct store_msg m;
    return store_msg_decode(p, n, 1, &m);
}

static void test_msg_round_trip_all_fields(void **state)
{
    (void)state;
    struct store_msg m = {.id = 77,
                          .qos = 2,
                          .retain = true,
                          .expiry_s = 0x0102030405060708ull,
                          .created_s = 0x1112131415161718ull,
                          .topic = B("a/b/c"),
                          .payload = B("hello"),
                          .props = B("\x01\x02")};
    uint8_t buf[128];
    size_t n = store_msg_encode(buf, sizeof buf, &m);
    assert_int_equal(n, store_msg_size(&m));
    struct store_msg out;
    assert_int_equal(store_msg_decode(buf, n, 77, &out), 0);
    assert_int_equal(out.id, 77);
    assert_int_equal(out.qos, 2);
    assert_true(out.retain);
    assert_int_equal(out.expiry_s, m.expiry_s);
    assert_int_equal(out.created_s, m.created_s);
    assert_bytes(out.topic, m.topic);
    assert_bytes(out.payload, m.payload);
    assert_bytes(out.props, m.props);
    check_truncations(buf, n, dec_msg);
}

static void test_msg_empty_parts_round_trip(void **state)
{
    (void)state;
    struct store_msg m = {.id = 1, .qos = 0, .topic = {NULL, 0}};
    uint8_t buf[STORE_MSG_HDR];
    size_t n = store_msg_encode(buf, sizeof buf, &m);
    assert_int_equal(n, STORE_MSG_HDR);
    struct store_msg out;
    assert_int_equal(store_msg_decode(buf, n, 1, &out), 0);
    assert_false(out.retain);
    assert_int_equal(out.topic.n + out.payload.n + out.props.n, 0);
    check_truncations(buf, n, dec_msg);
}

static void test_msg_bad_qos_or_flags_malformed(void **state)
{
    (void)state;
    struct store_msg m = {.id = 1, .qos = 1, .topic = B("t")};
    uint8_t buf[64];
    size_t n = store_msg_encode(buf, sizeof buf, &m);
    struct store_msg out;
    buf[0] = 3;
    assert_int_equal(store_msg_decode(buf, n, 1, &out), GW_E_MALFORMED);
    buf[0] = 1;
    buf[1] = 0x02;
    assert_int_equal(store_msg_decode(buf, n, 1, &out), GW_E_MALFORMED);
}

static int dec_session(const uint8_t *p, size_t n)
{
    struct store_session ss;
    return store_session_decode(p, n, 9, &ss);
}

static void test_session_round_trip(void **state)
{
    (void)state;
    struct store_session ss = {.owner = 9,
                               .client_id = B("sensor-1"),
                               .protocol = 0x81,
                               .expiry_s = 0xFFFFFFFFu,
                               .disconnected_s = 1700000000,
                               .next_pid = 65535,
                               .extra = B("will")};
    uint8_t buf[128];
    size_t n = store_session_encode(buf, sizeof buf, &ss);
    assert_int_equal(n, store_session_size(&ss));
    struct store_session out;
    assert_int_equal(store_session_decode(buf, n, 9, &out), 0);
    assert_int_equal(out.owner, 9);
    assert_int_equal(out.protocol, 0x81);
    assert_int_equal(out.expiry_s, 0xFFFFFFFFu);
    assert_int_equal(out.disconnected_s, 1700000000);
    assert_int_equal(out.next_pid, 65535);
    assert_bytes(out.client_id, ss.client_id);
    assert_bytes(out.extra, ss.extra);
    check_truncations(buf, n, dec_session);
}

static int dec_qval(const uint8_t *p, size_t n)
{
    struct store_qentry e;
    return store_qval_decode(p, n, &e);
}

static int dec_qkey(const uint8_t *p, size_t n)
{
    uint64_t a;
    uint64_t b;
    return store_qkey_decode(p, n, &a, &b);
}

static void test_queue_key_value_round_trip(void **state)
{
    (void)state;
    uint8_t k[STORE_QKEY_LEN];
    uint8_t v[STORE_QVAL_LEN];
    struct store_qentry e = {.owner = 5, .seq = 1ull << 40, .msg_id = 123, .qos = 1, .flags = 0xA5};
    store_qkey_encode(k, e.owner, e.seq);
    store_qval_encode(v, &e);
    uint64_t owner;
    uint64_t seq;
    struct store_qentry out;
    assert_int_equal(store_qkey_decode(k, sizeof k, &owner, &seq), 0);
    assert_int_equal(owner, 5);
    assert_int_equal(seq, 1ull << 40);
    assert_int_equal(store_qval_decode(v, sizeof v, &out), 0);
    assert_int_equal(out.msg_id, 123);
    assert_int_equal(out.qos, 1);
    assert_int_equal(out.flags, 0xA5);
    check_truncations(k, sizeof k, dec_qkey);
    check_truncations(v, sizeof v, dec_qval);
}

static int dec_ifkey(const uint8_t *p, size_t n)
{
    uint64_t o;
    uint8_t d;
    uint16_t pid;
    return store_ifkey_decode(p, n, &o, &d, &pid);
}

static int dec_ifval(const uint8_t *p, size_t n)
{
    struct store_inflight f;
    return store_ifval_decode(p, n, &f);
}

static void test_inflight_key_value_round_trip(void **state)
{
    (void)state;
    struct store_inflight f = {
            .owner = 3, .dir = STORE_IN, .pid = 4242, .qos = 2, .state = 7, .msg_id = 0, .seq = 99};
    uint8_t k[STORE_IFKEY_LEN];
    uint8_t v[STORE_IFVAL_LEN];
    store_ifkey_encode(k, f.owner, f.dir, f.pid);
    store_ifval_encode(v, &f);
    struct store_inflight out;
    assert_int_equal(store_ifkey_decode(k, sizeof k, &out.owner, &out.dir, &out.pid), 0);
    assert_int_equal(store_ifval_decode(v, sizeof v, &out), 0);
    assert_memory_equal(&out.owner, &f.owner, sizeof f.owner);
    assert_int_equal(out.dir, STORE_IN);
    assert_int_equal(out.pid, 4242);
    assert_int_equal(out.qos, 2);
    assert_int_equal(out.state, 7);
    assert_int_equal(out.seq, 99);
    check_truncations(k, sizeof k, dec_ifkey);
    check_truncations(v, sizeof v, dec_ifval);
    k[8] = 2; /* no such direction */
    assert_int_equal(dec_ifkey(k, sizeof k), GW_E_MALFORMED);
}

static int dec_subval(const uint8_t *p, size_t n)
{
    struct store_sub sub;
    return store_subval_decode(p, n, &sub);
}

static void test_sub_key_value_round_trip(void **state)
{
    (void)state;
    struct store_sub sub = {
            .owner = 11, .filter = B("a/+/#"), .qos = 1, .options = 0x2C, .sub_id = 268435455};
    uint8_t k[64];
    uint8_t v[STORE_SUBVAL_LEN];
    size_t kn = store_subkey_encode(k, sizeof k, sub.owner, sub.filter);
    assert_int_equal(kn, 8 + 5);
    store_subval_encode(v, &sub);
    struct store_sub out;
    assert_int_equal(store_subkey_decode(k, kn, &out.owner, &out.filter), 0);
    assert_int_equal(store_subval_decode(v, sizeof v, &out), 0);
    assert_int_equal(out.owner, 11);
    assert_bytes(out.filter, sub.filter);
    assert_int_equal(out.qos, 1);
    assert_int_equal(out.options, 0x2C);
    assert_int_equal(out.sub_id, 268435455);
    check_truncations(v, sizeof v, dec_subval);
    for (size_t i = 0; i <= 8; i++) { /* owner alone or less: no filter */
        assert_int_equal(store_subkey_decode(k, i, &out.owner, &out.filter), GW_E_MALFORMED);
    }
}

static int dec_version(const uint8_t *p, size_t n)
{
    uint32_t v;
    return store_version_decode(p, n, &v);
}

static int dec_ids(const uint8_t *p, size_t n)
{
    uint64_t a;
    uint64_t b;
    return store_ids_decode(p, n, &a, &b);
}

static int dec_ref(const uint8_t *p, size_t n)
{
    uint32_t c;
    return store_ref_decode(p, n, &c);
}

static int dec_u64(const uint8_t *p, size_t n)
{
    uint64_t c;
    return store_u64_decode(p, n, &c);
}

static int dec_id(const uint8_t *p, size_t n)
{
    uint64_t c;
    return store_id_decode(p, n, &c);
}

static void test_meta_and_small_values_round_trip(void **state)
{
    (void)state;
    uint8_t ver[STORE_VERSION_LEN];
    uint8_t ids[STORE_IDS_LEN];
    uint8_t ref[STORE_REFVAL_LEN];
    uint8_t u[STORE_COUNT_LEN];
    uint8_t id[STORE_ID_LEN];
    uint32_t v32;
    uint64_t a;
    uint64_t b;
    store_version_encode(ver, 7);
    assert_int_equal(store_version_decode(ver, sizeof ver, &v32), 0);
    assert_int_equal(v32, 7);
    store_ids_encode(ids, 1000, UINT64_MAX);
    assert_int_equal(store_ids_decode(ids, sizeof ids, &a, &b), 0);
    assert_int_equal(a, 1000);
    assert_true(b == UINT64_MAX);
    store_ref_encode(ref, 3);
    assert_int_equal(store_ref_decode(ref, sizeof ref, &v32), 0);
    assert_int_equal(v32, 3);
    store_u64_encode(u, 42);
    assert_int_equal(store_u64_decode(u, sizeof u, &a), 0);
    assert_int_equal(a, 42);
    store_id_encode(id, 0x1122334455667788ull);
    assert_int_equal(store_id_decode(id, sizeof id, &a), 0);
    assert_true(a == 0x1122334455667788ull);
    check_truncations(ver, sizeof ver, dec_version);
    check_truncations(ids, sizeof ids, dec_ids);
    check_truncations(ref, sizeof ref, dec_ref);
    check_truncations(u, sizeof u, dec_u64);
    check_truncations(id, sizeof id, dec_id);
    ver[0] = 'X'; /* wrong magic */
    assert_int_equal(store_version_decode(ver, sizeof ver, &v32), GW_E_MALFORMED);
}

static int key_cmp(const uint8_t *a, const uint8_t *b, size_t n)
{
    int c = memcmp(a, b, n);
    return (c > 0) - (c < 0);
}

static void test_keys_memcmp_order_is_numeric_order(void **state)
{
    (void)state;
    static const uint64_t vals[] = {0,          1,
                                    255,        256,
                                    65535,      65536,
                                    1ull << 32, (1ull << 32) + 1,
                                    1ull << 56, UINT64_MAX - 1,
                                    UINT64_MAX};
    size_t n = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            uint8_t a[STORE_QKEY_LEN];
            uint8_t b[STORE_QKEY_LEN];
            int want = (vals[i] > vals[j]) - (vals[i] < vals[j]);
            store_qkey_encode(a, 7, vals[i]); /* same owner: seq decides */
            store_qkey_encode(b, 7, vals[j]);
            assert_int_equal(key_cmp(a, b, sizeof a), want);
            store_qkey_encode(a, vals[i], UINT64_MAX); /* owner decides over seq */
            store_qkey_encode(b, vals[j], 0);
            assert_int_equal(key_cmp(a, b, sizeof a), i == j ? 1 : want);
            uint8_t fa[STORE_IFKEY_LEN];
            uint8_t fb[STORE_IFKEY_LEN];
            store_ifkey_encode(fa, vals[i], STORE_IN, 0);
            store_ifkey_encode(fb, vals[j], STORE_OUT, 65535);
            assert_int_equal(key_cmp(fa, fb, sizeof fa), i == j ? 1 : want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_msg_round_trip_all_fields),
            cmocka_unit_test(test_msg_empty_parts_round_trip),
            cmocka_unit_test(test_msg_bad_qos_or_flags_malformed),
            cmocka_unit_test(test_session_round_trip),
            cmocka_unit_test(test_queue_key_value_round_trip),
            cmocka_unit_test(test_inflight_key_value_round_trip),
            cmocka_unit_test(test_sub_key_value_round_trip),
            cmocka_unit_test(test_meta_and_small_values_round_trip),
            cmocka_unit_test(test_keys_memcmp_order_is_numeric_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
