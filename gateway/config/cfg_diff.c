/* cfg_diff.c - which changes of a re-read config (SIGHUP) need a restart:
 * listeners, bridges and the options the table marks not reloadable. */
#include "cfg.h"

#include "cfg_priv.h"

#include <stdio.h>
#include <string.h>

static void append_name(char *buf, size_t cap, size_t *used, const char *name)
{
    if (!buf || cap == 0) {
        return;
    }
    int n = snprintf(buf + *used, cap - *used, "%s%s", *used ? ", " : "", name);
    if (n > 0) {
        *used += (size_t)n < cap - *used ? (size_t)n : cap - *used - 1;
    }
}

/* The MQTT-SN options of two listeners (all need a restart). */
static bool mqttsn_equal(const struct cfg_listener *x, const struct cfg_listener *y)
{
    return x->mqttsn_retry_interval_s == y->mqttsn_retry_interval_s &&
           x->mqttsn_retries == y->mqttsn_retries && x->mqttsn_gateway_id == y->mqttsn_gateway_id &&
           x->mqttsn_advertise_interval == y->mqttsn_advertise_interval &&
           cfg_str_eq(x->mqttsn_advertise_address, y->mqttsn_advertise_address) &&
           cfg_str_eq(x->mqttsn_predefined_topics, y->mqttsn_predefined_topics) &&
           cfg_str_eq(x->mqttsn_allowed_clients, y->mqttsn_allowed_clients) &&
           cfg_str_eq(x->mqttsn_client_allow_file, y->mqttsn_client_allow_file) &&
           x->mqttsn_amplification_limit == y->mqttsn_amplification_limit &&
           x->mqttsn_max_clients == y->mqttsn_max_clients &&
           x->mqttsn_max_clients_per_address == y->mqttsn_max_clients_per_address &&
           x->mqttsn_max_topics == y->mqttsn_max_topics &&
           x->mqttsn_max_unproven_clients == y->mqttsn_max_unproven_clients &&
           x->mqttsn_idle_timeout_s == y->mqttsn_idle_timeout_s &&
           x->mqttsn_udp_receive_buffer == y->mqttsn_udp_receive_buffer &&
           cfg_str_eq(x->mqttsn_forwarders, y->mqttsn_forwarders) &&
           cfg_str_eq(x->mqttsn_serial_device, y->mqttsn_serial_device) &&
           x->mqttsn_serial_baud == y->mqttsn_serial_baud &&
           x->mqttsn_serial_framing == y->mqttsn_serial_framing &&
           x->mqttsn_serial_flow == y->mqttsn_serial_flow &&
           x->mqttsn_serial_parity == y->mqttsn_serial_parity &&
           x->mqttsn_serial_data_bits == y->mqttsn_serial_data_bits &&
           x->mqttsn_serial_stop_bits == y->mqttsn_serial_stop_bits &&
           x->mqttsn_serial_xbee_api == y->mqttsn_serial_xbee_api;
}

/* The TLS options of two listeners (the paths and settings need a
 * restart; the files' contents are re-read on SIGHUP). */
static bool tls_equal(const struct cfg_tls *x, const struct cfg_tls *y)
{
    return cfg_str_eq(x->cafile, y->cafile) && cfg_str_eq(x->capath, y->capath) &&
           cfg_str_eq(x->certfile, y->certfile) && cfg_str_eq(x->keyfile, y->keyfile) &&
           cfg_str_eq(x->crlfile, y->crlfile) && cfg_str_eq(x->tls_version, y->tls_version) &&
           cfg_str_eq(x->ciphers, y->ciphers) && x->require_certificate == y->require_certificate &&
           x->use_identity_as_username == y->use_identity_as_username &&
           x->use_subject_as_username == y->use_subject_as_username &&
           cfg_str_eq(x->psk_hint, y->psk_hint) && cfg_str_eq(x->psk_file, y->psk_file);
}

static bool listeners_equal(const struct gw_config *a, const struct gw_config *b)
{
    if (a->n_listeners != b->n_listeners) {
        return false;
    }
    for (size_t i = 0; i < a->n_listeners; i++) {
        const struct cfg_listener *x = &a->listeners[i];
        const struct cfg_listener *y = &b->listeners[i];
        if (x->port != y->port || !cfg_str_eq(x->bind_address, y->bind_address) ||
            !cfg_str_eq(x->protocol, y->protocol) || x->max_connections != y->max_connections ||
            x->socket_domain != y->socket_domain || !mqttsn_equal(x, y) ||
            x->http_basic_auth != y->http_basic_auth || !tls_equal(&x->tls, &y->tls)) {
            return false;
        }
    }
    return true;
}

static bool field_equal(const struct cfg_opt *o, const struct gw_config *a,
                        const struct gw_config *b)
{
    const char *pa = (const char *)a + o->goff;
    const char *pb = (const char *)b + o->goff;
    if (o->type == CFG_T_STRING) {
        const char *sa = NULL;
        const char *sb = NULL;
        memcpy(&sa, pa, sizeof(sa));
        memcpy(&sb, pb, sizeof(sb));
        return cfg_str_eq(sa, sb);
    }
    if (o->type == CFG_T_ENUM && o->noff != 0 &&
        memcmp((const char *)a + o->noff, (const char *)b + o->noff, sizeof(uint32_t)) != 0) {
        return false; /* same choice, another number (periodic 100 vs periodic 200) */
    }
    return memcmp(pa, pb, cfg_opt_field_size(o->type)) == 0;
}

size_t cfg_diff_restart_needed(const struct gw_config *old_cfg, const struct gw_config *new_cfg,
                               char *buf, size_t cap)
{
    size_t count = 0;
    size_t used = 0;
    if (buf && cap > 0) {
        buf[0] = '\0';
    }
    if (!listeners_equal(old_cfg, new_cfg)) {
        append_name(buf, cap, &used, "listener");
        count++;
    }
    if (!cfg_bridges_equal(old_cfg, new_cfg)) {
        append_name(buf, cap, &used, "connection");
        count++;
    }
    for (size_t i = 0; i < cfg_opt_count; i++) {
        const struct cfg_opt *o = &cfg_opt_table[i];
        if ((o->flags & (CFG_OPT_RELOAD | CFG_OPT_LISTENER)) || o->type >= CFG_T_SPECIAL) {
            continue;
        }
        if (!field_equal(o, old_cfg, new_cfg)) {
            append_name(buf, cap, &used, o->name);
            count++;
        }
    }
    return count;
}
