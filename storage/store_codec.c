/* store_codec.c - the store's record layouts (store_schema.h) as pure
 * functions. Decoders accept exactly one canonical encoding per record. */
#include "store_codec.h"

#include "gw_err.h"
#include "store_schema.h"

#include <assert.h>
#include <string.h>

#define MSG_FLAG_RETAIN 0x01u

void store_id_encode(uint8_t out[STORE_ID_LEN], uint64_t id)
{
    gw_put_be64(out, id);
}

int store_id_decode(const uint8_t *p, size_t n, uint64_t *id)
{
    if (n != STORE_ID_LEN) {
        return GW_E_MALFORMED;
    }
    *id = gw_be64(p);
    return 0;
}

void store_qkey_encode(uint8_t out[STORE_QKEY_LEN], uint64_t owner, uint64_t seq)
{
    gw_put_be64(out, owner);
    gw_put_be64(out + 8, seq);
}

int store_qkey_decode(const uint8_t *p, size_t n, uint64_t *owner, uint64_t *seq)
{
    if (n != STORE_QKEY_LEN) {
        return GW_E_MALFORMED;
    }
    *owner = gw_be64(p);
    *seq = gw_be64(p + 8);
    return 0;
}

void store_ifkey_encode(uint8_t out[STORE_IFKEY_LEN], uint64_t owner, uint8_t dir, uint16_t pid)
{
    gw_put_be64(out, owner);
    out[8] = dir;
    gw_put_be16(out + 9, pid);
}

int store_ifkey_decode(const uint8_t *p, size_t n, uint64_t *owner, uint8_t *dir, uint16_t *pid)
{
    if (n != STORE_IFKEY_LEN || p[8] > STORE_IN) {
        return GW_E_MALFORMED;
    }
    *owner = gw_be64(p);
    *dir = p[8];
    *pid = gw_be16(p + 9);
    return 0;
}

size_t store_subkey_size(struct gw_bytes filter)
{
    return 8 + filter.n;
}

size_t store_subkey_encode(uint8_t *dst, size_t cap, uint64_t owner, struct gw_bytes filter)
{
    size_t n = store_subkey_size(filter);
    assert(cap >= n);
    gw_put_be64(dst, owner);
    if (filter.n) {
        memcpy(dst + 8, filter.p, filter.n);
    }
    return n;
}

int store_subkey_decode(const uint8_t *p, size_t n, uint64_t *owner, struct gw_bytes *filter)
{
    if (n < 9 || n > STORE_KEY_MAX) {
        return GW_E_MALFORMED;
    }
    *owner = gw_be64(p);
    filter->p = p + 8;
    filter->n = n - 8;
    return 0;
}

size_t store_msg_size(const struct store_msg *m)
{
    return STORE_MSG_HDR + m->topic.n + m->payload.n + m->props.n;
}

static uint8_t *put_bytes(uint8_t *dst, struct gw_bytes b)
{
    if (b.n) {
        memcpy(dst, b.p, b.n);
    }
    return dst + b.n;
}

size_t store_msg_encode(uint8_t *dst, size_t cap, const struct store_msg *m)
{
    size_t n = store_msg_size(m);
    assert(cap >= n);
    assert(m->topic.n <= STORE_TOPIC_MAX && m->payload.n <= STORE_BLOB_MAX);
    assert(m->props.n <= STORE_BLOB_MAX && m->qos <= 2);
    dst[0] = m->qos;
    dst[1] = m->retain ? MSG_FLAG_RETAIN : 0;
    gw_put_be64(dst + 2, m->expiry_s);
    gw_put_be64(dst + 10, m->created_s);
    gw_put_be16(dst + 18, (uint16_t)m->topic.n);
    gw_put_be32(dst + 20, (uint32_t)m->payload.n);
    gw_put_be32(dst + 24, (uint32_t)m->props.n);
    uint8_t *w = dst + STORE_MSG_HDR;
    w = put_bytes(w, m->topic);
    w = put_bytes(w, m->payload);
    put_bytes(w, m->props);
    return n;
}

/* Take len bytes from *p / *rest as a view; false when fewer are left. */
static int take(const uint8_t **p, size_t *rest, size_t len, struct gw_bytes *out)
{
    if (*rest < len) {
        return 0;
    }
    out->p = *p;
    out->n = len;
    *p += len;
    *rest -= len;
    return 1;
}

int store_msg_decode(const uint8_t *p, size_t n, uint64_t id, struct store_msg *out)
{
    if (n < STORE_MSG_HDR || p[0] > 2 || (p[1] & ~MSG_FLAG_RETAIN) != 0) {
        return GW_E_MALFORMED;
    }
    struct store_msg m;
    m.id = id;
    m.qos = p[0];
    m.retain = (p[1] & MSG_FLAG_RETAIN) != 0;
    m.expiry_s = gw_be64(p + 2);
    m.created_s = gw_be64(p + 10);
    size_t tlen = gw_be16(p + 18);
    size_t plen = gw_be32(p + 20);
    size_t xlen = gw_be32(p + 24);
    const uint8_t *r = p + STORE_MSG_HDR;
    size_t rest = n - STORE_MSG_HDR;
    if (!take(&r, &rest, tlen, &m.topic) || !take(&r, &rest, plen, &m.payload) ||
        !take(&r, &rest, xlen, &m.props) || rest != 0) {
        return GW_E_MALFORMED;
    }
    *out = m;
    return 0;
}

