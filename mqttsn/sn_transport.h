/* sn_transport.h - how the MQTT-SN gateway moves datagrams.
 *
 * A transport only moves whole MQTT-SN messages with an opaque peer
 * address (ARCHITECTURE.md "MQTT-SN is native"): UDP here, serial radios
 * later. The gateway never looks inside a peer address; it compares peers
 * byte for byte (struct sn_peer is canonical: two datagrams from the same
 * sender carry identical bytes) and asks the transport to print one.
 *
 * Receive side: the transport calls the sn_rx_cb its owner registered,
 * once per datagram, from the loop thread. Send side: sn_transport_ops.
 * Loop thread only. */
#ifndef SN_TRANSPORT_H
#define SN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct loop;
struct cfg_listener;

#define SN_PEER_MAX 32u  /* fits a sockaddr_in6 (28 bytes) */
#define SN_NODE_MAX 252u /* Wireless Node Id of an Encapsulated Message (MQTT-SN 1.2 §5.5) */

/* An opaque, canonical peer address: compare with sn_peer_eq. A client
 * behind a forwarder (§5.5) is the forwarder's address plus its wireless
 * node id; transports only see addr, the gateway adds the node. */
struct sn_peer {
    uint8_t len;
    uint8_t node_len; /* 0: not behind a forwarder */
    uint8_t addr[SN_PEER_MAX];
    uint8_t node[SN_NODE_MAX];
};

static inline int sn_peer_eq(const struct sn_peer *a, const struct sn_peer *b)
{
    return a->len == b->len && a->node_len == b->node_len &&
           memcmp(a->addr, b->addr, a->len) == 0 && memcmp(a->node, b->node, a->node_len) == 0;
}

/* What the gateway asks of a transport. */
struct sn_transport_ops {
    /* Send one message (p[0..n), borrowed) to peer. Returns 0 (sent or
     * queued to be sent this loop turn), or a negative error (the datagram
     * is lost; MQTT-SN retries cover it). */
    int (*send)(void *ctx, const struct sn_peer *peer, const uint8_t *p, size_t n);
    /* Print peer into buf (cap bytes, NUL-terminated) for log lines;
     * returns buf. */
    const char *(*peer_str)(void *ctx, const struct sn_peer *peer, char *buf, size_t cap);
    /* Optional (NULL: the whole address names the host). Copy into key the
     * part of peer's address that names the sending host, without what a
     * host varies at will (a UDP port), and return its length (<=
     * SN_PEER_MAX). Per-host caps count clients by it. */
    size_t (*peer_host)(void *ctx, const struct sn_peer *peer, uint8_t key[SN_PEER_MAX]);
    /* Optional (NULL: the transport authenticates no one). The identity the
     * transport verified for peer (DTLS: the PSK identity, or the
     * certificate's CN or subject), or NULL for none. Borrowed: valid
     * until the callback that got the datagram returns. */
    const char *(*peer_identity)(void *ctx, const struct sn_peer *peer);
    /* True if the transport delivers only datagrams from peers that proved
     * they receive at their address (DTLS: the cookie exchange). */
    bool proves_address;
};

/* Called for every datagram received: p[0..n) and peer are borrowed and
 * die when the callback returns. */
typedef void sn_rx_cb(void *arg, const struct sn_peer *peer, const uint8_t *p, size_t n);

/* ---- UDP (sn_udp.c) ---- */

struct sn_udp;

extern const struct sn_transport_ops sn_udp_ops; /* ctx is the struct sn_udp */

/* Where and how a UDP transport listens. */
struct sn_udp_opts {
    const char *addr; /* NULL: every address (dual-stack IPv6 unless domain is AF_INET) */
    uint16_t port;
    int domain;            /* 0, AF_INET or AF_INET6 */
    uint64_t rcvbuf_bytes; /* SO_RCVBUF(FORCE) value; 0 = the kernel's default */
};

