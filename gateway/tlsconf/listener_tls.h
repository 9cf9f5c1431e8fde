/* listener_tls.h - a listener's TLS options (cfg_tls) as a server-side
 * stream TLS conf: the one builder of the MQTT listeners (TLS over TCP and
 * WebSocket, gateway/mqtt/lsn_tls.c) and the MQTT-SN listeners (DTLS,
 * mqttsn/sn_dtls.c), so that both read certificates, CRLs and PSK files
 * the same way and fail with the same words. */
#ifndef LISTENER_TLS_H
#define LISTENER_TLS_H

#include "cfg.h"
#include "stream_tls.h"

#include <stdbool.h>
#include <stddef.h>

/* Read t's files (the PSK table is read here and copied by the conf) and
 * build a server conf; datagram selects DTLS. Returns 0 and *out (one
 * reference, stream_tls_conf_unref), or an error (GW_E_CONFIG, -ENOMEM,
 * a file error) with one line in err. */
int listener_tls_conf(const struct cfg_tls *t, bool datagram, struct stream_tls_conf **out,
                      char *err, size_t errcap);

#endif
