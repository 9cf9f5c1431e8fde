/* sn_serial_gw.c - an `mqttsn_serial DEVICE` block as an MQTT-SN gateway
 * (issue 13): the serial transport (sn_serial.c) under the same gateway as
 * UDP (sn_gw.c), so every node on the port is an ordinary client session
 * in the one topic space; and the port's figures under $SYS, every
 * sys_interval seconds, retained like the broker's own:
 *
 *   $SYS/broker/mqttsn/serial/NAME/state            open | closed
 *   .../octets/in, octets/out, frames/in, frames/out
 *   .../errors/framing, errors/crc                 damaged input dropped
 *   .../dropped/qos0, dropped/full, dropped/too_large   output not sent
 *   .../xbee/tx_failed                              transmit status failures
 *   .../clients                                     MQTT-SN clients on the port
 *   .../opens, losses                               hot-plug history
 *
 * NAME is the device path without /dev/, '/' '+' '#' made '_'
 * (/dev/serial/by-id/usb-X -> serial_by-id_usb-X). */
#include "gw_err.h"
#include "log.h"
#include "sn_gw_priv.h"
#include "sn_serial.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void sys_name(const char *path, char *out, size_t cap)
{
    const char *p = strncmp(path, "/dev/", 5) == 0 ? path + 5 : path + (path[0] == '/');
    size_t i = 0;
    for (; p[i] && i + 1 < cap; i++) {
        char c = p[i];
        if (c == '/' || c == '+' || c == '#') {
            c = '_'; /* not a topic level, not a wildcard */
        }
        out[i] = c;
    }
    out[i] = '\0';
}

static void pub_fig(struct sn_gw *gw, const char *name, const char *value)
{
    char topic[400];
    int n = snprintf(topic, sizeof(topic), "$SYS/broker/mqttsn/serial/%s/%s", gw->sys_name, name);
    if (n < 0 || (size_t)n >= sizeof(topic)) {
        return;
    }
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(gw_bytes_str(topic), gw_bytes_str(value), none, 0, true);
    if (m) {
        svc_publish_msg(gw->b, m, NULL, NULL);
        msg_unref(m);
    }
}

static void pub_u64(struct sn_gw *gw, const char *name, uint64_t v)
{
    char s[32];
    (void)snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    pub_fig(gw, name, s);
}

/* A $SYS source (broker_sys_source_add): the port's figures go out with
 * the broker's, every sys_interval while someone subscribes to $SYS. */
static void on_sys(void *arg)
{
    struct sn_gw *gw = arg;
    struct sn_serial_stats st;
    sn_serial_get_stats(gw->serial, &st);
    pub_fig(gw, "state", sn_serial_is_open(gw->serial) ? "open" : "closed");
    pub_u64(gw, "octets/in", st.octets_in);
    pub_u64(gw, "octets/out", st.octets_out);
    pub_u64(gw, "frames/in", st.frames_in);
    pub_u64(gw, "frames/out", st.frames_out);
    pub_u64(gw, "errors/framing", st.framing_errors);
    pub_u64(gw, "errors/crc", st.crc_errors);
    pub_u64(gw, "dropped/qos0", st.dropped_qos0);
    pub_u64(gw, "dropped/full", st.dropped_full);
    pub_u64(gw, "dropped/too_large", st.dropped_too_big);
    pub_u64(gw, "xbee/tx_failed", st.xbee_tx_failed);
    pub_u64(gw, "clients", gw->n_clients);
    pub_u64(gw, "opens", st.opens);
    pub_u64(gw, "losses", st.losses);
}

static void params_of(const struct cfg_listener *lc, struct sn_serial_params *sp)
{
    memset(sp, 0, sizeof(*sp));
    sp->path = lc->mqttsn_serial_device;
    sp->line.baud = lc->mqttsn_serial_baud;
    sp->line.data_bits = (uint8_t)lc->mqttsn_serial_data_bits;
    sp->line.stop_bits = (uint8_t)lc->mqttsn_serial_stop_bits;
    sp->line.parity = lc->mqttsn_serial_parity == CFG_SN_PARITY_EVEN  ? BOARD_PARITY_EVEN
                      : lc->mqttsn_serial_parity == CFG_SN_PARITY_ODD ? BOARD_PARITY_ODD
                                                                      : BOARD_PARITY_NONE;
    sp->line.flow = lc->mqttsn_serial_flow == CFG_SN_FLOW_RTSCTS    ? BOARD_FLOW_RTSCTS
                    : lc->mqttsn_serial_flow == CFG_SN_FLOW_XONXOFF ? BOARD_FLOW_XONXOFF
                                                                    : BOARD_FLOW_NONE;
    sp->framing = lc->mqttsn_serial_framing == CFG_SN_FRAMING_SLIP   ? SN_FRAMING_SLIP
                  : lc->mqttsn_serial_framing == CFG_SN_FRAMING_XBEE ? SN_FRAMING_XBEE
                                                                     : SN_FRAMING_RAW;
    sp->xbee_escaped = lc->mqttsn_serial_xbee_api != 1;
}

int sn_serial_gw_start(struct sn_gw *gw, sn_rx_cb *cb)
{
    const struct cfg_listener *lc = gw->lc;
    if (lc->mqttsn_advertise_address) {
        gw_log(GW_ERROR, "mqttsn",
               "%s: mqttsn_advertise_address does not apply to an mqttsn_serial block: "
               "ADVERTISE is broadcast on the link",
               lc->origin);
        return -EINVAL;
    }
    struct sn_serial_params sp;
    params_of(lc, &sp);
    (void)snprintf(gw->name, sizeof(gw->name), "%s", lc->mqttsn_serial_device);
    sys_name(lc->mqttsn_serial_device, gw->sys_name, sizeof(gw->sys_name));
    int rc = sn_serial_open(gw->b->loop, &sp, cb, gw, &gw->serial);
    if (rc < 0) {
        return rc;
    }
    gw->tops = &sn_serial_ops;
    gw->tctx = gw->serial;
    rc = sn_conf_load(&gw->conf, lc, NULL);
    if (rc < 0) {
        sn_serial_close(gw->serial);
        gw->serial = NULL;
        return rc;
    }
    if (!lc->mqttsn_retry_interval_s) {
        gw->conf.retry_ms = sn_serial_default_retry_ms(gw->serial); /* scaled to the link */
    }
    sn_serial_broadcast(gw->serial, &gw->conf.advertise_to);
    rc = broker_sys_source_add(gw->b, on_sys, gw);
    if (rc < 0) {
        sn_conf_fini(&gw->conf);
        sn_serial_close(gw->serial);
        gw->serial = NULL;
        return rc;
    }
    gw_log(GW_NOTICE, "mqttsn", "serial port %s: MQTT-SN gateway (Tretry %u ms)", gw->name,
           gw->conf.retry_ms);
    return 0;
}

void sn_serial_gw_stop(struct sn_gw *gw)
{
    if (!gw->serial) {
        return;
    }
    broker_sys_source_del(gw->b, on_sys, gw);
    sn_serial_close(gw->serial);
    gw->serial = NULL;
}
