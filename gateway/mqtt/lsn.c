/* lsn.c - TCP listeners. */
#include "lsn.h"

#include "alloc.h"
#include "broker.h"
#include "conn.h"
#include "log.h"
#include "mqtt_fe.h"
#include "stream.h"
#include "stream_tls.h"
#include "stream_ws.h"
#include "tls_hs_worker.h"
#include "token_bucket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LSN_BACKLOG       1024
#define LSN_ACCEPT_BUDGET 64

#define LSN_PAUSE_MS      250 /* retry after EMFILE when nothing closes */

static void resume(struct lsn *l)
{
    if (!l->paused) {
        return;
    }
    loop_timer_stop(l->b->loop, &l->pause_timer);
    l->paused = false;
    (void)loop_fd_mod(l->b->loop, l->fd, LOOP_READ);
}

static void on_pause_timer(struct loop *lp, void *arg)
{
    (void)lp;
    resume(arg);
}

/* accept failed for want of a resource: retrying at once would spin at
 * 100% CPU (the pending connection stays in the backlog and the listener
 * stays readable), so stop watching it. One log line per episode. */
static void pause_accepting(struct lsn *l, int err)
{
    if (!l->fd_episode) {
        l->fd_episode = true;
        gw_log(GW_WARN, "lsn",
               "listener=%s accept failed: %s (%zu connections here); not accepting until a "
               "descriptor frees",
               l->name, strerror(err), l->n_conns); /* NOLINT(concurrency-mt-unsafe) */
    }
    l->paused = true;
    (void)loop_fd_mod(l->b->loop, l->fd, 0);
    (void)loop_timer_start(l->b->loop, &l->pause_timer, loop_now_ms(l->b->loop) + LSN_PAUSE_MS);
}

static void note_accepted(struct lsn *l)
{
    if (l->fd_episode) {
        l->fd_episode = false;
        gw_log(GW_NOTICE, "lsn", "listener=%s accepting again", l->name);
    }
    if (l->full_episode && l->n_conns < (size_t)l->max_connections) {
        l->full_episode = false;
        gw_log(GW_NOTICE, "lsn", "listener=%s below max_connections again (%llu refused)",
               l->name, (unsigned long long)l->refused);
        l->refused = 0;
    }
}

/* max_connection_rate: true if addr may open another connection now.
 * Over it, the connection is closed at accept; logged once per address
 * until it has room again. */
static bool rate_allows(struct lsn *l, const struct sockaddr_storage *ss)
{
    uint32_t rate = l->b->cfg->max_connection_rate;
    if (!rate) {
        return true;
    }
    if (!l->rates && !(l->rates = gw_calloc(1, sizeof(*l->rates)))) {
        return true;
    }
    uint8_t addr[16] = {0};
    char text[64] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        memcpy(addr, &in->sin_addr, 4);
        (void)inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        memcpy(addr, &in6->sin6_addr, 16);
        (void)inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    }
    uint64_t now = loop_now_ms(l->b->loop);
    struct tb_slot *s = tb_table_get(l->rates, addr, now);
    if (tb_take(&s->b, rate, rate, 1, now)) {
        s->over = false;
        return true;
    }
    l->b->st.rate_refused++;
    l->b->st.connections_refused++;
    if (!s->over) {
        s->over = true;
        gw_log(GW_NOTICE, "lsn",
               "listener=%s connections from %s over max_connection_rate %u/s: closing them "
               "(further ones counted only)",
               l->name, text, rate);
    }
    return false;
}

/* A websockets listener's MQTT comes in WebSocket frames over the
 * socket's stream (TCP: ws://, TLS: wss://). A frame or message may be
 * max_packet_size and 64 KiB more: room for small packets batched with
 * a large one in one frame. NULL: no memory; inner is then destroyed but
 * its socket left open (the caller closes it). */
struct stream *lsn_wrap_websocket(struct lsn *l, struct stream *inner)
{
    const struct gw_config *cfg = l->b->cfg;
    uint64_t packet_max = cfg->max_packet_size ? cfg->max_packet_size : 268435455u + 5u;
    struct stream_ws_opts o = {.headers_max = cfg->websockets_headers_size,
                               .frame_max = packet_max + 65536u};
    struct stream *ws = stream_ws_create(inner, &o);
    if (!ws) {
        inner->fd = -1;
        stream_destroy(inner);
    }
    return ws;
}

struct stream *lsn_stream(struct lsn *l, int fd, struct stream *tcp)
{
    stream_tcp_init(tcp, fd);
    return l->websockets ? lsn_wrap_websocket(l, tcp) : tcp;
}

