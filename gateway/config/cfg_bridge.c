/* cfg_bridge.c - the bridge part of the option table: mosquitto's
 * `connection NAME` blocks (mosquitto.conf(5), "Bridges") and Tern's backlog
 * options, and their handlers (cfg_bridge_check.c resolves, validates,
 * compares and frees what they build).
 *
 * Rows here are part of the one option table (cfg_opt_find searches both
 * arrays); a plain-typed row stores into struct cfg_bridge at loff through
 * cfg_opt_set_field, like a listener row. Every row has CFG_OPT_BRIDGE except
 * `connection`; cfg.c rejects such an option outside a block. Defaults are
 * config text parsed by the same code when the `connection` line is read, so
 * `--help-config` and the behaviour cannot disagree. Nothing here logs. */
#include "alloc.h"
#include "cfg_priv.h"
#include "gw_err.h"
#include "mqtt_codec.h"
#include "topic.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RESTART_MAX_S 86400 /* restart_timeout: one day at most */
#define PORT_PLAIN    1883
#define PORT_TLS      8883
#define EMPTY_ARG     "\"\"" /* mosquitto's way to write an empty topic or prefix */

static cfg_opt_fn h_connection, h_address, h_topic, h_local_cleansession, h_protocol_version;
static cfg_opt_fn h_restart_timeout, h_start_type, h_tls_version, h_backlog_max_age;

#define B(f) offsetof(struct cfg_bridge, f)
#define BR   CFG_OPT_BRIDGE
#define ROW(name, type, loff, min, max, def, fn, help, choices)                                    \
    {                                                                                              \
        name, type, BR, 0, loff, min, max, def, fn, help, choices, 0                               \
    }
#define BOPT(name, type, field, min, max, def, help)                                               \
    ROW(name, type, B(field), min, max, def, NULL, help, NULL)
#define BSPECIAL(name, fn, def, help) ROW(name, CFG_T_SPECIAL, 0, 0, 0, def, fn, help, NULL)
#define BIGNORED(name, why)           ROW(name, CFG_T_IGNORE, 0, 0, 0, NULL, NULL, why, NULL)
#define BREJECT(name, flags, msg)                                                                  \
    {                                                                                              \
        name, CFG_T_REJECT, BR | (flags), 0, 0, 0, 0, NULL, NULL, msg, NULL, 0                     \
    }
#define LAZY_WHY   "it only applies to start_type lazy, which tern does not support"
#define CIPHER_MSG "bridge_ciphers_tls1.3: TLS 1.3 needs mbedTLS 3 (this build has 2.28)"

_Static_assert(sizeof(enum cfg_backlog_policy) == sizeof(int),
               "enum cfg_backlog_policy is int-sized");

static const struct cfg_choice backlog_policy_choices[] = {
        {"drop_oldest", CFG_BACKLOG_DROP_OLDEST, NULL},
        {"drop_newest", CFG_BACKLOG_DROP_NEWEST, NULL},
        {"refuse", CFG_BACKLOG_REFUSE, NULL},
        {NULL, 0, NULL},
};

