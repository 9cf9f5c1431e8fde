/* sess.h - protocol-independent MQTT sessions.
 *
 * A session holds what MQTT says outlives a network connection: the client
 * id, subscriptions, the QoS 1/2 messages in flight in both directions, the
 * queue of messages waiting behind the inflight window (or for an offline
 * client), and the will of the current connection. It is a router endpoint
 * (struct route_ep is its first member).
 *
 * A session talks to its network connection only through struct
 * sess_link_ops, so MQTT over TCP (mqtt_proto.c) and later MQTT-SN plug in
 * the same way. The session never reads the clock: callers pass now_ms.
 *
 * Ownership: sessions are created and freed by the session table
 * (sess_table_*). A session outlives its link; sess_attach / sess_detach
 * set and clear the link before either is freed. Freed only from the
 * broker's end-of-iteration hook, never inside a delivery. Loop thread only.
 *
 * Seam for storage: every state change a durable session makes is one of
 * the functions below, so the LMDB work can persist at these points. */
#ifndef SESS_H
#define SESS_H

#include "gw_bytes.h"
#include "loop.h"
#include "msg.h"
#include "route.h"
#include "sess_tag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sess;
struct will_wait;

/* What send_publish returns when m can never be sent on this link (over
 * the peer's Maximum Packet Size, or past what its protocol can encode):
 * discarded as if delivered [MQTT-3.1.2-25], so a QoS 1/2 delivery leaves
 * the inflight window instead of waiting for an acknowledgement that
 * cannot come. */
#define SESS_SEND_DISCARDED 1

/* What a session asks of its connection. Each returns 0,
 * SESS_SEND_DISCARDED (send_publish only) or a negative error (the
 * connection then closes itself; the session needs no cleanup). */
struct sess_link_ops {
    /* Send a PUBLISH of m at qos with packet id pid (0 for QoS 0). */
    int (*send_publish)(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                        bool retain);
    /* Send PUBREL for pid (QoS 2 outbound, second phase). */
    int (*send_pubrel)(void *link, uint16_t pid);
    /* True while the link takes more output without passing its soft limit. */
    bool (*writable)(void *link);
    /* Another connection took the session over: forget the session (it is
     * already detached) and close the link later with reason. */
    void (*kick)(void *link, int reason);
    /* Optional (NULL: send_publish is used): the same for a delivery with
     * a tag (its Subscription Identifiers; tag borrowed, never NULL). */
    int (*send_publish_tag)(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                            bool retain, struct sess_tag *tag);
};

enum sess_out_state {
    SESS_OUT_WAIT_PUBACK = 1, /* QoS 1 sent */
    SESS_OUT_WAIT_PUBREC,     /* QoS 2 sent */
    SESS_OUT_WAIT_PUBCOMP     /* QoS 2 PUBREC received and (durable sessions) its
                                 record committed, PUBREL sent */
};

struct sess_inflight {
    struct msg *m;
    struct sess_tag *tag; /* one reference, or NULL (sess_tag.h) */
    uint64_t seq; /* send order, for the store */
    uint16_t pid;
    uint8_t qos;
    uint8_t state; /* enum sess_out_state */
    bool retain;
    bool rel_held; /* WAIT_PUBREC, PUBREC received: the PUBREL waits for the commit of
                      the WAIT_PUBCOMP record (sess_pubrel.c) */
};

struct sess_queued {
    struct sess_queued *next;
    struct msg *m;
    struct sess_tag *tag; /* one reference, or NULL (sess_tag.h) */
    uint64_t seq; /* position in the session's queue (durable sessions) */
    uint8_t qos;
    bool retain;
};

struct sess_sub {
    char *filter;
    uint16_t filter_len;
    uint8_t qos;
    uint8_t options; /* as given to the router (v5 No Local, RAP) */
    uint32_t sub_id; /* MQTT 5 Subscription Identifier, 0 = none */
};

/* What a full queue does with the next message (sess_limits.full_policy). */
enum sess_full_policy {
    SESS_FULL_DROP_NEW = 0, /* drop the new message (mosquitto's rule, the default) */
    SESS_FULL_DROP_OLDEST,  /* drop the oldest queued messages to make room */
    SESS_FULL_REFUSE        /* refuse it and tell the store hooks (publisher push-back) */
};

