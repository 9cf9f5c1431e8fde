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

/* A connection's waiting output: a ring, with the count of store batches
 * that will call back. Made at the first output that waits (only with
 * persistence on), so an idle connection pays one pointer for it; kept
 * until the connection is freed. */
struct mqtt_wait_ring {
    uint32_t head;
    uint32_t n;
    uint32_t cap;
    uint32_t gen;     /* the batch the last one waits for */
    uint32_t batches; /* batches whose completion will call back */
    struct mqtt_wait a[];
};

static struct mqtt_wait *at(struct mqtt_wait_ring *r, uint32_t i)
{
    uint32_t k = r->head + i; /* head < cap and i <= n <= cap: one wrap at most */
    return &r->a[k >= r->cap ? k - r->cap : k];
}

static void pop(struct mqtt_wait_ring *r)
{
    struct mqtt_wait *w = at(r, 0);
    msg_unref(w->m);
    sess_tag_unref(w->tag);
    r->head = r->head + 1 == r->cap ? 0 : r->head + 1;
    r->n--;
}

static void on_commit(void *arg, uint32_t gen, int rc)
{
    struct conn *c = arg;
    struct mqtt_wait_ring *r = c->waits; /* made before the batch was joined */
    bool discarded = false;
    r->batches--;
    while (r->n > 0 && at(r, 0)->gen == gen) {
        const struct mqtt_wait *w = at(r, 0);
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
        pop(r);
    }
    if (discarded && c->sess) {
        sess_pump(c->sess); /* after the loop: the pump may push to this ring */
    }
    if (c->zombie && c->waits->batches == 0) {
        conn_destroy(c);
    }
}

/* The ring of c with room for one more, grown (or made) as needed. NULL on
 * ENOMEM (the ring is as before). */
static struct mqtt_wait_ring *ring_room(struct conn *c)
{
    struct mqtt_wait_ring *r = c->waits;
    if (r && r->n < r->cap) {
        return r;
    }
    uint32_t cap = r ? r->cap * 2 : 8;
    struct mqtt_wait_ring *g = gw_alloc(sizeof(*g) + cap * sizeof(g->a[0]));
    if (!g) {
        return NULL;
    }
    g->head = 0;
    g->n = 0;
    g->cap = cap;
    g->gen = 0;
    g->batches = 0;
    if (r) {
        for (uint32_t i = 0; i < r->n; i++) {
            g->a[i] = *at(r, i);
        }
        g->n = r->n;
        g->gen = r->gen;
        g->batches = r->batches;
        gw_free(r);
    }
    c->waits = g;
    return g;
}

/* A slot at the tail for the current batch, registering c with that
 * batch on first use. NULL on ENOMEM. */
static struct mqtt_wait *push(struct conn *c)
{
    struct mqtt_wait_ring *r = ring_room(c);
    if (!r) {
        return NULL;
    }
    uint32_t gen = persist_batch_gen(c->b);
    if (r->batches == 0 || r->gen != gen) {
        if (persist_after_commit(c->b, on_commit, c, gen) < 0) {
            return NULL;
        }
        r->batches++;
        r->gen = gen;
    }
    struct mqtt_wait *w = at(r, r->n++);
    memset(w, 0, sizeof(*w));
    w->gen = gen;
    return w;
}

static uint32_t n_waiting(const struct conn *c)
{
    return c->waits ? c->waits->n : 0;
}

int mqtt_ack_send(struct conn *c, uint8_t type, uint16_t pid, uint8_t rc, const char *why,
                  bool durable)
{
    if (!persist_enabled(c->b) || (!durable && n_waiting(c) == 0)) {
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
    return n_waiting(c) > 0 || (qos == 2 && c->sess && c->sess->pops);
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
    return c->waits && c->waits->batches > 0;
}

void mqtt_ack_clear(struct conn *c)
{
    struct mqtt_wait_ring *r = c->waits;
    if (!r) {
        return;
    }
    while (r->n > 0) {
        pop(r);
    }
    gw_free(r);
    c->waits = NULL;
}
