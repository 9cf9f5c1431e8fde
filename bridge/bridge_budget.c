/* bridge_budget.c - the replay budget (bridge_replay_rate MSGS/s,
 * bridge_replay_bytes_rate BYTES/s): two token buckets refilled with the
 * loop's time, holding at most one second's worth, so a cellular uplink
 * is not flooded when a backlog of hours is replayed. The session asks
 * bridge_budget_open through the link's writable(); when the budget is
 * spent a short timer pumps the session again once tokens came back. */
#include "bridge_priv.h"
#include "broker.h"

static void refill(struct bridge *br)
{
    uint64_t now = loop_now_ms(br->b->loop);
    double dt = (double)(now - br->tok_ms) / 1000.0;
    br->tok_ms = now;
    if (br->cfg.replay_rate_msgs) {
        br->tok_msgs += dt * br->cfg.replay_rate_msgs;
        if (br->tok_msgs > br->cfg.replay_rate_msgs) {
            br->tok_msgs = br->cfg.replay_rate_msgs; /* a burst of at most one second */
        }
    }
    if (br->cfg.replay_rate_bytes) {
        br->tok_bytes += dt * (double)br->cfg.replay_rate_bytes;
        if (br->tok_bytes > (double)br->cfg.replay_rate_bytes) {
            br->tok_bytes = (double)br->cfg.replay_rate_bytes;
        }
    }
}

static void on_rate(struct loop *l, void *arg)
{
    (void)l;
    struct bridge *br = arg;
    if (br->state == BRIDGE_UP) {
        sess_pump(br->s);
    }
}

bool bridge_budget_open(struct bridge *br)
{
    if (!br->cfg.replay_rate_msgs && !br->cfg.replay_rate_bytes) {
        return true;
    }
    refill(br);
    /* A message larger than a second's byte budget still goes when the
     * bucket is full, so it cannot wait forever. */
    bool open = (!br->cfg.replay_rate_msgs || br->tok_msgs >= 1.0) &&
                (!br->cfg.replay_rate_bytes || br->tok_bytes >= 1.0);
    if (!open && !loop_timer_armed(&br->rate_timer)) {
        (void)loop_timer_start(br->b->loop, &br->rate_timer, loop_now_ms(br->b->loop) + 10u);
    }
    return open;
}

bool bridge_budget_take(struct bridge *br, uint32_t n)
{
    if (!br->cfg.replay_rate_msgs && !br->cfg.replay_rate_bytes) {
        return true;
    }
    br->tok_msgs -= 1.0;
    br->tok_bytes -= (double)n;
    return true;
}

void bridge_budget_init(struct bridge *br)
{
    loop_timer_init(&br->rate_timer, on_rate, br);
}

void bridge_budget_fill(struct bridge *br)
{
    br->tok_ms = loop_now_ms(br->b->loop);
    br->tok_msgs = br->cfg.replay_rate_msgs;
    br->tok_bytes = (double)br->cfg.replay_rate_bytes;
}
