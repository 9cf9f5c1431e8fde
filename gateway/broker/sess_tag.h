/* sess_tag.h - what one delivery to a session carries besides the message:
 * the MQTT 5 Subscription Identifiers of the subscriptions it matched and,
 * for a delivery through a shared subscription, that subscription's full
 * filter.
 *
 * A message is shared by every session it goes to (msg.h); these belong to
 * one delivery, so they live apart: a queue entry or an inflight record of
 * a session holds a reference to its tag, or NULL (the common case: a
 * 3.1.1 client, or a subscription without an identifier that is not
 * shared, costs no allocation).
 *
 * Subscription Identifiers (MQTT 5.0 3.3.4): one copy of a message that
 * matched several subscriptions of a session carries the identifiers of all
 * of them [MQTT-3.3.4-3] [MQTT-3.3.4-4]; a copy sent through a shared
 * subscription carries only that subscription's [MQTT-3.3.4-5]. They are
 * fixed when the message is routed, so a message waiting in the queue or
 * sent again after a reconnect keeps the identifiers it was routed with.
 *
 * The share filter lets a member that leaves hand the message back to its
 * group (broker_share.c, MQTT 5.0 section 4.8.2).
 *
 * Immutable once created, reference counted; loop thread only. */
#ifndef SESS_TAG_H
#define SESS_TAG_H

#include "gw_bytes.h"

#include <stddef.h>
#include <stdint.h>

#define SESS_TAG_IDS_MAX 64u /* identifiers kept per delivery; more are dropped */

struct sess_tag {
    uint32_t refs;
    uint16_t n_ids;
    uint16_t share_len; /* 0: not through a shared subscription */
    uint32_t ids[];     /* n_ids identifiers (1..268435455), then the share filter */
};

/* Create a tag with one reference owned by the caller: ids[0..n_ids) (at
 * most SESS_TAG_IDS_MAX are kept, zeroes skipped) and share (the full
 * "$share/..." filter, or {NULL, 0}; at most 65535 bytes). Returns NULL when
 * out of memory, or when there is nothing to keep (no id, no share). */
struct sess_tag *sess_tag_create(const uint32_t *ids, size_t n_ids, struct gw_bytes share);

/* Add a reference; returns t (NULL stays NULL). */
struct sess_tag *sess_tag_ref(struct sess_tag *t);

/* Drop a reference; the last frees. NULL is a no-op. */
void sess_tag_unref(struct sess_tag *t);

/* The share filter of t ({NULL, 0} when t is NULL or not shared); a view
 * valid while the caller holds a reference. */
struct gw_bytes sess_tag_share(const struct sess_tag *t);

#endif
