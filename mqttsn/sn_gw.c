/* sn_gw.c - the MQTT-SN gateway: listeners and their transports, output
 * (amplification limit, acknowledgements after the commit), datagram
 * dispatch, ADVERTISE, bad-input accounting. The client table, its limits
 * and timers live in sn_gw_clients.c, message handlers for connected
 * clients in sn_client.c, deliveries to clients in sn_deliver.c. Section
 * numbers are MQTT-SN 1.2. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "persist.h"
#include "sn_gw_priv.h"
#include "sn_rand.h"
#include "sn_serial.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SN_DROP_LOG_MS 10000u /* at most one bad-input line per gateway per 10 s */

static struct sn_gw *gateways; /* every open gateway (sn_gw_close_all) */
static bool hook_added;
static uint8_t tx_buf[SN_MAX_LEN]; /* one encode at a time: loop thread only */

/* ---- output ---- */

/* May n bytes go to peer? A client that has not proven its address gets at
 * most amp_factor x what it sent (sn_amp.h, RFC 9000 section 8.1). A peer
 * without a client only ever gets an answer no larger than its datagram
 * (GWINFO, a refusing CONNACK, a late acknowledgement) or the configured
 * ADVERTISE. */
static bool amp_allows(struct sn_gw *gw, const struct sn_peer *peer, size_t n)
{
    struct sn_client *c = sn_gw_client_find(gw, peer);
    if (!c || sn_amp_take(&c->amp, n, gw->conf.amp_factor)) {
        return true;
    }
    gw->amp_blocked++;
    if (!c->amp.limited) {
        c->amp.limited = true;
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" peer=%s address not proven: sending limited to %u x the %llu bytes "
               "received until it acknowledges a REGISTER (logged once per client; %llu "
               "datagrams held back on listener %s)",
               c->id, sn_gw_peer_str(gw, peer), gw->conf.amp_factor,
               (unsigned long long)c->amp.rx, (unsigned long long)gw->amp_blocked, gw->name);
    }
    return false;
}

int sn_gw_send(struct sn_gw *gw, const struct sn_peer *peer, const struct sn_msg *m)
{
    size_t n = sn_encoded_size(m);
    if (n > SN_MAX_LEN) {
        return -EMSGSIZE;
    }
    if (peer->node_len) {
        /* §5.5: back through the forwarder, wrapped with the node's id. */
        struct gw_bytes node = {peer->node, peer->node_len};
        n = sn_encap_encoded_size(node.n, m);
        if (n > sizeof(tx_buf)) {
            return -EMSGSIZE;
        }
        (void)sn_encode_encap(tx_buf, sizeof(tx_buf), 0, node, m);
    } else {
        (void)sn_encode(tx_buf, sizeof(tx_buf), m);
    }
    if (!amp_allows(gw, peer, n)) {
        return -EAGAIN;
    }
    gw->b->st.msgs_sent++;
    gw->b->st.bytes_sent += n;
    return gw->tops->send(gw->tctx, peer, tx_buf, n);
}

/* ---- acknowledgements after the commit (persist.h) ---- */

static void ack_unlink(struct sn_ack_wait *a)
{
    if (a->prev) {
        a->prev->next = a->next;
    } else {
        a->gw->acks = a->next;
    }
    if (a->next) {
        a->next->prev = a->prev;
    }
}

static void on_ack_committed(void *arg, uint32_t data, int rc)
{
    (void)data;
    struct sn_ack_wait *a = arg;
    if (a->gw) {
        ack_unlink(a);
        if (rc == 0) {
            (void)sn_gw_send(a->gw, &a->peer, &a->m);
        }
    }
    gw_free(a);
}

static bool peer_waits(const struct sn_gw *gw, const struct sn_peer *peer)
{
    for (const struct sn_ack_wait *a = gw->acks; a; a = a->next) {
        if (sn_peer_eq(&a->peer, peer)) {
            return true;
        }
    }
    return false;
}

