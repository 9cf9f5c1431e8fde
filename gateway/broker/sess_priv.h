/* sess_priv.h - what the session's own files share (sess.c, sess_sub.c,
 * sess_pubrel.c). Included only inside gateway/broker. */
#ifndef SESS_PRIV_H
#define SESS_PRIV_H

#include "sess.h"

#include <sys/types.h>

/* The index of the outbound inflight entry pid in s->out, or -1. */
ssize_t sess_out_find(const struct sess *s, uint16_t pid);

/* PUBREC for o (WAIT_PUBREC, not held) of durable session s: put its
 * WAIT_PUBCOMP record in the store's batch and hold the PUBREL until that
 * batch commits. o stays at WAIT_PUBREC (rel_held) until then. Returns 0,
 * -EIO (the store refused the record) or -ENOMEM; on error nothing is held
 * and o is unchanged (logged). */
int sess_rel_hold(struct sess *s, struct sess_inflight *o);

/* o (rel_held) leaves the window or is resent: forget its hold. */
void sess_rel_cancel(struct sess *s, struct sess_inflight *o);

/* s is being freed: the commit callbacks still registered find it gone. */
void sess_rel_forget(struct sess *s);

/* Free every subscription record of s and its index (not the router's
 * side: the caller took them out of the router first). */
void sess_sub_free_all(struct sess *s);

#endif
