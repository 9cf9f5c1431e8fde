/* sn_udp.c - MQTT-SN over UDP: one datagram is one message (MQTT-SN 1.2
 * §5.2; STYLE.md 5). The peer address is the sender's sockaddr, rewritten
 * into a zeroed canonical form so equal senders compare equal. */
#include "alloc.h"
#include "log.h"
#include "loop.h"
#include "sn_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_RX_BUDGET 256    /* datagrams per readiness event */
#define UDP_RX_MAX    65536u /* larger than any MQTT-SN message (SN_MAX_LEN) */

struct sn_udp {
    struct loop *loop;
    int fd;
    sn_rx_cb *cb;
    void *arg;
    uint64_t truncated;
    bool trunc_logged;
    char name[80];
    uint8_t buf[UDP_RX_MAX];
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

static void on_readable(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct sn_udp *u = arg;
    for (int i = 0; i < UDP_RX_BUDGET; i++) {
        struct sockaddr_storage ss;
        struct iovec iov = {.iov_base = u->buf, .iov_len = sizeof(u->buf)};
        struct msghdr mh = {
                .msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = &iov, .msg_iovlen = 1};
        memset(&ss, 0, sizeof(ss));
        ssize_t n = recvmsg(fd, &mh, MSG_TRUNC);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                gw_log(GW_WARN, "sn_udp", "listener=%s recvmsg: %s", u->name,
                       strerror(errno)); /* NOLINT(concurrency-mt-unsafe) */
            }
            return;
        }
        struct sn_peer peer;
        if (!peer_from_sockaddr(&ss, &peer)) {
            continue;
        }
        if ((mh.msg_flags & MSG_TRUNC) || (size_t)n > sizeof(u->buf)) {
            /* Never parse a cut message (STYLE.md 5). */
            u->truncated++;
            if (!u->trunc_logged) {
                u->trunc_logged = true;
                gw_log(GW_WARN, "sn_udp",
                       "listener=%s truncated datagram of %zd bytes dropped "
                       "(counted, logged once)",
                       u->name, n);
            }
            continue;
        }
        u->cb(u->arg, &peer, u->buf, (size_t)n);
    }
}

static int udp_send(void *ctx, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    struct sn_udp *u = ctx;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, peer->addr, peer->len);
    ssize_t w = sendto(u->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss, peer->len);
    if (w < 0) {
        return -errno;
    }
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

int sn_udp_open(struct loop *l, const char *addr, uint16_t port, int domain, sn_rx_cb *cb,
                void *arg, struct sn_udp **out)
{
    int fd = bind_udp(addr, port, domain);
    if (fd < 0) {
        gw_log(GW_ERROR, "sn_udp", "listener %s port %u (udp): %s", addr ? addr : "*", port,
               strerror(-fd)); /* NOLINT(concurrency-mt-unsafe) */
        return fd;
    }
    struct sn_udp *u = gw_calloc(1, sizeof(*u));
    if (!u) {
        (void)close(fd);
        return -ENOMEM;
    }
    u->loop = l;
    u->fd = fd;
    u->cb = cb;
    u->arg = arg;
    (void)snprintf(u->name, sizeof(u->name), "%s:%u", addr ? addr : "*", port);
    int rc = loop_fd_add(l, fd, LOOP_READ, on_readable, u);
    if (rc < 0) {
        (void)close(fd);
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

void sn_udp_close(struct sn_udp *u)
{
    if (!u) {
        return;
    }
    (void)loop_fd_del(u->loop, u->fd);
    (void)close(u->fd);
    gw_free(u);
}
