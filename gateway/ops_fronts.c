/* ops_fronts.c - the front-ends' metric families and status members
 * (ops_fronts.h). The numbers are the ones $SYS publishes
 * (bridge/bridge_sys.c) and the MQTT-SN gateway counts (sn_gw.c). */
#include "ops_fronts.h"

#include "bridge.h"
#include "lsn.h"
#include "mqtt_fe.h"
#include "prom.h"
#include "sn_gw.h"

#include <stdio.h>
#include <string.h>

static char *two_labels(char *lab, size_t cap, const char *k1, const char *v1, const char *k2,
                        const char *v2)
{
    lab[0] = '\0';
    prom_label(lab, cap, k1, v1);
    return prom_label(lab, cap, k2, v2);
}

/* Samples of tern_connections, whose family ops_broker.c announced last. */
static void connection_samples(struct ops_fronts *f, struct http_reply *r)
{
    char lab[160];
    for (const struct lsn *l = f->mqtt ? f->mqtt->lsns : NULL; l; l = l->next) {
        prom_u64(r, "tern_connections",
                 two_labels(lab, sizeof(lab), "protocol", l->cfg->protocol, "listener", l->name),
                 l->n_conns);
    }
    struct sn_gw_figures g;
    for (size_t i = 0; sn_gw_figures_get(i, &g); i++) {
        prom_u64(r, "tern_connections",
                 two_labels(lab, sizeof(lab), "protocol", "mqttsn", "listener", g.name), g.clients);
    }
}

struct bridge_fam {
    const char *name;
    const char *type;
    const char *help;
};

enum {
    BF_UP,
    BF_BACKLOG,
    BF_BACKLOG_BYTES,
    BF_INFLIGHT,
    BF_OLDEST,
    BF_RATE,
    BF_CONNECTS,
    BF_SENT,
    BF_ACKED,
    BF_RECEIVED,
    BF_REFUSED,
    BF_REFUSED_IN,
    BF_N
};

static const struct bridge_fam bridge_fams[BF_N] = {
        {"tern_bridge_up", "gauge", "1 when the bridge's uplink is connected"},
        {"tern_bridge_backlog_messages", "gauge",
         "Messages waiting for upstream (queued + in flight)"},
        {"tern_bridge_backlog_bytes", "gauge", "Payload bytes waiting for upstream"},
        {"tern_bridge_inflight_messages", "gauge", "Messages sent upstream, not yet acknowledged"},
        {"tern_bridge_oldest_message_age_seconds", "gauge",
         "Age of the oldest message waiting for upstream"},
        {"tern_bridge_replay_rate_messages_per_second", "gauge",
         "Messages acknowledged upstream per second over the last sys_interval"},
        {"tern_bridge_connects_total", "counter", "Connections the upstream accepted"},
        {"tern_bridge_messages_sent_total", "counter",
         "PUBLISH packets sent upstream (resends too)"},
        {"tern_bridge_messages_acknowledged_total", "counter",
         "Messages the upstream acknowledged"},
        {"tern_bridge_messages_received_total", "counter", "PUBLISH packets from the upstream"},
        {"tern_bridge_refused_total", "counter",
         "Local publishes refused: backlog full, policy refuse"},
        {"tern_bridge_inbound_refused_total", "counter",
         "Inbound messages not acknowledged: the store refused them"},
};

static double bridge_value(const struct bridge_figures *b, int k)
{
    switch (k) {
    case BF_UP:
        return b->connected ? 1 : 0;
    case BF_BACKLOG:
        return (double)b->backlog_messages;
    case BF_BACKLOG_BYTES:
        return (double)b->backlog_bytes;
    case BF_INFLIGHT:
        return (double)b->inflight;
    case BF_OLDEST:
        return (double)b->oldest_age_s;
    case BF_RATE:
        return b->replay_rate;
    case BF_CONNECTS:
        return (double)b->connects;
    case BF_SENT:
        return (double)b->sent;
    case BF_ACKED:
        return (double)b->acknowledged;
    case BF_RECEIVED:
        return (double)b->received;
    case BF_REFUSED:
        return (double)b->refused;
    default:
        return (double)b->refused_in;
    }
}

