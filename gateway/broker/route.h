/* route.h - the router: subscription tree, shared subscriptions and
 * retained messages.
 *
 * The router maps topic filters to endpoints and retained topics to
 * messages. An endpoint is anything that can take a message (an MQTT session,
 * an MQTT-SN session, a bridge uplink): it embeds a struct route_ep and the
 * router never knows which kind it is talking to.
 *
 * Filters are stored in a tree with one node per topic level; matching a
 * topic walks the tree once, following the exact level, '+' and '#'
 * children, and yields each endpoint once with the highest QoS of all its
 * matching subscriptions [MQTT-3.3.5-1] and the Subscription Identifiers of
 * all of them [MQTT-3.3.4-4] (route_hit_ids). A filter starting with a wildcard
 * does not match a '$' topic [MQTT-4.7.2-1].
 *
 * Retained messages hang off the same kind of tree keyed by topic name, so a
 * wildcard subscription finds its retained messages by walking only the
 * branches its filter can match.
 *
 * Shared subscriptions (MQTT 5.0 section 4.8.2): route_sub_add and
 * route_sub_del take the "$share/{ShareName}/{filter}" form as it came in
 * SUBSCRIBE / UNSUBSCRIBE (topic_is_share tells it apart), so sessions
 * store, restore and remove shared subscriptions like any other, by their
 * full filter string. The subscription joins the group (ShareName, filter):
 * the group lives in the node of filter, with its members in subscription
 * order and a round-robin cursor. route_match reports ONE member of every
 * matching group per message, as a hit with shared == true, beside the
 * normal hits; the '$' rule applies to the filter part ("$share/g/#" does
 * not match "$SYS/x"). An endpoint may be a member of several groups and a
 * normal subscriber at once: it then gets one hit per path (the spec
 * allows the copies), so the hit array may hold the same ep more than once;
 * normal hits are still one per ep. Retained messages are never sent on a
 * shared subscription (section 4.8.2): do not call route_retain_match for
 * one. A group has a handle (route_hit.group_idx, route_share_find) for
 * route_share_next, which lets the caller pass over members that cannot
 * take the message now (offline, window full) and ask for another.
 *
 * Loop thread only. Not reentrant: do not change subscriptions from inside a
 * callback of route_retain_match or route_share_next, and treat the array
 * from route_match as valid only until the next call into the router other
 * than route_share_next, route_share_find, route_share_filter and the
 * counters (those leave it alone). */
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

/* route_hit.group_idx of a normal hit; also "no group" in general. */
#define ROUTE_SHARE_NONE UINT32_MAX

/* One endpoint that a topic matched. A normal hit (shared == false) stands
 * for all the endpoint's matching non-shared subscriptions, one hit per ep.
 * A shared hit stands for one group: ep is the member whose turn it is
 * (the group's cursor has moved past it), qos / options / sub_id are that
 * member's subscription. */
struct route_hit {
    struct route_ep *ep;
    uint8_t qos;        /* highest QoS of the endpoint's matching subscriptions */
    uint8_t options;    /* options byte of the subscription that gave qos */
    bool shared;        /* from a shared subscription group */
    uint32_t sub_id;    /* first non-zero subscription identifier (v5), 0 = none */
    uint32_t group_idx; /* shared: the group's handle; else ROUTE_SHARE_NONE */
    uint32_t more_ids;  /* more identifiers than sub_id (route_hit_ids), 0 = none */
};

struct route;

/* Create an empty router. Returns 0 and *out, or -ENOMEM. */
int route_create(struct route **out);

/* Free the router, its subscriptions and its references to retained
 * messages. Endpoints are not touched. NULL is a no-op. */
void route_destroy(struct route *r);

/* Add or replace ep's subscription to filter (validated by the caller).
 * *replaced (may be NULL) tells whether one existed [MQTT-3.8.4-3].
 * A filter starting with "$share/" is a shared subscription: ep joins (or
 * updates its membership of) the group (ShareName, filter) and new members
 * go last in the round robin; the caller validates it with
 * topic_share_parse (an invalid one gets -EINVAL here, but the SUBSCRIBE
 * handler should have refused it with reason code 0x8F already) and
 * enforces the v5 rule that No Local is a protocol error on it
 * [MQTT-3.8.3-4]. Returns 0, -EINVAL or -ENOMEM (nothing changed then). */
int route_sub_add(struct route *r, struct gw_bytes filter, struct route_ep *ep, uint8_t qos,
                  uint8_t options, uint32_t sub_id, bool *replaced);

