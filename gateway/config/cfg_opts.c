/* cfg_opts.c - the option table of cfg.c and the handlers of its special
 * options (values: cfg_value.c).
 *
 * Every option is one row of cfg_opt_table: name, type, scope, offset,
 * range, default (as text, parsed by the same code as the file, so
 * `--help-config` and the behaviour cannot disagree), reloadable flag and
 * help. Types that a row cannot describe (listener, log_dest...) name a
 * handler, which lives here too, except include_dir (cfg.c: it reads files).
 * The rows of the bridge options live in cfg_bridge.c, beside their handlers;
 * lookup and help read both arrays as one table.
 * Nothing here logs: errors go to the parser's buffer through cfg_fail. */
#include "alloc.h"
#include "cfg_priv.h"
#include "gw_err.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define CFG_MQTT_MAX 268435455 /* largest MQTT remaining length */

static cfg_opt_fn h_listener, h_port, h_bind_address, h_protocol, h_socket_domain;
static cfg_opt_fn h_allow_anonymous, h_log_type, h_log_dest, h_mqttsn_forwarder,
    h_mqttsn_serial;

#define G(f) offsetof(struct gw_config, f)
#define L(f) offsetof(struct cfg_listener, f)
#define ROW(name, type, flags, goff, loff, min, max, def, fn, help, choices, noff)                 \
    {                                                                                              \
        name, type, flags, goff, loff, min, max, def, fn, help, choices, noff                      \
    }
#define OPT(name, type, flags, goff, loff, min, max, def, fn, help)                                \
    ROW(name, type, flags, goff, loff, min, max, def, fn, help, NULL, 0)
/* A word from choices; noff (0 = none) receives a numbered choice's number min..max. */
#define CHOICE(name, flags, goff, choices, noff, min, max, def, help)                              \
    ROW(name, CFG_T_ENUM, flags, goff, 0, min, max, def, NULL, help, choices, noff)
#define SPECIAL(name, flags, fn, def, help)                                                        \
    OPT(name, CFG_T_SPECIAL, flags, 0, 0, 0, 0, def, fn, help)
#define IGNORED(name)            OPT(name, CFG_T_IGNORE, 0, 0, 0, 0, 0, NULL, NULL, NULL)
#define IGNORED_WHY(name, why)   OPT(name, CFG_T_IGNORE, 0, 0, 0, 0, 0, NULL, NULL, why)
#define REJECT(name, flags, msg) OPT(name, CFG_T_REJECT, flags, 0, 0, 0, 0, NULL, NULL, msg)
#define TLS_MSG                  "tls_engine, tls_keyform and other OpenSSL options are not supported"
#define HTTP_DIR_MSG                                                                               \
    "http_dir is not supported: a websockets listener serves MQTT only, no files (serve web "      \
    "pages with a web server)"
#define PLUGIN_MSG               "plugins are not supported by tern"
#define AUTOSAVE_MSG                                                                               \
    "tern commits every change to its store (with the default persistence_durability journal, "    \
    "acknowledged means durable), so the option is not needed"

/* Largest LMDB map: it must fit a size_t (mdb_env_set_mapsize) on 32-bit ARM too. */
#define CFG_MAP_MAX ((uint64_t)SIZE_MAX < (uint64_t)INT64_MAX ? (int64_t)SIZE_MAX : INT64_MAX)

/* The enum rows store through an int (store_number). */
_Static_assert(sizeof(enum cfg_durability) == sizeof(int), "enum cfg_durability is int-sized");
_Static_assert(sizeof(enum cfg_quota_policy) == sizeof(int), "enum cfg_quota_policy is int-sized");

static const struct cfg_choice durability_choices[] = {
        {"sync", CFG_DURABILITY_SYNC, NULL},
        {"periodic", CFG_DURABILITY_PERIODIC, "MS"},
        {"none", CFG_DURABILITY_NONE, NULL},
        {"journal", CFG_DURABILITY_JOURNAL, NULL},
        {NULL, 0, NULL},
};

static const struct cfg_choice quota_policy_choices[] = {
        {"refuse", CFG_QUOTA_REFUSE, NULL},
        {"drop_oldest", CFG_QUOTA_DROP_OLDEST, NULL},
        {NULL, 0, NULL},
};

static const struct cfg_choice framing_choices[] = {
        {"raw", CFG_SN_FRAMING_RAW, NULL},
        {"slip", CFG_SN_FRAMING_SLIP, NULL},
        {"xbee", CFG_SN_FRAMING_XBEE, NULL},
        {NULL, 0, NULL},
};

static const struct cfg_choice flow_choices[] = {
        {"none", CFG_SN_FLOW_NONE, NULL},
        {"rtscts", CFG_SN_FLOW_RTSCTS, NULL},
        {"xonxoff", CFG_SN_FLOW_XONXOFF, NULL},
        {NULL, 0, NULL},
};

static const struct cfg_choice parity_choices[] = {
        {"none", CFG_SN_PARITY_NONE, NULL},
        {"even", CFG_SN_PARITY_EVEN, NULL},
        {"odd", CFG_SN_PARITY_ODD, NULL},
        {NULL, 0, NULL},
};

#define SERIAL (CFG_OPT_LISTENER | CFG_OPT_SERIAL)
/* A row of an mqttsn_serial block; defaults are set by h_mqttsn_serial. */
#define SERIAL_OPT(name, type, field, min, max, def, help)                                         \
    OPT(name, type, SERIAL, 0, L(field), min, max, def, NULL, help)
#define SERIAL_CHOICE(name, field, choices, def, help)                                             \
    ROW(name, CFG_T_ENUM, SERIAL, 0, L(field), 0, 0, def, NULL, help, choices, 0)

