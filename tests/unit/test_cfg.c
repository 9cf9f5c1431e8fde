/* test_cfg.c - table tests for the mosquitto-syntax config parser. */
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

static char err[512];

static struct gw_config *load_ok(const char *text)
{
    struct gw_config *c = NULL;
    int rc = cfg_load_string(text, "t.conf", &c, err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error %d: %s\n", rc, err);
    }
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

static void test_cfg_default_all_fields(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    assert_int_equal(cfg_default(&c), 0);
    assert_true(c->default_listener);
    assert_int_equal(c->n_listeners, 4); /* MQTT pair, MQTT-SN, metrics */
    assert_string_equal(c->listeners[2].protocol, "mqttsn");
    assert_int_equal(c->listeners[2].port, 1884);
    assert_string_equal(c->listeners[2].bind_address, "127.0.0.1");
    assert_true(c->listeners[2].best_effort);
    assert_string_equal(c->listeners[3].protocol, "http");
    assert_int_equal(c->listeners[3].port, 9883);
    assert_string_equal(c->listeners[3].bind_address, "127.0.0.1");
    assert_true(c->listeners[3].best_effort);
    assert_false(c->listeners[0].best_effort);
    assert_int_equal(c->listeners[0].port, 1883);
    assert_string_equal(c->listeners[0].bind_address, "127.0.0.1");
    assert_int_equal(c->listeners[0].socket_domain, AF_INET);
    assert_string_equal(c->listeners[1].bind_address, "::1");
    assert_int_equal(c->listeners[1].socket_domain, AF_INET6);
    assert_string_equal(c->listeners[1].protocol, "mqtt");
    assert_int_equal(c->listeners[1].max_connections, -1);
    assert_true(c->listeners[0].allow_anonymous);
    assert_true(c->allow_anonymous);
    assert_false(c->allow_anonymous_set);
    assert_null(c->password_file);
    assert_null(c->acl_file);
    assert_false(c->per_listener_settings);
    assert_true(c->allow_zero_length_clientid);
    assert_string_equal(c->auto_id_prefix, "auto-");
    assert_int_equal(c->max_inflight_messages, 20);
    assert_int_equal(c->max_inflight_bytes, 0);
    assert_int_equal(c->max_queued_messages, 1000);
    assert_int_equal(c->max_queued_bytes, 0);
    assert_int_equal(c->max_packet_size, 2000000);
    assert_int_equal(c->max_subscriptions_per_client, 10000);
    assert_int_equal(c->max_connections, -1);
    assert_int_equal(c->max_keepalive, 65535);
    assert_int_equal(c->message_size_limit, 0);
    assert_int_equal(c->sys_interval, 10);
    assert_false(c->queue_qos0_messages);
    assert_true(c->retain_available);
    assert_true(c->persistence);
    assert_string_equal(c->persistence_location, "tern-data/");
    assert_int_equal(c->persistence_durability, CFG_DURABILITY_JOURNAL);
    assert_int_equal(c->persistence_periodic_ms, 0);
    assert_int_equal(c->persistence_quota_bytes, 0);
    assert_int_equal(c->persistence_quota_policy, CFG_QUOTA_REFUSE);
    assert_int_equal(c->persistence_map_max_bytes, 1024 * 1024 * 1024);
    assert_int_equal(c->persistent_client_expiration_s, 0);
    assert_true(c->connection_messages);
    assert_int_equal(c->log_type_mask, GW_LOG_DEFAULT);
    assert_int_equal(c->log_dest_mask, GW_LOG_STDERR);
    assert_null(c->log_file);
    assert_true(c->log_timestamp);
    assert_null(c->pid_file);
    assert_int_equal(c->connect_timeout_s, 10);
    assert_int_equal(c->output_soft_limit_bytes, 1024 * 1024);
    assert_int_equal(c->output_hard_limit_bytes, 16 * 1024 * 1024);
    assert_int_equal(c->n_warnings, 0);
    cfg_free(c);
}

static const char every_option[] = "# every option with a non-default value\n"
                                   "\n"
                                   "   per_listener_settings false   \n"
                                   "allow_anonymous true\r\n"
                                   "password_file /etc/tern/pass words\n"
                                   "acl_file /etc/tern/acl\n"
                                   "allow_zero_length_clientid false\n"
                                   "auto_id_prefix gen-\n"
                                   "max_inflight_messages 0\n"
                                   "max_inflight_bytes 64k\n"
                                   "max_queued_messages 5\n"
                                   "max_queued_bytes 2M\n"
                                   "max_packet_size 268435455\n"
                                   "max_connections 100\n"
                                   "max_keepalive 600\n"
                                   "message_size_limit 1000\n"
                                   "sys_interval 0\n"
                                   "queue_qos0_messages true\n"
                                   "retain_available false\n"
                                   "persistence false\n"
                                   "persistence_location /var/lib/tern/\n"
                                   "persistence_durability periodic 250\n"
                                   "persistence_quota 64M\n"
                                   "persistence_quota_policy drop_oldest\n"
                                   "persistence_map_size 256M\n"
                                   "persistent_client_expiration 2w\n"
                                   "connection_messages false\n"
                                   "log_type debug\n"
                                   "log_type subscribe\n"
                                   "log_dest syslog\n"
                                   "log_timestamp false\n"
                                   "pid_file /run/tern.pid\n"
                                   "connect_timeout 30\n"
                                   "output_soft_limit 2M\n"
                                   "output_hard_limit 1G\n"
                                   "listener 1883\n"
                                   "protocol mqtt\n"
                                   "socket_domain ipv4\n"
                                   "listener 1884\n"
                                   "max_connections 7\n";

static void test_cfg_every_option_parsed(void **state)
{
    (void)state;
    struct gw_config *c = load_ok(every_option);
    assert_false(c->default_listener);
    assert_true(c->allow_anonymous);
    assert_true(c->allow_anonymous_set);
    assert_string_equal(c->password_file, "/etc/tern/pass words");
    assert_string_equal(c->acl_file, "/etc/tern/acl");
    assert_false(c->allow_zero_length_clientid);
    assert_string_equal(c->auto_id_prefix, "gen-");
    assert_int_equal(c->max_inflight_messages, 0);
    assert_int_equal(c->max_inflight_bytes, 65536);
    assert_int_equal(c->max_queued_messages, 5);
    assert_int_equal(c->max_queued_bytes, 2 * 1024 * 1024);
    assert_int_equal(c->max_packet_size, 268435455);
    assert_int_equal(c->max_connections, 100);
    assert_int_equal(c->max_keepalive, 600);
    assert_int_equal(c->message_size_limit, 1000);
    assert_int_equal(c->sys_interval, 0);
    assert_true(c->queue_qos0_messages);
    assert_false(c->retain_available);
    assert_false(c->persistence);
    assert_string_equal(c->persistence_location, "/var/lib/tern/");
    assert_int_equal(c->persistence_durability, CFG_DURABILITY_PERIODIC);
    assert_int_equal(c->persistence_periodic_ms, 250);
    assert_int_equal(c->persistence_quota_bytes, 64 * 1024 * 1024);
    assert_int_equal(c->persistence_quota_policy, CFG_QUOTA_DROP_OLDEST);
    assert_int_equal(c->persistence_map_max_bytes, 256 * 1024 * 1024);
    assert_int_equal(c->persistent_client_expiration_s, 14 * 86400);
    assert_false(c->connection_messages);
    assert_int_equal(c->log_type_mask, GW_DEBUG | GW_SUBSCRIBE);
    assert_int_equal(c->log_dest_mask, GW_LOG_SYSLOG);
    assert_false(c->log_timestamp);
    assert_string_equal(c->pid_file, "/run/tern.pid");
    assert_int_equal(c->connect_timeout_s, 30);
    assert_int_equal(c->output_soft_limit_bytes, 2 * 1024 * 1024);
    assert_int_equal(c->output_hard_limit_bytes, 1024 * 1024 * 1024);
    assert_int_equal(c->n_listeners, 2);
    assert_int_equal(c->listeners[0].port, 1883);
    assert_null(c->listeners[0].bind_address);
    assert_int_equal(c->listeners[0].socket_domain, AF_INET);
    assert_int_equal(c->listeners[0].max_connections, 100); /* inherits the global one */
    assert_int_equal(c->listeners[1].max_connections, 7);
    assert_true(c->listeners[1].allow_anonymous);
    assert_string_equal(c->listeners[1].origin, "t.conf:39");
    cfg_free(c);
}

static void test_cfg_listeners_ipv4_ipv6(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("listener 1883 0.0.0.0\n"
                                  "listener 1883 ::\n"
                                  "listener 8883 fe80::1\n"
                                  "socket_domain ipv6\n"
                                  "listener 1885\n"
                                  "protocol mqttsn\n"
                                  "listener 1885\n"); /* mqttsn is UDP: no conflict with TCP */
    assert_false(c->default_listener);
    assert_false(c->allow_anonymous); /* mosquitto 2: off once listeners are configured */
    assert_int_equal(c->n_listeners, 5);
    assert_string_equal(c->listeners[0].bind_address, "0.0.0.0");
    assert_string_equal(c->listeners[1].bind_address, "::");
    assert_int_equal(c->listeners[2].port, 8883);
    assert_int_equal(c->listeners[2].socket_domain, AF_INET6);
    assert_string_equal(c->listeners[3].protocol, "mqttsn");
    assert_string_equal(c->listeners[4].protocol, "mqtt");
    assert_false(c->listeners[4].allow_anonymous);
    cfg_free(c);
}

/* protocol websockets (mosquitto's name): MQTT over WebSockets on a TCP
 * port, which it shares with no other TCP listener. */
static void test_cfg_websockets_listener(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("websockets_headers_size 8192\n"
                                  "listener 1883 127.0.0.1\n"
                                  "listener 8080 127.0.0.1\n"
                                  "protocol websockets\n"
                                  "max_connections 50\n");
    assert_int_equal(c->n_listeners, 2);
    assert_string_equal(c->listeners[0].protocol, "mqtt");
    assert_string_equal(c->listeners[1].protocol, "websockets");
    assert_int_equal(c->listeners[1].max_connections, 50);
    assert_int_equal(c->websockets_headers_size, 8192);
    cfg_free(c);
    c = load_ok("listener 8080\n");
    assert_int_equal(c->websockets_headers_size, 4096); /* the default */
    cfg_free(c);
    char err[256];
    assert_int_equal(cfg_load_string("listener 8080\nlistener 8080\nprotocol websockets\n",
                                     "t.conf", &c, err, sizeof(err)),
                     GW_E_CONFIG);
    assert_non_null(strstr(err, "conflicts"));
}

static void test_cfg_legacy_port_bind_address(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("port 1885\nbind_address 10.0.0.1\nprotocol mqtt\n"
                                  "listener 1886\nport 1887\n");
    assert_int_equal(c->n_listeners, 2);
    assert_int_equal(c->listeners[0].port, 1887); /* the last port line wins */
    assert_string_equal(c->listeners[0].bind_address, "10.0.0.1");
    assert_int_equal(c->listeners[1].port, 1886);
    assert_null(c->listeners[1].bind_address);
    cfg_free(c);

    c = load_ok("bind_address 127.0.0.1\n");
    assert_int_equal(c->n_listeners, 1);
    assert_int_equal(c->listeners[0].port, 1883);
    assert_false(c->default_listener);
    cfg_free(c);
}

static void test_cfg_per_listener_settings(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("per_listener_settings true\n"
                                  "allow_anonymous true\n"
                                  "listener 1883 127.0.0.1\n"
                                  "listener 1884\n"
                                  "allow_anonymous false\n");
    assert_true(c->allow_anonymous);
    assert_true(c->listeners[0].allow_anonymous);
    assert_false(c->listeners[0].allow_anonymous_set);
    assert_false(c->listeners[1].allow_anonymous);
    assert_true(c->listeners[1].allow_anonymous_set);
    cfg_free(c);

    /* Without per_listener_settings, allow_anonymous in a block is global. */
    c = load_ok("listener 1883\nallow_anonymous true\nlistener 1884\n");
    assert_true(c->allow_anonymous);
    assert_true(c->listeners[0].allow_anonymous);
    assert_true(c->listeners[1].allow_anonymous);
    cfg_free(c);
}

/* The TLS options land in their listener's block (mosquitto names). */
static void test_cfg_tls_listener_options(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("listener 1883 127.0.0.1\n"
                                  "listener 8883\n"
                                  "certfile /etc/t/s.pem\n"
                                  "keyfile /etc/t/s.key\n"
                                  "cafile /etc/t/ca.pem\n"
                                  "crlfile /etc/t/crl.pem\n"
                                  "require_certificate true\n"
                                  "use_identity_as_username true\n"
                                  "tls_version tlsv1.2\n"
                                  "ciphers TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
                                  "listener 8884\n"
                                  "psk_hint tern\n"
                                  "psk_file /etc/t/psk\n");
    assert_false(cfg_tls_on(&c->listeners[0].tls));
    const struct cfg_tls *t = &c->listeners[1].tls;
    assert_true(cfg_tls_on(t));
    assert_string_equal(t->certfile, "/etc/t/s.pem");
    assert_string_equal(t->keyfile, "/etc/t/s.key");
    assert_string_equal(t->cafile, "/etc/t/ca.pem");
    assert_string_equal(t->crlfile, "/etc/t/crl.pem");
    assert_true(t->require_certificate);
    assert_true(t->use_identity_as_username);
    assert_false(t->use_subject_as_username);
    assert_string_equal(t->ciphers, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    t = &c->listeners[2].tls;
    assert_true(cfg_tls_on(t));
    assert_string_equal(t->psk_file, "/etc/t/psk");
    assert_null(t->certfile);
    /* Another path is a restart; the same text is not. */
    struct gw_config *d = load_ok("listener 1883 127.0.0.1\nlistener 8883\ncertfile /x\n"
                                  "keyfile /y\n");
    char names[128];
    assert_true(cfg_diff_restart_needed(c, d, names, sizeof(names)) > 0);
    assert_non_null(strstr(names, "listener"));
    cfg_free(d);
    cfg_free(c);
}

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

static void test_cfg_log_type_and_dest(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("log_dest file /var/log/tern x.log  \nlog_dest stdout\n");
    assert_int_equal(c->log_dest_mask, GW_LOG_FILE | GW_LOG_STDOUT);
    assert_string_equal(c->log_file, "/var/log/tern x.log");
    cfg_free(c);

    c = load_ok("log_dest none\nlog_type all\n");
    assert_int_equal(c->log_dest_mask, 0);
    assert_int_equal(c->log_type_mask, GW_LOG_ALL);
    cfg_free(c);

    c = load_ok("log_type all\nlog_type none\nlog_type error\n");
    assert_int_equal(c->log_type_mask, GW_ERROR);
    cfg_set_verbose(c);
    assert_int_equal(c->log_type_mask, GW_LOG_ALL);
    cfg_free(c);
}

struct dur_case {
    const char *value;
    int ok;
    uint32_t seconds;
};

static const struct dur_case dur_cases[] = {
        {"1h", 1, 3600},
        {"3d", 1, 3 * 86400},
        {"2w", 1, 14 * 86400},
        {"1m", 1, 30 * 86400},
        {"1y", 1, 365 * 86400},
        {"0h", 1, 0},
        {"136y", 1, 136u * 365u * 86400u},
        {"137y", 0, 0},
        {"1", 0, 0},
        {"1s", 0, 0},
        {"h", 0, 0},
        {"1hh", 0, 0},
        {"-1h", 0, 0},
        {"1H", 0, 0},
};

static void test_cfg_persistent_client_expiration_units(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
        char text[80];
        struct gw_config *c = NULL;
        (void)snprintf(text, sizeof(text), "persistent_client_expiration %s\n", dur_cases[i].value);
        int rc = cfg_load_string(text, "t.conf", &c, err, sizeof(err));
        if ((rc == 0) != dur_cases[i].ok) {
            print_error("case %s: rc %d %s\n", dur_cases[i].value, rc, err);
        }
        assert_int_equal(rc == 0, dur_cases[i].ok);
        if (rc == 0) {
            assert_int_equal(c->persistent_client_expiration_s, dur_cases[i].seconds);
        }
        cfg_free(c);
    }
}

struct durability_case {
    const char *text;
    enum cfg_durability mode;
    uint32_t ms;
};

static const struct durability_case durability_cases[] = {
        {"persistence_durability sync\n", CFG_DURABILITY_SYNC, 0},
        {"persistence_durability none\n", CFG_DURABILITY_NONE, 0},
        {"persistence_durability periodic 10\n", CFG_DURABILITY_PERIODIC, 10},
        {"persistence_durability periodic 60000\n", CFG_DURABILITY_PERIODIC, 60000},
        {"persistence_durability \t periodic   500  \r\n", CFG_DURABILITY_PERIODIC, 500},
        /* the last line wins, and a later sync clears the number */
        {"persistence_durability periodic 500\npersistence_durability sync\n", CFG_DURABILITY_SYNC,
         0},
        {"persistence_durability none\npersistence_durability periodic 20\n",
         CFG_DURABILITY_PERIODIC, 20},
};

static void test_cfg_persistence_durability_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(durability_cases) / sizeof(durability_cases[0]); i++) {
        struct gw_config *c = load_ok(durability_cases[i].text);
        assert_int_equal(c->persistence_durability, durability_cases[i].mode);
        assert_int_equal(c->persistence_periodic_ms, durability_cases[i].ms);
        cfg_free(c);
    }
}