const struct cfg_opt cfg_bridge_opt_table[] = {
        {"connection", CFG_T_SPECIAL, 0, 0, 0, 0, 0, NULL, h_connection,
         "NAME: start a bridge block; the bridge options below it apply to it", NULL, 0},
        BSPECIAL("address", h_address, NULL,
                 "HOST[:PORT] ...: upstream addresses tried in turn (several per line or several "
                 "lines); port 1883, 8883 with TLS; IPv6 as [ADDRESS]:PORT"),
        BSPECIAL("addresses", h_address, NULL, "the same as address"),
        BSPECIAL("topic", h_topic, NULL,
                 "PATTERN [in|out|both] [QOS] [LOCAL_PREFIX] [REMOTE_PREFIX]: bridge the "
                 "topics matching PATTERN (default out, QoS 0); \"\" writes an empty pattern or "
                 "prefix; repeatable"),
        BOPT("remote_clientid", CFG_T_STRING, remote_clientid, 0, 0, NULL,
             "client id on the upstream broker; default HOSTNAME.NAME"),
        BOPT("clientid", CFG_T_STRING, remote_clientid, 0, 0, NULL,
             "older name of remote_clientid"),
        BOPT("remote_prefix", CFG_T_STRING, remote_prefix, 0, 0, NULL,
             "put before the remote side of every topic line, e.g. site/%h/ (tern); %h is the "
             "host name, %c the remote client id, %% a %, in it and in every line's prefixes"),
        BOPT("local_clientid", CFG_T_STRING, local_clientid, 0, 0, NULL,
             "the bridge's client id on this broker; default local.REMOTE_CLIENTID"),
        BOPT("remote_username", CFG_T_STRING, remote_username, 0, 0, NULL,
             "username on the upstream broker"),
        BOPT("username", CFG_T_STRING, remote_username, 0, 0, NULL,
             "older name of remote_username"),
        BOPT("remote_password", CFG_T_STRING, remote_password, 0, 0, NULL,
             "password on the upstream broker"),
        BOPT("password", CFG_T_STRING, remote_password, 0, 0, NULL,
             "older name of remote_password"),
        BOPT("local_username", CFG_T_STRING, local_username, 0, 0, NULL,
             "the bridge's username on this broker (ACL checks of bridged messages)"),
        BOPT("local_password", CFG_T_STRING, local_password, 0, 0, NULL,
             "the bridge's password on this broker"),
        BOPT("cleansession", CFG_T_BOOL, cleansession, 0, 1, "false",
             "start a clean upstream session at each connection (false keeps its "
             "subscriptions and queued messages)"),
        BSPECIAL("local_cleansession", h_local_cleansession, NULL,
                 "true | false: the same for the bridge's local session; default: cleansession"),
        BOPT("keepalive_interval", CFG_T_U16, keepalive_s, 5, 65535, "60",
             "seconds between PINGREQs to the upstream broker"),
        BSPECIAL("bridge_protocol_version", h_protocol_version, "mqttv311",
                 "mqttv311 | mqttv50: the MQTT version spoken upstream"),
        BOPT("notifications", CFG_T_BOOL, notifications, 0, 1, "true",
             "publish the connection state (1 up, 0 down, retained) on notification_topic"),
        BOPT("notification_topic", CFG_T_STRING, notification_topic, 0, 0, NULL,
             "default $SYS/broker/connection/REMOTE_CLIENTID/state"),
        BOPT("notifications_local_only", CFG_T_BOOL, notifications_local_only, 0, 1, "false",
             "publish the notifications on this broker only"),
        BSPECIAL("restart_timeout", h_restart_timeout, "5 30",
                 "BASE [CAP]: seconds before reconnecting; with CAP an exponential backoff from "
                 "BASE up to CAP with jitter, alone a constant delay"),
        BOPT("try_private", CFG_T_BOOL, try_private, 0, 1, "true",
             "tell the upstream broker it is a bridge (MQTT 3.1.1: protocol level 0x84, as "
             "mosquitto) so it does not echo our messages back"),
        BOPT("bridge_max_packet_size", CFG_T_U32, max_packet_size, 0, MQTT_MAX_REMAINING, "0",
             "largest packet accepted from upstream, 0 = none"),
        BOPT("bridge_outgoing_retain", CFG_T_BOOL, outgoing_retain, 0, 1, "true",
             "keep the retain flag on messages sent upstream"),
        BOPT("bridge_attempt_unsubscribe", CFG_T_BOOL, attempt_unsubscribe, 0, 1, "true",
             "unsubscribe upstream from the out-only topics at connection"),
        BOPT("round_robin", CFG_T_BOOL, round_robin, 0, 1, "false",
             "false: the first address is the main one, retried after a failover; true: go "
             "round the addresses"),
        BSPECIAL("start_type", h_start_type, "automatic",
                 "automatic: connect at start and reconnect after restart_timeout"),
        BIGNORED("idle_timeout", LAZY_WHY),
        BIGNORED("threshold", LAZY_WHY),
        BOPT("bridge_cafile", CFG_T_STRING, cafile, 0, 0, NULL,
             "PEM CA bundle for the upstream certificate; turns TLS on"),
        BOPT("bridge_capath", CFG_T_STRING, capath, 0, 0, NULL,
             "directory of PEM CA certificates; turns TLS on"),
        BOPT("bridge_certfile", CFG_T_STRING, certfile, 0, 0, NULL,
             "PEM client certificate (needs bridge_keyfile)"),
        BOPT("bridge_keyfile", CFG_T_STRING, keyfile, 0, 0, NULL,
             "PEM private key of bridge_certfile (unencrypted)"),
        BOPT("bridge_insecure", CFG_T_BOOL, insecure, 0, 1, "false",
             "skip the host name check of the upstream certificate (the chain is still "
             "verified); for tests only"),
        BOPT("bridge_alpn", CFG_T_STRING, alpn, 0, 0, NULL, "ALPN protocol name sent upstream"),
        BSPECIAL("bridge_tls_version", h_tls_version, "tlsv1.2",
                 "tlsv1.2 | tlsv1.3: the oldest TLS version accepted"),
        BOPT("bridge_backlog_max_messages", CFG_T_U64, backlog_max_messages, 0, INT64_MAX,
             "1000000", "messages kept for upstream while it is away, 0 = unlimited (tern)"),
        BOPT("bridge_backlog_max_bytes", CFG_T_SIZE, backlog_max_bytes, 0, INT64_MAX, "0",
             "payload bytes kept for upstream, 0 = unlimited (tern)"),
        BSPECIAL("bridge_backlog_max_age", h_backlog_max_age, "0",
                 "SECONDS, or with a suffix s h d w: older backlog messages are dropped, "
                 "0 = never (tern)"),
        ROW("bridge_backlog_policy", CFG_T_ENUM, B(backlog_policy), 0, 0, "drop_oldest", NULL,
            "a full backlog drops its oldest message, drops the new one, or refuses it "
            "(publisher gets no PUBACK in 3.1.1, reason 0x97 in 5.0) (tern)",
            backlog_policy_choices),
        BOPT("bridge_queue_qos0", CFG_T_BOOL, queue_qos0, 0, 1, "false",
             "QoS 0 messages also wait in the backlog (tern)"),
        BOPT("bridge_max_inflight", CFG_T_U32, max_inflight, 1, 65535, "20",
             "QoS 1/2 messages sent upstream and not yet acknowledged; the upstream's Receive "
             "Maximum caps it (tern)"),
        BOPT("bridge_replay_rate", CFG_T_U32, replay_rate_msgs, 0, UINT32_MAX, "0",
             "messages per second when the backlog is replayed, 0 = unlimited (tern)"),
        BOPT("bridge_replay_bytes_rate", CFG_T_SIZE, replay_rate_bytes, 0, INT64_MAX, "0",
             "payload bytes per second when the backlog is replayed, 0 = unlimited (tern)"),
        BOPT("bridge_identity", CFG_T_STRING, psk_identity, 0, 0, NULL,
             "TLS-PSK identity sent upstream (with bridge_psk; turns TLS on)"),
        BOPT("bridge_psk", CFG_T_STRING, psk, 0, 0, NULL,
             "TLS-PSK key in hex, up to 64 bytes (with bridge_identity)"),
        BOPT("bridge_ciphers", CFG_T_STRING, ciphers, 0, 0, NULL,
             "cipher suites offered upstream: mbedTLS or IANA names separated by ':'"),
        BREJECT("bridge_require_ocsp", 0, "OCSP is not supported by tern"),
        BREJECT("bridge_ciphers_tls1.3", 0, CIPHER_MSG),
        BREJECT("bridge_", CFG_OPT_PREFIX, "this bridge option is not supported by tern"),
};

