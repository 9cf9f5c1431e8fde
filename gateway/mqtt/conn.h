/* conn.h - one MQTT network connection over a byte stream (stream.h:
 * TCP, TLS, WebSocket).
 *
 * Reads into an input buffer and hands each complete packet to
 * mqtt_proto; output goes into a per-connection queue flushed with writev
 * from the broker's end-of-iteration hook (one syscall per connection per
 * loop turn). A connection is never freed inside its own callbacks:
 * conn_close_later marks it and the broker's hook closes and frees it. */
#ifndef CONN_H
#define CONN_H

#include "buf.h"
#include "loop.h"
#include "outq.h"
#include "stream.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct auth_worker_req;
struct broker;
struct conn_rate;
struct lsn;
struct mqtt_fe;
struct mqtt_v5;
struct mqtt_wait_ring;
struct sess;

enum conn_state {
    CONN_ST_NEW = 0, /* TCP accepted, waiting for CONNECT */
    CONN_ST_ACTIVE,  /* CONNACK 0 sent */
    CONN_ST_CLOSING  /* marked; freed at the end of the iteration */
};

/* The password check of a CONNECT (mqtt_proto.c), run off the loop. */
enum conn_pw {
    CONN_PW_NONE = 0,
    CONN_PW_PENDING, /* submitted: input held */
    CONN_PW_OK,      /* verified: the held CONNECT goes on */
    CONN_PW_BAD
};

/* Field order and widths keep an idle connection small: a gateway holds
 * thousands of them (README "Benchmarks", memory per idle connection).
 * What only some connections need is allocated on first use: the input
 * buffer (a partial packet), the wait ring (persistence), MQTT 5 state,
 * the publish rate state. */
struct conn {
    struct broker *b;
    struct lsn *lsn; /* its front-end is lsn->fe (conn_fe) */
    struct stream *stream; /* NULL once closed (a zombie waiting for its batches) */
    struct stream tcp;     /* a plain TCP stream's storage (lsn_stream) */
    struct sess *sess;
    struct mqtt_v5 *v5; /* MQTT 5 state, NULL for 3.1 / 3.1.1 */
    struct outq out;
    struct loop_timer timer; /* CONNECT timeout, then keepalive */
    uint64_t last_rx_ms;
    struct buf *in; /* a partial packet's bytes; NULL until the first one */
    struct mqtt_wait_ring *waits;   /* output waiting for store commits (mqtt_ack.c) */
    /* The password check runs only before CONNECT is accepted, the publish
     * rate state is made only after: one pointer serves both, and pw_state
     * says which (CONN_PW_PENDING: pw_req). */
    union {
        struct auth_worker_req *pw_req; /* the check running, NULL = none */
        struct conn_rate *rate; /* max_publish_rate state, made at the first PUBLISH */
    };
    int close_reason;
    uint16_t peer_port;
    uint16_t keepalive_s;
    uint8_t peer_addr[16]; /* IPv4 (first 4 bytes) or IPv6, for logs */
    uint8_t peer_family;   /* AF_INET or AF_INET6 */
    uint8_t state;         /* enum conn_state */
    uint8_t version;       /* protocol level after CONNECT */
    uint8_t v5_disconnect; /* reason for the DISCONNECT we send, 0 = from the error */
    uint8_t pw_state;      /* enum conn_pw: the held CONNECT's check */
    uint8_t turn_pkts;     /* packets handled since the share's clock was read */
    uint8_t stream_want;   /* stream_want() when the loop interest was last set */
    bool zombie : 1;         /* closed, kept until no store batch holds its output */
    bool sub_cap_logged : 1; /* max_subscriptions_per_client refusal logged */
    bool bridge_client : 1;  /* CONNECT level 0x83/0x84: no echo of its own messages */
    bool held : 1;           /* input held: the CONNECT waits for its password check */
    bool rate_paused : 1;    /* over its publish rate: not reading until it refills */
    bool turn_paused : 1;    /* used its share of this loop turn: goes on in the next */
    bool turn_queued : 1;    /* on the front-end's turn list (turn_next) */
    bool is_client : 1;      /* CONNECT accepted: counted in broker.n_clients */
    bool verified : 1;       /* the CONNECT's username passed the password check */
    bool clean_disconnect : 1; /* DISCONNECT received: no will [MQTT-3.14.4-3] */
    bool on_pending : 1;
    bool read_paused : 1;
    bool write_armed : 1;
    struct conn *prev;
    struct conn *next;
    struct conn *pend_next;
    /* A connection is on the turn list (turn_queued) or, once closing, on
     * the closing list, never both: conn_close_later takes it off the turn
     * list first and pause_for_turn skips a closing one. */
    union {
        struct conn *turn_next;
        struct conn *close_next;
    };
};

