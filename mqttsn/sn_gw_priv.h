/* sn_gw_priv.h - what the files of the MQTT-SN gateway share (mqttsn/
 * only): the gateway, its clients, the per-client topic-id registry.
 *
 * Ownership: a gateway owns its clients (hash by peer address); a client
 * owns its registry and the messages held behind an outstanding REGISTER
 * (one reference each). A client is the link of its session while it is
 * connected (svc_attach with sn_link_ops): the session service
 * (gateway/broker/svc.h) opens, counts, takes over and ends sessions,
 * decides who may publish and subscribe, and says when an acknowledgement
 * may go; these files translate the wire. Clients are freed only from
 * the gateway's end-of-iteration hook (STYLE.md 4). Loop thread only. */
#ifndef SN_GW_PRIV_H
#define SN_GW_PRIV_H

#include "broker.h"
#include "loop.h"
#include "msg.h"
#include "sess.h"
#include "sn_amp.h"
#include "sn_codec.h"
#include "sn_gw.h"
#include "sn_transport.h"
#include "svc.h"

#include <stdbool.h>
#include <stdint.h>

#define SN_TOPICS_MAX     1000u /* registered topic ids per client */
#define SN_HELD_MAX       64u   /* messages held behind a REGISTER */
#define SN_CLIENT_BUCKETS 1024u
#define SN_HOST_BUCKETS   256u
#define SN_MAX_CLIENTS_DEFAULT          10000u /* per listener */
#define SN_MAX_CLIENTS_PER_HOST_DEFAULT 1000u  /* per source address (forwarder nodes too) */
#define SN_DTLS_SESSIONS_DEFAULT        1000u  /* DTLS listeners: ~34 KiB of mbedTLS buffers each */
#define SN_TOPICS_CAP_MAX               16384u /* mqttsn_max_topics: far below 65,534 ids */
#define SN_IDLE_TIMEOUT_DEFAULT_S       3600u  /* mqttsn_idle_timeout */
#define SN_MAX_UNPROVEN_DEFAULT         100u  /* mqttsn_max_unproven_clients (README) */
/* Proof by use (sn_gw_note_use): the first SN_USE_PROOF_IDS topic ids the
 * gateway gave a client in this connection count; one PUBLISH naming an id
 * the client was never given ends the chance (a blind guess). */
#define SN_USE_PROOF_IDS 2u
/* A durable session no proven connection used (sess.provisional) expires
 * this long after its connection ended, or persistent_client_expiration if
 * shorter; the store keeps the expiry, so it holds across a restart. */
#define SN_PROVISIONAL_EXPIRY_S 86400u
#define SN_SLEEP_MAX      1000u /* messages buffered for a sleeping client (§6.14) */
#define SN_SYS_NAME_MAX   256u

/* One registered topic of a client. */
struct sn_topic {
    char *name; /* NULL: slot freed (registration refused by the client) */
    uint16_t len;
    uint16_t id; /* random, 1..0xFFFE (sn_topics.c) */
    bool acked;  /* the client knows the id (its REGISTER, our SUBACK, or REGACK) */
};

/* Per-client topic-id registry (§6.5, §6.10). Ids are random and never
 * reused while the client lives. */
struct sn_topics {
    struct sn_topic *v; /* registration order */
    uint32_t n;
    uint32_t cap;
    uint32_t *ix; /* id -> index + 1 in v, open addressing; 0 = empty */
    uint32_t ix_cap;
    uint32_t max; /* registrations allowed; 0 = SN_TOPICS_MAX */
};

/* A delivery waiting for its topic's REGACK. */
struct sn_held {
    struct sn_held *next;
    struct msg *m; /* one reference */
    uint16_t pid;
    uint8_t qos;
    bool dup;
    bool retain;
};

enum sn_client_state {
    SN_CL_WILL_TOPIC = 1, /* CONNECT with Will: WILLTOPICREQ sent, §6.3 */
    SN_CL_WILL_MSG,       /* WILLMSGREQ sent */
    SN_CL_ACTIVE,         /* CONNACK accepted sent */
    SN_CL_ASLEEP,         /* DISCONNECT with a duration: messages are buffered, §6.14 */
    SN_CL_AWAKE,          /* PINGREQ while asleep: buffered messages go out, then PINGRESP */
    SN_CL_GONE            /* dropped; freed at the end of the iteration */
};

