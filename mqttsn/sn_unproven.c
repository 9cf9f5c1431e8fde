/* sn_unproven.c - what a client whose source address is not proven may
 * cost (issue 11).
 *
 * A forged CONNECT costs what its client and session cost: a SUBSCRIBE #
 * makes every routed message visit it, even though the anti-amplification
 * limit (sn_amp.h) keeps the datagrams from leaving. So, on transports
 * where that limit applies (UDP; nobody forges where a serial frame came
 * from):
 *  - every client starts unproven, on a per-listener list, oldest first;
 *    past mqttsn_max_unproven_clients the oldest is evicted for a new one;
 *  - it leaves the list when it proves its address (a REGACK naming the
 *    random ids of a gateway REGISTER, sn_deliver.c) or uses one of the
 *    first SN_USE_PROOF_IDS random topic ids the gateway gave it in this
 *    connection (a PUBLISH: how a sensor that only publishes shows it is
 *    there);
 *  - a durable session only unproven connections used (sess.provisional)
 *    is discarded when the cap evicts its client; left behind otherwise it
 *    is kept, but at most mqttsn_max_unproven_clients of them per listener
 *    (the oldest discarded), each expiring SN_PROVISIONAL_EXPIRY_S after
 *    its connection ended (the store keeps that expiry across a restart).
 * Loop thread only. */
#include "alloc.h"
#include "log.h"
#include "persist.h"
#include "sn_gw_priv.h"

#include <string.h>

#define SN_PROV_LOG_MS 60000u /* at most one line a minute for discarded sessions */

/* Where the amplification limit applies (not on a serial block, unless
 * set), and the transport does not prove addresses itself (DTLS: its
 * cookie exchange did before any datagram reached the gateway). */
static bool applies(const struct sn_gw *gw)
{
    return gw->conf.amp_factor != 0 && !(gw->tops && gw->tops->proves_address);
}

void sn_unproven_add(struct sn_gw *gw, struct sn_client *c)
{
    if (!applies(gw)) {
        return;
    }
    c->unproven = true;
    c->unext = NULL;
    c->uprev = gw->unproven_tail;
    if (gw->unproven_tail) {
        gw->unproven_tail->unext = c;
    } else {
        gw->unproven_head = c;
    }
    gw->unproven_tail = c;
    gw->n_unproven++;
}

void sn_unproven_del(struct sn_gw *gw, struct sn_client *c)
{
    if (!c->unproven) {
        return;
    }
    if (c->uprev) {
        c->uprev->unext = c->unext;
    } else {
        gw->unproven_head = c->unext;
    }
    if (c->unext) {
        c->unext->uprev = c->uprev;
    } else {
        gw->unproven_tail = c->uprev;
    }
    c->uprev = c->unext = NULL;
    c->unproven = false;
    gw->n_unproven--;
    if (gw->evicting && gw->n_unproven * 2u <= gw->conf.max_unproven) {
        /* Half the cap free again: the flood (or the reconnect wave) is over. */
        gw->evicting = false;
        gw_log(GW_NOTICE, "mqttsn",
               "listener=%s eviction of unproven clients over: %llu evicted in the episode, "
               "%zu unproven now (%llu evicted on the listener)",
               gw->name, (unsigned long long)(gw->evicted - gw->evicted_at_log), gw->n_unproven,
               (unsigned long long)gw->evicted);
    }
}

/* c is no longer a suspect: off the unproven list; a session it opened is
 * an ordinary durable one from now on, in the store too (no short expiry). */
static void client_trusted(struct sn_client *c)
{
    sn_unproven_del(c->gw, c);
    struct sess *s = c->sess;
    if (s && s->provisional) {
        s->provisional = false;
        s->expiry_s = 0; /* persistent_client_expiration, as for every MQTT-SN session */
        (void)persist_session_connected(c->gw->b, s, s->protocol);
    }
}

/* A new client is coming and the listener holds mqttsn_max_unproven_clients
 * clients that have not proven their address: the oldest of them goes
 * (a real one reconnects; a forged one never answered anyway). Its session
 * is discarded if it opened it, else only disconnected (sn_gw_client_drop). */
