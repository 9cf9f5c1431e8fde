/* mqtt_auth.c - MQTT 5 enhanced authentication exchange. See mqtt_auth.h. */
#include "mqtt_auth.h"

#include "alloc.h"
#include "auth_method.h"
#include "broker.h"
#include "conn.h"
#include "gw_err.h"
#include "log.h"
#include "mqtt_props.h"
#include "mqtt_v5.h"

#include <errno.h>
#include <string.h>

static void end_exchange(struct mqtt_v5 *v)
{
    if (v->auth_sess) {
        v->auth_sess->method->destroy(v->auth_sess);
        v->auth_sess = NULL;
    }
}

void mqtt_auth_free(struct mqtt_v5 *v)
{
    end_exchange(v);
    gw_free(v->pending_connect);
    gw_free(v->auth_user);
    gw_free(v->auth_out);
}

static void find_props(struct gw_bytes props, struct gw_bytes *method, struct gw_bytes *data)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop pr;
    *method = (struct gw_bytes){NULL, 0};
    *data = (struct gw_bytes){NULL, 0};
    mqtt_prop_iter_init(&it, props);
    while (mqtt_prop_iter_next(&it, &pr) > 0) {
        if (pr.id == MQTT_PROP_AUTH_METHOD) {
            *method = pr.value;
        } else if (pr.id == MQTT_PROP_AUTH_DATA) {
            *data = pr.value;
        }
    }
}

static int send_auth(struct conn *c, uint8_t rc)
{
    const struct mqtt_v5 *v = c->v5;
    uint8_t buf[AUTH_METHOD_OUT_MAX + 300];
    struct mqtt_props_builder pb;
    mqtt_props_builder_init(&pb, buf, sizeof(buf));
    mqtt_props_add_str(&pb, MQTT_PROP_AUTH_METHOD, gw_bytes_str(v->auth_entry->method->name));
    if (v->auth_out_len) {
        mqtt_props_add_bin(&pb, MQTT_PROP_AUTH_DATA,
                           (struct gw_bytes){v->auth_out, v->auth_out_len});
    }
    struct mqtt_pkt pkt = {.type = MQTT_AUTH};
    pkt.u.auth.rc = rc;
    pkt.u.auth.props = mqtt_props_builder_bytes(&pb);
    size_t n = mqtt_encoded_size(&pkt, MQTT_V5);
    uint8_t *p = conn_reserve(c, n);
    if (!p) {
        return GW_E_CLOSED;
    }
    (void)mqtt_encode(p, n, &pkt, MQTT_V5);
    return 0;
}

/* The exchange's output buffer, made at its first step (most MQTT 5
 * connections never authenticate this way). False, logged, when out of
 * memory: the exchange fails. */
static bool auth_out_ready(struct conn *c)
{
    struct mqtt_v5 *v = c->v5;
    if (v->auth_out) {
        return true;
    }
    v->auth_out = gw_alloc(AUTH_METHOD_OUT_MAX);
    if (!v->auth_out) {
        gw_log(GW_WARN, "auth", "peer=%s %s: out of memory for the exchange", conn_peer(c),
               v->auth_entry->method->name);
        return false;
    }
    return true;
}

/* One step of the exchange with the client's data. Returns the step's
 * result, or AUTH_STEP_FAIL for an error. */
static enum auth_step_result step(struct conn *c, struct gw_bytes data)
{
    struct mqtt_v5 *v = c->v5;
    if (!auth_out_ready(c)) {
        return AUTH_STEP_FAIL;
    }
    struct auth_step st = {.out = v->auth_out, .out_cap = AUTH_METHOD_OUT_MAX};
    int rc = v->auth_sess->method->step(v->auth_sess, data, &st);
    if (rc < 0) {
        gw_log(GW_WARN, "auth", "peer=%s %s step failed: %s", conn_peer(c),
               v->auth_entry->method->name, gw_strerror(rc));
        return AUTH_STEP_FAIL;
    }
    v->auth_out_len = st.out_len;
    if (st.result == AUTH_STEP_SUCCESS) {
        gw_free(v->auth_user);
        v->auth_user = gw_strdup(st.username);
        if (!v->auth_user) {
            return AUTH_STEP_FAIL;
        }
        v->auth_done = true;
    } else if (st.result == AUTH_STEP_FAIL) {
        /* Never tell the client which part was wrong; the log says. */
        gw_log(GW_NOTICE, "auth", "peer=%s %s failed: %s", conn_peer(c),
               v->auth_entry->method->name, st.reason ? st.reason : "rejected");
    }
    return st.result;
}

static int refuse(struct conn *c, uint8_t rc)
{
    c->b->st.connections_refused++;
    (void)v5_send_connack(c, rc, false, NULL, 0);
    return GW_E_REFUSED;
}

static int keep_connect(struct conn *c, const struct mqtt_connect *cp)
{
    struct mqtt_pkt pkt = {.type = MQTT_CONNECT};
    pkt.u.connect = *cp;
    size_t n = mqtt_encoded_size(&pkt, MQTT_V5);
    uint8_t *p = gw_alloc(n);
    if (!p) {
        return -ENOMEM;
    }
    (void)mqtt_encode(p, n, &pkt, MQTT_V5);
    gw_free(c->v5->pending_connect);
    c->v5->pending_connect = p;
    c->v5->pending_len = n;
    return 0;
}

