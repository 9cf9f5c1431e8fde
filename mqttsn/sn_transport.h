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

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct loop;

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

#endif
