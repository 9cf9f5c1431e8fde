/* test_cfg_bridge.c - the bridge options of the config parser: mosquitto's
 * `connection` blocks (mosquitto.conf(5) "Bridges") and Tern's backlog
 * options: every option, the defaults, every error with its FILE:LINE. */
#include "alloc.h"
#include "cfg.h"
#include "gw_err.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char *hostname(void)
{
    static char host[256];
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    return host;
}

static void test_cfg_bridge_none_by_default(void **state)
{
    (void)state;
    struct gw_config *c = NULL;
    assert_int_equal(cfg_default(&c), 0);
    assert_null(c->bridges);
    assert_int_equal(c->n_bridges, 0);
    cfg_free(c);
}

/* mosquitto's defaults for everything a block does not set. */
static void test_cfg_bridge_defaults(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("connection cloud\naddress broker.example\ntopic #\n");
    assert_int_equal(c->n_bridges, 1);
    const struct cfg_bridge *b = &c->bridges[0];
    char id[300];
    (void)snprintf(id, sizeof(id), "%s.cloud", hostname());
    char local_id[310];
    (void)snprintf(local_id, sizeof(local_id), "local.%s", id);
    char notif[400];
    (void)snprintf(notif, sizeof(notif), "$SYS/broker/connection/%s/state", id);
    assert_string_equal(b->name, "cloud");
    assert_string_equal(b->origin, "t.conf:1");
    assert_int_equal(b->n_addrs, 1);
    assert_string_equal(b->addrs[0].host, "broker.example");
    assert_int_equal(b->addrs[0].port, 1883);
    assert_int_equal(b->n_topics, 1);
    assert_string_equal(b->topics[0].pattern, "#");
    assert_null(b->topics[0].local_prefix);
    assert_null(b->topics[0].remote_prefix);
    assert_int_equal(b->topics[0].dir, CFG_BRIDGE_OUT);
    assert_int_equal(b->topics[0].qos, 0);
    assert_string_equal(b->remote_clientid, id);
    assert_string_equal(b->local_clientid, local_id);
    assert_null(b->remote_username);
    assert_null(b->remote_password);
    assert_null(b->local_username);
    assert_null(b->local_password);
    assert_false(b->cleansession);
    assert_false(b->local_cleansession);
    assert_false(b->local_cleansession_set);
    assert_int_equal(b->keepalive_s, 60);
    assert_int_equal(b->protocol, 4);
    assert_true(b->notifications);
    assert_string_equal(b->notification_topic, notif);
    assert_false(b->notifications_local_only);
    assert_int_equal(b->restart_timeout_base_s, 5);
    assert_int_equal(b->restart_timeout_cap_s, 30);
    assert_true(b->try_private);
    assert_int_equal(b->max_packet_size, 0);
    assert_true(b->outgoing_retain);
    assert_true(b->attempt_unsubscribe);
    assert_false(b->round_robin);
    assert_null(b->cafile);
    assert_null(b->capath);
    assert_null(b->certfile);
    assert_null(b->keyfile);
    assert_false(b->insecure);
    assert_null(b->alpn);
    assert_string_equal(b->tls_version, "tlsv1.2");
    assert_int_equal(b->backlog_max_messages, 1000000);
    assert_int_equal(b->backlog_max_bytes, 0);
    assert_int_equal(b->backlog_max_age_s, 0);
    assert_int_equal(b->backlog_policy, CFG_BACKLOG_DROP_OLDEST);
    assert_false(b->queue_qos0);
    assert_int_equal(b->max_inflight, 20);
    assert_int_equal(b->replay_rate_msgs, 0);
    assert_int_equal(b->replay_rate_bytes, 0);
    /* A bridge alone leaves the default loopback listeners in place. */
    assert_true(c->default_listener);
    assert_int_equal(c->n_warnings, 0);
    cfg_free(c);
}

static const char every_option[] = "# every bridge option with a non-default value\n"
                                   "connection cloud\n"
                                   "address a.example:1884 b.example\n"
                                   "addresses [2001:db8::1]:8884\n"
                                   "topic sensors/# out 1\n"
                                   "topic cmd/# in 2 \"\" site/gw1/\n"
                                   "topic # both 0 local/topic/ remote/topic/\n"
                                   "remote_clientid gw1-bridge\n"
                                   "local_clientid gw1-local\n"
                                   "remote_username gw1 user\n"
                                   "remote_password s3cret pass\n"
                                   "local_username bridge\n"
                                   "local_password lpw\n"
                                   "cleansession true\n"
                                   "local_cleansession false\n"
                                   "keepalive_interval 90\n"
                                   "bridge_protocol_version mqttv50\n"
                                   "notifications false\n"
                                   "notification_topic gw1/bridge/state\n"
                                   "notifications_local_only true\n"
                                   "restart_timeout 10 120\n"
                                   "try_private false\n"
                                   "bridge_max_packet_size 1048576\n"
                                   "bridge_outgoing_retain false\n"
                                   "bridge_attempt_unsubscribe false\n"
                                   "round_robin true\n"
                                   "start_type automatic\n"
                                   "bridge_cafile /etc/ssl/certs/ca certificates.crt\n"
                                   "bridge_capath /etc/ssl/certs\n"
                                   "bridge_certfile /etc/tern/gw1.crt\n"
                                   "bridge_keyfile /etc/tern/gw1.key\n"
                                   "bridge_insecure true\n"
                                   "bridge_alpn x-amzn-mqtt-ca\n"
                                   "bridge_tls_version tlsv1.3\n"
                                   "bridge_backlog_max_messages 5000000\n"
                                   "bridge_backlog_max_bytes 512M\n"
                                   "bridge_backlog_max_age 3d\n"
                                   "bridge_backlog_policy refuse\n"
                                   "bridge_queue_qos0 true\n"
                                   "bridge_max_inflight 100\n"
                                   "bridge_replay_rate 500\n"
                                   "bridge_replay_bytes_rate 64k\n";

