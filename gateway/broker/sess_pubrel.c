/* sess_pubrel.c - an outgoing QoS 2 message's PUBREL waits for its
 * PUBREC's record to be committed (durable sessions). See sess_priv.h.
 *
 * Why: once PUBREL is out, the receiver may release the packet id and
 * treat a later PUBLISH with that id as a new message [MQTT-4.3.3-11]
 * [MQTT-4.3.3-12]. If the store still said WAIT_PUBREC when the broker
 * died, the restarted broker would resend the PUBLISH (DUP, same id) and
 * the receiver would deliver it a second time. So the WAIT_PUBCOMP record
 * must be on disk before PUBREL leaves, as a PUBACK to a sender waits for
 * the commit of what it acknowledges. While held, the entry stays at
 * WAIT_PUBREC in memory: until the commit, a reconnect resends the PUBLISH
 * with DUP, which is safe because the receiver still holds the id.
 *
 * The commit callback can outlive the session (expired, or replaced by a
 * clean one before the writer finished): it holds a struct sess_rel_wait,
 * which the session clears when it is freed, never the session itself. */
#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "sess_priv.h"

#include <errno.h>
#include <string.h>

/* One held PUBREL: the packet id and the batch its record is in. */
struct rel_held {
    uint16_t pid;
    uint32_t gen;
};

struct sess_rel_wait {
    struct sess *s;    /* NULL once the session was freed */
    uint32_t calls;    /* commit callbacks registered and not yet run */
    uint32_t last_gen; /* the batch of the newest callback (while calls > 0) */
    uint32_t n;
    uint32_t cap;
    struct rel_held *held; /* in the order of their batches */
};

static void wait_free(struct sess_rel_wait *w)
{
    gw_free(w->held);
    gw_free(w);
}

/* Release (rc 0) or give up (rc < 0) one held PUBREL. */
static void release_one(struct sess *s, uint16_t pid, int rc)
{
    ssize_t i = sess_out_find(s, pid);
    if (i < 0 || !s->out[i].rel_held) {
        return; /* left the window meanwhile (remove_out cancels; defensive) */
    }
    struct sess_inflight *o = &s->out[i];
    o->rel_held = false;
    if (rc < 0) {
        /* Nothing of that batch is on disk: the store still says
         * WAIT_PUBREC, and so does memory. A repeated PUBREC tries again; a
         * reconnect resends the PUBLISH with DUP, which the receiver (it
         * never got PUBREL) recognises [MQTT-4.3.3-9]. */
        gw_log(GW_WARN, "sess",
               "client=\"%s\" the PUBREC of packet id %u was not committed (%s): PUBREL "
               "not sent, the message stays at WAIT_PUBREC",
               s->id, pid, gw_strerror(rc));
        return;
    }
    o->state = SESS_OUT_WAIT_PUBCOMP;
    /* [MQTT-4.3.3-1]. Offline: sess_attach sends it [MQTT-4.4.0-1]. */
    if (s->ops) {
        (void)s->ops->send_pubrel(s->link, pid);
    }
}

/* sess_commit_cb: the batch gen committed (rc 0) or failed. */
static void on_committed(void *arg, uint32_t gen, int rc)
{
    struct sess_rel_wait *w = arg;
    w->calls--;
    /* Batches commit in order and held[] is in batch order: this batch's
     * entries (and none of a later one) are at the front. Taken one at a
     * time: send_pubrel may run front-end code. */
    while (w->s && w->n > 0 && (int32_t)(w->held[0].gen - gen) <= 0) {
        uint16_t pid = w->held[0].pid;
        memmove(&w->held[0], &w->held[1], (w->n - 1) * sizeof(w->held[0]));
        w->n--;
        release_one(w->s, pid, rc);
    }
    if (!w->s && w->calls == 0) {
        wait_free(w);
    }
}

static struct sess_rel_wait *wait_get(struct sess *s)
{
    struct sess_rel_wait *w = s->rel_wait;
    if (!w) {
        w = gw_calloc(1, sizeof(*w));
        if (!w) {
            return NULL;
        }
        w->s = s;
        s->rel_wait = w;
    }
    if (w->n == w->cap) {
        uint32_t cap = w->cap ? 2 * w->cap : 4;
        struct rel_held *h = gw_realloc(w->held, cap * sizeof(*h));
        if (!h) {
            return NULL;
        }
        w->held = h;
        w->cap = cap;
    }
    return w;
}

/* One commit callback per batch: register it for gen unless the newest
 * one already waits for that batch. Returns 0 or -ENOMEM. */
static int watch_batch(struct sess *s, struct sess_rel_wait *w, uint32_t gen)
{
    if (w->calls > 0 && w->last_gen == gen) {
        return 0;
    }
    w->calls++;
    w->last_gen = gen;
    int rc = s->pops->after_commit(s, on_committed, w, gen);
    if (rc < 0) {
        w->calls--;
    }
    return rc;
}

int sess_rel_hold(struct sess *s, struct sess_inflight *o)
{
    struct sess_rel_wait *w = wait_get(s);
    if (!w) {
        gw_log(GW_WARN, "sess", "client=\"%s\" no memory to hold the PUBREL of packet id %u", s->id,
               o->pid);
        return -ENOMEM;
    }
    struct sess_inflight rec = *o;
    rec.state = SESS_OUT_WAIT_PUBCOMP;
    rec.rel_held = false;
    if (!s->pops->inflight_put(s, &rec)) {
        /* Logged by the store. The receiver gets no PUBREL until it repeats
         * PUBREC or reconnects (then the PUBLISH again, with DUP). */
        return -EIO;
    }
    uint32_t gen = s->pops->batch_gen(s);
    /* In place before the callback is registered: it could run at once. */
    w->held[w->n++] = (struct rel_held){o->pid, gen};
    o->rel_held = true;
    int rc = watch_batch(s, w, gen);
    if (rc < 0) {
        /* The record is in the batch (on disk soon as WAIT_PUBCOMP);
         * memory stays at WAIT_PUBREC: a reconnect resends the PUBLISH,
         * which the receiver still holds. */
        w->n--;
        o->rel_held = false;
        gw_log(GW_WARN, "sess", "client=\"%s\" no memory to hold the PUBREL of packet id %u",
               s->id, o->pid);
    }
    return rc;
}

void sess_rel_cancel(struct sess *s, struct sess_inflight *o)
{
    struct sess_rel_wait *w = s->rel_wait;
    o->rel_held = false;
    if (!w) {
        return;
    }
    for (uint32_t k = 0; k < w->n; k++) {
        if (w->held[k].pid == o->pid) {
            memmove(&w->held[k], &w->held[k + 1], (w->n - k - 1) * sizeof(w->held[0]));
            w->n--;
            return;
        }
    }
}

void sess_rel_forget(struct sess *s)
{
    struct sess_rel_wait *w = s->rel_wait;
    if (!w) {
        return;
    }
    s->rel_wait = NULL;
    w->s = NULL;
    w->n = 0;
    if (w->calls == 0) {
        wait_free(w);
    }
}
