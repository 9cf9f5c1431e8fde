/* fuzz_mqtt_props.c - libFuzzer target for MQTT 5 property blocks on the
 * paths a peer reaches beyond decoding: validation for every packet type,
 * and the re-encoding the broker does when it forwards a message
 * (mqtt_props_copy_except into a bounded builder, as v5_send_publish and
 * the bridge do). The first byte picks the packet type and the builder's
 * capacity; the rest is the property block (with its varint length).
 * A block that validates must copy to a block that validates again and,
 * when nothing was skipped, is byte-equal; a copy that does not fit must
 * report -ENOSPC, never write past the buffer (ASan) or assert. */
#include "gw_err.h"
#include "mqtt_codec.h"
#include "mqtt_props.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// NOLINTNEXTLINE(readability-identifier-naming)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum mqtt_type types[] = {MQTT_CONNECT,  MQTT_CONNACK, MQTT_PUBLISH,  MQTT_PUBACK,
                                       MQTT_PUBREC,   MQTT_PUBREL,  MQTT_PUBCOMP,  MQTT_SUBSCRIBE,
                                       MQTT_SUBACK,   MQTT_UNSUBSCRIBE, MQTT_UNSUBACK,
                                       MQTT_DISCONNECT, MQTT_AUTH};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    enum mqtt_type type = types[(data[0] & 0x0f) % (sizeof(types) / sizeof(types[0]))];
    bool will = (data[0] & 0x10) != 0;
    size_t cap = (size_t)(data[0] >> 5) * 64u; /* 0..448: often too small */
    uint32_t len = 0;
    size_t used = 0;
    for (uint32_t mult = 1; used < 4 && 1 + used < size; used++, mult *= 128u) {
        len += (uint32_t)(data[1 + used] & 0x7f) * mult;
        if (!(data[1 + used] & 0x80)) {
            used++;
            break;
        }
    }
    if (1 + used + len > size) {
        return 0;
    }
    struct gw_bytes block = {data + 1 + used, len};
    if (mqtt_props_validate(&block, type, will) != 0) {
        return 0;
    }
    uint8_t *out = malloc(cap ? cap : 1);
    if (!out) {
        return 0;
    }
    struct mqtt_props_builder pb;
    mqtt_props_builder_init(&pb, out, cap);
    mqtt_props_copy_except(&pb, block, 0, 0);
    ssize_t n = mqtt_props_builder_size(&pb);
    if (n >= 0) {
        struct gw_bytes copy = mqtt_props_builder_bytes(&pb);
        if (copy.n != block.n || memcmp(copy.p, block.p, block.n) != 0) {
            abort(); /* an unskipped copy is the same block */
        }
    } else if (n != -ENOSPC || block.n <= cap) {
        abort(); /* only a block larger than the buffer may fail */
    }
    /* With the two ids the broker skips most (expiry, alias): still valid. */
    mqtt_props_builder_init(&pb, out, cap);
    mqtt_props_copy_except(&pb, block, MQTT_PROP_MESSAGE_EXPIRY, MQTT_PROP_TOPIC_ALIAS);
    if (mqtt_props_builder_size(&pb) >= 0) {
        struct gw_bytes copy = mqtt_props_builder_bytes(&pb);
        if (mqtt_props_validate(&copy, type, will) != 0) {
            abort();
        }
    }
    free(out);
    return 0;
}