/* Leave the packet being handled in the input buffer, unconsumed, and
 * handle nothing more (nor read) until conn_release_input: a CONNECT
 * waiting for its password check is handled again, whole, when the
 * answer is in. */
void conn_hold_input(struct conn *c);

/* Handle the held input again (the held packet first), then read on. */
void conn_release_input(struct conn *c);

/* max_publish_rate / max_publish_bytes_rate for a PUBLISH of n payload
 * bytes at qos. Returns true to go on, false to drop it (QoS 0 over the
 * rate: counted, logged once per episode). QoS 1/2 always go on, but a
 * client over its rate is not read (nor its buffered packets handled)
 * until the buckets refill: slowed, never lost. */
bool conn_rate_publish(struct conn *c, uint8_t qos, size_t n);

/* Take over an accepted, non-blocking socket, speaking through the stream
 * its listener gives (lsn_stream). Returns 0, or -errno / -ENOMEM (fd is
 * closed then). */
int conn_create(struct broker *b, struct lsn *lsn, int fd, const struct sockaddr *addr);

/* Take over s, a stream whose TLS handshake the handshake worker finished
 * (accepted on lsn at started_ms; lsn->n_conns and connections_accepted
 * counted it then), and read what the handshake left buffered. Returns 0,
 * or -errno / -ENOMEM (s is destroyed then; the caller uncounts it). */
int conn_adopt(struct broker *b, struct lsn *lsn, struct stream *s, const struct sockaddr *addr,
               uint64_t started_ms);

/* Mark c for closing with reason (0 = normal). Stops reading; the link is
 * no longer writable, so no more output is queued for it. Its session
 * stays attached until the end of the iteration (a CONNECT of the same
 * client meanwhile takes it over). Idempotent. */
void conn_close_later(struct conn *c, int reason);

/* Queue n bytes of output. Returns 0, or an error if the connection is
 * closing or over its hard output limit (it is then marked closing). */
int conn_send(struct conn *c, const void *p, size_t n);

/* Reserve n bytes of output to fill in place, or NULL (connection closing
 * or out of memory: it is then marked closing). */
uint8_t *conn_reserve(struct conn *c, size_t n);

/* Queue p[0..n) by reference; release(arg) runs when written or dropped
 * (always, even on failure). */
int conn_send_ref(struct conn *c, const void *p, size_t n, outq_release_cb *release, void *arg);

/* True while output is under the soft limit and the connection is open. */
bool conn_writable(const struct conn *c);

/* "addr:port" of the peer, for log lines. Returns a static buffer that the
 * next call overwrites: use once per log line. Loop thread only. */
const char *conn_peer(const struct conn *c);

/* The front-end's turn timer (mqtt_fe.turn_timer, arg: the mqtt_fe):
 * connections that used their share of the last loop turn go on. */
void conn_turn_timer(struct loop *l, void *arg);

/* Close and free c (broker hook only). */
void conn_destroy(struct conn *c);

/* Write queued output (broker hook only). */
void conn_flush(struct conn *c);

/* A closing connection's last words (broker hook only): one best-effort
 * write of what is queued (a refusal CONNACK, the last acks), then the
 * stream's orderly goodbye (TLS close_notify, WebSocket close). */
void conn_flush_final(struct conn *c);

/* Close the socket of a connection whose struct must outlive it (store
 * batches still hold its output: mqtt_fe.c). */
void conn_drop_stream(struct conn *c);

#endif
