/* fuzz_svc.c - a stateful target: sequences of operations from four fake
 * clients drive the real session service (svc.h) and sessions on a real
 * loop, and invariants are checked after every step:
 *   - no acknowledged message is lost: every QoS 1/2 publish that
 *     svc_publish accepted, for every client whose session was subscribed
 *     at QoS >= 1 when it was published and still exists, was sent to that
 *     client's link or is in its session's queue or window;
 *   - packet ids in a window are non-zero and unique [MQTT-2.3.1-1]
 *     [MQTT-2.3.1-2], and the window stays within its limit;
 *   - nothing is used after it is freed, nothing leaks (ASan, LSan).
 * Each input byte pair is one operation: open (clean or not), disconnect
 * (with or without DISCONNECT), subscribe / unsubscribe t/#, publish at a
 * QoS, acknowledge what a link got, release an inbound QoS 2 id, toggle a
 * link's writability. Persistence is off: the store has its own targets,
 * and the in-memory session keeps exactly what the model expects. */
#include "alloc.h"
#include "broker.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "sess.h"
#include "svc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS  4
#define MAX_MSGS 256 /* publishes per input that the model follows */
#define MAX_GOT  512

struct client {
    char id[8];
    struct sess *s;   /* while connected */
    bool connected;
    bool writable;
    bool exists;      /* the model: the broker holds a session for id */
    bool subscribed;  /* the model: subscribed t/# at QoS >= 1 */
    uint8_t sub_qos;
    /* what its links were sent: message numbers and QoS 1/2 packet ids */
    uint16_t got_msg[MAX_GOT];
    uint16_t got_pid[MAX_GOT];
    uint8_t got_qos[MAX_GOT];
    bool got_rel[MAX_GOT]; /* a PUBREL for got_pid */
    size_t n_got;
    bool expect[MAX_MSGS]; /* acknowledged publishes it must not lose */
    bool received[MAX_MSGS];
    uint16_t next_in_pid;
};

static struct client cl[CLIENTS];
static unsigned n_msgs;

static uint16_t msg_no(const struct msg *m)
{
    return m->payload_len == 2 ? (uint16_t)(m->payload[0] << 8 | m->payload[1]) : 0xFFFF;
}

static void note(struct client *c, uint16_t no, uint16_t pid, uint8_t qos, bool rel)
{
    if (no < MAX_MSGS) {
        c->received[no] = true;
    }
    if (c->n_got < MAX_GOT) {
        c->got_msg[c->n_got] = no;
        c->got_pid[c->n_got] = pid;
        c->got_qos[c->n_got] = qos;
        c->got_rel[c->n_got] = rel;
        c->n_got++;
    }
}

static int f_publish(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup, bool retain)
{
    (void)dup;
    (void)retain;
    note(link, msg_no(m), pid, qos, false);
    return 0;
}

static int f_publish_tag(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                         bool retain, struct sess_tag *tag)
{
    (void)tag;
    return f_publish(link, m, qos, pid, dup, retain);
}

static int f_pubrel(void *link, uint16_t pid)
{
    note(link, 0xFFFF, pid, 2, true);
    return 0;
}

static bool f_writable(void *link)
{
    return ((struct client *)link)->writable;
}

static void f_kick(void *link, int reason)
{
    (void)reason;
    struct client *c = link;
    c->connected = false; /* taken over: its session went to the new link */
    c->s = NULL;
}

static const struct sess_link_ops f_ops = {f_publish, f_pubrel, f_writable, f_kick,
                                           f_publish_tag};

/* Mark in held[] every followed message s still holds (window or queue):
 * one pass, so checking after every step stays linear in what is held. */
static void mark_held(const struct sess *s, bool held[MAX_MSGS])
{
    memset(held, 0, MAX_MSGS * sizeof(held[0]));
    for (uint32_t i = 0; i < s->n_out; i++) {
        uint16_t no = msg_no(s->out[i].m);
        if (no < MAX_MSGS) {
            held[no] = true;
        }
    }
    for (const struct sess_queued *q = s->q_head; q; q = q->next) {
        uint16_t no = msg_no(q->m);
        if (no < MAX_MSGS) {
            held[no] = true;
        }
    }
}

static void check(struct broker *b)
{
    for (int i = 0; i < CLIENTS; i++) {
        struct client *c = &cl[i];
        struct sess *s = sess_table_get(&b->sessions, gw_bytes_str(c->id));
        if (!!s != c->exists) {
            fprintf(stderr, "client %d: session %s, model says %s\n", i, s ? "exists" : "gone",
                    c->exists ? "exists" : "gone");
            abort();
        }
        if (!s) {
            continue;
        }
        for (uint32_t k = 0; k < s->n_out; k++) {
            if (s->out[k].pid == 0) {
                abort(); /* [MQTT-2.3.1-1] */
            }
            for (uint32_t j = k + 1; j < s->n_out; j++) {
                if (s->out[k].pid == s->out[j].pid) {
                    abort(); /* [MQTT-2.3.1-2] */
                }
            }
        }
        if (s->n_out > 3) {
            abort(); /* max_inflight_messages 3 */
        }
        bool held[MAX_MSGS];
        mark_held(s, held);
        for (unsigned no = 0; no < n_msgs; no++) {
            if (c->expect[no] && !c->received[no] && !held[no]) {
                fprintf(stderr, "client %d lost acknowledged message %u\n", i, no);
                abort();
            }
        }
    }
}

static void forget(struct client *c)
{
    c->exists = false;
    c->subscribed = false;
    memset(c->expect, 0, sizeof(c->expect));
}