const struct cfg_opt cfg_opt_table[] = {
        SPECIAL("listener", 0, h_listener, NULL, "PORT [ADDRESS]: start a listener block"),
        SPECIAL("port", 0, h_port, NULL, "PORT: legacy default listener (deprecated form)"),
        SPECIAL("bind_address", 0, h_bind_address, NULL, "ADDRESS of the legacy port listener"),
        SPECIAL("protocol", CFG_OPT_LISTENER, h_protocol, "mqtt",
                "mqtt | mqttsn | http | websockets (listener; http: metrics, health and status "
                "endpoints; websockets: MQTT over WebSockets, RFC 6455)"),
        SPECIAL("socket_domain", CFG_OPT_LISTENER, h_socket_domain, NULL, "ipv4 | ipv6 (listener)"),
        /* MQTT-SN listener options (MQTT-SN 1.2 sections 6.1, 6.13; Paho gateway file formats) */
        OPT("mqttsn_retry_interval", CFG_T_U32, CFG_OPT_LISTENER, 0, L(mqttsn_retry_interval_s), 1,
            3600, NULL, NULL, "Tretry in seconds, default 10 (mqttsn listener)"),
        OPT("mqttsn_retries", CFG_T_U32, CFG_OPT_LISTENER, 0, L(mqttsn_retries), 1, 100, NULL, NULL,
            "Nretry: retransmissions before a client is lost, default 3 (mqttsn listener)"),
        OPT("mqttsn_gateway_id", CFG_T_U32, CFG_OPT_LISTENER, 0, L(mqttsn_gateway_id), 1, 255, NULL,
            NULL, "GwId in GWINFO and ADVERTISE, default 1 (mqttsn listener)"),
        OPT("mqttsn_advertise_interval", CFG_T_U32, CFG_OPT_LISTENER, 0,
            L(mqttsn_advertise_interval), 0, 65535, NULL, NULL,
            "seconds between ADVERTISE messages, 0 = none (default; mqttsn listener)"),
        OPT("mqttsn_advertise_address", CFG_T_STRING, CFG_OPT_LISTENER, 0,
            L(mqttsn_advertise_address), 0, 0, NULL, NULL,
            "ADDR[:PORT] (broadcast or multicast) ADVERTISE goes to (mqttsn listener)"),
        OPT("mqttsn_predefined_topics", CFG_T_STRING, CFG_OPT_LISTENER, 0,
            L(mqttsn_predefined_topics), 0, 0, NULL, NULL,
            "file of predefined topic ids: ClientID|*, TopicName, TopicID (mqttsn listener)"),
        OPT("mqttsn_allowed_clients", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(mqttsn_allowed_clients),
            0, 0, NULL, NULL, "ID ID ...: only these clients may connect (mqttsn listener)"),
        OPT("mqttsn_client_allow_file", CFG_T_STRING, CFG_OPT_LISTENER, 0,
            L(mqttsn_client_allow_file), 0, 0, NULL, NULL,
            "file of client ids, one a line, allowed to connect (mqttsn listener)"),
        OPT("mqttsn_amplification_limit", CFG_T_INT, CFG_OPT_LISTENER, 0,
            L(mqttsn_amplification_limit), 0, 1000, NULL, NULL,
            "bytes sent to an unproven peer, x bytes received: default 3, 0 = off (mqttsn "
            "listener)"),
        OPT("mqttsn_max_clients", CFG_T_U32, CFG_OPT_LISTENER, 0, L(mqttsn_max_clients), 1,
            1000000, NULL, NULL, "MQTT-SN clients of the listener, default 10000 (mqttsn listener)"),
        OPT("mqttsn_max_clients_per_address", CFG_T_U32, CFG_OPT_LISTENER, 0,
            L(mqttsn_max_clients_per_address), 1, 1000000, NULL, NULL,
            "MQTT-SN clients from one source address (forwarder nodes too), default 1000 "
            "(mqttsn listener)"),
        OPT("mqttsn_max_unproven_clients", CFG_T_U32, CFG_OPT_LISTENER, 0,
            L(mqttsn_max_unproven_clients), 1, 1000000, NULL, NULL,
            "MQTT-SN clients that have not proven their source address; the oldest makes room "
            "for a new one, default 100 (mqttsn listener)"),
        OPT("mqttsn_max_topics", CFG_T_U32, CFG_OPT_LISTENER, 0, L(mqttsn_max_topics), 1, 16384,
            NULL, NULL, "topic ids per MQTT-SN client, default 1000 (mqttsn listener)"),
        SPECIAL("mqttsn_forwarder", CFG_OPT_LISTENER, h_mqttsn_forwarder, NULL,
                "ADDR[:PORT] ... | *: forwarders whose encapsulated messages are accepted; "
                "repeatable; none = no forwarder (mqttsn listener)"),
        OPT("mqttsn_idle_timeout", CFG_T_U32, CFG_OPT_LISTENER, 0, L(mqttsn_idle_timeout_s), 1,
            31536000, NULL, NULL,
            "seconds without a message after which a client with keep-alive duration 0 is lost, "
            "default 3600 (mqttsn listener)"),
        OPT("mqttsn_udp_receive_buffer", CFG_T_SIZE, CFG_OPT_LISTENER, 0,
            L(mqttsn_udp_receive_buffer), 0, 1073741824, NULL, NULL,
            "BYTES of socket receive buffer (SO_RCVBUF, forced past net.core.rmem_max with "
            "CAP_NET_ADMIN) for bursts of datagrams, default 4M, 0 = the kernel's default "
            "(mqttsn listener, UDP)"),
        /* MQTT-SN over serial radios (issue 13) */
        SPECIAL("mqttsn_serial", 0, h_mqttsn_serial, NULL,
                "DEVICE: start an MQTT-SN serial port block; the mqttsn_* options after it apply "
                "to it"),
        SERIAL_OPT("mqttsn_serial_baud", CFG_T_U32, mqttsn_serial_baud, 50, 4000000, "115200",
                   "line rate in baud (mqttsn_serial block)"),
        SERIAL_CHOICE("mqttsn_serial_framing", mqttsn_serial_framing, framing_choices, "raw",
                      "raw | slip | xbee: how messages are delimited (mqttsn_serial block)"),
        SERIAL_CHOICE("mqttsn_serial_flow", mqttsn_serial_flow, flow_choices, "none",
                      "none | rtscts | xonxoff (mqttsn_serial block)"),
        SERIAL_CHOICE("mqttsn_serial_parity", mqttsn_serial_parity, parity_choices, "none",
                      "none | even | odd (mqttsn_serial block)"),
        SERIAL_OPT("mqttsn_serial_data_bits", CFG_T_U32, mqttsn_serial_data_bits, 5, 8, "8",
                   "data bits 5..8 (mqttsn_serial block)"),
        SERIAL_OPT("mqttsn_serial_stop_bits", CFG_T_U32, mqttsn_serial_stop_bits, 1, 2, "1",
                   "stop bits 1..2 (mqttsn_serial block)"),
        SERIAL_OPT("mqttsn_serial_xbee_api", CFG_T_U32, mqttsn_serial_xbee_api, 1, 2, "2",
                   "XBee API mode: 1 unescaped, 2 escaped (mqttsn_serial block, framing xbee)"),
        OPT("http_basic_auth", CFG_T_BOOL, CFG_OPT_LISTENER, 0, L(http_basic_auth), 0, 1, NULL,
            NULL,
            "true: /metrics and /api/v1/status need HTTP Basic credentials of a password_file "
            "user (http listener, tern)"),
        /* TLS listener options (mosquitto.conf(5) names and meanings) */
        OPT("cafile", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.cafile), 0, 0, NULL, NULL,
            "PEM bundle of the CAs client certificates must chain to (listener)"),
        OPT("capath", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.capath), 0, 0, NULL, NULL,
            "directory of PEM CA certificates (listener)"),
        OPT("certfile", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.certfile), 0, 0, NULL, NULL,
            "PEM server certificate (chain); turns TLS on (listener, re-read on SIGHUP)"),
        OPT("keyfile", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.keyfile), 0, 0, NULL, NULL,
            "its PEM private key, unencrypted (listener, re-read on SIGHUP)"),
        OPT("crlfile", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.crlfile), 0, 0, NULL, NULL,
            "PEM certificate revocation list (listener, re-read on SIGHUP)"),
        OPT("tls_version", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.tls_version), 0, 0, NULL,
            NULL, "tlsv1.2 | tlsv1.3: the oldest version accepted (tlsv1.3 needs mbedTLS 3)"),
        OPT("ciphers", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.ciphers), 0, 0, NULL, NULL,
            "cipher suites, mbedTLS or IANA names separated by ':' (listener)"),
        OPT("require_certificate", CFG_T_BOOL, CFG_OPT_LISTENER, 0, L(tls.require_certificate),
            0, 1, NULL, NULL, "true: clients need a certificate from cafile/capath (listener)"),
        OPT("use_identity_as_username", CFG_T_BOOL, CFG_OPT_LISTENER, 0,
            L(tls.use_identity_as_username), 0, 1, NULL, NULL,
            "the client certificate's CN is the username (listener)"),
        OPT("use_subject_as_username", CFG_T_BOOL, CFG_OPT_LISTENER, 0,
            L(tls.use_subject_as_username), 0, 1, NULL, NULL,
            "the client certificate's whole subject is the username (listener)"),
        OPT("psk_hint", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.psk_hint), 0, 0, NULL, NULL,
            "turns TLS-PSK on (with psk_file; mbedTLS 2.28 sends no hint) (listener)"),
        OPT("psk_file", CFG_T_STRING, CFG_OPT_LISTENER, 0, L(tls.psk_file), 0, 0, NULL, NULL,
            "identity:hexkey lines; the identity is the username (listener, re-read on SIGHUP)"),
        REJECT("ciphers_tls1.3", 0, "ciphers_tls1.3: TLS 1.3 needs mbedTLS 3 (this build has 2.28)"),
        REJECT("dhparamfile", 0,
               "dhparamfile is not supported: tern's TLS uses ECDHE, not finite-field DH"),
        OPT("max_connections", CFG_T_INT, CFG_OPT_BOTH, G(max_connections), L(max_connections), -1,
            INT_MAX, "-1", NULL, "client connections per listener, -1 = unlimited"),
        SPECIAL("allow_anonymous", CFG_OPT_RELOAD, h_allow_anonymous, NULL,
                "true | false; default true only with the loopback default listener"),
        OPT("per_listener_settings", CFG_T_BOOL, CFG_OPT_FIRST, G(per_listener_settings), 0, 0, 1,
            "false", NULL, "allow_anonymous per listener block"),
        OPT("password_file", CFG_T_STRING, CFG_OPT_RELOAD, G(password_file), 0, 0, 0, NULL, NULL,
            "path of the mosquitto_passwd file"),
        OPT("scram_file", CFG_T_STRING, 0, G(scram_file), 0, 0, 0, NULL, NULL,
            "SCRAM-SHA-256 verifiers for MQTT 5 enhanced authentication (tern)"),
        OPT("auth_max_pending", CFG_T_U32, 0, G(auth_max_pending), 0, 1, 100000, "32", NULL,
            "password checks waiting or running; more CONNECTs are refused (server unavailable)"),
        OPT("auth_backoff_max", CFG_T_U32, 0, G(auth_backoff_max_s), 0, 0, 86400, "60", NULL,
            "seconds: longest wait imposed on an address after failed logins, 0 = off"),
        OPT("acl_file", CFG_T_STRING, CFG_OPT_RELOAD, G(acl_file), 0, 0, 0, NULL, NULL,
            "path of the ACL file"),
        OPT("allow_zero_length_clientid", CFG_T_BOOL, CFG_OPT_RELOAD, G(allow_zero_length_clientid),
            0, 0, 1, "true", NULL, "assign ids to clients that send an empty one"),
        OPT("auto_id_prefix", CFG_T_STRING, CFG_OPT_RELOAD, G(auto_id_prefix), 0, 0, 0, "auto-",
            NULL, "prefix of assigned client ids"),
        OPT("max_inflight_messages", CFG_T_U32, CFG_OPT_RELOAD, G(max_inflight_messages), 0, 0,
            65535, "20", NULL, "QoS 1/2 messages in flight per client, 0 = unlimited"),
        OPT("max_inflight_bytes", CFG_T_SIZE, CFG_OPT_RELOAD, G(max_inflight_bytes), 0, 0,
            INT64_MAX, "0", NULL, "bytes in flight per client, 0 = unlimited"),
        OPT("max_queued_messages", CFG_T_U32, CFG_OPT_RELOAD, G(max_queued_messages), 0, 0,
            UINT32_MAX, "1000", NULL, "messages queued per client, 0 = unlimited"),
        OPT("max_queued_bytes", CFG_T_SIZE, CFG_OPT_RELOAD, G(max_queued_bytes), 0, 0, INT64_MAX,
            "0", NULL, "bytes queued per client, 0 = unlimited"),
        OPT("memory_limit", CFG_T_SIZE, CFG_OPT_RELOAD, G(memory_limit), 0, 0, INT64_MAX, "0",
            NULL, "heap budget: above it QoS 0 dropped, QoS 1/2 not acknowledged, new clients "
                  "refused; 0 = none"),
        OPT("max_publish_rate", CFG_T_U32, CFG_OPT_RELOAD, G(max_publish_rate), 0, 0,
            UINT32_MAX, "0", NULL,
            "PUBLISH packets per second per client (burst: one second's worth); above it QoS 0 "
            "is dropped, QoS 1/2 slowed by not reading; 0 = off"),
        OPT("max_publish_bytes_rate", CFG_T_SIZE, CFG_OPT_RELOAD, G(max_publish_bytes_rate), 0, 0,
            INT64_MAX, "0", NULL, "payload bytes per second per client, likewise; 0 = off"),
        OPT("max_connection_rate", CFG_T_U32, CFG_OPT_RELOAD, G(max_connection_rate), 0, 0,
            UINT32_MAX, "0", NULL,
            "new connections per second from one address (burst: one second's worth); more are "
            "closed at accept; 0 = off"),
        OPT("max_subscriptions_per_client", CFG_T_U32, CFG_OPT_RELOAD,
            G(max_subscriptions_per_client), 0, 0, UINT32_MAX, "10000", NULL,
            "subscriptions one client may hold, 0 = unlimited"),
        OPT("max_packet_size", CFG_T_U32, CFG_OPT_RELOAD, G(max_packet_size), 0, 0, CFG_MQTT_MAX,
            "2000000", NULL, "largest packet accepted, 0 = MQTT maximum"),
        OPT("max_keepalive", CFG_T_U16, CFG_OPT_RELOAD, G(max_keepalive), 0, 0, 65535, "65535",
            NULL, "largest keepalive accepted, seconds"),
        OPT("message_size_limit", CFG_T_U32, CFG_OPT_RELOAD, G(message_size_limit), 0, 0,
            CFG_MQTT_MAX, "0", NULL, "largest PUBLISH payload, 0 = none"),
        OPT("sys_interval", CFG_T_U32, CFG_OPT_RELOAD, G(sys_interval), 0, 0, 86400, "10", NULL,
            "seconds between $SYS updates, 0 = off"),
        OPT("queue_qos0_messages", CFG_T_BOOL, CFG_OPT_RELOAD, G(queue_qos0_messages), 0, 0, 1,
            "false", NULL, "queue QoS 0 for offline persistent clients"),
        OPT("retain_available", CFG_T_BOOL, CFG_OPT_RELOAD, G(retain_available), 0, 0, 1, "true",
            NULL, "support retained messages"),
        OPT("persistence", CFG_T_BOOL, CFG_OPT_GLOBAL, G(persistence), 0, 0, 1, "true", NULL,
            "store sessions and QoS 1/2 messages on disk"),
        OPT("persistence_location", CFG_T_STRING, CFG_OPT_GLOBAL, G(persistence_location), 0, 0, 0,
            "tern-data/", NULL, "directory of the LMDB store"),
        CHOICE("persistence_durability", CFG_OPT_GLOBAL, G(persistence_durability),
               durability_choices, G(persistence_periodic_ms), 10, 60000, "journal",
               "journal: each commit's record fsynced to a journal, LMDB synced at checkpoints "
               "(few flash writes), acknowledged means durable; sync: LMDB's own fsync'd commit, "
               "acknowledged means durable; periodic MS (10..60000): fsync every MS milliseconds, "
               "a power cut may lose up to MS of acknowledged messages; none: never fsync, leave "
               "it to the OS"),
        OPT("persistence_quota", CFG_T_SIZE, CFG_OPT_RELOAD, G(persistence_quota_bytes), 0, 0,
            INT64_MAX, "0", NULL,
            "bytes of stored data above which persistence_quota_policy applies, 0 = none"),
        CHOICE("persistence_quota_policy", CFG_OPT_RELOAD, G(persistence_quota_policy),
               quota_policy_choices, 0, 0, 0, "refuse",
               "at the quota: refuse new QoS 1/2 messages (quota reason code), or drop the "
               "oldest stored messages"),
        OPT("persistence_map_size", CFG_T_SIZE, CFG_OPT_GLOBAL, G(persistence_map_max_bytes), 0,
            (int64_t)1024 * 1024, CFG_MAP_MAX, "1G", NULL,
            "largest size of the LMDB store (its memory map); on 32-bit ARM the process "
            "address space limits it: keep it at 1G or below there"),
        OPT("persistent_client_expiration", CFG_T_DURATION, CFG_OPT_RELOAD,
            G(persistent_client_expiration_s), 0, 0, UINT32_MAX, NULL, NULL,
            "expire idle persistent sessions: 1h 3d 2w 1m 1y; unset = never"),
        OPT("connection_messages", CFG_T_BOOL, CFG_OPT_RELOAD, G(connection_messages), 0, 0, 1,
            "true", NULL, "log client connects and disconnects"),
        SPECIAL("log_type", CFG_OPT_RELOAD, h_log_type, "error warning notice information",
                "error|warning|notice|information|debug|subscribe|unsubscribe|all|none, "
                "repeatable"),
        SPECIAL("log_dest", CFG_OPT_RELOAD, h_log_dest, "stderr",
                "stderr | stdout | syslog | file PATH | none, repeatable"),
        OPT("log_timestamp", CFG_T_BOOL, CFG_OPT_RELOAD, G(log_timestamp), 0, 0, 1, "true", NULL,
            "prefix log lines with the time"),
        OPT("pid_file", CFG_T_STRING, CFG_OPT_GLOBAL, G(pid_file), 0, 0, 0, NULL, NULL,
            "write the pid here"),
        OPT("watchdog_device", CFG_T_STRING, CFG_OPT_GLOBAL, G(watchdog_device), 0, 0, 0, NULL,
            NULL,
            "hardware watchdog device kicked from the event loop, e.g. /dev/watchdog; unset = "
            "off (tern)"),
        OPT("watchdog_timeout", CFG_T_U32, CFG_OPT_GLOBAL, G(watchdog_timeout_s), 0, 2, 3600, "15",
            NULL, "seconds without a kick before the watchdog_device resets the board (tern)"),
        OPT("connect_timeout", CFG_T_U32, CFG_OPT_RELOAD, G(connect_timeout_s), 0, 1, 3600, "10",
            NULL, "seconds a client has to send CONNECT (tern)"),
        OPT("output_soft_limit", CFG_T_SIZE, CFG_OPT_RELOAD, G(output_soft_limit_bytes), 0, 1,
            INT64_MAX, "1M", NULL, "client output above this: drop QoS 0, pause reading (tern)"),
        OPT("output_hard_limit", CFG_T_SIZE, CFG_OPT_RELOAD, G(output_hard_limit_bytes), 0, 1,
            INT64_MAX, "16M", NULL, "client output above this: disconnect (tern)"),
        SPECIAL("include_dir", 0, cfg_include_dir, NULL,
                "DIR: read DIR/*.conf in order (main file only)"),
        IGNORED("user"),
        IGNORED_WHY("autosave_interval", AUTOSAVE_MSG),
        IGNORED_WHY("autosave_on_changes", AUTOSAVE_MSG),
        IGNORED("persistence_file"),
        IGNORED("set_tcp_nodelay"),
        IGNORED("check_retain_source"),
        IGNORED("log_timestamp_format"),
        IGNORED("log_facility"),
        IGNORED("upgrade_outgoing_qos"),
        IGNORED("max_qos"),
        IGNORED("max_topic_alias"),
        IGNORED("allow_duplicate_messages"),
        IGNORED("retry_interval"),
        IGNORED("store_clean_interval"),
        IGNORED("websockets_log_level"),
        REJECT("tls_", CFG_OPT_PREFIX, TLS_MSG),
        REJECT("http_dir", 0, HTTP_DIR_MSG),
        OPT("websockets_headers_size", CFG_T_U32, CFG_OPT_RELOAD, G(websockets_headers_size), 0, 0,
            65536, "4096", NULL,
            "bytes of a WebSocket upgrade request head, 0 = the default 4096 (global)"),
        REJECT("mount_point", 0, "mount_point is not supported yet"),
        REJECT("bind_interface", 0,
               "bind_interface is not supported yet: use listener PORT ADDRESS"),
        REJECT("use_username_as_clientid", 0, "use_username_as_clientid is not supported yet"),
        REJECT("clientid_prefixes", 0, "clientid_prefixes is not supported yet"),
        REJECT("auth_plugin", 0, PLUGIN_MSG),
        REJECT("plugin", CFG_OPT_PREFIX, PLUGIN_MSG),
        REJECT("auth_opt_", CFG_OPT_PREFIX, PLUGIN_MSG),
        REJECT("global_plugin", 0, PLUGIN_MSG),
};