int mqtt_auth_connect(struct conn *c, const struct mqtt_connect *cp)
{
    struct mqtt_v5 *v = c->v5;
    struct gw_bytes method;
    struct gw_bytes data;
    find_props(cp->props, &method, &data);
    v->auth_entry = auth_method_find(c->b->auth_methods, c->b->n_auth_methods,
                                     (const char *)method.p, method.n);
    if (!v->auth_entry) {
        gw_log(GW_NOTICE, "auth", "peer=%s refused: no authentication method '%.*s'",
               conn_peer(c), (int)(method.n > 64 ? 64 : method.n), (const char *)method.p);
        return refuse(c, MQTT_RC_BAD_AUTH_METHOD); /* [MQTT-4.12.0-1] */
    }
    int rc = v->auth_entry->method->start(v->auth_entry->cfg, &v->auth_sess);
    if (rc < 0) {
        return refuse(c, MQTT_RC_UNSPECIFIED);
    }
    switch (step(c, data)) {
    case AUTH_STEP_SUCCESS:
        end_exchange(v);
        return 0;
    case AUTH_STEP_CONTINUE:
        rc = keep_connect(c, cp);
        if (rc == 0) {
            rc = send_auth(c, MQTT_RC_CONTINUE_AUTH);
        }
        return rc < 0 ? rc : MQTT_AUTH_STARTED;
    default:
        end_exchange(v);
        return refuse(c, MQTT_RC_NOT_AUTHORIZED);
    }
}

/* The exchange at CONNECT went on: finish the kept CONNECT on success. */
static int continue_connect(struct conn *c, struct gw_bytes data,
                            int (*on_connect)(struct conn *c, const struct mqtt_connect *cp))
{
    struct mqtt_v5 *v = c->v5;
    enum auth_step_result r = step(c, data);
    if (r == AUTH_STEP_CONTINUE) {
        return send_auth(c, MQTT_RC_CONTINUE_AUTH);
    }
    end_exchange(v);
    if (r != AUTH_STEP_SUCCESS) {
        return refuse(c, MQTT_RC_NOT_AUTHORIZED);
    }
    struct mqtt_limits lim = {.version = MQTT_V5};
    struct mqtt_pkt pkt;
    uint8_t *kept = v->pending_connect;
    v->pending_connect = NULL;
    int rc = GW_E_PROTOCOL;
    if (mqtt_decode(kept, v->pending_len, &lim, &pkt) > 0 && pkt.type == MQTT_CONNECT) {
        rc = on_connect(c, &pkt.u.connect); /* views into kept end here */
    }
    gw_free(kept);
    return rc;
}

/* Re-authentication after CONNACK [MQTT-4.12.1-1]: same method. */
static int reauth(struct conn *c, uint8_t rc_in, struct gw_bytes data)
{
    struct mqtt_v5 *v = c->v5;
    if (rc_in == MQTT_RC_REAUTHENTICATE) {
        end_exchange(v);
        if (v->auth_entry->method->start(v->auth_entry->cfg, &v->auth_sess) < 0) {
            c->v5_disconnect = MQTT_RC_UNSPECIFIED;
            return GW_E_REFUSED;
        }
    } else if (!v->auth_sess) {
        c->v5_disconnect = MQTT_RC_PROTOCOL_ERROR;
        return GW_E_PROTOCOL;
    }
    enum auth_step_result r = step(c, data);
    if (r == AUTH_STEP_CONTINUE) {
        return send_auth(c, MQTT_RC_CONTINUE_AUTH);
    }
    end_exchange(v);
    if (r == AUTH_STEP_SUCCESS) {
        return send_auth(c, MQTT_RC_SUCCESS);
    }
    c->v5_disconnect = MQTT_RC_NOT_AUTHORIZED; /* [MQTT-4.12.1-2] */
    return GW_E_REFUSED;
}

int mqtt_auth_packet(struct conn *c, const struct mqtt_disconnect *auth,
                     int (*on_connect)(struct conn *c, const struct mqtt_connect *cp))
{
    struct mqtt_v5 *v = c->v5;
    struct gw_bytes method;
    struct gw_bytes data;
    find_props(auth->props, &method, &data);
    /* AUTH without an exchange, or naming another method: a Protocol
     * Error [MQTT-3.15.2-1] [MQTT-4.12.0-5]. */
    bool ok = v && v->auth_entry && v->auth_requested &&
              gw_bytes_eq(method, gw_bytes_str(v->auth_entry->method->name));
    bool before_connack = v && v->pending_connect;
    if (ok && before_connack) {
        ok = auth->rc == MQTT_RC_CONTINUE_AUTH && v->auth_sess;
    } else if (ok) {
        ok = auth->rc == MQTT_RC_CONTINUE_AUTH || auth->rc == MQTT_RC_REAUTHENTICATE;
    }
    if (!ok) {
        if (c->v5) {
            c->v5_disconnect = MQTT_RC_PROTOCOL_ERROR;
        }
        return GW_E_PROTOCOL;
    }
    return before_connack ? continue_connect(c, data, on_connect) : reauth(c, auth->rc, data);
}

void mqtt_auth_connack_props(const struct conn *c, struct gw_bytes *method, struct gw_bytes *data)
{
    const struct mqtt_v5 *v = c->v5;
    *method = (struct gw_bytes){NULL, 0};
    *data = (struct gw_bytes){NULL, 0};
    if (v && v->auth_done && v->auth_entry) {
        *method = gw_bytes_str(v->auth_entry->method->name);
        *data = (struct gw_bytes){v->auth_out, v->auth_out_len};
    }
}
