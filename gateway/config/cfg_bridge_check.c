/* cfg_bridge_check.c - what happens to the `connection` blocks after the
 * file is read: the defaults that need the whole block (client ids from the
 * host name, notification topic, address ports), the checks across a block
 * and between blocks, compare (SIGHUP) and free. cfg_bridge.c parses them.
 * Nothing here logs: errors go to the caller's buffer. */
#include "alloc.h"
#include "cfg_priv.h"
#include "gw_err.h"
#include "mqtt_codec.h"
#include "topic.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PORT_PLAIN 1883
#define PORT_TLS   8883

static bool utf8_ok(const char *s)
{
    size_t n = strlen(s);
    return n <= MQTT_MAX_STRING && mqtt_utf8_valid((const uint8_t *)s, n);
}

__attribute__((format(printf, 4, 5))) static int
fail_at(char *err, size_t cap, const struct cfg_bridge *b, const char *fmt, ...)
{
    if (err && cap > 0) {
        int n = snprintf(err, cap, "%s: connection '%.60s': ", b->origin, b->name);
        if (n > 0 && (size_t)n < cap) {
            va_list ap;
            va_start(ap, fmt);
            (void)vsnprintf(err + n, cap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return GW_E_CONFIG;
}

/* ---- resolution -------------------------------------------------------- */

/* "a" "b" "c" joined into a new string at *dst (gw_free). */
static int join3(char **dst, const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = gw_alloc(n);
    if (!s) {
        return -ENOMEM;
    }
    (void)snprintf(s, n, "%s%s%s", a, b, c);
    *dst = s;
    return 0;
}

/* mosquitto's defaults: HOSTNAME.NAME, local.REMOTE_CLIENTID and the
 * notification topic of REMOTE_CLIENTID. */
static int resolve_one(struct cfg_bridge *b, const char *host)
{
    int rc = 0;
    if (!b->remote_clientid) {
        rc = join3(&b->remote_clientid, host, ".", b->name);
    }
    if (rc == 0 && !b->local_clientid) {
        rc = join3(&b->local_clientid, "local.", b->remote_clientid, "");
    }
    if (rc == 0 && !b->notification_topic) {
        rc = join3(&b->notification_topic, "$SYS/broker/connection/", b->remote_clientid, "/state");
    }
    if (!b->local_cleansession_set) {
        b->local_cleansession = b->cleansession;
    }
    bool tls = b->cafile || b->capath || b->psk;
    for (size_t i = 0; i < b->n_addrs; i++) {
        if (b->addrs[i].port == 0) {
            b->addrs[i].port = tls ? PORT_TLS : PORT_PLAIN;
        }
    }
    return rc;
}

int cfg_bridges_resolve(struct cfg_parser *p)
{
    struct gw_config *c = p->c;
    char host[256] = "";
    for (size_t i = 0; i < c->n_bridges; i++) {
        if (!c->bridges[i].remote_clientid && host[0] == '\0') {
            int rc = gethostname(host, sizeof(host) - 1) < 0 ? -errno : 0;
            if (rc < 0 || host[0] == '\0') {
                return fail_at(p->err, p->errcap, &c->bridges[i],
                               "no remote_clientid, and no host name for its default: %s",
                               rc < 0 ? gw_strerror(rc) : "empty host name");
            }
            host[sizeof(host) - 1] = '\0';
        }
        if (resolve_one(&c->bridges[i], host) < 0) {
            return cfg_fail_nomem(p);
        }
    }
    return 0;
}

/* ---- validation -------------------------------------------------------- */

/* TLS-only options need TLS on; a certificate needs its key and the key its
 * certificate. */
static int check_tls(const struct cfg_bridge *b, char *err, size_t cap)
{
    bool tls = b->cafile || b->capath || b->psk;
    if (!b->psk_identity != !b->psk) {
        return fail_at(err, cap, b, "%s", b->psk ? "bridge_psk needs bridge_identity"
                                                 : "bridge_identity needs bridge_psk");
    }
    for (const char *h = b->psk; h && *h; h++) {
        bool hex = (*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f') || (*h >= 'A' && *h <= 'F');
        if (!hex) {
            return fail_at(err, cap, b, "bridge_psk: the key must be hex digits");
        }
    }
    if (b->psk && (strlen(b->psk) % 2 != 0 || strlen(b->psk) > 128)) {
        return fail_at(err, cap, b, "bridge_psk: an even count of hex digits, at most 128");
    }
    if (b->certfile && !b->keyfile) {
        return fail_at(err, cap, b, "bridge_certfile needs bridge_keyfile");
    }
    if (b->keyfile && !b->certfile) {
        return fail_at(err, cap, b, "bridge_keyfile needs bridge_certfile");
    }
    const char *tls_only = b->certfile   ? "bridge_certfile"
                           : b->insecure ? "bridge_insecure true"
                           : b->alpn     ? "bridge_alpn"
                           : b->ciphers  ? "bridge_ciphers"
                                         : NULL;
    if (tls_only && !tls) {
        return fail_at(err, cap, b,
                       "%s needs TLS: set bridge_cafile, bridge_capath or bridge_identity/psk",
                       tls_only);
    }
    return 0;
}

/* Strings that go into CONNECT must be MQTT UTF-8. */
static int check_strings(const struct cfg_bridge *b, char *err, size_t cap)
{
    const char *names[] = {"remote_clientid", "local_clientid", "remote_username",
                           "local_username"};
    const char *values[] = {b->remote_clientid, b->local_clientid, b->remote_username,
                            b->local_username};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (values[i] && !utf8_ok(values[i])) {
            return fail_at(err, cap, b, "%s is not valid UTF-8 (or longer than 65535 bytes)",
                           names[i]);
        }
    }
    if (!topic_name_valid(gw_bytes_str(b->notification_topic))) {
        return fail_at(err, cap, b, "notification topic '%.80s' is not a valid topic name",
                       b->notification_topic);
    }
    if (b->protocol == 4 && b->remote_password && !b->remote_username) {
        /* [MQTT-3.1.2-22]: 3.1.1 has no password without a user name. */
        return fail_at(err, cap, b, "remote_password needs remote_username with mqttv311");
    }
    return 0;
}

static int check_one(const struct cfg_bridge *b, char *err, size_t cap)
{
    if (b->n_addrs == 0) {
        return fail_at(err, cap, b, "no address (address HOST[:PORT])");
    }
    if (b->n_topics == 0) {
        return fail_at(err, cap, b, "no topic (topic PATTERN [in|out|both] [QOS] ...)");
    }
    int rc = check_tls(b, err, cap);
    return rc < 0 ? rc : check_strings(b, err, cap);
}

int cfg_bridges_validate(const struct gw_config *c, char *err, size_t errcap)
{
    for (size_t i = 0; i < c->n_bridges; i++) {
        int rc = check_one(&c->bridges[i], err, errcap);
        if (rc < 0) {
            return rc;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->bridges[i].local_clientid, c->bridges[j].local_clientid) == 0) {
                return fail_at(err, errcap, &c->bridges[i],
                               "local_clientid '%.60s' is also used by connection '%.60s' at %s",
                               c->bridges[i].local_clientid, c->bridges[j].name,
                               c->bridges[j].origin);
            }
        }
    }
    return 0;
}

/* ---- compare, free ----------------------------------------------------- */

/* The fields the plain-typed rows describe. */
static bool rows_equal(const struct cfg_bridge *a, const struct cfg_bridge *b)
{
    for (size_t i = 0; i < cfg_bridge_opt_count; i++) {
        const struct cfg_opt *o = &cfg_bridge_opt_table[i];
        if (o->type >= CFG_T_SPECIAL) {
            continue;
        }
        const char *pa = (const char *)a + o->loff;
        const char *pb = (const char *)b + o->loff;
        if (o->type == CFG_T_STRING) {
            const char *sa = NULL;
            const char *sb = NULL;
            memcpy(&sa, pa, sizeof(sa));
            memcpy(&sb, pb, sizeof(sb));
            if (!cfg_str_eq(sa, sb)) {
                return false;
            }
        } else if (memcmp(pa, pb, cfg_opt_field_size(o->type)) != 0) {
            return false;
        }
    }
    return true;
}

static bool topics_equal(const struct cfg_bridge *a, const struct cfg_bridge *b)
{
    if (a->n_topics != b->n_topics) {
        return false;
    }
    for (size_t i = 0; i < a->n_topics; i++) {
        const struct cfg_bridge_topic *x = &a->topics[i];
        const struct cfg_bridge_topic *y = &b->topics[i];
        if (x->dir != y->dir || x->qos != y->qos || !cfg_str_eq(x->pattern, y->pattern) ||
            !cfg_str_eq(x->local_prefix, y->local_prefix) ||
            !cfg_str_eq(x->remote_prefix, y->remote_prefix)) {
            return false;
        }
    }
    return true;
}

/* Everything but origin: moving a block within the file changes nothing. */
static bool bridge_equal(const struct cfg_bridge *a, const struct cfg_bridge *b)
{
    if (!cfg_str_eq(a->name, b->name) || a->n_addrs != b->n_addrs || !topics_equal(a, b) ||
        !rows_equal(a, b)) {
        return false;
    }
    for (size_t i = 0; i < a->n_addrs; i++) {
        if (!cfg_str_eq(a->addrs[i].host, b->addrs[i].host) || a->addrs[i].port != b->addrs[i].port) {
            return false;
        }
    }
    /* The fields the handlers set. */
    return a->local_cleansession == b->local_cleansession && a->protocol == b->protocol &&
           a->restart_timeout_base_s == b->restart_timeout_base_s &&
           a->restart_timeout_cap_s == b->restart_timeout_cap_s &&
           a->backlog_max_age_s == b->backlog_max_age_s && cfg_str_eq(a->tls_version, b->tls_version) &&
           cfg_str_eq(a->remote_prefix, b->remote_prefix);
}

bool cfg_bridges_equal(const struct gw_config *a, const struct gw_config *b)
{
    if (a->n_bridges != b->n_bridges) {
        return false;
    }
    for (size_t i = 0; i < a->n_bridges; i++) {
        if (!bridge_equal(&a->bridges[i], &b->bridges[i])) {
            return false;
        }
    }
    return true;
}

/* Every string of struct cfg_bridge (explicit: two rows share a field). */
static void bridge_fini(struct cfg_bridge *b)
{
    char *strs[] = {b->name,
                    b->origin,
                    b->remote_clientid,
                    b->local_clientid,
                    b->remote_username,
                    b->remote_password,
                    b->local_username,
                    b->local_password,
                    b->notification_topic,
                    b->cafile,
                    b->capath,
                    b->certfile,
                    b->keyfile,
                    b->alpn,
                    b->tls_version,
                    b->ciphers,
                    b->psk_identity,
                    b->psk,
                    b->remote_prefix};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        gw_free(strs[i]);
    }
    for (size_t i = 0; i < b->n_addrs; i++) {
        gw_free(b->addrs[i].host);
    }
    gw_free(b->addrs);
    for (size_t i = 0; i < b->n_topics; i++) {
        cfg_bridge_topic_fini(&b->topics[i]);
    }
    gw_free(b->topics);
}

void cfg_bridges_free(struct gw_config *c)
{
    for (size_t i = 0; i < c->n_bridges; i++) {
        bridge_fini(&c->bridges[i]);
    }
    gw_free(c->bridges);
    c->bridges = NULL;
    c->n_bridges = 0;
}
