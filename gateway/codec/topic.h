/* topic.h - MQTT topic names and filters (L0: pure, no allocation).
 *
 * Rules from MQTT 3.1.1 section 4.7 (identical in 5.0 section 4.7), and the
 * shared subscription form "$share/{ShareName}/{filter}" of MQTT 5.0
 * section 4.8.2. */
#ifndef TOPIC_H
#define TOPIC_H

#include "gw_bytes.h"

#include <stdbool.h>

/* A topic name as carried in PUBLISH: at least one character
 * [MQTT-4.7.3-1], no wildcard characters [MQTT-4.7.1-1], valid UTF-8 with no
 * U+0000 [MQTT-4.7.3-2], at most 65535 bytes [MQTT-4.7.3-3]. */
bool topic_name_valid(struct gw_bytes name);

/* A topic filter as carried in SUBSCRIBE / UNSUBSCRIBE: at least one
 * character, '#' only as the whole last level [MQTT-4.7.1-2], '+' only as a
 * whole level [MQTT-4.7.1-3], valid UTF-8 with no U+0000. */
bool topic_filter_valid(struct gw_bytes filter);

/* True if filter matches topic name. A filter starting with a wildcard does
 * not match a topic starting with '$' [MQTT-4.7.2-1]. Both inputs are assumed
 * valid. */
bool topic_matches(struct gw_bytes filter, struct gw_bytes topic);

/* True if the filter has a '+' or '#' anywhere. */
bool topic_has_wildcard(struct gw_bytes filter);

/* True if filter starts with "$share/": it is meant as a shared
 * subscription (MQTT 5.0 section 4.8.2) and topic_share_parse decides
 * whether it is a valid one. "$share" alone is an ordinary filter. */
bool topic_is_share(struct gw_bytes filter);

/* True if filter can match a "$SYS" topic: its first level is "$SYS" (a
 * wildcard first level matches no topic starting with '$' [MQTT-4.7.2-1]);
 * for "$share/{ShareName}/{filter}" the filter part decides. */
bool topic_filter_reads_sys(struct gw_bytes filter);

/* Split a shared subscription filter "$share/{ShareName}/{filter}". Valid
 * when: it starts with "$share/"; ShareName is at least one character and
 * has no '/', '+' or '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]; a '/' follows it;
 * the rest is a valid topic filter (topic_filter_valid, so "$share/g" and
 * "$share/g/" are not); the whole is valid UTF-8 and at most 65535 bytes.
 * Returns true and the views *share_name and *filter (into the input,
 * which they borrow); on false the out-params are untouched. Either
 * out-param may be NULL. */
bool topic_share_parse(struct gw_bytes full, struct gw_bytes *share_name, struct gw_bytes *filter);

#endif
