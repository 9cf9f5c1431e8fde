/* mqtt_proto_priv.h - what the MQTT protocol files share. */
#ifndef MQTT_PROTO_PRIV_H
#define MQTT_PROTO_PRIV_H

#include "mqtt_codec.h"

struct conn;

/* Encode pkt in the connection's protocol version and queue it. */
int mqtt_proto_send_pkt(struct conn *c, const struct mqtt_pkt *pkt);

/* SUBSCRIBE / UNSUBSCRIBE of an active connection (mqtt_subscribe.c). */
int mqtt_sub_on_subscribe(struct conn *c, const struct mqtt_pkt *pkt);
int mqtt_sub_on_unsubscribe(struct conn *c, const struct mqtt_pkt *pkt);

#endif