static void on_accept(struct loop *lp, int fd, unsigned events, void *arg)
{
    (void)lp;
    (void)fd;
    (void)events;
    struct lsn *l = arg;
    for (int i = 0; i < LSN_ACCEPT_BUDGET && !l->paused; i++) {
        struct sockaddr_storage ss = {0};
        socklen_t len = sizeof(ss);
        int c = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            int err = errno;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                pause_accepting(l, err);
            } else if (err != EAGAIN && err != EINTR && err != ECONNABORTED) {
                gw_log(GW_WARN, "lsn", "listener=%s accept failed: %s", l->name,
                       strerror(err)); /* NOLINT(concurrency-mt-unsafe) */
            }
            return;
        }
        if (!rate_allows(l, &ss)) {
            (void)close(c);
            continue;
        }
        if (broker_memory_full(l->b)) {
            /* Over memory_limit (logged once by the broker): a new
             * connection would cost what is not there. */
            l->b->st.connections_refused++;
            l->b->st.memory_refused++;
            (void)close(c);
            continue;
        }
        if (l->max_connections >= 0 && l->n_conns >= (size_t)l->max_connections) {
            l->b->st.connections_refused++;
            l->refused++;
            if (!l->full_episode) {
                l->full_episode = true;
                gw_log(GW_NOTICE, "lsn",
                       "listener=%s connection refused: max_connections %d reached (further "
                       "refusals counted only)",
                       l->name, l->max_connections);
            }
            (void)close(c);
            continue;
        }
        note_accepted(l);
        /* TLS: the handshake runs on the worker, the connection starts
         * when it is done (lsn_tls_done). */
        int rc = l->tls ? lsn_tls_accept(l, c, &ss)
                        : conn_create(l->b, l, c, (const struct sockaddr *)&ss);
        if (rc < 0) {
            gw_log(GW_WARN, "lsn", "listener=%s connection dropped: %s", l->name,
                   strerror(-rc)); /* NOLINT(concurrency-mt-unsafe) */
        }
    }
}

void lsn_conn_closed(struct lsn *l)
{
    l->n_conns--;
    resume(l);
}

static int open_socket(const struct cfg_listener *cl, struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        /* An explicit IPv6 address is IPv6 only; "all addresses" is
         * dual-stack unless socket_domain ipv6 was asked for. */
        int v6only = (cl->bind_address || cl->socket_domain == AF_INET6) ? 1 : 0;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LSN_BACKLOG) < 0) {
        int rc = -errno;
        (void)close(fd);
        return rc;
    }
    return fd;
}

/* Resolve cl's address and bind and listen on the first that works.
 * Returns the socket or an error (logged). */
static int bind_listener(const struct cfg_listener *cl)
{
    char port[8];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    (void)snprintf(port, sizeof(port), "%u", cl->port);
    hints.ai_family = cl->socket_domain ? cl->socket_domain : AF_UNSPEC;
    if (!cl->bind_address && hints.ai_family == AF_UNSPEC) {
        hints.ai_family = AF_INET6; /* dual-stack wildcard */
    }
    int gai = getaddrinfo(cl->bind_address, port, &hints, &res);
    if (gai != 0) {
        gw_log(GW_ERROR, "lsn", "listener %s port %u: cannot resolve address: %s",
               cl->bind_address ? cl->bind_address : "*", cl->port, gai_strerror(gai));
        return -EADDRNOTAVAIL;
    }
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = open_socket(cl, ai);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        gw_log(GW_ERROR, "lsn", "listener %s port %u (%s): %s",
               cl->bind_address ? cl->bind_address : "*", cl->port, cl->origin,
               strerror(-fd)); /* NOLINT(concurrency-mt-unsafe) */
    }
    return fd;
}

int lsn_open(struct mqtt_fe *fe, const struct cfg_listener *cl, struct lsn **out)
{
    struct broker *b = fe->b;
    int fd = bind_listener(cl);
    if (fd < 0) {
        return fd;
    }
    struct lsn *l = gw_calloc(1, sizeof(*l));
    if (!l) {
        (void)close(fd);
        return -ENOMEM;
    }
    l->b = b;
    l->fe = fe;
    l->cfg = cl;
    l->fd = fd;
    loop_timer_init(&l->pause_timer, on_pause_timer, l);
    l->max_connections = cl->max_connections;
    l->allow_anonymous = cl->allow_anonymous;
    l->websockets = strcmp(cl->protocol, "websockets") == 0;
    (void)snprintf(l->name, sizeof(l->name), "%s:%u", cl->bind_address ? cl->bind_address : "*",
                   cl->port);
    int rc = lsn_tls_open(l);
    if (rc == 0) {
        rc = loop_fd_add(b->loop, fd, LOOP_READ, on_accept, l);
    }
    if (rc < 0) {
        (void)close(fd);
        stream_tls_conf_unref(l->tls);
        gw_free(l);
        return rc;
    }
    gw_log(GW_NOTICE, "lsn", "listening on %s (mqtt%s%s)", l->name,
           l->websockets ? " over websockets" : "", l->tls ? " over TLS" : "");
    *out = l;
    return 0;
}

void lsn_close(struct lsn *l)
{
    if (l->tls && l->fe->tls_worker) {
        /* Handshakes still running point at l: they go with it. */
        (void)tls_hs_worker_drop(l->fe->tls_worker, l);
    }
    loop_timer_stop(l->b->loop, &l->pause_timer);
    gw_free(l->rates);
    stream_tls_conf_unref(l->tls);
    (void)loop_fd_del(l->b->loop, l->fd);
    (void)close(l->fd);
    gw_free(l);
}
