/* ops_broker.c - the broker core's figures for /metrics and
 * /api/v1/status: the same counters as $SYS (sys.c), named the Prometheus
 * way (tern_ prefix, base units, _total for counters), plus the store's
 * commit histograms and the HTTP servers' own figures. */
#include "alloc.h"
#include "broker.h"
#include "ops_priv.h"
#include "prom.h"
#include "route.h"
#include "store.h"

#include <stdio.h>

static const char *const proto_names[BROKER_PROTO_N] = {"mqtt", "mqttsn", "bridge"};
static const char *const qos_names[4] = {"-1", "0", "1", "2"};

static void counter(struct http_reply *r, const char *name, const char *help, uint64_t v)
{
    prom_family(r, name, "counter", help);
    prom_u64(r, name, NULL, v);
}

static void gauge(struct http_reply *r, const char *name, const char *help, uint64_t v)
{
    prom_family(r, name, "gauge", help);
    prom_u64(r, name, NULL, v);
}

/* One family by protocol and QoS; MQTT-SN alone has QoS -1. */
static void flow_family(struct http_reply *r, const char *name, const char *help,
                        const uint64_t (*v)[4])
{
    prom_family(r, name, "counter", help);
    for (size_t p = 0; p < BROKER_PROTO_N; p++) {
        for (size_t q = p == BROKER_PROTO_MQTTSN ? 0 : 1; q < 4; q++) {
            char lab[64] = "";
            prom_label(lab, sizeof(lab), "protocol", proto_names[p]);
            prom_label(lab, sizeof(lab), "qos", qos_names[q]);
            prom_u64(r, name, lab, v[p][q]);
        }
    }
}

static void drop_sample(struct http_reply *r, const char *reason, uint64_t v)
{
    char lab[64] = "";
    prom_u64(r, "tern_messages_dropped_total", prom_label(lab, sizeof(lab), "reason", reason), v);
}

static void broker_families(struct broker *b, struct http_reply *r)
{
    const struct broker_counters *st = &b->st;
    prom_family(r, "tern_build_info", "gauge", "Tern's version, value 1");
    prom_u64(r, "tern_build_info", "version=\"" TERN_VERSION "\"", 1);
    gauge(r, "tern_uptime_seconds", "Seconds since tern started",
          (loop_now_ms(b->loop) - b->start_ms) / 1000u);
    gauge(r, "tern_clients_connected", "Clients connected now, every protocol", b->n_clients);
    gauge(r, "tern_sessions", "Sessions known (connected and offline persistent ones)",
          b->sessions.count);
    gauge(r, "tern_clients_maximum", "Most clients connected at once since start",
          st->clients_maximum);
    counter(r, "tern_connections_accepted_total", "MQTT connections accepted",
            st->connections_accepted);
    counter(r, "tern_connections_refused_total",
            "Connections refused: max_connections or a CONNACK refusal", st->connections_refused);
    counter(r, "tern_protocol_errors_total", "Connections closed for a protocol violation",
            st->protocol_errors);
    counter(r, "tern_packets_received_total", "Control packets received, every protocol",
            st->msgs_received);
    counter(r, "tern_packets_sent_total", "Control packets sent, every protocol", st->msgs_sent);
    counter(r, "tern_received_bytes_total", "Bytes received on client connections",
            st->bytes_received);
    counter(r, "tern_sent_bytes_total", "Bytes sent on client connections", st->bytes_sent);
    flow_family(r, "tern_messages_received_total", "PUBLISH messages received",
                (const uint64_t(*)[4])b->flow.msgs_in);
    flow_family(r, "tern_messages_sent_total", "PUBLISH messages sent",
                (const uint64_t(*)[4])b->flow.msgs_out);
    flow_family(r, "tern_received_payload_bytes_total", "PUBLISH payload bytes received",
                (const uint64_t(*)[4])b->flow.bytes_in);
    flow_family(r, "tern_sent_payload_bytes_total", "PUBLISH payload bytes sent",
                (const uint64_t(*)[4])b->flow.bytes_out);
    prom_family(r, "tern_messages_dropped_total", "counter", "Messages dropped, by reason");
    drop_sample(r, "refused", st->pub_dropped); /* size limit, ACL, $SYS, too large */
    drop_sample(r, "queue_full", b->scnt.dropped_queue_full);
    drop_sample(r, "slow_consumer_qos0", b->scnt.dropped_qos0_slow);
    drop_sample(r, "expired", b->scnt.dropped_expired);
    drop_sample(r, "too_old", b->scnt.dropped_age);
    drop_sample(r, "store_quota", b->persist.dropped);
    gauge(r, "tern_inflight_messages", "QoS 1/2 messages sent and not yet acknowledged",
          b->scnt.inflight);
    gauge(r, "tern_queued_messages", "Messages waiting in session queues", b->scnt.queued);
    gauge(r, "tern_subscriptions", "Subscriptions", route_sub_count(b->route));
    gauge(r, "tern_retained_messages", "Retained messages", route_retain_count(b->route));
    gauge(r, "tern_heap_bytes", "Heap bytes allocated by tern", gw_alloc_bytes());
}

