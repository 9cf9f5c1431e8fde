/* sn_dtls.c - MQTT-SN over DTLS 1.2 (issue 12): a transport behind
 * sn_transport.h that wraps the UDP one. The gateway sees plain MQTT-SN
 * datagrams and opaque peers as over UDP; here each peer address has its
 * DTLS session (gateway/stream/stream_dtls.h holds the mbedTLS side), and
 * only what an established session decrypts goes up.
 *
 * Cost of a stranger: a datagram from an address without a session is
 * looked at only if it is a ClientHello; one without a valid cookie gets
 * the stateless HelloVerifyRequest and nothing is kept (RFC 6347 section
 * 4.2.1). A session (about 34 KiB with mbedTLS's buffers) is made only for
 * a ClientHello that echoed its cookie, within the caps: sessions of the
 * listener (mqttsn_max_clients), of one host
 * (mqttsn_max_clients_per_address) and handshakes under way
 * (SN_DTLS_HANDSHAKES_MAX). A handshake that stalls ends with the
 * retransmission timer (about 31 s); an established session ends on
 * close_notify, on a fatal error, or after mqttsn_idle_timeout without a
 * datagram. Loop thread only. */
#include "alloc.h"
#include "cfg.h"
#include "clock.h"
#include "gw_err.h"
#include "listener_tls.h"
#include "log.h"
#include "loop.h"
#include "sn_rand.h"
#include "sn_transport.h"
#include "stream_dtls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SN_DTLS_BUCKETS         1024u
#define SN_DTLS_HANDSHAKES_MAX  64u /* handshakes under way at once, per listener */
#define SN_DTLS_IDLE_DEFAULT_MS ((uint64_t)3600u * 1000u)
#define SN_DTLS_LOG_MS          1000u       /* refused-handshake lines: at most one a second */
#define SN_DTLS_HS_WINDOW_NS    10000000ull /* 10 ms */
#define SN_DTLS_HS_BUDGET_NS    4000000ull  /* of which handshakes may use 4 ms */
#define SN_DTLS_DEFER_MAX       SN_DTLS_HANDSHAKES_MAX /* datagrams put off at once */
#define SN_DTLS_PLAIN_MAX       16384u /* one record's payload (MBEDTLS_SSL_IN_CONTENT_LEN) */

struct dtls_peer {
    struct dtls_peer *next; /* bucket chain, then the dead list */
    struct sn_dtls *d;
    struct sn_peer peer;
    struct stream_dtls_sess *s;
    struct loop_timer timer; /* handshake retransmission, then idle */
    uint64_t last_rx_ms;
    bool established;
    bool dead;
    int end_rc; /* set by a failed send: the timer ends the session */
};

/* A handshake datagram put off by the budget (a copy). */
struct dtls_deferred {
    struct dtls_deferred *next;
    struct sn_peer peer;
    size_t n;
    uint8_t p[];
};

struct sn_dtls {
    struct loop *loop;
    struct sn_udp *udp;
    struct stream_tls_conf *conf;
    struct stream_dtls *srv;
    sn_rx_cb *cb;
    sn_gone_cb *gone;
    void *arg;
    struct dtls_peer *buckets[SN_DTLS_BUCKETS];
    struct dtls_peer *dead; /* freed in the end-of-iteration hook */
    uint32_t seed;
    uint32_t max_sessions;
    uint32_t max_per_host;
    uint64_t idle_ms;
    struct sn_dtls_stats st;
    bool full_logged;
    uint64_t logged_ms;
    uint64_t unlogged;                /* refusals not logged since the last line */
    uint64_t hs_window_ns;            /* start of the current handshake budget window */
    uint64_t hs_spent_ns;             /* handshake work in it */
    struct dtls_deferred *defer_head; /* handshake datagrams put off, oldest first */
    struct dtls_deferred *defer_tail;
    uint32_t n_deferred;
    struct loop_timer defer_timer; /* takes them up in the next budget window */
    char name[80];
    uint8_t plain[SN_DTLS_PLAIN_MAX];
};

/* ---- the peer table ---- */

