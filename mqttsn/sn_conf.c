/* sn_conf.c - an MQTT-SN listener's own settings, read once when the
 * gateway opens: Tretry / Nretry (MQTT-SN 1.2 §6.13), the gateway id and
 * ADVERTISE target (§6.1), the predefined topic ids (§3, §6.7) from a file
 * in the Paho MQTT-SN gateway's predefinedTopic.conf format, and the list
 * of client ids allowed to connect.
 *
 * Predefined topic file, one entry a line, `#` starts a comment line:
 *     ClientID, TopicName, TopicID
 * ClientID `*` or `COMMON` (Paho's word) gives the id to every client; an
 * entry for a client id wins over a common one with the same TopicID or
 * TopicName. TopicID is 1..65534 (0x0000 and 0xFFFF are reserved, §5.3.11).
 * Errors name FILE:LINE and what was expected; the listener does not open. */
#include "alloc.h"
#include "cfg.h"
#include "gw_err.h"
#include "log.h"
#include "sn_gw_priv.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SN_TRETRY_DEFAULT_S 10u /* §6.13 suggests 10 to 15 s */
#define SN_NRETRY_DEFAULT   3u  /* §6.13 suggests 3 to 5 */
#define SN_LINE_MAX         1024u

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

/* ---- predefined topics ---- */

static int predef_add(struct sn_conf *cf, const char *client, const char *name, uint16_t id)
{
    if (cf->n_predef == cf->cap_predef) {
        size_t cap = cf->cap_predef ? cf->cap_predef * 2 : 16;
        struct sn_predef *v = gw_realloc(cf->predef, cap * sizeof(*v));
        if (!v) {
            return -ENOMEM;
        }
        cf->predef = v;
        cf->cap_predef = cap;
    }
    struct sn_predef e = {.id = id, .len = (uint16_t)strlen(name)};
    e.client = client ? gw_strdup(client) : NULL;
    e.name = gw_strdup(name);
    if (!e.name || (client && !e.client)) {
        gw_free(e.client);
        gw_free(e.name);
        return -ENOMEM;
    }
    cf->predef[cf->n_predef++] = e;
    return 0;
}

static bool same_client(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* One line of the file (modified in place); logs and returns -EINVAL. */
static int predef_line(struct sn_conf *cf, const char *file, unsigned line, char *s)
{
    char *f1 = strtok(s, ",");
    char *f2 = f1 ? strtok(NULL, ",") : NULL;
    char *f3 = f2 ? strtok(NULL, ",") : NULL;
    if (!f3 || strtok(NULL, ",")) {
        gw_log(GW_ERROR, "mqttsn", "%s:%u: expected ClientID, TopicName, TopicID", file, line);
        return -EINVAL;
    }
    char *client = trim(f1);
    char *name = trim(f2);
    char *idt = trim(f3);
    char *end = NULL;
    long id = strtol(idt, &end, 10);
    if (!*idt || *end || id < 1 || id > 65534) {
        gw_log(GW_ERROR, "mqttsn", "%s:%u: TopicID '%.20s': expected an integer 1..65534", file,
               line, idt);
        return -EINVAL;
    }
    size_t clen = strlen(client);
    if (clen == 0 || clen > SN_CLIENT_ID_MAX) {
        gw_log(GW_ERROR, "mqttsn", "%s:%u: ClientID: expected * or an id of 1..23 characters", file,
               line);
        return -EINVAL;
    }
    if (!topic_name_valid((struct gw_bytes){(const uint8_t *)name, strlen(name)}) ||
        strlen(name) > UINT16_MAX) {
        gw_log(GW_ERROR, "mqttsn",
               "%s:%u: TopicName '%.60s': expected a topic name without wildcards", file, line,
               name);
        return -EINVAL;
    }
    if (strcmp(client, "*") == 0 || strcmp(client, "COMMON") == 0) {
        client = NULL;
    }
    for (size_t i = 0; i < cf->n_predef; i++) {
        const struct sn_predef *e = &cf->predef[i];
        if (same_client(e->client, client) && (e->id == id || strcmp(e->name, name) == 0)) {
            gw_log(GW_ERROR, "mqttsn", "%s:%u: TopicID %ld or TopicName '%.60s' given twice for %s",
                   file, line, id, name, client ? client : "every client");
            return -EINVAL;
        }
    }
    return predef_add(cf, client, name, (uint16_t)id);
}

/* Call fn for every non-comment, non-empty line of path. */
static int read_lines(struct sn_conf *cf, const char *path,
                      int (*fn)(struct sn_conf *cf, const char *file, unsigned line, char *s))
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        gw_log(GW_ERROR, "mqttsn", "cannot open %s: %s", path,
               strerror(-rc)); /* NOLINT(concurrency-mt-unsafe) */
        return rc;
    }
    char buf[SN_LINE_MAX];
    unsigned line = 0;
    int rc = 0;
    while (rc == 0 && fgets(buf, sizeof(buf), f)) {
        line++;
        if (!strchr(buf, '\n') && !feof(f)) {
            gw_log(GW_ERROR, "mqttsn", "%s:%u: line longer than %u characters", path, line,
                   SN_LINE_MAX - 2);
            rc = -EINVAL;
            break;
        }
        char *s = trim(buf);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        rc = fn(cf, path, line, s);
    }
    (void)fclose(f);
    return rc;
}

