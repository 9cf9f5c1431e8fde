/* sn_udp.c - MQTT-SN over UDP: one datagram is one message (MQTT-SN 1.2
 * §5.2; STYLE.md 5). The peer address is the sender's sockaddr, rewritten
 * into a zeroed canonical form so equal senders compare equal. */
#include "alloc.h"
#include "log.h"
#include "loop.h"
#include "sn_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_RX_BUDGET 256    /* datagrams per readiness event */
#define UDP_RX_MAX    65536u /* larger than any MQTT-SN message (SN_MAX_LEN) */
/* Datagrams per recvmmsg: each slot can take a whole 64 KiB datagram (a cut
 * one is dropped, never parsed), so the slots are 1 MiB of address space;
 * only the pages datagrams are written to become resident (one each for
 * MQTT-SN's usual sizes). */
#define UDP_RX_BATCH  16u
/* Outgoing datagrams queued for one sendmmsg at the end of the loop turn;
 * a larger one is sent on its own, in order. */
#define UDP_TX_BATCH  32u
#define UDP_TX_SLOT   512u

struct sn_udp {
    struct loop *loop;
    int fd;
    sn_rx_cb *cb;
    void *arg;
    uint64_t truncated;
    bool trunc_logged;
    uint64_t send_failed;  /* datagrams the kernel refused (sn_udp_send_failed) */
    bool send_fail_logged; /* one log line per episode */
    uint64_t flushed_turn; /* loop_turn() of the last flush hook */
    char name[80];
    uint8_t *rx_buf; /* UDP_RX_BATCH slots of UDP_RX_MAX bytes */
    struct mmsghdr rx_msg[UDP_RX_BATCH];
    struct iovec rx_iov[UDP_RX_BATCH];
    struct sockaddr_storage rx_addr[UDP_RX_BATCH];
    unsigned tx_n; /* queued datagrams */
    struct mmsghdr tx_msg[UDP_TX_BATCH];
    struct iovec tx_iov[UDP_TX_BATCH];
    struct sockaddr_storage tx_addr[UDP_TX_BATCH];
    uint8_t tx_buf[UDP_TX_BATCH][UDP_TX_SLOT];
};

/* Canonical peer bytes: family, port and address only. */
static bool peer_from_sockaddr(const struct sockaddr_storage *ss, struct sn_peer *out)
{
    memset(out, 0, sizeof(*out));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        struct sockaddr_in c = {.sin_family = AF_INET, .sin_port = in->sin_port};
        c.sin_addr = in->sin_addr;
        memcpy(out->addr, &c, sizeof(c));
        out->len = (uint8_t)sizeof(c);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        struct sockaddr_in6 c = {.sin6_family = AF_INET6, .sin6_port = in6->sin6_port};
        c.sin6_addr = in6->sin6_addr;
        c.sin6_scope_id = in6->sin6_scope_id;
        memcpy(out->addr, &c, sizeof(c));
        out->len = (uint8_t)sizeof(c);
        return true;
    }
    return false;
}

static void note_truncated(struct sn_udp *u, size_t n)
{
    /* Never parse a cut message (STYLE.md 5). */
    u->truncated++;
    if (!u->trunc_logged) {
        u->trunc_logged = true;
        gw_log(GW_WARN, "sn_udp",
               "listener=%s truncated datagram of %zu bytes dropped (counted, logged once)",
               u->name, n);
    }
}

/* Read up to n datagrams in one recvmmsg; returns how many, 0 when none is
 * waiting (or on an error, logged). */
static unsigned rx_batch(struct sn_udp *u, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        u->rx_iov[i] = (struct iovec){.iov_base = u->rx_buf + (size_t)i * UDP_RX_MAX,
                                      .iov_len = UDP_RX_MAX};
        u->rx_msg[i].msg_hdr = (struct msghdr){.msg_name = &u->rx_addr[i],
                                               .msg_namelen = sizeof(u->rx_addr[i]),
                                               .msg_iov = &u->rx_iov[i],
                                               .msg_iovlen = 1};
        u->rx_msg[i].msg_len = 0;
    }
    int got = recvmmsg(u->fd, u->rx_msg, n, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (got >= 0) {
        return (unsigned)got;
    }
    if (errno != EAGAIN && errno != EINTR) {
        gw_log(GW_WARN, "sn_udp", "listener=%s recvmmsg: %s", u->name,
               strerror(errno)); /* NOLINT(concurrency-mt-unsafe) */
    }
    return 0;
}

