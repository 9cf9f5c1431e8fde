/* sys.h - $SYS topics, published every sys_interval seconds. */
#ifndef SYS_H
#define SYS_H

struct broker;

/* Arm the $SYS timer (no-op when sys_interval is 0) and publish the static
 * topics (version). Returns 0 or -ENOMEM. */
int sys_start(struct broker *b);

/* Publish every periodic $SYS topic now. */
void sys_publish(struct broker *b);

#endif
