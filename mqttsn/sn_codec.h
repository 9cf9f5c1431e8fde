/* sn_codec.h - pure MQTT-SN 1.2 message codec (L0).
 *
 * Bytes in, struct out; struct in, bytes out. No sockets, no globals, no
 * logging, no allocation. Strings and payloads in a decoded message are views
 * into the caller's datagram (see gw_bytes.h): they die with that buffer.
 *
 * One datagram (or one serial frame, after sn_frame) is exactly one message
 * (MQTT-SN 1.2 §5.2), so the decoder takes the whole datagram: the declared
 * Length must equal the datagram length. Missing bytes (truncation) and extra
 * bytes are both GW_E_MALFORMED; there is no GW_E_INCOMPLETE here.
 *
 * Length field (§5.2.1): one octet 0x02..0xFF, or 0x01 then a big-endian
 * 16-bit total length. The decoder accepts the 3-octet form for any total
 * length >= 4 (header plus MsgType; the spec says shorter messages "may" use
 * the 1-octet form); the encoder uses the 3-octet form only when the total is
 * 256 or more, so a decoded 3-octet short message re-encodes 2 bytes shorter.
 * A first octet of 0x00 is malformed.
 *
 * What the decoder rejects (GW_E_MALFORMED; the gateway drops the datagram):
 * - a length that does not match the datagram, or a body of the wrong size
 *   for the message type; an unknown or reserved MsgType (0x03, 0x11, 0x19,
 *   0x1E..0xFD, 0xFF);
 * - a ReturnCode over 0x03 (0x04..0xFF are reserved, §5.3.10);
 * - TopicIdType 0b11 (reserved) in PUBLISH, SUBSCRIBE and UNSUBSCRIBE, the
 *   only messages that use it; other flag bits are carried as they are;
 * - QoS 0b11 (QoS -1) in SUBSCRIBE, SUBACK, WILLTOPIC and WILLTOPICUPD,
 *   where it would name a QoS those messages cannot have (it is valid only
 *   in PUBLISH, §6.8; messages that ignore QoS carry the bits as they are);
 * - CONNECT with ProtocolId other than 0x01 (§5.3.8), or a ClientId not
 *   1..23 octets (§5.3.1); a PINGREQ ClientId over 23 octets;
 * - SUBSCRIBE / UNSUBSCRIBE with a topic id (type 1) or short name (type 2)
 *   field not exactly 2 octets, or an empty topic name (type 0);
 * - REGISTER with an empty topic name, or '+' / '#' in it (a REGISTER names
 *   a concrete topic, §6.5/§6.10);
 * - a WILLTOPIC / WILLTOPICUPD with Flags but an empty WillTopic (3 octets):
 *   only the 2-octet empty form (no Flags) deletes the will (§5.4.7, §5.4.22);
 * - DISCONNECT with a body other than none or a 2-octet Duration;
 * - an Encapsulated Message whose Ctrl reserved bits 7..2 are set, whose
 *   Length is < 3 or runs past the datagram, that carries no inner message or
 *   whose inner message is itself encapsulated.
 *
 * What it leaves to the gateway (protocol rules, not syntax): QoS -1 with a
 * normal topic id (§6.8 allows only predefined ids and short names, but
 * whether a connected client may use a registered id is the gateway's policy);
 * MsgId 0 (the spec gives no rule; QoS 0 / -1 PUBLISH carry 0x0000); UTF-8
 * validity and wildcard rules of topic names in SUBSCRIBE, UNSUBSCRIBE,
 * WILLTOPIC (use topic.h); which side may send which message. */
#ifndef SN_CODEC_H
#define SN_CODEC_H

#include "gw_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* MsgType values, MQTT-SN 1.2 §5.2.2 Table 3. */
enum sn_type {
    SN_ADVERTISE = 0x00,
    SN_SEARCHGW = 0x01,
    SN_GWINFO = 0x02,
    SN_CONNECT = 0x04,
    SN_CONNACK = 0x05,
    SN_WILLTOPICREQ = 0x06,
    SN_WILLTOPIC = 0x07,
    SN_WILLMSGREQ = 0x08,
    SN_WILLMSG = 0x09,
    SN_REGISTER = 0x0A,
    SN_REGACK = 0x0B,
    SN_PUBLISH = 0x0C,
    SN_PUBACK = 0x0D,
    SN_PUBCOMP = 0x0E,
    SN_PUBREC = 0x0F,
    SN_PUBREL = 0x10,
    SN_SUBSCRIBE = 0x12,
    SN_SUBACK = 0x13,
    SN_UNSUBSCRIBE = 0x14,
    SN_UNSUBACK = 0x15,
    SN_PINGREQ = 0x16,
    SN_PINGRESP = 0x17,
    SN_DISCONNECT = 0x18,
    SN_WILLTOPICUPD = 0x1A,
    SN_WILLTOPICRESP = 0x1B,
    SN_WILLMSGUPD = 0x1C,
    SN_WILLMSGRESP = 0x1D,
    SN_ENCAPSULATED = 0xFE
};

