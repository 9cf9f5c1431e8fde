/* sn_gw_clients.c - the MQTT-SN gateway's client table: clients keyed by
 * peer address (and forwarder node), the limits per listener and per
 * source address, creation, keep-alive and sleep supervision (sections
 * 6.3, 6.14), and teardown, deferred to the end of the loop iteration so
 * that no handler's client is freed under it. Section numbers are
 * MQTT-SN 1.2. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "sn_gw_priv.h"

#include <string.h>

/* ---- client table ---- */

/* FNV-1a from a per-gateway random basis: peers pick their addresses, and
 * must not be able to pick them all into one chain. */
static size_t bucket_of(const struct sn_gw *gw, const struct sn_peer *p)
{
    uint32_t h = 2166136261u ^ gw->hash_seed;
    for (size_t i = 0; i < p->len; i++) {
        h = (h ^ p->addr[i]) * 16777619u;
    }
    for (size_t i = 0; i < p->node_len; i++) {
        h = (h ^ p->node[i]) * 16777619u;
    }
    return h % SN_CLIENT_BUCKETS;
}

struct sn_client *sn_gw_client_find(const struct sn_gw *gw, const struct sn_peer *peer)
{
    if (gw->n_clients == 0) {
        return NULL;
    }
    for (struct sn_client *c = gw->buckets[bucket_of(gw, peer)]; c; c = c->hnext) {
        if (sn_peer_eq(&c->peer, peer)) {
            return c;
        }
    }
    return NULL;
}

static void on_client_timer(struct loop *l, void *arg);

/* ---- clients per source address ---- */

static size_t host_key(const struct sn_gw *gw, const struct sn_peer *peer, uint8_t key[SN_PEER_MAX])
{
    if (gw->tops->peer_host) {
        return gw->tops->peer_host(gw->tctx, peer, key);
    }
    memcpy(key, peer->addr, peer->len);
    return peer->len;
}

/* The host entry of peer's source address; created (n 0) when create is
 * set. NULL when absent or out of memory. */
static struct sn_host *host_get(struct sn_gw *gw, const struct sn_peer *peer, bool create)
{
    uint8_t key[SN_PEER_MAX];
    size_t len = host_key(gw, peer, key);
    uint32_t h = 2166136261u ^ gw->hash_seed; /* FNV-1a, random basis (bucket_of) */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ key[i]) * 16777619u;
    }
    uint32_t bucket = h % SN_HOST_BUCKETS;
    struct sn_host **pp = &gw->hosts[bucket];
    for (struct sn_host *e = *pp; e; e = e->next) {
        if (e->len == len && memcmp(e->key, key, len) == 0) {
            return e;
        }
    }
    if (!create) {
        return NULL;
    }
    struct sn_host *e = gw_calloc(1, sizeof(*e));
    if (!e) {
        return NULL;
    }
    e->len = (uint8_t)len;
    e->bucket = bucket;
    memcpy(e->key, key, len);
    e->next = *pp;
    *pp = e;
    return e;
}

static void host_put(struct sn_gw *gw, struct sn_host *e)
{
    if (--e->n >= gw->conf.max_clients_per_host) {
        return;
    }
    e->full_logged = false; /* the episode is over */
    if (e->n) {
        return;
    }
    for (struct sn_host **pp = &gw->hosts[e->bucket]; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            gw_free(e);
            return;
        }
    }
}

/* Room on the listener for one more client? Refusals are counted and
 * logged once per episode (a flood of CONNECTs must not flood the log). */
static bool listener_has_room(struct sn_gw *gw, const struct sn_peer *peer)
{
    const struct cfg_listener *lc = gw->lc;
    size_t max = gw->conf.max_clients;
    if (lc->max_connections >= 0 && (size_t)lc->max_connections < max) {
        max = (size_t)lc->max_connections;
    }
    if (gw->n_clients < max) {
        return true;
    }
    gw->refused_full++;
    if (!gw->full_logged) {
        gw->full_logged = true;
        gw_log(GW_WARN, "mqttsn",
               "listener=%s peer=%s refused: %zu clients (mqttsn_max_clients / max_connections); "
               "CONNACK congestion until one leaves (logged once per episode, %llu refused)",
               gw->name, sn_gw_peer_str(gw, peer), max, (unsigned long long)gw->refused_full);
    }
    return false;
}