static void store_families(struct broker *b, struct http_reply *r)
{
    gauge(r, "tern_store_enabled", "1 when persistence is on", b->persist.store ? 1 : 0);
    counter(r, "tern_store_refused_total", "Durable writes refused at persistence_quota",
            b->persist.refused);
    counter(r, "tern_store_errors_total", "Store operations or commits that failed",
            b->persist.errors);
    struct store *s = b->persist.store;
    struct store_stats ss;
    if (!s || store_stats(s, &ss) < 0) {
        return;
    }
    gauge(r, "tern_store_used_bytes", "Bytes of store pages in use", ss.used_bytes);
    gauge(r, "tern_store_map_bytes", "Size of the LMDB map now", ss.map_bytes);
    gauge(r, "tern_store_quota_bytes", "persistence_quota, 0 = none",
          b->cfg->persistence_quota_bytes);
    gauge(r, "tern_store_sessions", "Sessions in the store", ss.sessions);
    gauge(r, "tern_store_queued_messages", "Queue entries in the store", ss.queued);
    gauge(r, "tern_store_messages", "Message records in the store", ss.messages);
    gauge(r, "tern_store_retained_messages", "Retained messages in the store", ss.retained);
    gauge(r, "tern_store_inflight_messages", "Inflight records in the store", ss.inflight);
    struct store_commit_figures f;
    uint64_t stalled = 0;
    store_commit_figures_get(s, &f, &stalled);
    counter(r, "tern_store_batches_total", "Batches handed to the store writer", f.submitted);
    counter(r, "tern_store_batches_failed_total", "Batches whose commit failed (not acknowledged)",
            f.failed);
    prom_family(r, "tern_store_commit_latency_seconds", "histogram",
                "Seconds from handing a batch to the writer to its completion (what an "
                "acknowledgement waits)");
    prom_histogram(r, "tern_store_commit_latency_seconds", NULL, store_latency_bounds_s,
                   f.latency_bucket, STORE_LATENCY_BUCKETS, f.latency_sum_s);
    prom_family(r, "tern_store_batch_operations", "histogram",
                "Store operations per committed batch (group commit)");
    prom_histogram(r, "tern_store_batch_operations", NULL, store_batch_bounds_ops, f.batch_bucket,
                   STORE_BATCH_BUCKETS, (double)f.batch_ops_sum);
    prom_family(r, "tern_store_commit_stalled_seconds", "gauge",
                "Seconds batches have waited with no completion, 0 when none waits");
    prom_f64(r, "tern_store_commit_stalled_seconds", NULL, (double)stalled / 1000.0);
}