#define N_OPTS (sizeof(cfg_opt_table) / sizeof(cfg_opt_table[0]))

const size_t cfg_opt_count = N_OPTS;

/* ---- listener options ------------------------------------------------- */

static long parser_listener_add(struct cfg_parser *p, uint16_t port, const char *addr)
{
    char origin[300];
    (void)snprintf(origin, sizeof(origin), "%s:%u", p->file, p->line);
    return cfg_listener_add(p->c, port, addr, 0, origin);
}

static int parse_port(struct cfg_parser *p, const char *name, const char *tok, uint16_t *port)
{
    const char *end = NULL;
    int64_t v = 0;
    if (!cfg_parse_i64(tok, &v, &end) || *end != '\0' || v < 1 || v > 65535) {
        return cfg_fail(p, "option '%s': expected an integer 1..65535, got '%.40s'", name, tok);
    }
    *port = (uint16_t)v;
    return 0;
}

static int h_listener(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *port_tok = cfg_next_token(&args);
    char *addr = cfg_next_token(&args);
    char *extra = cfg_next_token(&args);
    uint16_t port = 0;
    if (!port_tok) {
        return cfg_fail(p, "option '%s': missing value, expected PORT [ADDRESS]", o->name);
    }
    if (extra) {
        return cfg_fail(p, "option '%s': unexpected extra argument '%.40s'", o->name, extra);
    }
    int rc = parse_port(p, o->name, port_tok, &port);
    if (rc < 0) {
        return rc;
    }
    long idx = parser_listener_add(p, port, addr);
    if (idx < 0) {
        return cfg_fail_nomem(p);
    }
    p->cur = idx;
    return 0;
}

