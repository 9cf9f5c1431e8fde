/* sn_deliver.c - session deliveries to an MQTT-SN client: the session's
 * link ops (gateway/broker/sess.h struct sess_link_ops).
 *
 * An MQTT-SN PUBLISH names its topic by a 2-byte id, so a message whose
 * topic the client has no id for is held while the gateway registers one
 * (MQTT-SN 1.2 §6.10: REGISTER, then wait for REGACK). One REGISTER is in
 * flight per client at a time; every later delivery waits behind it, so
 * the client sees messages in the order the session sent them. writable()
 * turns false while SN_HELD_MAX deliveries wait: the session then queues
 * (QoS 1/2) or drops (QoS 0, counted) as for a slow MQTT connection, and
 * is pumped again when the held list drains.
 *
 * Retransmission (§6.13): one timer per client. While a REGISTER, a QoS 1/2
 * PUBLISH or a PUBREL is unacknowledged, every Tretry the whole unacked set
 * is sent again (PUBLISH with DUP); after Nretry rounds with no
 * acknowledgement at all the client is taken as lost (its will goes out).
 *
 * Sleeping clients (§6.14): while a client sleeps, every delivery joins the
 * same held list without being sent (the sleep buffer), up to
 * max_queued_messages (at most SN_SLEEP_MAX). When it is full a QoS 0
 * message is dropped first: a new QoS 0 one is refused, a QoS 1/2 one
 * pushes out the oldest QoS 0 one; with no QoS 0 left writable() turns
 * false and QoS 1/2 wait in the session's queue (durable for a persistent
 * session). Every drop is counted. On wake-up the list is flushed as after
 * a REGACK, and the PINGRESP waits until nothing is left to send or to be
 * acknowledged. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "sn_gw_priv.h"
#include "sn_rand.h"

#include <errno.h>
#include <string.h>

static void arm_retry(struct sn_client *c)
{
    struct loop *l = c->gw->b->loop;
    if (!loop_timer_armed(&c->retry)) {
        (void)loop_timer_start(l, &c->retry, loop_now_ms(l) + c->gw->conf.retry_ms);
    }
}

/* Send m now with the given topic reference. */
static int send_now(struct sn_client *c, const struct sn_held *h, uint8_t topic_type,
                    uint16_t topic_id, const uint8_t short_name[2])
{
    struct broker *b = c->gw->b;
    struct sn_msg out = {.type = SN_PUBLISH};
    struct sn_publish *p = &out.u.publish;
    p->flags.dup = h->dup;
    p->flags.qos = (int8_t)h->qos;
    p->flags.retain = h->retain;
    p->flags.topic_type = topic_type;
    p->topic_id = topic_id;
    if (short_name) {
        memcpy(p->short_name, short_name, 2);
    }
    p->msg_id = h->pid;
    p->data = msg_payload(h->m);
    if (sn_encoded_size(&out) > SN_MAX_LEN) {
        b->st.pub_dropped++;
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" message of %u bytes on \"%s\" too large for "
               "MQTT-SN: dropped",
               c->id, h->m->payload_len, h->m->topic);
        return 0;
    }
    b->st.pub_msgs_sent++;
    b->st.pub_bytes_sent += h->m->payload_len;
    broker_flow_count(b, BROKER_PROTO_MQTTSN, true, h->qos, h->m->payload_len);
    if (h->qos > 0) {
        arm_retry(c); /* also when held back below: it stays in flight */
    }
    int rc = sn_gw_send(c->gw, &c->peer, &out);
    if (rc == -EAGAIN && h->qos == 0) {
        b->st.pub_dropped++; /* anti-amplification limit (sn_gw_send): QoS 0 is dropped */
    } else if (rc == 0) {
        b->st.pub_msgs_sent++;
        b->st.pub_bytes_sent += h->m->payload_len;
    }
    return rc;
}

/* May c get PUBLISHes by registered topic id? Not before it proved its
 * address (sn_amp.h): until then every such delivery starts with a REGISTER
 * (§6.10 allows one at any time), whose REGACK is the proof. */