static void bridge_families(struct ops_fronts *f, struct http_reply *r)
{
    struct bridge_figures b;
    char lab[160];
    for (int k = 0; k < BF_N; k++) {
        prom_family(r, bridge_fams[k].name, bridge_fams[k].type, bridge_fams[k].help);
        for (size_t i = 0; bridge_figures_get(f->bridges, i, &b); i++) {
            lab[0] = '\0';
            prom_f64(r, bridge_fams[k].name, prom_label(lab, sizeof(lab), "bridge", b.name),
                     bridge_value(&b, k));
        }
    }
    static const char *const states[] = {"connected", "connecting", "disconnected", "stopped"};
    prom_family(r, "tern_bridge_state", "gauge", "1 for the bridge's current state");
    for (size_t i = 0; bridge_figures_get(f->bridges, i, &b); i++) {
        for (size_t s = 0; s < 4; s++) {
            prom_u64(r, "tern_bridge_state",
                     two_labels(lab, sizeof(lab), "bridge", b.name, "state", states[s]),
                     strcmp(b.state, states[s]) == 0);
        }
    }
    prom_family(r, "tern_bridge_messages_dropped_total", "counter",
                "Messages the bridge dropped, by reason");
    for (size_t i = 0; bridge_figures_get(f->bridges, i, &b); i++) {
        const char *reasons[] = {"backlog_full", "too_old", "expired", "too_large", "rejected"};
        const uint64_t v[] = {b.dropped_full, b.dropped_age, b.dropped_expired, b.dropped_too_large,
                              b.dropped_rejected};
        for (size_t k = 0; k < 5; k++) {
            prom_u64(r, "tern_bridge_messages_dropped_total",
                     two_labels(lab, sizeof(lab), "bridge", b.name, "reason", reasons[k]), v[k]);
        }
    }
}

static void sn_families(struct http_reply *r)
{
    enum { N = 17, N_GAUGES = 3, FIRST_SERIAL = 13 };
    static const char *const names[N] = {"tern_mqttsn_clients",
                                         "tern_mqttsn_sleeping_clients",
                                         "tern_mqttsn_unproven_clients",
                                         "tern_mqttsn_malformed_total",
                                         "tern_mqttsn_unexpected_total",
                                         "tern_mqttsn_sleep_buffer_dropped_total",
                                         "tern_mqttsn_registrations_refused_total",
                                         "tern_mqttsn_forwarded_total",
                                         "tern_mqttsn_unproven_not_sent_total",
                                         "tern_mqttsn_forwarder_refused_total",
                                         "tern_mqttsn_connects_refused_total",
                                         "tern_mqttsn_unproven_evicted_total",
                                         "tern_mqttsn_unproven_sessions_discarded_total",
                                         "tern_mqttsn_framing_errors_total",
                                         "tern_mqttsn_crc_errors_total",
                                         "tern_mqttsn_serial_received_bytes_total",
                                         "tern_mqttsn_serial_sent_bytes_total"};
    static const char *const helps[N] = {
            "MQTT-SN clients known to the gateway, any state",
            "MQTT-SN clients asleep or awake (MQTT-SN 1.2 section 6.14)",
            "MQTT-SN clients that have not proven their source address",
            "Datagrams dropped as malformed (not MQTT-SN 1.2)",
            "Well-formed messages not allowed in the sender's state",
            "Messages dropped from a full sleep buffer",
            "REGISTERs refused: the client's topic registry was full",
            "Messages that came through a forwarder (MQTT-SN 1.2 section 5.5)",
            "Datagrams not sent: the peer had not proven its address (anti-amplification)",
            "Encapsulated Messages from addresses not in mqttsn_forwarder",
            "CONNECTs refused over mqttsn_max_clients or mqttsn_max_clients_per_address",
            "Unproven clients evicted for a new one over mqttsn_max_unproven_clients",
            "Durable sessions left by unproven clients, discarded for newer ones",
            "Serial transports: octets or frames the framing threw away",
            "Serial transports: frames with a bad CRC (slip) or checksum (xbee)",
            "Serial transports: octets read from the port",
            "Serial transports: octets written to the port"};
    char lab[160];
    struct sn_gw_figures g;
    for (size_t k = 0; k < N; k++) {
        prom_family(r, names[k], k < N_GAUGES ? "gauge" : "counter", helps[k]);
        for (size_t i = 0; sn_gw_figures_get(i, &g); i++) {
            if (k >= FIRST_SERIAL && strcmp(g.transport, "serial") != 0) {
                continue; /* a UDP listener has no framing */
            }
            const uint64_t v[N] = {g.clients,     g.sleepers,           g.unproven,
                                   g.malformed,   g.unexpected,         g.sleep_dropped,
                                   g.topics_full, g.forwarded,          g.amp_blocked,
                                   g.fwd_refused, g.refused,            g.evicted,
                                   g.sessions_discarded,                g.framing_errors,
                                   g.crc_errors,  g.octets_in,          g.octets_out};
            prom_u64(r, names[k],
                     two_labels(lab, sizeof(lab), "listener", g.name, "transport", g.transport),
                     v[k]);
        }
    }
}