const struct sn_predef *sn_predef_by_id(const struct sn_conf *cf, const char *client, uint16_t id)
{
    const struct sn_predef *common = NULL;
    for (size_t i = 0; i < cf->n_predef; i++) {
        const struct sn_predef *e = &cf->predef[i];
        if (e->id != id) {
            continue;
        }
        if (!e->client) {
            common = e;
        } else if (client && strcmp(e->client, client) == 0) {
            return e;
        }
    }
    return common;
}

const struct sn_predef *sn_predef_by_name(const struct sn_conf *cf, const char *client,
                                          struct gw_bytes name)
{
    const struct sn_predef *common = NULL;
    for (size_t i = 0; i < cf->n_predef; i++) {
        const struct sn_predef *e = &cf->predef[i];
        if (e->len != name.n || memcmp(e->name, name.p, name.n) != 0) {
            continue;
        }
        if (!e->client) {
            /* A common id is usable only if the client has no own entry
             * with that number for another topic. */
            const struct sn_predef *own = client ? sn_predef_by_id(cf, client, e->id) : e;
            common = own == e ? e : common;
        } else if (client && strcmp(e->client, client) == 0) {
            return e;
        }
    }
    return common;
}

/* ---- allowed clients ---- */

static int allow_add(struct sn_conf *cf, const char *file, unsigned line, char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SN_CLIENT_ID_MAX || strpbrk(id, " \t")) {
        if (line == 0) { /* file is the listener's origin */
            gw_log(GW_ERROR, "mqttsn",
                   "listener %s: mqttsn_allowed_clients '%.40s': expected client ids of 1..23 "
                   "characters",
                   file, id);
        } else {
            gw_log(GW_ERROR, "mqttsn", "%s:%u: expected one client id of 1..23 characters", file,
                   line);
        }
        return -EINVAL;
    }
    char **v = gw_realloc(cf->allowed, (cf->n_allowed + 1) * sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    cf->allowed = v;
    v[cf->n_allowed] = gw_strdup(id);
    if (!v[cf->n_allowed]) {
        return -ENOMEM;
    }
    cf->n_allowed++;
    return 0;
}

static int allow_list(struct sn_conf *cf, const char *origin, const char *list)
{
    char *copy = gw_strdup(list);
    if (!copy) {
        return -ENOMEM;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok && rc == 0;
         tok = strtok_r(NULL, " \t", &save)) {
        rc = allow_add(cf, origin, 0, tok);
    }
    gw_free(copy);
    return rc;
}

bool sn_conf_client_allowed(const struct sn_conf *cf, const char *id)
{
    if (!cf->allow_list) {
        return true;
    }
    bool allowed = false;
    for (size_t i = 0; i < cf->n_allowed && !allowed; i++) {
        allowed = strcmp(cf->allowed[i], id) == 0;
    }
    return allowed;
}