/* ReturnCode values, §5.3.10. 0x04..0xFF are reserved (malformed). */
enum sn_rc {
    SN_RC_ACCEPTED = 0x00,
    SN_RC_CONGESTION = 0x01,
    SN_RC_INVALID_TOPIC_ID = 0x02,
    SN_RC_NOT_SUPPORTED = 0x03
};

/* TopicIdType values, §5.3.4 (0b11 is reserved). */
enum sn_topic_type {
    SN_TOPIC_NORMAL = 0,     /* topic id from REGISTER, or a topic name in SUBSCRIBE */
    SN_TOPIC_PREDEFINED = 1, /* pre-defined topic id */
    SN_TOPIC_SHORT = 2       /* two-character short topic name */
};

#define SN_MAX_LEN        65535u /* largest total message length, §5.2.1 */
#define SN_CLIENT_ID_MAX  23u    /* ClientId is 1..23 octets, §5.3.1 */
#define SN_ENCAP_NODE_MAX 252u   /* encapsulation Length is one octet, §5.5 */
#define SN_RADIUS_MAX     3u     /* Ctrl bits 1..0 */

/* The Flags octet, §5.3.4: DUP bit 7, QoS bits 6..5, Retain bit 4, Will
 * bit 3, CleanSession bit 2, TopicIdType bits 1..0. Every bit is carried
 * whatever the message uses, so a decoded Flags octet re-encodes unchanged. */
struct sn_flags {
    bool dup;
    int8_t qos; /* 0, 1, 2, or -1 (encoded 0b11) */
    bool retain;
    bool will;
    bool clean;
    uint8_t topic_type; /* enum sn_topic_type; 0..2 in a decoded message */
};

struct sn_advertise {
    uint8_t gw_id;
    uint16_t duration_s; /* time until the next ADVERTISE */
};

struct sn_gwinfo {
    uint8_t gw_id;
    struct gw_bytes gw_addr; /* empty when sent by a gateway, §5.4.3 */
};

struct sn_connect {
    struct sn_flags flags;     /* will, clean used; ProtocolId is always 0x01 */
    uint16_t duration_s;       /* keep-alive */
    struct gw_bytes client_id; /* 1..23 octets */
};

/* WILLTOPIC and WILLTOPICUPD. topic.n == 0 is the 2-octet empty form (no
 * Flags octet) that deletes the will; flags is then all zero. */
struct sn_will_topic {
    struct sn_flags flags; /* qos (0..2), retain used */
    struct gw_bytes topic;
};

/* REGISTER: topic_id is 0x0000 from a client, the assigned id from a gateway. */
struct sn_register {
    uint16_t topic_id;
    uint16_t msg_id;
    struct gw_bytes topic; /* non-empty, no wildcards */
};

/* REGACK and PUBACK. */
struct sn_topic_ack {
    uint16_t topic_id;
    uint16_t msg_id;
    uint8_t rc; /* enum sn_rc */
};

/* PUBLISH. The TopicId field holds topic_id for types NORMAL and PREDEFINED
 * and the two characters of short_name for type SHORT (§5.3.11); the field
 * that does not apply is zero after decoding and ignored by the encoder. */
struct sn_publish {
    struct sn_flags flags; /* dup, qos (-1..2), retain, topic_type */
    uint16_t topic_id;
    uint8_t short_name[2];
    uint16_t msg_id; /* 0x0000 for QoS 0 and -1 by convention */
    struct gw_bytes data;
};

/* SUBSCRIBE and UNSUBSCRIBE. flags.topic_type says which field is used:
 * NORMAL -> topic_name (non-empty, may hold wildcards), PREDEFINED ->
 * topic_id, SHORT -> short_name; the others are zero after decoding and
 * ignored by the encoder. UNSUBSCRIBE uses no flag but topic_type. */
struct sn_subscribe {
    struct sn_flags flags; /* dup, qos (0..2), topic_type */
    uint16_t msg_id;
    uint16_t topic_id;
    uint8_t short_name[2];
    struct gw_bytes topic_name;
};

struct sn_suback {
    struct sn_flags flags; /* granted qos (0..2) */
    uint16_t topic_id;
    uint16_t msg_id;
    uint8_t rc; /* enum sn_rc */
};

struct sn_disconnect {
    bool has_duration; /* a DISCONNECT with Duration asks to sleep, §6.14 */
    uint16_t duration_s;
};

/* Encapsulated Message header, §5.5: Ctrl (radius), Wireless Node Id, then
 * the encapsulated MQTT-SN message as raw bytes (decode it with sn_decode). */