int sn_gw_send_ack(struct sn_gw *gw, const struct sn_peer *peer, const struct sn_msg *m,
                   bool durable)
{
    if (!durable && !peer_waits(gw, peer)) {
        return sn_gw_send(gw, peer, m);
    }
    struct sn_ack_wait *a = gw_calloc(1, sizeof(*a));
    if (!a) {
        return -ENOMEM;
    }
    a->gw = gw;
    a->peer = *peer;
    a->m = *m;
    /* Linked first: without a store persist_after_commit calls back at once. */
    struct sn_ack_wait **pp = &gw->acks;
    struct sn_ack_wait *prev = NULL;
    while (*pp) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    a->prev = prev;
    *pp = a;
    int rc = persist_after_commit(gw->b, on_ack_committed, a, 0);
    if (rc < 0) {
        ack_unlink(a);
        gw_free(a);
    }
    return rc;
}

static bool door_id_allowed(const void *arg, struct gw_bytes id)
{
    return sn_conf_client_allowed_n(arg, id);
}

const struct svc_door *sn_gw_door(struct sn_gw *gw)
{
    /* MQTT-SN 1.2 has no credentials: every client is anonymous, so
     * allow_anonymous false shuts the door to all of them. */
    gw->door.allow_anonymous = gw->lc->allow_anonymous;
    gw->door.id_allowed = gw->conf.allow_list ? door_id_allowed : NULL;
    gw->door.id_arg = &gw->conf;
    return &gw->door;
}

const char *sn_gw_peer_identity(const struct sn_gw *gw, const struct sn_peer *peer)
{
    return gw->tops->peer_identity ? gw->tops->peer_identity(gw->tctx, peer) : NULL;
}

/* Does the identity c connected with still hold for its address? Over
 * DTLS a new session from the same address and port may belong to another
 * device: its datagrams must never act for the old client. */
static bool identity_holds(const struct sn_client *c, const struct sn_peer *peer)
{
    if (!c->gw->tops->peer_identity) {
        return true;
    }
    const char *now = sn_gw_peer_identity(c->gw, peer);
    if (!c->identity || !now) {
        return !c->identity && !now;
    }
    return strcmp(c->identity, now) == 0;
}

const char *sn_gw_peer_str(const struct sn_gw *gw, const struct sn_peer *peer)
{
    static char buf[80 + 6 + 2 * SN_NODE_MAX];
    (void)gw->tops->peer_str(gw->tctx, peer, buf, 80);
    if (peer->node_len) {
        size_t used = strlen(buf);
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "/node=");
        for (size_t i = 0; i < peer->node_len; i++) {
            (void)snprintf(buf + used + 2 * i, sizeof(buf) - used - 2 * i, "%02x", peer->node[i]);
        }
    }
    return buf;
}

static void free_dead(struct loop *l, void *arg)
{
    (void)l;
    (void)arg;
    for (struct sn_gw *gw = gateways; gw; gw = gw->next) {
        sn_gw_free_dead(gw);
    }
}

/* ---- bad input: counted, logged at a bounded pace ---- */

void sn_gw_note_topics_full(struct sn_client *c, int rc, const char *what, const char *topic)
{
    if (rc != -ENOSPC) {
        gw_log(GW_WARN, "mqttsn", "client=\"%s\" %s \"%s\": %s", c->id, what, topic,
               gw_strerror(rc));
        return;
    }
    c->gw->topics_full++;
    if (!c->topics_full_logged) {
        c->topics_full_logged = true;
        gw_log(GW_WARN, "mqttsn",
               "client=\"%s\" %s \"%s\": topic-id registry full (%u ids, mqttsn_max_topics; "
               "logged once per client, %llu refused on listener %s)",
               c->id, what, topic, c->gw->conf.max_topics, (unsigned long long)c->gw->topics_full,
               c->gw->name);
    }
}

void sn_gw_note_bad(struct sn_gw *gw, const struct sn_peer *peer, bool malformed, const char *what)
{
    struct broker *b = gw->b;
    if (malformed) {
        gw->malformed++;
    } else {
        gw->unexpected++;
    }
    b->st.protocol_errors++;
    uint64_t now = loop_now_ms(b->loop);
    uint64_t total = gw->malformed + gw->unexpected;
    if (gw->drops_logged_ms && now - gw->drops_logged_ms < SN_DROP_LOG_MS) {
        return;
    }
    gw_log(GW_NOTICE, "mqttsn",
           "listener=%s peer=%s datagram dropped: %s (%llu dropped since "
           "the last line; malformed=%llu unexpected=%llu)",
           gw->name, sn_gw_peer_str(gw, peer), what, (unsigned long long)(total - gw->drops_at_log),
           (unsigned long long)gw->malformed, (unsigned long long)gw->unexpected);
    gw->drops_logged_ms = now;
    gw->drops_at_log = total;
}

