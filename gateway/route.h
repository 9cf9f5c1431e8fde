/* route.h - the router: subscription tree and retained messages.
 *
 * The router maps topic filters to endpoints and retained topics to
 * messages. An endpoint is anything that can take a message (an MQTT session,
 * an MQTT-SN session, a bridge uplink): it embeds a struct route_ep and the
 * router never knows which kind it is talking to.
 *
 * Filters are stored in a tree with one node per topic level; matching a
 * topic walks the tree once, following the exact level, '+' and '#'
 * children, and yields each endpoint once with the highest QoS of all its
 * matching subscriptions [MQTT-3.3.5-1]. A filter starting with a wildcard
 * does not match a '$' topic [MQTT-4.7.2-1].
 *
 * Retained messages hang off the same kind of tree keyed by topic name, so a
 * wildcard subscription finds its retained messages by walking only the
 * branches its filter can match.
 *
 * Loop thread only. Not reentrant: do not change subscriptions from inside a
 * callback of route_retain_match, and treat the array from route_match as
 * valid only until the next call into the router. */
#ifndef ROUTE_H
#define ROUTE_H

#include "gw_bytes.h"
#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Embedded in every endpoint. The router owns match_gen / match_idx (used
 * to report each endpoint once per match); the endpoint sets nothing here
 * but zeroes the struct at creation. */
struct route_ep {
    uint32_t match_gen;
    uint32_t match_idx;
};

/* One endpoint that a topic matched. */
struct route_hit {
    struct route_ep *ep;
    uint8_t qos;      /* highest QoS of the endpoint's matching subscriptions */
    uint8_t options;  /* options byte of the subscription that gave qos */
    uint32_t sub_id;  /* its subscription identifier (v5), 0 = none */
};

struct route;

/* Create an empty router. Returns 0 and *out, or -ENOMEM. */
int route_create(struct route **out);

/* Free the router, its subscriptions and its references to retained
 * messages. Endpoints are not touched. NULL is a no-op. */
void route_destroy(struct route *r);

/* Add or replace ep's subscription to filter (validated by the caller).
 * *replaced (may be NULL) tells whether one existed [MQTT-3.8.4-3].
 * Returns 0 or -ENOMEM (nothing changed then). */
int route_sub_add(struct route *r, struct gw_bytes filter, struct route_ep *ep, uint8_t qos,
                  uint8_t options, uint32_t sub_id, bool *replaced);

/* Remove ep's subscription to filter. Returns 0 or -ENOENT. Empty tree
 * nodes are freed. */
int route_sub_del(struct route *r, struct gw_bytes filter, struct route_ep *ep);

/* Number of subscriptions in the tree. */
size_t route_sub_count(const struct route *r);

/* Match topic (a valid topic name). Writes *hits (borrowed: valid until the
 * next call into r) and returns the number of endpoints, or -ENOMEM. */
ssize_t route_match(struct route *r, struct gw_bytes topic, const struct route_hit **hits);

/* Store m as the retained message of its topic, taking a new reference, and
 * drop the one it replaces. A zero-length payload clears the topic's
 * retained message instead [MQTT-3.3.1-10] [MQTT-3.3.1-11]. Returns 0 or
 * -ENOMEM. */
int route_retain_set(struct route *r, struct msg *m);

/* Number of retained messages. */
size_t route_retain_count(const struct route *r);

typedef void route_retain_cb(void *arg, struct msg *m);

/* Call cb for every retained message whose topic filter matches (with the
 * '$' rule). The msg is borrowed: take a reference to keep it. */
void route_retain_match(struct route *r, struct gw_bytes filter, route_retain_cb *cb, void *arg);

#endif