static void test_cfg_bridge_every_option(void **state)
{
    (void)state;
    struct gw_config *c = load_ok(every_option);
    assert_int_equal(c->n_bridges, 1);
    const struct cfg_bridge *b = &c->bridges[0];
    assert_string_equal(b->origin, "t.conf:2");
    assert_int_equal(b->n_addrs, 3);
    assert_string_equal(b->addrs[0].host, "a.example");
    assert_int_equal(b->addrs[0].port, 1884);
    assert_string_equal(b->addrs[1].host, "b.example");
    assert_int_equal(b->addrs[1].port, 8883); /* TLS: bridge_cafile below */
    assert_string_equal(b->addrs[2].host, "2001:db8::1");
    assert_int_equal(b->addrs[2].port, 8884);
    assert_int_equal(b->n_topics, 3);
    assert_string_equal(b->topics[0].pattern, "sensors/#");
    assert_int_equal(b->topics[0].qos, 1);
    assert_int_equal(b->topics[1].dir, CFG_BRIDGE_IN);
    assert_int_equal(b->topics[1].qos, 2);
    assert_null(b->topics[1].local_prefix);
    assert_string_equal(b->topics[1].remote_prefix, "site/gw1/");
    assert_int_equal(b->topics[2].dir, CFG_BRIDGE_BOTH);
    assert_string_equal(b->topics[2].local_prefix, "local/topic/");
    assert_string_equal(b->topics[2].remote_prefix, "remote/topic/");
    assert_string_equal(b->remote_clientid, "gw1-bridge");
    assert_string_equal(b->local_clientid, "gw1-local");
    assert_string_equal(b->remote_username, "gw1 user"); /* rest of the line, as mosquitto */
    assert_string_equal(b->remote_password, "s3cret pass");
    assert_string_equal(b->local_username, "bridge");
    assert_string_equal(b->local_password, "lpw");
    assert_true(b->cleansession);
    assert_false(b->local_cleansession);
    assert_true(b->local_cleansession_set);
    assert_int_equal(b->keepalive_s, 90);
    assert_int_equal(b->protocol, 5);
    assert_false(b->notifications);
    assert_string_equal(b->notification_topic, "gw1/bridge/state");
    assert_true(b->notifications_local_only);
    assert_int_equal(b->restart_timeout_base_s, 10);
    assert_int_equal(b->restart_timeout_cap_s, 120);
    assert_false(b->try_private);
    assert_int_equal(b->max_packet_size, 1048576);
    assert_false(b->outgoing_retain);
    assert_false(b->attempt_unsubscribe);
    assert_true(b->round_robin);
    assert_string_equal(b->cafile, "/etc/ssl/certs/ca certificates.crt");
    assert_string_equal(b->capath, "/etc/ssl/certs");
    assert_string_equal(b->certfile, "/etc/tern/gw1.crt");
    assert_string_equal(b->keyfile, "/etc/tern/gw1.key");
    assert_true(b->insecure);
    assert_string_equal(b->alpn, "x-amzn-mqtt-ca");
    assert_string_equal(b->tls_version, "tlsv1.3");
    assert_int_equal(b->backlog_max_messages, 5000000);
    assert_int_equal(b->backlog_max_bytes, 512u * 1024 * 1024);
    assert_int_equal(b->backlog_max_age_s, 3 * 86400);
    assert_int_equal(b->backlog_policy, CFG_BACKLOG_REFUSE);
    assert_true(b->queue_qos0);
    assert_int_equal(b->max_inflight, 100);
    assert_int_equal(b->replay_rate_msgs, 500);
    assert_int_equal(b->replay_rate_bytes, 64 * 1024);
    cfg_free(c);
}

/* mosquitto's older names, and local_cleansession following cleansession. */
static void test_cfg_bridge_aliases(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("connection a\naddress h\ntopic #\nclientid old-id\n"
                                  "username old-user\npassword old-pw\ncleansession true\n");
    const struct cfg_bridge *b = &c->bridges[0];
    assert_string_equal(b->remote_clientid, "old-id");
    assert_string_equal(b->local_clientid, "local.old-id");
    assert_string_equal(b->notification_topic, "$SYS/broker/connection/old-id/state");
    assert_string_equal(b->remote_username, "old-user");
    assert_string_equal(b->remote_password, "old-pw");
    assert_true(b->local_cleansession); /* not set: follows cleansession */
    assert_false(b->local_cleansession_set);
    cfg_free(c);

    /* The later line wins, whichever name it uses. */
    c = load_ok("connection a\naddress h\ntopic #\nremote_clientid x\nclientid y\n");
    assert_string_equal(c->bridges[0].remote_clientid, "y");
    cfg_free(c);
}

struct addr_case {
    const char *line;
    const char *host;
    uint16_t port;
};

