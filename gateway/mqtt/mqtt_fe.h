/* mqtt_fe.h - the MQTT front-end: its listeners, its connections, and the
 * end-of-iteration work on them (closing the marked ones, flushing output
 * in order of first output).
 *
 * One per process, created by main after the broker. It owns every MQTT
 * connection: the broker core knows them only as session links
 * (sess_link_ops), and hears of their end through svc_disconnect. Its
 * end-of-iteration hook is registered with the broker (broker_hook_add) so
 * that it runs before the broker frees reaped sessions and commits the
 * store's batch. Loop thread only. */
#ifndef MQTT_FE_H
#define MQTT_FE_H

#include "loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct conn;
struct lsn;
struct tls_hs_worker;

struct mqtt_fe {
    struct broker *b;
    struct lsn *lsns;
    struct conn *conns;   /* every open connection, doubly linked */
    size_t n_conns;
    struct conn *closing; /* marked by conn_close_later */
    struct conn *pending; /* have output to flush, in order of first output */
    struct conn *pending_tail;
    /* Used their share of a loop turn (conn.c pause_for_turn): resumed by
     * turn_timer at the next turn; turn_running while that runs. */
    struct conn *turn_head;
    struct conn *turn_tail;
    struct conn *turn_running;
    struct loop_timer turn_timer;
    /* End of the share of the connection whose input is being handled
     * (conn.c start_turn): one connection's input at a time, so one clock
     * here instead of 8 bytes in each connection. */
    uint64_t turn_until_us;
    /* Server TLS handshakes of every TLS listener (made when the first
     * one opens): accept -> worker -> conn_adopt (lsn_tls.c). */
    struct tls_hs_worker *tls_worker;
};

/* Create the front-end of broker b and hook it into the broker's end of
 * iteration. Returns 0 and *out, or -ENOMEM. */
int mqtt_fe_create(struct broker *b, struct mqtt_fe **out);

/* Open every configured listener of protocol mqtt. Returns 0, or the first
 * error (logged with the listener's address). */
int mqtt_fe_listen(struct mqtt_fe *fe);

/* After broker_reload: take the reloadable per-listener options. */
void mqtt_fe_reload(struct mqtt_fe *fe);

/* Close every connection (their wills go out: [MQTT-3.1.2-8]) and run the
 * end-of-iteration work until they are closed. */
void mqtt_fe_shutdown(struct mqtt_fe *fe);

/* Free the listeners and the front-end (after mqtt_fe_shutdown and the
 * store's last completions, which free connections that waited for them). */
void mqtt_fe_destroy(struct mqtt_fe *fe);

#endif
