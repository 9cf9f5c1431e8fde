/* mqtt_ack.c - MQTT output waiting for store commits, per connection and
 * in order. See mqtt_ack.h. */
#include "mqtt_ack.h"

#include "alloc.h"
#include "broker.h"
#include "conn.h"
#include "mqtt_proto.h"
#include "persist.h"

#include <errno.h>
#include <string.h>

static struct mqtt_wait *at(const struct conn *c, uint32_t i)
{
    return &c->waits[(c->w_head + i) % c->w_cap];
}

static void pop(struct conn *c)
{
    struct mqtt_wait *w = at(c, 0);
    msg_unref(w->m);
    sess_tag_unref(w->tag);
    c->w_head = (c->w_head + 1) % c->w_cap;
    c->w_n--;
}

static void on_commit(void *arg, uint32_t gen, int rc)
{
    struct conn *c = arg;
    bool discarded = false;
    c->w_batches--;
    while (c->w_n > 0 && at(c, 0)->gen == gen) {
        const struct mqtt_wait *w = at(c, 0);
        if (rc == 0 && c->state != CONN_ST_CLOSING) {
            if (w->m) {
                int sr = mqtt_proto_send_publish_now(c, w->m, w->qos, w->pid, w->dup,
                                                     w->retain, w->tag);
                if (sr == SESS_SEND_DISCARDED && w->qos && c->sess) {
                    /* Too large for the client [MQTT-3.1.2-25]: it leaves
                     * the window as if delivered. */
                    sess_out_discard(c->sess, w->pid, w->m);
                    discarded = true;
                }
            } else {
                (void)mqtt_proto_send_ack(c, w->type, w->pid, w->qos, w->why);
            }
        }
        pop(c);
    }
    if (discarded && c->sess) {
        sess_pump(c->sess); /* after the loop: the pump may push to this ring */
    }
    if (c->zombie && c->w_batches == 0) {
        conn_destroy(c);
    }
}

/* A slot at the tail for the current batch, registering c with that
 * batch on first use. NULL on ENOMEM. */
static struct mqtt_wait *push(struct conn *c)
{
    if (c->w_n == c->w_cap) {
        uint32_t cap = c->w_cap ? c->w_cap * 2 : 8;
        struct mqtt_wait *a = gw_alloc(cap * sizeof(*a));
        if (!a) {
            return NULL;
        }
        for (uint32_t i = 0; i < c->w_n; i++) {
            a[i] = *at(c, i);
        }
        gw_free(c->waits);
        c->waits = a;
        c->w_cap = cap;
        c->w_head = 0;
    }
    uint32_t gen = persist_batch_gen(c->b);
    if (c->w_batches == 0 || c->w_gen != gen) {
        if (persist_after_commit(c->b, on_commit, c, gen) < 0) {
            return NULL;
        }
        c->w_batches++;
        c->w_gen = gen;
    }
    struct mqtt_wait *w = at(c, c->w_n++);
    memset(w, 0, sizeof(*w));
    w->gen = gen;
    return w;
}

int mqtt_ack_send(struct conn *c, uint8_t type, uint16_t pid, uint8_t rc, const char *why,
                  bool durable)
{
    if (!persist_enabled(c->b) || (!durable && c->w_n == 0)) {
        return mqtt_proto_send_ack(c, type, pid, rc, why);
    }
    struct mqtt_wait *w = push(c);
    if (!w) {
        return -ENOMEM;
    }
    w->type = type;
    w->pid = pid;
    w->qos = rc; /* reason code of an acknowledgement */
    w->why = why;
    return 0;
}

bool mqtt_ack_must_wait(const struct conn *c, uint8_t qos)
{
    if (!persist_enabled(c->b)) {
        return false;
    }
    return c->w_n > 0 || (qos == 2 && c->sess && c->sess->pops);
}

int mqtt_ack_defer_publish(struct conn *c, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                           bool retain, struct sess_tag *tag)
{
    struct mqtt_wait *w = push(c);
    if (!w) {
        return -ENOMEM;
    }
    w->type = 3; /* PUBLISH */
    w->m = msg_ref(m);
    w->tag = sess_tag_ref(tag);
    w->qos = qos;
    w->pid = pid;
    w->dup = dup;
    w->retain = retain;
    return 0;
}

bool mqtt_ack_waiting(const struct conn *c)
{
    return c->w_batches > 0;
}

void mqtt_ack_clear(struct conn *c)
{
    while (c->w_n > 0) {
        pop(c);
    }
    gw_free(c->waits);
    c->waits = NULL;
    c->w_cap = 0;
}
