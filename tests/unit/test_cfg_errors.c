/* test_cfg_errors.c - what the parser refuses, with its exact message, what
 * it ignores with a warning, conflicts found by validation, and allocation
 * failure at every step with nothing leaked. */
#include "cfg_fixture.h"

#include "alloc.h"
#include "cfg.h"
#include "gw_err.h"
#include "log.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct err_case {
    const char *text;
    int rc;
    const char *msg; /* exact message */
};

static const struct err_case err_cases[] = {
        {"foo 1\n", GW_E_CONFIG, "t.conf:1: unknown option 'foo'"},
        {"\n# c\nretain_available yes\n", GW_E_CONFIG,
         "t.conf:3: option 'retain_available': expected true or false, got 'yes'"},
        {"retain_available TRUE\n", GW_E_CONFIG,
         "t.conf:1: option 'retain_available': expected true or false, got 'TRUE'"},
        {"max_keepalive 70000\n", GW_E_CONFIG,
         "t.conf:1: option 'max_keepalive': expected an integer 0..65535, got '70000'"},
        {"max_keepalive -1\n", GW_E_CONFIG,
         "t.conf:1: option 'max_keepalive': expected an integer 0..65535, got '-1'"},
        {"max_keepalive 1x\n", GW_E_CONFIG,
         "t.conf:1: option 'max_keepalive': expected an integer 0..65535, got '1x'"},
        {"max_keepalive 99999999999999999999999\n", GW_E_CONFIG,
         "t.conf:1: option 'max_keepalive': expected an integer 0..65535, got "
         "'99999999999999999999999'"},
        {"max_keepalive\n", GW_E_CONFIG,
         "t.conf:1: option 'max_keepalive': missing value, expected an integer 0..65535"},
        {"max_keepalive 1 2\n", GW_E_CONFIG,
         "t.conf:1: option 'max_keepalive': unexpected extra argument '2'"},
        {"pid_file\n", GW_E_CONFIG, "t.conf:1: option 'pid_file': missing value, expected a value"},
        {"listener 0\n", GW_E_CONFIG,
         "t.conf:1: option 'listener': expected an integer 1..65535, got '0'"},
        {"listener 70000\n", GW_E_CONFIG,
         "t.conf:1: option 'listener': expected an integer 1..65535, got '70000'"},
        {"listener\n", GW_E_CONFIG,
         "t.conf:1: option 'listener': missing value, expected PORT [ADDRESS]"},
        {"listener 1 a b\n", GW_E_CONFIG,
         "t.conf:1: option 'listener': unexpected extra argument 'b'"},
        {"port 0\n", GW_E_CONFIG, "t.conf:1: option 'port': expected an integer 1..65535, got '0'"},
        {"protocol mqtt\n", GW_E_CONFIG,
         "t.conf:1: option 'protocol' must follow a 'listener' line"},
        {"listener 1\nprotocol websockets\nhttp_dir /var/www\n", GW_E_CONFIG,
         "t.conf:3: option 'http_dir': http_dir is not supported: a websockets listener serves "
         "MQTT only, no files (serve web pages with a web server)"},
        {"websockets_headers_size 70000\n", GW_E_CONFIG,
         "t.conf:1: option 'websockets_headers_size': expected an integer 0..65536, got '70000'"},
        {"listener 1\nprotocol coap\n", GW_E_CONFIG,
         "t.conf:2: option 'protocol': expected mqtt, mqttsn, http or websockets, got 'coap'"},
        {"listener 1\nhttp_basic_auth true\n", GW_E_CONFIG,
         "t.conf:1: http_basic_auth needs protocol http"},
        {"listener 1\nsocket_domain ipv5\n", GW_E_CONFIG,
         "t.conf:2: option 'socket_domain': expected ipv4 or ipv6, got 'ipv5'"},
        {"listener 1\nper_listener_settings true\n", GW_E_CONFIG,
         "t.conf:2: option 'per_listener_settings' must come before any listener"},
        {"certfile /x.pem\n", GW_E_CONFIG,
         "t.conf:1: option 'certfile' must follow a 'listener' line"},
        {"listener 1\ncertfile /x.pem\n", GW_E_CONFIG, "t.conf:1: certfile needs keyfile"},
        {"listener 1\npsk_hint x\n", GW_E_CONFIG, "t.conf:1: psk_hint needs psk_file"},
        {"listener 1\ncafile /ca.pem\n", GW_E_CONFIG,
         "t.conf:1: TLS options without certfile/keyfile or psk_hint/psk_file: set those to turn "
         "TLS on"},
        {"listener 1\ncertfile a\nkeyfile b\nrequire_certificate true\n", GW_E_CONFIG,
         "t.conf:1: require_certificate needs cafile or capath"},
        {"listener 1\ncertfile a\nkeyfile b\nuse_identity_as_username true\n", GW_E_CONFIG,
         "t.conf:1: use_identity_as_username / use_subject_as_username need require_certificate "
         "true"},
        {"listener 1\ncertfile a\nkeyfile b\ntls_version tlsv1.1\n", GW_E_CONFIG,
         "t.conf:1: tls_version: expected tlsv1.2 or tlsv1.3 (older versions are not supported)"},
        {"listener 1\nprotocol mqttsn\ncertfile a\n", GW_E_CONFIG,
         "t.conf:1: certfile needs keyfile"},
        {"listener 1\nprotocol mqttsn\npsk_file p\n", GW_E_CONFIG,
         "t.conf:1: psk_file needs psk_hint (it turns PSK on)"},
        {"mqttsn_serial /dev/ttyS9\ncertfile a\nkeyfile b\n", GW_E_CONFIG,
         "t.conf:1: TLS options on an mqttsn_serial port: DTLS runs over UDP listeners only"},
        {"listener 1\nprotocol http\ncertfile a\nkeyfile b\n", GW_E_CONFIG,
         "t.conf:1: TLS options need protocol mqtt (TLS) or mqttsn (DTLS)"},
        {"listener 1\nciphers_tls1.3 TLS_AES_128_GCM_SHA256\n", GW_E_CONFIG,
         "t.conf:2: option 'ciphers_tls1.3': ciphers_tls1.3: TLS 1.3 needs mbedTLS 3 (this build has 2.28)"},
        {"listener 1\ntls_engine x\n", GW_E_CONFIG, "t.conf:2: option 'tls_engine': tls_engine, tls_keyform and other OpenSSL options "
         "are not supported"},
        {"connection cloud\n", GW_E_CONFIG,
         "t.conf:1: connection 'cloud': no address (address HOST[:PORT])"},
        {"bridge_protocol_version mqttv311\n", GW_E_CONFIG,
         "t.conf:1: option 'bridge_protocol_version' must follow a 'connection' line"},
        {"log_dest topic\n", GW_E_CONFIG,
         "t.conf:1: option 'log_dest': 'topic' is not supported by tern"},
        {"log_dest file\n", GW_E_CONFIG, "t.conf:1: option 'log_dest': 'file' needs a path"},
        {"log_dest stderr x\n", GW_E_CONFIG,
         "t.conf:1: option 'log_dest': unexpected extra argument 'x'"},
        {"log_type loud\n", GW_E_CONFIG,
         "t.conf:1: option 'log_type': expected error, warning, notice, information, debug, "
         "subscribe, unsubscribe, all or none, got 'loud'"},
        {"persistent_client_expiration 10\n", GW_E_CONFIG,
         "t.conf:1: option 'persistent_client_expiration': expected a duration like 1h 3d 2w 1m "
         "1y, "
         "got '10'"},
        {"connect_timeout 0\n", GW_E_CONFIG,
         "t.conf:1: option 'connect_timeout': expected an integer 1..3600, got '0'"},
        {"listener 1883\nlistener 1883 127.0.0.1\n", GW_E_CONFIG,
         "t.conf:2: listener 1883 127.0.0.1 conflicts with the listener at t.conf:1"},
        {"output_soft_limit 2M\noutput_hard_limit 1M\n", GW_E_CONFIG,
         "t.conf: output_soft_limit (2097152) is above output_hard_limit (1048576)"},
        {"include_dir\n", GW_E_CONFIG,
         "t.conf:1: option 'include_dir': missing value, expected a directory"},
        {"persistence_durability\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': missing value, expected sync, periodic MS"
         ", none or journal"},
        {"\npersistence_durability periodic\n", GW_E_CONFIG,
         "t.conf:2: option 'persistence_durability': 'periodic' needs MS, an integer 10..60000"},
        {"persistence_durability periodic 9\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': 'periodic' MS: expected an integer "
         "10..60000, got '9'"},
        {"persistence_durability periodic 60001\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': 'periodic' MS: expected an integer "
         "10..60000, got '60001'"},
        {"persistence_durability periodic 1s\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': 'periodic' MS: expected an integer "
         "10..60000, got '1s'"},
        {"persistence_durability periodic -100\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': 'periodic' MS: expected an integer "
         "10..60000, got '-100'"},
        {"persistence_durability periodic 100 5\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': unexpected extra argument '5'"},
        {"persistence_durability sync 100\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': unexpected extra argument '100'"},
        {"persistence_durability none 0\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': unexpected extra argument '0'"},
        {"persistence_durability always\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': expected sync, periodic MS, none or journal, got "
         "'always'"},
        {"persistence_durability SYNC\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_durability': expected sync, periodic MS, none or journal, got "
         "'SYNC'"},
        {"persistence_quota_policy drop_newest\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_quota_policy': expected refuse or drop_oldest, got "
         "'drop_newest'"},
        {"persistence_quota_policy\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_quota_policy': missing value, expected refuse or "
         "drop_oldest"},
        {"persistence_quota_policy refuse drop_oldest\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_quota_policy': unexpected extra argument 'drop_oldest'"},
        {"persistence_quota 1T\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_quota': expected a size in bytes 0.. (suffix k M G "
         "allowed), got '1T'"},
        {"persistence_quota -1\n", GW_E_CONFIG,
         "t.conf:1: option 'persistence_quota': expected a size in bytes 0.. (suffix k M G "
         "allowed), got '-1'"},
        {"persistence_map_size 64M\npersistence_quota 65M\n", GW_E_CONFIG,
         "t.conf: persistence_quota (68157440) is above persistence_map_size (67108864)"},
};