struct sn_gw;

/* A predefined topic id (§3): known to the client and the gateway without
 * REGISTER. */
struct sn_predef {
    char *client; /* NULL: every client (`*` or `COMMON`) */
    char *name;
    uint16_t len;
    uint16_t id;
};

/* A listener's MQTT-SN settings (sn_conf.c), fixed while it is open. */
struct sn_conf {
    uint32_t retry_ms;    /* Tretry, §6.13 */
    uint32_t nretry;      /* Nretry: retransmission rounds before a client is lost */
    uint8_t gw_id;        /* GwId of GWINFO and ADVERTISE, §6.1 */
    uint16_t advertise_s; /* ADVERTISE period, 0 = none */
    struct sn_peer advertise_to;
    struct sn_predef *predef;
    size_t n_predef;
    size_t cap_predef;
    char **allowed; /* client ids allowed to connect */
    size_t n_allowed;
    bool allow_list; /* false: every client id may connect */
    uint32_t amp_factor; /* anti-amplification factor (sn_amp.h), 0 = no limit */
    uint32_t max_clients;          /* clients of the listener */
    uint32_t max_clients_per_host; /* clients from one source address (sn_transport peer_host) */
    uint32_t max_topics;           /* topic ids per client */
    uint32_t max_unproven;         /* clients that have not proven their address */
    uint64_t idle_ms;              /* gateway keep-alive of a client with duration 0 */
    struct sn_peer *fwd;           /* mqttsn_forwarder addresses (port 0: any port) */
    size_t n_fwd;
    bool fwd_any;                  /* mqttsn_forwarder *: every address */
};

/* A durable session left behind by a client that never proved its address
 * (sess.provisional), by client id: the session may be gone, taken or
 * proven since, which the gateway checks when it comes to it. */
struct sn_prov_id {
    uint8_t len;
    char id[SN_CLIENT_ID_MAX];
};

/* The clients from one source address (a forwarder's nodes included). */
struct sn_host {
    struct sn_host *next;
    uint32_t n;       /* clients counted here */
    bool full_logged; /* at the cap: logged once per episode */
    uint32_t bucket;  /* its chain in sn_gw.hosts */
    uint8_t len;
    uint8_t key[SN_PEER_MAX];
};

/* An acknowledgement waiting for the store's commit (persist_after_commit). Its
 * gateway lists it until then; a gateway that closes first sets gw NULL
 * and the commit only frees it. */
struct sn_ack_wait {
    struct sn_ack_wait *prev;
    struct sn_ack_wait *next;
    struct sn_gw *gw;
    struct sn_peer peer;
    struct sn_msg m; /* PUBACK, PUBREC or PUBCOMP: no pointers */
};