static void test_cfg_bridge_address_forms(void **state)
{
    (void)state;
    static const struct addr_case cases[] = {
            {"address h", "h", 1883},
            {"address h:1", "h", 1},
            {"address h:65535", "h", 65535},
            {"addresses 10.0.0.1:1884", "10.0.0.1", 1884},
            {"address [::1]", "::1", 1883},
            {"address [::1]:1884", "::1", 1884},
            {"address [fe80::1%eth0]:8884", "fe80::1%eth0", 8884},
            {"address \tbroker.example\t", "broker.example", 1883},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[200];
        (void)snprintf(text, sizeof(text), "connection a\n%s\ntopic #\n", cases[i].line);
        struct gw_config *c = load_ok(text);
        assert_int_equal(c->bridges[0].n_addrs, 1);
        assert_string_equal(c->bridges[0].addrs[0].host, cases[i].host);
        assert_int_equal(c->bridges[0].addrs[0].port, cases[i].port);
        cfg_free(c);
    }
    /* Several per line and several lines append, in order; TLS (capath)
     * makes the default port 8883 wherever the address line is. */
    struct gw_config *c = load_ok("connection a\naddress h1 h2:2\naddresses [::2]\n"
                                  "topic #\nbridge_capath /etc/ssl/certs\naddress h4\n");
    const struct cfg_bridge *b = &c->bridges[0];
    assert_int_equal(b->n_addrs, 4);
    const char *hosts[] = {"h1", "h2", "::2", "h4"};
    const uint16_t ports[] = {8883, 2, 8883, 8883};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(b->addrs[i].host, hosts[i]);
        assert_int_equal(b->addrs[i].port, ports[i]);
    }
    cfg_free(c);
}

struct topic_case {
    const char *line;
    const char *pattern;
    const char *lp;
    const char *rp;
    enum cfg_bridge_dir dir;
    uint8_t qos;
};