static void test_cfg_errors_exact_messages(void **state)
{
    (void)state;
    size_t base = gw_alloc_bytes();
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        struct gw_config *c = NULL;
        int rc = cfg_load_string(err_cases[i].text, "t.conf", &c, err, sizeof(err));
        if (rc != err_cases[i].rc || strcmp(err, err_cases[i].msg) != 0) {
            print_error("case %zu: rc %d msg '%s'\n", i, rc, err);
        }
        assert_int_equal(rc, err_cases[i].rc);
        assert_string_equal(err, err_cases[i].msg);
        assert_null(c);
        assert_int_equal(gw_alloc_bytes(), base);
    }
}

static void test_cfg_error_buffer_small_truncates(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    char small[8];
    memset(small, 'x', sizeof(small));
    assert_int_equal(cfg_load_string("foo\n", "t.conf", &c, small, sizeof(small)), GW_E_CONFIG);
    assert_string_equal(small, "t.conf:");
    assert_int_equal(cfg_load_string("foo\n", "t.conf", &c, NULL, 0), GW_E_CONFIG);
    assert_null(c);
}

static void test_cfg_ignored_options_warn(void **state)
{
    (void)state;
    struct gw_config *c =
            load_ok("user mosquitto\nautosave_interval 1800\nautosave_on_changes true\n");
    assert_int_equal(c->n_warnings, 3);
    assert_string_equal(
            c->warnings[0],
            "t.conf:1: option 'user' is accepted for compatibility and ignored by tern");
    assert_string_equal(c->warnings[1],
                        "t.conf:2: option 'autosave_interval' is accepted for compatibility and "
                        "ignored by tern: tern commits every change to its store (with the "
                        "default persistence_durability journal, acknowledged means durable), so "
                        "the option is not needed");
    assert_string_equal(c->warnings[2],
                        "t.conf:3: option 'autosave_on_changes' is accepted for compatibility "
                        "and ignored by tern: tern commits every change to its store (with the "
                        "default persistence_durability journal, acknowledged means durable), so "
                        "the option is not needed");
    cfg_free(c);
}

