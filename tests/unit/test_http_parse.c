/* test_http_parse.c - the HTTP/1.x request-head parser (RFC 9112) and the
 * base64 decoder of gateway/http. */
#include "gw_err.h"
#include "http_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static ssize_t parse(const char *s, struct http_request *r)
{
    return http_parse_request((const uint8_t *)s, strlen(s), r);
}

static bool is(struct gw_bytes b, const char *s)
{
    return gw_bytes_eq(b, gw_bytes_str(s));
}

static void test_parse_get_with_fields_ok(void **state)
{
    (void)state;
    const char *req = "GET /api/v1/status?pretty=1 HTTP/1.1\r\nHost: gw:9883\r\n"
                      "Accept:   application/json  \r\nX-Empty:\r\n\r\nextra";
    struct http_request r;
    ssize_t n = parse(req, &r);
    assert_int_equal(n, (ssize_t)(strlen(req) - strlen("extra")));
    assert_true(is(r.method, "GET"));
    assert_true(is(r.target, "/api/v1/status?pretty=1"));
    assert_true(is(r.path, "/api/v1/status"));
    assert_true(is(r.query, "pretty=1"));
    assert_int_equal(r.major, 1);
    assert_int_equal(r.minor, 1);
    assert_int_equal(r.n_headers, 3);
    struct gw_bytes v;
    assert_true(http_header_get(&r, "ACCEPT", &v)); /* RFC 9110 5.1: case-insensitive */
    assert_true(is(v, "application/json"));         /* OWS trimmed both sides */
    assert_true(http_header_get(&r, "x-empty", &v));
    assert_int_equal(v.n, 0);
    assert_false(http_header_get(&r, "cookie", &v));
}

static void test_parse_every_prefix_incomplete(void **state)
{
    (void)state;
    const char *req = "HEAD /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
    size_t len = strlen(req);
    for (size_t k = 0; k < len; k++) {
        /* A heap copy of exactly k bytes: ASan catches a read past it. */
        uint8_t *p = malloc(k ? k : 1);
        assert_non_null(p);
        memcpy(p, req, k);
        struct http_request r;
        assert_int_equal(http_parse_request(p, k, &r), GW_E_INCOMPLETE);
        free(p);
    }
    struct http_request r;
    assert_int_equal(parse(req, &r), (ssize_t)len);
    assert_true(r.has_content_length);
    assert_int_equal(r.content_length, 0);
}

struct bad_case {
    const char *req;
    ssize_t want;
    const char *why;
};

static const struct bad_case bad_cases[] = {
        {"GET /x HTTP/1.1\nHost: a\r\n\r\n", GW_E_MALFORMED, "bare LF (RFC 9112 2.2)"},
        {"GET /x HTTP/1.1\r\nHost: a\r\n\n", GW_E_MALFORMED, "bare LF at the end"},
        {"GET /x HTTP/1.1\r\nHost: a\rb\r\n\r\n", GW_E_MALFORMED, "bare CR"},
        {"GET /x HTTP/1.1\r\n\r\n", GW_E_MALFORMED, "HTTP/1.1 without Host (RFC 9112 3.2)"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", GW_E_MALFORMED, "two Hosts"},
        {"GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", GW_E_MALFORMED, "obs-fold (5.2)"},
        {"GET /x HTTP/1.1\r\nHost : a\r\n\r\n", GW_E_MALFORMED, "blank before colon (5.1)"},
        {"GET /x HTTP/1.1\r\nHo\"st: a\r\n\r\n", GW_E_MALFORMED, "non-token field name"},
        {"GET /x HTTP/1.1\r\n: a\r\n\r\n", GW_E_MALFORMED, "empty field name"},
        {"GET /x HTTP/1.1\r\nHost: a\x01\r\n\r\n", GW_E_MALFORMED, "control byte in value"},
        {"GET /x HTTP/1.1\r\nHost: a\x7f\r\n\r\n", GW_E_MALFORMED, "DEL in value"},
        {"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "two spaces"},
        {"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "absolute-form"},
        {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "asterisk-form"},
        {"GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "fragment"},
        {"GET /x HTTP/1.10\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "version with 3 digits"},
        {"GET /x http/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "lower-case HTTP"},
        {"GET /x\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "HTTP/0.9 request line"},
        {"G(T /x HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "non-token method"},
        {"AVERYLONGMETHODNAME /x HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "long method"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", GW_E_MALFORMED,
         "Content-Length not digits"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         GW_E_MALFORMED, "Content-Length copies differ (RFC 9112 6.3)"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n",
         GW_E_MALFORMED, "Content-Length too long"},
        {"\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", GW_E_MALFORMED, "empty line first"},
        {"GET /x\x00 HTTP/1.1\r\n", GW_E_MALFORMED, "NUL in the target (before the end)"},
};

static void test_parse_bad_requests_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct http_request r;
        /* the NUL case: strlen stops at it, so pass the real length */
        const char *q = bad_cases[i].req;
        size_t len = strlen(q);
        if (strstr(bad_cases[i].why, "NUL")) {
            len = 18;
        }
        ssize_t n = http_parse_request((const uint8_t *)q, len, &r);
        if (n != bad_cases[i].want) {
            fail_msg("case %zu (%s): got %zd", i, bad_cases[i].why, n);
        }
    }
}

static void test_parse_reports_what_server_decides(void **state)
{
    (void)state;
    struct http_request r;
    assert_true(parse("POST /m HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                      "Content-Length: 3\r\n\r\n",
                      &r) > 0);
    assert_true(is(r.method, "POST"));
    assert_true(r.has_content_length);
    assert_int_equal(r.content_length, 3);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n", &r) > 0);
    assert_true(r.has_transfer_encoding);
    assert_true(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &r) > 0);
    assert_int_equal(r.major, 2);
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0); /* 1.0: Host optional */
    assert_int_equal(r.query.n, 0);
}

static void test_parse_too_many_fields_too_large(void **state)
{
    (void)state;
    char req[4096] = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < HTTP_MAX_HEADERS; i++) {
        strcat(req, "X: y\r\n");
    }
    strcat(req, "\r\n");
    struct http_request r;
    assert_int_equal(parse(req, &r), GW_E_TOO_LARGE);
}

static void test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 */
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < 7; i++) {
        uint8_t out[16];
        ssize_t n = http_base64_decode(gw_bytes_str(enc[i]), out, sizeof(out));
        assert_int_equal(n, (ssize_t)strlen(dec[i]));
        assert_memory_equal(out, dec[i], (size_t)n);
    }
    static const char *const bad[] = {"Zg=", "Z===", "Zg=a", "Zm9v=", "Zm 9", "Zg==Zg==", "Zm!v"};
    for (size_t i = 0; i < 7; i++) {
        uint8_t out[16];
        assert_int_equal(http_base64_decode(gw_bytes_str(bad[i]), out, sizeof(out)),
                         GW_E_MALFORMED);
    }
    uint8_t small[2];
    assert_int_equal(http_base64_decode(gw_bytes_str("Zm9v"), small, sizeof(small)),
                     GW_E_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_get_with_fields_ok),
            cmocka_unit_test(test_parse_every_prefix_incomplete),
            cmocka_unit_test(test_parse_bad_requests_rejected),
            cmocka_unit_test(test_parse_reports_what_server_decides),
            cmocka_unit_test(test_parse_too_many_fields_too_large),
            cmocka_unit_test(test_base64_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