/* The legacy port/bind_address listener, created on first use. */
static struct cfg_listener *legacy_listener(struct cfg_parser *p)
{
    if (p->legacy < 0) {
        p->legacy = parser_listener_add(p, CFG_DEFAULT_PORT, NULL);
        if (p->legacy < 0) {
            return NULL;
        }
    }
    return &p->c->listeners[p->legacy];
}

static int h_port(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    uint16_t port = 0;
    char *tok = cfg_one_arg(p, o->name, args, "an integer 1..65535");
    if (!tok) {
        return GW_E_CONFIG;
    }
    int rc = parse_port(p, o->name, tok, &port);
    if (rc < 0) {
        return rc;
    }
    struct cfg_listener *l = legacy_listener(p);
    if (!l) {
        return cfg_fail_nomem(p);
    }
    l->port = port;
    return 0;
}

static int h_bind_address(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "an address");
    if (!tok) {
        return GW_E_CONFIG;
    }
    char *addr = gw_strdup(tok);
    struct cfg_listener *l = addr ? legacy_listener(p) : NULL;
    if (!l) {
        gw_free(addr);
        return cfg_fail_nomem(p);
    }
    gw_free(l->bind_address);
    l->bind_address = addr;
    return 0;
}

/* Listener for a listener-scoped option: the current block, else the legacy
 * port listener; NULL (error written) when there is neither. */
