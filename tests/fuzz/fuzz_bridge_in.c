/* fuzz_bridge_in.c - what an upstream broker sends a bridge: the real
 * bridge (bridge/) over the real session service, fed arbitrary bytes as
 * its input stream (bridge_proto_input), as MQTT 3.1.1 or 5.0, in the
 * CONNACK-wait state or up. CONNACK properties, SUBACK codes, inbound
 * PUBLISH through the topic mapping into the broker, PUBREL, and acks for
 * the backlog's packet ids all come from the input. Writes upstream fail
 * (no socket), as after a lost connection. Nothing may crash, assert,
 * leak or be used after it is freed.
 * Input: byte 0 bit 0 = MQTT 5, bit 1 = start up (CONNACK seen); the rest
 * is the stream. */
#include "bridge.h"
#include "bridge_priv.h"
#include "broker.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "mqtt_codec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536) {
        return 0;
    }
    static const char conf[] = "persistence false\nsys_interval 0\n"
                               "connection up\naddress 127.0.0.1:9\n"
                               "topic a/# both 1 l/ r/\ntopic b/# in 2\ntopic c/# out 1\n"
                               "bridge_max_packet_size 4096\n";
    gw_log_mask = 0; /* a log line per step would be most of the run's time */
    struct gw_config *cfg = NULL;
    char err[256];
    struct loop *l = NULL;
    struct broker *b = NULL;
    struct bridge *list = NULL;
    if (cfg_load_string(conf, "fuzz", &cfg, err, sizeof(err)) != 0 || loop_create(&l) != 0 ||
        broker_create(l, cfg, &b) != 0 || broker_start(b) != 0 ||
        bridge_start_all(b, &list) != 0 || !list) {
        abort();
    }
    struct bridge *br = list;
    br->version = (data[0] & 1) ? MQTT_V5 : MQTT_V311;
    if (data[0] & 2) {
        bridge_up(br, false); /* as after an accepted CONNACK */
    } else {
        br->state = BRIDGE_CONNACK;
    }
    if (buf_reserve(&br->in, size - 1) == 0) {
        memcpy(buf_tail(&br->in), data + 1, size - 1);
        buf_commit(&br->in, size - 1);
        char why[256];
        (void)bridge_proto_input(br, why, sizeof(why));
        if (memchr(why, '\0', sizeof(why)) == NULL) {
            abort();
        }
    }
    bridge_stop_all(list);
    broker_destroy(b);
    bridge_free_all(list);
    loop_destroy(l);
    return 0;
}