static void op_open(struct broker *b, struct client *c, bool clean)
{
    struct svc_door door = {.allow_anonymous = true};
    struct svc_connect sc = {
            .client_id = gw_bytes_str(c->id),
            .door = &door,
            .clean = clean,
            .persistent = !clean,
            .protocol = 4,
    };
    struct sess *s;
    bool present;
    if (c->connected) {
        /* A second connection of the same client: the old one is kicked
         * (f_kick) and the session follows the new one or is discarded. */
    }
    bool was_clean_connected = c->connected && c->s && c->s->clean;
    if (svc_open(b, &sc, &s, &present) != SVC_OK) {
        return; /* out of memory: nothing changed */
    }
    if (clean || was_clean_connected || !c->exists) {
        forget(c); /* [MQTT-3.1.2-6]: a clean start or a clean session's end */
    }
    c->exists = true;
    c->connected = true;
    c->s = s;
    if (svc_attach(b, s, &f_ops, c) < 0) {
        abort(); /* the fake link never fails */
    }
}

static void op_close(struct broker *b, struct client *c, bool clean)
{
    if (!c->connected) {
        return;
    }
    bool reap = c->s->clean;
    svc_disconnect(b, c->s, clean, false);
    c->connected = false;
    c->s = NULL;
    if (reap) {
        forget(c);
    }
}

static void op_subscribe(struct broker *b, struct client *c, uint8_t qos, bool sub)
{
    if (!c->connected) {
        return;
    }
    struct gw_bytes f = gw_bytes_str("t/#");
    if (!sub) {
        (void)svc_unsubscribe(b, c->s, f);
        c->subscribed = false;
        return;
    }
    struct svc_sub ss = {.filter = f, .qos = qos};
    bool replaced;
    if (svc_subscribe(b, c->s, &ss, &replaced) == SVC_OK) {
        c->subscribed = qos >= 1;
        c->sub_qos = qos;
    }
}

static void op_publish(struct broker *b, struct client *c, uint8_t qos)
{
    if (!c->connected || n_msgs >= MAX_MSGS) {
        return;
    }
    uint16_t no = (uint16_t)n_msgs;
    uint8_t payload[2] = {(uint8_t)(no >> 8), (uint8_t)no};
    uint16_t pid = qos == 2 ? (uint16_t)(1 + (c->next_in_pid++ % 8)) : 0;
    struct svc_publish p = {
            .topic = gw_bytes_str("t/x"),
            .payload = {payload, 2},
            .qos = qos,
            .packet_id = pid,
    };
    struct svc_outcome out;
    if (svc_publish(b, c->s, NULL, &p, &out) != SVC_OK || out.duplicate) {
        return;
    }
    n_msgs++;
    if (qos == 0) {
        return;
    }
    for (int i = 0; i < CLIENTS; i++) {
        if (cl[i].exists && cl[i].subscribed) {
            cl[i].expect[no] = true; /* min(qos, sub qos) >= 1 */
        }
    }
}

static void op_ack(struct client *c, uint8_t which)
{
    if (!c->connected || c->n_got == 0) {
        return;
    }
    size_t k = which % c->n_got;
    uint16_t pid = c->got_pid[k];
    if (c->got_rel[k]) {
        (void)sess_on_pubcomp(c->s, pid);
    } else if (c->got_qos[k] == 1) {
        (void)sess_on_puback(c->s, pid);
    } else if (c->got_qos[k] == 2) {
        (void)sess_on_pubrec(c->s, pid);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char conf[] = "persistence false\n"
                               "max_inflight_messages 3\n"
                               "max_queued_messages 0\n"
                               "sys_interval 0\n";
    gw_log_mask = 0; /* a log line per step would be most of the run's time */
    struct gw_config *cfg = NULL;
    char err[256];
    if (cfg_load_string(conf, "fuzz", &cfg, err, sizeof(err)) != 0) {
        abort();
    }
    struct loop *l = NULL;
    struct broker *b = NULL;
    if (loop_create(&l) != 0 || broker_create(l, cfg, &b) != 0 || broker_start(b) != 0) {
        abort();
    }
    memset(cl, 0, sizeof(cl));
    n_msgs = 0;
    for (int i = 0; i < CLIENTS; i++) {
        (void)snprintf(cl[i].id, sizeof(cl[i].id), "c%d", i);
        cl[i].writable = true;
    }
    for (size_t i = 0; i + 1 < size; i += 2) {
        struct client *c = &cl[data[i] & 3];
        uint8_t arg = data[i + 1];
        switch ((data[i] >> 2) % 10) {
        case 0:
            op_open(b, c, arg & 1);
            break;
        case 1:
            op_close(b, c, arg & 1);
            break;
        case 2:
            op_subscribe(b, c, arg % 3, true);
            break;
        case 3:
            op_subscribe(b, c, 0, false);
            break;
        case 4:
        case 5:
            op_publish(b, c, arg % 3);
            break;
        case 6:
        case 7:
            op_ack(c, arg);
            break;
        case 8:
            if (c->connected) {
                bool pending;
                svc_release(b, c->s, (uint16_t)(1 + arg % 8), &pending);
            }
            break;
        default:
            c->writable = !c->writable;
            if (c->writable && c->connected) {
                sess_pump(c->s);
            }
            break;
        }
        check(b);
    }
    for (int i = 0; i < CLIENTS; i++) {
        if (cl[i].connected) {
            svc_disconnect(b, cl[i].s, true, true);
        }
    }
    broker_destroy(b);
    loop_destroy(l);
    return 0;
}
