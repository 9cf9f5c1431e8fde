/* mqtt_codec_priv.h - what the decoder (mqtt_codec.c) and the encoder
 * (mqtt_encode.c) share; included only by those two. Pure (L0). */
#ifndef MQTT_CODEC_PRIV_H
#define MQTT_CODEC_PRIV_H

#include "mqtt_codec.h"

#include <stdbool.h>
#include <stdint.h>

/* Protocol names a CONNECT may carry [MQTT-3.1.2-1]. */
#define PROTO_MQTT   "MQTT"
#define PROTO_MQISDP "MQIsdp"

/* Negotiated levels whose packets use the 3.1.1 layouts. */
static inline bool mqtt_version_decodes_311(uint8_t version)
{
    return version == MQTT_V_UNKNOWN || version == MQTT_V31 || version == MQTT_V311;
}

#endif