struct sn_client {
    struct sn_client *hnext; /* bucket chain, then the gateway's free list */
    struct sn_gw *gw;
    struct sess *sess; /* attached while ACTIVE, NULL otherwise */
    struct sn_peer peer;
    struct sn_host *host; /* counted there while in the table */
    enum sn_client_state state;
    struct loop_timer timer; /* keepalive (1.5 x duration) or will-flow timeout */
    struct loop_timer retry; /* Tretry while a REGISTER, PUBLISH or PUBREL is unacked */
    uint8_t retries;         /* retransmission rounds without any acknowledgement */
    struct sn_amp amp;       /* bytes to and from the peer until it proves its address */
    /* On the gateway's unproven list (oldest first) while neither its
     * address is proven (amp.validated) nor it used a topic id given to it
     * (proof by use); only where the amplification limit applies. */
    struct sn_client *uprev;
    struct sn_client *unext;
    bool unproven;
    bool use_proof_lost;  /* it named a topic id it was never given: no proof by use */
    uint32_t proof_base;  /* registry entries before this connection (sn_topics.v index) */
    uint64_t last_rx_ms;
    uint16_t duration_s;
    uint16_t sleep_s; /* sleep duration of the last DISCONNECT while ASLEEP / AWAKE */
    bool clean;
    bool sleep_dropping;     /* in a sleep-buffer drop episode: log once */
    bool topics_full_logged; /* registry full: logged once per client */
    /* Will in the making (WILLTOPIC arrived, WILLMSG not yet). */
    char *will_topic;
    uint16_t will_topic_len;
    uint8_t will_qos;
    bool will_retain;
    bool has_will_topic;
    /* Gateway REGISTER in flight (one at a time) and what waits behind it. */
    uint16_t reg_msg_id; /* 0 = none */
    uint16_t reg_topic_id;
    struct sn_held *held_head;
    struct sn_held *held_tail;
    uint32_t n_held;
    uint32_t n_held_q0; /* of those, QoS 0 (the first dropped from a full sleep buffer) */
    struct sn_topics topics;
    char *identity; /* the transport's verified identity at CONNECT (DTLS), owned; NULL = none */
    uint8_t id_len;
    char id[SN_CLIENT_ID_MAX + 1];
};

struct sn_gw {
    struct sn_gw *next; /* module list (sn_gw.c) */
    struct broker *b;
    const struct cfg_listener *lc;
    struct sn_udp *udp;
    struct sn_dtls *dtls;           /* TLS options on the listener: DTLS over udp (sn_dtls.c) */
    struct sn_serial *serial;       /* an mqttsn_serial block (sn_serial_gw.c), else NULL */
    char sys_name[SN_SYS_NAME_MAX]; /* its $SYS topic level */
    struct sn_conf conf;
    struct loop_timer advertise;
    const struct sn_transport_ops *tops;
    void *tctx;
    struct sn_client *buckets[SN_CLIENT_BUCKETS];
    struct sn_host *hosts[SN_HOST_BUCKETS];
    struct sn_client *dead;   /* GONE clients to free */
    struct sn_ack_wait *acks; /* acknowledgements waiting for a commit, oldest first */
    struct svc_door door;     /* the listener's admission rules (sn_gw_door) */
    size_t n_clients;         /* client structs of this listener (not the broker's count) */
    struct sn_client *unproven_head; /* clients not proven yet, oldest first */
    struct sn_client *unproven_tail;
    size_t n_unproven;
    uint64_t evicted;         /* unproven clients evicted for a new one (mqttsn_max_unproven_clients) */
    uint64_t evicted_at_log;  /* evicted when the episode's line was logged */
    bool evicting;            /* in an eviction episode: logged at its start and end */
    struct sn_prov_id *prov;  /* ring of conf.max_unproven left-behind provisional sessions */
    uint32_t prov_head;       /* oldest entry */
    uint32_t prov_n;
    uint64_t prov_discarded;  /* of those, discarded to make room for a newer one */
    uint64_t prov_logged_ms;  /* the last line about a discarded one */
    uint64_t malformed;       /* datagrams dropped as malformed */
    uint64_t unexpected;      /* well-formed but not allowed in the sender's state */
    uint64_t sleep_dropped;   /* messages dropped from full sleep buffers */
    uint64_t topics_full;     /* registrations refused: a client's registry was full */
    uint64_t forwarded;       /* messages that came through a forwarder (§5.5) */
    uint64_t fwd_refused;     /* encapsulated messages from addresses not mqttsn_forwarder */
    uint64_t amp_blocked;     /* datagrams not sent: peer not validated (sn_amp.h) */
    uint64_t amp_validated;   /* clients that proved their address */
    size_t rx_now;            /* length of the datagram being handled */
    uint64_t refused_full;    /* CONNECTs refused: mqttsn_max_clients / max_connections */
    uint64_t refused_host;    /* CONNECTs refused: mqttsn_max_clients_per_address */
    bool full_logged;         /* at the listener's cap: logged once per episode */
    uint32_t hash_seed;       /* random basis of the client and host hashes */
    uint64_t drops_logged_ms;
    uint64_t drops_at_log;
    bool advertise_failed; /* the last ADVERTISE could not be sent: logged */
    bool closing;          /* sn_gw_close_all: the broker is stopping */
    char name[80];
};

