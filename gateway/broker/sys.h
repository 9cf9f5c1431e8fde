/* sys.h - $SYS topics, published every sys_interval seconds while someone
 * subscribes to them. */
#ifndef SYS_H
#define SYS_H

struct broker;

/* Publish the static topics (version) and, if a restored subscription can
 * match $SYS, wake the periodic ones (sys_wake). Returns 0. */
int sys_start(struct broker *b);

/* A subscription that can match $SYS is about to be added: publish the
 * periodic topics now if they were never published or are a sys_interval
 * old or more (not more often: a client cannot make us publish them at
 * will), so its retained messages are fresh. Before the subscription is
 * in the router, or it would get them twice. */
void sys_refresh(struct broker *b);

/* Subscriptions may have been added: if one can match $SYS, sys_interval
 * is not 0 and the timer rests, refresh and arm it. Cheap otherwise. */
void sys_wake(struct broker *b);

/* Publish every periodic $SYS topic now. */
void sys_publish(struct broker *b);

#endif
