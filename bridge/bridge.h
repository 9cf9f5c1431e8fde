/* bridge.h - store-and-forward bridges to upstream brokers (mosquitto's
 * `connection` blocks).
 *
 * Each configured connection is an MQTT client of an upstream broker (TCP or
 * TLS, 3.1.1 or 5.0) and, on this broker, a durable endpoint subscribed to
 * its `out` topics. While the uplink is down the messages wait in the
 * endpoint's queue in the store; when it returns they are sent in order, as
 * fast as the inflight window and the replay budget allow, and each leaves
 * the store only when the upstream acknowledged it. `in` topics are
 * subscribed upstream and published here. See bridge_priv.h for the parts.
 *
 * gateway/main.c calls these; nothing in gateway/ knows bridges. Loop
 * thread only. */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct bridge;

/* Start every bridge of the broker's configuration (after persist_open,
 * which restores their sessions). Returns 0 and *out (NULL when there are
 * none), or an error (TLS files that cannot be loaded ...), logged. */
int bridge_start_all(struct broker *b, struct bridge **out);

/* Shutdown, first step (before broker_destroy): publish the "0"
 * notifications, disconnect cleanly, give the local sessions up. */
void bridge_stop_all(struct bridge *list);

/* Last step (after broker_destroy, whose store close may still call back
 * into the bridges): free them. NULL is a no-op. */
void bridge_free_all(struct bridge *list);

/* One bridge's figures, for the metrics and status endpoints (the same
 * numbers as its $SYS topics, bridge_sys.c). */
struct bridge_figures {
    const char *name;  /* connection name, borrowed from the bridge */
    const char *state; /* connected | connecting | disconnected | stopped */
    bool connected;
    uint64_t backlog_messages; /* queued + in flight, memory and disk */
    uint64_t backlog_bytes;
    uint64_t inflight;
    uint64_t oldest_age_s;
    double replay_rate; /* acknowledged per second over the last $SYS interval */
    uint64_t connects;
    uint64_t sent;
    uint64_t acknowledged;
    uint64_t received;
    uint64_t refused_in;
    uint64_t dropped_full;
    uint64_t dropped_age;
    uint64_t dropped_expired;
    uint64_t dropped_too_large;
    uint64_t dropped_rejected;
    uint64_t refused;
};

/* Figures of the i-th bridge of list (0-based). False past the last one.
 * Reads the store for the oldest message's age when it is on disk. */
bool bridge_figures_get(struct bridge *list, size_t i, struct bridge_figures *out);

#endif