const size_t cfg_bridge_opt_count = sizeof(cfg_bridge_opt_table) / sizeof(cfg_bridge_opt_table[0]);

/* ---- helpers ----------------------------------------------------------- */

static struct cfg_bridge *cur(struct cfg_parser *p)
{
    return &p->c->bridges[p->bridge];
}

/* Replace the string at *dst with a copy of s (NULL: clear). */
static int set_str(struct cfg_parser *p, char **dst, const char *s)
{
    char *copy = NULL;
    if (s) {
        copy = gw_strdup(s);
        if (!copy) {
            return cfg_fail_nomem(p);
        }
    }
    gw_free(*dst);
    *dst = copy;
    return 0;
}

/* Strict decimal min..max; false if tok is not one. */
static bool parse_range(const char *tok, uint64_t min, uint64_t max, uint64_t *out)
{
    if (*tok < '0' || *tok > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; *tok >= '0' && *tok <= '9'; tok++) {
        v = v * 10 + (uint64_t)(*tok - '0');
        if (v > max) {
            return false;
        }
    }
    if (*tok != '\0' || v < min) {
        return false;
    }
    *out = v;
    return true;
}

static bool utf8_ok(const char *s)
{
    size_t n = strlen(s);
    return n <= MQTT_MAX_STRING && mqtt_utf8_valid((const uint8_t *)s, n);
}