bool sn_conf_client_allowed_n(const struct sn_conf *cf, struct gw_bytes id)
{
    char buf[SN_CLIENT_ID_MAX + 1];
    if (id.n > SN_CLIENT_ID_MAX) {
        return false;
    }
    memcpy(buf, id.p, id.n);
    buf[id.n] = '\0';
    return sn_conf_client_allowed(cf, buf);
}

/* ---- load / free ---- */

static int load_files(struct sn_conf *cf, const struct cfg_listener *lc)
{
    int rc = 0;
    if (lc->mqttsn_predefined_topics) {
        rc = read_lines(cf, lc->mqttsn_predefined_topics, predef_line);
    }
    cf->allow_list = lc->mqttsn_allowed_clients || lc->mqttsn_client_allow_file;
    if (rc == 0 && lc->mqttsn_allowed_clients) {
        rc = allow_list(cf, lc->origin, lc->mqttsn_allowed_clients);
    }
    if (rc == 0 && lc->mqttsn_client_allow_file) {
        rc = read_lines(cf, lc->mqttsn_client_allow_file, allow_add);
    }
    return rc;
}

/* ---- forwarders (§5.5) ---- */

static int fwd_add(struct sn_conf *cf, const struct sn_peer *p)
{
    struct sn_peer *v = gw_realloc(cf->fwd, (cf->n_fwd + 1) * sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    cf->fwd = v;
    cf->fwd[cf->n_fwd++] = *p;
    return 0;
}

/* One mqttsn_forwarder word: `*`, or a numeric ADDR (any port) /
 * ADDR:PORT / [V6ADDR]:PORT of the listener's family. */
static int forwarder_word(struct sn_conf *cf, const struct cfg_listener *lc, struct sn_udp *u,
                          const char *w)
{
    if (strcmp(w, "*") == 0) {
        cf->fwd_any = true;
        return 0;
    }
    struct sn_peer p;
    int rc = sn_udp_resolve(u, w, 0, &p);
    if (rc < 0) {
        gw_log(GW_ERROR, "mqttsn",
               "listener %s: mqttsn_forwarder '%.60s': expected *, or a numeric ADDR, "
               "ADDR:PORT or [V6ADDR]:PORT of the listener's address family (%s)",
               lc->origin, w, gw_strerror(rc));
        return rc;
    }
    return fwd_add(cf, &p);
}

static int load_forwarders(struct sn_conf *cf, const struct cfg_listener *lc, struct sn_udp *u)
{
    if (!lc->mqttsn_forwarders) {
        return 0;
    }
    char *copy = gw_strdup(lc->mqttsn_forwarders);
    if (!copy) {
        return -ENOMEM;
    }
    int rc = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, " \t", &save); w && rc == 0; w = strtok_r(NULL, " \t", &save)) {
        rc = forwarder_word(cf, lc, u, w);
    }
    gw_free(copy);
    return rc;
}

bool sn_conf_forwarder_allowed(const struct sn_gw *gw, const struct sn_peer *peer)
{
    const struct sn_conf *cf = &gw->conf;
    if (cf->fwd_any || gw->lc->mqttsn_serial_device) {
        /* A serial port is one wire: only the radio module on it can send
         * there, and forwarding for its nodes is its job (issue 13). The
         * list guards UDP, where any host can claim to be a forwarder. */
        return true;
    }
    uint8_t want[SN_PEER_MAX];
    uint8_t have[SN_PEER_MAX];
    for (size_t i = 0; i < cf->n_fwd; i++) {
        const struct sn_peer *f = &cf->fwd[i];
        if (f->len == peer->len && memcmp(f->addr, peer->addr, f->len) == 0) {
            return true;
        }
        if (!gw->tops->peer_host) {
            continue;
        }
        /* An entry without a port (resolved with port 0) is its own host
         * key: it names the host, any port. */
        size_t wn = gw->tops->peer_host(gw->tctx, f, want);
        bool host_only = wn == f->len && memcmp(want, f->addr, wn) == 0;
        size_t hn = gw->tops->peer_host(gw->tctx, peer, have);
        if (host_only && wn == hn && memcmp(want, have, wn) == 0) {
            return true;
        }
    }
    return false;
}