static void ops_families(struct ops *o, struct http_reply *r)
{
    prom_family(r, "tern_loop_lag_seconds", "gauge",
                "How late the last heartbeat timer fired: a busy or blocked event loop");
    prom_f64(r, "tern_loop_lag_seconds", NULL, (double)o->last_lag_ms / 1000.0);
    counter(r, "tern_loop_stalls_total", "Heartbeats more than 2 s late", o->stalls);
    static const char *const names[] = {"tern_http_requests_total", "tern_http_bad_requests_total",
                                        "tern_http_connections_refused_total",
                                        "tern_http_timeouts_total"};
    static const char *const helps[] = {
            "HTTP requests answered by an endpoint",
            "HTTP requests refused by the server (malformed, method, size) or cut short",
            "HTTP connections closed at accept: the listener's connection limit",
            "HTTP connections that ran out of time"};
    for (size_t k = 0; k < 4; k++) {
        prom_family(r, names[k], "counter", helps[k]);
        for (const struct ops_lsn *ls = o->lsns; ls; ls = ls->next) {
            const struct http_counters *c = http_server_counters(ls->srv);
            const uint64_t v[4] = {c->requests, c->bad, c->refused, c->timeouts};
            char lab[128] = "";
            prom_u64(r, names[k], prom_label(lab, sizeof(lab), "listener", ls->name), v[k]);
        }
    }
    prom_family(r, "tern_connections", "gauge", "Connections open now, by protocol and listener");
    for (const struct ops_lsn *ls = o->lsns; ls; ls = ls->next) {
        char lab[128] = "";
        prom_label(lab, sizeof(lab), "protocol", "http");
        prom_u64(r, "tern_connections", prom_label(lab, sizeof(lab), "listener", ls->name),
                 http_server_conns(ls->srv));
    }
}

void ops_broker_metrics(struct ops *o, struct http_reply *r)
{
    broker_families(o->b, r);
    store_families(o->b, r);
    ops_families(o, r); /* tern_connections last: front-end sources add their samples to it */
}

void ops_broker_status(struct ops *o, struct http_reply *r)
{
    struct broker *b = o->b;
    (void)http_body_printf(r, "{\"version\":\"%s\",\"uptime_seconds\":%llu,\"ready\":%s",
                           TERN_VERSION,
                           (unsigned long long)((loop_now_ms(b->loop) - b->start_ms) / 1000u),
                           o->ready ? "true" : "false");
    char why[160] = "";
    bool ok = ops_healthy(o, why, sizeof(why));
    (void)http_body_printf(r, ",\"healthy\":%s", ok ? "true" : "false");
    if (!ok) {
        (void)http_body_append(r, ",\"unhealthy_reason\":", 20);
        ops_json_str(r, why);
    }
    (void)http_body_printf(r,
                           ",\"clients\":{\"connected\":%zu,\"sessions\":%zu,\"maximum\":%llu,"
                           "\"subscriptions\":%zu,\"retained\":%zu}",
                           b->n_clients, b->sessions.count,
                           (unsigned long long)b->st.clients_maximum, route_sub_count(b->route),
                           route_retain_count(b->route));
    struct store_stats ss;
    if (!b->persist.store || store_stats(b->persist.store, &ss) < 0) {
        (void)http_body_printf(r, ",\"store\":{\"enabled\":false}");
    } else {
        (void)http_body_printf(
                r,
                ",\"store\":{\"enabled\":true,\"used_bytes\":%llu,\"map_bytes\":%llu,"
                "\"quota_bytes\":%llu,\"over_quota\":%s,\"sessions\":%llu,\"queued\":%llu,"
                "\"messages\":%llu,\"retained\":%llu,\"inflight\":%llu,\"errors\":%llu,"
                "\"refused\":%llu,\"dropped\":%llu}",
                (unsigned long long)ss.used_bytes, (unsigned long long)ss.map_bytes,
                (unsigned long long)b->cfg->persistence_quota_bytes,
                store_over_quota(b->persist.store) ? "true" : "false",
                (unsigned long long)ss.sessions, (unsigned long long)ss.queued,
                (unsigned long long)ss.messages, (unsigned long long)ss.retained,
                (unsigned long long)ss.inflight, (unsigned long long)b->persist.errors,
                (unsigned long long)b->persist.refused, (unsigned long long)b->persist.dropped);
    }
    (void)http_body_append(r, ",\"http_listeners\":[", 19);
    for (const struct ops_lsn *ls = o->lsns; ls; ls = ls->next) {
        (void)http_body_printf(r, "%s{\"address\":", ls == o->lsns ? "" : ",");
        ops_json_str(r, ls->name);
        (void)http_body_printf(r, ",\"connections\":%zu,\"basic_auth\":%s}",
                               http_server_conns(ls->srv), ls->basic_auth ? "true" : "false");
    }
    (void)http_body_append(r, "]", 1);
}