static void test_cfg_bridge_topic_forms(void **state)
{
    (void)state;
    static const struct topic_case cases[] = {
            {"topic #", "#", NULL, NULL, CFG_BRIDGE_OUT, 0},
            {"topic a/+/c in", "a/+/c", NULL, NULL, CFG_BRIDGE_IN, 0},
            {"topic a BOTH 2", "a", NULL, NULL, CFG_BRIDGE_BOTH, 2}, /* any case, as mosquitto */
            {"topic # both 0 local/topic/ remote/topic/", "#", "local/topic/", "remote/topic/",
             CFG_BRIDGE_BOTH, 0},
            {"topic \"\" out 1 sensors/a cloud/gw1/a", "", "sensors/a", "cloud/gw1/a",
             CFG_BRIDGE_OUT, 1},
            {"topic s/# out 1 \"\" site/", "s/#", NULL, "site/", CFG_BRIDGE_OUT, 1},
            {"topic s/# in 1 loc/", "s/#", "loc/", NULL, CFG_BRIDGE_IN, 1},
            {"topic s/# in 1 loc/ \"\"", "s/#", "loc/", NULL, CFG_BRIDGE_IN, 1},
            {"topic # out 0 $SYS/broker/ gw1/sys/", "#", "$SYS/broker/", "gw1/sys/", CFG_BRIDGE_OUT,
             0},
            {"topic /# out 0 a b", "/#", "a", "b", CFG_BRIDGE_OUT, 0},
            {"topic $share/g/x in", "$share/g/x", NULL, NULL, CFG_BRIDGE_IN, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct topic_case *tc = &cases[i];
        char text[200];
        (void)snprintf(text, sizeof(text), "connection a\naddress h\n%s\n", tc->line);
        struct gw_config *c = load_ok(text);
        const struct cfg_bridge_topic *t = &c->bridges[0].topics[0];
        assert_string_equal(t->pattern, tc->pattern);
        if (tc->lp) {
            assert_string_equal(t->local_prefix, tc->lp);
        } else {
            assert_null(t->local_prefix);
        }
        if (tc->rp) {
            assert_string_equal(t->remote_prefix, tc->rp);
        } else {
            assert_null(t->remote_prefix);
        }
        assert_int_equal(t->dir, tc->dir);
        assert_int_equal(t->qos, tc->qos);
        cfg_free(c);
    }
}

/* restart_timeout, bridge_backlog_max_age and bridge_protocol_version. */
static void test_cfg_bridge_value_forms(void **state)
{
    (void)state;

    static const struct {
        const char *line;
        uint32_t base, cap, age;
        uint8_t proto;
    } cases[] = {
            {"restart_timeout 7", 7, 7, 0, 4},
            {"restart_timeout 1 86400", 1, 86400, 0, 4},
            {"restart_timeout 30 30", 30, 30, 0, 4},
            {"bridge_backlog_max_age 90", 5, 30, 90, 4},
            {"bridge_backlog_max_age 90s", 5, 30, 90, 4},
            {"bridge_backlog_max_age 2h", 5, 30, 7200, 4},
            {"bridge_backlog_max_age 1w", 5, 30, 604800, 4},
            {"bridge_backlog_max_age 0", 5, 30, 0, 4},
            {"bridge_backlog_max_age 4294967295", 5, 30, 4294967295u, 4},
            {"bridge_protocol_version mqttv311", 5, 30, 0, 4},
            {"bridge_protocol_version mqttv50", 5, 30, 0, 5},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[200];
        (void)snprintf(text, sizeof(text), "connection a\naddress h\ntopic #\n%s\n", cases[i].line);
        struct gw_config *c = load_ok(text);
        const struct cfg_bridge *b = &c->bridges[0];
        assert_int_equal(b->restart_timeout_base_s, cases[i].base);
        assert_int_equal(b->restart_timeout_cap_s, cases[i].cap);
        assert_int_equal(b->backlog_max_age_s, cases[i].age);
        assert_int_equal(b->protocol, cases[i].proto);
        cfg_free(c);
    }
}

/* Blocks run to the next connection line; listener lines and global
 * options in between keep their own scope (mosquitto). */
static void test_cfg_bridge_blocks_and_scope(void **state)
{
    (void)state;
    struct gw_config *c = load_ok("max_connections 50\n"
                                  "connection first\n"
                                  "address one.example\n"
                                  "listener 1884\n"
                                  "max_connections 5\n"
                                  "topic a/# out 1\n"
                                  "retain_available false\n"
                                  "keepalive_interval 30\n"
                                  "connection second\n"
                                  "address two.example:1885\n"
                                  "topic b/# in 2\n"
                                  "listener 1885\n"
                                  "remote_clientid second-id\n");
    assert_int_equal(c->n_bridges, 2);
    const struct cfg_bridge *a = &c->bridges[0];
    const struct cfg_bridge *b = &c->bridges[1];
    assert_string_equal(a->name, "first");
    assert_int_equal(a->n_topics, 1);
    assert_string_equal(a->topics[0].pattern, "a/#");
    assert_int_equal(a->keepalive_s, 30);
    assert_string_equal(b->name, "second");
    assert_string_equal(b->origin, "t.conf:9");
    assert_string_equal(b->addrs[0].host, "two.example");
    assert_int_equal(b->addrs[0].port, 1885);
    assert_string_equal(b->topics[0].pattern, "b/#");
    assert_int_equal(b->keepalive_s, 60);
    assert_string_equal(b->remote_clientid, "second-id");
    assert_string_equal(b->local_clientid, "local.second-id");
    assert_int_equal(c->n_listeners, 2);
    assert_int_equal(c->max_connections, 50);
    assert_int_equal(c->listeners[0].max_connections, 5);
    assert_false(c->retain_available);
    assert_false(c->default_listener);
    cfg_free(c);
}

/* Configurations in the style of mosquitto's documentation and of common
 * cloud bridges load as they do in mosquitto. */
static void test_cfg_bridge_mosquitto_examples(void **state)
{
    (void)state;
    static const char *const examples[] = {
            /* mosquitto.conf(5), topic remapping */
            "connection bridge-01\n"
            "address 127.0.0.1:1884\n"
            "topic # both 0 local/topic/ remote/topic/\n",
            /* one topic renamed on the way out */
            "connection bridge-02\n"
            "address 192.168.1.10\n"
            "topic \"\" out 1 sensors/a cloud/gw1/a\n"
            "topic \"\" in 1 cmd/gw1 cloud/cmd/gw1\n",
            /* a TLS cloud bridge as edge gateways write them */
            "listener 1883 127.0.0.1\n"
            "allow_anonymous true\n"
            "\n"
            "connection gw1-cloud\n"
            "address mqtt.example.com:8883\n"
            "topic d/# in 1 \"\" a/gw1/\n"
            "topic u/# out 1 \"\" a/gw1/\n"
            "bridge_protocol_version mqttv50\n"
            "bridge_insecure false\n"
            "cleansession false\n"
            "remote_clientid gw1-cloud\n"
            "start_type automatic\n"
            "notifications true\n"
            "notification_topic a/gw1/bridge_state\n"
            "remote_username gw1\n"
            "remote_password secret\n"
            "restart_timeout 10 120\n"
            "keepalive_interval 90\n"
            "bridge_cafile /etc/ssl/certs/ca-certificates.crt\n",
            /* lazy-only options are accepted with a warning */
            "connection legacy\n"
            "address old.example\n"
            "topic legacy/# both 1\n"
            "idle_timeout 60\n"
            "threshold 10\n"
            "bridge_protocol_version mqttv311\n"
            "try_private true\n",
    };
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        struct gw_config *c = load_ok(examples[i]);
        assert_int_equal(c->n_bridges, 1);
        assert_int_equal(c->n_warnings, i == 3 ? 2 : 0);
        cfg_free(c);
    }
    struct gw_config *c = load_ok(examples[2]);
    assert_int_equal(c->bridges[0].addrs[0].port, 8883);
    assert_string_equal(c->bridges[0].topics[0].remote_prefix, "a/gw1/");
    cfg_free(c);
    c = load_ok(examples[3]);
    assert_string_equal(c->warnings[0],
                        "t.conf:4: option 'idle_timeout' is accepted for compatibility and "
                        "ignored by tern: it only applies to start_type lazy, which tern does "
                        "not support");
    assert_non_null(strstr(c->warnings[1], "t.conf:5: option 'threshold'"));
    cfg_free(c);
}

struct err_case {
    const char *text;
    const char *msg; /* exact message; rc is GW_E_CONFIG */
};

#define BLK "connection a\naddress h\ntopic #\n" /* a valid block: lines 1..3 */

