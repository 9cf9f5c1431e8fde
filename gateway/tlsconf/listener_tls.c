/* listener_tls.c - see listener_tls.h. */
#include "listener_tls.h"

#include "alloc.h"
#include "auth_psk.h"
#include "gw_err.h"

#include <errno.h>
#include <stdio.h>

int listener_tls_conf(const struct cfg_tls *t, bool datagram, struct stream_tls_conf **out,
                      char *err, size_t errcap)
{
    struct auth_psk_table table = {NULL, 0};
    struct stream_tls_psk *psks = NULL;
    int rc = 0;
    if (errcap > 0) {
        err[0] = '\0';
    }
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
        psks[i] = (struct stream_tls_psk){table.v[i].identity, table.v[i].key, table.v[i].key_len};
    }
    if (rc == 0) {
        struct stream_tls_cfg sc = {
                .server = true,
                .datagram = datagram,
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
    if (rc == -ENOMEM && errcap > 0 && err[0] == '\0') {
        (void)snprintf(err, errcap, "out of memory");
    }
    gw_free(psks);
    auth_psk_table_free(&table);
    return rc;
}
