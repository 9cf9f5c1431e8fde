/* broker.h - the broker context: what the loop, connections, sessions and
 * router share.
 *
 * One broker per process, owned by main. It owns the router, the session
 * table, the listeners and every connection, and runs one end-of-iteration
 * hook that closes connections marked for closing (publishing wills and
 * freeing clean sessions there, outside any delivery) and flushes output.
 * Loop thread only. */
#ifndef BROKER_H
#define BROKER_H

#include "cfg.h"
#include "loop.h"
#include "msg.h"
#include "route.h"
#include "sess.h"

#include <stddef.h>
#include <stdint.h>

struct ack_batch;

/* A front-end's end-of-iteration work (broker_hook_add); returns true
 * while it has more (another round runs). */
typedef bool broker_hook_cb(void *arg);

struct broker_hook {
    broker_hook_cb *fn;
    void *arg;
};

typedef void broker_sys_cb(void *arg);

struct broker_sys_source {
    broker_sys_cb *fn;
    void *arg;
};
struct auth;
struct auth_backoff;
struct auth_method_entry;
struct auth_worker;
struct auth_scram_creds;
struct store;

/* Counters behind $SYS, named as mosquitto names the topics. */
struct broker_counters {
    uint64_t msgs_received;      /* all packets */
    uint64_t msgs_sent;
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t pub_msgs_received;  /* PUBLISH packets */
    uint64_t pub_msgs_sent;
    uint64_t pub_bytes_received; /* PUBLISH payload bytes */
    uint64_t pub_bytes_sent;
    uint64_t pub_dropped;        /* over message_size_limit, $SYS writes, queue drops */
    uint64_t connections_accepted;
    uint64_t connections_refused; /* max_connections, CONNACK refusals */
    uint64_t clients_maximum;
    uint64_t protocol_errors;
    uint64_t memory_refused; /* publishes, connections, subscriptions over memory_limit */
    uint64_t rate_dropped;   /* QoS 0 over max_publish_rate / _bytes_rate */
    uint64_t rate_slowed;    /* times a client was paused for its publish rate */
    uint64_t rate_refused;   /* connections over max_connection_rate */
    uint64_t sn_unproven_evicted; /* MQTT-SN clients evicted before proving their address */
};

/* Application messages by front-end and QoS (index qos + 1: MQTT-SN's -1
 * to 2), for the metrics endpoint. Counted where each front-end reads or
 * writes a PUBLISH. */
enum broker_proto { BROKER_PROTO_MQTT, BROKER_PROTO_MQTTSN, BROKER_PROTO_BRIDGE, BROKER_PROTO_N };

struct broker_flow {
    uint64_t msgs_in[BROKER_PROTO_N][4];
    uint64_t bytes_in[BROKER_PROTO_N][4]; /* payload bytes */
    uint64_t msgs_out[BROKER_PROTO_N][4];
    uint64_t bytes_out[BROKER_PROTO_N][4];
};

struct broker {
    struct loop *loop;
    struct gw_config *cfg; /* owned; replaced on reload */
    struct route *route;
    struct auth *auth; /* password_file / acl_file; NULL = none */
    /* Password checks off the loop, and the back-off after failures per
     * address (gateway/auth): made with the first password_file. */
    struct auth_worker *pw_worker;
    struct auth_backoff *pw_backoff;
    bool pw_busy_episode; /* auth_max_pending reached: logged once */
    bool mem_episode;     /* over memory_limit: logged once, until below it */
    struct auth_scram_creds *scram;          /* scram_file; NULL = none */
    struct auth_method_entry *auth_methods;  /* MQTT 5 enhanced auth, n_auth_methods */
    size_t n_auth_methods;
    struct sess_table sessions;
    struct sess_limits lim;
    struct sess_counters scnt;
    struct broker_counters st;
    struct broker_flow flow;