/* ---- input ---- */

static void on_unconnected(struct sn_gw *gw, const struct sn_peer *peer, const struct sn_msg *m)
{
    if (m->type == SN_PUBLISH && m->u.publish.flags.qos == -1) {
        sn_client_on_publish_m1(gw, peer, &m->u.publish); /* §6.8 */
        return;
    }
    sn_gw_note_bad(gw, peer, false, "message from a peer that is not connected");
}

static void on_datagram(void *arg, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    struct sn_gw *gw = arg;
    struct broker *b = gw->b;
    struct sn_msg m;
    b->st.bytes_received += n;
    gw->rx_now = n;
    if (sn_decode(p, n, &m) < 0) {
        sn_gw_note_bad(gw, peer, true, "malformed");
        return;
    }
    struct sn_peer node_peer;
    if (m.type == SN_ENCAPSULATED && !sn_conf_forwarder_allowed(gw, peer)) {
        /* A forwarder speaks for many nodes: only the configured ones may,
         * or any host could create clients under node ids at will. */
        gw->fwd_refused++;
        sn_gw_note_bad(gw, peer, false, "encapsulated message from an address not in "
                                        "mqttsn_forwarder");
        return;
    }
    if (m.type == SN_ENCAPSULATED) {
        /* §5.5: a forwarder's message; the node behind it is the peer. */
        struct sn_encap enc;
        if (sn_decode_encap(p, n, &enc, &m) < 0) {
            sn_gw_note_bad(gw, peer, true, "malformed encapsulated message");
            return;
        }
        node_peer = *peer;
        node_peer.node_len = (uint8_t)enc.node_id.n; /* <= SN_ENCAP_NODE_MAX (codec) */
        memcpy(node_peer.node, enc.node_id.p, enc.node_id.n);
        peer = &node_peer;
        gw->forwarded++;
    }
    b->st.msgs_received++;
    if (m.type == SN_SEARCHGW) {
        /* §6.1: answer with GWINFO (unicast back over UDP; a serial
         * transport may broadcast it on its link). */
        struct sn_msg out = {.type = SN_GWINFO};
        out.u.gwinfo.gw_id = gw->conf.gw_id;
        (void)sn_gw_send(gw, peer, &out);
        return;
    }
    struct sn_client *c = sn_gw_client_find(gw, peer);
    if (c && !identity_holds(c, peer)) {
        /* Not a datagram of that client's device: the client loses its
         * link (will and session as for a lost connection). */
        sn_gw_client_drop(c, false, "another DTLS identity on its address");
        c = NULL;
    }
    if (c) {
        sn_amp_on_rx(&c->amp, n);
    }
    if (m.type == SN_CONNECT) {
        sn_client_on_connect(gw, c, peer, &m.u.connect);
        return;
    }
    if (!c && m.type == SN_PINGREQ && m.u.client_id.n) {
        c = sn_client_restore(gw, peer, m.u.client_id); /* §6.14 across a restart */
    }
    if (!c) {
        on_unconnected(gw, peer, &m);
        return;
    }
    c->last_rx_ms = loop_now_ms(b->loop);
    sn_client_on_msg(c, &m);
}

/* ---- ADVERTISE (§6.1) ---- */

static void on_advertise(struct loop *l, void *arg)
{
    struct sn_gw *gw = arg;
    struct sn_msg m = {.type = SN_ADVERTISE};
    m.u.advertise.gw_id = gw->conf.gw_id;
    m.u.advertise.duration_s = gw->conf.advertise_s; /* time until the next one */
    int rc = sn_gw_send(gw, &gw->conf.advertise_to, &m);
    if (rc < 0 && !gw->advertise_failed) {
        gw_log(GW_WARN, "mqttsn", "listener=%s ADVERTISE to %s: %s (logged once)", gw->name,
               sn_gw_peer_str(gw, &gw->conf.advertise_to), gw_strerror(rc));
    }
    gw->advertise_failed = rc < 0;
    (void)loop_timer_start(l, &gw->advertise,
                           loop_now_ms(l) + (uint64_t)gw->conf.advertise_s * 1000u);
}