static void on_readable(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct sn_udp *u = arg;
    unsigned budget = UDP_RX_BUDGET;
    while (budget > 0) {
        unsigned want = budget < UDP_RX_BATCH ? budget : UDP_RX_BATCH;
        unsigned got = rx_batch(u, want);
        for (unsigned i = 0; i < got; i++) {
            const struct mmsghdr *m = &u->rx_msg[i];
            struct sn_peer peer;
            if (!peer_from_sockaddr(&u->rx_addr[i], &peer)) {
                continue;
            }
            if ((m->msg_hdr.msg_flags & MSG_TRUNC) || m->msg_len > UDP_RX_MAX) {
                note_truncated(u, m->msg_len);
                continue;
            }
            u->cb(u->arg, &peer, m->msg_hdr.msg_iov->iov_base, m->msg_len);
        }
        if (got < want) {
            return; /* the socket is drained */
        }
        budget -= got;
    }
}

static void note_send_failed(struct sn_udp *u, int err, unsigned n)
{
    u->send_failed += n;
    if (!u->send_fail_logged) {
        u->send_fail_logged = true;
        gw_log(GW_WARN, "sn_udp",
               "listener=%s send: %s: %u datagram(s) lost (counted; logged once until a send "
               "succeeds; MQTT-SN retries cover QoS 1/2)",
               u->name, strerror(err), n); /* NOLINT(concurrency-mt-unsafe) */
    }
}

/* Send every queued datagram: sendmmsg until all are out or the kernel
 * refuses one (that one is lost, counted, and the rest are tried). */
static void tx_flush(struct sn_udp *u)
{
    unsigned done = 0;
    while (done < u->tx_n) {
        int sent = sendmmsg(u->fd, u->tx_msg + done, u->tx_n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            done += (unsigned)sent;
            u->send_fail_logged = false;
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        note_send_failed(u, sent < 0 ? errno : EIO, 1);
        done++; /* a datagram the kernel refuses is lost like one the network drops */
    }
    u->tx_n = 0;
}

static void on_before_sleep(struct loop *l, void *arg)
{
    struct sn_udp *u = arg;
    u->flushed_turn = loop_turn(l);
    if (u->tx_n) {
        tx_flush(u);
    }
}

static int send_now(struct sn_udp *u, const struct sockaddr_storage *ss, socklen_t len,
                    const uint8_t *p, size_t n)
{
    ssize_t w = sendto(u->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)ss, len);
    if (w < 0) {
        int rc = -errno;
        note_send_failed(u, -rc, 1);
        return rc;
    }
    u->send_fail_logged = false;
    return 0;
}

/* Queue one datagram for the end of the turn (one sendmmsg for all of
 * them, as the TCP side writes once per connection per turn). */
static int udp_send(void *ctx, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    struct sn_udp *u = ctx;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, peer->addr, peer->len);
    if (n > UDP_TX_SLOT) {
        tx_flush(u); /* keep the order */
        return send_now(u, &ss, peer->len, p, n);
    }
    if (u->tx_n == UDP_TX_BATCH) {
        tx_flush(u);
    }
    if (u->flushed_turn == loop_turn(u->loop)) {
        /* Queued by a hook after ours in this pass: make the loop pass the
         * hooks again before it sleeps, or this would wait for the next
         * event. */
        loop_skip_sleep(u->loop);
    }
    unsigned i = u->tx_n++;
    memcpy(u->tx_buf[i], p, n);
    u->tx_addr[i] = ss;
    u->tx_iov[i] = (struct iovec){.iov_base = u->tx_buf[i], .iov_len = n};
    u->tx_msg[i].msg_hdr = (struct msghdr){.msg_name = &u->tx_addr[i],
                                           .msg_namelen = peer->len,
                                           .msg_iov = &u->tx_iov[i],
                                           .msg_iovlen = 1};
    return 0;
}

static const char *udp_peer_str(void *ctx, const struct sn_peer *peer, char *buf, size_t cap)
{
    (void)ctx;
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN] = "?";
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, peer->addr, peer->len);
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&ss;
        (void)inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        (void)snprintf(buf, cap, "%s:%u", host, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&ss;
        (void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        (void)snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    }
    return buf;
}

