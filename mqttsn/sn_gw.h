/* sn_gw.h - the native MQTT-SN 1.2 gateway (issue 5), as main sees it.
 *
 * One gateway per `listener PORT [ADDR]` block with `protocol mqttsn`: a UDP
 * socket (sn_udp.c) and the MQTT-SN clients heard on it, each keyed by its
 * peer address and mapped onto an ordinary broker session (gateway/sess.h),
 * so MQTT-SN and MQTT clients share topics, retained messages, wills and the
 * client-id space.
 *
 * Lifetime: sn_gw_open registers the gateway in this module's list;
 * sn_gw_close_all closes every open gateway (clients lose their link, wills
 * are published as for MQTT connections at shutdown). Call it before
 * broker_destroy. Loop thread only. */
#ifndef SN_GW_H
#define SN_GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct cfg_listener;
struct sn_gw;

/* Open the MQTT-SN listener described by lc (borrowed: it must outlive the
 * gateway, as broker_reload keeps listener configs) on broker b. Returns 0
 * and *out (owned by this module's list; close with sn_gw_close_all), or a
 * negative error (logged). */
int sn_gw_open(struct broker *b, const struct cfg_listener *lc, struct sn_gw **out);

/* Close every gateway sn_gw_open opened: drops each client's link (its
 * will is published), ends clean sessions, closes the sockets. */
void sn_gw_close_all(void);

/* SIGHUP: DTLS listeners read their certificates, keys, CRL and psk_file
 * again (sessions open keep the old ones; a bad file keeps the old ones
 * and is logged). */
void sn_gw_reload_all(void);

/* One gateway's figures, for the metrics and status endpoints. */
struct sn_gw_figures {
    const char *name;      /* "addr:port", borrowed until the next loop turn */
    const char *transport; /* "udp", "dtls" or "serial" */
    uint64_t clients;      /* known clients, any state */
    uint64_t sleepers;     /* asleep or awake (MQTT-SN 1.2 section 6.14) */
    uint64_t malformed;    /* datagrams dropped as malformed */
    uint64_t unexpected;   /* well-formed, not allowed in the sender's state */
    uint64_t sleep_dropped;
    uint64_t topics_full;
    uint64_t forwarded;
    uint64_t amp_blocked;    /* not sent: the peer had not proven its address */
    uint64_t unproven;       /* clients that have not proven their address (yet) */
    uint64_t evicted;        /* unproven clients evicted: mqttsn_max_unproven_clients */
    uint64_t sessions_discarded; /* durable sessions such clients left, discarded for newer */
    uint64_t fwd_refused;    /* Encapsulated Messages from addresses not listed */
    uint64_t refused;        /* CONNECTs over mqttsn_max_clients[_per_address] */
    uint64_t framing_errors; /* serial: octets or frames the framing threw away */
    uint64_t crc_errors;     /* serial: slip frames with a bad CRC, XBee bad checksums */
    uint64_t octets_in;      /* serial */
    uint64_t octets_out;     /* serial */
    uint64_t dtls_sessions;    /* dtls: sessions held now, handshaking ones included */
    uint64_t dtls_handshaking; /* dtls: of those, handshake not finished */
    uint64_t dtls_cookies;     /* dtls: HelloVerifyRequests sent */
    uint64_t dtls_established; /* dtls: handshakes finished */
    uint64_t dtls_failed;      /* dtls: handshakes and sessions that failed */
    uint64_t dtls_refused;     /* dtls: ClientHellos dropped at a cap */
    uint64_t dtls_deferred;    /* dtls: handshake datagrams put off by the CPU budget */
};

/* Figures of the i-th open gateway (0-based). False past the last one. */
bool sn_gw_figures_get(size_t i, struct sn_gw_figures *out);

#endif