/* ---- open / close ---- */

/* The DTLS session of peer ended: the clients on that address lost their
 * secure channel and are dropped (as a lost connection: wills go out,
 * persistent sessions stay), except sleeping ones (§6.14), whose session
 * a DTLS idle timeout may end while they sleep; they come back with a new
 * handshake and the same identity (identity_holds). */
static void on_peer_gone(void *arg, const struct sn_peer *peer)
{
    struct sn_gw *gw = arg;
    for (size_t i = 0; i < SN_CLIENT_BUCKETS; i++) {
        struct sn_client *c = gw->buckets[i];
        while (c) {
            struct sn_client *next = c->hnext;
            bool same =
                    c->peer.len == peer->len && memcmp(c->peer.addr, peer->addr, peer->len) == 0;
            if (same && c->state != SN_CL_ASLEEP && c->state != SN_CL_GONE) {
                sn_gw_client_drop(c, false, "DTLS session ended");
            }
            c = next;
        }
    }
}

static int open_udp(struct sn_gw *gw)
{
    const struct cfg_listener *lc = gw->lc;
    (void)snprintf(gw->name, sizeof(gw->name), "%s:%u", lc->bind_address ? lc->bind_address : "*",
                   lc->port);
    int rc;
    if (cfg_tls_on(&lc->tls)) {
        /* The TLS options make the listener DTLS (issue 12). */
        gw->tops = &sn_dtls_ops;
        rc = sn_dtls_open(gw->b->loop, lc, on_datagram, on_peer_gone, gw, &gw->dtls);
        gw->tctx = gw->dtls;
        gw->udp = rc == 0 ? sn_dtls_udp(gw->dtls) : NULL;
    } else {
        const struct sn_udp_opts o = {
                .addr = lc->bind_address,
                .port = lc->port,
                .domain = lc->socket_domain,
                .rcvbuf_bytes = lc->mqttsn_udp_receive_buffer,
        };
        gw->tops = &sn_udp_ops;
        rc = sn_udp_open(gw->b->loop, &o, on_datagram, gw, &gw->udp);
        gw->tctx = gw->udp;
    }
    if (rc < 0) {
        return rc;
    }
    rc = sn_conf_load(&gw->conf, lc, gw->udp);
    if (rc < 0) {
        if (gw->dtls) {
            sn_dtls_close(gw->dtls); /* and its UDP socket */
        } else {
            sn_udp_close(gw->udp);
        }
        gw->dtls = NULL;
        gw->udp = NULL;
        return rc;
    }
    if (gw->dtls) {
        /* A DTLS session holds about 34 KiB of mbedTLS record buffers
         * (outside memory_limit: mbedTLS allocates on its own): unless
         * mqttsn_max_clients says otherwise, 1000 of them (34 MiB), not
         * the 10,000 plain UDP clients of the default. */
        uint32_t sessions =
                lc->mqttsn_max_clients ? gw->conf.max_clients : SN_DTLS_SESSIONS_DEFAULT;
        sn_dtls_set_limits(gw->dtls, sessions, gw->conf.max_clients_per_host, gw->conf.idle_ms);
        if (!lc->mqttsn_max_clients) {
            gw->conf.max_clients = sessions; /* a client needs a session */
        }
    }
    return rc;
}

