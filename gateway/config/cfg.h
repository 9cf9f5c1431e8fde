/* cfg.h - Tern's configuration: mosquitto.conf(5) syntax, one option table.
 *
 * Parse, validate, apply: cfg_load() parses a file (defaults first, then the
 * file) and validates the result; main applies the immutable struct to the
 * modules. The parser never logs: errors come back as one line of text
 * "FILE:LINE: what was expected", warnings (options accepted for mosquitto
 * compatibility but ignored) are collected in gw_config.warnings for the
 * caller to log.
 *
 * Bridges (`connection` blocks) are parsed by cfg_bridge.c into
 * gw_config.bridges (cfg_bridge.h); their remote client id defaults use
 * gethostname(), as mosquitto's do.
 *
 * Caveats: no TLS listener or plugin options yet (they are
 * rejected, never silently ignored); password_file and acl_file are global
 * even when per_listener_settings is true. Not thread-safe; call from the
 * loop thread (startup and SIGHUP). */
#ifndef GW_CFG_H
#define GW_CFG_H

#include "cfg_bridge.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_DEFAULT_PORT      1883
#define CFG_DEFAULT_SN_PORT   1884 /* the default MQTT-SN listener, UDP 127.0.0.1 */
#define CFG_DEFAULT_HTTP_PORT 9883 /* the default metrics listener, TCP 127.0.0.1 */

/* persistence_durability: when a committed store transaction reaches the disk. */
enum cfg_durability {
    CFG_DURABILITY_SYNC,     /* fsync every commit: acknowledged means durable */
    CFG_DURABILITY_PERIODIC, /* commit without fsync; sync every persistence_periodic_ms */
    CFG_DURABILITY_NONE,     /* never sync: the OS writes back; a power cut may lose data */
    CFG_DURABILITY_JOURNAL   /* fdatasync a journal record per commit, LMDB at checkpoints */
};

/* persistence_quota_policy: what happens when the store reaches persistence_quota. */
enum cfg_quota_policy {
    CFG_QUOTA_REFUSE,     /* refuse new QoS 1/2 messages with a quota reason code (default) */
    CFG_QUOTA_DROP_OLDEST /* drop the oldest stored messages to make room */
};

/* mqttsn_serial_framing, _flow, _parity (issue 13). */
enum cfg_sn_framing { CFG_SN_FRAMING_RAW = 0, CFG_SN_FRAMING_SLIP, CFG_SN_FRAMING_XBEE };

enum cfg_sn_flow { CFG_SN_FLOW_NONE = 0, CFG_SN_FLOW_RTSCTS, CFG_SN_FLOW_XONXOFF };

enum cfg_sn_parity { CFG_SN_PARITY_NONE = 0, CFG_SN_PARITY_EVEN, CFG_SN_PARITY_ODD };

/* mqttsn_udp_receive_buffer's default: room for a burst of about 10,000
 * small datagrams (the kernel charges each its buffer's true size, about
 * 768 bytes on loopback for a 71-byte MQTT-SN PUBLISH) while the loop is
 * descheduled. Charged only while datagrams wait, not reserved. */
#define CFG_SN_UDP_RCVBUF_DEFAULT (4u << 20)

/* One listening socket, or one MQTT-SN serial port (an `mqttsn_serial
 * DEVICE` block: protocol "mqttsn", port 0, mqttsn_serial_device set).
 * Owned by its gw_config; freed by cfg_free. */
/* TLS options of a listener, mosquitto's names and meanings (NULL /
 * false = unset). TLS is on when certfile or psk_hint is set. */
struct cfg_tls {
    char *cafile;
    char *capath;
    char *certfile;
    char *keyfile;
    char *crlfile;
    char *tls_version; /* "tlsv1.2" (the minimum, default) or "tlsv1.3" */
    char *ciphers;     /* mbedTLS or IANA suite names, ':' separated */
    bool require_certificate;
    bool use_identity_as_username;
    bool use_subject_as_username;
    char *psk_hint; /* turns PSK on (with psk_file) */
    char *psk_file; /* identity:hexkey lines (gateway/auth/auth_psk.h) */
};

/* True if the listener's TLS options turn TLS on. */
static inline bool cfg_tls_on(const struct cfg_tls *t)
{
    return t->certfile || t->keyfile || t->psk_hint || t->psk_file;
}

