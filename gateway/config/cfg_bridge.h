/* cfg_bridge.h - the bridge part of the configuration: mosquitto's
 * `connection NAME` blocks (mosquitto.conf(5), "Bridges") plus Tern's
 * backlog options in the same style.
 *
 * A `connection` line starts a block; every bridge option after it, up to
 * the next `connection` line or the end of the file, belongs to that block.
 * As in mosquitto, a `listener` line does not end it, and the global and
 * listener options between bridge options keep their own scope (the names
 * do not overlap). A bridge option outside a block is an error. A block
 * does not continue into or out of an include_dir file. Data only: bridge/
 * reads it, gateway/cfg_bridge.c parses, resolves and validates it (after
 * cfg_load every default below is filled in). Owned by gw_config. */
#ifndef GW_CFG_BRIDGE_H
#define GW_CFG_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_bridge_dir {
    CFG_BRIDGE_OUT = 1, /* local -> remote (mosquitto's default) */
    CFG_BRIDGE_IN = 2,  /* remote -> local */
    CFG_BRIDGE_BOTH = 3 /* CFG_BRIDGE_OUT | CFG_BRIDGE_IN: test with dir & CFG_BRIDGE_OUT */
};

/* What a full backlog does with the next message. */
enum cfg_backlog_policy {
    CFG_BACKLOG_DROP_OLDEST = 0, /* default: the newest readings matter most */
    CFG_BACKLOG_DROP_NEWEST,     /* keep the oldest, drop what arrives */
    CFG_BACKLOG_REFUSE           /* push back on publishers: no PUBACK (3.1.1) / 0x97 (5.0) */
};

/* One `topic PATTERN [in|out|both] [QOS] [LOCAL_PREFIX] [REMOTE_PREFIX]`
 * line, with mosquitto's semantics: the local topic is LOCAL_PREFIX +
 * PATTERN, the remote topic REMOTE_PREFIX + PATTERN. PATTERN may be "" (written
 * "") when both prefixes are given; then each prefix itself is the topic.
 * Validated: prefixes have no wildcards, each prefix + PATTERN is a valid
 * topic filter (bridge/bridge_topic.h maps topics with these lines). */
struct cfg_bridge_topic {
    char *pattern;       /* never NULL, may be "" */
    char *local_prefix;  /* NULL = none */
    char *remote_prefix; /* NULL = none */
    enum cfg_bridge_dir dir;
    uint8_t qos; /* default 0, as in mosquitto */
};

struct cfg_bridge_addr {
    char *host;    /* name or address; an IPv6 literal without its [brackets] */
    uint16_t port; /* default 1883, 8883 when bridge_cafile/capath is set */
};

struct cfg_bridge {
    char *name;                    /* connection NAME */
    char *origin;                  /* "FILE:LINE" of the connection line */
    struct cfg_bridge_addr *addrs; /* address / addresses, tried in turn */
    size_t n_addrs;
    struct cfg_bridge_topic *topics;
    size_t n_topics;

    char *remote_clientid;           /* default "HOSTNAME.NAME" as mosquitto (alias clientid) */
    char *local_clientid;            /* default "local." + remote_clientid, as mosquitto */
    char *remote_prefix;             /* tern: before every line's remote prefix; NULL = none */
    char *remote_username;           /* NULL = none (alias username) */
    char *remote_password;           /* NULL = none (alias password) */
    char *local_username;            /* NULL = none: the bridge's identity on the local side */
    char *local_password;            /* NULL = none */
    bool cleansession;               /* default false (keep the upstream session) */
    bool local_cleansession;         /* default: the value of cleansession (mosquitto) */
    bool local_cleansession_set;     /* local_cleansession was given in the block */
    uint16_t keepalive_s;            /* keepalive_interval, default 60 */
    uint8_t protocol;                /* bridge_protocol_version: 4 (mqttv311, default) or 5 */
    bool notifications;              /* default true */
    char *notification_topic;        /* default "$SYS/broker/connection/REMOTE_CLIENTID/state"
                                        (mosquitto's default) */
    bool notifications_local_only;   /* default false */
    uint32_t restart_timeout_base_s; /* restart_timeout BASE [CAP]: backoff with jitter, */
    uint32_t restart_timeout_cap_s;  /* defaults 5 and 30 as mosquitto; one value N:
                                        base = cap = N (a constant delay) */
    bool try_private;                /* default true */
    uint32_t max_packet_size;        /* bridge_max_packet_size, 0 = none */
    bool outgoing_retain;            /* bridge_outgoing_retain, default true */
    bool attempt_unsubscribe;        /* bridge_attempt_unsubscribe, default true */
    bool round_robin; /* default false: after a failover, go back to the first address */

    /* TLS to the upstream (TLS is on when cafile or capath is set). */
    char *cafile;      /* bridge_cafile */
    char *capath;      /* bridge_capath */
    char *certfile;    /* bridge_certfile: client certificate */
    char *keyfile;     /* bridge_keyfile */
    bool insecure;     /* bridge_insecure: skip hostname verification, default false */
    char *alpn;        /* bridge_alpn, NULL = none */
    char *tls_version; /* bridge_tls_version: "tlsv1.2" (default) or "tlsv1.3": the minimum */
    char *ciphers;     /* bridge_ciphers: mbedTLS or IANA suite names, NULL = defaults */
    char *psk_identity; /* bridge_identity: TLS-PSK identity (turns TLS on with bridge_psk) */
    char *psk;          /* bridge_psk: the key in hex */

    /* Tern's backlog options (0 = unlimited for the limits and rates). */
    uint64_t backlog_max_messages;          /* bridge_backlog_max_messages, default 1000000 */
    uint64_t backlog_max_bytes;             /* bridge_backlog_max_bytes, default 0 */
    uint32_t backlog_max_age_s;             /* bridge_backlog_max_age, 0 = forever (default) */
    enum cfg_backlog_policy backlog_policy; /* bridge_backlog_policy */
    bool queue_qos0;           /* bridge_queue_qos0: QoS 0 also enters the backlog, default false */
    uint32_t max_inflight;     /* bridge_max_inflight, default 20; capped by Receive Maximum */
    uint32_t replay_rate_msgs; /* bridge_replay_rate MSGS/s, 0 = unlimited (default) */
    uint64_t replay_rate_bytes; /* bridge_replay_bytes_rate BYTES/s, 0 = unlimited (default) */
};

#endif