struct sess_limits {
    const struct loop *loop;     /* for the time (message expiry); NULL in unit tests */
    uint32_t max_inflight;       /* 0 = unlimited */
    uint64_t max_inflight_bytes; /* payload bytes in flight, 0 = unlimited */
    uint32_t max_queued;         /* 0 = unlimited */
    uint64_t max_queued_bytes;
    bool queue_qos0;
    uint8_t full_policy; /* enum sess_full_policy */
    /* Durable sessions only: keep at most this many queued messages in
     * memory; the rest of the queue lives on disk only and is read back
     * in order as the queue drains (a bridge backlog of millions costs
     * disk, not RAM). 0 = the whole queue in memory. */
    uint32_t mem_queue_max;
    uint32_t max_age_s; /* a queued message older than this is dropped, 0 = never */
};

/* Called once the batch it waited for committed (rc 0) or failed (rc < 0);
 * the same shape as persist_commit_cb. */
typedef void sess_commit_cb(void *arg, uint32_t data, int rc);

/* What a durable session tells its store (gateway/persist.c). Each call
 * only adds to the store's current batch: no I/O. A session without ops
 * (pops NULL) lives in memory only. */
struct sess_persist_ops {
    /* A message joins the queue. False: refused (store quota): the
     * session drops it and counts it. */
    bool (*queue_add)(struct sess *s, const struct sess_queued *q);
    /* The queue entry seq left the queue (sent, or dropped). */
    void (*queue_del)(struct sess *s, uint64_t seq);
    /* Outbound inflight record written or its state changed. False: the
     * store refused it (the message is not in the batch). */
    bool (*inflight_put)(struct sess *s, const struct sess_inflight *o);
    void (*inflight_del)(struct sess *s, uint16_t pid);
    /* Inbound QoS 2 packet id remembered / released. */
    bool (*in_qos2_put)(struct sess *s, uint16_t pid); /* false: refused */
    void (*in_qos2_del)(struct sess *s, uint16_t pid);
    /* Read up to max entries of the stored queue that are not in memory
     * (those after s->q_store_after) and put them at the queue's head with
     * sess_queue_splice_loaded. Returns the number loaded or an error. */
    ssize_t (*queue_load)(struct sess *s, size_t max);
    /* Drop the oldest entry that is on disk only (after q_store_after).
     * True if one was dropped. */
    bool (*queue_drop_stored)(struct sess *s);
    /* A message was refused (queue full, policy SESS_FULL_REFUSE): the
     * publisher is told to keep it (MQTT 5: 0x97). */
    void (*refused)(struct sess *s);
    /* The number of the store's current batch, and: run fn(arg, data, rc)
     * once that batch committed or failed (persist_after_commit). Returns 0
     * or -ENOMEM (then fn is never called). For the PUBREL that must wait
     * for its PUBREC's record (sess_pubrel.c). */
    uint32_t (*batch_gen)(struct sess *s);
    int (*after_commit)(struct sess *s, sess_commit_cb *fn, void *arg, uint32_t data);
};

/* Drop counters shared by all sessions of a broker (for $SYS). */
struct sess_counters {
    uint64_t dropped_queue_full; /* queue at max_queued_messages / bytes */
    uint64_t dropped_qos0_slow;  /* QoS 0 to a link over its soft limit */
    uint64_t dropped_expired;    /* MQTT 5 message expiry passed while queued */
    uint64_t dropped_age;        /* older than sess_limits.max_age_s when its turn came */
    uint64_t refused;            /* queue full with policy SESS_FULL_REFUSE */
    uint64_t inflight;           /* messages in flight, all sessions */
    uint64_t queued;             /* messages queued, all sessions */
};