void sn_unproven_make_room(struct sn_gw *gw)
{
    if (!applies(gw) || gw->n_unproven < gw->conf.max_unproven) {
        return;
    }
    struct sn_client *old = gw->unproven_head;
    gw->evicted++;
    gw->b->st.sn_unproven_evicted++;
    if (!gw->evicting) {
        gw->evicting = true;
        gw->evicted_at_log = gw->evicted - 1u;
        gw_log(GW_WARN, "mqttsn",
               "listener=%s %zu clients have not proven their address "
               "(mqttsn_max_unproven_clients): the oldest makes room for each new one, first "
               "client=\"%s\" peer=%s (forged CONNECTs? logged once per episode)",
               gw->name, gw->n_unproven, old->id, sn_gw_peer_str(gw, &old->peer));
    }
    sn_gw_client_evict(old, "evicted: address not proven (mqttsn_max_unproven_clients)");
}

/* The oldest remembered left-behind session goes from the ring; if it is
 * still offline and provisional (not s, the one coming in), it is
 * discarded: counted, logged at most once a minute. */
static void prov_pop_oldest(struct sn_gw *gw, const struct sess *s)
{
    uint32_t cap = gw->conf.max_unproven;
    const struct sn_prov_id *e = &gw->prov[gw->prov_head];
    struct gw_bytes id = {(const uint8_t *)e->id, e->len};
    struct sess *old = sess_table_get(&gw->b->sessions, id);
    gw->prov_head = (gw->prov_head + 1u) % cap;
    gw->prov_n--;
    if (!old || old == s || old->link || !old->provisional) {
        return; /* gone, taken, proven or back: nothing to do */
    }
    gw->prov_discarded++;
    uint64_t now = loop_now_ms(gw->b->loop);
    if (!gw->prov_logged_ms || now - gw->prov_logged_ms >= SN_PROV_LOG_MS) {
        gw_log(GW_WARN, "mqttsn",
               "listener=%s %u durable sessions of clients that never proved their address "
               "(mqttsn_max_unproven_clients): the oldest discarded for a new one, "
               "client=\"%s\" (%llu discarded on the listener; logged at most once a minute)",
               gw->name, cap, old->id, (unsigned long long)gw->prov_discarded);
        gw->prov_logged_ms = now;
    }
    svc_discard(gw->b, old);
}

/* A durable session whose connection never proved its address was left
 * behind (the client said DISCONNECT, or went quiet): it is kept, as a real
 * client expects, but at most conf.max_unproven of them are, the oldest
 * discarded for a newer one (forged CONNECTs with clean session 0 then
 * DISCONNECT must not pile up sessions that every message visits). */
void sn_unproven_left(struct sn_gw *gw, const struct sess *s)
{
    uint32_t cap = gw->conf.max_unproven;
    if (!gw->prov && !(gw->prov = gw_calloc(cap, sizeof(*gw->prov)))) {
        return; /* out of memory: it expires (SN_PROVISIONAL_EXPIRY_S) */
    }
    if (gw->prov_n == cap) {
        prov_pop_oldest(gw, s);
    }
    struct sn_prov_id *e = &gw->prov[(gw->prov_head + gw->prov_n) % cap];
    e->len = (uint8_t)s->id_len; /* an MQTT-SN client id: 1..23 octets */
    memcpy(e->id, s->id, e->len);
    gw->prov_n++;
}

void sn_gw_validated(struct sn_client *c)
{
    client_trusted(c);
    if (c->amp.validated) {
        return;
    }
    sn_amp_validate(&c->amp);
    c->gw->amp_validated++;
    gw_log(GW_DEBUG, "mqttsn", "client=\"%s\" peer=%s address proven (REGACK)", c->id,
           sn_gw_peer_str(c->gw, &c->peer));
}

void sn_gw_note_use(struct sn_client *c, uint16_t id, bool known)
{
    if (!c->unproven || c->use_proof_lost) {
        return;
    }
    if (!known) {
        /* An id it was never given: a blind guess (or ids from before a
         * restart without persistence). One guess only: 16 random bits. */
        c->use_proof_lost = true;
        return;
    }
    const struct sn_topic *t = sn_topics_get(&c->topics, id);
    size_t slot = t ? (size_t)(t - c->topics.v) : 0;
    if (!t || slot < c->proof_base || slot >= (size_t)c->proof_base + SN_USE_PROOF_IDS) {
        return; /* known from an earlier connection, or past the window: proves nothing */
    }
    client_trusted(c);
    gw_log(GW_DEBUG, "mqttsn", "client=\"%s\" peer=%s established: used topic id %u it was given",
           c->id, sn_gw_peer_str(c->gw, &c->peer), id);
}