/* Remove ep's subscription to filter ("$share/..." form included: ep
 * leaves the group, which is freed with its last member and its handle;
 * whose turn it is does not change, or passes to the member after ep if it
 * was ep's). Returns 0 or -ENOENT. Empty tree nodes are freed. */
int route_sub_del(struct route *r, struct gw_bytes filter, struct route_ep *ep);

/* Number of subscriptions in the tree, shared ones (group members)
 * included. */
size_t route_sub_count(const struct route *r);

/* Number of those whose filter can match a $SYS topic (first level "$SYS",
 * shared ones included): while it is 0, nobody reads $SYS and its timer
 * rests (sys.c). */
size_t route_sys_sub_count(const struct route *r);

/* Match topic (a valid topic name). Writes *hits (borrowed: valid until the
 * next call into r, see the top of this file) and returns the number of
 * hits, or -ENOMEM: one per endpoint with normal subscriptions, plus one per
 * matching shared group (whose cursor advances). Allocates only to grow its
 * arrays, so a warm router matches without allocating. */
ssize_t route_match(struct route *r, struct gw_bytes topic, const struct route_hit **hits);

/* Every Subscription Identifier of hit h of the last route_match (the
 * non-zero ones of all the endpoint's matching subscriptions, each as
 * often as a subscription gave it; a shared hit has its member's only).
 * Writes up to cap of them to out and returns how many there are (may be
 * more than cap). Costs nothing for a hit with more_ids == 0. */
size_t route_hit_ids(const struct route *r, const struct route_hit *h, uint32_t *out, size_t cap);

/* ---- shared subscription groups ---------------------------------------- *
 *
 * A group handle (uint32_t) is valid from the group's creation until its
 * last member leaves; after that the number may name a different group.
 * Use one within a routing pass (route_match, then route_share_next for
 * its shared hits) or right after route_share_find; to keep track of a
 * group for longer (an unacknowledged message that came through it), keep
 * its filter (route_share_filter) and look it up again with
 * route_share_find. A stale handle that names no group is harmless: the
 * calls below then report "no group". */

/* Decides whether a group member can take the message now. cand is the
 * member as a hit (ep, its qos / options / sub_id, shared, group_idx),
 * borrowed for the call. Must not change subscriptions. */
typedef bool route_share_ok_cb(void *arg, const struct route_hit *cand);

/* The next member of group group_idx, round robin, for which ok(arg, cand)
 * returns true (ok == NULL: the member whose turn it is). Each member is offered at
 * most once per call, starting with the one whose turn it is, and the
 * cursor moves past every member offered; the cursor is unchanged when
 * nobody is willing.
 *
 * Typical use, in the loop over route_match's hits: if hits[i].shared and
 * hits[i].ep cannot take the message, call route_share_next for
 * hits[i].group_idx with an ok that refuses the same way (the member of the
 * hit is offered again last, and refused again). When a member's session
 * ends with QoS 1 messages it got through a group unacknowledged, the
 * server SHOULD send each to another member (section 4.8.2): look the group
 * up with route_share_find and call route_share_next with an ok that
 * refuses the leaving session. Not so for QoS 2 (awaiting PUBREC): it MUST
 * NOT go to another member [MQTT-4.8.2-5]; nor for a message a member
 * refused with a negative PUBACK / PUBREC [MQTT-4.8.2-6].
 *
 * Returns the member's ep and, if out is not NULL, its hit in *out; or
 * NULL (out untouched) when no member is willing or the handle names no
 * group. NULL leaves the choice to the caller: drop the message for this
 * group (QoS 0) or queue it on a member that is offline (for QoS 1/2 the
 * spec lets the server keep it for a disconnected session). Does not touch
 * route_match's hit array; do not change subscriptions inside ok. */
struct route_ep *route_share_next(struct route *r, uint32_t group_idx, route_share_ok_cb *ok,
                                  void *arg, struct route_hit *out);

/* The handle of group (share_name, filter): the two parts of
 * "$share/{share_name}/{filter}" as topic_share_parse splits them.
 * Returns 0 and *group_idx, or -ENOENT (no such group: it has no
 * members). */
int route_share_find(const struct route *r, struct gw_bytes share_name, struct gw_bytes filter,
                     uint32_t *group_idx);

/* The full filter "$share/{ShareName}/{filter}" of group group_idx, as its
 * first member subscribed it (a view: borrowed, valid while the group
 * exists), or {NULL, 0} if the handle names no group. */
struct gw_bytes route_share_filter(const struct route *r, uint32_t group_idx);

/* Number of members of group group_idx (0: no such group). */
size_t route_share_members(const struct route *r, uint32_t group_idx);

/* Number of shared subscription groups. */
size_t route_share_count(const struct route *r);

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