/* ---- connection -------------------------------------------------------- */

/* Defaults of a new block: each row's default text, parsed like the file. */
static int set_defaults(struct cfg_parser *p)
{
    for (size_t i = 0; i < cfg_bridge_opt_count; i++) {
        const struct cfg_opt *o = &cfg_bridge_opt_table[i];
        if (!o->def) {
            continue;
        }
        char buf[64];
        (void)snprintf(buf, sizeof(buf), "%s", o->def);
        int rc = o->type == CFG_T_SPECIAL ? o->fn(p, o, buf)
                                          : cfg_opt_set_field(p, o, cur(p), o->loff, buf);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static int h_connection(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    struct gw_config *c = p->c;
    char *name = cfg_one_arg(p, o->name, args, "a bridge name");
    if (!name) {
        return GW_E_CONFIG;
    }
    if (!utf8_ok(name)) {
        return cfg_fail(p, "option '%s': the name is not valid UTF-8", o->name);
    }
    for (size_t i = 0; i < c->n_bridges; i++) {
        if (strcmp(c->bridges[i].name, name) == 0) {
            return cfg_fail(p, "option '%s': '%.60s' is already defined at %s", o->name, name,
                            c->bridges[i].origin);
        }
    }
    char origin[300];
    (void)snprintf(origin, sizeof(origin), "%s:%u", p->file, p->line);
    struct cfg_bridge b = {0};
    b.name = gw_strdup(name);
    b.origin = gw_strdup(origin);
    struct cfg_bridge *v = NULL;
    if (b.name && b.origin) {
        v = gw_realloc(c->bridges, (c->n_bridges + 1) * sizeof(*v));
    }
    if (!v) {
        gw_free(b.name);
        gw_free(b.origin);
        return cfg_fail_nomem(p);
    }
    v[c->n_bridges] = b;
    c->bridges = v;
    p->bridge = (long)c->n_bridges++;
    return set_defaults(p);
}

/* ---- address ----------------------------------------------------------- */

/* Split "host", "host:port", "[v6]" or "[v6]:port" in place; port 0 = default. */
static int split_address(struct cfg_parser *p, const char *name, char *tok, char **host,
                         uint16_t *port)
{
    char *port_tok = NULL;
    if (tok[0] == '[') {
        char *end = strchr(tok, ']');
        if (!end || end == tok + 1 || (end[1] != '\0' && end[1] != ':')) {
            return cfg_fail(p,
                            "option '%s': expected [IPV6-ADDRESS] or [IPV6-ADDRESS]:PORT, "
                            "got '%.60s'",
                            name, tok);
        }
        *end = '\0';
        *host = tok + 1;
        port_tok = end[1] == ':' ? end + 2 : NULL;
    } else {
        char *colon = strchr(tok, ':');
        if (colon && strchr(colon + 1, ':')) {
            return cfg_fail(p, "option '%s': write the IPv6 address '%.60s' as [ADDRESS]:PORT",
                            name, tok);
        }
        if (colon == tok) {
            return cfg_fail(p, "option '%s': missing host in '%.60s'", name, tok);
        }
        if (colon) {
            *colon = '\0';
            port_tok = colon + 1;
        }
        *host = tok;
    }
    uint64_t v = 0;
    if (port_tok && !parse_range(port_tok, 1, 65535, &v)) {
        return cfg_fail(p, "option '%s': expected a port 1..65535 after '%.60s:', got '%.20s'",
                        name, *host, port_tok);
    }
    *port = (uint16_t)v;
    return 0;
}

static int h_address(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *rest = args;
    char *tok = cfg_next_token(&rest);
    if (!tok) {
        return cfg_fail(p, "option '%s': missing value, expected HOST[:PORT] ...", o->name);
    }
    for (; tok; tok = cfg_next_token(&rest)) {
        char *host = NULL;
        uint16_t port = 0;
        int rc = split_address(p, o->name, tok, &host, &port);
        if (rc < 0) {
            return rc;
        }
        struct cfg_bridge *b = cur(p);
        struct cfg_bridge_addr a = {.host = gw_strdup(host), .port = port};
        struct cfg_bridge_addr *v =
                a.host ? gw_realloc(b->addrs, (b->n_addrs + 1) * sizeof(*v)) : NULL;
        if (!v) {
            gw_free(a.host);
            return cfg_fail_nomem(p);
        }
        v[b->n_addrs++] = a;
        b->addrs = v;
    }
    return 0;
}

/* ---- topic ------------------------------------------------------------- */

void cfg_bridge_topic_fini(struct cfg_bridge_topic *t)
{
    gw_free(t->pattern);
    gw_free(t->local_prefix);
    gw_free(t->remote_prefix);
}

/* prefix + pattern must be a valid topic filter (mosquitto checks the same). */
static int check_filter(struct cfg_parser *p, const char *side, const char *prefix,
                        const char *pattern)
{
    size_t lp = prefix ? strlen(prefix) : 0;
    size_t lt = strlen(pattern);
    char *f = gw_alloc(lp + lt + 1);
    if (!f) {
        return cfg_fail_nomem(p);
    }
    memcpy(f, prefix ? prefix : "", lp);
    memcpy(f + lp, pattern, lt + 1);
    bool ok = topic_filter_valid(gw_bytes_str(f));
    int rc = 0;
    if (!ok && prefix) {
        rc = cfg_fail(p, "option 'topic': %s prefix + pattern '%.80s' is not a valid topic filter",
                      side, f);
    } else if (!ok) {
        rc = cfg_fail(p, "option 'topic': '%.80s' is not a valid topic filter", f);
    }
    gw_free(f);
    return rc;
}

static int check_topic(struct cfg_parser *p, const char *pattern, const char *lp, const char *rp)
{
    if (*pattern == '\0' && (!lp || !rp)) {
        return cfg_fail(p, "option 'topic': an empty pattern \"\" needs both a local and a "
                           "remote prefix");
    }
    if (lp && !topic_name_valid(gw_bytes_str(lp))) {
        return cfg_fail(p,
                        "option 'topic': local prefix '%.80s' is not a valid topic prefix "
                        "(no '+' or '#')",
                        lp);
    }
    if (rp && !topic_name_valid(gw_bytes_str(rp))) {
        return cfg_fail(p,
                        "option 'topic': remote prefix '%.80s' is not a valid topic prefix "
                        "(no '+' or '#')",
                        rp);
    }
    int rc = check_filter(p, "local", lp, pattern);
    return rc < 0 ? rc : check_filter(p, "remote", rp, pattern);
}

/* "in", "out" or "both" (any case, as mosquitto); 0 if none. */
static enum cfg_bridge_dir parse_dir(const char *tok)
{
    return strcasecmp(tok, "out") == 0    ? CFG_BRIDGE_OUT
           : strcasecmp(tok, "in") == 0   ? CFG_BRIDGE_IN
           : strcasecmp(tok, "both") == 0 ? CFG_BRIDGE_BOTH
                                          : (enum cfg_bridge_dir)0;
}

/* A prefix token: "" (written as two quotes) is none. */
static const char *prefix_arg(const char *tok)
{
    return !tok || strcmp(tok, EMPTY_ARG) == 0 ? NULL : tok;
}

static int add_topic(struct cfg_parser *p, const struct cfg_bridge_topic *t)
{
    struct cfg_bridge *b = cur(p);
    struct cfg_bridge_topic copy = {.dir = t->dir, .qos = t->qos};
    copy.pattern = gw_strdup(t->pattern);
    copy.local_prefix = t->local_prefix ? gw_strdup(t->local_prefix) : NULL;
    copy.remote_prefix = t->remote_prefix ? gw_strdup(t->remote_prefix) : NULL;
    struct cfg_bridge_topic *v = NULL;
    if (copy.pattern && (!t->local_prefix || copy.local_prefix) &&
        (!t->remote_prefix || copy.remote_prefix)) {
        v = gw_realloc(b->topics, (b->n_topics + 1) * sizeof(*v));
    }
    if (!v) {
        cfg_bridge_topic_fini(&copy);
        return cfg_fail_nomem(p);
    }
    v[b->n_topics++] = copy;
    b->topics = v;
    return 0;
}

/* topic PATTERN [[[in|out|both] QOS] LOCAL_PREFIX [REMOTE_PREFIX]] */
static int h_topic(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *rest = args;
    char *tok[5];
    for (size_t i = 0; i < 5; i++) {
        tok[i] = cfg_next_token(&rest);
    }
    char *extra = cfg_next_token(&rest);
    if (!tok[0]) {
        return cfg_fail(p,
                        "option '%s': missing value, expected PATTERN [in|out|both] [QOS] "
                        "[LOCAL_PREFIX] [REMOTE_PREFIX]",
                        o->name);
    }
    if (extra) {
        return cfg_fail(p, "option '%s': unexpected extra argument '%.40s'", o->name, extra);
    }
    struct cfg_bridge_topic t = {.dir = CFG_BRIDGE_OUT, .qos = 0};
    t.pattern = strcmp(tok[0], EMPTY_ARG) == 0 ? "" : tok[0];
    if (tok[1] && (t.dir = parse_dir(tok[1])) == 0) {
        return cfg_fail(p, "option '%s': expected in, out or both, got '%.40s'", o->name, tok[1]);
    }
    uint64_t qos = 0;
    if (tok[2] && !parse_range(tok[2], 0, 2, &qos)) {
        return cfg_fail(p, "option '%s': expected QoS 0, 1 or 2, got '%.40s'", o->name, tok[2]);
    }
    t.qos = (uint8_t)qos;
    t.local_prefix = (char *)prefix_arg(tok[3]);
    t.remote_prefix = (char *)prefix_arg(tok[4]);
    int rc = check_topic(p, t.pattern, t.local_prefix, t.remote_prefix);
    return rc < 0 ? rc : add_topic(p, &t);
}

/* ---- the other handlers ------------------------------------------------ */

static int h_local_cleansession(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "true or false");
    if (!tok) {
        return GW_E_CONFIG;
    }
    bool v = strcmp(tok, "true") == 0;
    if (!v && strcmp(tok, "false") != 0) {
        return cfg_fail(p, "option '%s': expected true or false, got '%.40s'", o->name, tok);
    }
    cur(p)->local_cleansession = v;
    cur(p)->local_cleansession_set = true;
    return 0;
}

static int h_protocol_version(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "mqttv311 or mqttv50");
    if (!tok) {
        return GW_E_CONFIG;
    }
    if (strcmp(tok, "mqttv31") == 0) {
        return cfg_fail(p,
                        "option '%s': mqttv31 (MQTT 3.1) is not supported by tern, use "
                        "mqttv311 or mqttv50",
                        o->name);
    }
    uint8_t v = strcmp(tok, "mqttv311") == 0 ? 4 : strcmp(tok, "mqttv50") == 0 ? 5 : 0;
    if (v == 0) {
        return cfg_fail(p, "option '%s': expected mqttv311 or mqttv50, got '%.40s'", o->name, tok);
    }
    cur(p)->protocol = v;
    return 0;
}

