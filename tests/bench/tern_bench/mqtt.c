/* mqtt.c - tern_bench's byte buffers and its few MQTT 3.1.1 encoders and
 * decoder: only what the generator sends and parses. */
#include <stdlib.h>
#include <string.h>

#include "tern_bench.h"

/* Make room for n more bytes at p + len; returns that pointer. */
uint8_t *bbuf_reserve(struct bbuf *b, size_t n)
{
    if (b->cap - b->len >= n) {
        return b->p + b->len;
    }
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            die("out of memory");
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}


static size_t varint_len(size_t v)
{
    if (v < 128) {
        return 1;
    }
    if (v < 16384) {
        return 2;
    }
    return v < 2097152 ? 3 : 4;
}

static uint8_t *put_header(uint8_t *p, unsigned type_flags, size_t rem)
{
    *p++ = (uint8_t)type_flags;
    do {
        uint8_t d = (uint8_t)(rem & 0x7fu);
        rem >>= 7;
        if (rem > 0) {
            d = (uint8_t)(d | 0x80u);
        }
        *p++ = d;
    } while (rem > 0);
    return p;
}

static uint8_t *put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
    p = put_u16(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* Each encoder appends one packet to b and returns the bytes appended. */
size_t enc_connect(struct bbuf *b, const char *client_id, unsigned keepalive_s, bool clean)
{
    size_t idlen = strlen(client_id);
    size_t rem = 10 + 2 + idlen;
    uint8_t *start = bbuf_reserve(b, 1 + varint_len(rem) + rem);
    uint8_t *p = put_header(start, 0x10, rem);
    p = put_str(p, "MQTT", 4);
    *p++ = 4;    /* protocol level 3.1.1 */
    *p++ = clean ? 0x02 : 0x00; /* clean session or not; no will, no credentials */
    p = put_u16(p, keepalive_s);
    p = put_str(p, client_id, idlen);
    b->len += (size_t)(p - start);
    return (size_t)(p - start);
}

size_t enc_subscribe(struct bbuf *b, uint16_t id, const char *filter, unsigned qos)
{
    size_t flen = strlen(filter);
    size_t rem = 2 + 2 + flen + 1;
    uint8_t *start = bbuf_reserve(b, 1 + varint_len(rem) + rem);
    uint8_t *p = put_header(start, 0x82, rem);
    p = put_u16(p, id);
    p = put_str(p, filter, flen);
    *p++ = (uint8_t)qos;
    b->len += (size_t)(p - start);
    return (size_t)(p - start);
}

size_t enc_publish(struct bbuf *b, const char *topic, unsigned qos, uint16_t id,
                   const uint8_t *payload, size_t plen)
{
    size_t tlen = strlen(topic);
    size_t rem = 2 + tlen + (qos > 0 ? 2 : 0) + plen;
    uint8_t *start = bbuf_reserve(b, 1 + varint_len(rem) + rem);
    uint8_t *p = put_header(start, 0x30u | (qos << 1), rem);
    p = put_str(p, topic, tlen);
    if (qos > 0) {
        p = put_u16(p, id);
    }
    memcpy(p, payload, plen);
    p += plen;
    b->len += (size_t)(p - start);
    return (size_t)(p - start);
}

/* PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70, DISCONNECT 0xe0 (no id). */
void enc_short(struct bbuf *b, unsigned type_flags, int id)
{
    uint8_t *p = bbuf_reserve(b, 4);
    p[0] = (uint8_t)type_flags;
    if (id < 0) {
        p[1] = 0;
        b->len += 2;
        return;
    }
    p[1] = 2;
    put_u16(p + 2, (size_t)id);
    b->len += 4;
}

/* Decode the fixed header at p[0..n). Returns header length, 0 if incomplete,
 * -1 if the remaining length is malformed (more than 4 bytes). */
int dec_header(const uint8_t *p, size_t n, size_t *rem)
{
    size_t v = 0;
    unsigned shift = 0;
    for (size_t i = 1; i < n && i <= 4; i++) {
        v |= (size_t)(p[i] & 0x7fu) << shift;
        if ((p[i] & 0x80u) == 0) {
            *rem = v;
            return (int)i + 1;
        }
        shift += 7;
    }
    return n >= 5 ? -1 : 0;
}
