/* packets.c - what tern_bench does with each packet a broker sends: the
 * CONNACK and SUBACK of setup, PUBLISH (acknowledged, then counted by its
 * sequence stamp) and the acknowledgements of its own publishes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tern_bench.h"


/* Count one delivery from the stamp at the start of the payload. */
static void account_delivery(struct bench *b, const struct conn *c, const uint8_t *pl, size_t n)
{
    uint32_t pub;
    uint32_t seq;
    uint64_t sent_ns;
    if (n < STAMP_LEN) {
        die("subscriber %u: payload of %zu bytes has no stamp", c->idx, n);
    }
    memcpy(&pub, pl, 4);
    memcpy(&seq, pl + 4, 4);
    memcpy(&sent_ns, pl + 8, 8);
    if (pub >= b->o.pubs) {
        die("subscriber %u: stamp names publisher %" PRIu32, c->idx, pub);
    }
    uint64_t now = now_ns();
    uint32_t *next = &b->next_seq[(size_t)c->idx * b->o.pubs + pub];
    if (seq < *next) {
        b->dup++; /* duplicate or out of order: both break exactly-once/ordering */
        return;
    }
    if (seq > *next) {
        b->gaps += seq - *next;
        b->resolved_from[pub] += seq - *next;
    }
    *next = seq + 1;
    b->received++;
    b->recv_from[pub]++;
    b->resolved_from[pub]++;
    if (b->t_first_recv == 0) {
        b->t_first_recv = now;
    }
    b->t_last_recv = now;
    b->t_progress = now;
    if (b->o.mode == MODE_LATENCY) {
        record_latency(b, sent_ns, now);
    }
}

static void on_publish(struct bench *b, struct conn *c, unsigned flags, const uint8_t *p, size_t n)
{
    unsigned qos = (flags >> 1) & 3u;
    if (n < 2 || qos == 3) {
        conn_fail(b, c, "malformed PUBLISH", 0);
    }
    size_t tlen = get_u16(p);
    size_t off = 2 + tlen + (qos > 0 ? 2 : 0);
    if (off > n) {
        conn_fail(b, c, "malformed PUBLISH", 0);
    }
    if (b->o.mode == MODE_DUR_DRAIN && b->o.count > 0 && b->received >= b->o.count) {
        b->beyond++; /* past -n: not acknowledged, so the broker keeps it */
        return;
    }
    if (qos > 0) {
        enc_short(&c->out, qos == 1 ? 0x40 : 0x50, get_u16(p + 2 + tlen));
        mark_dirty(b, c);
    }
    if (b->o.mode == MODE_DUR_SUB) {
        b->stale++; /* queued for this id by an earlier run: acknowledged, not counted */
        return;
    }
    if (c->role == ROLE_SUB) {
        account_delivery(b, c, p + off, n - off);
    }
}

static void on_connack(struct bench *b, struct conn *c, const uint8_t *p, size_t n)
{
    if (c->st != CST_CONNACK || n != 2) {
        conn_fail(b, c, "unexpected CONNACK", 0);
    }
    if (p[1] != 0) {
        char why[48];
        snprintf(why, sizeof(why), "CONNACK return code %u", p[1]);
        conn_fail(b, c, why, 0);
    }
    if (c->role == ROLE_PUB) {
        conn_set_ready(b, c);
        return;
    }
    if (b->o.mode == MODE_DUR_DRAIN) { /* the session (and subscription) must exist */
        b->session_present = p[0] & 1;
        conn_set_ready(b, c);
        return;
    }
    char filter[128];
    sub_filter(b, c, filter, sizeof(filter));
    enc_subscribe(&c->out, 1, filter, b->o.qos);
    c->st = CST_SUBACK;
    mark_dirty(b, c);
}

void on_packet(struct bench *b, struct conn *c, unsigned hdr, const uint8_t *p, size_t n)
{
    switch (hdr >> 4) {
    case 2:
        on_connack(b, c, p, n);
        break;
    case 3:
        on_publish(b, c, hdr & 0x0fu, p, n);
        break;
    case 4: /* PUBACK */
    case 7: /* PUBCOMP */
        if (c->role != ROLE_PUB || n != 2 || c->acked >= c->sent) {
            conn_fail(b, c, "unexpected PUBACK/PUBCOMP", 0);
        }
        c->acked++;
        b->total_acked++;
        b->t_last_ack = now_ns();
        break;
    case 5: /* PUBREC -> PUBREL */
        if (n != 2) {
            conn_fail(b, c, "malformed PUBREC", 0);
        }
        enc_short(&c->out, 0x62, get_u16(p));
        mark_dirty(b, c);
        break;
    case 6: /* PUBREL -> PUBCOMP */
        if (n != 2) {
            conn_fail(b, c, "malformed PUBREL", 0);
        }
        enc_short(&c->out, 0x70, get_u16(p));
        mark_dirty(b, c);
        break;
    case 9: /* SUBACK */
        if (c->st != CST_SUBACK || n != 3 || p[2] == 0x80) {
            conn_fail(b, c, "SUBSCRIBE refused", 0);
        }
        conn_set_ready(b, c);
        break;
    case 13: /* PINGRESP */
        break;
    default:
        conn_fail(b, c, "unexpected packet type", 0);
    }
}
