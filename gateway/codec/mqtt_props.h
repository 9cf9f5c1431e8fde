/* mqtt_props.h - MQTT 5.0 properties and reason codes (L0, pure).
 *
 * The property table of MQTT 5.0 section 2.2.2.2 (identifier, data type, the
 * packets each may appear in), a validator for a property block, an iterator
 * that reads a block without copying, a builder that composes a block in
 * caller memory without allocation, and the reason codes of section 2.4 with
 * their names and the packets each may appear in.
 *
 * A "property block" here is the bytes after the Property Length varint, as
 * the codec stores it in mqtt_pkt (connect.props, publish.props, ...). Values
 * read through the iterator are views into that block: they die with it.
 *
 * Caveats: the spec calls some violations Malformed Packet and others
 * Protocol Error (a duplicate property, Receive Maximum 0, ...). Both close
 * the connection, and the issue asks for one answer: everything here returns
 * GW_E_MALFORMED. Rules that need more than one packet (Topic Alias above the
 * negotiated maximum, Subscription Identifier sent by a client, ...) are the
 * session's business. */
#ifndef MQTT_PROPS_H
#define MQTT_PROPS_H

#include "gw_bytes.h"
#include "mqtt_codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Property identifiers, MQTT 5.0 table 2-4. */
enum mqtt_prop_id {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0b,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1a,
    MQTT_PROP_SERVER_REFERENCE = 0x1c,
    MQTT_PROP_REASON_STRING = 0x1f,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2a
};

/* Property data types, MQTT 5.0 section 1.5. */
enum mqtt_prop_type {
    MQTT_PT_NONE = 0, /* unknown identifier */
    MQTT_PT_BYTE = 1,
    MQTT_PT_U16 = 2,    /* Two Byte Integer */
    MQTT_PT_U32 = 3,    /* Four Byte Integer */
    MQTT_PT_VARINT = 4, /* Variable Byte Integer */
    MQTT_PT_STR = 5,    /* UTF-8 Encoded String */
    MQTT_PT_BIN = 6,    /* Binary Data */
    MQTT_PT_PAIR = 7    /* UTF-8 String Pair */
};

/* Reason codes, MQTT 5.0 section 2.4 (0x00 is also Normal disconnection and
 * Granted QoS 0). */
enum mqtt_rc {
    MQTT_RC_SUCCESS = 0x00,
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTH = 0x18,
    MQTT_RC_REAUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED_PACKET = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPLEMENTATION_ERROR = 0x83,
    MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_INVALID = 0x85,
    MQTT_RC_BAD_USERNAME_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8a,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8b,
    MQTT_RC_BAD_AUTH_METHOD = 0x8c,
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8d,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8e,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8f,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9a,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9b,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9c,
    MQTT_RC_SERVER_MOVED = 0x9d,
    MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9e,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9f,
    MQTT_RC_MAXIMUM_CONNECT_TIME = 0xa0,
    MQTT_RC_SUBSCRIPTION_IDS_NOT_SUPPORTED = 0xa1,
    MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xa2
};

/* SUBSCRIBE options byte, MQTT 5.0 section 3.8.3.1 (read it from
 * mqtt_topic_iter_next). Bits 6-7 are reserved and Retain Handling 3 is
 * malformed; the decoder rejects both. */
#define MQTT_SUB_OPT_QOS_MASK 0x03u
#define MQTT_SUB_OPT_NO_LOCAL 0x04u
#define MQTT_SUB_OPT_RAP      0x08u /* Retain As Published */
#define MQTT_SUB_OPT_RH_SHIFT 4u    /* Retain Handling 0..2 in bits 4-5 */
#define MQTT_SUB_OPT_RH(o)    (((unsigned)(o) >> MQTT_SUB_OPT_RH_SHIFT) & 3u)

#define MQTT_SUB_ID_MAX 268435455u /* Subscription Identifier 1..this */