struct sn_encap {
    uint8_t radius;          /* 0..3, Ctrl bits 1..0 (gateway to forwarder) */
    struct gw_bytes node_id; /* 0..252 octets, opaque */
    struct gw_bytes inner;   /* the whole inner message, length field included */
};

/* One decoded message: a tagged union. */
struct sn_msg {
    enum sn_type type;

    union {
        struct sn_advertise advertise;   /* ADVERTISE */
        uint8_t radius;                  /* SEARCHGW */
        struct sn_gwinfo gwinfo;         /* GWINFO */
        struct sn_connect connect;       /* CONNECT */
        uint8_t rc;                      /* CONNACK WILLTOPICRESP WILLMSGRESP */
        struct sn_will_topic will_topic; /* WILLTOPIC WILLTOPICUPD */
        struct gw_bytes will_msg;        /* WILLMSG WILLMSGUPD (may be empty) */
        struct sn_register reg;          /* REGISTER */
        struct sn_topic_ack topic_ack;   /* REGACK PUBACK */
        struct sn_publish publish;       /* PUBLISH */
        uint16_t msg_id;                 /* PUBCOMP PUBREC PUBREL UNSUBACK */
        struct sn_subscribe subscribe;   /* SUBSCRIBE UNSUBSCRIBE */
        struct sn_suback suback;         /* SUBACK */
        struct gw_bytes client_id;       /* PINGREQ (empty when absent) */
        struct sn_disconnect disconnect; /* DISCONNECT */
        struct sn_encap encap;           /* ENCAPSULATED */
    } u;

    /* WILLTOPICREQ, WILLMSGREQ and PINGRESP have no body. */
};

/* Decode one datagram buf[0..len) as one MQTT-SN message.
 * buf is borrowed; the views in *out point into it. Returns len (> 0) and
 * fills *out, or GW_E_MALFORMED for any datagram the spec (or the list at the
 * top of this file) calls malformed, including a declared length that
 * differs from len. For SN_ENCAPSULATED only the encapsulation is checked
 * (and that the inner message has a well-formed length that fills the rest
 * of the datagram); decode out->u.encap.inner with sn_decode, or use
 * sn_decode_encap. *out is written only on success. Any context. */
ssize_t sn_decode(const uint8_t *buf, size_t len, struct sn_msg *out);

/* Decode an Encapsulated Message datagram and the message inside it.
 * Returns 0 and fills *encap and *inner (views into buf), or GW_E_MALFORMED
 * if buf is not a well-formed Encapsulated Message or the inner message is
 * malformed. Outputs are written only on success. */
int sn_decode_encap(const uint8_t *buf, size_t len, struct sn_encap *encap, struct sn_msg *inner);

/* Total encoded size of m, length field included. The caller checks it
 * against SN_MAX_LEN (and its transport's MTU) before sn_encode: a message
 * over SN_MAX_LEN cannot be encoded. */
size_t sn_encoded_size(const struct sn_msg *m);

/* Encode m into dst[0..cap). The input is trusted; these are asserted:
 * cap >= sn_encoded_size(m), that size <= SN_MAX_LEN, qos in -1..2,
 * topic_type 0..2 where the message uses it, return codes <= 0x03, a CONNECT
 * ClientId of 1..23 octets, a PINGREQ ClientId of at most 23, non-empty
 * REGISTER and SUBSCRIBE / UNSUBSCRIBE topic names. Other decoder rules
 * (wildcards in REGISTER, QoS -1 outside PUBLISH) are the caller's to keep.
 * Returns the bytes written. SN_ENCAPSULATED copies u.encap.inner verbatim
 * (node id <= SN_ENCAP_NODE_MAX octets, radius <= SN_RADIUS_MAX). */
size_t sn_encode(uint8_t *dst, size_t cap, const struct sn_msg *m);

/* Size of the encapsulation of inner with a node id of node_id_len octets. */
size_t sn_encap_encoded_size(size_t node_id_len, const struct sn_msg *inner);

/* Encode an Encapsulated Message: Ctrl with radius (<= SN_RADIUS_MAX), the
 * node id (<= SN_ENCAP_NODE_MAX octets, borrowed) and inner encoded after it.
 * Asserts cap >= sn_encap_encoded_size(). Returns the bytes written. */
size_t sn_encode_encap(uint8_t *dst, size_t cap, uint8_t radius, struct gw_bytes node_id,
                       const struct sn_msg *inner);

/* Name of a message type ("PUBLISH"), or "UNKNOWN". Static string. */
const char *sn_type_name(enum sn_type t);

/* Name of a return code ("accepted", ...), or "reserved". Static string. */
const char *sn_rc_name(uint8_t rc);

#endif