/* Field order keeps an idle session small: it is per connected client. */
struct sess {
    struct route_ep ep; /* first: route hits convert back with sess_from_ep */
    const struct sess_link_ops *ops;
    void *link;                    /* NULL while offline */
    const struct sess_limits *lim; /* the broker's, updated on reload */
    struct sess_counters *cnt;
    struct msg *will;
    struct will_wait *will_wait; /* a will waiting for its delay (broker.c) */
    char *username; /* the identity that owns the session: a verified username,
                       NULL = anonymous (svc.h); ACL checks use it */
    uint8_t *link_state; /* the link protocol's state kept in the session record
                            (MQTT-SN topic ids, sleep); opaque here, owned */
    uint8_t *link_recs; /* the link protocol's own records (persist_link_put), in memory
                           while no link holds them: be16 key length, key, be32 value
                           length, value, repeated; opaque here, owned */
    uint32_t link_state_len;
    uint32_t link_recs_len;
    struct sess *hash_next; /* session table chain, then the broker's reap list */
    const struct sess_persist_ops *pops; /* NULL: not durable */
    struct sess_rel_wait *rel_wait;      /* held PUBRELs (sess_pubrel.c), NULL = none yet */
    void *persist_arg;                   /* the hooks' context */
    uint64_t owner;                      /* store key of a durable session, 0 = none */
    uint64_t q_seq_next;                 /* next queue position */
    uint64_t out_seq_next;               /* next inflight send order */
    uint64_t q_store_len;                /* stored queue entries not loaded into memory */
    uint64_t q_store_after;              /* entries up to this seq were loaded */
    uint64_t q_store_bytes;              /* their payload bytes, where known (spilled ones) */

    struct sess_sub *subs;
    uint32_t *sub_idx;     /* open-addressing index of subs (i + 1), from SESS_SUB_IDX_FROM on */
    struct sess_inflight *out; /* in send order */
    uint64_t *pid_bits;        /* ids in flight, one bit each: only for large windows */
    struct sess_queued *q_head;
    struct sess_queued *q_tail;
    uint16_t *in_qos2;  /* inbound QoS 2 ids awaiting PUBREL [MQTT-4.3.3-2] */
    uint64_t out_bytes; /* payload bytes in flight */
    uint64_t q_bytes;
    uint64_t expire_at_ms; /* offline persistent session expiry, 0 = never */
    uint32_t sub_idx_cap;  /* power of two, 0 = no index */
    uint32_t n_subs;
    uint32_t cap_subs;
    uint32_t n_out;
    uint32_t cap_out;
    uint32_t q_len;
    uint16_t n_in_qos2;
    uint16_t cap_in_qos2;
    uint16_t next_pid;
    uint16_t recv_max;     /* the client's Receive Maximum (MQTT 5), 0 = none */
    uint16_t recv_max_in;  /* ours, announced to the client: QoS 2 awaiting PUBREL, 0 = none */
    uint16_t id_len;
    uint32_t expiry_idx;   /* position + 1 in the broker's expiry heap, 0 = not in it */
    uint32_t expiry_s;     /* MQTT 5 session expiry interval, 0xFFFFFFFF = never */
    uint32_t will_delay_s; /* MQTT 5 Will Delay Interval of the current will */
    uint8_t protocol; /* MQTT protocol level of the last connection */
    bool clean : 1;
    bool in_table : 1;
    bool reaped : 1;   /* on the broker's reap list: freed at the end of the iteration */
    bool dropping : 1; /* in a drop episode: log once */
    bool bridge_peer : 1;      /* connected as a bridge (level 0x83/0x84): may publish its
                                  own $SYS/broker/connection/ID/state */
    bool identity_unknown : 1; /* restored from a record without its owner: the
                                  first identity to open it claims it */
    bool provisional : 1;      /* opened by a connection whose source address is not proven
                                  (MQTT-SN over UDP), and none proved it since: that
                                  front-end bounds how many it keeps (svc_discard).
                                  svc_open clears it. */
    char id[];     /* client id, NUL-terminated; allocated from offsetof(id) */
};

static inline struct sess *sess_from_ep(struct route_ep *ep)
{
    return (struct sess *)(void *)ep;
}

/* Create a detached session for client id (copied, at most 65535 bytes).
 * lim and cnt are borrowed and must outlive the session. Returns NULL on
 * ENOMEM. */
struct sess *sess_create(struct gw_bytes id, bool clean, const struct sess_limits *lim,
                         struct sess_counters *cnt);

/* Take every subscription of s out of r and forget them (a session that
 * is reaped gets no more deliveries, even before it is freed). */
void sess_unroute(struct sess *s, struct route *r);

/* Free a session: unsubscribes everything from r and drops every message
 * reference. The session must be detached and out of the table. */
void sess_destroy(struct sess *s, struct route *r);

