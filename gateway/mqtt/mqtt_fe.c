/* mqtt_fe.c - the MQTT front-end's listeners and connections, and its
 * end-of-iteration work. See mqtt_fe.h. */
#include "mqtt_fe.h"

#include "alloc.h"
#include "broker.h"
#include "conn.h"
#include "gw_err.h"
#include "log.h"
#include "lsn.h"
#include "mqtt_ack.h"
#include "outq.h"
#include "svc.h"
#include "tls_hs_worker.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The connection is gone: the session service ends its session (wills,
 * clean sessions, expiry); the log line. */
static void finish_close(struct mqtt_fe *fe, struct conn *c)
{
    struct broker *b = fe->b;
    struct sess *s = c->sess;
    if (b->cfg->connection_messages && c->is_client) {
        gw_log(GW_NOTICE, "mqtt", "client=\"%s\" peer=%s disconnected: %s",
               s ? s->id : "(taken over)", conn_peer(c),
               c->clean_disconnect ? "DISCONNECT" : gw_strerror(c->close_reason));
    }
    if (!s) {
        return;
    }
    c->sess = NULL;
    svc_disconnect(b, s, c->clean_disconnect, c->close_reason == GW_E_SHUTDOWN);
}

static void unlink_pending(struct mqtt_fe *fe, struct conn *c)
{
    struct conn *prev = NULL;
    for (struct conn **pp = &fe->pending; *pp; prev = *pp, pp = &(*pp)->pend_next) {
        if (*pp == c) {
            *pp = c->pend_next;
            if (fe->pending_tail == c) {
                fe->pending_tail = prev;
            }
            break;
        }
    }
    c->on_pending = false;
}

static void close_marked(struct mqtt_fe *fe)
{
    while (fe->closing) {
        struct conn *c = fe->closing;
        fe->closing = c->close_next;
        if (c->on_pending) {
            unlink_pending(fe, c);
        }
        /* Best effort: a refusal CONNACK or last acks still go out. */
        conn_flush_final(c);
        finish_close(fe, c);
        if (mqtt_ack_waiting(c)) {
            /* A store batch still holds output for it: close the socket
             * now, free the struct when the batch completes. */
            conn_drop_stream(c);
            c->zombie = true;
            continue;
        }
        conn_destroy(c);
    }
}

static void flush_pending(struct mqtt_fe *fe)
{
    struct conn *c = fe->pending;
    fe->pending = NULL;
    fe->pending_tail = NULL;
    while (c) {
        struct conn *next = c->pend_next;
        c->on_pending = false;
        c->pend_next = NULL;
        conn_flush(c);
        c = next;
    }
}

/* Closing publishes wills, which queue output and may close more
 * connections (hard limit). Returns true while work is left. */
static bool end_of_iteration(void *arg)
{
    struct mqtt_fe *fe = arg;
    close_marked(fe);
    flush_pending(fe);
    return fe->closing || fe->pending;
}

int mqtt_fe_create(struct broker *b, struct mqtt_fe **out)
{
    struct mqtt_fe *fe = gw_calloc(1, sizeof(*fe));
    if (!fe) {
        return -ENOMEM;
    }
    fe->b = b;
    loop_timer_init(&fe->turn_timer, conn_turn_timer, fe);
    int rc = broker_hook_add(b, end_of_iteration, fe);
    if (rc < 0) {
        gw_free(fe);
        return rc;
    }
    *out = fe;
    return 0;
}

static void on_handshakes_done(struct loop *lp, int fd, unsigned events, void *arg)
{
    (void)lp;
    (void)fd;
    (void)events;
    struct mqtt_fe *fe = arg;
    tls_hs_worker_collect(fe->tls_worker);
}

/* The handshake worker, before the first TLS listener accepts. */
static int start_tls_worker(struct mqtt_fe *fe)
{
    if (fe->tls_worker) {
        return 0;
    }
    int rc = tls_hs_worker_create(lsn_tls_done, fe, &fe->tls_worker);
    if (rc == 0) {
        rc = loop_fd_add(fe->b->loop, tls_hs_worker_fd(fe->tls_worker), LOOP_READ,
                         on_handshakes_done, fe);
        if (rc < 0) {
            tls_hs_worker_destroy(fe->tls_worker);
            fe->tls_worker = NULL;
        }
    }
    if (rc < 0) {
        gw_log(GW_ERROR, "mqtt", "cannot start the TLS handshake worker: %s", gw_strerror(rc));
    }
    return rc;
}

int mqtt_fe_listen(struct mqtt_fe *fe)
{
    const struct gw_config *cfg = fe->b->cfg;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        if (strcmp(cl->protocol, "mqtt") != 0 && strcmp(cl->protocol, "websockets") != 0) {
            continue; /* other protocols are opened by their modules */
        }
        struct lsn *l;
        int rc = lsn_open(fe, cl, &l);
        if (rc < 0) {
            return rc;
        }
        l->next = fe->lsns;
        fe->lsns = l;
        if (l->tls && (rc = start_tls_worker(fe)) < 0) {
            return rc;
        }
    }
    return 0;
}

void mqtt_fe_reload(struct mqtt_fe *fe)
{
    for (struct lsn *l = fe->lsns; l; l = l->next) {
        l->allow_anonymous = l->cfg->allow_anonymous;
        l->max_connections = l->cfg->max_connections;
        lsn_tls_reload(l); /* certificate rotation */
    }
}

void mqtt_fe_shutdown(struct mqtt_fe *fe)
{
    for (struct conn *c = fe->conns; c; c = c->next) {
        conn_close_later(c, GW_E_SHUTDOWN);
    }
    for (int round = 0; round < 8 && end_of_iteration(fe); round++) {
    }
}

void mqtt_fe_destroy(struct mqtt_fe *fe)
{
    if (!fe) {
        return;
    }
    broker_hook_del(fe->b, end_of_iteration, fe);
    loop_timer_stop(fe->b->loop, &fe->turn_timer);
    while (fe->lsns) {
        struct lsn *l = fe->lsns;
        fe->lsns = l->next;
        lsn_close(l);
    }
    if (fe->tls_worker) {
        (void)loop_fd_del(fe->b->loop, tls_hs_worker_fd(fe->tls_worker));
        tls_hs_worker_destroy(fe->tls_worker);
        fe->tls_worker = NULL;
    }
    while (fe->conns) {
        conn_destroy(fe->conns); /* zombies whose batch never completed */
    }
    gw_free(fe);
    outq_pool_drain();
}