static void test_cfg_persistence_quota_and_map_size(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("persistence_quota 512k\npersistence_quota_policy refuse\n"
                                  "persistence_map_size 1M\n");
    assert_int_equal(c->persistence_quota_bytes, 512 * 1024);
    assert_int_equal(c->persistence_quota_policy, CFG_QUOTA_REFUSE);
    assert_int_equal(c->persistence_map_max_bytes, 1024 * 1024);
    cfg_free(c);

    /* The quota may equal the map size; 0 = no quota with any map size. */
    c = load_ok("persistence_map_size 2G\npersistence_quota 2G\n"
                "persistence_quota_policy drop_oldest\n");
    assert_int_equal(c->persistence_quota_bytes, (uint64_t)2 * 1024 * 1024 * 1024);
    assert_int_equal(c->persistence_map_max_bytes, (uint64_t)2 * 1024 * 1024 * 1024);
    assert_int_equal(c->persistence_quota_policy, CFG_QUOTA_DROP_OLDEST);
    cfg_free(c);

    c = load_ok("persistence_quota 0\npersistence_map_size 1048576\n");
    assert_int_equal(c->persistence_quota_bytes, 0);
    assert_int_equal(c->persistence_map_max_bytes, 1048576);
    cfg_free(c);

    /* At least 1M; at most what a size_t holds (4G - 1 on 32-bit ARM). */
    bool small = (uint64_t)SIZE_MAX < (uint64_t)INT64_MAX;
    char range[64];
    char want[200];
    if (small) {
        (void)snprintf(range, sizeof(range), "1048576..%llu", (unsigned long long)SIZE_MAX);
    } else {
        (void)snprintf(range, sizeof(range), "1048576..");
    }
    const char *bad[] = {"1023k", small ? "4G" : "8589934592G", "1M1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[80];
        (void)snprintf(text, sizeof(text), "persistence_map_size %s\n", bad[i]);
        c = NULL;
        assert_int_equal(cfg_load_string(text, "t.conf", &c, err, sizeof(err)), GW_E_CONFIG);
        (void)snprintf(want, sizeof(want),
                       "t.conf:1: option 'persistence_map_size': expected a size in bytes %s "
                       "(suffix k M G allowed), got '%s'",
                       range, bad[i]);
        assert_string_equal(err, want);
        assert_null(c);
    }
    if (!small) {
        c = load_ok("persistence_map_size 64G\n");
        assert_int_equal(c->persistence_map_max_bytes, (uint64_t)64 * 1024 * 1024 * 1024);
        cfg_free(c);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

struct tmp_dir {
    char dir[64];
    char main[128];
};

static void make_include_tree(struct tmp_dir *t, const char *b_conf)
{
    char path[192];
    (void)snprintf(t->dir, sizeof(t->dir), "/tmp/tern_cfg_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    (void)snprintf(path, sizeof(path), "%s/b.conf", t->dir);
    write_file(path, b_conf);
    (void)snprintf(path, sizeof(path), "%s/a.conf", t->dir);
    write_file(path, "listener 1884\nmax_connections 3\n");
    (void)snprintf(path, sizeof(path), "%s/notes.txt", t->dir);
    write_file(path, "garbage that is not read\n");
    (void)snprintf(t->main, sizeof(t->main), "%s.main", t->dir);
    char text[256];
    (void)snprintf(text, sizeof(text), "listener 1883\ninclude_dir %s\nsys_interval 5\n", t->dir);
    write_file(t->main, text);
}

static void remove_include_tree(const struct tmp_dir *t)
{
    const char *names[] = {"a.conf", "b.conf", "notes.txt"};
    for (size_t i = 0; i < 3; i++) {
        char path[192];
        (void)snprintf(path, sizeof(path), "%s/%s", t->dir, names[i]);
        (void)unlink(path);
    }
    (void)rmdir(t->dir);
    (void)unlink(t->main);
}

static void test_cfg_include_dir_sorted(void **state)
{
    (void)state;
    struct tmp_dir t;
    make_include_tree(&t, "max_connections 9\nlistener 1885\n");
    struct gw_config *c = NULL;
    int rc = cfg_load(t.main, &c, err, sizeof(err));
    if (rc != 0) {
        print_error("%s\n", err);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(c->file, t.main);
    assert_int_equal(c->n_listeners, 3);
    assert_int_equal(c->listeners[0].port, 1883);
    assert_int_equal(c->listeners[1].port, 1884); /* a.conf before b.conf */
    assert_int_equal(c->listeners[1].max_connections, 3);
    assert_int_equal(c->listeners[2].port, 1885);
    /* b.conf's first line is outside any block: global, so 1883 and 1885 inherit it */
    assert_int_equal(c->max_connections, 9);
    assert_int_equal(c->listeners[0].max_connections, 9);
    assert_int_equal(c->sys_interval, 5);
    cfg_free(c);
    remove_include_tree(&t);
}

static void test_cfg_include_dir_error_names_included_file(void **state)
{
    (void)state;
    struct tmp_dir t;
    make_include_tree(&t, "\nmax_keepalive x\n");
    struct gw_config *c = NULL;
    assert_int_equal(cfg_load(t.main, &c, err, sizeof(err)), GW_E_CONFIG);
    char want[256];
    (void)snprintf(want, sizeof(want),
                   "%s/b.conf:2: option 'max_keepalive': expected an integer 0..65535, got 'x'",
                   t.dir);
    assert_string_equal(err, want);
    remove_include_tree(&t);

    /* include_dir in an included file: refused, so no recursion. */
    make_include_tree(&t, "include_dir /tmp\n");
    assert_int_equal(cfg_load(t.main, &c, err, sizeof(err)), GW_E_CONFIG);
    (void)snprintf(want, sizeof(want),
                   "%s/b.conf:1: option 'include_dir' is only allowed in the main configuration "
                   "file",
                   t.dir);
    assert_string_equal(err, want);
    remove_include_tree(&t);

    assert_int_equal(
            cfg_load_string("include_dir /nonexistent-tern\n", "t.conf", &c, err, sizeof(err)),
            -ENOENT);
    assert_string_equal(err,
                        "t.conf:1: include_dir '/nonexistent-tern': No such file or directory");
    assert_int_equal(cfg_load_string_flags("include_dir /tmp\n", "t.conf", CFG_F_NO_INCLUDE, &c,
                                           err, sizeof(err)),
                     GW_E_CONFIG);
    assert_string_equal(err, "t.conf:1: option 'include_dir' is disabled here");
    assert_null(c);
}

static void test_cfg_load_missing_file_errno(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    assert_int_equal(cfg_load("/nonexistent-tern.conf", &c, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "/nonexistent-tern.conf: No such file or directory");
    assert_int_equal(cfg_load("/tmp", &c, err, sizeof(err)), -EISDIR);
    assert_int_equal(cfg_load(NULL, &c, err, sizeof(err)), -EINVAL);
    assert_int_equal(cfg_load_string(NULL, "t.conf", &c, err, sizeof(err)), -EINVAL);

    char path[] = "/tmp/tern_cfg_nul_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "port 1\0\n", 8), 8);
    assert_int_equal(close(fd), 0);
    assert_int_equal(cfg_load(path, &c, err, sizeof(err)), GW_E_CONFIG);
    char want[80];
    (void)snprintf(want, sizeof(want), "%s: contains a NUL byte", path);
    assert_string_equal(err, want);
    (void)unlink(path);
    assert_null(c);
}

static void test_cfg_set_port(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    assert_int_equal(cfg_default(&c), 0);
    assert_int_equal(cfg_set_port(c, 0), -EINVAL);
    assert_int_equal(cfg_set_port(c, 1999), 0);
    assert_int_equal(c->n_listeners, 4);
    assert_int_equal(c->listeners[0].port, 1999);
    assert_int_equal(c->listeners[1].port, 1999);
    assert_int_equal(c->listeners[2].port, 1884); /* -p moves MQTT only */
    assert_int_equal(c->listeners[3].port, 9883);
    cfg_free(c);

    c = load_ok("listener 1883\n");
    assert_int_equal(cfg_set_port(c, 1883), GW_E_CONFIG); /* wildcard 1883 is taken */
    assert_int_equal(c->n_listeners, 1);
    assert_int_equal(cfg_set_port(c, 1884), 0);
    assert_int_equal(c->n_listeners, 3);
    assert_string_equal(c->listeners[1].bind_address, "127.0.0.1");
    assert_string_equal(c->listeners[2].bind_address, "::1");
    assert_int_equal(c->listeners[2].port, 1884);
    assert_false(c->listeners[2].allow_anonymous);
    cfg_free(c);
}

static void test_cfg_diff_restart_needed(void **state)
{
    (void)state;
    char buf[256];
    struct gw_config *a = load_ok("listener 1883\nmax_keepalive 60\nlog_type all\n");
    struct gw_config *b = load_ok("listener 1883\nmax_keepalive 30\nallow_anonymous true\n"
                                  "output_soft_limit 2M\nlog_dest syslog\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    cfg_free(b);

    b = load_ok("max_connections 4\nlistener 1884\npersistence false\n"
                "persistence_location /x\npid_file /p\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "listener, max_connections, persistence, persistence_location, "
                             "pid_file");
    char tiny[12];
    assert_int_equal(cfg_diff_restart_needed(a, b, tiny, sizeof(tiny)), 5);
    assert_string_equal(tiny, "listener, m");
    assert_int_equal(cfg_diff_restart_needed(a, b, NULL, 0), 5);
    cfg_free(b);

    b = load_ok("listener 1883\nsocket_domain ipv4\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "listener");
    cfg_free(b);
    cfg_free(a);

    /* Persistence: quota and policy reload, durability and map size need a restart. */
    a = load_ok("persistence_durability periodic 100\n");
    b = load_ok("persistence_durability periodic 100\npersistence_quota 10M\n"
                "persistence_quota_policy drop_oldest\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    cfg_free(b);
    b = load_ok("persistence_durability periodic 200\n"); /* same mode, another period */
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "persistence_durability");
    cfg_free(b);
    b = load_ok("persistence_durability none\npersistence_map_size 2G\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "persistence_durability, persistence_map_size");
    cfg_free(b);
    cfg_free(a);
    a = load_ok("persistence_durability periodic 100\npersistence_durability journal\n");
    b = load_ok("");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    cfg_free(b);
    cfg_free(a);
}

static void test_cfg_mqttsn_listener_options(void **state)
{
    (void)state;
    char buf[256];
    size_t base = gw_alloc_bytes();
    const char *text = "listener 1883\n"
                       "listener 1884\nprotocol mqttsn\nmqttsn_retry_interval 2\n"
                       "mqttsn_retries 5\nmqttsn_gateway_id 9\nmqttsn_advertise_interval 900\n"
                       "mqttsn_advertise_address 255.255.255.255:1884\n"
                       "mqttsn_predefined_topics /etc/tern/predefined topics.conf\n"
                       "mqttsn_allowed_clients th-01  th-02\n"
                       "mqttsn_client_allow_file /etc/tern/clients\n";
    struct gw_config *a = load_ok(text);
    const struct cfg_listener *l = &a->listeners[1];
    assert_int_equal(l->mqttsn_retry_interval_s, 2);
    assert_int_equal(l->mqttsn_retries, 5);
    assert_int_equal(l->mqttsn_gateway_id, 9);
    assert_int_equal(l->mqttsn_advertise_interval, 900);
    assert_string_equal(l->mqttsn_advertise_address, "255.255.255.255:1884");
    assert_string_equal(l->mqttsn_predefined_topics, "/etc/tern/predefined topics.conf");
    assert_string_equal(l->mqttsn_allowed_clients, "th-01  th-02");
    assert_string_equal(l->mqttsn_client_allow_file, "/etc/tern/clients");
    assert_int_equal(a->listeners[0].mqttsn_gateway_id, 0); /* unset: the gateway's default */
    assert_null(a->listeners[0].mqttsn_predefined_topics);
    /* Listener options: a change needs a restart. */
    struct gw_config *b = load_ok("listener 1883\nlistener 1884\nprotocol mqttsn\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "listener");
    cfg_free(b);
    b = load_ok(text);
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    cfg_free(b);
    cfg_free(a);

    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
            {"mqttsn_gateway_id 3\n", "t.conf:1: option 'mqttsn_gateway_id' must follow a "
                                      "'listener' line"},
            {"listener 1\nmqttsn_gateway_id 256\n",
             "t.conf:2: option 'mqttsn_gateway_id': expected an integer 1..255, got '256'"},
            {"listener 1\nmqttsn_retry_interval 0\n",
             "t.conf:2: option 'mqttsn_retry_interval': expected an integer 1..3600, got '0'"},
            {"listener 1\nmqttsn_advertise_interval 65536\n",
             "t.conf:2: option 'mqttsn_advertise_interval': expected an integer 0..65535, got "
             "'65536'"},
            {"listener 1\nmqttsn_allowed_clients\n",
             "t.conf:2: option 'mqttsn_allowed_clients': missing value, expected a value"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_config *c = NULL;
        assert_int_equal(cfg_load_string(bad[i].text, "t.conf", &c, err, sizeof(err)), GW_E_CONFIG);
        assert_string_equal(err, bad[i].msg);
        assert_null(c);
    }
    assert_int_equal(gw_alloc_bytes(), base);
}

static void test_cfg_mqttsn_serial_blocks(void **state)
{
    (void)state;
    char buf[256];
    size_t base = gw_alloc_bytes();
    const char *text = "listener 1883\n"
                       "mqttsn_serial /dev/serial/by-id/usb-FTDI_A1\n"
                       "mqttsn_gateway_id 7\n"
                       "listener 1884\nprotocol mqttsn\n"
                       "mqttsn_serial /dev/ttyAMA0\n"
                       "mqttsn_serial_baud 9600\nmqttsn_serial_framing xbee\n"
                       "mqttsn_serial_flow rtscts\nmqttsn_serial_parity even\n"
                       "mqttsn_serial_data_bits 7\nmqttsn_serial_stop_bits 2\n"
                       "mqttsn_serial_xbee_api 1\nmqttsn_retries 4\n";
    struct gw_config *a = load_ok(text);
    assert_int_equal(a->n_listeners, 4);
    const struct cfg_listener *s1 = &a->listeners[1];
    assert_string_equal(s1->mqttsn_serial_device, "/dev/serial/by-id/usb-FTDI_A1");
    assert_string_equal(s1->protocol, "mqttsn");
    assert_int_equal(s1->port, 0);
    assert_int_equal(s1->mqttsn_gateway_id, 7); /* mqttsn_* after the line: this block */
    assert_int_equal(s1->mqttsn_serial_baud, 115200);
    assert_int_equal(s1->mqttsn_serial_framing, CFG_SN_FRAMING_RAW);
    assert_int_equal(s1->mqttsn_serial_flow, CFG_SN_FLOW_NONE);
    assert_int_equal(s1->mqttsn_serial_parity, CFG_SN_PARITY_NONE);
    assert_int_equal(s1->mqttsn_serial_data_bits, 8);
    assert_int_equal(s1->mqttsn_serial_stop_bits, 1);
    assert_int_equal(s1->mqttsn_serial_xbee_api, 2);
    assert_null(a->listeners[2].mqttsn_serial_device); /* the UDP listener */
    const struct cfg_listener *s2 = &a->listeners[3];
    assert_int_equal(s2->mqttsn_serial_baud, 9600);
    assert_int_equal(s2->mqttsn_serial_framing, CFG_SN_FRAMING_XBEE);
    assert_int_equal(s2->mqttsn_serial_flow, CFG_SN_FLOW_RTSCTS);
    assert_int_equal(s2->mqttsn_serial_parity, CFG_SN_PARITY_EVEN);
    assert_int_equal(s2->mqttsn_serial_data_bits, 7);
    assert_int_equal(s2->mqttsn_serial_stop_bits, 2);
    assert_int_equal(s2->mqttsn_serial_xbee_api, 1);
    assert_int_equal(s2->mqttsn_retries, 4);
    assert_int_equal(s1->mqttsn_retries, 0);
    struct gw_config *b = load_ok(text);
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    cfg_free(b);
    b = load_ok("listener 1883\nmqttsn_serial /dev/serial/by-id/usb-FTDI_A1\n"
                "mqttsn_gateway_id 7\nlistener 1884\nprotocol mqttsn\n"
                "mqttsn_serial /dev/ttyAMA0\nmqttsn_serial_baud 19200\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "listener");
    cfg_free(b);
    cfg_free(a);

    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
            {"mqttsn_serial_baud 9600\n",
             "t.conf:1: option 'mqttsn_serial_baud' must follow an 'mqttsn_serial' line"},
            {"listener 1\nmqttsn_serial_framing slip\n",
             "t.conf:2: option 'mqttsn_serial_framing' must follow an 'mqttsn_serial' line"},
            {"mqttsn_serial\n",
             "t.conf:1: option 'mqttsn_serial': missing value, expected a device path"},
            {"mqttsn_serial ttyUSB0\n",
             "t.conf:1: option 'mqttsn_serial': expected an absolute device path, got 'ttyUSB0'"},
            {"mqttsn_serial /dev/a\nmqttsn_serial_framing hdlc\n",
             "t.conf:2: option 'mqttsn_serial_framing': expected raw, slip or xbee, got 'hdlc'"},
            {"mqttsn_serial /dev/a\nmqttsn_serial_baud 10\n",
             "t.conf:2: option 'mqttsn_serial_baud': expected an integer 50..4000000, got '10'"},
            {"mqttsn_serial /dev/a\nmqttsn_serial_xbee_api 3\n",
             "t.conf:2: option 'mqttsn_serial_xbee_api': expected an integer 1..2, got '3'"},
            {"mqttsn_serial /dev/a\nprotocol mqtt\n",
             "t.conf:2: option 'protocol' does not apply to an mqttsn_serial block (it is "
             "MQTT-SN)"},
            {"mqttsn_serial /dev/a\nlistener 1\nmqttsn_serial /dev/a\n",
             "t.conf:3: mqttsn_serial /dev/a is already configured at t.conf:1"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_config *c = NULL;
        assert_int_equal(cfg_load_string(bad[i].text, "t.conf", &c, err, sizeof(err)), GW_E_CONFIG);
        assert_string_equal(err, bad[i].msg);
        assert_null(c);
    }
    assert_int_equal(gw_alloc_bytes(), base);
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

static void test_cfg_print_help_lists_options(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cfg_print_help(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "max_keepalive"));
    assert_non_null(strstr(text, "an integer 0..65535 (default 65535) [reloadable]"));
    assert_non_null(strstr(text, "persistence_location"));
    assert_non_null(strstr(text, "persistence_durability         sync, periodic MS, none or journal "
                                 "(default journal) [restart]"));
    assert_non_null(strstr(text, "persistence_quota              a size in bytes 0.. (suffix k "
                                 "M G allowed) (default 0) [reloadable]"));
    assert_non_null(strstr(text, "persistence_quota_policy       refuse or drop_oldest (default "
                                 "refuse) [reloadable]"));
    assert_non_null(strstr(text, "persistence_map_size           a size in bytes 1048576.."));
    assert_non_null(strstr(text, "(default 1G) [restart]"));
    assert_non_null(strstr(text, "on 32-bit ARM"));
    assert_non_null(strstr(text, "ignored (mosquitto compatibility): user autosave_interval "
                                 "autosave_on_changes"));
    assert_non_null(strstr(text, "\ncertfile")); /* a TLS listener option now */
    assert_null(strstr(text, "\ndhparamfile")); /* rejected: not listed */
    free(text);
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
            cmocka_unit_test(test_cfg_default_all_fields),
            cmocka_unit_test(test_cfg_every_option_parsed),
            cmocka_unit_test(test_cfg_listeners_ipv4_ipv6),
            cmocka_unit_test(test_cfg_websockets_listener),
        cmocka_unit_test(test_cfg_legacy_port_bind_address),
            cmocka_unit_test(test_cfg_per_listener_settings),
        cmocka_unit_test(test_cfg_tls_listener_options),
            cmocka_unit_test(test_cfg_errors_exact_messages),
            cmocka_unit_test(test_cfg_error_buffer_small_truncates),
            cmocka_unit_test(test_cfg_ignored_options_warn),
            cmocka_unit_test(test_cfg_log_type_and_dest),
            cmocka_unit_test(test_cfg_persistent_client_expiration_units),
            cmocka_unit_test(test_cfg_persistence_durability_values),
            cmocka_unit_test(test_cfg_persistence_quota_and_map_size),
            cmocka_unit_test(test_cfg_include_dir_sorted),
            cmocka_unit_test(test_cfg_include_dir_error_names_included_file),
            cmocka_unit_test(test_cfg_load_missing_file_errno),
            cmocka_unit_test(test_cfg_set_port),
            cmocka_unit_test(test_cfg_diff_restart_needed),
            cmocka_unit_test(test_cfg_mqttsn_listener_options),
            cmocka_unit_test(test_cfg_mqttsn_serial_blocks),
            cmocka_unit_test(test_cfg_validate_conflicts),
            cmocka_unit_test(test_cfg_print_help_lists_options),
            cmocka_unit_test(test_cfg_alloc_failure_no_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