extern const struct sess_link_ops sn_link_ops;

/* ---- sn_gw.c ---- */

/* Encode m and send it to peer. Returns 0 or a negative error: -EAGAIN
 * when the peer's client has not proven its address and the datagram would
 * pass the anti-amplification limit (counted, logged once per client; the
 * caller counts a dropped QoS 0 message, QoS 1/2 stay in flight). */
int sn_gw_send(struct sn_gw *gw, const struct sn_peer *peer, const struct sn_msg *m);

/* Send an acknowledgement of a client's PUBLISH / PUBREL: after the
 * store's current batch commits when durable (routing or the QoS 2 state
 * wrote to the store: acknowledged means durable) or when an earlier one
 * to the same peer still waits (order), else now. Returns 0 or a negative
 * error (nothing sent: the client retransmits). */
int sn_gw_send_ack(struct sn_gw *gw, const struct sn_peer *peer, const struct sn_msg *m,
                   bool durable);

/* The listener's door for the session service: allow_anonymous as now
 * configured, the client id allow list when there is one. Borrowed. */
const struct svc_door *sn_gw_door(struct sn_gw *gw);

/* The identity gw's transport verified for peer (DTLS: PSK identity or
 * certificate name), the username of its session; NULL when the transport
 * authenticates no one. Borrowed until the datagram's callback returns. */
const char *sn_gw_peer_identity(const struct sn_gw *gw, const struct sn_peer *peer);

/* Peer of c as text for log lines (static buffer: use at once). */
const char *sn_gw_peer_str(const struct sn_gw *gw, const struct sn_peer *peer);

/* A new client for peer, in the table, state 0 (caller sets it). NULL when
 * out of memory, at the listener's cap (mqttsn_max_clients, max_connections)
 * or at the cap of peer's source address (mqttsn_max_clients_per_address):
 * counted and logged once per episode here; the caller answers. */
struct sn_client *sn_gw_client_new(struct sn_gw *gw, const struct sn_peer *peer);

/* The client of peer, or NULL (sn_gw_clients.c). */
struct sn_client *sn_gw_client_find(const struct sn_gw *gw, const struct sn_peer *peer);

/* Free c now: it is unlinked and its session let go (sn_gw_client_drop);
 * only the gateway's close and sn_gw_free_dead call this. */
void sn_gw_client_free(struct sn_client *c);

/* Free the clients dropped during this loop iteration (a loop hook). */
void sn_gw_free_dead(struct sn_gw *gw);

/* The client is gone: its session ends through svc_disconnect (the will
 * goes out unless clean_disconnect; a clean session is reaped, a
 * persistent one kept); freed at the end of the iteration. why is for the
 * log line. */
void sn_gw_client_drop(struct sn_client *c, bool clean_disconnect, const char *why);

/* (Re-)arm c's timer for its state: keep-alive or will-flow timeout. */
void sn_gw_client_arm(struct sn_client *c);

/* A topic id could not be given to c (rc from sn_topics_add): counted,
 * logged once per client for a full registry (a client looping over new
 * topics must not flood the log), every time for other errors. what says
 * what was refused. */
void sn_gw_note_topics_full(struct sn_client *c, int rc, const char *what, const char *topic);

/* Count a dropped datagram and log at a bounded pace. */
void sn_gw_note_bad(struct sn_gw *gw, const struct sn_peer *peer, bool malformed, const char *what);

/* c is evicted (mqttsn_max_unproven_clients): dropped as lost (its will
 * goes out); a provisional session of it is discarded, any other kept. */
void sn_gw_client_evict(struct sn_client *c, const char *why);

/* ---- sn_unproven.c: clients that have not proven their address ---- */

/* c is new (sn_gw_client_new): unproven, last on the list. No-op where the
 * amplification limit is off. */
void sn_unproven_add(struct sn_gw *gw, struct sn_client *c);