/* One property as the iterator reads it. num holds Byte, Two Byte, Four Byte
 * and Variable Byte Integer values; value holds a string's or binary's bytes;
 * a string pair has its name in name and its value in value. Views into the
 * block. */
struct mqtt_prop {
    uint8_t id;
    enum mqtt_prop_type type;
    uint32_t num;
    struct gw_bytes name;
    struct gw_bytes value;
};

/* Walks a property block in caller memory (borrowed; keep it alive). */
struct mqtt_prop_iter {
    struct gw_bytes rest;
};

void mqtt_prop_iter_init(struct mqtt_prop_iter *it, struct gw_bytes block);

/* Read the next property into *out. Returns 1 when one was read, 0 at the
 * end of the block, GW_E_MALFORMED for an unknown identifier, a value past
 * the block, a non-minimal or over-long varint, or a string that is not
 * valid MQTT UTF-8. Checks the data type only: use mqtt_props_validate for
 * the packet rules. After an error the iterator stays at the bad property. */
int mqtt_prop_iter_next(struct mqtt_prop_iter *it, struct mqtt_prop *out);

/* Data type of a property identifier; MQTT_PT_NONE if the id is unknown. */
enum mqtt_prop_type mqtt_prop_type_of(uint8_t id);

/* True if property id may appear in packet type (will: in the CONNECT will
 * properties, whatever type says). */
bool mqtt_prop_allowed(uint8_t id, enum mqtt_type type, bool will);

/* Validate a property block for packet type (will: the will properties of
 * a CONNECT). Every property must be well formed (as the iterator checks),
 * allowed in that packet, present at most once unless it may repeat (User
 * Property anywhere, Subscription Identifier in PUBLISH), and in range:
 * Payload Format Indicator, Request Problem / Response Information, Maximum
 * QoS and the four "available" flags 0 or 1; Receive Maximum, Maximum Packet
 * Size, Topic Alias and Subscription Identifier non-zero; Authentication Data
 * only with an Authentication Method. Returns 0; GW_E_MALFORMED for a badly
 * formed property or one not allowed in the packet (2.2.2.2); GW_E_PROTOCOL
 * for a value out of range, a repeat or Authentication Data alone, which
 * the spec calls a Protocol Error (DISCONNECT 0x82, not 0x81). */
int mqtt_props_validate(const struct gw_bytes *block, enum mqtt_type type, bool will);

/* True if the (valid) block holds property id. */
bool mqtt_props_has(struct gw_bytes block, uint8_t id);

/* Composes a property block in caller memory. Adding past the capacity sets
 * a sticky -ENOSPC and writes nothing more; mqtt_props_builder_size reports
 * it. The identifier's type must match the add function (asserted: the
 * input is trusted). */
struct mqtt_props_builder {
    uint8_t *p;
    size_t cap;
    size_t n;
    int err;
};

void mqtt_props_builder_init(struct mqtt_props_builder *b, uint8_t *buf, size_t cap);
void mqtt_props_add_u8(struct mqtt_props_builder *b, uint8_t id, uint8_t v);
void mqtt_props_add_u16(struct mqtt_props_builder *b, uint8_t id, uint16_t v);
void mqtt_props_add_u32(struct mqtt_props_builder *b, uint8_t id, uint32_t v);
void mqtt_props_add_varint(struct mqtt_props_builder *b, uint8_t id, uint32_t v);
void mqtt_props_add_str(struct mqtt_props_builder *b, uint8_t id, struct gw_bytes s);
void mqtt_props_add_bin(struct mqtt_props_builder *b, uint8_t id, struct gw_bytes s);
/* A User Property (the only string pair). */
void mqtt_props_add_pair(struct mqtt_props_builder *b, struct gw_bytes name, struct gw_bytes value);

/* Append every property of the (valid) block in to b, in order, except
 * those with id skip_a or skip_b (0 = none). */
void mqtt_props_copy_except(struct mqtt_props_builder *b, struct gw_bytes in, uint8_t skip_a,
                            uint8_t skip_b);

