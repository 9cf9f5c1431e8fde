/* test_ws_frame.c - the RFC 6455 framing of gateway/stream/ws_frame.c, on
 * byte vectors (RFC 6455 section 5.7's examples among them). */
#include "gw_err.h"
#include "ws_frame.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static ssize_t dec(const uint8_t *b, size_t n, bool from_client, uint64_t max,
                   struct ws_frame_hdr *h)
{
    /* A heap copy of exactly n bytes: ASan catches a read past it. */
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, b, n);
    ssize_t r = ws_frame_decode_header(p, n, from_client, max, h);
    free(p);
    return r;
}

/* RFC 6455 5.7: a single-frame unmasked text message "Hello" (a server's). */
static void test_frame_rfc_unmasked_hello_ok(void **state)
{
    (void)state;
    const uint8_t f[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    struct ws_frame_hdr h;
    assert_int_equal(dec(f, sizeof(f), false, 0, &h), 2);
    assert_true(h.fin);
    assert_int_equal(h.opcode, WS_OP_TEXT);
    assert_false(h.masked);
    assert_int_equal(h.len, 5);
    /* From a client it must be masked (5.1). */
    assert_int_equal(dec(f, sizeof(f), true, 0, &h), GW_E_MALFORMED);
}

/* RFC 6455 5.7: a single-frame masked text message "Hello" (a client's). */
static void test_frame_rfc_masked_hello_unmasks(void **state)
{
    (void)state;
    uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct ws_frame_hdr h;
    assert_int_equal(dec(f, sizeof(f), true, 0, &h), 6);
    assert_true(h.masked);
    assert_int_equal(h.len, 5);
    ws_unmask(f + 6, 5, h.mask, 0);
    assert_memory_equal(f + 6, "Hello", 5);
    /* From a server a masked frame is refused (5.1). */
    assert_int_equal(dec(f, sizeof(f), false, 0, &h), GW_E_MALFORMED);
}

/* Unmasking in pieces gives the same bytes as in one go. */
static void test_frame_unmask_split_offsets_same(void **state)
{
    (void)state;
    uint8_t a[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    ws_unmask(a, 1, mask, 0);
    ws_unmask(a + 1, 3, mask, 1);
    ws_unmask(a + 4, 1, mask, 4);
    assert_memory_equal(a, "Hello", 5);
}

/* The word-at-a-time unmasking equals the byte rule of RFC 6455 5.3 for
 * every length and phase. */
static void test_frame_unmask_matches_byte_rule(void **state)
{
    (void)state;
    const uint8_t mask[4] = {0x9d, 0x01, 0xf3, 0x5a};
    for (size_t n = 0; n < 40; n++) {
        for (uint64_t off = 0; off < 8; off++) {
            uint8_t a[40];
            uint8_t b[40];
            for (size_t i = 0; i < n; i++) {
                a[i] = b[i] = (uint8_t)(i * 37 + n);
                b[i] ^= mask[(off + i) % 4];
            }
            ws_unmask(a, n, mask, off);
            if (n) {
                assert_memory_equal(a, b, n);
            }
        }
    }
}

/* RFC 6455 5.7: a fragmented unmasked text message "Hel" + "lo". */
static void test_frame_rfc_fragments_follow_rules(void **state)
{
    (void)state;
    const uint8_t f1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
    const uint8_t f2[] = {0x80, 0x02, 0x6c, 0x6f};
    const uint8_t ping[] = {0x89, 0x00};
    struct ws_msg_state st = {0};
    struct ws_frame_hdr h;
    assert_int_equal(dec(f1, sizeof(f1), false, 0, &h), 2);
    assert_false(h.fin);
    assert_int_equal(ws_msg_check(&st, &h, 0), WS_OP_TEXT);
    assert_true(st.open);
    /* A control frame between fragments is allowed (5.4). */
    assert_int_equal(dec(ping, sizeof(ping), false, 0, &h), 2);
    assert_int_equal(ws_msg_check(&st, &h, 0), WS_OP_PING);
    assert_true(st.open);
    assert_int_equal(dec(f2, sizeof(f2), false, 0, &h), 2);
    assert_int_equal(h.opcode, WS_OP_CONT);
    assert_int_equal(ws_msg_check(&st, &h, 0), WS_OP_TEXT);
    assert_false(st.open);
    assert_int_equal(st.len, 5);
    /* A continuation with no message open is refused. */
    assert_int_equal(ws_msg_check(&st, &h, 0), GW_E_MALFORMED);
}

static void test_frame_new_message_inside_fragmented_refused(void **state)
{
    (void)state;
    struct ws_msg_state st = {0};
    struct ws_frame_hdr h = {.fin = false, .opcode = WS_OP_BINARY, .len = 3};
    assert_int_equal(ws_msg_check(&st, &h, 0), WS_OP_BINARY);
    h.fin = true;
    assert_int_equal(ws_msg_check(&st, &h, 0), GW_E_MALFORMED);
}

static void test_frame_message_over_limit_too_large(void **state)
{
    (void)state;
    struct ws_msg_state st = {0};
    struct ws_frame_hdr h = {.fin = false, .opcode = WS_OP_BINARY, .len = 600};
    assert_int_equal(ws_msg_check(&st, &h, 1000), WS_OP_BINARY);
    h.opcode = WS_OP_CONT;
    assert_int_equal(ws_msg_check(&st, &h, 1000), GW_E_TOO_LARGE);
}

/* RFC 6455 5.7: unmasked ping "Hello" and masked pong "Hello". */
static void test_frame_rfc_ping_pong_ok(void **state)
{
    (void)state;
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct ws_frame_hdr h;
    assert_int_equal(dec(ping, sizeof(ping), false, 0, &h), 2);
    assert_int_equal(h.opcode, WS_OP_PING);
    assert_int_equal(dec(pong, sizeof(pong), true, 0, &h), 6);
    assert_int_equal(h.opcode, WS_OP_PONG);
}

/* RFC 6455 5.7: 256 bytes and 64 KiB in one unmasked binary frame. */
static void test_frame_rfc_extended_lengths_ok(void **state)
{
    (void)state;
    const uint8_t l16[] = {0x82, 0x7e, 0x01, 0x00};
    const uint8_t l64[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    struct ws_frame_hdr h;
    assert_int_equal(dec(l16, sizeof(l16), false, 0, &h), 4);
    assert_int_equal(h.len, 256);
    assert_int_equal(dec(l64, sizeof(l64), false, 0, &h), 10);
    assert_int_equal(h.len, 65536);
    assert_int_equal(dec(l64, sizeof(l64), false, 65535, &h), GW_E_TOO_LARGE);
    assert_int_equal(h.len, 65536); /* named for the log */
}

static void test_frame_non_minimal_lengths_refused(void **state)
{
    (void)state;
    const uint8_t l16_small[] = {0x82, 0x7e, 0x00, 0x7d};
    const uint8_t l64_small[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t l64_msb[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    struct ws_frame_hdr h;
    assert_int_equal(dec(l16_small, sizeof(l16_small), false, 0, &h), GW_E_MALFORMED);
    assert_int_equal(dec(l64_small, sizeof(l64_small), false, 0, &h), GW_E_MALFORMED);
    assert_int_equal(dec(l64_msb, sizeof(l64_msb), false, 0, &h), GW_E_MALFORMED);
}

static void test_frame_reserved_bits_and_opcodes_refused(void **state)
{
    (void)state;
    struct ws_frame_hdr h;
    for (unsigned rsv = 1; rsv < 8; rsv++) {
        const uint8_t f[] = {(uint8_t)(0x82 | (rsv << 4)), 0x80, 1, 2, 3, 4};
        assert_int_equal(dec(f, sizeof(f), true, 0, &h), GW_E_MALFORMED);
    }
    const uint8_t ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof(ops); i++) {
        const uint8_t f[] = {(uint8_t)(0x80 | ops[i]), 0x80, 1, 2, 3, 4};
        assert_int_equal(dec(f, sizeof(f), true, 0, &h), GW_E_MALFORMED);
    }
}

static void test_frame_control_rules_refused(void **state)
{
    (void)state;
    struct ws_frame_hdr h;
    const uint8_t frag_ping[] = {0x09, 0x80, 1, 2, 3, 4}; /* FIN clear */
    const uint8_t big_close[] = {0x88, 0xfe, 0x00, 0x7e}; /* 126 bytes */
    const uint8_t len126_ping[] = {0x89, 0xfe};           /* 16-bit length form */
    assert_int_equal(dec(frag_ping, sizeof(frag_ping), true, 0, &h), GW_E_MALFORMED);
    assert_int_equal(dec(big_close, sizeof(big_close), true, 0, &h), GW_E_MALFORMED);
    assert_int_equal(dec(len126_ping, sizeof(len126_ping), true, 0, &h), GW_E_MALFORMED);
    const uint8_t ok_close[] = {0x88, 0xfd, 1, 2, 3, 4}; /* 125 bytes: allowed */
    assert_int_equal(dec(ok_close, sizeof(ok_close), true, 0, &h), 6);
}

static void test_frame_every_prefix_incomplete(void **state)
{
    (void)state;
    const uint8_t f[] = {0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 9, 8, 7, 6};
    struct ws_frame_hdr h;
    for (size_t k = 0; k < sizeof(f); k++) {
        assert_int_equal(dec(f, k, true, 0, &h), GW_E_INCOMPLETE);
    }
    assert_int_equal(dec(f, sizeof(f), true, 0, &h), 14);
    assert_memory_equal(h.mask, f + 10, 4);
}

static void test_frame_encode_roundtrip_all_forms(void **state)
{
    (void)state;
    const uint64_t lens[] = {0, 1, 125, 126, 65535, 65536, 1u << 30, (uint64_t)1 << 40};
    const size_t hdr[] = {2, 2, 2, 4, 4, 10, 10, 10};
    const uint8_t mask[4] = {9, 8, 7, 6};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t b[WS_FRAME_HDR_MAX];
        struct ws_frame_hdr h;
        size_t n = ws_frame_encode_header(b, true, WS_OP_BINARY, lens[i], NULL);
        assert_int_equal(n, hdr[i]);
        assert_int_equal(dec(b, n, false, 0, &h), (ssize_t)n);
        assert_int_equal(h.len, lens[i]);
        n = ws_frame_encode_header(b, false, WS_OP_CONT, lens[i], mask);
        assert_int_equal(n, hdr[i] + 4);
        assert_int_equal(dec(b, n, true, 0, &h), (ssize_t)n);
        assert_false(h.fin);
        assert_memory_equal(h.mask, mask, 4);
    }
}

static void test_close_decode_codes(void **state)
{
    (void)state;
    uint16_t code = 0;
    struct gw_bytes why;
    const uint8_t normal[] = {0x03, 0xe8, 'b', 'y', 'e'};
    assert_int_equal(ws_close_decode(normal, sizeof(normal), &code, &why), 0);
    assert_int_equal(code, 1000);
    assert_int_equal(why.n, 3);
    assert_int_equal(ws_close_decode(normal, 0, &code, &why), 0);
    assert_int_equal(code, WS_CLOSE_NO_STATUS);
    assert_int_equal(ws_close_decode(normal, 1, &code, &why), GW_E_MALFORMED);
    const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1100, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const uint8_t f[] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        assert_int_equal(ws_close_decode(f, 2, &code, &why), GW_E_MALFORMED);
    }
    const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const uint8_t f[] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]};
        assert_int_equal(ws_close_decode(f, 2, &code, &why), 0);
        assert_int_equal(code, good[i]);
    }
    const uint8_t bad_utf8[] = {0x03, 0xe8, 0xc0, 0xaf}; /* overlong '/' */
    assert_int_equal(ws_close_decode(bad_utf8, sizeof(bad_utf8), &code, &why), GW_E_PROTOCOL);
}