    size_t n_clients;     /* sessions opened by svc_open and still connected */
    uint32_t routing;     /* broker_route depth: reaped sessions stay routed until it is 0 */
    struct sess *reap;    /* sessions to free at end of iteration */
    struct broker_hook *hooks; /* front-ends' end-of-iteration work */
    size_t n_hooks;

    /* Durable store (persist.c); store NULL with persistence off. */
    struct {
        struct store *store;
        struct ack_batch *acks; /* acknowledgements waiting for this batch */
        uint64_t refused;       /* durable writes refused: quota */
        uint64_t dropped;       /* oldest queued messages dropped: quota */
        uint64_t errors;
        uint64_t batches;
        uint64_t next_msg_id;
        uint64_t next_owner;
        uint32_t batch_gen;
        bool quota_episode; /* over quota since the last log line */
        struct loop_timer lazy_timer; /* a batch nobody waits for is due (persist_flush) */
    } persist;

    uint64_t start_ms;
    uint64_t auto_id_seq;
    char **reserved_ids; /* broker_reserve_id */
    size_t n_reserved_ids;
    struct loop_timer sys_timer;       /* armed only while someone reads $SYS (sys.c) */
    uint64_t sys_last_ms;              /* when the periodic $SYS topics went out; 0 = never */
    struct broker_sys_source *sys_src; /* front-ends' $SYS topics, published with ours */
    size_t n_sys_src;
    struct loop_timer expiry_timer; /* set to the earliest of expiry.heap */
    struct {
        struct sess **heap; /* offline sessions, min-heap by expire_at_ms */
        uint32_t n;
        uint32_t cap;
    } expiry;
};

/* Count one PUBLISH received (in) or sent (out) by front-end p at qos
 * (-1..2) with payload_len bytes. */
static inline void broker_flow_count(struct broker *b, enum broker_proto p, bool out, int qos,
                                     size_t payload_len)
{
    size_t q = qos < -1 ? 0u : qos > 2 ? 3u : (size_t)(qos + 1);
    if (out) {
        b->flow.msgs_out[p][q]++;
        b->flow.bytes_out[p][q] += payload_len;
    } else {
        b->flow.msgs_in[p][q]++;
        b->flow.bytes_in[p][q] += payload_len;
    }
}

/* broker_flow_count plus the $SYS publish counters (pub_msgs_* and
 * pub_bytes_*), for call sites that count both in one statement. */
static inline void broker_count_publish(struct broker *b, enum broker_proto p, bool out, int qos,
                                        size_t payload_len)
{
    if (out) {
        b->st.pub_msgs_sent++;
        b->st.pub_bytes_sent += payload_len;
    } else {
        b->st.pub_msgs_received++;
        b->st.pub_bytes_received += payload_len;
    }
    broker_flow_count(b, p, out, qos, payload_len);
}

/* Create the broker on loop l with config cfg (ownership moves to the
 * broker). Does not open listeners (broker_listen). Returns 0 and *out, or
 * -ENOMEM. */
int broker_create(struct loop *l, struct gw_config *cfg, struct broker **out);

/* Load password_file and acl_file of the current config (at start: a
 * failure stops tern; on reload: the old files stay). Returns 0 or an
 * error, logged with FILE:LINE. */
int broker_load_auth(struct broker *b);

/* ACL: may the session's client read (deliveries) topic? True when no ACL
 * is configured. */
bool broker_may_read(const struct broker *b, const struct sess *s, struct gw_bytes topic);

/* Start the broker's own timers ($SYS). Front-ends open their listeners
 * themselves. Returns 0 or an error. */
int broker_start(struct broker *b);

/* Run fn(arg) at the end of every loop iteration, before reaped sessions
 * are freed and the store's batch is committed (front-ends close
 * connections and flush output there). Returns 0 or -ENOMEM. del: stop. */
int broker_hook_add(struct broker *b, broker_hook_cb *fn, void *arg);
void broker_hook_del(struct broker *b, broker_hook_cb *fn, void *arg);

