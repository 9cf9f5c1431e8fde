/* sn_client_priv.h - what the files of one MQTT-SN client share
 * (sn_client.c: the messages of a connected client and the dispatch;
 * sn_client_connect.c: CONNECT, the will flow, the restore). Included only
 * inside mqttsn/. */
#ifndef SN_CLIENT_PRIV_H
#define SN_CLIENT_PRIV_H

#include "log.h"
#include "sn_gw_priv.h"

#define SN_PROTOCOL_TAG 0x81u /* sess->protocol for MQTT-SN 1.2 (0x80 | 1) */

static inline int sn_cl_send_msg(struct sn_client *c, const struct sn_msg *m)
{
    return sn_gw_send(c->gw, &c->peer, m);
}

static inline int sn_cl_send_rc(struct sn_client *c, enum sn_type type, uint8_t rc)
{
    struct sn_msg m = {.type = type};
    m.u.rc = rc;
    return sn_cl_send_msg(c, &m);
}

static inline int sn_cl_send_id(struct sn_client *c, enum sn_type type, uint16_t msg_id)
{
    struct sn_msg m = {.type = type};
    m.u.msg_id = msg_id;
    return sn_cl_send_msg(c, &m);
}

static inline void sn_cl_set_state(struct sn_client *c, enum sn_client_state to)
{
    gw_log(GW_DEBUG, "mqttsn", "client=\"%s\" state %d->%d", c->id, (int)c->state, (int)to);
    c->state = to;
}

/* WILLTOPIC and WILLMSG of the will flow (section 6.3), in
 * sn_client_connect.c. */
void sn_cl_on_willtopic(struct sn_client *c, const struct sn_will_topic *wt);
void sn_cl_on_willmsg(struct sn_client *c, struct gw_bytes payload);

#endif