static const struct err_case err_cases[] = {
        /* scope */
        {"address h\n", "t.conf:1: option 'address' must follow a 'connection' line"},
        {"\ntopic #\n", "t.conf:2: option 'topic' must follow a 'connection' line"},
        {"remote_clientid x\n",
         "t.conf:1: option 'remote_clientid' must follow a 'connection' line"},
        {"clientid x\n", "t.conf:1: option 'clientid' must follow a 'connection' line"},
        {"cleansession true\n", "t.conf:1: option 'cleansession' must follow a 'connection' line"},
        {"idle_timeout 5\n", "t.conf:1: option 'idle_timeout' must follow a 'connection' line"},
        {"bridge_backlog_max_messages 5\n",
         "t.conf:1: option 'bridge_backlog_max_messages' must follow a 'connection' line"},
        {"restart_timeout 5\n",
         "t.conf:1: option 'restart_timeout' must follow a 'connection' line"},
        /* connection */
        {"connection\n", "t.conf:1: option 'connection': missing value, expected a bridge name"},
        {"connection a b\n", "t.conf:1: option 'connection': unexpected extra argument 'b'"},
        {"connection \xff\n", "t.conf:1: option 'connection': the name is not valid UTF-8"},
        {BLK "connection a\n", "t.conf:4: option 'connection': 'a' is already defined at t.conf:1"},
        {"connection a\ntopic #\n", "t.conf:1: connection 'a': no address (address HOST[:PORT])"},
        {"\nconnection a\naddress h\n",
         "t.conf:2: connection 'a': no topic (topic PATTERN [in|out|both] [QOS] ...)"},
        {BLK "connection b\naddress h\n",
         "t.conf:4: connection 'b': no topic (topic PATTERN [in|out|both] [QOS] ...)"},
        /* address */
        {"connection a\naddress\n",
         "t.conf:2: option 'address': missing value, expected HOST[:PORT] ..."},
        {"connection a\naddress h:0\n",
         "t.conf:2: option 'address': expected a port 1..65535 after 'h:', got '0'"},
        {"connection a\naddress h:65536\n",
         "t.conf:2: option 'address': expected a port 1..65535 after 'h:', got '65536'"},
        {"connection a\naddress ok h:x\n",
         "t.conf:2: option 'address': expected a port 1..65535 after 'h:', got 'x'"},
        {"connection a\naddress h:\n",
         "t.conf:2: option 'address': expected a port 1..65535 after 'h:', got ''"},
        {"connection a\naddress :1883\n", "t.conf:2: option 'address': missing host in ':1883'"},
        {"connection a\naddresses ::1\n",
         "t.conf:2: option 'addresses': write the IPv6 address '::1' as [ADDRESS]:PORT"},
        {"connection a\naddress ::1:1883\n",
         "t.conf:2: option 'address': write the IPv6 address '::1:1883' as [ADDRESS]:PORT"},
        {"connection a\naddress [::1\n",
         "t.conf:2: option 'address': expected [IPV6-ADDRESS] or [IPV6-ADDRESS]:PORT, got "
         "'[::1'"},
        {"connection a\naddress []:1883\n",
         "t.conf:2: option 'address': expected [IPV6-ADDRESS] or [IPV6-ADDRESS]:PORT, got "
         "'[]:1883'"},
        {"connection a\naddress [::1]1883\n",
         "t.conf:2: option 'address': expected [IPV6-ADDRESS] or [IPV6-ADDRESS]:PORT, got "
         "'[::1]1883'"},
        /* topic */
        {"connection a\ntopic\n",
         "t.conf:2: option 'topic': missing value, expected PATTERN [in|out|both] [QOS] "
         "[LOCAL_PREFIX] [REMOTE_PREFIX]"},
        {"connection a\ntopic # sideways\n",
         "t.conf:2: option 'topic': expected in, out or both, got 'sideways'"},
        {"connection a\ntopic # out 3\n",
         "t.conf:2: option 'topic': expected QoS 0, 1 or 2, got '3'"},
        {"connection a\ntopic # out -1\n",
         "t.conf:2: option 'topic': expected QoS 0, 1 or 2, got '-1'"},
        {"connection a\ntopic # out 1 a/ b/ c\n",
         "t.conf:2: option 'topic': unexpected extra argument 'c'"},
        {"connection a\ntopic a/#/b\n",
         "t.conf:2: option 'topic': 'a/#/b' is not a valid topic filter"},
        {"connection a\ntopic a+\n", "t.conf:2: option 'topic': 'a+' is not a valid topic filter"},
        {"connection a\ntopic # out 0 local\n",
         "t.conf:2: option 'topic': local prefix + pattern 'local#' is not a valid topic filter"},
        {"connection a\ntopic + in 0 l/ remote\n",
         "t.conf:2: option 'topic': remote prefix + pattern 'remote+' is not a valid topic "
         "filter"},
        {"connection a\ntopic # out 0 a/+/ b/\n",
         "t.conf:2: option 'topic': local prefix 'a/+/' is not a valid topic prefix (no '+' or "
         "'#')"},
        {"connection a\ntopic # out 0 a/ b/#/\n",
         "t.conf:2: option 'topic': remote prefix 'b/#/' is not a valid topic prefix (no '+' or "
         "'#')"},
        {"connection a\ntopic \"\"\n",
         "t.conf:2: option 'topic': an empty pattern \"\" needs both a local and a remote "
         "prefix"},
        {"connection a\ntopic \"\" out 0 a\n",
         "t.conf:2: option 'topic': an empty pattern \"\" needs both a local and a remote "
         "prefix"},
        {"connection a\ntopic \"\" out 0 \"\" b\n",
         "t.conf:2: option 'topic': an empty pattern \"\" needs both a local and a remote "
         "prefix"},
        /* values */
        {BLK "cleansession yes\n",
         "t.conf:4: option 'cleansession': expected true or false, got 'yes'"},
        {BLK "local_cleansession maybe\n",
         "t.conf:4: option 'local_cleansession': expected true or false, got 'maybe'"},
        {BLK "keepalive_interval 4\n",
         "t.conf:4: option 'keepalive_interval': expected an integer 5..65535, got '4'"},
        {BLK "keepalive_interval 65536\n",
         "t.conf:4: option 'keepalive_interval': expected an integer 5..65535, got '65536'"},
        {BLK "bridge_protocol_version mqttv31\n",
         "t.conf:4: option 'bridge_protocol_version': mqttv31 (MQTT 3.1) is not supported by "
         "tern, use mqttv311 or mqttv50"},
        {BLK "bridge_protocol_version 5\n",
         "t.conf:4: option 'bridge_protocol_version': expected mqttv311 or mqttv50, got '5'"},
        {BLK "bridge_protocol_version\n",
         "t.conf:4: option 'bridge_protocol_version': missing value, expected mqttv311 or "
         "mqttv50"},
        {BLK "start_type lazy\n",
         "t.conf:4: option 'start_type': 'lazy' is not supported by tern, use automatic"},
        {BLK "start_type once\n",
         "t.conf:4: option 'start_type': 'once' is not supported by tern, use automatic"},
        {BLK "start_type manual\n",
         "t.conf:4: option 'start_type': 'manual' is not supported by tern, use automatic"},
        {BLK "start_type soon\n", "t.conf:4: option 'start_type': expected automatic, got 'soon'"},
        {BLK "restart_timeout\n",
         "t.conf:4: option 'restart_timeout': missing value, expected BASE [CAP], seconds "
         "1..86400"},
        {BLK "restart_timeout 0\n",
         "t.conf:4: option 'restart_timeout': expected seconds 1..86400, got '0'"},
        {BLK "restart_timeout 5 86401\n",
         "t.conf:4: option 'restart_timeout': expected seconds 1..86400, got '86401'"},
        {BLK "restart_timeout 20 10\n",
         "t.conf:4: option 'restart_timeout': the cap 10 is below the base 20"},
        {BLK "restart_timeout 1 2 3\n",
         "t.conf:4: option 'restart_timeout': unexpected extra argument '3'"},
        {BLK "bridge_tls_version tlsv1.1\n",
         "t.conf:4: option 'bridge_tls_version': 'tlsv1.1' is not supported by tern, use "
         "tlsv1.2 or tlsv1.3"},
        {BLK "bridge_tls_version tls13\n",
         "t.conf:4: option 'bridge_tls_version': expected tlsv1.2 or tlsv1.3, got 'tls13'"},
        {BLK "bridge_max_packet_size 268435456\n",
         "t.conf:4: option 'bridge_max_packet_size': expected an integer 0..268435455, got "
         "'268435456'"},
        {BLK "bridge_backlog_max_age 10m\n",
         "t.conf:4: option 'bridge_backlog_max_age': expected seconds 0..4294967295 with an "
         "optional s, h, d or w suffix, got '10m'"},
        {BLK "bridge_backlog_max_age -1\n",
         "t.conf:4: option 'bridge_backlog_max_age': expected seconds 0..4294967295 with an "
         "optional s, h, d or w suffix, got '-1'"},
        {BLK "bridge_backlog_max_age 4294967296\n",
         "t.conf:4: option 'bridge_backlog_max_age': expected seconds 0..4294967295 with an "
         "optional s, h, d or w suffix, got '4294967296'"},
        {BLK "bridge_backlog_max_age 7102w\n",
         "t.conf:4: option 'bridge_backlog_max_age': expected seconds 0..4294967295 with an "
         "optional s, h, d or w suffix, got '7102w'"},
        {BLK "bridge_backlog_max_age h\n",
         "t.conf:4: option 'bridge_backlog_max_age': expected seconds 0..4294967295 with an "
         "optional s, h, d or w suffix, got 'h'"},
        {BLK "bridge_backlog_policy keep\n",
         "t.conf:4: option 'bridge_backlog_policy': expected drop_oldest, drop_newest or "
         "refuse, got 'keep'"},
        {BLK "bridge_backlog_max_bytes 1T\n",
         "t.conf:4: option 'bridge_backlog_max_bytes': expected a size in bytes 0.. (suffix k "
         "M G allowed), got '1T'"},
        {BLK "bridge_max_inflight 0\n",
         "t.conf:4: option 'bridge_max_inflight': expected an integer 1..65535, got '0'"},
        {BLK "remote_clientid\n",
         "t.conf:4: option 'remote_clientid': missing value, expected a value"},
        /* rejected */
        {BLK "bridge_psk 0123\n", "t.conf:1: connection 'a': bridge_psk needs bridge_identity"},
        {BLK "bridge_identity x\nbridge_psk 012\n",
         "t.conf:1: connection 'a': bridge_psk: an even count of hex digits, at most 128"},
        {BLK "bridge_identity x\nbridge_psk 01zz\n",
         "t.conf:1: connection 'a': bridge_psk: the key must be hex digits"},
        {"bridge_identity x\n",
         "t.conf:1: option 'bridge_identity' must follow a 'connection' line"},
        {BLK "bridge_require_ocsp true\n",
         "t.conf:4: option 'bridge_require_ocsp': OCSP is not supported by tern"},
        {BLK "bridge_ciphers_tls1.3 TLS_AES_128_GCM_SHA256\n",
         "t.conf:4: option 'bridge_ciphers_tls1.3': bridge_ciphers_tls1.3: TLS 1.3 needs mbedTLS 3 "
         "(this build has 2.28)"},
        {BLK "bridge_bind_address 10.0.0.1\n",
         "t.conf:4: option 'bridge_bind_address': this bridge option is not supported by tern"},
        {BLK "remote_foo x\n", "t.conf:4: unknown option 'remote_foo'"},
        /* checks across the block */
        {BLK "bridge_certfile /c.pem\nbridge_cafile /ca.pem\n",
         "t.conf:1: connection 'a': bridge_certfile needs bridge_keyfile"},
        {BLK "bridge_keyfile /k.pem\nbridge_cafile /ca.pem\n",
         "t.conf:1: connection 'a': bridge_keyfile needs bridge_certfile"},
        {BLK "bridge_certfile /c.pem\nbridge_keyfile /k.pem\n",
         "t.conf:1: connection 'a': bridge_certfile needs TLS: set bridge_cafile, "
         "bridge_capath or bridge_identity/psk"},
        {BLK "bridge_insecure true\n",
         "t.conf:1: connection 'a': bridge_insecure true needs TLS: set bridge_cafile, "
         "bridge_capath or bridge_identity/psk"},
        {BLK "bridge_alpn mqtt\n",
         "t.conf:1: connection 'a': bridge_alpn needs TLS: set bridge_cafile, bridge_capath or "
         "bridge_identity/psk"},
        {BLK "remote_clientid \xc3\x28\n",
         "t.conf:1: connection 'a': remote_clientid is not valid UTF-8 (or longer than 65535 "
         "bytes)"},
        {BLK "local_username \xed\xa0\x80\n",
         "t.conf:1: connection 'a': local_username is not valid UTF-8 (or longer than 65535 "
         "bytes)"},
        {BLK "notification_topic gw/+/state\n",
         "t.conf:1: connection 'a': notification topic 'gw/+/state' is not a valid topic name"},
        {BLK "remote_clientid id/#\n",
         "t.conf:1: connection 'a': notification topic '$SYS/broker/connection/id/#/state' is "
         "not a valid topic name"},
        {BLK "remote_password pw\n",
         "t.conf:1: connection 'a': remote_password needs remote_username with mqttv311"},
        /* between blocks */
        {BLK "remote_clientid same\nconnection b\naddress h\ntopic #\nremote_clientid same\n",
         "t.conf:5: connection 'b': local_clientid 'local.same' is also used by connection 'a' "
         "at t.conf:1"},
        {BLK "local_clientid x\nconnection b\naddress h\ntopic #\nlocal_clientid x\n",
         "t.conf:5: connection 'b': local_clientid 'x' is also used by connection 'a' at "
         "t.conf:1"},
};