int sn_gw_open(struct broker *b, const struct cfg_listener *lc, struct sn_gw **out)
{
    if (!hook_added) {
        int rc = loop_hook_add(b->loop, free_dead, NULL);
        if (rc < 0) {
            return rc;
        }
        hook_added = true;
    }
    struct sn_gw *gw = gw_calloc(1, sizeof(*gw));
    if (!gw) {
        return -ENOMEM;
    }
    gw->b = b;
    gw->lc = lc;
    gw->hash_seed = (uint32_t)sn_rand_range(1, 0xFFFF) << 16 | sn_rand_range(1, 0xFFFF);
    /* A serial port (issue 13) or a UDP socket: the rest is the same gateway. */
    int rc = lc->mqttsn_serial_device ? sn_serial_gw_start(gw, on_datagram) : open_udp(gw);
    if (rc < 0) {
        gw_free(gw);
        return rc;
    }
    loop_timer_init(&gw->advertise, on_advertise, gw);
    if (gw->conf.advertise_s) {
        /* The first ADVERTISE goes out at once, then every period. */
        (void)loop_timer_start(b->loop, &gw->advertise, loop_now_ms(b->loop));
    }
    gw->next = gateways;
    gateways = gw;
    *out = gw;
    return 0;
}

void sn_gw_close_all(void)
{
    while (gateways) {
        struct sn_gw *gw = gateways;
        gateways = gw->next;
        gw->closing = true; /* shared messages stay with their group */
        for (size_t i = 0; i < SN_CLIENT_BUCKETS; i++) {
            while (gw->buckets[i]) {
                /* As broker_shutdown does for MQTT: no DISCONNECT, so wills go out. */
                sn_gw_client_drop(gw->buckets[i], false, "broker stopping");
            }
        }
        while (gw->dead) {
            struct sn_client *c = gw->dead;
            gw->dead = c->hnext;
            sn_gw_client_free(c);
        }
        for (struct sn_ack_wait *a = gw->acks; a; a = a->next) {
            a->gw = NULL; /* the commit frees it (persist_close) */
        }
        loop_timer_stop(gw->b->loop, &gw->advertise);
        gw_free(gw->prov);
        sn_conf_fini(&gw->conf);
        if (gw->dtls) {
            sn_dtls_close(gw->dtls); /* and its UDP socket */
        } else {
            sn_udp_close(gw->udp);
        }
        sn_serial_gw_stop(gw);
        gw_free(gw);
    }
}

void sn_gw_reload_all(void)
{
    for (struct sn_gw *gw = gateways; gw; gw = gw->next) {
        if (gw->dtls) {
            sn_dtls_reload(gw->dtls, gw->lc);
        }
    }
}

bool sn_gw_figures_get(size_t i, struct sn_gw_figures *out)
{
    struct sn_gw *gw = gateways;
    while (gw && i > 0) {
        gw = gw->next;
        i--;
    }
    if (!gw) {
        return false;
    }
    uint64_t sleepers = 0;
    for (size_t k = 0; k < SN_CLIENT_BUCKETS; k++) {
        for (const struct sn_client *c = gw->buckets[k]; c; c = c->hnext) {
            sleepers += c->state == SN_CL_ASLEEP || c->state == SN_CL_AWAKE;
        }
    }
    *out = (struct sn_gw_figures){
            .name = gw->name,
            .transport = "udp",
            .clients = gw->n_clients,
            .sleepers = sleepers,
            .malformed = gw->malformed,
            .unexpected = gw->unexpected,
            .sleep_dropped = gw->sleep_dropped,
            .topics_full = gw->topics_full,
            .forwarded = gw->forwarded,
            .amp_blocked = gw->amp_blocked,
            .unproven = gw->n_unproven,
            .evicted = gw->evicted,
            .sessions_discarded = gw->prov_discarded,
            .fwd_refused = gw->fwd_refused,
            .refused = gw->refused_full + gw->refused_host,
    };
    if (gw->dtls) {
        struct sn_dtls_stats st;
        sn_dtls_get_stats(gw->dtls, &st);
        out->transport = "dtls";
        out->dtls_sessions = st.sessions;
        out->dtls_handshaking = st.handshaking;
        out->dtls_cookies = st.cookies;
        out->dtls_established = st.established;
        out->dtls_failed = st.failed;
        out->dtls_refused = st.refused;
        out->dtls_deferred = st.deferred;
    }
    if (gw->serial) {
        struct sn_serial_stats st;
        sn_serial_get_stats(gw->serial, &st);
        out->transport = "serial";
        out->framing_errors = st.framing_errors;
        out->crc_errors = st.crc_errors;
        out->octets_in = st.octets_in;
        out->octets_out = st.octets_out;
    }
    return true;
}