static struct cfg_listener *scoped_listener(struct cfg_parser *p, const char *name)
{
    long idx = p->cur >= 0 ? p->cur : p->legacy;
    if (idx < 0) {
        (void)cfg_fail(p, "option '%s' must follow a 'listener' line", name);
        return NULL;
    }
    return &p->c->listeners[idx];
}

static int h_protocol(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "mqtt, mqttsn, http or websockets");
    if (!tok) {
        return GW_E_CONFIG;
    }
    if (strcmp(tok, "mqtt") != 0 && strcmp(tok, "mqttsn") != 0 && strcmp(tok, "http") != 0 &&
        strcmp(tok, "websockets") != 0) {
        return cfg_fail(p, "option '%s': expected mqtt, mqttsn, http or websockets, got '%.40s'",
                        o->name, tok);
    }
    struct cfg_listener *l = scoped_listener(p, o->name);
    if (!l) {
        return GW_E_CONFIG;
    }
    if (l->mqttsn_serial_device) {
        return cfg_fail(p, "option '%s' does not apply to an mqttsn_serial block (it is MQTT-SN)",
                        o->name);
    }
    char *s = gw_strdup(tok);
    if (!s) {
        return cfg_fail_nomem(p);
    }
    gw_free(l->protocol);
    l->protocol = s;
    return 0;
}