/* MQTT-SN over DTLS listeners (issue 12): sessions, and the ClientHellos
 * that cost only a cookie. */
static void sn_dtls_families(struct http_reply *r)
{
    enum { N = 7 };

    static const char *const names[N] = {"tern_mqttsn_dtls_handshake_deferred_total",
                                         "tern_mqttsn_dtls_sessions",
                                         "tern_mqttsn_dtls_handshaking",
                                         "tern_mqttsn_dtls_cookies_sent_total",
                                         "tern_mqttsn_dtls_established_total",
                                         "tern_mqttsn_dtls_failed_total",
                                         "tern_mqttsn_dtls_refused_total"};
    static const char *const helps[N] = {
            ("Handshake datagrams put off: handshake CPU budget spent (queued for the next "
             "10 ms, dropped when 64 wait)"),
            "DTLS sessions held, handshaking ones included",
            "DTLS sessions whose handshake has not finished",
            "HelloVerifyRequests sent: ClientHellos without a valid cookie (no state kept)",
            "DTLS handshakes that finished",
            "DTLS handshakes and sessions that failed (wrong key, unknown identity, timeout...)",
            "ClientHellos dropped at mqttsn_max_clients, the per-address cap or the handshake cap"};
    struct sn_gw_figures g;
    for (size_t k = 0; k < N; k++) {
        prom_family(r, names[k], k == 1 || k == 2 ? "gauge" : "counter", helps[k]);
        for (size_t i = 0; sn_gw_figures_get(i, &g); i++) {
            if (strcmp(g.transport, "dtls") != 0) {
                continue;
            }
            const uint64_t v[N] = {g.dtls_deferred, g.dtls_sessions,    g.dtls_handshaking,
                                   g.dtls_cookies,  g.dtls_established, g.dtls_failed,
                                   g.dtls_refused};
            char lab[120] = "";
            prom_u64(r, names[k], prom_label(lab, sizeof(lab), "listener", g.name), v[k]);
        }
    }
}

static void fronts_metrics(void *arg, struct http_reply *r)
{
    struct ops_fronts *f = arg;
    connection_samples(f, r);
    bridge_families(f, r);
    sn_families(r);
    sn_dtls_families(r);
}

static void fronts_status(void *arg, struct http_reply *r)
{
    struct ops_fronts *f = arg;
    const char *sep = "";
    (void)http_body_append(r, ",\"listeners\":[", 14);
    for (const struct lsn *l = f->mqtt ? f->mqtt->lsns : NULL; l; l = l->next) {
        /* mqtt or websockets, as configured */
        (void)http_body_printf(r, "%s{\"protocol\":\"%s\",\"address\":", sep, l->cfg->protocol);
        ops_json_str(r, l->name);
        (void)http_body_printf(r, ",\"connections\":%zu}", l->n_conns);
        sep = ",";
    }
    struct sn_gw_figures g;
    for (size_t i = 0; sn_gw_figures_get(i, &g); i++) {
        (void)http_body_printf(r, "%s{\"protocol\":\"mqttsn\",\"address\":", sep);
        ops_json_str(r, g.name);
        (void)http_body_printf(r,
                               ",\"transport\":\"%s\",\"clients\":%llu,\"sleeping\":%llu,"
                               "\"unproven\":%llu}",
                               g.transport, (unsigned long long)g.clients,
                               (unsigned long long)g.sleepers, (unsigned long long)g.unproven);
        sep = ",";
    }
    (void)http_body_append(r, "],\"bridges\":[", 13);
    struct bridge_figures b;
    for (size_t i = 0; bridge_figures_get(f->bridges, i, &b); i++) {
        (void)http_body_printf(r, "%s{\"name\":", i ? "," : "");
        ops_json_str(r, b.name);
        (void)http_body_printf(r,
                               ",\"state\":\"%s\",\"backlog_messages\":%llu,"
                               "\"backlog_bytes\":%llu,\"inflight\":%llu,"
                               "\"oldest_age_seconds\":%llu,\"replay_rate\":%.1f}",
                               b.state, (unsigned long long)b.backlog_messages,
                               (unsigned long long)b.backlog_bytes, (unsigned long long)b.inflight,
                               (unsigned long long)b.oldest_age_s, b.replay_rate);
    }
    (void)http_body_append(r, "]", 1);
}

struct ops_source ops_fronts_source(struct ops_fronts *f)
{
    struct ops_source s = {.metrics = fronts_metrics, .status = fronts_status, .arg = f};
    return s;
}