/* Open a UDP socket as o says and watch it on loop l. cb gets every
 * datagram (read up to 16 per recvmmsg); truncated ones (over 64 KiB,
 * MSG_TRUNC) are dropped and counted. Sends are queued and leave in one
 * sendmmsg from a before-sleep hook (or when 32 are queued; a datagram over
 * 512 bytes goes at once, after the queue). Returns 0 and *out, or a
 * negative error (logged with the address); cb is never called then. */
int sn_udp_open(struct loop *l, const struct sn_udp_opts *o, sn_rx_cb *cb, void *arg,
                struct sn_udp **out);

/* Parse text, a numeric "ADDR", "ADDR:PORT" or "[V6ADDR]:PORT" (port
 * default_port when absent), into a peer u can send to (an IPv4 address
 * is v4-mapped on a dual-stack socket), and allow broadcast on u. Returns
 * 0, -EINVAL (not such an address) or -EAFNOSUPPORT (other family than the
 * socket's). */
int sn_udp_resolve(struct sn_udp *u, const char *text, uint16_t default_port, struct sn_peer *out);

/* Datagrams dropped as truncated so far. */
uint64_t sn_udp_truncated(const struct sn_udp *u);

/* Datagrams the kernel refused to send so far (lost; logged once per
 * episode). */
uint64_t sn_udp_send_failed(const struct sn_udp *u);

/* Stop watching and close the socket; frees u. NULL is a no-op. */
void sn_udp_close(struct sn_udp *u);

/* ---- DTLS 1.2 over UDP (sn_dtls.c) ---- */

struct sn_dtls;

extern const struct sn_transport_ops sn_dtls_ops; /* ctx is the struct sn_dtls */

/* The DTLS session with peer ended (close_notify, failure, idle): a client
 * the gateway keeps for that address has lost its secure channel. */
typedef void sn_gone_cb(void *arg, const struct sn_peer *peer);

/* Open a DTLS server on a UDP socket for listener lc (its TLS options
 * turned DTLS on: certificates and psk_file are read here, errors logged
 * with the file and reason). cb gets every decrypted datagram, only from
 * established sessions; gone is told when an established session ends.
 * Returns 0 and *out, or a negative error (logged; cb never called). */
int sn_dtls_open(struct loop *l, const struct cfg_listener *lc, sn_rx_cb *cb, sn_gone_cb *gone,
                 void *arg, struct sn_dtls **out);

/* SIGHUP: read lc's TLS files again. New handshakes use them; open
 * sessions keep the old ones. A file that fails keeps everything as it
 * was and logs why. */
void sn_dtls_reload(struct sn_dtls *d, const struct cfg_listener *lc);

/* The UDP socket under d (to resolve addresses with sn_udp_resolve). */
struct sn_udp *sn_dtls_udp(struct sn_dtls *d);

/* Caps: sessions of the listener (handshaking ones included), sessions from
 * one host (sn_udp peer_host), and how long an established session may go
 * without a datagram before it is closed (ms). 0 keeps a default. */
void sn_dtls_set_limits(struct sn_dtls *d, uint32_t max_sessions, uint32_t max_per_host,
                        uint64_t idle_ms);

/* DTLS figures of one listener. */
struct sn_dtls_stats {
    uint64_t sessions;    /* held now, handshaking ones included */
    uint64_t handshaking; /* of those, handshake not finished */
    uint64_t cookies;     /* HelloVerifyRequests sent (ClientHellos without a valid cookie) */
    uint64_t established; /* handshakes that finished */
    uint64_t failed;      /* handshakes and sessions that failed (logged) */
    uint64_t refused;     /* ClientHellos dropped at a cap */
    uint64_t deferred;    /* handshake datagrams put off by the CPU budget */
    uint64_t not_dtls;    /* from peers without a session, not a ClientHello */
};

void sn_dtls_get_stats(const struct sn_dtls *d, struct sn_dtls_stats *out);

/* Send close_notify to every session, close the socket, free d. NULL is a
 * no-op. Does not call gone. */
void sn_dtls_close(struct sn_dtls *d);

#endif
