/* bridge_poison.c - poison messages: a message the upstream closes the
 * connection on every time it is first in flight is moved aside (or, for
 * QoS 2, sent as QoS 1 from then on), so the backlog behind it flows.
 * Called by bridge.c when a connection went down. */
#include "bridge_priv.h"
#include "log.h"

/* A connection that died soon after CONNACK with the same message first
 * in flight, BRIDGE_POISON_HITS times in a row: the upstream closes on
 * that message (NATS on any QoS 2 PUBLISH, a broker on a topic it
 * refuses). A QoS 2 message makes the bridge send QoS 2 as QoS 1 from now
 * on; any other is moved aside and counted, so the backlog behind it
 * flows. Called after the session is detached. */
void bridge_poison_check(struct bridge *br, bool short_lived)
{
    struct sess *s = br->s;
    /* A connection that got anything acknowledged was not killed by the
     * message at the head: a flaky link must never make one look poison. */
    if (!short_lived || s->n_out == 0 || br->acked != br->acked_at_up) {
        br->suspect_hits = 0;
        return;
    }
    const struct sess_inflight *o = &s->out[0];
    if (o->seq != br->suspect_seq) {
        br->suspect_seq = o->seq;
        br->suspect_hits = 0;
    }
    if (++br->suspect_hits < BRIDGE_POISON_HITS) {
        return;
    }
    br->suspect_hits = 0;
    if (o->qos == 2 && br->learned_max_qos != 1) {
        br->learned_max_qos = 1;
        gw_log(GW_WARN, "bridge",
               "%s: the upstream closed the connection %u times right after a QoS 2 message: "
               "sending QoS 2 as QoS 1 from now on (at least once, not exactly once)",
               br->cfg.name, BRIDGE_POISON_HITS);
        return;
    }
    br->poison++;
    gw_log(GW_WARN, "bridge",
           "%s: the upstream closed the connection %u times right after \"%.200s\": moved aside "
           "(counted in $SYS .../dropped/poison), the backlog behind it goes on",
           br->cfg.name, BRIDGE_POISON_HITS, o->m->topic);
    (void)sess_out_abandon(s, o->pid);
}
