/* mqtt_codec.h - pure MQTT 3.1 / 3.1.1 / 5.0 control-packet codec (L0).
 *
 * Bytes in, struct out; struct in, bytes out. No sockets, no globals, no
 * logging, no allocation. Strings and payloads in a decoded packet are views
 * into the caller's buffer (see gw_bytes.h): they die when that buffer is
 * consumed or compacted.
 *
 * The same codec serves the broker (decoding what clients send, encoding what
 * it sends them) and the bridge (the client role), so every packet type is
 * decoded and encoded in both directions.
 *
 * MQTT 5.0: with lim->version MQTT_V5 every packet (AUTH included) is read
 * in its 5.0 layout. Property blocks are validated for their packet (see
 * mqtt_props.h) and kept as raw views (the bytes after Property Length);
 * read them with mqtt_prop_iter_*, compose them with mqtt_props_builder.
 * Reason codes are checked against the packet's set. A field marked "v5"
 * is empty / zero in 3.1 / 3.1.1 and ignored when encoding them.
 *
 * Caveats: the 3.1.1 layouts and checks are unchanged; props fields are
 * ignored when encoding 3.1.1. The UTF-8 and varint helpers and the topic
 * iterator declared here are defined in mqtt_props.c. */
#ifndef MQTT_CODEC_H
#define MQTT_CODEC_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Protocol levels as carried in CONNECT. */
enum mqtt_version {
    MQTT_V_UNKNOWN = 0, /* before CONNECT: 3.1.1 rules; sess enforces CONNECT first */
    MQTT_V31 = 3,       /* "MQIsdp" */
    MQTT_V311 = 4,      /* "MQTT" */
    MQTT_V5 = 5
};

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15
};

/* CONNACK return codes, MQTT 3.1.1 section 3.2.2.3. */
enum mqtt_connack_rc {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_VERSION = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5
};

#define MQTT_SUBACK_FAILURE 0x80       /* 3.1.1 section 3.9.3 */
#define MQTT_MAX_REMAINING  268435455u /* 4-byte variable length maximum */
#define MQTT_MAX_STRING     65535u

/* Limits the decoder enforces. version is the connection's negotiated
 * protocol level (MQTT_V_UNKNOWN until CONNECT was decoded).
 * max_packet_size counts the whole packet, fixed header included;
 * 0 means MQTT's own maximum. */
struct mqtt_limits {
    uint8_t version;
    uint32_t max_packet_size;
};

struct mqtt_connect {
    uint8_t version;            /* protocol level byte */
    struct gw_bytes proto_name; /* "MQTT" or "MQIsdp" */
    bool clean;                 /* clean session (3.1.1) / clean start (5.0) */
    uint16_t keepalive_s;
    struct gw_bytes client_id; /* may be empty */
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct gw_bytes will_topic;
    struct gw_bytes will_payload;
    bool has_username;
    struct gw_bytes username;
    bool has_password;
    struct gw_bytes password;
    struct gw_bytes props;      /* v5 only; empty otherwise */
    struct gw_bytes will_props; /* v5 only */
};

struct mqtt_connack {
    bool session_present;
    uint8_t rc;            /* 3.1.1 return code / v5 reason code (enum mqtt_rc) */
    struct gw_bytes props; /* v5 */
};

struct mqtt_publish {
    uint8_t qos;
    bool dup;
    bool retain;
    struct gw_bytes topic;
    uint16_t packet_id;    /* only when qos > 0 */
    struct gw_bytes props; /* v5; topic may be empty when it holds a Topic Alias */
    struct gw_bytes payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK (3.1.1: packet id only).
 * v5 PUBACK..PUBCOMP: rc and props may be left out from the end (remaining
 * length 2: rc 0x00 and no props; 3: no props). has_rc / has_props say what
 * the decoded packet carried; the encoder writes at least that much, and
 * more when rc != 0 or props is not empty (else the shortest form).
 * v5 UNSUBACK: props and rcs (one reason code per filter); rc unused. */
struct mqtt_ack {
    uint16_t packet_id;
    uint8_t rc;            /* v5 reason code; 0 in 3.1.1 */
    struct gw_bytes props; /* v5 */
    bool has_rc;           /* v5: reason code present on the wire */
    bool has_props;        /* v5: property length present on the wire */
    struct gw_bytes rcs;   /* v5 UNSUBACK: reason codes */
};

/* SUBSCRIBE and UNSUBSCRIBE: the topic list stays raw, read it with
 * mqtt_topic_iter_*. A decoded packet's list is already validated (at least
 * one entry [MQTT-3.8.3-3] [MQTT-3.10.3-2], lengths in bounds, UTF-8 valid,
 * reserved option bits zero [MQTT-3-8.3-4]; v5: bits 6-7 zero, Retain
 * Handling 0..2, see MQTT_SUB_OPT_* in mqtt_props.h). */
struct mqtt_subscribe {
    uint16_t packet_id;
    struct gw_bytes props;
    struct gw_bytes list;
};

struct mqtt_suback {
    uint16_t packet_id;
    struct gw_bytes props; /* v5 */
    struct gw_bytes rcs;   /* one return / reason code per filter */
};

/* DISCONNECT and AUTH (v5; 3.1.1 DISCONNECT has no body). Remaining length
 * 0 means rc 0x00; DISCONNECT may also stop after rc; AUTH has both or
 * neither. has_rc / has_props work as in struct mqtt_ack. */
struct mqtt_disconnect {
    uint8_t rc; /* v5 only */
    struct gw_bytes props;
    bool has_rc;
    bool has_props;
};

struct mqtt_pkt {
    enum mqtt_type type;

    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        struct mqtt_ack ack;             /* PUBACK PUBREC PUBREL PUBCOMP UNSUBACK */
        struct mqtt_subscribe subscribe; /* SUBSCRIBE and UNSUBSCRIBE */
        struct mqtt_suback suback;
        struct mqtt_disconnect disconnect;
        struct mqtt_disconnect auth; /* v5 AUTH: same layout as DISCONNECT */
    } u;
};