static bool host_has_room(struct sn_gw *gw, struct sn_host *e, const struct sn_peer *peer)
{
    if (e->n < gw->conf.max_clients_per_host) {
        return true;
    }
    gw->refused_host++;
    if (!e->full_logged) {
        e->full_logged = true;
        gw_log(GW_WARN, "mqttsn",
               "listener=%s peer=%s refused: %u clients from this address "
               "(mqttsn_max_clients_per_address); CONNACK congestion until one leaves (logged "
               "once per episode, %llu refused on the listener)",
               gw->name, sn_gw_peer_str(gw, peer), e->n, (unsigned long long)gw->refused_host);
    }
    return false;
}

struct sn_client *sn_gw_client_new(struct sn_gw *gw, const struct sn_peer *peer)
{
    struct sn_host *known = host_get(gw, peer, false);
    if (known && !host_has_room(gw, known, peer)) {
        return NULL; /* counted, logged; nobody evicted for a CONNECT refused anyway */
    }
    /* Before the host entry is taken: the evicted client may be its last. */
    sn_unproven_make_room(gw);
    if (!listener_has_room(gw, peer)) {
        return NULL;
    }
    struct sn_host *host = host_get(gw, peer, true);
    if (!host) {
        gw_log(GW_WARN, "mqttsn", "listener=%s peer=%s refused: out of memory", gw->name,
               sn_gw_peer_str(gw, peer));
        return NULL;
    }
    if (!host_has_room(gw, host, peer)) {
        return NULL;
    }
    struct sn_client *c = gw_calloc(1, sizeof(*c));
    if (!c) {
        gw_log(GW_WARN, "mqttsn", "listener=%s peer=%s refused: out of memory", gw->name,
               sn_gw_peer_str(gw, peer));
        if (host->n == 0) {
            host->n = 1;
            host_put(gw, host); /* frees the new, empty entry */
        }
        return NULL;
    }
    c->gw = gw;
    c->peer = *peer;
    c->host = host;
    host->n++;
    c->topics.max = gw->conf.max_topics;
    c->last_rx_ms = loop_now_ms(gw->b->loop);
    sn_amp_on_rx(&c->amp, gw->rx_now); /* the datagram that made it */
    if (gw->tops->proves_address) {
        /* DTLS: the cookie exchange proved the address before any
         * datagram reached the gateway (sn_dtls_ops): no limit applies. */
        sn_amp_validate(&c->amp);
    }
    loop_timer_init(&c->timer, on_client_timer, c);
    loop_timer_init(&c->retry, sn_deliver_on_retry, c);
    size_t i = bucket_of(gw, peer);
    c->hnext = gw->buckets[i];
    gw->buckets[i] = c;
    gw->n_clients++;
    sn_unproven_add(gw, c); /* every client starts unproven: a CONNECT can name any address */
    return c;
}

static void client_unlink(struct sn_gw *gw, struct sn_client *c)
{
    for (struct sn_client **pp = &gw->buckets[bucket_of(gw, &c->peer)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            gw->n_clients--;
            gw->full_logged = false;
            sn_unproven_del(gw, c);
            if (c->host) {
                host_put(gw, c->host);
                c->host = NULL;
            }
            return;
        }
    }
}

/* c's session ends with it (svc_disconnect). A session only connections
 * that never proved their address used (forged CONNECTs with clean
 * session 0?) is discarded when the cap evicts its client, and only a
 * bounded number of them are kept otherwise (sn_unproven_left): every
 * routed message visits them. */
static void end_session(struct sn_client *c, bool clean_disconnect, const char *why, bool evicted)
{
    struct sn_gw *gw = c->gw;
    struct broker *b = gw->b;
    struct sess *s = c->sess;
    bool prov = s->provisional && !s->clean;
    bool discard = prov && evicted;
    if (b->cfg->connection_messages) {
        gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s disconnected: %s%s", c->id,
               sn_gw_peer_str(gw, &c->peer), why,
               discard ? " (its session discarded: address never proven)" : "");
    }
    if (discard) {
        s->clean = true; /* svc_disconnect reaps it, record and subscriptions */
    } else {
        sn_state_stash(c); /* a durable session keeps the topic ids for the next client */
    }
    c->sess = NULL;
    /* Like MQTT [MQTT-3.1.2-8]: the will goes out unless the client said
     * DISCONNECT (§6.3, §6.14). */
    svc_disconnect(b, s, clean_disconnect, gw->closing);
    if (prov && !discard && !gw->closing) {
        sn_unproven_left(gw, s); /* kept offline (not clean), so s is still valid */
    }
}