/* Call fn(arg) whenever the periodic $SYS topics go out (every
 * sys_interval while a subscription can match $SYS, see sys.h), so a
 * front-end publishes its own $SYS topics without a timer of its own.
 * Returns 0 or -ENOMEM. del: stop (no-op if absent). */
int broker_sys_source_add(struct broker *b, broker_sys_cb *fn, void *arg);
void broker_sys_source_del(struct broker *b, broker_sys_cb *fn, void *arg);

/* Commit what is pending and close the store, running the last
 * completions front-ends wait for (after they shut down, before they are
 * freed). Idempotent. */
void broker_stop(struct broker *b);

/* broker_stop if not done, then free the broker (after the front-ends). */
void broker_destroy(struct broker *b);

/* Route one application message: store or clear it as retained if its
 * retain flag is set (and retain_available), then deliver it to every
 * matching session at min(message QoS, subscription QoS) with the retain
 * flag clear [MQTT-3.3.1-9]. Borrows m (sessions take references). */
void broker_publish(struct broker *b, struct msg *m);

/* broker_publish for a message published by origin (NULL: the broker or a
 * will): subscriptions with No Local skip their own messages. ORs into
 * *dlv the SESS_DLV_* flags of every delivery (and SESS_DLV_STORED for a
 * retained message written to the store). Returns the number of sessions
 * it was delivered to. Front-ends publish through svc_publish (svc.h). */
size_t broker_route(struct broker *b, struct msg *m, const struct sess *origin, unsigned *dlv);

/* Offline sessions by expiry (sess_expiry.c). arm: (re)schedule s at
 * s->expire_at_ms (0: never); disarm: take it out; run: reap the due ones
 * (the expiry timer); fini: forget them all. */
void broker_expiry_arm(struct broker *b, struct sess *s);
void broker_expiry_disarm(struct broker *b, struct sess *s);
void broker_expiry_run(struct broker *b, uint64_t now_ms);
void broker_expiry_fini(struct broker *b);

/* The session's connection ended without DISCONNECT: publish its will now,
 * or, with an MQTT 5 Will Delay Interval on a session that outlives the
 * connection, when the delay (or the session) ends. */
void broker_publish_will(struct broker *b, struct sess *s);

/* A new connection resumed s: a will still waiting for its delay is
 * discarded [MQTT-3.1.3-9]. */
void broker_cancel_delayed_will(struct broker *b, struct sess *s);

/* Arm s's will to go out in delay_ms (restore after a restart). Returns 0
 * or -ENOMEM. */
int broker_delay_will(struct broker *b, struct sess *s, uint64_t delay_ms);

/* Wall-clock second a waiting will is due, 0 = none (for the store). */
int64_t broker_will_due_wall_s(const struct sess *s);

/* Queue s for freeing at the end of this iteration (removed from the table
 * now). */
void broker_reap_session(struct broker *b, struct sess *s);

/* Client ids that no client may connect with (a bridge's local session,
 * which lives outside the session table). reserve copies id; returns 0 or
 * -ENOMEM. */
int broker_reserve_id(struct broker *b, const char *id);

/* True while the heap (gw_alloc_bytes) is at memory_limit or above; it
 * stays true until the heap is back under 15/16 of it, so a broker at the
 * edge does not flap. Logs each episode's start and end once. What the
 * callers do above it: README "memory_limit". */
bool broker_memory_full(struct broker *b);
bool broker_id_reserved(const struct broker *b, struct gw_bytes id);

/* s's connection or session ends: hand the messages it holds through
 * shared subscriptions to other connected members of their groups
 * (broker_share.c explains which). */
void broker_share_release(struct broker *b, struct sess *s);

/* Apply a reloaded config (SIGHUP): takes ownership of cfg, applies the
 * reloadable options, logs those that need a restart. */
void broker_reload(struct broker *b, struct gw_config *cfg);

/* Run the end-of-iteration work once more for shutdown, after the
 * front-ends closed their connections (clients lose their connection
 * without DISCONNECT, so their wills go out: [MQTT-3.1.2-8]). */
void broker_shutdown(struct broker *b);

#endif