/* restart_timeout BASE [CAP]: one value is a constant delay (base = cap). */
static int h_restart_timeout(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *rest = args;
    char *base_tok = cfg_next_token(&rest);
    char *cap_tok = cfg_next_token(&rest);
    char *extra = cfg_next_token(&rest);
    uint64_t base = 0;
    uint64_t cap = 0;
    if (!base_tok) {
        return cfg_fail(p, "option '%s': missing value, expected BASE [CAP], seconds 1..%u",
                        o->name, RESTART_MAX_S);
    }
    if (extra) {
        return cfg_fail(p, "option '%s': unexpected extra argument '%.40s'", o->name, extra);
    }
    const char *bad = !parse_range(base_tok, 1, RESTART_MAX_S, &base)            ? base_tok
                      : cap_tok && !parse_range(cap_tok, 1, RESTART_MAX_S, &cap) ? cap_tok
                                                                                 : NULL;
    if (bad) {
        return cfg_fail(p, "option '%s': expected seconds 1..%u, got '%.40s'", o->name,
                        RESTART_MAX_S, bad);
    }
    if (cap_tok && cap < base) {
        return cfg_fail(p, "option '%s': the cap %llu is below the base %llu", o->name,
                        (unsigned long long)cap, (unsigned long long)base);
    }
    cur(p)->restart_timeout_base_s = (uint32_t)base;
    cur(p)->restart_timeout_cap_s = (uint32_t)(cap_tok ? cap : base);
    return 0;
}