void store_qval_encode(uint8_t out[STORE_QVAL_LEN], const struct store_qentry *e)
{
    assert(e->qos <= 2);
    gw_put_be64(out, e->msg_id);
    out[8] = e->qos;
    out[9] = e->flags;
}

int store_qval_decode(const uint8_t *p, size_t n, struct store_qentry *out)
{
    if (n != STORE_QVAL_LEN || p[8] > 2) {
        return GW_E_MALFORMED;
    }
    out->msg_id = gw_be64(p);
    out->qos = p[8];
    out->flags = p[9];
    return 0;
}

void store_ifval_encode(uint8_t out[STORE_IFVAL_LEN], const struct store_inflight *f)
{
    assert(f->qos <= 2);
    out[0] = f->qos;
    out[1] = f->state;
    gw_put_be64(out + 2, f->msg_id);
    gw_put_be64(out + 10, f->seq);
}

int store_ifval_decode(const uint8_t *p, size_t n, struct store_inflight *out)
{
    if (n != STORE_IFVAL_LEN || p[0] > 2) {
        return GW_E_MALFORMED;
    }
    out->qos = p[0];
    out->state = p[1];
    out->msg_id = gw_be64(p + 2);
    out->seq = gw_be64(p + 10);
    return 0;
}

size_t store_session_size(const struct store_session *ss)
{
    return STORE_SESS_HDR + ss->client_id.n + ss->extra.n;
}

size_t store_session_encode(uint8_t *dst, size_t cap, const struct store_session *ss)
{
    size_t n = store_session_size(ss);
    assert(cap >= n);
    assert(ss->client_id.n <= STORE_CLIENT_ID_MAX && ss->extra.n <= STORE_BLOB_MAX);
    dst[0] = ss->protocol;
    gw_put_be32(dst + 1, ss->expiry_s);
    gw_put_be64(dst + 5, ss->disconnected_s);
    gw_put_be16(dst + 13, ss->next_pid);
    gw_put_be16(dst + 15, (uint16_t)ss->client_id.n);
    gw_put_be32(dst + 17, (uint32_t)ss->extra.n);
    uint8_t *w = put_bytes(dst + STORE_SESS_HDR, ss->client_id);
    put_bytes(w, ss->extra);
    return n;
}

int store_session_decode(const uint8_t *p, size_t n, uint64_t owner, struct store_session *out)
{
    if (n < STORE_SESS_HDR) {
        return GW_E_MALFORMED;
    }
    struct store_session ss;
    ss.owner = owner;
    ss.protocol = p[0];
    ss.expiry_s = gw_be32(p + 1);
    ss.disconnected_s = gw_be64(p + 5);
    ss.next_pid = gw_be16(p + 13);
    size_t clen = gw_be16(p + 15);
    size_t xlen = gw_be32(p + 17);
    const uint8_t *r = p + STORE_SESS_HDR;
    size_t rest = n - STORE_SESS_HDR;
    if (!take(&r, &rest, clen, &ss.client_id) || !take(&r, &rest, xlen, &ss.extra) || rest != 0) {
        return GW_E_MALFORMED;
    }
    *out = ss;
    return 0;
}

void store_subval_encode(uint8_t out[STORE_SUBVAL_LEN], const struct store_sub *sub)
{
    assert(sub->qos <= 2);
    out[0] = sub->qos;
    out[1] = sub->options;
    gw_put_be32(out + 2, sub->sub_id);
}

int store_subval_decode(const uint8_t *p, size_t n, struct store_sub *out)
{
    if (n != STORE_SUBVAL_LEN || p[0] > 2) {
        return GW_E_MALFORMED;
    }
    out->qos = p[0];
    out->options = p[1];
    out->sub_id = gw_be32(p + 2);
    return 0;
}

void store_ref_encode(uint8_t out[STORE_REFVAL_LEN], uint32_t count)
{
    gw_put_be32(out, count);
}

int store_ref_decode(const uint8_t *p, size_t n, uint32_t *count)
{
    if (n != STORE_REFVAL_LEN) {
        return GW_E_MALFORMED;
    }
    *count = gw_be32(p);
    return 0;
}

void store_u64_encode(uint8_t out[STORE_COUNT_LEN], uint64_t v)
{
    gw_put_be64(out, v);
}

int store_u64_decode(const uint8_t *p, size_t n, uint64_t *v)
{
    if (n != STORE_COUNT_LEN) {
        return GW_E_MALFORMED;
    }
    *v = gw_be64(p);
    return 0;
}

void store_version_encode(uint8_t out[STORE_VERSION_LEN], uint32_t version)
{
    static const uint8_t magic[4] = {'T', 'E', 'R', 'N'}; /* STORE_MAGIC */
    memcpy(out, magic, sizeof magic);
    gw_put_be32(out + 4, version);
}

int store_version_decode(const uint8_t *p, size_t n, uint32_t *version)
{
    if (n != STORE_VERSION_LEN || memcmp(p, STORE_MAGIC, 4) != 0) {
        return GW_E_MALFORMED;
    }
    *version = gw_be32(p + 4);
    return 0;
}

void store_ids_encode(uint8_t out[STORE_IDS_LEN], uint64_t max_msg_id, uint64_t max_owner)
{
    gw_put_be64(out, max_msg_id);
    gw_put_be64(out + 8, max_owner);
}

int store_ids_decode(const uint8_t *p, size_t n, uint64_t *max_msg_id, uint64_t *max_owner)
{
    if (n != STORE_IDS_LEN) {
        return GW_E_MALFORMED;
    }
    *max_msg_id = gw_be64(p);
    *max_owner = gw_be64(p + 8);
    return 0;
}