static bool proven(const struct sn_client *c)
{
    return c->amp.validated || c->gw->conf.amp_factor == 0;
}

/* Send h if the client has a usable topic reference. Returns true if it
 * went (or was dropped for good), false if a REGISTER is needed first. */
static bool try_send(struct sn_client *c, const struct sn_held *h)
{
    struct gw_bytes topic = msg_topic(h->m);
    uint16_t id = sn_topics_find(&c->topics, topic);
    if (id && sn_topics_get(&c->topics, id)->acked && proven(c)) {
        (void)send_now(c, h, SN_TOPIC_NORMAL, id, NULL);
        return true;
    }
    const struct sn_predef *pd = sn_predef_by_name(&c->gw->conf, c->id, topic);
    if (pd) {
        /* A predefined topic id needs no registration (§3, §6.7). */
        (void)send_now(c, h, SN_TOPIC_PREDEFINED, pd->id, NULL);
        return true;
    }
    if (topic.n == 2) {
        /* A two-character topic needs no registration (§3 short topic names). */
        (void)send_now(c, h, SN_TOPIC_SHORT, 0, topic.p);
        return true;
    }
    return false;
}

/* Register h's topic with the client (§6.10). Returns 0, or an error for
 * which h must be dropped (registry full, out of memory). */
static int start_register(struct sn_client *c, struct msg *m)
{
    uint16_t id;
    int rc = sn_topics_add(&c->topics, msg_topic(m), false, &id);
    if (rc < 0) {
        sn_gw_note_topics_full(c, rc, "message dropped: cannot register", m->topic);
        c->gw->b->st.pub_dropped++;
        return rc;
    }
    /* Random, not a counter: echoing it proves the client receives what
     * we send (sn_amp.h). */
    c->reg_msg_id = sn_rand_range(1, 0xFFFF);
    c->reg_topic_id = id;
    struct sn_msg out = {.type = SN_REGISTER};
    out.u.reg.topic_id = id;
    out.u.reg.msg_id = c->reg_msg_id;
    out.u.reg.topic = msg_topic(m);
    (void)sn_gw_send(c->gw, &c->peer, &out);
    arm_retry(c);
    return 0;
}

static void free_held(struct sn_held *h)
{
    msg_unref(h->m);
    gw_free(h);
}

static void count_out(struct sn_client *c, const struct sn_held *h)
{
    c->n_held--;
    if (h->qos == 0) {
        c->n_held_q0--;
    }
}

static struct sn_held *pop_held(struct sn_client *c)
{
    struct sn_held *h = c->held_head;
    c->held_head = h->next;
    if (!c->held_head) {
        c->held_tail = NULL;
    }
    count_out(c, h);
    return h;
}

/* True while messages may go out to the client (not asleep, not in the
 * will flow of a CONNECT that wakes a sleeping client). */
static bool sending(const struct sn_client *c)
{
    return c->state == SN_CL_ACTIVE || c->state == SN_CL_AWAKE;
}

/* Room in the sleep buffer: max_queued_messages, at most SN_SLEEP_MAX. */
static uint32_t sleep_max(const struct sn_client *c)
{
    uint32_t q = c->gw->b->cfg->max_queued_messages;
    return q && q < SN_SLEEP_MAX ? q : SN_SLEEP_MAX;
}

static void note_sleep_drop(struct sn_client *c)
{
    struct broker *b = c->gw->b;
    c->gw->sleep_dropped++;
    b->st.pub_dropped++;
    if (!c->sleep_dropping) {
        c->sleep_dropping = true;
        gw_log(GW_WARN, "mqttsn",
               "client=\"%s\" sleep buffer full (%u messages): dropping QoS 0 messages, "
               "oldest first (%llu dropped on this listener so far)",
               c->id, sleep_max(c), (unsigned long long)c->gw->sleep_dropped);
    }
}