static int h_start_type(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "automatic");
    if (!tok) {
        return GW_E_CONFIG;
    }
    if (strcmp(tok, "lazy") == 0 || strcmp(tok, "once") == 0 || strcmp(tok, "manual") == 0) {
        return cfg_fail(p, "option '%s': '%s' is not supported by tern, use automatic", o->name,
                        tok);
    }
    if (strcmp(tok, "automatic") != 0) {
        return cfg_fail(p, "option '%s': expected automatic, got '%.40s'", o->name, tok);
    }
    return 0;
}

static int h_tls_version(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "tlsv1.2 or tlsv1.3");
    if (!tok) {
        return GW_E_CONFIG;
    }
    if (strcmp(tok, "tlsv1.1") == 0 || strcmp(tok, "tlsv1") == 0) {
        return cfg_fail(p, "option '%s': '%s' is not supported by tern, use tlsv1.2 or tlsv1.3",
                        o->name, tok);
    }
    if (strcmp(tok, "tlsv1.2") != 0 && strcmp(tok, "tlsv1.3") != 0) {
        return cfg_fail(p, "option '%s': expected tlsv1.2 or tlsv1.3, got '%.40s'", o->name, tok);
    }
    return set_str(p, &cur(p)->tls_version, tok);
}

static uint64_t age_unit(char u)
{
    switch (u) {
    case 's':
        return 1;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return (uint64_t)7 * 86400;
    default:
        return 0; /* no 'm': month (mosquitto's durations) or minute would be a guess */
    }
}

/* Seconds, or a number with an s h d w suffix. */
static int h_backlog_max_age(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    char *tok = cfg_one_arg(p, o->name, args, "seconds with an optional s, h, d or w suffix");
    if (!tok) {
        return GW_E_CONFIG;
    }
    char shown[48];
    (void)snprintf(shown, sizeof(shown), "%s", tok);
    size_t n = strlen(tok);
    uint64_t mult = 1;
    if (n > 1 && (tok[n - 1] < '0' || tok[n - 1] > '9')) {
        mult = age_unit(tok[n - 1]);
        tok[n - 1] = '\0';
    }
    uint64_t v = 0;
    if (mult == 0 || !parse_range(tok, 0, UINT32_MAX / mult, &v)) {
        return cfg_fail(p,
                        "option '%s': expected seconds 0..%u with an optional s, h, d or w "
                        "suffix, got '%.40s'",
                        o->name, UINT32_MAX, shown);
    }
    cur(p)->backlog_max_age_s = (uint32_t)(v * mult);
    return 0;
}
