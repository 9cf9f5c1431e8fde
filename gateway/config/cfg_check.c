/* cfg_check.c - after parsing: resolution (the embedded default listeners,
 * the defaults that depend on the whole file) and validation across
 * options (listeners that would collide, TLS options that do not go
 * together, the bridges' part in cfg_bridge_check.c). Nothing here logs:
 * errors go to the caller's buffer. */
#include "cfg.h"

#include "alloc.h"
#include "cfg_priv.h"
#include "gw_err.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* A default listener of another protocol on 127.0.0.1 (best effort: a
 * port already taken is a warning, not a failure to start). */
static int add_default_extra(struct gw_config *c, uint16_t port, const char *protocol)
{
    long i = cfg_listener_add(c, port, "127.0.0.1", AF_INET, "default");
    if (i < 0) {
        return -ENOMEM;
    }
    struct cfg_listener *l = &c->listeners[i];
    char *s = gw_strdup(protocol);
    if (!s) {
        cfg_listener_fini(&c->listeners[--c->n_listeners]);
        return -ENOMEM;
    }
    gw_free(l->protocol);
    l->protocol = s;
    l->best_effort = true;
    return 0;
}

int cfg_resolve(struct cfg_parser *p)
{
    struct gw_config *c = p->c;
    if (c->n_listeners == 0) {
        /* The embedded default is the whole gateway (issue 14): MQTT as
         * mosquitto 2 has it, plus MQTT-SN and the metrics, all loopback. */
        c->default_listener = true;
        if (cfg_listener_add_loopback(c, CFG_DEFAULT_PORT, "default") < 0 ||
            add_default_extra(c, CFG_DEFAULT_SN_PORT, "mqttsn") < 0 ||
            add_default_extra(c, CFG_DEFAULT_HTTP_PORT, "http") < 0) {
            return cfg_fail_nomem(p);
        }
    }
    /* mosquitto 2: anonymous access is off once listeners are configured. */
    if (!c->allow_anonymous_set) {
        c->allow_anonymous = c->default_listener;
    }
    for (size_t i = 0; i < c->n_listeners; i++) {
        struct cfg_listener *l = &c->listeners[i];
        if (l->max_connections == CFG_UNSET) {
            l->max_connections = c->max_connections;
        }
        if (!l->allow_anonymous_set) {
            l->allow_anonymous = c->allow_anonymous;
        }
    }
    return cfg_bridges_resolve(p);
}

/* Would binding both fail? Same transport and port, and the same address or
 * a wildcard one, unless they are pinned to different address families. */
static bool is_udp(const struct cfg_listener *l)
{
    return l->protocol && strcmp(l->protocol, "mqttsn") == 0;
}

static bool listeners_conflict(const struct cfg_listener *a, const struct cfg_listener *b)
{
    if (a->mqttsn_serial_device || b->mqttsn_serial_device) {
        /* a serial port is not a socket: only the same device twice conflicts */
        return cfg_str_eq(a->mqttsn_serial_device, b->mqttsn_serial_device);
    }
    /* mqtt and http are both TCP: they cannot share a port. */
    if (a->port != b->port || is_udp(a) != is_udp(b)) {
        return false;
    }
    if (a->socket_domain && b->socket_domain && a->socket_domain != b->socket_domain) {
        return false;
    }
    return !a->bind_address || !b->bind_address || strcmp(a->bind_address, b->bind_address) == 0;
}

static int conflict_error(const struct cfg_listener *a, const struct cfg_listener *b, char *err,
                          size_t errcap)
{
    if (b->mqttsn_serial_device) {
        cfg_put_err(err, errcap, "%s: mqttsn_serial %s is already configured at %s", b->origin,
                b->mqttsn_serial_device, a->origin);
    } else {
        cfg_put_err(err, errcap, "%s: listener %u %s conflicts with the listener at %s", b->origin,
                b->port, b->bind_address ? b->bind_address : "(any address)", a->origin);
    }
    return GW_E_CONFIG;
}

/* The TLS options of one listener agree with each other and its protocol
 * (the files themselves are read when the listener opens). */