/* Drop the oldest buffered QoS 0 message. */
static void drop_oldest_q0(struct sn_client *c)
{
    struct sn_held *prev = NULL;
    for (struct sn_held *h = c->held_head; h; prev = h, h = h->next) {
        if (h->qos != 0) {
            continue;
        }
        if (prev) {
            prev->next = h->next;
        } else {
            c->held_head = h->next;
        }
        if (c->held_tail == h) {
            c->held_tail = prev;
        }
        count_out(c, h);
        free_held(h);
        note_sleep_drop(c);
        return;
    }
}

/* Send what waits, in order, until one needs a REGISTER. */
static void flush_held(struct sn_client *c)
{
    while (c->held_head && c->reg_msg_id == 0) {
        struct sn_held *h = c->held_head;
        if (!try_send(c, h) && start_register(c, h->m) == 0) {
            return; /* h waits for this REGACK */
        }
        free_held(pop_held(c));
    }
    if (!c->held_head && c->sess) {
        sess_pump(c->sess);
    }
}

static int hold(struct sn_client *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                bool retain)
{
    struct sn_held *h = gw_alloc(sizeof(*h));
    if (!h) {
        c->gw->b->st.pub_dropped++;
        return -ENOMEM;
    }
    *h = (struct sn_held){.m = msg_ref(m), .pid = pid, .qos = qos, .dup = dup, .retain = retain};
    if (c->held_tail) {
        c->held_tail->next = h;
    } else {
        c->held_head = h;
    }
    c->held_tail = h;
    c->n_held++;
    if (qos == 0) {
        c->n_held_q0++;
    }
    return 0;
}

/* A delivery to a client that is not sending: into the sleep buffer. When
 * it is full the oldest QoS 0 message makes room; with none to drop, a new
 * QoS 0 message is dropped. A QoS 1/2 one only comes past a full buffer
 * when the session sends regardless of writable() (its inflight window on
 * attach): it is kept, bounded by that window. */
static int sleep_hold(struct sn_client *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                      bool retain)
{
    if (c->n_held >= sleep_max(c)) {
        if (c->n_held_q0 > 0) {
            drop_oldest_q0(c);
        } else if (qos == 0) {
            note_sleep_drop(c);
            return 0;
        }
    }
    return hold(c, m, qos, pid, dup, retain);
}

static int link_send_publish(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                             bool retain)
{
    struct sn_client *c = link;
    struct sn_held now = {.m = m, .pid = pid, .qos = qos, .dup = dup, .retain = retain};
    if (!sending(c)) {
        return sleep_hold(c, m, qos, pid, dup, retain);
    }
    if (!c->held_head && c->reg_msg_id == 0) {
        if (try_send(c, &now)) {
            return 0;
        }
        if (start_register(c, m) < 0) {
            return 0; /* dropped and counted; the session keeps QoS 1/2 in flight */
        }
    }
    return hold(c, m, qos, pid, dup, retain);
}

static int link_send_pubrel(void *link, uint16_t pid)
{
    struct sn_client *c = link;
    struct sn_msg out = {.type = SN_PUBREL};
    out.u.msg_id = pid;
    arm_retry(c);
    return sn_gw_send(c->gw, &c->peer, &out);
}

static bool link_writable(void *link)
{
    const struct sn_client *c = link;
    if (!sending(c)) {
        return c->n_held < sleep_max(c) || c->n_held_q0 > 0;
    }
    return c->n_held < SN_HELD_MAX;
}

/* A connection of the same identity (MQTT or MQTT-SN) took this client's
 * session over: svc_open has detached the session, uncounted the client
 * and handles its will. The client only forgets the session and goes. */
static void link_kick(void *link, int reason)
{
    (void)reason;
    struct sn_client *c = link;
    gw_log(GW_NOTICE, "mqttsn", "client=\"%s\" peer=%s taken over by a new connection", c->id,
           sn_gw_peer_str(c->gw, &c->peer));
    sn_state_stash(c); /* the next client of the session gets the topic ids */
    c->sess = NULL;
    sn_gw_client_drop(c, true, "taken over");
}

const struct sess_link_ops sn_link_ops = {
        .send_publish = link_send_publish,
        .send_pubrel = link_send_pubrel,
        .writable = link_writable,
        .kick = link_kick,
};

