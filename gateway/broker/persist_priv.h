/* persist_priv.h - what persist.c and persist_restore.c share. */
#ifndef PERSIST_PRIV_H
#define PERSIST_PRIV_H

/* First octet of the link-state section of a session record's extra (the
 * will section starts with its version, 1). */
#define PERSIST_LINK_STATE_TAG 0x4cu
/* ... and of the owner identity section (persist.c put_session). */
#define PERSIST_IDENTITY_TAG 0x49u

#include "msg.h"
#include "sess.h"
#include "store.h"

/* persist.c: arm the lazy commit timer (persist_open), and commit what is
 * pending now, waiters or not (persist_close). */
void persist_lazy_init(struct broker *b);
void persist_commit_pending(struct broker *b);

/* The hooks every durable session gets (persist.c). */
extern const struct sess_persist_ops persist_sess_ops;

/* A message from its stored record (one reference, the caller's); the
 * Message Expiry Interval keeps counting on the wall clock. Marked
 * from_store (msg.h): callers that share it beyond the record it was read
 * with clear that. NULL on ENOMEM. */
struct msg *persist_msg_from_store(const struct store_msg *sm);

#endif