static uint32_t hash_of(const struct sn_dtls *d, const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u ^ d->seed; /* FNV-1a on a random basis */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

static struct dtls_peer **slot_of(struct sn_dtls *d, const struct sn_peer *peer)
{
    struct dtls_peer **pp = &d->buckets[hash_of(d, peer->addr, peer->len) % SN_DTLS_BUCKETS];
    while (*pp && !sn_peer_eq(&(*pp)->peer, peer)) {
        pp = &(*pp)->next;
    }
    return pp;
}

/* The session of peer's address. A client behind a forwarder (MQTT-SN
 * 1.2 section 5.5) is the forwarder's address plus a node id: its
 * datagrams go through the forwarder's session, so the node is ignored. */
static struct dtls_peer *peer_find(const struct sn_dtls *d, const struct sn_peer *peer)
{
    struct dtls_peer *p = d->buckets[hash_of(d, peer->addr, peer->len) % SN_DTLS_BUCKETS];
    while (p && (p->peer.len != peer->len || memcmp(p->peer.addr, peer->addr, peer->len) != 0)) {
        p = p->next;
    }
    return p;
}

static const char *peer_text(const struct sn_dtls *d, const struct sn_peer *peer, char *buf,
                             size_t cap)
{
    return sn_udp_ops.peer_str(d->udp, peer, buf, cap);
}

/* Sessions from the host of peer (the UDP address without the port). A
 * scan, but only for ClientHellos that echoed a cookie within the caps. */
static uint32_t host_sessions(const struct sn_dtls *d, const struct sn_peer *peer)
{
    uint8_t key[SN_PEER_MAX];
    uint8_t other[SN_PEER_MAX];
    size_t n = sn_udp_ops.peer_host(d->udp, peer, key);
    uint32_t count = 0;
    for (size_t i = 0; i < SN_DTLS_BUCKETS; i++) {
        for (const struct dtls_peer *p = d->buckets[i]; p; p = p->next) {
            size_t m = sn_udp_ops.peer_host(d->udp, &p->peer, other);
            count += m == n && memcmp(key, other, n) == 0;
        }
    }
    return count;
}

/* The end of a session: out of the table at once (its address gets a
 * fresh handshake), freed at the end of the iteration. */
static void peer_end(struct dtls_peer *p, int rc, const char *why)
{
    struct sn_dtls *d = p->d;
    if (p->dead) {
        return;
    }
    char buf[64];
    const char *ident = stream_dtls_sess_identity(p->s);
    if (rc == GW_E_CLOSED || rc == 0) {
        gw_log(GW_INFO, "dtls", "listener=%s peer=%s identity=\"%s\" DTLS session closed: %s",
               d->name, peer_text(d, &p->peer, buf, sizeof(buf)), ident ? ident : "", why);
    } else {
        d->st.failed++;
        gw_log(GW_NOTICE, "dtls", "listener=%s peer=%s identity=\"%s\" DTLS session %s: %s",
               d->name, peer_text(d, &p->peer, buf, sizeof(buf)), ident ? ident : "",
               p->established ? "ended" : "refused", why);
    }
    struct dtls_peer **pp = slot_of(d, &p->peer);
    if (*pp == p) {
        *pp = p->next;
    }
    p->dead = true;
    loop_timer_stop(d->loop, &p->timer);
    d->st.sessions--;
    if (!p->established) {
        d->st.handshaking--;
    }
    p->next = d->dead;
    d->dead = p;
    if (p->established && d->gone) {
        d->gone(d->arg, &p->peer);
    }
}

static void peer_arm(struct dtls_peer *p)
{
    struct sn_dtls *d = p->d;
    uint64_t at = p->established ? p->last_rx_ms + d->idle_ms : stream_dtls_sess_deadline_ms(p->s);
    if (at == 0) {
        loop_timer_stop(d->loop, &p->timer);
        return;
    }
    (void)loop_timer_start(d->loop, &p->timer, at);
}

static void on_peer_timer(struct loop *l, void *arg)
{
    (void)l;
    struct dtls_peer *p = arg;
    if (p->end_rc < 0) {
        peer_end(p, p->end_rc, stream_dtls_sess_why(p->s));
        return;
    }
    if (!p->established) {
        int rc = stream_dtls_sess_on_timer(p->s);
        if (rc < 0) {
            peer_end(p, rc, stream_dtls_sess_why(p->s));
            return;
        }
        peer_arm(p);
        return;
    }
    if (gw_clock_now_ms() >= p->last_rx_ms + p->d->idle_ms) {
        stream_dtls_sess_close_notify(p->s);
        peer_end(p, 0, "idle (mqttsn_idle_timeout)");
        return;
    }
    peer_arm(p);
}

static void free_dead(struct loop *l, void *arg)
{
    (void)l;
    struct sn_dtls *d = arg;
    while (d->dead) {
        struct dtls_peer *p = d->dead;
        d->dead = p->next;
        stream_dtls_sess_destroy(p->s);
        gw_free(p);
    }
}

/* ---- datagrams in ---- */

static void note_refused(struct sn_dtls *d, const struct sn_peer *peer, const char *why)
{
    uint64_t now = gw_clock_now_ms();
    if (now < d->logged_ms + SN_DTLS_LOG_MS) {
        d->unlogged++;
        return;
    }
    char buf[64];
    gw_log(GW_NOTICE, "dtls",
           "listener=%s peer=%s DTLS handshake refused: %s (%llu more not "
           "logged)",
           d->name, peer_text(d, peer, buf, sizeof(buf)), why, (unsigned long long)d->unlogged);
    d->logged_ms = now;
    d->unlogged = 0;
}

/* Room for one more session from peer? Counted and logged once per
 * episode at the listener's caps. */
static bool has_room(struct sn_dtls *d, const struct sn_peer *peer)
{
    const char *cap = NULL;
    if (d->st.sessions >= d->max_sessions) {
        cap = "mqttsn_max_clients";
    } else if (d->st.handshaking >= SN_DTLS_HANDSHAKES_MAX) {
        cap = "handshakes under way";
    } else if (host_sessions(d, peer) >= d->max_per_host) {
        cap = "mqttsn_max_clients_per_address";
    }
    if (!cap) {
        d->full_logged = false;
        return true;
    }
    d->st.refused++;
    if (!d->full_logged) {
        d->full_logged = true;
        char buf[64];
        gw_log(GW_WARN, "dtls",
               "listener=%s peer=%s ClientHello dropped: at the cap of %s "
               "(logged once per episode)",
               d->name, peer_text(d, peer, buf, sizeof(buf)), cap);
    }
    return false;
}

/* ---- the handshake budget ----
 *
 * A handshake step with a public-key operation (ECDHE, a signature) costs
 * milliseconds, tens of them on a small ARM board; sixty-four ClientHellos
 * with valid cookies in one loop turn would stall every other client for
 * their sum. So handshake datagrams together may use at most
 * SN_DTLS_HS_BUDGET_NS of each SN_DTLS_HS_WINDOW_NS; past it they wait
 * (copied, at most SN_DTLS_DEFER_MAX) for the next window, and beyond that
 * they are dropped and the peers retransmit their flight (RFC 6347 section
 * 4.2.4). Established sessions and cookie exchanges are not limited. */
static uint64_t mono_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool hs_budget_left(struct sn_dtls *d, uint64_t now)
{
    if (now - d->hs_window_ns >= SN_DTLS_HS_WINDOW_NS) {
        d->hs_window_ns = now;
        d->hs_spent_ns = 0;
    }
    return d->hs_spent_ns < SN_DTLS_HS_BUDGET_NS;
}

/* Keep a copy of a handshake datagram for the next window (peers that
 * retransmit in step would otherwise lose every round together). Over
 * SN_DTLS_DEFER_MAX it is dropped: the peer retransmits. */
static void defer(struct sn_dtls *d, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    d->st.deferred++;
    struct dtls_deferred *e = NULL;
    if (d->n_deferred < SN_DTLS_DEFER_MAX) {
        e = gw_alloc(sizeof(*e) + n);
    }
    if (!e) {
        note_refused(d, peer,
                     "handshake CPU budget spent and the queue full: datagram dropped "
                     "(the peer retransmits)");
        return;
    }
    e->next = NULL;
    e->peer = *peer;
    e->n = n;
    memcpy(e->p, p, n);
    if (d->defer_tail) {
        d->defer_tail->next = e;
    } else {
        d->defer_head = e;
    }
    d->defer_tail = e;
    d->n_deferred++;
    if (!loop_timer_armed(&d->defer_timer)) {
        (void)loop_timer_start(d->loop, &d->defer_timer,
                               loop_now_ms(d->loop) + SN_DTLS_HS_WINDOW_NS / 1000000u);
    }
}

static void handle(struct sn_dtls *d, const struct sn_peer *peer, const uint8_t *dgram, size_t n,
                   bool queued);

static void on_defer_timer(struct loop *l, void *arg)
{
    struct sn_dtls *d = arg;
    while (d->defer_head && hs_budget_left(d, mono_ns())) {
        struct dtls_deferred *e = d->defer_head;
        d->defer_head = e->next;
        if (!d->defer_head) {
            d->defer_tail = NULL;
        }
        d->n_deferred--;
        handle(d, &e->peer, e->p, e->n, true);
        gw_free(e);
    }
    if (d->defer_head) {
        (void)loop_timer_start(l, &d->defer_timer,
                               loop_now_ms(l) + SN_DTLS_HS_WINDOW_NS / 1000000u);
    }
}

static void defer_clear(struct sn_dtls *d)
{
    while (d->defer_head) {
        struct dtls_deferred *e = d->defer_head;
        d->defer_head = e->next;
        gw_free(e);
    }
    d->defer_tail = NULL;
    d->n_deferred = 0;
    loop_timer_stop(d->loop, &d->defer_timer);
}

static void on_hello(struct sn_dtls *d, const struct sn_peer *peer, const uint8_t *p, size_t n,
                     bool queued)
{
    if (!has_room(d, peer)) {
        return;
    }
    uint64_t t0 = mono_ns();
    if (!queued && stream_dtls_hello_cookie_len(p, n) > 0 && !hs_budget_left(d, t0)) {
        defer(d, peer, p, n);
        return;
    }
    char why[200];
    struct stream_dtls_sess *s = NULL;
    enum stream_dtls_verdict v =
            stream_dtls_accept(d->srv, peer->addr, peer->len, p, n, &s, why, sizeof(why));
    d->hs_spent_ns += mono_ns() - t0;
    if (v == STREAM_DTLS_DROPPED) {
        if (why[0]) {
            d->st.failed++;
            note_refused(d, peer, why);
        } else {
            d->st.not_dtls++;
        }
        return;
    }
    if (v != STREAM_DTLS_SESSION) {
        return; /* a cookie went out; nothing is kept */
    }
    struct dtls_peer *np = gw_calloc(1, sizeof(*np));
    if (!np) {
        stream_dtls_sess_destroy(s);
        note_refused(d, peer, "out of memory");
        return;
    }
    np->d = d;
    np->peer = *peer;
    np->s = s;
    np->last_rx_ms = gw_clock_now_ms();
    loop_timer_init(&np->timer, on_peer_timer, np);
    struct dtls_peer **pp = slot_of(d, peer);
    np->next = *pp;
    *pp = np;
    d->st.sessions++;
    d->st.handshaking++;
    peer_arm(np);
    d->hs_spent_ns += mono_ns() - t0;
}

static void on_established(struct dtls_peer *p)
{
    struct sn_dtls *d = p->d;
    p->established = true;
    d->st.handshaking--;
    d->st.established++;
    const char *ident = stream_dtls_sess_identity(p->s);
    char buf[64];
    gw_log(GW_INFO, "dtls", "listener=%s peer=%s DTLS session established identity=\"%s\"", d->name,
           peer_text(d, &p->peer, buf, sizeof(buf)), ident ? ident : "");
}

/* One datagram from peer; queued: taken from the deferred queue (the
 * budget was checked). */
static void handle(struct sn_dtls *d, const struct sn_peer *peer, const uint8_t *dgram, size_t n,
                   bool queued)
{
    struct dtls_peer *p = peer_find(d, peer);
    if (!p) {
        on_hello(d, peer, dgram, n, queued);
        return;
    }
    bool in_hs = !p->established;
    uint64_t t0 = in_hs ? mono_ns() : 0;
    if (in_hs && !queued && !hs_budget_left(d, t0)) {
        defer(d, peer, dgram, n);
        return;
    }
    p->last_rx_ms = gw_clock_now_ms();
    stream_dtls_sess_feed(p->s, dgram, n);
    /* Every record of the datagram; the gateway may send to the peer from
     * its callback, which never ends the session here (see dtls_send). */
    for (int i = 0; i < 64; i++) {
        ssize_t r = stream_dtls_sess_read(p->s, d->plain, sizeof(d->plain));
        if (in_hs) {
            d->hs_spent_ns += mono_ns() - t0; /* the handshake step ran in the first read */
            in_hs = false;
        }
        if (!p->established && stream_dtls_sess_established(p->s)) {
            on_established(p);
        }
        if (r == 0) {
            break;
        }
        if (r < 0) {
            peer_end(p, (int)r, stream_dtls_sess_why(p->s));
            return;
        }
        d->cb(d->arg, peer, d->plain, (size_t)r);
        if (p->dead) {
            return;
        }
    }
    if (p->end_rc == 0) {
        peer_arm(p);
    }
}

static void on_udp(void *arg, const struct sn_peer *peer, const uint8_t *dgram, size_t n)
{
    handle(arg, peer, dgram, n, false);
}

/* ---- the ops ---- */

static int raw_send(void *arg, const uint8_t *addr, size_t addr_len, const uint8_t *p, size_t n)
{
    struct sn_dtls *d = arg;
    struct sn_peer peer = {.len = (uint8_t)addr_len};
    memcpy(peer.addr, addr, addr_len); /* <= STREAM_DTLS_ADDR_MAX == SN_PEER_MAX */
    return sn_udp_ops.send(d->udp, &peer, p, n);
}

static int dtls_send(void *ctx, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    struct sn_dtls *d = ctx;
    struct dtls_peer *dp = peer_find(d, peer);
    if (!dp || !dp->established || dp->end_rc < 0) {
        return -ENOTCONN; /* no session: nothing goes out in clear */
    }
    int rc = stream_dtls_sess_write(dp->s, p, n);
    if (rc < 0 && rc != -EMSGSIZE && rc != -EAGAIN) {
        /* The session failed: ended from its timer, not from inside the
         * gateway's own call. */
        dp->end_rc = rc;
        (void)loop_timer_start(d->loop, &dp->timer, loop_now_ms(d->loop));
    }
    return rc;
}

static const char *dtls_peer_str(void *ctx, const struct sn_peer *peer, char *buf, size_t cap)
{
    const struct sn_dtls *d = ctx;
    return peer_text(d, peer, buf, cap);
}

static size_t dtls_peer_host(void *ctx, const struct sn_peer *peer, uint8_t key[SN_PEER_MAX])
{
    struct sn_dtls *d = ctx;
    return sn_udp_ops.peer_host(d->udp, peer, key);
}

static const char *dtls_peer_identity(void *ctx, const struct sn_peer *peer)
{
    const struct dtls_peer *p = peer_find(ctx, peer);
    return p && p->established ? stream_dtls_sess_identity(p->s) : NULL;
}

const struct sn_transport_ops sn_dtls_ops = {
        .send = dtls_send,
        .peer_str = dtls_peer_str,
        .peer_host = dtls_peer_host,
        .peer_identity = dtls_peer_identity,
        /* Every datagram that reaches the gateway came through a session
         * whose handshake began with a ClientHello echoing our cookie, an
         * HMAC of the sender's address that only a host receiving at that
         * address could have read (RFC 6347 section 4.2.1), and every later
         * record is authenticated by the session's keys: the peer's address
         * is proven, as a REGACK proves it over plain UDP (sn_amp.h). */
        .proves_address = true,
};

/* ---- open / close ---- */

int sn_dtls_open(struct loop *l, const struct cfg_listener *lc, sn_rx_cb *cb, sn_gone_cb *gone,
                 void *arg, struct sn_dtls **out)
{
    struct sn_dtls *d = gw_calloc(1, sizeof(*d));
    if (!d) {
        return -ENOMEM;
    }
    d->loop = l;
    d->cb = cb;
    d->gone = gone;
    d->arg = arg;
    d->seed = (uint32_t)sn_rand_range(1, 0xFFFF) << 16 | sn_rand_range(1, 0xFFFF);
    d->max_sessions = SN_DTLS_BUCKETS * 10u;
    d->max_per_host = d->max_sessions;
    d->idle_ms = SN_DTLS_IDLE_DEFAULT_MS;
    loop_timer_init(&d->defer_timer, on_defer_timer, d);
    (void)snprintf(d->name, sizeof(d->name), "%s:%u", lc->bind_address ? lc->bind_address : "*",
                   lc->port);
    char err[300] = "";
    int rc = listener_tls_conf(&lc->tls, true, &d->conf, err, sizeof(err));
    if (rc < 0) {
        gw_log(GW_ERROR, "dtls", "listener %s (%s): DTLS: %s", d->name, lc->origin, err);
        gw_free(d);
        return rc;
    }
    rc = stream_dtls_create(d->conf, raw_send, d, &d->srv);
    if (rc == 0) {
        rc = loop_hook_add(l, free_dead, d);
    }
    if (rc == 0) {
        const struct sn_udp_opts o = {
                .addr = lc->bind_address,
                .port = lc->port,
                .domain = lc->socket_domain,
                .rcvbuf_bytes = lc->mqttsn_udp_receive_buffer,
        };
        rc = sn_udp_open(l, &o, on_udp, d, &d->udp);
        if (rc < 0) {
            loop_hook_del(l, free_dead, d);
        }
    }
    if (rc < 0) {
        gw_log(GW_ERROR, "dtls", "listener %s: DTLS: %s", d->name, gw_strerror(rc));
        stream_dtls_destroy(d->srv);
        stream_tls_conf_unref(d->conf);
        gw_free(d);
        return rc;
    }
    gw_log(GW_NOTICE, "dtls", "listener %s: MQTT-SN over DTLS 1.2 (%s)", d->name,
           lc->tls.psk_file && lc->tls.certfile ? "PSK and certificates"
           : lc->tls.psk_file                   ? "PSK"
                                                : "certificates");
    *out = d;
    return 0;
}

void sn_dtls_reload(struct sn_dtls *d, const struct cfg_listener *lc)
{
    char err[300] = "";
    struct stream_tls_conf *conf = NULL;
    struct stream_dtls *srv = NULL;
    int rc = listener_tls_conf(&lc->tls, true, &conf, err, sizeof(err));
    if (rc == 0) {
        rc = stream_dtls_create(conf, raw_send, d, &srv);
        if (rc < 0) {
            (void)snprintf(err, sizeof(err), "%s", gw_strerror(rc));
        }
    }
    if (rc < 0) {
        gw_log(GW_ERROR, "dtls",
               "listener %s: SIGHUP: DTLS files not reloaded, keeping the running ones: %s",
               d->name, err);
        stream_tls_conf_unref(conf);
        return;
    }
    /* New handshakes use the new files; open sessions keep theirs (the
     * old server lives on until its last session ends). */
    d->st.cookies += stream_dtls_cookies_sent(d->srv);
    stream_dtls_destroy(d->srv);
    stream_tls_conf_unref(d->conf);
    d->srv = srv;
    d->conf = conf;
    gw_log(GW_NOTICE, "dtls", "listener %s: DTLS certificates, keys, CRL and PSKs re-read",
           d->name);
}

struct sn_udp *sn_dtls_udp(struct sn_dtls *d)
{
    return d->udp;
}

void sn_dtls_set_limits(struct sn_dtls *d, uint32_t max_sessions, uint32_t max_per_host,
                        uint64_t idle_ms)
{
    if (max_sessions) {
        d->max_sessions = max_sessions;
    }
    if (max_per_host) {
        d->max_per_host = max_per_host;
    }
    if (idle_ms) {
        d->idle_ms = idle_ms;
    }
}

void sn_dtls_get_stats(const struct sn_dtls *d, struct sn_dtls_stats *out)
{
    *out = d->st;
    out->cookies += stream_dtls_cookies_sent(d->srv); /* st.cookies: those of replaced servers */
}

void sn_dtls_close(struct sn_dtls *d)
{
    if (!d) {
        return;
    }
    d->gone = NULL; /* the gateway is closing its clients itself */
    defer_clear(d);
    for (size_t i = 0; i < SN_DTLS_BUCKETS; i++) {
        while (d->buckets[i]) {
            struct dtls_peer *p = d->buckets[i];
            stream_dtls_sess_close_notify(p->s);
            peer_end(p, 0, "listener closing");
        }
    }
    free_dead(d->loop, d);
    loop_hook_del(d->loop, free_dead, d);
    sn_udp_close(d->udp);
    stream_dtls_destroy(d->srv);
    stream_tls_conf_unref(d->conf);
    gw_free(d);
}
