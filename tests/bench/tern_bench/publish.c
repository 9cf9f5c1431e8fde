/* publish.c - the publisher pump shared by throughput, latency and
 * durable-pub: how many a publisher may send now (window, rate, count),
 * and the stamp (publisher, sequence, send time) in every payload. */
#include <string.h>

#include "tern_bench.h"

/* How many more messages publisher c may send now. */
static uint64_t pub_credit(const struct bench *b, const struct conn *c)
{
    const struct opts *o = &b->o;
    if (is_durable(b)) { /* nobody receives: only the unacked window limits */
        uint64_t unacked = c->sent - c->acked;
        uint64_t credit = unacked < o->window ? o->window - unacked : 0;
        if (o->count > 0) {
            uint64_t left = o->count - b->total_sent;
            credit = credit < left ? credit : left;
        }
        return bbuf_used(&c->out) >= OUT_SOFT_MAX ? 0 : credit;
    }
    uint64_t delivered = b->resolved_from[c->idx] / b->fan;
    uint64_t undelivered = c->sent > delivered ? c->sent - delivered : 0;
    uint64_t credit = undelivered < o->window ? o->window - undelivered : 0;
    if (o->qos > 0 && c->sent - c->acked >= o->window) {
        return 0;
    }
    if (o->qos > 0) {
        uint64_t unacked_room = o->window - (c->sent - c->acked);
        credit = credit < unacked_room ? credit : unacked_room;
    }
    if (o->rate > 0 && credit > b->tokens) {
        credit = b->tokens;
    }
    if (o->count > 0) {
        uint64_t left = o->count - b->total_sent;
        credit = credit < left ? credit : left;
    }
    return bbuf_used(&c->out) >= OUT_SOFT_MAX ? 0 : credit;
}

static void publish_one(struct bench *b, struct conn *c)
{
    uint32_t pub = c->idx;
    uint32_t seq = (uint32_t)c->sent;
    uint64_t t = now_ns();
    memcpy(b->payload, &pub, 4);
    memcpy(b->payload + 4, &seq, 4);
    memcpy(b->payload + 8, &t, 8);
    uint16_t id = 0;
    if (b->o.qos > 0) {
        id = c->next_id;
        c->next_id = (uint16_t)(c->next_id == 65535 ? 1 : c->next_id + 1);
    }
    enc_publish(&c->out, b->topics[c->idx], b->o.qos, id, b->payload, b->o.payload);
    c->sent++;
    b->total_sent++;
    if (b->o.rate > 0) {
        b->tokens--;
    }
}

void pump_publishers(struct bench *b)
{
    for (unsigned i = b->o.subs; i < b->nconns; i++) {
        struct conn *c = &b->conns[i];
        uint64_t credit = pub_credit(b, c);
        for (uint64_t k = 0; k < credit && bbuf_used(&c->out) < OUT_SOFT_MAX; k++) {
            publish_one(b, c);
        }
        if (credit > 0) {
            mark_dirty(b, c);
        }
    }
}
