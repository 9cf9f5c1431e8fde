/* gw_bytes.h - byte views and big-endian helpers (L0: no allocation).
 *
 * A struct gw_bytes is a view into somebody else's buffer: it dies when that
 * buffer is compacted or the callback that handed it over returns. Copy what
 * you keep. */
#ifndef GW_BYTES_H
#define GW_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct gw_bytes {
    const uint8_t *p;
    size_t n;
};

static inline struct gw_bytes gw_bytes_str(const char *s)
{
    struct gw_bytes b = {(const uint8_t *)s, s ? strlen(s) : 0};
    return b;
}

static inline int gw_bytes_eq(struct gw_bytes a, struct gw_bytes b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline uint16_t gw_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)(p[0] << 8) | p[1]);
}

static inline uint32_t gw_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t gw_be64(const uint8_t *p)
{
    return ((uint64_t)gw_be32(p) << 32) | gw_be32(p + 4);
}

static inline void gw_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void gw_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void gw_put_be64(uint8_t *p, uint64_t v)
{
    gw_put_be32(p, (uint32_t)(v >> 32));
    gw_put_be32(p + 4, (uint32_t)v);
}

#endif
