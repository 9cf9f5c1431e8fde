/* lsn_tls.c - a listener's TLS: its conf from its options (cfg_tls), read
 * when the listener opens and again on SIGHUP (rotation: a new conf for new
 * connections; open ones and handshakes on the worker keep theirs, it is
 * reference-counted in gateway/stream; a bad new file keeps the old conf
 * and says why), and its handshakes, which run on the front-end's
 * handshake worker (tls_hs_worker.h) between accept and the connection. */
#include "lsn.h"

#include "broker.h"
#include "conn.h"
#include "gw_err.h"
#include "listener_tls.h"
#include "log.h"
#include "mqtt_fe.h"
#include "stream_tls.h"
#include "tls_hs_worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lsn_tls_check(const struct cfg_listener *cl, char *err, size_t errcap)
{
    if (!cfg_tls_on(&cl->tls)) {
        return 0;
    }
    if (errcap > 0) {
        err[0] = '\0';
    }
    struct stream_tls_conf *c = NULL;
    int rc = listener_tls_conf(&cl->tls, false, &c, err, errcap);
    stream_tls_conf_unref(c);
    return rc;
}

int lsn_tls_open(struct lsn *l)
{
    if (!cfg_tls_on(&l->cfg->tls)) {
        return 0;
    }
    char err[300] = "";
    int rc = listener_tls_conf(&l->cfg->tls, false, &l->tls, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "lsn", "listener %s (%s): TLS: %s", l->name, l->cfg->origin, err);
    }
    return rc;
}

void lsn_tls_reload(struct lsn *l)
{
    if (!l->tls) {
        return;
    }
    char err[300] = "";
    struct stream_tls_conf *fresh = NULL;
    int rc = listener_tls_conf(&l->cfg->tls, false, &fresh, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "lsn",
               "listener %s: SIGHUP: TLS files not reloaded, keeping the running ones: %s",
               l->name, err);
        return;
    }
    stream_tls_conf_unref(l->tls); /* open connections hold their own reference */
    l->tls = fresh;
    gw_log(GW_NOTICE, "lsn", "listener %s: TLS certificates, keys, CRL and PSKs re-read",
           l->name);
}

/* ---- handshakes on the worker ---- */

/* "addr:port" of an accepted peer, as conn_peer writes it. */
static const char *peer_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        (void)inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        (void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    (void)snprintf(out, cap, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
    return out;
}

int lsn_tls_accept(struct lsn *l, int fd, const struct sockaddr_storage *peer)
{
    struct broker *b = l->b;
    struct stream *s = stream_tls_server_create(l->tls, fd);
    uint64_t now = loop_now_ms(b->loop);
    int rc = s ? tls_hs_worker_submit(l->fe->tls_worker, s, l, peer, now,
                                      (uint64_t)b->cfg->connect_timeout_s * 1000u)
               : -ENOMEM;
    if (rc < 0) {
        if (s) {
            stream_destroy(s); /* closes fd */
        } else {
            (void)close(fd);
        }
        return rc;
    }
    int one = 1;
    /* A broker must not add Nagle's delay to each message. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    l->n_conns++; /* max_connections counts handshakes too */
    b->st.connections_accepted++;
    return 0;
}

static void handshake_failed(struct lsn *l, const struct tls_hs_result *r)
{
    char peer[INET6_ADDRSTRLEN + 10];
    if (r->rc == GW_E_TIMEOUT) {
        gw_log(GW_NOTICE, "conn", "peer=%s closing: TLS handshake not done within %u s",
               peer_text(r->peer, peer, sizeof(peer)), l->b->cfg->connect_timeout_s);
    } else if (r->why[0] && r->rc != GW_E_CLOSED) {
        /* The line conn.c writes for a failed stream op. */
        gw_log(GW_INFO, "conn", "peer=%s client=\"\" tls: %s",
               peer_text(r->peer, peer, sizeof(peer)), r->why);
    }
    stream_destroy(r->s);
    lsn_conn_closed(l);
}

void lsn_tls_done(void *ctx, const struct tls_hs_result *r)
{
    struct mqtt_fe *fe = ctx;
    struct lsn *l = r->owner;
    (void)fe;
    if (r->rc < 0) {
        handshake_failed(l, r);
        return;
    }
    stream_tls_log_established(r->s);
    struct stream *s = r->s;
    int fd = s->fd;
    if (l->websockets && !(s = lsn_wrap_websocket(l, s))) {
        (void)close(fd); /* the TLS stream is gone, its socket left to us */
        lsn_conn_closed(l);
        return;
    }
    int rc = conn_adopt(l->b, l, s, (const struct sockaddr *)r->peer, r->started_ms);
    if (rc < 0) {
        char peer[INET6_ADDRSTRLEN + 10];
        gw_log(GW_WARN, "lsn", "listener=%s connection from %s dropped: %s", l->name,
               peer_text(r->peer, peer, sizeof(peer)), gw_strerror(rc));
        lsn_conn_closed(l);
    }
}
