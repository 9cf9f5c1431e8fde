/* mqtt_codec_fixture.h - the fixture of the MQTT 3.1 / 3.1.1 codec's unit
 * tests (test_mqtt_codec_valid.c, test_mqtt_codec_header.c,
 * test_mqtt_codec_malformed.c): input copied to end at a PROT_NONE guard
 * page (group_setup), so that any over-read faults; decode with a
 * negotiated version; expect a return code with *out untouched on failure;
 * byte-vector macros. */
#ifndef MQTT_CODEC_FIXTURE_H
#define MQTT_CODEC_FIXTURE_H

#include "gw_bytes.h"
#include "guard_page.h"
#include "mqtt_codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BYTES(...)  ((const uint8_t[]){__VA_ARGS__})
#define NBYTES(...) sizeof((const uint8_t[]){__VA_ARGS__})
#define VEC(...)                                                                                   \
    {                                                                                              \
        BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__)                                                    \
    }

/* Decode bytes with the given negotiated version and expect rc. */
#define EXPECT_RC(version, rc, ...) expect_rc(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), version, rc)

struct vec {
    const uint8_t *p;
    size_t n;
};

ssize_t decode_v(const uint8_t *b, size_t n, uint8_t version, struct mqtt_pkt *out);

void expect_rc(const uint8_t *b, size_t n, uint8_t version, ssize_t rc);

/* Valid packets written out from MQTT 3.1.1 chapter 3 (the fixed-header
 * tests flip their flags). */
extern const struct vec valid_vectors[];
extern const size_t valid_vector_count;
#define N_VALID valid_vector_count

#endif
