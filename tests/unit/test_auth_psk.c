/* test_auth_psk.c - the psk_file parser and the hex key decoder
 * (gateway/auth/auth_psk.c): table-driven good and bad files, every
 * allocation failure, keys wiped on free. */
#include "alloc.h"
#include "auth_psk.h"
#include "gw_err.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_psk_hex_decode_cases(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(auth_psk_hex_decode("00fFa1", 6, out, sizeof(out)), 3);
    assert_int_equal(out[0], 0x00);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0xa1);
    assert_int_equal(auth_psk_hex_decode("", 0, out, sizeof(out)), GW_E_MALFORMED);
    assert_int_equal(auth_psk_hex_decode("abc", 3, out, sizeof(out)), GW_E_MALFORMED);
    assert_int_equal(auth_psk_hex_decode("zz", 2, out, sizeof(out)), GW_E_MALFORMED);
    assert_int_equal(auth_psk_hex_decode("0x12", 4, out, sizeof(out)), GW_E_MALFORMED);
    assert_int_equal(auth_psk_hex_decode("0011223344", 10, out, sizeof(out)), GW_E_TOO_LARGE);
}

static void test_psk_parse_good_file(void **state)
{
    (void)state;
    const char *text = "# devices\n"
                       "\n"
                       "sensor-1:0123456789abcdef\r\n"
                       "  gw two:AABB  \n"
                       "x:00"; /* no final newline */
    struct auth_psk_table t;
    char err[200] = "";
    assert_int_equal(auth_psk_parse(text, strlen(text), "psk", &t, err, sizeof(err)), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.v[0].identity, "sensor-1");
    assert_int_equal(t.v[0].key_len, 8);
    assert_int_equal(t.v[0].key[7], 0xef);
    assert_string_equal(t.v[1].identity, "gw two");
    assert_int_equal(t.v[1].key_len, 2);
    assert_string_equal(t.v[2].identity, "x");
    assert_int_equal(t.v[2].key[0], 0);
    auth_psk_table_free(&t);
    assert_int_equal(gw_alloc_bytes(), 0);
}

static const struct {
    const char *text;
    const char *expect;
} bad_files[] = {
        {"nocolon\n", "psk:1: expected identity:hexkey"},
        {"a:00\n:00\n", "psk:2: an identity is 1..128"},
        {"a:\n", "psk:1: the key must be an even count"},
        {"a:123\n", "psk:1: the key must be an even count"},
        {"a:12zz\n", "psk:1: the key must be an even count"},
        {"a:00\nb:11\na:22\n", "psk:3: identity \"a\" is given twice"},
        {"a\tb:00\n", "psk:1: an identity is 1..128"},
        {"a:"
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n",
         "psk:1: key over 64 bytes"},
        {"a:00\nb\0:00\n", "psk:2: NUL byte"},
};

static void test_psk_parse_bad_files_name_the_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        const char *text = bad_files[i].text;
        size_t len = strlen(text);
        if (i == 8) {
            len = 11; /* the NUL inside counts */
        }
        struct auth_psk_table t = {(void *)1, 77};
        char err[200] = "";
        int rc = auth_psk_parse(text, len, "psk", &t, err, sizeof(err));
        if (rc != GW_E_CONFIG || !strstr(err, bad_files[i].expect)) {
            fail_msg("case %zu: rc=%d err=\"%s\"", i, rc, err);
        }
        assert_int_equal(t.n, 77); /* untouched */
        assert_int_equal(gw_alloc_bytes(), 0);
    }
}

static void test_psk_identity_limit(void **state)
{
    (void)state;
    char text[300];
    memset(text, 'i', AUTH_PSK_MAX_IDENTITY);
    strcpy(text + AUTH_PSK_MAX_IDENTITY, ":00\n");
    struct auth_psk_table t;
    char err[200] = "";
    assert_int_equal(auth_psk_parse(text, strlen(text), "psk", &t, err, sizeof(err)), 0);
    auth_psk_table_free(&t);
    memset(text, 'i', AUTH_PSK_MAX_IDENTITY + 1);
    strcpy(text + AUTH_PSK_MAX_IDENTITY + 1, ":00\n");
    assert_int_equal(auth_psk_parse(text, strlen(text), "psk", &t, err, sizeof(err)),
                     GW_E_CONFIG);
}

static void test_psk_parse_alloc_failures(void **state)
{
    (void)state;
    char text[4096];
    size_t at = 0;
    for (int i = 0; i < 40; i++) {
        at += (size_t)snprintf(text + at, sizeof(text) - at, "dev%d:%02x%02x\n", i, i, i);
    }
    int rc = -ENOMEM;
    struct auth_psk_table t;
    for (long n = 0; rc == -ENOMEM && n < 200; n++) {
        char err[200] = "";
        gw_alloc_fail_at(n, 0);
        rc = auth_psk_parse(text, at, "psk", &t, err, sizeof(err));
        gw_alloc_fail_at(-1, 0);
        if (rc == -ENOMEM) {
            assert_int_equal(gw_alloc_bytes(), 0);
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(t.n, 40);
    auth_psk_table_free(&t);
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_psk_load_missing_file_names_it(void **state)
{
    (void)state;
    struct auth_psk_table t;
    char err[200] = "";
    assert_int_equal(auth_psk_load("/nonexistent/psk.txt", &t, err, sizeof(err)), GW_E_CONFIG);
    assert_non_null(strstr(err, "psk_file /nonexistent/psk.txt: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_psk_hex_decode_cases),
            cmocka_unit_test(test_psk_parse_good_file),
            cmocka_unit_test(test_psk_parse_bad_files_name_the_line),
            cmocka_unit_test(test_psk_identity_limit),
            cmocka_unit_test(test_psk_parse_alloc_failures),
            cmocka_unit_test(test_psk_load_missing_file_names_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
