/* lsn_tls.c - a listener's TLS conf from its options (cfg_tls): the files
 * are read when the listener opens and again on SIGHUP (rotation: a new
 * conf for new connections; open ones keep theirs, it is reference-counted
 * in gateway/stream). A bad new file keeps the old conf and says why. */
#include "lsn.h"

#include "alloc.h"
#include "auth_psk.h"
#include "gw_err.h"
#include "log.h"
#include "stream_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Build a conf from cl's options; the PSK table is read here and copied
 * by the stream conf. Returns 0 and *out, or an error with err set. */
static int build(const struct cfg_listener *cl, struct stream_tls_conf **out, char *err,
                 size_t errcap)
{
    const struct cfg_tls *t = &cl->tls;
    struct auth_psk_table table = {NULL, 0};
    struct stream_tls_psk *psks = NULL;
    int rc = 0;
    if (t->psk_file) {
        rc = auth_psk_load(t->psk_file, &table, err, errcap);
        if (rc == 0 && table.n == 0) {
            (void)snprintf(err, errcap, "psk_file %s: no identity:hexkey line", t->psk_file);
            rc = GW_E_CONFIG;
        }
        if (rc == 0 && !(psks = gw_calloc(table.n, sizeof(*psks)))) {
            rc = -ENOMEM;
        }
    }
    for (size_t i = 0; rc == 0 && i < table.n; i++) {
        psks[i].identity = table.v[i].identity;
        psks[i].key = table.v[i].key;
        psks[i].key_len = table.v[i].key_len;
    }
    if (rc == 0) {
        struct stream_tls_cfg sc = {
                .server = true,
                .cafile = t->cafile,
                .capath = t->capath,
                .certfile = t->certfile,
                .keyfile = t->keyfile,
                .crlfile = t->crlfile,
                .tls_version = t->tls_version,
                .ciphers = t->ciphers,
                .require_certificate = t->require_certificate,
                .identity = t->use_identity_as_username  ? STREAM_TLS_ID_CN
                            : t->use_subject_as_username ? STREAM_TLS_ID_SUBJECT
                                                         : STREAM_TLS_ID_NONE,
                .psk_hint = t->psk_hint,
                .psks = psks,
                .n_psks = table.n,
        };
        rc = stream_tls_conf_create(&sc, out, err, errcap);
    }
    if (rc == -ENOMEM && err[0] == '\0') {
        (void)snprintf(err, errcap, "out of memory");
    }
    gw_free(psks);
    auth_psk_table_free(&table);
    return rc;
}

int lsn_tls_check(const struct cfg_listener *cl, char *err, size_t errcap)
{
    if (!cfg_tls_on(&cl->tls)) {
        return 0;
    }
    if (errcap > 0) {
        err[0] = '\0';
    }
    struct stream_tls_conf *c = NULL;
    int rc = build(cl, &c, err, errcap);
    stream_tls_conf_unref(c);
    return rc;
}

int lsn_tls_open(struct lsn *l)
{
    if (!cfg_tls_on(&l->cfg->tls)) {
        return 0;
    }
    char err[300] = "";
    int rc = build(l->cfg, &l->tls, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "lsn", "listener %s (%s): TLS: %s", l->name, l->cfg->origin, err);
    }
    return rc;
}

void lsn_tls_reload(struct lsn *l)
{
    if (!l->tls) {
        return;
    }
    char err[300] = "";
    struct stream_tls_conf *fresh = NULL;
    int rc = build(l->cfg, &fresh, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "lsn",
               "listener %s: SIGHUP: TLS files not reloaded, keeping the running ones: %s",
               l->name, err);
        return;
    }
    stream_tls_conf_unref(l->tls); /* open connections hold their own reference */
    l->tls = fresh;
    gw_log(GW_NOTICE, "lsn", "listener %s: TLS certificates, keys, CRL and PSKs re-read",
           l->name);
}