/* The limits against hostile peers (issue 11), defaults where unset. */
static void load_limits(struct sn_conf *cf, const struct cfg_listener *lc)
{
    cf->max_clients = lc->mqttsn_max_clients ? lc->mqttsn_max_clients : SN_MAX_CLIENTS_DEFAULT;
    cf->max_clients_per_host = lc->mqttsn_max_clients_per_address
                                       ? lc->mqttsn_max_clients_per_address
                                       : SN_MAX_CLIENTS_PER_HOST_DEFAULT;
    cf->max_topics = lc->mqttsn_max_topics ? lc->mqttsn_max_topics : SN_TOPICS_MAX;
    cf->max_unproven = lc->mqttsn_max_unproven_clients ? lc->mqttsn_max_unproven_clients
                                                       : SN_MAX_UNPROVEN_DEFAULT;
    cf->idle_ms = (uint64_t)(lc->mqttsn_idle_timeout_s ? lc->mqttsn_idle_timeout_s
                                                       : SN_IDLE_TIMEOUT_DEFAULT_S) *
                  1000u;
    /* On a serial port nobody can forge where a frame came from: the
     * limit, which guards UDP against spoofed sources, is off unless set. */
    uint32_t amp_default = lc->mqttsn_serial_device ? 0 : SN_AMP_FACTOR_DEFAULT;
    cf->amp_factor = lc->mqttsn_amplification_limit < 0 ? amp_default
                                                        : (uint32_t)lc->mqttsn_amplification_limit;
}

int sn_conf_load(struct sn_conf *cf, const struct cfg_listener *lc, struct sn_udp *u)
{
    memset(cf, 0, sizeof(*cf));
    uint32_t tretry =
            lc->mqttsn_retry_interval_s ? lc->mqttsn_retry_interval_s : SN_TRETRY_DEFAULT_S;
    cf->retry_ms = tretry * 1000u;
    cf->nretry = lc->mqttsn_retries ? lc->mqttsn_retries : SN_NRETRY_DEFAULT;
    load_limits(cf, lc);
    cf->gw_id = (uint8_t)(lc->mqttsn_gateway_id ? lc->mqttsn_gateway_id : 1u);
    cf->advertise_s = (uint16_t)lc->mqttsn_advertise_interval;
    if (cf->advertise_s && u) {
        const char *to = lc->mqttsn_advertise_address;
        int rc = to ? sn_udp_resolve(u, to, lc->port, &cf->advertise_to) : -EDESTADDRREQ;
        if (rc < 0) {
            gw_log(GW_ERROR, "mqttsn",
                   "listener %s: mqttsn_advertise_address '%s': expected a numeric "
                   "ADDR[:PORT] of the listener's address family (%s)",
                   lc->origin, to ? to : "", gw_strerror(rc));
            return rc;
        }
    }
    int rc = load_forwarders(cf, lc, u);
    if (rc == 0) {
        rc = load_files(cf, lc);
    }
    if (rc < 0) {
        sn_conf_fini(cf);
        return rc;
    }
    if (cf->n_predef || cf->allow_list) {
        gw_log(GW_INFO, "mqttsn", "listener %s: %zu predefined topic ids, %s", lc->origin,
               cf->n_predef, cf->allow_list ? "allow list on" : "every client id allowed");
    }
    return 0;
}

void sn_conf_fini(struct sn_conf *cf)
{
    gw_free(cf->fwd);
    cf->fwd = NULL;
    cf->n_fwd = 0;
    for (size_t i = 0; i < cf->n_predef; i++) {
        gw_free(cf->predef[i].client);
        gw_free(cf->predef[i].name);
    }
    gw_free(cf->predef);
    for (size_t i = 0; i < cf->n_allowed; i++) {
        gw_free(cf->allowed[i]);
    }
    gw_free(cf->allowed);
    memset(cf, 0, sizeof(*cf));
}