/* Bytes written so far, or -ENOSPC if an add did not fit. */
ssize_t mqtt_props_builder_size(const struct mqtt_props_builder *b);

/* The block written so far as a view (for mqtt_pkt props fields); empty
 * after -ENOSPC. */
struct gw_bytes mqtt_props_builder_bytes(const struct mqtt_props_builder *b);

/* Static name of a reason code ("success", "malformed packet", ...);
 * "unknown" for a value the spec does not define. Never NULL. */
const char *mqtt_rc_name(uint8_t rc);

/* True if rc is a reason code the sender of packet type may use (MQTT 5.0
 * sections 3.2.2.2, 3.4.2.1 ... 3.15.2.1); SUBACK and UNSUBACK check each
 * entry of their lists. */
bool mqtt_rc_valid(enum mqtt_type type, uint8_t rc);

/* ---- packet parts the codec reads and writes through this module ------- */

/* Read an MQTT 5 property block at p[0..n) (the rest of the packet body):
 * Property Length varint, at most four bytes and in its shortest form, then
 * that many bytes, validated with mqtt_props_validate. Returns the bytes
 * used and writes *block (the properties without their length), or
 * GW_E_MALFORMED (a block cut off by the packet's end included) or
 * GW_E_PROTOCOL as mqtt_props_validate says. */
ssize_t mqtt_props_decode(const uint8_t *p, size_t n, enum mqtt_type type, bool will,
                          struct gw_bytes *block);

/* Reason code and properties ending a v5 PUBACK, PUBREC, PUBREL, PUBCOMP,
 * DISCONNECT or AUTH. Either may be left out from the end (3.4.2.1,
 * 3.14.2.1), AUTH has both or neither (3.15.2.1); has_rc / has_props record
 * the form seen on the wire so a re-encoding is byte-identical. */
struct mqtt_rc_tail {
    uint8_t rc;
    bool has_rc;
    bool has_props;
    struct gw_bytes props;
};

/* Decode rest (all that follows the packet id, or the whole DISCONNECT /
 * AUTH body) into *t: reason code valid for type, properties valid, nothing
 * after them. Returns 0 or GW_E_MALFORMED; *t is written only on success. */
int mqtt_rc_tail_decode(struct gw_bytes rest, enum mqtt_type type, struct mqtt_rc_tail *t);

/* Bytes the tail takes on the wire: at least what has_rc / has_props say,
 * more if rc != 0 or props is not empty, otherwise the shortest form. */
size_t mqtt_rc_tail_size(const struct mqtt_rc_tail *t, enum mqtt_type type);

/* Write the tail to dst (mqtt_rc_tail_size bytes, trusted). Returns them. */
size_t mqtt_rc_tail_encode(uint8_t *dst, const struct mqtt_rc_tail *t, enum mqtt_type type);

/* Check a v5 SUBACK / UNSUBACK reason-code list: at least one code, each
 * one the packet may carry (3.9.3, 3.11.3). Returns 0 or GW_E_MALFORMED. */
int mqtt_rc_list_validate(struct gw_bytes rcs, enum mqtt_type type);

/* Validate a SUBSCRIBE (with_options) or UNSUBSCRIBE topic list for
 * protocol level 5 (v5) or 3.1 / 3.1.1: at least one filter, each a
 * non-empty valid UTF-8 string; SUBSCRIBE options with QoS 0..2, 3.1.1
 * reserved bits 2-7 zero, or 5.0 bits 6-7 zero and Retain Handling 0..2.
 * Returns 0 or GW_E_MALFORMED. Used by mqtt_decode. */
int mqtt_topic_list_validate(struct gw_bytes list, bool with_options, bool v5);

/* Decode a Variable Byte Integer at p[0..n). Returns the bytes read (1..4)
 * and writes *value; GW_E_INCOMPLETE if p ends inside it; GW_E_MALFORMED if
 * it runs over four bytes or is not in its shortest form [MQTT-1.5.5-1]. */
ssize_t mqtt_varint_decode(const uint8_t *p, size_t n, uint32_t *value);

#endif