struct cfg_listener {
    uint16_t port;
    char *bind_address;       /* NULL = all addresses (listener PORT with no address) */
    char *protocol;           /* "mqtt" (TCP), "mqttsn" (UDP, for the MQTT-SN module),
                                 "http" (TCP, the operations endpoints, gateway/ops) or
                                 "websockets" (MQTT over WebSockets on TCP, RFC 6455) */
    bool http_basic_auth;     /* http: Basic credentials against password_file */
    bool best_effort;         /* a default listener: failing to open it is a warning */
    int max_connections;      /* -1 = unlimited; inherits gw_config.max_connections */
    int socket_domain;        /* 0 = any, AF_INET or AF_INET6 (socket_domain ipv4|ipv6) */
    bool allow_anonymous;     /* effective value, resolved by cfg_load */
    bool allow_anonymous_set; /* set inside this listener's block (per_listener_settings) */
    char *origin;             /* "FILE:LINE" of its listener/port line, or "default" */
    /* MQTT-SN (protocol mqttsn; 0 / NULL = unset, the gateway's default) */
    uint32_t mqttsn_retry_interval_s;   /* Tretry, default 10 */
    uint32_t mqttsn_retries;            /* Nretry, default 3 */
    uint32_t mqttsn_gateway_id;         /* 1..255, default 1 */
    uint32_t mqttsn_advertise_interval; /* seconds between ADVERTISE, 0 = off */
    char *mqttsn_advertise_address;     /* ADDR[:PORT] the ADVERTISE goes to */
    char *mqttsn_predefined_topics;     /* file: ClientID, TopicName, TopicID */
    char *mqttsn_allowed_clients;       /* client ids separated by blanks */
    char *mqttsn_client_allow_file;     /* file: one client id per line */
    int mqttsn_amplification_limit;     /* x bytes received; unset (< 0): 3, 0 = off */
    uint32_t mqttsn_max_clients;        /* clients of the listener, default 10000 */
    uint32_t mqttsn_max_clients_per_address; /* from one source address, default 1000 */
    uint32_t mqttsn_max_topics;         /* topic ids per client, default 1000 */
    uint32_t mqttsn_max_unproven_clients; /* clients not proven (UDP), default 100 */
    uint32_t mqttsn_idle_timeout_s;     /* duration-0 clients lost after this, default 3600 */
    uint64_t mqttsn_udp_receive_buffer; /* SO_RCVBUF bytes, 0 = kernel default;
                                           default CFG_SN_UDP_RCVBUF_DEFAULT */
    char *mqttsn_forwarders; /* ADDR[:PORT] or * separated by blanks (every mqttsn_forwarder line) */
    /* MQTT-SN over a serial port (mqttsn_serial DEVICE; NULL: not a serial block) */
    char *mqttsn_serial_device;       /* path, e.g. /dev/serial/by-id/usb-... */
    uint32_t mqttsn_serial_baud;      /* default 115200 */
    int mqttsn_serial_framing;        /* enum cfg_sn_framing, default raw */
    int mqttsn_serial_flow;           /* enum cfg_sn_flow, default none */
    int mqttsn_serial_parity;         /* enum cfg_sn_parity, default none */
    uint32_t mqttsn_serial_data_bits; /* 5..8, default 8 */
    uint32_t mqttsn_serial_stop_bits; /* 1..2, default 1 */
    uint32_t mqttsn_serial_xbee_api;  /* 1 or 2 (escaped), default 2 */    struct cfg_tls tls;               /* TLS (protocol mqtt) */
};

/* A parsed and validated configuration. Created by cfg_load, cfg_load_string
 * or cfg_default; freed by cfg_free; treat as immutable once loaded. */
struct gw_config {
    char *file; /* path it came from, or NULL */
    struct cfg_listener *listeners;
    size_t n_listeners;
    bool default_listener; /* no listener/port configured: 127.0.0.1 and ::1 port 1883
                              were added (mosquitto 2 behaviour), and the whole
                              gateway's: MQTT-SN on UDP 127.0.0.1:1884 and the
                              metrics on 127.0.0.1:9883, both best_effort */
    bool allow_anonymous;  /* default: true with default_listener, else false */
    bool allow_anonymous_set;
    char *password_file; /* stored; NULL if unset */
    char *acl_file;      /* stored; NULL if unset */
    char *scram_file;    /* SCRAM-SHA-256 verifiers (restart); NULL if unset */
    bool per_listener_settings;
    bool allow_zero_length_clientid;                /* default true */
    char *auto_id_prefix;                           /* default "auto-" */
    uint32_t max_inflight_messages;                 /* default 20, 0 = unlimited */
    uint64_t max_inflight_bytes;                    /* default 0 = unlimited */
    uint32_t max_queued_messages;                   /* default 1000, 0 = unlimited */
    uint32_t max_subscriptions_per_client;          /* default 10000, 0 = unlimited */
    uint64_t memory_limit;                          /* heap budget, bytes, 0 = none */
    uint32_t max_publish_rate;                      /* PUBLISH per second per client, 0 = off */
    uint64_t max_publish_bytes_rate;                /* payload bytes per second per client */
    uint32_t max_connection_rate;                   /* new connections per second per address */
    uint32_t auth_max_pending;                      /* password checks queued, default 32 */
    uint32_t auth_backoff_max_s;                    /* default 60, 0 = no back-off */
    uint64_t max_queued_bytes;                      /* default 0 = unlimited */
    uint32_t max_packet_size;                       /* default 0 = MQTT max 268435455 */
    uint32_t websockets_headers_size;               /* upgrade request head, default 4096 */
    int max_connections;                            /* default -1 = unlimited (listener default) */
    uint16_t max_keepalive;                         /* default 65535 */
    uint32_t message_size_limit;                    /* default 0 = none */
    uint32_t sys_interval;                          /* seconds, default 10, 0 = $SYS off */
    bool queue_qos0_messages;                       /* default false */
    bool retain_available;                          /* default true */
    bool persistence;                               /* default true (mosquitto: false) */
    char *persistence_location;                     /* default "tern-data/" */
    enum cfg_durability persistence_durability;     /* default journal (restart) */
    uint32_t persistence_periodic_ms;               /* periodic MS: 10..60000; else 0 */
    uint64_t persistence_quota_bytes;               /* default 0 = none (reloadable) */
    enum cfg_quota_policy persistence_quota_policy; /* default refuse (reloadable) */
    uint64_t persistence_map_max_bytes;             /* LMDB map size, default 1G (restart) */
    uint32_t persistent_client_expiration_s;        /* 0 = never */
    bool connection_messages;                       /* default true */
    unsigned log_type_mask;           /* enum gw_log_level bits; default GW_LOG_DEFAULT */
    unsigned log_dest_mask;           /* enum gw_log_dest bits; default GW_LOG_STDERR */
    char *log_file;                   /* set with log_dest file PATH */
    bool log_timestamp;               /* default true */
    char *pid_file;                   /* NULL if unset */
    char *watchdog_device;            /* hardware watchdog, e.g. /dev/watchdog; NULL = off */
    uint32_t watchdog_timeout_s;      /* its timeout, default 15 */
    uint32_t connect_timeout_s;       /* time to send CONNECT after accept, default 10 */
    uint64_t output_soft_limit_bytes; /* default 1 MiB: drop QoS 0, pause reading */
    uint64_t output_hard_limit_bytes; /* default 16 MiB: disconnect */
    struct cfg_bridge *bridges;       /* connection blocks, in file order (restart) */
    size_t n_bridges;
    char **warnings; /* "FILE:LINE: option 'user' is accepted ..." */
    size_t n_warnings;
};

