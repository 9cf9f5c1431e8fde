/* bridge_priv.h - one bridge connection's state, shared by bridge.c (life
 * cycle: connect, back off, fail over, keep alive), bridge_proto.c (the
 * MQTT client side of the uplink), bridge_sys.c ($SYS figures) and the
 * smaller files listed in bridge/README.md.
 *
 * The uplink's local side is an ordinary durable session (gateway/sess.h)
 * kept out of the session table, so no local client can take it over. It
 * subscribes to the local filter of every out/both topic line; its queue is
 * the backlog (on disk beyond BRIDGE_MEM_QUEUE messages); its link, while
 * the uplink is up, is the bridge itself (bridge_link_ops), which maps the
 * topic and writes the PUBLISH upstream. A message leaves the backlog only
 * when the upstream acknowledged it: that is the session's QoS 1/2 inflight
 * state, stored like any durable session's and resent with DUP on the
 * next connection. Loop thread only. */
#ifndef BRIDGE_PRIV_H
#define BRIDGE_PRIV_H

#include "bridge.h"
#include "buf.h"
#include "cfg_bridge.h"
#include "loop.h"
#include "sess.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct mqtt_pkt;
struct uplink_io;
struct uplink_tls;

/* Queued messages a bridge keeps in memory; the rest of its backlog is read
 * from the store as the window drains. */
#define BRIDGE_MEM_QUEUE          512u
/* Output bytes queued on the uplink before the backlog waits. */
#define BRIDGE_OUT_SOFT_LIMIT     (256u * 1024u)
/* This turn's output is handed over at once past this size. */
#define BRIDGE_OUT_BATCH          (64u * 1024u)
/* CONNECT sent, no CONNACK after this: give up the attempt. */
#define BRIDGE_CONNACK_TIMEOUT_MS 30000u
/* A connection up this long was not a failure: the back-off starts afresh
 * after it drops. */
#define BRIDGE_STABLE_MS 30000u
/* Short connections in a row that die with the same message first in
 * flight before it is taken for a poison message. */
#define BRIDGE_POISON_HITS 3u

enum bridge_state {
    BRIDGE_WAITING = 0, /* down, a retry is scheduled */
    BRIDGE_CONNECTING,  /* TCP / TLS in progress */
    BRIDGE_CONNACK,     /* CONNECT sent */
    BRIDGE_UP,          /* CONNACK accepted: the backlog flows */
    BRIDGE_STOPPED      /* tern is shutting down */
};

struct bridge {
    struct broker *b;
    struct cfg_bridge cfg;  /* a deep copy: bridges are restart-only */
    struct uplink_tls *tls; /* NULL: plain TCP */
    struct sess *s;         /* the local side; NULL after bridge_stop */
    struct sess_limits lim;
    struct sess_counters cnt;

    struct uplink_io *io;   /* the current attempt or connection */
    struct uplink_io *dead; /* closed, freed at the next turn */
    enum bridge_state state;
    size_t addr_idx;         /* address of the current / next attempt */
    bool *plain_level;       /* per address: it refused 0x84, send 0x04 (n_addrs) */
    bool sent_private;       /* the current attempt's CONNECT has level 0x84 */
    bool retry_now;          /* fell back: retry this address at once */
    bool connack_seen;       /* the current attempt got a CONNACK (accepting or not) */
    bool sent_will;          /* the current attempt's CONNECT carries the notification will */
    bool no_remote_will;     /* the upstream refused our $-topic will: none from now on */
    uint8_t learned_max_qos; /* 2, or 1 once the upstream kept closing on QoS 2 */
    bool subs_reconciled;    /* this run's remote filters are recorded (bridge_subs.c) */
    uint64_t suspect_seq;    /* oldest message in flight when short connections died */
    uint32_t suspect_hits;   /* short connections in a row that died with it first */
    uint64_t acked_at_up;    /* br->acked when the connection came up */
    uint32_t failures;       /* in a row, for the back-off */
    uint32_t delay_s;        /* last back-off delay */
    uint32_t gen;            /* connection number: stale deferred acks are dropped */
    uint8_t version;         /* MQTT level spoken upstream (4 or 5) */
    uint32_t max_packet_out; /* the upstream's Maximum Packet Size, 0 = none */
    bool retain_ok;          /* the upstream takes retained messages */
    uint8_t max_qos;         /* the upstream's Maximum QoS */
    uint16_t sub_pid;        /* packet id of our SUBSCRIBE */
    struct buf in;
    struct buf out;  /* packets of this loop turn, written once before sleep */
    char *topic_buf; /* BRIDGE_TOPIC_BUF bytes: mapped topic names */
    struct loop_timer retry_timer;
    struct loop_timer ka_timer;   /* CONNACK timeout, then keepalive */
    struct loop_timer rate_timer; /* replay budget refill */
    struct loop_timer sys_timer;
    struct loop_timer abandon_timer;
    struct loop_timer held_timer; /* inbound messages refused: reconnect once there is room */
    uint64_t last_rx_ms;
    uint64_t last_tx_ms;
    uint32_t acks_waiting; /* inbound acks waiting for a store commit */
    bool repump_armed;     /* a commit will pump the disk backlog again */