/* Drop held deliveries of a topic the client refused. */
static void drop_topic(struct sn_client *c, const struct sn_topic *t)
{
    struct sn_held **pp = &c->held_head;
    c->held_tail = NULL;
    while (*pp) {
        struct sn_held *h = *pp;
        if (h->m->topic_len == t->len && memcmp(h->m->topic, t->name, t->len) == 0) {
            *pp = h->next;
            count_out(c, h);
            c->gw->b->st.pub_dropped++;
            free_held(h);
            continue;
        }
        c->held_tail = h;
        pp = &h->next;
    }
}

/* A REGACK from a client that has not proven its address: the proof when
 * it names our REGISTER's random message id and topic id, else a blind
 * guess (bounded). Returns false when the client was dropped. */
static bool check_proof(struct sn_client *c, const struct sn_topic_ack *ra)
{
    if (c->reg_msg_id && ra->msg_id == c->reg_msg_id && ra->topic_id == c->reg_topic_id) {
        sn_gw_validated(c);
        return true;
    }
    if (sn_amp_strike(&c->amp)) {
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" peer=%s dropped: %u REGACKs for REGISTERs it was never sent "
               "(a forged source address?)",
               c->id, sn_gw_peer_str(c->gw, &c->peer), c->amp.strikes);
        sn_gw_client_drop(c, false, "REGACKs that prove nothing");
        return false;
    }
    return true;
}

static bool resend_unacked(struct sn_client *c);

void sn_deliver_on_regack(struct sn_client *c, const struct sn_topic_ack *ra)
{
    bool was_proven = c->amp.validated;
    if (!was_proven && !check_proof(c, ra)) {
        return;
    }
    if (c->reg_msg_id == 0 || ra->msg_id != c->reg_msg_id) {
        return; /* late or duplicate REGACK */
    }
    uint16_t id = c->reg_topic_id;
    c->reg_msg_id = 0;
    c->reg_topic_id = 0;
    const struct sn_topic *t = sn_topics_get(&c->topics, id);
    if (!t) {
        return;
    }
    if (ra->rc == SN_RC_ACCEPTED) {
        sn_topics_set_acked(&c->topics, id);
        sn_state_topic_saved(c, id);
    } else {
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" refused topic id %u for \"%s\" (%s): "
               "its messages dropped",
               c->id, id, t->name, sn_rc_name(ra->rc));
        drop_topic(c, t);
        sn_topics_del(&c->topics, id);
        sn_state_topic_forgotten(c, id); /* it may have been known (a SUBACK id) */
    }
    if (!was_proven && c->amp.validated && resend_unacked(c)) {
        arm_retry(c); /* in flight but held back until now: they go first */
    }
    flush_held(c);
}

void sn_deliver_challenge(struct sn_client *c, uint16_t id)
{
    const struct sn_topic *t = sn_topics_get(&c->topics, id);
    if (proven(c) || !sending(c) || c->reg_msg_id || c->held_head || !t) {
        return; /* nothing to prove, or a REGISTER already does */
    }
    /* §6.10: a REGISTER may come at any time; this one names the id the
     * client just got in its SUBACK, under a random message id. Its REGACK
     * proves the address (check_proof), so a subscriber waiting for
     * commands is not left unproven (sn_unproven.c) until its first
     * message. A forged one never answers and is lost after Nretry. */
    c->reg_msg_id = sn_rand_range(1, 0xFFFF);
    c->reg_topic_id = id;
    struct sn_msg out = {.type = SN_REGISTER};
    out.u.reg.topic_id = id;
    out.u.reg.msg_id = c->reg_msg_id;
    out.u.reg.topic = (struct gw_bytes){(const uint8_t *)t->name, t->len};
    (void)sn_gw_send(c->gw, &c->peer, &out);
    arm_retry(c);
}

void sn_deliver_clear(struct sn_client *c)
{
    loop_timer_stop(c->gw->b->loop, &c->retry);
    while (c->held_head) {
        free_held(pop_held(c));
    }
    c->reg_msg_id = 0;
    c->reg_topic_id = 0;
}