/* Attach a link. Resends every inflight message with DUP set (PUBREL for
 * those waiting for PUBCOMP) [MQTT-4.4.0-1], then fills the window from
 * the queue. Returns 0 or the link's error. */
int sess_attach(struct sess *s, const struct sess_link_ops *ops, void *link);

/* Detach the link (connection gone). Inbound QoS 2 state and the outbound
 * state stay for a persistent session. */
void sess_detach(struct sess *s);

/* What a delivery did, for the publisher's acknowledgement (flags). */
#define SESS_DLV_STORED  1u /* a durable write joined the store's batch: ack after commit */
#define SESS_DLV_REFUSED 2u /* refused (store quota, store error, refuse policy): no ack */
#define SESS_DLV_NOMEM   4u /* not kept: out of memory (no ack either) */

/* Deliver m to this session at qos (already min(pub, sub)). Sends at once
 * if the window has room, else queues; drops per the limits (counted).
 * retain is the flag to put on the outgoing PUBLISH. Returns SESS_DLV_*
 * flags (0: in memory only, or dropped by a limit). */
unsigned sess_deliver(struct sess *s, struct msg *m, uint8_t qos, bool retain);

/* sess_deliver with a tag (borrowed, may be NULL): its Subscription
 * Identifiers go out with the PUBLISH (now, or later from the queue or on
 * a resend), its share filter lets broker_share.c hand the message to
 * another member. */
unsigned sess_deliver_tag(struct sess *s, struct msg *m, uint8_t qos, bool retain,
                          struct sess_tag *tag);

/* Called by sess_share_release for each message the session holds through
 * a shared subscription (tag's share filter set): m, its QoS and retain
 * flag, and its tag, all borrowed. Return true if the message went to
 * another member: the session then drops it. */
typedef bool sess_share_cb(void *arg, struct sess *s, struct msg *m, uint8_t qos, bool retain,
                           struct sess_tag *tag);

/* Offer cb every message the session got through a shared subscription and
 * has not delivered: those queued in memory, and in flight awaiting PUBACK
 * (QoS 1). Not a QoS 2 message once sent: it MUST NOT go to another member
 * [MQTT-4.8.2-5]. Returns the number handed over. */
size_t sess_share_release(struct sess *s, sess_share_cb *cb, void *arg);

/* The link received PUBACK (QoS 1) for pid. Returns 0, or GW_E_PROTOCOL
 * for an unknown id (ignored by callers, per the spec's leniency). */
int sess_on_puback(struct sess *s, uint16_t pid);

/* Give up the outbound message pid whatever its state: the peer refused
 * it (MQTT 5 reason code >= 0x80 on PUBACK / PUBREC) or it cannot be sent
 * (over the peer's maximum packet size). Returns 0 or GW_E_PROTOCOL for an
 * unknown id. */
int sess_out_abandon(struct sess *s, uint16_t pid);

/* A link that sent m as pid later (after a commit) found it could not be
 * sent (SESS_SEND_DISCARDED): drop that inflight entry if pid still holds
 * m. Does not pump the queue: call sess_pump afterwards. */
void sess_out_discard(struct sess *s, uint16_t pid, const struct msg *m);

/* PUBREC for pid: moves to WAIT_PUBCOMP and sends PUBREL. For a durable
 * session both wait until the WAIT_PUBCOMP record is committed (a PUBREL
 * before that, then a crash, and the restarted broker would resend the
 * PUBLISH with an id the receiver already released: delivered twice);
 * a repeated PUBREC meanwhile sends nothing more. Returns 0, GW_E_PROTOCOL
 * for an unknown id or one not awaiting PUBREC / PUBCOMP, or a store error
 * (-ENOMEM, -EIO: logged; the message stays at WAIT_PUBREC, resent with DUP
 * on reconnect). */
int sess_on_pubrec(struct sess *s, uint16_t pid);

/* PUBCOMP for pid: releases the message. */
int sess_on_pubcomp(struct sess *s, uint16_t pid);

/* Put loaded entries (a list in queue order, taken) into the in-memory
 * queue, for sess_persist_ops.queue_load: before it (a restored queue: the
 * disk entries are older than anything queued since), or after it when the
 * session spills (mem_queue_max: the disk entries are the newer ones). */