static void test_cfg_bridge_errors_exact_messages(void **state)
{
    (void)state;
    size_t base = gw_alloc_bytes();
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        struct gw_config *c = NULL;
        int rc = cfg_load_string(err_cases[i].text, "t.conf", &c, err, sizeof(err));
        if (rc != GW_E_CONFIG || strcmp(err, err_cases[i].msg) != 0) {
            print_error("case %zu: rc=%d err=\"%s\"\n", i, rc, err);
        }
        assert_int_equal(rc, GW_E_CONFIG);
        assert_string_equal(err, err_cases[i].msg);
        assert_null(c);
        assert_int_equal(gw_alloc_bytes(), base);
    }
}

/* The same accepted with MQTT 5, which allows a password alone. */
static void test_cfg_bridge_password_alone_mqtt5(void **state)
{
    (void)state;
    struct gw_config *c = load_ok(BLK "remote_password pw\nbridge_protocol_version mqttv50\n");
    assert_string_equal(c->bridges[0].remote_password, "pw");
    assert_null(c->bridges[0].remote_username);
    cfg_free(c);
}

/* Bridges are restart-only: any change is "connection"; moving a block
 * down the file (its origin) is no change. */
static void test_cfg_bridge_diff_restart_needed(void **state)
{
    (void)state;
    char buf[256];
    struct gw_config *a = load_ok(every_option);
    struct gw_config *b = load_ok(every_option);
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    cfg_free(b);

    char moved[sizeof(every_option) + 4];
    (void)snprintf(moved, sizeof(moved), "\n\n%s", every_option);
    b = load_ok(moved);
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 0);
    cfg_free(b);

    static const char *const changes[] = {
            "topic sensors/# out 2\n",      /* another QoS */
            "topic x in\n",                 /* one more line */
            "address c.example\n",          /* one more address */
            "bridge_backlog_max_age 4d\n",  /* a handler's field */
            "restart_timeout 10 121\n",     /* a handler's field */
            "bridge_tls_version tlsv1.2\n", /* a handler's string */
            "local_cleansession true\n",    /* a handler's field */
            "bridge_max_inflight 99\n",     /* a row's field */
            "remote_password other\n",      /* a row's string */
            "bridge_backlog_policy drop_newest\n",
    };
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        char text[sizeof(every_option) + 64];
        (void)snprintf(text, sizeof(text), "%s%s", every_option, changes[i]);
        b = load_ok(text);
        if (cfg_diff_restart_needed(a, b, buf, sizeof(buf)) != 1) {
            print_error("change %zu (%s) not seen\n", i, changes[i]);
        }
        assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
        assert_string_equal(buf, "connection");
        cfg_free(b);
    }
    b = load_ok("max_keepalive 60\n");
    assert_int_equal(cfg_diff_restart_needed(a, b, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "connection");
    assert_int_equal(cfg_diff_restart_needed(b, b, buf, sizeof(buf)), 0);
    cfg_free(b);
    cfg_free(a);
}