static int validate_tls(const struct cfg_listener *l, char *err, size_t errcap)
{
    const struct cfg_tls *t = &l->tls;
    bool any = cfg_tls_on(t) || t->cafile || t->capath || t->crlfile || t->tls_version ||
               t->ciphers || t->require_certificate || t->use_identity_as_username ||
               t->use_subject_as_username;
    if (!any) {
        return 0;
    }
    const char *why = NULL;
    if (strcmp(l->protocol, "http") == 0) {
        why = "TLS options need protocol mqtt (TLS) or mqttsn (DTLS)";
    } else if (l->mqttsn_serial_device) {
        why = "TLS options on an mqttsn_serial port: DTLS runs over UDP listeners only";
    } else if (!cfg_tls_on(t)) {
        why = "TLS options without certfile/keyfile or psk_hint/psk_file: set those to turn "
              "TLS on";
    } else if (!t->certfile != !t->keyfile) {
        why = t->certfile ? "certfile needs keyfile" : "keyfile needs certfile";
    } else if (!t->psk_hint != !t->psk_file) {
        why = t->psk_hint ? "psk_hint needs psk_file" : "psk_file needs psk_hint (it turns PSK on)";
    } else if (t->require_certificate && !t->cafile && !t->capath) {
        why = "require_certificate needs cafile or capath";
    } else if (t->use_identity_as_username && t->use_subject_as_username) {
        why = "use_identity_as_username and use_subject_as_username exclude each other";
    } else if ((t->use_identity_as_username || t->use_subject_as_username) &&
               !t->require_certificate && !t->psk_file) {
        why = "use_identity_as_username / use_subject_as_username need require_certificate true";
    } else if (t->crlfile && !t->require_certificate) {
        why = "crlfile needs require_certificate true (no client certificate is asked for)";
    } else if (t->tls_version && strcmp(t->tls_version, "tlsv1.2") != 0 &&
               strcmp(t->tls_version, "tlsv1.3") != 0) {
        why = "tls_version: expected tlsv1.2 or tlsv1.3 (older versions are not supported)";
    }
    if (why) {
        cfg_put_err(err, errcap, "%s: %s", l->origin, why);
        return GW_E_CONFIG;
    }
    return 0;
}

/* No two listeners may bind the same socket or open the same port. */
static int validate_listeners(const struct gw_config *c, char *err, size_t errcap)
{
    for (size_t i = 0; i < c->n_listeners; i++) {
        for (size_t j = i + 1; j < c->n_listeners; j++) {
            const struct cfg_listener *a = &c->listeners[i];
            const struct cfg_listener *b = &c->listeners[j];
            if (listeners_conflict(a, b)) {
                return conflict_error(a, b, err, errcap);
            }
        }
    }
    for (size_t i = 0; i < c->n_listeners; i++) {
        const struct cfg_listener *l = &c->listeners[i];
        if (l->http_basic_auth && (!l->protocol || strcmp(l->protocol, "http") != 0)) {
            cfg_put_err(err, errcap, "%s: http_basic_auth needs protocol http", l->origin);
            return GW_E_CONFIG;
        }
        if (l->http_basic_auth && !c->password_file) {
            cfg_put_err(err, errcap, "%s: http_basic_auth true needs a password_file", l->origin);
            return GW_E_CONFIG;
        }
        int rc = validate_tls(l, err, errcap);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int cfg_validate(const struct gw_config *c, char *err, size_t errcap)
{
    int rc = validate_listeners(c, err, errcap);
    if (rc < 0) {
        return rc;
    }
    if (c->output_soft_limit_bytes > c->output_hard_limit_bytes) {
        cfg_put_err(err, errcap, "%s: output_soft_limit (%llu) is above output_hard_limit (%llu)",
                c->file ? c->file : "config", (unsigned long long)c->output_soft_limit_bytes,
                (unsigned long long)c->output_hard_limit_bytes);
        return GW_E_CONFIG;
    }
    if (c->persistence_quota_bytes > c->persistence_map_max_bytes) {
        cfg_put_err(err, errcap, "%s: persistence_quota (%llu) is above persistence_map_size (%llu)",
                c->file ? c->file : "config", (unsigned long long)c->persistence_quota_bytes,
                (unsigned long long)c->persistence_map_max_bytes);
        return GW_E_CONFIG;
    }
    return cfg_bridges_validate(c, err, errcap);
}