/* The host of a UDP peer: its canonical sockaddr with the port zeroed (any
 * host can send from 65,535 ports). */
static size_t udp_peer_host(void *ctx, const struct sn_peer *peer, uint8_t key[SN_PEER_MAX])
{
    (void)ctx;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, peer->addr, peer->len);
    if (ss.ss_family == AF_INET) {
        ((struct sockaddr_in *)(void *)&ss)->sin_port = 0;
    } else if (ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)(void *)&ss)->sin6_port = 0;
    }
    memcpy(key, &ss, peer->len);
    return peer->len;
}

const struct sn_transport_ops sn_udp_ops = {
        .send = udp_send,
        .peer_str = udp_peer_str,
        .peer_host = udp_peer_host,
};

static int open_socket(const char *addr, int domain, struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        return -errno;
    }
    if (ai->ai_family == AF_INET6) {
        /* As TCP listeners (lsn.c): an explicit IPv6 address is IPv6 only,
         * "all addresses" is dual-stack unless socket_domain ipv6. */
        int v6only = (addr || domain == AF_INET6) ? 1 : 0;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int rc = -errno;
        (void)close(fd);
        return rc;
    }
    return fd;
}

static int bind_udp(const char *addr, uint16_t port, int domain)
{
    char ports[8];
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    (void)snprintf(ports, sizeof(ports), "%u", port);
    hints.ai_family = domain ? domain : AF_UNSPEC;
    if (!addr && hints.ai_family == AF_UNSPEC) {
        hints.ai_family = AF_INET6; /* dual-stack wildcard */
    }
    int gai = getaddrinfo(addr, ports, &hints, &res);
    if (gai != 0) {
        gw_log(GW_ERROR, "sn_udp", "listener %s port %u: cannot resolve address: %s",
               addr ? addr : "*", port, gai_strerror(gai));
        return -EADDRNOTAVAIL;
    }
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = open_socket(addr, domain, ai);
    }
    freeaddrinfo(res);
    return fd;
}

/* Ask for a receive buffer of rcvbuf_bytes (as SO_RCVBUF: Linux books
 * twice the value, the half for its own bookkeeping). A burst of datagrams
 * that arrives while the loop is busy or descheduled waits there; what does
 * not fit is dropped by the kernel before Tern sees it. SO_RCVBUFFORCE
 * passes net.core.rmem_max when we may (root or CAP_NET_ADMIN); otherwise
 * SO_RCVBUF is capped at rmem_max, and the log says so. */
static void set_rcvbuf(struct sn_udp *u, uint64_t rcvbuf_bytes)
{
    if (rcvbuf_bytes == 0) {
        return; /* the kernel's default (net.core.rmem_default) */
    }
    int want = rcvbuf_bytes > (uint64_t)INT_MAX / 2 ? INT_MAX / 2 : (int)rcvbuf_bytes;
    bool forced = setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) == 0;
    if (!forced) {
        (void)setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    }
    int got = 0;
    socklen_t len = sizeof(got);
    (void)getsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    if (got / 2 < want) {
        gw_log(GW_NOTICE, "sn_udp",
               "listener=%s receive buffer %d bytes instead of mqttsn_udp_receive_buffer %d: "
               "no CAP_NET_ADMIN and net.core.rmem_max is lower (raise it with sysctl, or run "
               "with CAP_NET_ADMIN)",
               u->name, got / 2, want);
    }
}

int sn_udp_open(struct loop *l, const struct sn_udp_opts *o, sn_rx_cb *cb, void *arg,
                struct sn_udp **out)
{
    int fd = bind_udp(o->addr, o->port, o->domain);
    if (fd < 0) {
        gw_log(GW_ERROR, "sn_udp", "listener %s port %u (udp): %s", o->addr ? o->addr : "*",
               o->port, strerror(-fd)); /* NOLINT(concurrency-mt-unsafe) */
        return fd;
    }
    struct sn_udp *u = gw_calloc(1, sizeof(*u));
    /* Not calloc: untouched slots stay out of the resident set. */
    uint8_t *rx = gw_alloc((size_t)UDP_RX_BATCH * UDP_RX_MAX);
    if (!u || !rx) {
        (void)close(fd);
        gw_free(u);
        gw_free(rx);
        return -ENOMEM;
    }
    u->loop = l;
    u->fd = fd;
    u->cb = cb;
    u->arg = arg;
    u->rx_buf = rx;
    (void)snprintf(u->name, sizeof(u->name), "%s:%u", o->addr ? o->addr : "*", o->port);
    set_rcvbuf(u, o->rcvbuf_bytes);
    int rc = loop_hook_add(l, on_before_sleep, u);
    if (rc == 0) {
        rc = loop_fd_add(l, fd, LOOP_READ, on_readable, u);
        if (rc < 0) {
            loop_hook_del(l, on_before_sleep, u);
        }
    }
    if (rc < 0) {
        (void)close(fd);
        gw_free(u->rx_buf);
        gw_free(u);
        return rc;
    }
    gw_log(GW_NOTICE, "sn_udp", "listening on %s (mqttsn/udp)", u->name);
    *out = u;
    return 0;
}