/* Flags for cfg_load_string_flags. */
enum cfg_flags {
    CFG_F_NO_INCLUDE = 1u << 0 /* reject include_dir (fuzzing: no filesystem access) */
};

/* Parse the file at path (borrowed) into a new config: defaults first, then
 * the file, then cross-field validation (cfg_validate).
 * Returns 0 and *out (owned by the caller: cfg_free), or GW_E_CONFIG, -ENOMEM
 * or -errno (file could not be read) with one line of text in err (errcap
 * bytes, always NUL-terminated when errcap > 0; err may be NULL). *out is
 * written only on success. */
int cfg_load(const char *path, struct gw_config **out, char *err, size_t errcap);

/* Same as cfg_load from a NUL-terminated string; name (borrowed) is used in
 * messages and stored in gw_config.file. include_dir is allowed. */
int cfg_load_string(const char *text, const char *name, struct gw_config **out, char *err,
                    size_t errcap);

/* cfg_load_string with enum cfg_flags. */
int cfg_load_string_flags(const char *text, const char *name, unsigned flags,
                          struct gw_config **out, char *err, size_t errcap);

/* A config with all defaults, as if loaded from an empty file (default
 * listeners on 127.0.0.1 and ::1 port 1883). Returns 0 and *out, or -ENOMEM. */
int cfg_default(struct gw_config **out);

/* Cross-field checks: conflicting listeners (same transport and port with the
 * same or a wildcard address), output soft limit above the hard limit,
 * persistence_quota above persistence_map_size, and per connection block: an
 * address and a topic, consistent TLS options, unique local client ids.
 * cfg_load calls it. Returns 0 or GW_E_CONFIG with a message in err. */
int cfg_validate(const struct gw_config *c, char *err, size_t errcap);

/* Free c and everything it owns. NULL is a no-op. */
void cfg_free(struct gw_config *c);

/* Command line -p PORT: with the default listeners, move them to port; with
 * configured listeners, add a loopback pair (127.0.0.1 and ::1) on port.
 * Returns 0, -EINVAL (port 0), -ENOMEM, or GW_E_CONFIG when the new
 * listeners conflict with configured ones (c is unchanged on failure). */
int cfg_set_port(struct gw_config *c, uint16_t port);

/* Command line -v: log_type all. */
void cfg_set_verbose(struct gw_config *c);

/* SIGHUP: names of options that differ between old_cfg and new_cfg and need
 * a restart ("listener" for any listener change, "connection" for any
 * bridge change), comma-separated into buf
 * (cap bytes, truncated, always NUL-terminated when cap > 0; buf may be
 * NULL). Returns how many differ. */
size_t cfg_diff_restart_needed(const struct gw_config *old_cfg, const struct gw_config *new_cfg,
                               char *buf, size_t cap);

/* Print every option with its type, default and help line (tern --help-config). */
void cfg_print_help(FILE *out);

/* The OPTIONS sections of tern.conf(5) in man(7) troff, from the same
 * table (tern --man tern.conf.5 prints the whole page). */
void cfg_print_man_options(FILE *out);

#endif