static int h_socket_domain(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "ipv4 or ipv6");
    if (!tok) {
        return GW_E_CONFIG;
    }
    int domain = strcmp(tok, "ipv4") == 0 ? AF_INET : strcmp(tok, "ipv6") == 0 ? AF_INET6 : -1;
    if (domain < 0) {
        return cfg_fail(p, "option '%s': expected ipv4 or ipv6, got '%.40s'", o->name, tok);
    }
    struct cfg_listener *l = scoped_listener(p, o->name);
    if (!l) {
        return GW_E_CONFIG;
    }
    l->socket_domain = domain;
    return 0;
}

/* Repeatable, several words a line: the words are appended to the
 * listener's list (checked as addresses by the MQTT-SN gateway, which
 * knows its socket's family). */
static int h_mqttsn_forwarder(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    while (*args == ' ' || *args == '\t') {
        args++;
    }
    size_t n = strlen(args);
    while (n && (args[n - 1] == ' ' || args[n - 1] == '\t')) {
        args[--n] = '\0';
    }
    if (n == 0) {
        return cfg_fail(p, "option '%s': expected ADDR[:PORT] ... or *", o->name);
    }
    struct cfg_listener *l = scoped_listener(p, o->name);
    if (!l) {
        return GW_E_CONFIG;
    }
    size_t have = l->mqttsn_forwarders ? strlen(l->mqttsn_forwarders) : 0;
    char *v = gw_realloc(l->mqttsn_forwarders, have + 1 + n + 1);
    if (!v) {
        return -ENOMEM;
    }
    if (have) {
        v[have++] = ' ';
    }
    memcpy(v + have, args, n + 1);
    l->mqttsn_forwarders = v;
    return 0;
}

