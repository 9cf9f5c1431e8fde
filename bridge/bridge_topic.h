/* bridge_topic.h - a bridge's topic lines as filters and topic mappings
 * (pure: no allocation, no I/O, no logging).
 *
 * Each `topic PATTERN DIR QOS LOCAL_PREFIX REMOTE_PREFIX` line of a
 * connection block (struct cfg_bridge_topic, validated by the config) has a
 * local filter LOCAL_PREFIX + PATTERN and a remote filter REMOTE_PREFIX +
 * PATTERN. The bridge subscribes on this broker with the local filter of
 * every out/both line and upstream with the remote filter of every in/both
 * line. A message is mapped with the first line of its direction whose
 * filter matches, mosquitto's rule: strip that side's prefix, prepend the
 * other side's. The caller takes the QoS (and anything else per line) from
 * the line index returned.
 *
 * One case differs from mosquitto: a filter "P/#" also matches the topic
 * "P" itself (MQTT 4.7.1.2), which does not start with the prefix "P/";
 * mosquitto then prepends the other prefix to the whole topic. Here "P"
 * maps to the other prefix without its trailing '/' ("local/" + "#" <->
 * "remote/" + "#": "local" <-> "remote"), and the line does not match when
 * the other side has no such prefix.
 *
 * Topics and results are MQTT topic names (at most 65535 bytes). Buffers are
 * the caller's: a result is written NUL-terminated, and the map functions
 * also use the buffer as scratch for the line's filter while matching, so
 * cap must hold the longer of the two plus 1 (BRIDGE_TOPIC_BUF always
 * does); the topic given must not point into that buffer. Any thread; no
 * state. */
#ifndef BRIDGE_TOPIC_H
#define BRIDGE_TOPIC_H

#include "cfg_bridge.h"
#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BRIDGE_TOPIC_MAX 65535u                  /* longest topic name or filter */
#define BRIDGE_TOPIC_BUF (BRIDGE_TOPIC_MAX + 1u) /* a buffer always large enough */

/* True if line t sends local messages upstream (out or both). */
bool bridge_topic_is_out(const struct cfg_bridge_topic *t);

/* True if line t brings upstream messages here (in or both). */
bool bridge_topic_is_in(const struct cfg_bridge_topic *t);

/* Write line t's local filter (LOCAL_PREFIX + PATTERN) into buf (cap
 * bytes, NUL-terminated). Returns its length, or -ENOSPC when cap is not
 * larger than that (buf is then untouched). */
ssize_t bridge_topic_local_filter(const struct cfg_bridge_topic *t, char *buf, size_t cap);

/* The same for the remote filter (REMOTE_PREFIX + PATTERN). */
ssize_t bridge_topic_remote_filter(const struct cfg_bridge_topic *t, char *buf, size_t cap);

/* Map local_topic (borrowed view) to its upstream name with the first
 * out/both line of b (borrowed) whose local filter matches it.
 * Returns the length of the name written to buf (NUL-terminated) and sets
 * *line (may be NULL) to the index of that line in b->topics; or
 *   -ENOENT          no out/both line matches (do not forward),
 *   -EINVAL          local_topic is not a valid topic name,
 *   -ENOSPC          cap is too small (see above),
 *   GW_E_TOO_LARGE   the mapped name would exceed 65535 bytes.
 * On an error *line is untouched and buf holds nothing useful. */
ssize_t bridge_topic_map_out(const struct cfg_bridge *b, struct gw_bytes local_topic, char *buf,
                             size_t cap, size_t *line);

/* The other way: map remote_topic with the first in/both line of b whose
 * remote filter matches it. Returns as bridge_topic_map_out. */
ssize_t bridge_topic_map_in(const struct cfg_bridge *b, struct gw_bytes remote_topic, char *buf,
                            size_t cap, size_t *line);

#endif
