/* test_ws_handshake.c - the RFC 6455 opening handshake for MQTT
 * (gateway/stream/ws_handshake.c): RFC 6455 section 1.3's key and accept,
 * the checks of section 4.2.1 and each refusal's status. */
#include "gw_err.h"
#include "ws_handshake.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455 1.3 */

static ssize_t parse(const char *s, struct ws_upgrade *u)
{
    size_t n = strlen(s);
    uint8_t *p = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
    assert_non_null(p);
    memcpy(p, s, n);
    ssize_t r = ws_upgrade_parse(p, n, u);
    free(p);
    return r;
}

/* A request with one field line replaced (or dropped when repl is ""). */
static const char *request(const char *field, const char *repl)
{
    static char out[1024];
    const char *lines[] = {
            "Host: gw.local:8080",
            "Upgrade: websocket",
            "Connection: keep-alive, Upgrade",
            "Sec-WebSocket-Key: " KEY,
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: mqtt",
            "Origin: http://gw.local",
    };
    size_t o = (size_t)snprintf(out, sizeof(out), "GET /mqtt HTTP/1.1\r\n");
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *l = lines[i];
        if (field && strncmp(l, field, strlen(field)) == 0) {
            l = repl;
        }
        if (l[0]) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\r\n", l);
        }
    }
    (void)snprintf(out + o, sizeof(out) - o, "\r\n");
    return out;
}

static void test_accept_key_rfc_example(void **state)
{
    (void)state;
    char acc[32];
    assert_int_equal(ws_accept_key(KEY, strlen(KEY), acc, sizeof(acc)), 0);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key(KEY, strlen(KEY), acc, 28), -EINVAL);
}

static void test_upgrade_ok_answers_101(void **state)
{
    (void)state;
    struct ws_upgrade u;
    const char *req = request(NULL, NULL);
    assert_int_equal(parse(req, &u), (ssize_t)strlen(req));
    assert_int_equal(u.status, 101);
    assert_string_equal(u.subprotocol, "mqtt");
    assert_string_equal(u.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    uint8_t ans[512];
    size_t n = ws_upgrade_answer(&u, ans, sizeof(ans));
    assert_true(n > 0);
    ans[n] = 0;
    assert_non_null(strstr((char *)ans, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(
            strstr((char *)ans, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr((char *)ans, "\r\nSec-WebSocket-Protocol: mqtt\r\n"));
    assert_non_null(strstr((char *)ans, "\r\nUpgrade: websocket\r\n"));
    assert_int_equal(memcmp(ans + n - 4, "\r\n\r\n", 4), 0);
}

static void test_upgrade_every_prefix_incomplete(void **state)
{
    (void)state;
    const char *req = request(NULL, NULL);
    char copy[1024];
    strcpy(copy, req);
    struct ws_upgrade u;
    for (size_t k = 0; k < strlen(copy); k++) {
        char c = copy[k];
        copy[k] = 0;
        assert_int_equal(parse(copy, &u), GW_E_INCOMPLETE);
        copy[k] = c;
    }
}

static void test_upgrade_tokens_case_and_lists(void **state)
{
    (void)state;
    struct ws_upgrade u;
    assert_true(parse(request("Upgrade:", "upgrade: WebSocket"), &u) > 0);
    assert_int_equal(u.status, 101);
    assert_true(parse(request("Connection:", "Connection: UPGRADE"), &u) > 0);
    assert_int_equal(u.status, 101);
    /* mosquitto's older name; the answer names what was offered. */
    assert_true(parse(request("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: mqttv3.1"), &u) >
                0);
    assert_int_equal(u.status, 101);
    assert_string_equal(u.subprotocol, "mqttv3.1");
    assert_true(parse(request("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: chat, mqtt"),
                      &u) > 0);
    assert_int_equal(u.status, 101);
    assert_string_equal(u.subprotocol, "mqtt");
}

static void expect_status(const char *field, const char *repl, int status)
{
    struct ws_upgrade u;
    const char *req = request(field, repl);
    assert_int_equal(parse(req, &u), (ssize_t)strlen(req));
    assert_int_equal(u.status, status);
    assert_non_null(u.why);
    uint8_t ans[512];
    size_t n = ws_upgrade_answer(&u, ans, sizeof(ans));
    assert_true(n > 12);
    char line[16];
    (void)snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
    assert_int_equal(memcmp(ans, line, strlen(line)), 0);
}

static void test_upgrade_refusals_have_status(void **state)
{
    (void)state;
    expect_status("Sec-WebSocket-Key:", "", 400);
    expect_status("Sec-WebSocket-Key:", "Sec-WebSocket-Key: c2hvcnQ=", 400);
    expect_status("Sec-WebSocket-Key:", "Sec-WebSocket-Key: !GhlIHNhbXBsZSBub25jZQ==", 400);
    expect_status("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==x", 400);
    expect_status("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8", 426);
    expect_status("Sec-WebSocket-Version:", "", 426);
    expect_status("Sec-WebSocket-Protocol:", "", 400);
    expect_status("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: MQTT", 400);
    expect_status("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: mqtt5x", 400);
    expect_status("Connection:", "Connection: keep-alive", 400);
    expect_status("Upgrade:", "Upgrade: h2c", 400);
    expect_status("Upgrade:", "", 404); /* a plain HTTP GET */
    expect_status("Host:", "Host: a\r\nContent-Length: 3", 400);
}

static void test_upgrade_426_names_version(void **state)
{
    (void)state;
    struct ws_upgrade u;
    assert_true(parse(request("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 7"), &u) > 0);
    uint8_t ans[512];
    size_t n = ws_upgrade_answer(&u, ans, sizeof(ans));
    ans[n] = 0;
    assert_non_null(strstr((char *)ans, "\r\nSec-WebSocket-Version: 13\r\n"));
}

static void test_upgrade_method_version_and_syntax(void **state)
{
    (void)state;
    struct ws_upgrade u;
    const char *post = "POST /mqtt HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_true(parse(post, &u) > 0);
    assert_int_equal(u.status, 405);
    const char *old = "GET /mqtt HTTP/1.0\r\nUpgrade: websocket\r\n\r\n";
    assert_true(parse(old, &u) > 0);
    assert_int_equal(u.status, 400);
    const char *bare_lf = "GET /mqtt HTTP/1.1\nHost: a\n\n";
    assert_int_equal(parse(bare_lf, &u), GW_E_MALFORMED);
    assert_int_equal(u.status, 400);
    const char *no_host = "GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
    assert_int_equal(parse(no_host, &u), GW_E_MALFORMED);
    char many[4096];
    size_t o = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 40; i++) {
        o += (size_t)snprintf(many + o, sizeof(many) - o, "X-%d: y\r\n", i);
    }
    (void)snprintf(many + o, sizeof(many) - o, "\r\n");
    assert_int_equal(parse(many, &u), GW_E_TOO_LARGE);
    assert_int_equal(u.status, 431);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accept_key_rfc_example),
            cmocka_unit_test(test_upgrade_ok_answers_101),
            cmocka_unit_test(test_upgrade_every_prefix_incomplete),
            cmocka_unit_test(test_upgrade_tokens_case_and_lists),
            cmocka_unit_test(test_upgrade_refusals_have_status),
            cmocka_unit_test(test_upgrade_426_names_version),
            cmocka_unit_test(test_upgrade_method_version_and_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