/* mqttsn_serial DEVICE: a block like a listener's, for a serial port. */
static int h_mqttsn_serial(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *dev = cfg_one_arg(p, o->name, args, "a device path");
    if (!dev) {
        return GW_E_CONFIG;
    }
    if (dev[0] != '/') {
        return cfg_fail(p, "option '%s': expected an absolute device path, got '%.60s'", o->name,
                        dev);
    }
    long idx = parser_listener_add(p, 0, NULL);
    char *copy = idx >= 0 ? gw_strdup(dev) : NULL;
    char *proto = copy ? gw_strdup("mqttsn") : NULL;
    if (!proto) {
        gw_free(copy);
        return cfg_fail_nomem(p); /* the listener, if added, is freed with the config */
    }
    struct cfg_listener *l = &p->c->listeners[idx];
    gw_free(l->protocol);
    l->protocol = proto;
    l->mqttsn_serial_device = copy;
    l->mqttsn_serial_baud = 115200;
    l->mqttsn_serial_data_bits = 8;
    l->mqttsn_serial_stop_bits = 1;
    l->mqttsn_serial_xbee_api = 2;
    p->cur = idx;
    return 0;
}

/* Per listener only with per_listener_settings true (mosquitto 2). */
static int h_allow_anonymous(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "true or false");
    int64_t v = 0;
    if (!tok) {
        return GW_E_CONFIG;
    }
    if (cfg_parse_bool(tok, &v) < 0) {
        return cfg_fail(p, "option '%s': expected true or false, got '%.40s'", o->name, tok);
    }
    if (p->c->per_listener_settings && p->cur >= 0) {
        p->c->listeners[p->cur].allow_anonymous = v != 0;
        p->c->listeners[p->cur].allow_anonymous_set = true;
    } else {
        p->c->allow_anonymous = v != 0;
        p->c->allow_anonymous_set = true;
    }
    return 0;
}

/* ---- logging ----------------------------------------------------------- */

struct name_bits {
    const char *name;
    unsigned bits;
};

static const struct name_bits log_types[] = {
        {"error", GW_ERROR},
        {"warning", GW_WARN},
        {"notice", GW_NOTICE},
        {"information", GW_INFO},
        {"debug", GW_DEBUG},
        {"subscribe", GW_SUBSCRIBE},
        {"unsubscribe", GW_UNSUBSCRIBE},
        {"all", GW_LOG_ALL},
        {"none", 0},
};

/* The first log_type line replaces the default set (mosquitto). */
static int h_log_type(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "a log type");
    if (!tok) {
        return GW_E_CONFIG;
    }
    for (size_t i = 0; i < sizeof(log_types) / sizeof(log_types[0]); i++) {
        if (strcmp(tok, log_types[i].name) == 0) {
            if (!p->log_type_seen || log_types[i].bits == 0) {
                p->c->log_type_mask = 0;
            }
            p->log_type_seen = true;
            p->c->log_type_mask |= log_types[i].bits;
            return 0;
        }
    }
    return cfg_fail(p,
                    "option '%s': expected error, warning, notice, information, debug, subscribe, "
                    "unsubscribe, all or none, got '%.40s'",
                    o->name, tok);
}

static int log_dest_file(struct cfg_parser *p, const struct cfg_opt *o, char *path)
{
    path = cfg_trim(path);
    if (*path == '\0') {
        return cfg_fail(p, "option '%s': 'file' needs a path", o->name);
    }
    char *s = gw_strdup(path);
    if (!s) {
        return cfg_fail_nomem(p);
    }
    gw_free(p->c->log_file);
    p->c->log_file = s;
    p->c->log_dest_mask |= GW_LOG_FILE;
    return 0;
}

/* The first log_dest line replaces the default stderr (mosquitto). */
static int h_log_dest(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *rest = args;
    char *tok = cfg_next_token(&rest);
    if (!tok) {
        return cfg_fail(p,
                        "option '%s': missing value, expected stderr, stdout, syslog, file PATH "
                        "or none",
                        o->name);
    }
    if (!p->log_dest_seen) {
        p->c->log_dest_mask = 0;
        p->log_dest_seen = true;
    }
    if (strcmp(tok, "file") == 0) {
        return log_dest_file(p, o, rest);
    }
    if (strcmp(tok, "topic") == 0 || strcmp(tok, "dlt") == 0) {
        return cfg_fail(p, "option '%s': '%s' is not supported by tern", o->name, tok);
    }
    char *extra = cfg_next_token(&rest);
    if (extra) {
        return cfg_fail(p, "option '%s': unexpected extra argument '%.40s'", o->name, extra);
    }
    unsigned bit = strcmp(tok, "stderr") == 0   ? GW_LOG_STDERR
                   : strcmp(tok, "stdout") == 0 ? GW_LOG_STDOUT
                   : strcmp(tok, "syslog") == 0 ? GW_LOG_SYSLOG
                                                : 0;
    if (bit == 0 && strcmp(tok, "none") != 0) {
        return cfg_fail(p,
                        "option '%s': expected stderr, stdout, syslog, file PATH or none, got "
                        "'%.40s'",
                        o->name, tok);
    }
    p->c->log_dest_mask = bit == 0 ? 0 : p->c->log_dest_mask | bit;
    return 0;
}

/* ---- lookup, apply, defaults, help ------------------------------------- */

static const struct cfg_opt *find_in(const struct cfg_opt *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_opt *o = &table[i];
        bool hit = (o->flags & CFG_OPT_PREFIX) ? strncmp(name, o->name, strlen(o->name)) == 0
                                               : strcmp(name, o->name) == 0;
        if (hit) {
            return o;
        }
    }
    return NULL;
}

const struct cfg_opt *cfg_opt_find(const char *name)
{
    const struct cfg_opt *o = find_in(cfg_opt_table, N_OPTS, name);
    return o ? o : find_in(cfg_bridge_opt_table, cfg_bridge_opt_count, name);
}

