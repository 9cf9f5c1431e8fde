/* test_cfg_parse.c - what each option parses to: the defaults, every option
 * set at once, listeners (TCP, WebSocket, TLS, MQTT-SN, serial), logging and
 * persistence values. */
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
            cmocka_unit_test(test_cfg_log_type_and_dest),
            cmocka_unit_test(test_cfg_persistent_client_expiration_units),
            cmocka_unit_test(test_cfg_persistence_durability_values),
            cmocka_unit_test(test_cfg_persistence_quota_and_map_size),
            cmocka_unit_test(test_cfg_mqttsn_listener_options),
            cmocka_unit_test(test_cfg_mqttsn_serial_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