static void test_close_encode_cuts_at_char_boundary(void **state)
{
    (void)state;
    char reason[200];
    memset(reason, 'a', sizeof(reason));
    /* "é" (2 bytes) straddling the 123-byte cut. */
    reason[122] = (char)0xc3;
    reason[123] = (char)0xa9;
    reason[199] = '\0';
    uint8_t f[256];
    size_t n = ws_close_encode(f, sizeof(f), 1009, reason);
    assert_int_equal(n, 2 + 2 + 122);
    struct ws_frame_hdr h;
    assert_int_equal(dec(f, n, false, 0, &h), 2);
    assert_int_equal(h.opcode, WS_OP_CLOSE);
    uint16_t code;
    struct gw_bytes why;
    assert_int_equal(ws_close_decode(f + 2, (size_t)h.len, &code, &why), 0);
    assert_int_equal(code, 1009);
    assert_int_equal(ws_close_encode(f, 5, 1000, "hello"), 0); /* too small */
}

static void test_utf8_valid_vectors(void **state)
{
    (void)state;

    struct {
        const char *s;
        bool ok;
    } v[] = {
            {"", true},
            {"plain", true},
            {"\xc3\xa9", true},             /* U+00E9 */
            {"\xe2\x82\xac", true},         /* U+20AC */
            {"\xf0\x9f\x98\x80", true},     /* U+1F600 */
            {"\xf4\x8f\xbf\xbf", true},     /* U+10FFFF */
            {"\xc0\xaf", false},            /* overlong */
            {"\xe0\x80\xaf", false},        /* overlong */
            {"\xed\xa0\x80", false},        /* surrogate U+D800 */
            {"\xf4\x90\x80\x80", false},    /* U+110000 */
            {"\xf5\x80\x80\x80", false},    /* beyond */
            {"\x80", false},                /* lone continuation */
            {"\xe2\x82", false},            /* truncated */
            {"\xce\xba\xe1\xbd\xb9", true}, /* "κό" (RFC 3629 examples) */
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(ws_utf8_valid((const uint8_t *)v[i].s, strlen(v[i].s)), v[i].ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_frame_rfc_unmasked_hello_ok),
            cmocka_unit_test(test_frame_rfc_masked_hello_unmasks),
            cmocka_unit_test(test_frame_unmask_split_offsets_same),
            cmocka_unit_test(test_frame_unmask_matches_byte_rule),
            cmocka_unit_test(test_frame_rfc_fragments_follow_rules),
            cmocka_unit_test(test_frame_new_message_inside_fragmented_refused),
            cmocka_unit_test(test_frame_message_over_limit_too_large),
            cmocka_unit_test(test_frame_rfc_ping_pong_ok),
            cmocka_unit_test(test_frame_rfc_extended_lengths_ok),
            cmocka_unit_test(test_frame_non_minimal_lengths_refused),
            cmocka_unit_test(test_frame_reserved_bits_and_opcodes_refused),
            cmocka_unit_test(test_frame_control_rules_refused),
            cmocka_unit_test(test_frame_every_prefix_incomplete),
            cmocka_unit_test(test_frame_encode_roundtrip_all_forms),
            cmocka_unit_test(test_close_decode_codes),
            cmocka_unit_test(test_close_encode_cuts_at_char_boundary),
            cmocka_unit_test(test_utf8_valid_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
