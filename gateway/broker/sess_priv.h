/* sess_priv.h - what the session's files share (sess.c, sess_sub.c);
 * included only inside gateway/broker. */
#ifndef SESS_PRIV_H
#define SESS_PRIV_H

#include "sess.h"

/* Free every subscription record of s and its index (not the router's
 * side: the caller took them out of the router first). */
void sess_sub_free_all(struct sess *s);

#endif