void sn_deliver_on_ack(struct sn_client *c)
{
    c->retries = 0;
}

static bool is_held(const struct sn_client *c, uint16_t pid)
{
    for (const struct sn_held *h = c->held_head; h; h = h->next) {
        if (h->qos > 0 && h->pid == pid) {
            return true;
        }
    }
    return false;
}

/* Send the unacknowledged set again; false if there is none. */
static bool resend_unacked(struct sn_client *c)
{
    bool any = false;
    const struct sn_topic *t = sn_topics_get(&c->topics, c->reg_topic_id);
    if (c->reg_msg_id && t) {
        struct sn_msg out = {.type = SN_REGISTER};
        out.u.reg.topic_id = c->reg_topic_id;
        out.u.reg.msg_id = c->reg_msg_id;
        out.u.reg.topic = (struct gw_bytes){(const uint8_t *)t->name, t->len};
        (void)sn_gw_send(c->gw, &c->peer, &out);
        any = true;
    }
    const struct sess *s = c->sess;
    for (uint32_t i = 0; s && i < s->n_out; i++) {
        const struct sess_inflight *o = &s->out[i];
        if (is_held(c, o->pid)) {
            continue; /* never sent: waits for the REGACK */
        }
        any = true;
        if (o->state == SESS_OUT_WAIT_PUBCOMP) {
            struct sn_msg out = {.type = SN_PUBREL};
            out.u.msg_id = o->pid;
            (void)sn_gw_send(c->gw, &c->peer, &out);
            continue;
        }
        struct sn_held h = {
                .m = o->m, .pid = o->pid, .qos = o->qos, .dup = true, .retain = o->retain};
        /* §6.13: DUP set on a retransmitted PUBLISH. One that needs a
         * REGISTER first (the client has not proven its address yet) gets
         * it; the PUBLISH goes on the next round. */
        if (!try_send(c, &h) && c->reg_msg_id == 0) {
            (void)start_register(c, o->m);
        }
    }
    return any;
}

void sn_deliver_on_retry(struct loop *l, void *arg)
{
    (void)l;
    struct sn_client *c = arg;
    if (!sending(c) || (c->reg_msg_id == 0 && (!c->sess || c->sess->n_out == 0))) {
        c->retries = 0;
        return;
    }
    if (c->retries >= c->gw->conf.nretry) {
        gw_log(GW_NOTICE, "mqttsn",
               "client=\"%s\" peer=%s lost: no acknowledgement after %u "
               "retransmissions",
               c->id, sn_gw_peer_str(c->gw, &c->peer), c->gw->conf.nretry);
        sn_gw_client_drop(c, false, "retransmissions unacknowledged");
        return;
    }
    c->retries++;
    if (resend_unacked(c)) {
        arm_retry(c);
    }
}

void sn_deliver_sleep(struct sn_client *c)
{
    loop_timer_stop(c->gw->b->loop, &c->retry);
    c->retries = 0;
    c->sleep_dropping = false;
}

void sn_deliver_resume(struct sn_client *c)
{
    c->retries = 0;
    c->sleep_dropping = false;
    /* What went out before the client slept and was not acknowledged goes
     * again with DUP (§6.13); then the buffer, in order. */
    if (resend_unacked(c)) {
        arm_retry(c);
    }
    if (c->reg_msg_id == 0) {
        flush_held(c);
    }
}

void sn_deliver_check_awake(struct sn_client *c)
{
    const struct sess *s = c->sess;
    if (c->state != SN_CL_AWAKE || c->held_head || c->reg_msg_id ||
        (s && (s->n_out || s->q_len || s->q_store_len))) {
        return;
    }
    /* §6.14: all buffered messages delivered: PINGRESP, back to sleep. */
    gw_log(GW_DEBUG, "mqttsn", "client=\"%s\" state %d->%d", c->id, (int)c->state,
           (int)SN_CL_ASLEEP);
    c->state = SN_CL_ASLEEP;
    sn_deliver_sleep(c);
    struct sn_msg m = {.type = SN_PINGRESP};
    (void)sn_gw_send(c->gw, &c->peer, &m);
}