    /* Packet ids to give up (refused or unsendable), handled outside the
     * session call that found them. */
    uint16_t *abandon;
    size_t n_abandon;
    size_t cap_abandon;

    /* Replay budget: token buckets refilled with time (bridge_replay_*). */
    double tok_msgs;
    double tok_bytes;
    uint64_t tok_ms;

    /* Figures for $SYS and the logs. */
    uint64_t sent;      /* PUBLISH packets sent upstream (resends included) */
    uint64_t acked;     /* messages the upstream acknowledged */
    uint64_t rejected;  /* acknowledged with an MQTT 5 error reason code */
    uint64_t too_large; /* over the upstream's Maximum Packet Size */
    uint64_t unmapped;  /* cannot be mapped upstream: dropped, never sent as is */
    uint64_t downgraded; /* QoS 2 messages the upstream answered with PUBACK */
    uint64_t poison;     /* messages moved aside: the upstream closed on them every time */
    uint64_t received;  /* PUBLISH packets from upstream */
    uint64_t refused_in; /* of those, not acknowledged: the store refused them (quota) */
    uint64_t connects;
    uint64_t rate_mark_acked;
    uint64_t rate_mark_ms;
    double replay_rate; /* acknowledged messages per second, last interval */
    uint64_t up_since_ms;

    struct bridge *next;
};

/* bridge_proto.c: the MQTT client side. */
extern const struct sess_link_ops bridge_link_ops;
int bridge_proto_send_connect(struct bridge *br);
/* Handle every complete packet in br->in. Returns 0, or an error after
 * which the connection is closed (reason written to why). */
int bridge_proto_input(struct bridge *br, char *why, size_t cap);
/* Send a remote notification (retained, QoS 0) with payload "1" / "0". */
void bridge_proto_notify_remote(struct bridge *br, bool up);
int bridge_proto_send_pingreq(struct bridge *br);
int bridge_proto_send_disconnect(struct bridge *br);

/* bridge.c helpers used by bridge_proto.c. */
/* Append a packet to this turn's output (one write per loop turn: a replay
 * of thousands of messages is not thousands of system calls). */
int bridge_write(struct bridge *br, const void *p, size_t n);
/* Output bytes not yet taken by the kernel (or TLS). */
size_t bridge_out_pending(const struct bridge *br);
void bridge_up(struct bridge *br, bool session_present);
/* Close the connection with reason (logged); a retry is scheduled. */
void bridge_drop(struct bridge *br, const char *reason);
/* Give up outbound packet id pid at the next turn. */
void bridge_abandon_later(struct bridge *br, uint16_t pid);

/* An inbound PUBLISH was refused by the store (quota) and not
 * acknowledged: count it, and reconnect once the store has room so that
 * the upstream sends it again (bridge.c). */
void bridge_hold_in(struct bridge *br);
/* bridge_budget.c: the replay budget. open: may a message go now (arms the
 * refill timer when not); take: charge one message of n payload bytes;
 * fill: a full second's worth (on connect); init: at start. */
bool bridge_budget_open(struct bridge *br);
bool bridge_budget_take(struct bridge *br, uint32_t n);
void bridge_budget_fill(struct bridge *br);
void bridge_budget_init(struct bridge *br);
/* Publish the local notification "1" / "0" (retained). */
void bridge_notify_local(struct bridge *br, bool up);
const char *bridge_state_name(enum bridge_state st);

/* bridge_proto.c: the upstream refused level 0x84 (how: in words); the
 * address gets level 4 from now on and the next attempt goes at once.
 * False if the attempt did not use 0x84. */
bool bridge_fall_back_level(struct bridge *br, const char *how);

/* bridge_poison.c: the connection went down (short_lived: soon after
 * CONNACK); called after the session is detached. The message first in
 * flight, when short connections died with it BRIDGE_POISON_HITS times in
 * a row, is moved aside (QoS 2: QoS 2 goes as QoS 1 from now on). */
void bridge_poison_check(struct bridge *br, bool short_lived);
/* bridge_prefix.c: expand remote_prefix, %h, %c and %% in the topic lines'
 * prefixes (at start). 0, or GW_E_CONFIG (logged; out of memory too). */
int bridge_prefix_expand(struct bridge *br);

/* bridge_subs.c. At the first accepted CONNACK of this run: *list (owned
 * by the caller, NULL if none) is the UNSUBSCRIBE payload for the remote
 * filters an earlier run subscribed and no in/both line asks for now
 * (only with session_present and bridge_attempt_unsubscribe), and the
 * record of subscribed filters (link records of the local session) is
 * brought up to date. Later calls give no list. Returns 0 or -ENOMEM. */
int bridge_subs_reconcile(struct bridge *br, bool session_present, uint8_t **list, size_t *len);

/* bridge_sys.c */
void bridge_sys_start(struct bridge *br);
/* Age in seconds of the oldest message waiting in the backlog (in flight
 * or queued), 0 = empty. */
uint64_t bridge_oldest_age_s(struct bridge *br);

#endif