static void test_cfg_validate_conflicts(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("listener 1883\nsocket_domain ipv4\n"
                                  "listener 1883\nsocket_domain ipv6\n"
                                  "listener 1884 10.0.0.1\nlistener 1884 10.0.0.2\n");
    assert_int_equal(cfg_validate(c, err, sizeof(err)), 0);
    cfg_free(c);
    struct gw_config *d = NULL;
    assert_int_equal(cfg_load_string("listener 1884 ::1\nlistener 1884 ::1\n", "t.conf", &d, err,
                                     sizeof(err)),
                     GW_E_CONFIG);
    assert_string_equal(err, "t.conf:2: listener 1884 ::1 conflicts with the listener at t.conf:1");
}

/* Fail the n-th allocation for n = 0, 1, ... until the load succeeds: every
 * failure is -ENOMEM with nothing leaked (SQLite's technique). */
static void alloc_fail_loop(const char *path, const char *text)
{
    size_t base = gw_alloc_bytes();
    for (long n = 0;; n++) {
        struct gw_config *c = NULL;
        gw_alloc_fail_at(n, 0);
        int rc = text ? cfg_load_string(text, "t.conf", &c, err, sizeof(err))
                      : cfg_load(path, &c, err, sizeof(err));
        gw_alloc_fail_at(-1, 0);
        if (rc == 0) {
            assert_true(n > 10);
            cfg_free(c);
            break;
        }
        if (rc != -ENOMEM) {
            print_error("n=%ld rc=%d %s\n", n, rc, err);
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(c);
        assert_int_equal(gw_alloc_bytes(), base);
    }
    assert_int_equal(gw_alloc_bytes(), base);
}

static void test_cfg_alloc_failure_no_leak(void **state)
{
    (void)state;
    alloc_fail_loop(NULL, every_option);
    alloc_fail_loop(NULL, "user x\nuser y\nport 1\nbind_address ::\nlog_dest file /l\n"
                          "listener 2 a\nprotocol mqttsn\n");
    alloc_fail_loop(NULL, "");
    alloc_fail_loop(NULL, "listener 1\nmqttsn_serial /dev/ttyUSB0\nmqttsn_gateway_id 4\n"
                          "mqttsn_serial_framing xbee\nmqttsn_serial /dev/ttyAMA0\n");
    struct tmp_dir t;
    make_include_tree(&t, "user x\nlistener 1885\n");
    alloc_fail_loop(t.main, NULL);
    remove_include_tree(&t);

    size_t base = gw_alloc_bytes();
    struct gw_config *c = load_ok("listener 1883\n");
    for (long n = 0;; n++) {
        gw_alloc_fail_at(n, 0);
        int rc = cfg_set_port(c, 1884);
        gw_alloc_fail_at(-1, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(c->n_listeners, 1);
    }
    assert_int_equal(c->n_listeners, 3);
    cfg_free(c);
    assert_int_equal(gw_alloc_bytes(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cfg_errors_exact_messages),
            cmocka_unit_test(test_cfg_error_buffer_small_truncates),
            cmocka_unit_test(test_cfg_ignored_options_warn),
            cmocka_unit_test(test_cfg_validate_conflicts),
            cmocka_unit_test(test_cfg_alloc_failure_no_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