/* Fail the n-th allocation for n = 0, 1, ... until the load succeeds: every
 * failure is -ENOMEM with nothing leaked. */
static void test_cfg_bridge_alloc_failure_no_leak(void **state)
{
    (void)state;
    size_t base = gw_alloc_bytes();
    for (long n = 0;; n++) {
        struct gw_config *c = NULL;
        gw_alloc_fail_at(n, 0);
        int rc = cfg_load_string(every_option, "t.conf", &c, err, sizeof(err));
        gw_alloc_fail_at(-1, 0);
        if (rc == 0) {
            assert_true(n > 40);
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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* A block neither continues into an include_dir file nor out of it. */
static void test_cfg_bridge_include_dir_ends_block(void **state)
{
    (void)state;
    char dir[] = "/tmp/tern-cfg-bridge-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64];
    char main_path[80];
    char inc[96];
    (void)snprintf(sub, sizeof(sub), "%s/conf.d", dir);
    (void)snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);
    (void)snprintf(inc, sizeof(inc), "%s/b.conf", sub);
    assert_int_equal(mkdir(sub, 0700), 0);

    /* An included file's bridge option needs its own connection line. */
    write_file(inc, "keepalive_interval 30\n");
    char text[200];
    (void)snprintf(text, sizeof(text), BLK "include_dir %s\n", sub);
    write_file(main_path, text);
    struct gw_config *c = NULL;
    assert_int_equal(cfg_load(main_path, &c, err, sizeof(err)), GW_E_CONFIG);
    char want[300];
    (void)snprintf(want, sizeof(want),
                   "%s:1: option 'keepalive_interval' must follow a 'connection' line", inc);
    assert_string_equal(err, want);

    /* A block in an included file, and none after include_dir returns. */
    write_file(inc, "connection inc\naddress h\ntopic #\n");
    (void)snprintf(text, sizeof(text), BLK "include_dir %s\ntopic more/#\n", sub);
    write_file(main_path, text);
    assert_int_equal(cfg_load(main_path, &c, err, sizeof(err)), GW_E_CONFIG);
    (void)snprintf(want, sizeof(want), "%s:5: option 'topic' must follow a 'connection' line",
                   main_path);
    assert_string_equal(err, want);

    (void)snprintf(text, sizeof(text), BLK "include_dir %s\n", sub);
    write_file(main_path, text);
    assert_int_equal(cfg_load(main_path, &c, err, sizeof(err)), 0);
    assert_int_equal(c->n_bridges, 2);
    assert_string_equal(c->bridges[1].name, "inc");
    (void)snprintf(want, sizeof(want), "%s:1", inc);
    assert_string_equal(c->bridges[1].origin, want);
    cfg_free(c);

    assert_int_equal(unlink(inc), 0);
    assert_int_equal(unlink(main_path), 0);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* --help-config lists every bridge option with its help line. */
static void test_cfg_bridge_help_lists_options(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cfg_print_help(f);
    assert_int_equal(fclose(f), 0);
    static const char *const names[] = {
            "connection",
            "address",
            "addresses",
            "topic",
            "remote_clientid",
            "clientid",
            "local_clientid",
            "remote_username",
            "username",
            "remote_password",
            "password",
            "local_username",
            "local_password",
            "cleansession",
            "local_cleansession",
            "keepalive_interval",
            "bridge_protocol_version",
            "notifications",
            "notification_topic",
            "notifications_local_only",
            "restart_timeout",
            "try_private",
            "bridge_max_packet_size",
            "bridge_outgoing_retain",
            "bridge_attempt_unsubscribe",
            "round_robin",
            "start_type",
            "bridge_cafile",
            "bridge_capath",
            "bridge_certfile",
            "bridge_keyfile",
            "bridge_insecure",
            "bridge_alpn",
            "bridge_tls_version",
            "bridge_backlog_max_messages",
            "bridge_backlog_max_bytes",
            "bridge_backlog_max_age",
            "bridge_backlog_policy",
            "bridge_queue_qos0",
            "bridge_max_inflight",
            "bridge_replay_rate",
            "bridge_replay_bytes_rate",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char row[64];
        (void)snprintf(row, sizeof(row), "\n%-30s ", names[i]);
        if (!strstr(text, row)) {
            print_error("'%s' missing from --help-config\n", names[i]);
        }
        assert_non_null(strstr(text, row));
    }
    assert_non_null(strstr(text, "keepalive_interval             an integer 5..65535 (default "
                                 "60) [restart]"));
    assert_non_null(strstr(text, "restart_timeout                 (default 5 30) [restart]"));
    assert_non_null(strstr(text, "bridge_backlog_policy          drop_oldest, drop_newest or "
                                 "refuse (default drop_oldest) [restart]"));
    assert_non_null(strstr(text, "ignored (mosquitto compatibility):"));
    assert_non_null(strstr(text, " idle_timeout threshold\n"));
    assert_non_null(strstr(text, "\nbridge_psk"));
    assert_null(strstr(text, "\nbridge_require_ocsp"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cfg_bridge_none_by_default),
            cmocka_unit_test(test_cfg_bridge_defaults),
            cmocka_unit_test(test_cfg_bridge_every_option),
            cmocka_unit_test(test_cfg_bridge_aliases),
            cmocka_unit_test(test_cfg_bridge_address_forms),
            cmocka_unit_test(test_cfg_bridge_topic_forms),
            cmocka_unit_test(test_cfg_bridge_value_forms),
            cmocka_unit_test(test_cfg_bridge_blocks_and_scope),
            cmocka_unit_test(test_cfg_bridge_mosquitto_examples),
            cmocka_unit_test(test_cfg_bridge_errors_exact_messages),
            cmocka_unit_test(test_cfg_bridge_password_alone_mqtt5),
            cmocka_unit_test(test_cfg_bridge_diff_restart_needed),
            cmocka_unit_test(test_cfg_bridge_alloc_failure_no_leak),
            cmocka_unit_test(test_cfg_bridge_include_dir_ends_block),
            cmocka_unit_test(test_cfg_bridge_help_lists_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
