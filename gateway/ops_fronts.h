/* ops_fronts.h - the front-ends' figures for the operations endpoints
 * (gateway/ops): MQTT listeners, bridges, MQTT-SN gateways. They live in
 * the composition root because gateway/ops may not include mqttsn/ or
 * bridge/ (ARCHITECTURE.md); main adds them as an ops_source. */
#ifndef OPS_FRONTS_H
#define OPS_FRONTS_H

#include "ops.h"

struct mqtt_fe;
struct bridge;

struct ops_fronts {
    struct mqtt_fe *mqtt;   /* borrowed */
    struct bridge *bridges; /* borrowed, NULL = none */
};

/* An ops_source over f (borrowed: it must outlive the ops endpoints). */
struct ops_source ops_fronts_source(struct ops_fronts *f);

#endif
