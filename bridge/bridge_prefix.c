/* bridge_prefix.c - a connection block's topic prefixes at start-up:
 * remote_prefix before every line's remote prefix, %h (host name), %c
 * (remote client id) and %% expanded, each result checked to still be a
 * valid topic prefix. The mapping itself is bridge_topic.c's (pure). */
#include "alloc.h"
#include "bridge_priv.h"
#include "bridge_topic.h"
#include "gw_err.h"
#include "log.h"
#include "topic.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* pre (may be NULL) then p with %h (host name), %c (remote client id) and
 * %% expanded; NULL when both are empty. *ok false: out of memory or a
 * bad % sequence (logged). */
static char *expand_prefix(const struct bridge *br, const char *pre, const char *p, bool *ok)
{
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) < 0) {
        (void)snprintf(host, sizeof(host), "unknown");
    }
    char out[BRIDGE_TOPIC_MAX + 1];
    size_t n = 0;
    const char *parts[2] = {pre, p};
    for (size_t k = 0; k < 2; k++) {
        for (const char *q = parts[k]; q && *q; q++) {
            const char *add = NULL;
            char one[2] = {*q, '\0'};
            if (*q == '%') {
                q++;
                add = *q == 'h' ? host : *q == 'c' ? br->cfg.remote_clientid : *q == '%' ? "%" : NULL;
                if (!add) {
                    gw_log(GW_ERROR, "bridge", "%s: prefix \"%s\": %%%c is not %%h, %%c or %%%%",
                           br->cfg.name, parts[k], *q ? *q : ' ');
                    *ok = false;
                    return NULL;
                }
            } else {
                add = one;
            }
            size_t an = strlen(add);
            if (n + an > BRIDGE_TOPIC_MAX) {
                gw_log(GW_ERROR, "bridge", "%s: prefix \"%s\" expands past %u bytes", br->cfg.name,
                       parts[k], BRIDGE_TOPIC_MAX);
                *ok = false;
                return NULL;
            }
            memcpy(out + n, add, an);
            n += an;
        }
    }
    if (n == 0) {
        return NULL;
    }
    out[n] = '\0';
    char *s = gw_strdup(out);
    *ok = s != NULL;
    return s;
}

/* remote_prefix before every line's remote prefix, and %h / %c in all of
 * them (a per-gateway namespace without writing it on every line). The
 * results must still be valid topic prefixes: a host name or client id
 * with '+' or '#' is a configuration error. */
int bridge_prefix_expand(struct bridge *br)
{
    bool ok = true;
    for (size_t i = 0; ok && i < br->cfg.n_topics; i++) {
        struct cfg_bridge_topic *t = &br->cfg.topics[i];
        char *lp = expand_prefix(br, NULL, t->local_prefix, &ok);
        char *rp = ok ? expand_prefix(br, br->cfg.remote_prefix, t->remote_prefix, &ok) : NULL;
        if (!ok) {
            gw_free(lp);
            gw_free(rp);
            break;
        }
        gw_free(t->local_prefix);
        gw_free(t->remote_prefix);
        t->local_prefix = lp;
        t->remote_prefix = rp;
        char f[BRIDGE_TOPIC_BUF];
        if ((rp && !topic_name_valid(gw_bytes_str(rp))) ||
            bridge_topic_remote_filter(t, f, sizeof(f)) < 0 ||
            !topic_filter_valid(gw_bytes_str(f))) {
            gw_log(GW_ERROR, "bridge", "%s: topic %s: the expanded remote side \"%s%s\" is no "
                   "valid filter", br->cfg.name, t->pattern, rp ? rp : "", t->pattern);
            ok = false;
        }
    }
    return ok ? 0 : GW_E_CONFIG;
}