void sess_queue_splice_loaded(struct sess *s, struct sess_queued *first, struct sess_queued *last,
                              size_t n, uint64_t bytes);

/* Drop the oldest message of the in-memory queue (store quota policy
 * drop_oldest). Returns true if one was dropped. */
bool sess_drop_oldest(struct sess *s);

/* Drop the oldest message of the whole queue, in memory or on disk only.
 * Returns true if one was dropped. */
bool sess_drop_oldest_any(struct sess *s);

/* Messages queued in memory and on disk, and their payload bytes (disk
 * bytes as far as known). */
uint64_t sess_queue_len(const struct sess *s);
uint64_t sess_queue_bytes(const struct sess *s);

/* Fill the inflight window from the queue while the link is writable. */
void sess_pump(struct sess *s);

/* Inbound QoS 2: returns true if pid is new (deliver it and remember it),
 * false if it is a duplicate awaiting PUBREL (do not deliver again). May
 * return -ENOMEM via *err. */
bool sess_in_qos2_begin(struct sess *s, uint16_t pid, int *err);

/* True if inbound QoS 2 pid awaits its PUBREL. */
bool sess_in_qos2_has(const struct sess *s, uint16_t pid);

/* Inbound PUBREL: forget pid. Returns 0 or -ENOENT (still answer PUBCOMP,
 * [MQTT-4.3.3-1] Method B). */
int sess_in_qos2_release(struct sess *s, uint16_t pid);

/* Subscriptions kept for session teardown, persistence and $SYS counts.
 * sess_sub_add records (or updates) filter; the caller adds it to the
 * router. Returns 0 or -ENOMEM. */
int sess_sub_add(struct sess *s, struct gw_bytes filter, uint8_t qos);

/* sess_sub_add with the MQTT 5 options byte and Subscription Identifier
 * (0 = none), replaced too when the filter is subscribed again. */
int sess_sub_add_v5(struct sess *s, struct gw_bytes filter, uint8_t qos, uint8_t options,
                    uint32_t sub_id);

/* The session's subscription to filter, or NULL (borrowed: valid until the
 * next sess_sub_* call). */
const struct sess_sub *sess_sub_find(const struct sess *s, struct gw_bytes filter);

/* A tag for message topic of a session restored from the store, whose
 * queue and inflight records do not keep one: the identifiers of the
 * session's matching subscriptions, non-shared ones, or with shared the
 * first matching shared subscription's (and its filter). NULL: none. */
struct sess_tag *sess_tag_rebuild(const struct sess *s, struct gw_bytes topic, bool shared);

/* Forget filter; returns 0 or -ENOENT. */
int sess_sub_del(struct sess *s, struct gw_bytes filter);

/* Replace the link state with a copy of p[0..n) (n 0: none). Returns 0 or
 * -ENOMEM (the old state stays). A durable session stores it with its
 * record the next time persist writes the record. */
int sess_set_link_state(struct sess *s, const uint8_t *p, size_t n);

/* Replace the link records (see struct sess) with a copy of p[0..n) (n 0:
 * none). In memory only: the store keeps each record apart
 * (persist_link_put). Returns 0 or -ENOMEM (the old ones stay). */
int sess_set_link_recs(struct sess *s, const uint8_t *p, size_t n);

/* Append one link record (restore from the store). Returns 0, -ENOMEM or
 * -EINVAL (key over 65,535 bytes, or the records would pass 4 GiB). */
int sess_add_link_rec(struct sess *s, struct gw_bytes key, struct gw_bytes value);

/* Replace the will (takes ownership of m, may be NULL). */
void sess_set_will(struct sess *s, struct msg *m);

/* Take the will out of the session (caller owns it), or NULL. */
struct msg *sess_take_will(struct sess *s);

/* ---- table of sessions by client id ---- */

struct sess_table {
    struct sess **slots;
    size_t n_slots;
    size_t count;
};

int sess_table_init(struct sess_table *t);
void sess_table_fini(struct sess_table *t);
struct sess *sess_table_get(const struct sess_table *t, struct gw_bytes id);
void sess_table_add(struct sess_table *t, struct sess *s); /* never fails: a table that cannot grow chains */
void sess_table_del(struct sess_table *t, struct sess *s);

#endif