/* c leaves the list (proven, or leaving the table); ends an eviction
 * episode when half the cap is free again. No-op if not on it. */
void sn_unproven_del(struct sn_gw *gw, struct sn_client *c);

/* A new client is coming: at the cap the oldest unproven one is evicted
 * (counted, logged once per episode). */
void sn_unproven_make_room(struct sn_gw *gw);

/* s, provisional, was just left behind offline by its client (not at
 * shutdown): remembered; past the cap the oldest such session still
 * provisional and offline is discarded (svc_discard). */
void sn_unproven_left(struct sn_gw *gw, const struct sess *s);

/* c echoed an unpredictable value the gateway sent it (a REGACK naming the
 * random message id and topic id of our REGISTER): its address is proven
 * and the anti-amplification limit no longer applies (sn_amp.h); off the
 * list, its session an ordinary one. */
void sn_gw_validated(struct sn_client *c);

/* c sent a PUBLISH with topic id type normal naming id: if the gateway gave
 * c that id (REGACK, SUBACK) in this connection, among the first
 * SN_USE_PROOF_IDS, c is established: off the unproven list (not evicted,
 * its session an ordinary one), though the anti-amplification limit stays
 * until a REGACK proof (16 random bits, one guess, are a weaker proof than
 * the 32 of a REGISTER). known: the id is in c's registry. */
void sn_gw_note_use(struct sn_client *c, uint16_t id, bool known);

/* ---- sn_serial_gw.c: an mqttsn_serial block ---- */

/* Open gw's serial port (gw->lc is a serial block), load its settings
 * (Tretry defaults to the link speed, ADVERTISE to the link's broadcast)
 * and start its $SYS figures; cb gets every message. Returns 0 or a
 * negative error (logged; nothing left open). */
int sn_serial_gw_start(struct sn_gw *gw, sn_rx_cb *cb);

/* Close gw's serial port and its $SYS timer; no-op for a UDP gateway. */
void sn_serial_gw_stop(struct sn_gw *gw);

/* ---- sn_client.c: what clients send ---- */

/* CONNECT from peer (c: its current client, or NULL), §6.3. */
void sn_client_on_connect(struct sn_gw *gw, struct sn_client *c, const struct sn_peer *peer,
                          const struct sn_connect *cp);

/* Any other message from a known peer. */
void sn_client_on_msg(struct sn_client *c, const struct sn_msg *m);

/* A PINGREQ with client id from a peer without a client: after a restart,
 * a durable session whose client slept gets its client back, asleep, with
 * its topic ids (sn_state_*). Returns it, or NULL (drop the PINGREQ). */
struct sn_client *sn_client_restore(struct sn_gw *gw, const struct sn_peer *peer,
                                    struct gw_bytes id);

/* PUBLISH QoS -1 from a peer that is not connected, §6.8. */
void sn_client_on_publish_m1(struct sn_gw *gw, const struct sn_peer *peer,
                             const struct sn_publish *p);

/* ---- sn_conf.c: the listener's settings ---- */

/* Read lc's MQTT-SN options and files into cf (u resolves the ADVERTISE
 * address; NULL for a serial block, whose caller sets advertise_to). Returns 0, or a negative error
 * logged with FILE:LINE (cf is left empty). */
int sn_conf_load(struct sn_conf *cf, const struct cfg_listener *lc, struct sn_udp *u);

void sn_conf_fini(struct sn_conf *cf);

/* The predefined topic id for client (NULL: a peer that is not connected,
 * common entries only), by id or by topic name; NULL if there is none. */
const struct sn_predef *sn_predef_by_id(const struct sn_conf *cf, const char *client, uint16_t id);
const struct sn_predef *sn_predef_by_name(const struct sn_conf *cf, const char *client,
                                          struct gw_bytes name);

/* May peer (a datagram's source, node_len 0) send Encapsulated Messages
 * (§5.5)? Only an address listed by mqttsn_forwarder (or any with *). */
bool sn_conf_forwarder_allowed(const struct sn_gw *gw, const struct sn_peer *peer);

