/* mqtt_auth.h - MQTT 5 enhanced authentication (section 4.12): the AUTH
 * exchange at CONNECT and re-authentication, over the method plug-ins of
 * auth_method.h (SCRAM-SHA-256 when scram_file is set). */
#ifndef MQTT_AUTH_H
#define MQTT_AUTH_H

#include "mqtt_codec.h"

#include <stdbool.h>

struct conn;
struct mqtt_v5;

#define MQTT_AUTH_STARTED 1 /* AUTH sent, CONNECT kept until the exchange ends */

/* CONNECT carried an Authentication Method. Returns 0 when the client is
 * authenticated already (go on connecting), MQTT_AUTH_STARTED, or an error
 * after a refusing CONNACK (0x8C bad authentication method [MQTT-4.12.0-1],
 * 0x87 not authorized). */
int mqtt_auth_connect(struct conn *c, const struct mqtt_connect *cp);

/* An AUTH packet. Before CONNACK it continues the exchange and, when it
 * succeeds, finishes the kept CONNECT through on_connect; after CONNACK
 * it re-authenticates (0x19). Returns 0 or an error that closes the
 * connection (with the DISCONNECT reason set). */
int mqtt_auth_packet(struct conn *c, const struct mqtt_disconnect *auth,
                     int (*on_connect)(struct conn *c, const struct mqtt_connect *cp));

/* Properties for CONNACK after a successful exchange: method and data. */
void mqtt_auth_connack_props(const struct conn *c, struct gw_bytes *method,
                             struct gw_bytes *data);

/* Free the exchange state kept in v5. */
void mqtt_auth_free(struct mqtt_v5 *v);

#endif