/* Iterator over a SUBSCRIBE / UNSUBSCRIBE topic list. */
struct mqtt_topic_iter {
    struct gw_bytes rest;
    bool with_options; /* SUBSCRIBE: each filter is followed by an options byte */
};

void mqtt_topic_iter_init(struct mqtt_topic_iter *it, const struct mqtt_pkt *pkt);

/* Next filter. *options receives the SUBSCRIBE options byte (requested QoS in
 * bits 0-1; v5 adds No Local, Retain As Published, Retain Handling; 0 for
 * UNSUBSCRIBE). Returns true while there is an entry. The
 * list was validated by mqtt_decode, so the walk cannot fail. */
bool mqtt_topic_iter_next(struct mqtt_topic_iter *it, struct gw_bytes *filter, uint8_t *options);

/* Read the fixed header at buf[0..len).
 * Returns the header's length (2..5) and writes *type_flags (first byte) and
 * *remaining; GW_E_INCOMPLETE when more bytes are needed; GW_E_MALFORMED for a
 * remaining length over four bytes. Lets a connection reject an oversize
 * packet before it buffers the body. */
ssize_t mqtt_decode_header(const uint8_t *buf, size_t len, uint8_t *type_flags,
                           uint32_t *remaining);

/* Decode one control packet from buf[0..len).
 * Returns the bytes consumed (> 0) and fills *out; GW_E_INCOMPLETE when the
 * packet is not all there yet; GW_E_TOO_LARGE as soon as the fixed header
 * shows a packet over lim->max_packet_size; GW_E_MALFORMED for any byte
 * sequence the spec calls malformed (wrong reserved flags, lengths past the
 * packet, bad UTF-8 or U+0000 in a string, QoS 3, wildcards in a PUBLISH topic,
 * packet id 0 where one is required, a packet type the version lacks; v5: a
 * property block that mqtt_props_validate refuses, a reason code the packet
 * may not carry, a property length varint over four bytes or not minimal);
 * GW_E_PROTOCOL (v5) for a property the spec calls a Protocol Error (a
 * value out of range, a repeat; see mqtt_props_validate).
 * *out is written only on success. */
ssize_t mqtt_decode(const uint8_t *buf, size_t len, const struct mqtt_limits *lim,
                    struct mqtt_pkt *out);

/* Whole encoded size of pkt for protocol level version (0, 3, 4, 5; fixed
 * header included). A CONNECT's level byte and layout come from connect.version
 * (its name from proto_name, or "MQIsdp" for level 3 / "MQTT" if empty). */
size_t mqtt_encoded_size(const struct mqtt_pkt *pkt, uint8_t version);

/* Encode pkt into dst[0..cap). The input is trusted: cap must be at least
 * mqtt_encoded_size() (asserted). Returns the bytes written. */
size_t mqtt_encode(uint8_t *dst, size_t cap, const struct mqtt_pkt *pkt, uint8_t version);

/* Encode a remaining-length varint into dst (at least 4 bytes). Returns the
 * bytes written (1..4). value must be <= MQTT_MAX_REMAINING. */
size_t mqtt_varint_encode(uint8_t *dst, uint32_t value);

/* Bytes mqtt_varint_encode would write for value. */
size_t mqtt_varint_size(uint32_t value);

/* True if s[0..n) is well-formed UTF-8 as MQTT requires: no surrogates, no
 * overlong forms, no code point over U+10FFFF, no U+0000 [MQTT-1.5.3-1]
 * [MQTT-1.5.3-2]. */
bool mqtt_utf8_valid(const uint8_t *s, size_t n);

/* True for mosquitto's bridge protocol levels 0x83 and 0x84: MQTT 3.1 /
 * 3.1.1 with bit 7 set by a bridge that asks not to get its own messages
 * back (mosquitto's try_private). */
static inline bool mqtt_bridge_level(uint8_t level)
{
    return level == (0x80u | MQTT_V31) || level == (0x80u | MQTT_V311);
}

#endif