/* May client id connect (mqttsn_allowed_clients / mqttsn_client_allow_file)? */
bool sn_conf_client_allowed(const struct sn_conf *cf, const char *id);
bool sn_conf_client_allowed_n(const struct sn_conf *cf, struct gw_bytes id);

/* ---- sn_topics.c: registry ---- */

void sn_topics_fini(struct sn_topics *t);

/* The topic registered under id, or NULL (unknown or freed). */
const struct sn_topic *sn_topics_get(const struct sn_topics *t, uint16_t id);

/* Id of topic name, or 0 if it has none. */
uint16_t sn_topics_find(const struct sn_topics *t, struct gw_bytes name);

/* Register name (copied) and return its new id in *id, or the existing one
 * (marked acked when acked). Returns 1 when that changed the registry (a new
 * id, or one newly acked), 0 when not, -ENOSPC (the cap reached) or
 * -ENOMEM. */
int sn_topics_add(struct sn_topics *t, struct gw_bytes name, bool acked, uint16_t *id);

/* Mark id as known to the client (it acknowledged our REGISTER). */
void sn_topics_set_acked(struct sn_topics *t, uint16_t id);

/* Forget id (the client refused it). */
void sn_topics_del(struct sn_topics *t, uint16_t id);

/* Durable MQTT-SN state of a clean-session-0 client, so it survives a
 * restart: the topic ids the client knows, and whether it sleeps (§6.14).
 * No-ops for a clean session or without persistence.
 * sn_state_save writes the sleep state into the session record's link
 * state (only when it changed). */
void sn_state_save(struct sn_client *c);

/* Topic id became known to the client (acknowledged): stored as one record
 * (persist_link_put). sn_state_topic_forgotten deletes it. */
void sn_state_topic_saved(struct sn_client *c, uint16_t id);
void sn_state_topic_forgotten(struct sn_client *c, uint16_t id);

/* The client lets go of its durable session (drop, take-over): its
 * registry goes into the session's in-memory link records, for the next
 * client of the session (the store has each record already). */
void sn_state_stash(struct sn_client *c);

/* The sleep duration stored in s's link state, or 0 if it was not asleep
 * (or has no MQTT-SN state). */
uint16_t sn_state_sleep_s(const struct sess *s);

/* Load the topic ids of s (link records; a version 1 link state is read
 * and converted) into c's empty registry; the session's in-memory copy is
 * released. Returns 0, or -EINVAL (damaged: nothing loaded) or -ENOMEM. */
int sn_state_load(struct sn_client *c, struct sess *s);

/* ---- sn_deliver.c: session deliveries to a client ---- */

/* The client answered our REGISTER (§6.10). */
void sn_deliver_on_regack(struct sn_client *c, const struct sn_topic_ack *ra);

/* Timer callback of c->retry (arg: the client). */
void sn_deliver_on_retry(struct loop *l, void *arg);

/* The client acknowledged something: its retransmission count restarts. */
void sn_deliver_on_ack(struct sn_client *c);

/* c got topic id id in a SUBACK and has not proven its address: a REGISTER
 * of that id (random message id) asks for the REGACK that proves it, unless
 * a REGISTER is in flight already. Retransmitted, and the client lost after
 * Nretry, as any REGISTER. */
void sn_deliver_challenge(struct sn_client *c, uint16_t id);

/* Drop every held delivery and stop the retry timer (client gone). */
void sn_deliver_clear(struct sn_client *c);

/* The client goes to sleep (DISCONNECT with a duration, §6.14): stop the
 * retransmissions; later deliveries are buffered. */
void sn_deliver_sleep(struct sn_client *c);

/* The client is back (PINGREQ: AWAKE, or CONNECT: ACTIVE, state already
 * set): retransmit what was unacknowledged and send what was buffered,
 * registering topics first where needed. */
void sn_deliver_resume(struct sn_client *c);

/* An AWAKE client with nothing left to deliver or to be acknowledged gets
 * its PINGRESP and goes back to sleep (§6.14). No-op otherwise. */
void sn_deliver_check_awake(struct sn_client *c);

#endif