/* Split "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT" in place. */
static bool split_host_port(char *text, char **host, char **port)
{
    *port = NULL;
    if (text[0] == '[') {
        char *end = strchr(text, ']');
        if (!end || (end[1] != '\0' && end[1] != ':')) {
            return false;
        }
        *end = '\0';
        *host = text + 1;
        *port = end[1] == ':' ? end + 2 : NULL;
        return true;
    }
    char *colon = strchr(text, ':');
    *host = text;
    if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4 or name with a port */
        *colon = '\0';
        *port = colon + 1;
    }
    return true;
}

/* A port given in text: digits only, 1..65535 (getaddrinfo would take
 * 99999 and wrap it). */
static bool port_valid(const char *p)
{
    unsigned long v = 0;
    if (!*p || strlen(p) > 5) {
        return false;
    }
    for (const char *q = p; *q; q++) {
        if (*q < '0' || *q > '9') {
            return false;
        }
        v = v * 10u + (unsigned long)(*q - '0');
    }
    return v >= 1 && v <= 65535;
}

/* A v4 address as the v4-mapped IPv6 address a dual-stack socket needs. */
static void map_v4(const struct sockaddr_in *in, struct sockaddr_in6 *out)
{
    memset(out, 0, sizeof(*out));
    out->sin6_family = AF_INET6;
    out->sin6_port = in->sin_port;
    out->sin6_addr.s6_addr[10] = 0xff;
    out->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&out->sin6_addr.s6_addr[12], &in->sin_addr, 4);
}

int sn_udp_resolve(struct sn_udp *u, const char *text, uint16_t default_port, struct sn_peer *out)
{
    char buf[256];
    char *host;
    char *port;
    if (strlen(text) >= sizeof(buf)) {
        return -EINVAL;
    }
    memcpy(buf, text, strlen(text) + 1);
    if (!split_host_port(buf, &host, &port) || !*host || (port && !port_valid(port))) {
        return -EINVAL;
    }
    char ports[8];
    (void)snprintf(ports, sizeof(ports), "%u", default_port);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port ? port : ports, &hints, &res) != 0 || !res) {
        return -EINVAL;
    }
    struct sockaddr_storage own;
    socklen_t own_len = sizeof(own);
    memset(&own, 0, sizeof(own));
    (void)getsockname(u->fd, (struct sockaddr *)&own, &own_len);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss.ss_family == AF_INET && own.ss_family == AF_INET6) {
        struct sockaddr_in6 m6;
        map_v4((const struct sockaddr_in *)(const void *)&ss, &m6);
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, &m6, sizeof(m6));
    } else if (ss.ss_family != own.ss_family) {
        return -EAFNOSUPPORT;
    }
    if (!peer_from_sockaddr(&ss, out)) {
        return -EAFNOSUPPORT;
    }
    /* A broadcast address needs SO_BROADCAST; harmless for the others. */
    int on = 1;
    (void)setsockopt(u->fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
    return 0;
}

uint64_t sn_udp_truncated(const struct sn_udp *u)
{
    return u->truncated;
}

uint64_t sn_udp_send_failed(const struct sn_udp *u)
{
    return u->send_failed;
}

void sn_udp_close(struct sn_udp *u)
{
    if (!u) {
        return;
    }
    tx_flush(u); /* what the gateway said last (DISCONNECTs at shutdown) */
    loop_hook_del(u->loop, on_before_sleep, u);
    (void)loop_fd_del(u->loop, u->fd);
    (void)close(u->fd);
    gw_free(u->rx_buf);
    gw_free(u);
}