/* sn_gw_client_drop; evicted: by mqttsn_max_unproven_clients. */
static void client_drop(struct sn_client *c, bool clean_disconnect, const char *why, bool evicted)
{
    struct sn_gw *gw = c->gw;
    if (c->state == SN_CL_GONE) {
        return;
    }
    loop_timer_stop(gw->b->loop, &c->timer);
    client_unlink(gw, c);
    sn_deliver_clear(c);
    if (c->sess) {
        end_session(c, clean_disconnect, why, evicted);
    }
    c->state = SN_CL_GONE;
    c->hnext = gw->dead;
    gw->dead = c;
}

void sn_gw_client_drop(struct sn_client *c, bool clean_disconnect, const char *why)
{
    client_drop(c, clean_disconnect, why, false);
}

void sn_gw_client_evict(struct sn_client *c, const char *why)
{
    client_drop(c, false, why, true);
}

void sn_gw_client_free(struct sn_client *c)
{
    sn_topics_fini(&c->topics);
    gw_free(c->identity);
    gw_free(c->will_topic);
    gw_free(c);
}

/* When c is lost without traffic: 1.5 x the keep-alive duration while
 * active (as MQTT), mqttsn_idle_timeout for a client that asked for no
 * keep-alive (duration 0: a client that vanished, or a forged CONNECT,
 * must not hold its slot and session for ever), 1.5 x the sleep duration
 * while asleep or awake (§6.14: a client that neither pings nor connects
 * within its sleep duration is lost), connect_timeout_s during the will
 * flow. 0: never. */
static uint64_t deadline_of(const struct sn_client *c)
{
    switch (c->state) {
    case SN_CL_ACTIVE:
        return c->last_rx_ms +
               (c->duration_s ? (uint64_t)c->duration_s * 1500u : c->gw->conf.idle_ms);
    case SN_CL_ASLEEP:
    case SN_CL_AWAKE:
        return c->last_rx_ms + (uint64_t)c->sleep_s * 1500u;
    default:
        return c->last_rx_ms + (uint64_t)c->gw->b->cfg->connect_timeout_s * 1000u;
    }
}

void sn_gw_client_arm(struct sn_client *c)
{
    struct broker *b = c->gw->b;
    uint64_t deadline = deadline_of(c);
    if (deadline == 0) {
        loop_timer_stop(b->loop, &c->timer);
        return;
    }
    (void)loop_timer_start(b->loop, &c->timer, deadline);
}

/* An active client's keep-alive (or, with duration 0, the gateway's
 * mqttsn_idle_timeout) passed without a message. */
static void active_lost(struct sn_client *c, const char *peer)
{
    if (c->duration_s == 0) {
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" peer=%s lost: keep-alive duration 0 and no message for %llu s "
               "(mqttsn_idle_timeout)",
               c->id, peer, (unsigned long long)(c->gw->conf.idle_ms / 1000u));
        sn_gw_client_drop(c, false, "idle timeout");
        return;
    }
    gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s lost: no message for 1.5 x %u s", c->id,
           peer, c->duration_s);
    sn_gw_client_drop(c, false, "keep-alive timeout");
}

static void on_client_timer(struct loop *l, void *arg)
{
    struct sn_client *c = arg;
    uint64_t now = loop_now_ms(l);
    uint64_t deadline = deadline_of(c);
    if (deadline == 0) {
        return;
    }
    if (now < deadline) {
        (void)loop_timer_start(l, &c->timer, deadline); /* traffic since arming */
        return;
    }
    const char *peer = sn_gw_peer_str(c->gw, &c->peer);
    switch (c->state) {
    case SN_CL_ACTIVE:
        active_lost(c, peer);
        return;
    case SN_CL_ASLEEP:
    case SN_CL_AWAKE:
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" peer=%s lost: asleep with no PINGREQ or CONNECT for 1.5 x %u s",
               c->id, peer, c->sleep_s);
        c->state = SN_CL_ACTIVE; /* lost, not asleep: a restart must not revive it */
        sn_state_save(c);
        sn_gw_client_drop(c, false, "sleep duration passed");
        return;
    default:
        gw_log(GW_NOTICE, "mqttsn", "peer=%s will flow not completed in time: dropped", peer);
        sn_gw_client_drop(c, false, "will flow timeout");
        return;
    }
}

void sn_gw_free_dead(struct sn_gw *gw)
{
    while (gw->dead) {
        struct sn_client *c = gw->dead;
        gw->dead = c->hnext;
        sn_gw_client_free(c);
    }
}
