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

#endif