int cfg_opt_apply(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    if ((o->flags & CFG_OPT_FIRST) && p->c->n_listeners > 0) {
        return cfg_fail(p, "option '%s' must come before any listener", o->name);
    }
    if (o->flags & CFG_OPT_BRIDGE) { /* cfg.c checked that a connection block is open */
        return p->bridge >= 0
                       ? cfg_opt_set_value(p, o, (char *)&p->c->bridges[p->bridge], o->loff, args)
                       : cfg_fail(p, "option '%s' must follow a 'connection' line", o->name);
    }
    if (o->flags & CFG_OPT_LISTENER) {
        if ((o->flags & CFG_OPT_SERIAL) &&
            (p->cur < 0 || !p->c->listeners[p->cur].mqttsn_serial_device)) {
            return cfg_fail(p, "option '%s' must follow an 'mqttsn_serial' line", o->name);
        }
        struct cfg_listener *l = scoped_listener(p, o->name);
        return l ? cfg_opt_set_value(p, o, (char *)l, o->loff, args) : GW_E_CONFIG;
    }
    if ((o->flags & CFG_OPT_BOTH) && p->cur >= 0) {
        return cfg_opt_set_value(p, o, (char *)&p->c->listeners[p->cur], o->loff, args);
    }
    return cfg_opt_set_value(p, o, (char *)p->c, o->goff, args);
}

int cfg_opt_set_defaults(struct cfg_parser *p)
{
    struct gw_config *c = p->c;
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct cfg_opt *o = &cfg_opt_table[i];
        if (!o->def || o->type >= CFG_T_SPECIAL || (o->flags & CFG_OPT_LISTENER)) {
            continue;
        }
        char buf[64];
        (void)snprintf(buf, sizeof(buf), "%s", o->def);
        int rc = cfg_opt_set_value(p, o, (char *)c, o->goff, buf);
        if (rc < 0) {
            return rc;
        }
    }
    c->log_type_mask = GW_LOG_DEFAULT;
    c->log_dest_mask = GW_LOG_STDERR;
    return 0;
}

static void print_rows(FILE *out, const struct cfg_opt *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_opt *o = &table[i];
        char what[80];
        if (o->type == CFG_T_IGNORE || o->type == CFG_T_REJECT) {
            continue;
        }
        const char *exp =
                o->type == CFG_T_SPECIAL ? "" : cfg_opt_expected_text(o, what, sizeof(what));
        (void)fprintf(out, "%-30s %s%s%s%s%s\n    %s\n", o->name, exp, o->def ? " (default " : "",
                      o->def ? o->def : "", o->def ? ")" : "",
                      (o->flags & CFG_OPT_RELOAD) ? " [reloadable]" : " [restart]", o->help);
    }
}

static void print_ignored(FILE *out, const struct cfg_opt *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CFG_T_IGNORE) {
            (void)fprintf(out, " %s", table[i].name);
        }
    }
}

/* man(7) text: a backslash is \e, a leading '.' or '\'' would be a request. */
static void man_text(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'') {
        (void)fputs("\\&", out);
    }
    for (; *s; s++) {
        if (*s == '\\') {
            (void)fputs("\\e", out);
        } else if (*s == '-') {
            (void)fputs("\\-", out);
        } else {
            (void)fputc(*s, out);
        }
    }
}

static void man_rows(FILE *out, const struct cfg_opt *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_opt *o = &table[i];
        char what[80];
        if (o->type == CFG_T_IGNORE || o->type == CFG_T_REJECT) {
            continue;
        }
        (void)fputs(".TP\n.B ", out);
        man_text(out, o->name);
        if (o->type != CFG_T_SPECIAL) {
            (void)fputs(" ", out);
            man_text(out, cfg_opt_expected_text(o, what, sizeof(what)));
        }
        (void)fputs("\n", out);
        man_text(out, o->help ? o->help : "");
        if (o->def) {
            (void)fputs(". Default: ", out);
            man_text(out, o->def);
        }
        (void)fputs((o->flags & CFG_OPT_RELOAD) ? ". Reloadable (SIGHUP).\n"
                                                : ". Needs a restart.\n",
                    out);
    }
}

void cfg_print_man_options(FILE *out)
{
    (void)fputs(".SH OPTIONS\n", out);
    man_rows(out, cfg_opt_table, N_OPTS);
    (void)fputs(".SH BRIDGE OPTIONS\nA\n.B connection\nline starts a bridge block; the options "
                "after it apply to it.\n",
                out);
    man_rows(out, cfg_bridge_opt_table, cfg_bridge_opt_count);
    (void)fputs(".SH ACCEPTED AND IGNORED\nThese mosquitto options are accepted with a warning "
                "and have no effect:",
                out);
    for (size_t t = 0; t < 2; t++) {
        const struct cfg_opt *table = t ? cfg_bridge_opt_table : cfg_opt_table;
        size_t n = t ? cfg_bridge_opt_count : N_OPTS;
        for (size_t i = 0; i < n; i++) {
            if (table[i].type == CFG_T_IGNORE) {
                (void)fputs(" ", out);
                man_text(out, table[i].name);
            }
        }
    }
    (void)fputs(".\n", out);
}

void cfg_print_help(FILE *out)
{
    print_rows(out, cfg_opt_table, N_OPTS);
    (void)fprintf(out, "\nBridges: a 'connection' line starts a block, the options after it "
                       "apply to it:\n");
    print_rows(out, cfg_bridge_opt_table, cfg_bridge_opt_count);
    (void)fprintf(out, "\nAccepted and ignored (mosquitto compatibility):");
    print_ignored(out, cfg_opt_table, N_OPTS);
    print_ignored(out, cfg_bridge_opt_table, cfg_bridge_opt_count);
    (void)fprintf(out, "\n");
}
