/* store_journal_codec.c - the commit journal's framing, see
 * store_journal_codec.h. */
#include "store_journal_codec.h"

#include "gw_err.h"
#include "store_codec.h"
#include "store_schema.h"

#include <string.h>

/* CRC-32 (reflected 0xEDB88320) of each byte value, a byte at a time: the
 * writer computes it over every record, so a bit-at-a-time loop cost
 * about a fifth of a core at 100k messages/s. */
static const uint32_t crc_table[256] = {
        0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu, 0xE963A535u,
        0x9E6495A3u, 0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u, 0x09B64C2Bu, 0x7EB17CBDu,
        0xE7B82D07u, 0x90BF1D91u, 0x1DB71064u, 0x6AB020F2u, 0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du,
        0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u, 0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu,
        0x14015C4Fu, 0x63066CD9u, 0xFA0F3D63u, 0x8D080DF5u, 0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u,
        0xA2677172u, 0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu, 0x35B5A8FAu, 0x42B2986Cu,
        0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u, 0x26D930ACu,
        0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u, 0xCFBA9599u, 0xB8BDA50Fu,
        0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u, 0x2F6F7C87u, 0x58684C11u, 0xC1611DABu,
        0xB6662D3Du, 0x76DC4190u, 0x01DB7106u, 0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu,
        0x9FBFE4A5u, 0xE8B8D433u, 0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu,
        0x086D3D2Du, 0x91646C97u, 0xE6635C01u, 0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu,
        0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u, 0x65B0D9C6u, 0x12B7E950u, 0x8BBEB8EAu,
        0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u, 0x4DB26158u, 0x3AB551CEu,
        0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u, 0xA4D1C46Du, 0xD3D6F4FBu, 0x4369E96Au,
        0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u, 0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u,
        0x5005713Cu, 0x270241AAu, 0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u,
        0xCE61E49Fu, 0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u,
        0xB7BD5C3Bu, 0xC0BA6CADu, 0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au, 0xEAD54739u,
        0x9DD277AFu, 0x04DB2615u, 0x73DC1683u, 0xE3630B12u, 0x94643B84u, 0x0D6D6A3Eu, 0x7A6A5AA8u,
        0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u, 0xF00F9344u, 0x8708A3D2u, 0x1E01F268u,
        0x6906C2FEu, 0xF762575Du, 0x806567CBu, 0x196C3671u, 0x6E6B06E7u, 0xFED41B76u, 0x89D32BE0u,
        0x10DA7A5Au, 0x67DD4ACCu, 0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u, 0xD6D6A3E8u,
        0xA1D1937Eu, 0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
        0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u, 0x316E8EEFu,
        0x4669BE79u, 0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u, 0xCC0C7795u, 0xBB0B4703u,
        0x220216B9u, 0x5505262Fu, 0xC5BA3BBEu, 0xB2BD0B28u, 0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u,
        0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du, 0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au,
        0x9C0906A9u, 0xEB0E363Fu, 0x72076785u, 0x05005713u, 0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu,
        0x0CB61B38u, 0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u, 0x86D3D2D4u, 0xF1D4E242u,
        0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u, 0x88085AE6u,
        0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u, 0x616BFFD3u, 0x166CCF45u,
        0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u, 0xA7672661u, 0xD06016F7u, 0x4969474Du,
        0x3E6E77DBu, 0xAED16A4Au, 0xD9D65ADCu, 0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u,
        0x47B2CF7Fu, 0x30B5FFE9u, 0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u,
        0xCDD70693u, 0x54DE5729u, 0x23D967BFu, 0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u,
        0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du,
};

uint32_t store_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    }
    return ~crc;
}

uint32_t store_jrec_put_hdr(uint8_t out[STORE_JREC_HDR], uint64_t seq, uint32_t payload_len)
{
    gw_put_be32(out, STORE_JREC_MAGIC);
    gw_put_be64(out + 4, seq);
    gw_put_be32(out + 12, payload_len);
    return store_crc32(0, out + 4, 12);
}

void store_jrec_put_crc(uint8_t out[4], uint32_t crc)
{
    gw_put_be32(out, crc);
}

ssize_t store_jrec_decode(const uint8_t *buf, size_t len, uint64_t *seq, struct gw_bytes *payload,
                          unsigned *version)
{
    if (len < 4) {
        return GW_E_INCOMPLETE;
    }
    uint32_t magic = gw_be32(buf);
    if (magic != STORE_JREC_MAGIC && magic != STORE_JREC_MAGIC_V1) {
        return GW_E_MALFORMED;
    }
    if (len < STORE_JREC_HDR) {
        return GW_E_INCOMPLETE;
    }
    uint32_t plen = gw_be32(buf + 12);
    if (plen > STORE_JREC_MAX) {
        return GW_E_MALFORMED;
    }
    size_t total = (size_t)plen + STORE_JREC_OVER;
    if (len < total) {
        return GW_E_INCOMPLETE;
    }
    uint32_t crc = store_crc32(0, buf + 4, 12u + plen);
    if (crc != gw_be32(buf + STORE_JREC_HDR + plen)) {
        return GW_E_MALFORMED;
    }
    *seq = gw_be64(buf + 4);
    payload->p = buf + STORE_JREC_HDR;
    payload->n = plen;
    *version = magic == STORE_JREC_MAGIC ? 2u : 1u;
    return (ssize_t)total;
}

static uint64_t pages_spanned(uint64_t off, size_t n)
{
    uint64_t first = off / STORE_JREC_ALIGN;
    uint64_t last = (off + n + STORE_JREC_ALIGN - 1) / STORE_JREC_ALIGN;
    return last - first;
}

uint64_t store_jrec_place(uint64_t off, size_t n)
{
    uint64_t in_page = off % STORE_JREC_ALIGN;
    if (in_page == 0) {
        return off;
    }
    uint64_t next = off - in_page + STORE_JREC_ALIGN;
    /* Appending rewrites the page off is in; at the next boundary the
     * record dirties ceil(n / page) pages and no more. Same count: append,
     * and keep the journal's room. */
    return pages_spanned(next, n) < pages_spanned(off, n) ? next : off;
}

/* ---- varints ---- */

size_t store_jvar_put(uint8_t *out, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80u) {
        out[i++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

size_t store_jvar_get(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        uint64_t b = p[i] & 0x7Fu;
        if (i == 9 && b > 1) {
            return 0; /* past 64 bits */
        }
        x |= b << (7 * i);
        if ((p[i] & 0x80u) == 0) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

static uint64_t zigzag(uint64_t value, uint64_t base)
{
    uint64_t d = value - base; /* modulo 2^64: any pair has a delta */
    return (d << 1) ^ (0 - (d >> 63));
}

static uint64_t unzigzag(uint64_t z, uint64_t base)
{
    return base + ((z >> 1) ^ (0 - (z & 1u)));
}

/* ---- ops ---- */

/* enum store_op_type (store_priv.h) values that have a compact form;
 * store_journal.c checks they match. */
enum {
    JT_MSG_PUT = 1,
    JT_QUEUE_ADD = 2,
    JT_QUEUE_DEL = 3,
    JT_INFLIGHT_PUT = 5,
    JT_INFLIGHT_DEL = 6,
};

struct wr {
    uint8_t *p;
    size_t n;
};

static void put_var(struct wr *w, uint64_t v)
{
    w->n += store_jvar_put(w->p + w->n, v);
}

static void put_u8(struct wr *w, uint8_t v)
{
    w->p[w->n++] = v;
}

static void put_bytes(struct wr *w, struct gw_bytes b)
{
    if (b.n) {
        memcpy(w->p + w->n, b.p, b.n);
    }
    w->n += b.n;
}

static void put_delta(struct wr *w, uint64_t v, uint64_t *base)
{
    put_var(w, zigzag(v, *base));
    *base = v;
}

static bool enc_msg_put(struct wr *w, struct store_jctx *c, const struct store_jop *op)
{
    struct store_msg m;
    if (op->owner != 0 || op->seq != 0 || op->key.n != STORE_ID_LEN ||
        gw_be64(op->key.p) != op->msg_id ||
        store_msg_decode(op->val.p, op->val.n, op->msg_id, &m) != 0) {
        return false;
    }
    put_u8(w, JT_MSG_PUT);
    put_delta(w, op->msg_id, &c->msg_id);
    put_u8(w, (uint8_t)(m.qos | (m.retain ? 4u : 0u)));
    put_var(w, m.expiry_s);
    put_delta(w, m.created_s, &c->created_s);
    put_var(w, m.topic.n);
    put_var(w, m.payload.n);
    put_var(w, m.props.n);
    put_bytes(w, m.topic);
    put_bytes(w, m.payload);
    put_bytes(w, m.props);
    return true;
}

static bool enc_queue(struct wr *w, struct store_jctx *c, const struct store_jop *op)
{
    uint64_t owner;
    uint64_t seq;
    struct store_qentry qe;
    bool add = op->type == JT_QUEUE_ADD;
    if (store_qkey_decode(op->key.p, op->key.n, &owner, &seq) != 0 || owner != op->owner ||
        seq != op->seq) {
        return false;
    }
    if (add ? store_qval_decode(op->val.p, op->val.n, &qe) != 0 || qe.msg_id != op->msg_id
            : op->val.n != 0 || op->msg_id != 0) {
        return false;
    }
    put_u8(w, op->type);
    put_var(w, owner);
    put_delta(w, seq, &c->seq);
    if (add) {
        put_delta(w, qe.msg_id, &c->msg_id);
        put_u8(w, qe.qos);
        put_u8(w, qe.flags);
    }
    return true;
}

static bool enc_inflight(struct wr *w, struct store_jctx *c, const struct store_jop *op)
{
    uint64_t owner;
    uint8_t dir;
    uint16_t pid;
    struct store_inflight fe;
    bool put = op->type == JT_INFLIGHT_PUT;
    if (op->seq != 0 || store_ifkey_decode(op->key.p, op->key.n, &owner, &dir, &pid) != 0 ||
        owner != op->owner) {
        return false;
    }
    if (put ? store_ifval_decode(op->val.p, op->val.n, &fe) != 0 || fe.msg_id != op->msg_id
            : op->val.n != 0 || op->msg_id != 0) {
        return false;
    }
    put_u8(w, op->type);
    put_var(w, owner);
    put_u8(w, dir);
    put_var(w, pid);
    if (put) {
        put_u8(w, fe.qos);
        put_u8(w, fe.state);
        put_delta(w, fe.msg_id, &c->msg_id);
        put_delta(w, fe.seq, &c->seq);
    }
    return true;
}

size_t store_jop_encode(uint8_t *dst, size_t cap, struct store_jctx *ctx,
                        const struct store_jop *op)
{
    struct wr w = {dst, 0};
    bool done = false;
    (void)cap; /* sized by the caller: key + val + STORE_JOP_MAX_OVER */
    switch (op->type) {
    case JT_MSG_PUT:
        done = enc_msg_put(&w, ctx, op);
        break;
    case JT_QUEUE_ADD:
    case JT_QUEUE_DEL:
        done = enc_queue(&w, ctx, op);
        break;
    case JT_INFLIGHT_PUT:
    case JT_INFLIGHT_DEL:
        done = enc_inflight(&w, ctx, op);
        break;
    default:
        break;
    }
    if (!done) {
        w.n = 0;
        put_u8(&w, (uint8_t)(op->type | STORE_JOP_GENERIC));
        put_var(&w, op->owner);
        put_var(&w, op->seq);
        put_var(&w, op->msg_id);
        put_var(&w, op->key.n);
        put_bytes(&w, op->key);
        put_var(&w, op->val.n);
        put_bytes(&w, op->val);
    }
    return w.n;
}

/* A reader over untrusted bytes: any short read sets bad. */
struct rd {
    const uint8_t *p;
    size_t n;
    size_t pos;
    bool bad;
};

static uint64_t get_var(struct rd *r)
{
    uint64_t v = 0;
    size_t used = r->bad ? 0 : store_jvar_get(r->p + r->pos, r->n - r->pos, &v);
    r->bad = r->bad || used == 0;
    r->pos += used;
    return v;
}

static uint8_t get_u8(struct rd *r)
{
    if (r->bad || r->pos >= r->n) {
        r->bad = true;
        return 0;
    }
    return r->p[r->pos++];
}

static uint64_t get_delta(struct rd *r, uint64_t *base)
{
    uint64_t v = unzigzag(get_var(r), *base);
    if (!r->bad) {
        *base = v;
    }
    return v;
}

static struct gw_bytes get_bytes(struct rd *r, uint64_t len)
{
    struct gw_bytes b = {NULL, 0};
    if (r->bad || len > r->n - r->pos) {
        r->bad = true;
        return b;
    }
    b.p = r->p + r->pos;
    b.n = (size_t)len;
    r->pos += (size_t)len;
    return b;
}

/* Where the rebuilt key and value go. */
struct out {
    uint8_t *p;
    size_t cap;
};

static bool place(struct store_jop *op, struct out *o, size_t klen, size_t vlen)
{
    op->key.n = klen;
    op->val.n = vlen;
    op->key.p = NULL;
    op->val.p = NULL;
    if (!o->p) {
        return true;
    }
    if (klen > o->cap || vlen > o->cap - klen) {
        return false;
    }
    op->key.p = o->p;
    op->val.p = o->p + klen;
    return true;
}

static bool dec_msg_put(struct rd *r, struct store_jctx *c, struct store_jop *op, struct out *o)
{
    struct store_msg m = {0};
    op->msg_id = get_delta(r, &c->msg_id);
    uint8_t qr = get_u8(r);
    m.expiry_s = get_var(r);
    m.created_s = get_delta(r, &c->created_s);
    uint64_t tlen = get_var(r);
    uint64_t plen = get_var(r);
    uint64_t xlen = get_var(r);
    if (r->bad || (qr & 3u) > 2 || (qr & ~7u) != 0 || tlen > STORE_TOPIC_MAX ||
        plen > STORE_BLOB_MAX || xlen > STORE_BLOB_MAX) {
        return false;
    }
    m.id = op->msg_id;
    m.qos = qr & 3u;
    m.retain = (qr & 4u) != 0;
    m.topic = get_bytes(r, tlen);
    m.payload = get_bytes(r, plen);
    m.props = get_bytes(r, xlen);
    if (r->bad || !place(op, o, STORE_ID_LEN, store_msg_size(&m))) {
        return false;
    }
    if (o->p) {
        store_id_encode(o->p, op->msg_id);
        store_msg_encode(o->p + STORE_ID_LEN, op->val.n, &m);
    }
    return true;
}

static bool dec_queue(struct rd *r, struct store_jctx *c, struct store_jop *op, struct out *o)
{
    struct store_qentry qe = {0};
    bool add = op->type == JT_QUEUE_ADD;
    op->owner = get_var(r);
    op->seq = get_delta(r, &c->seq);
    if (add) {
        qe.msg_id = get_delta(r, &c->msg_id);
        qe.qos = get_u8(r);
        qe.flags = get_u8(r);
        op->msg_id = qe.msg_id;
    }
    if (r->bad || qe.qos > 2 || !place(op, o, STORE_QKEY_LEN, add ? STORE_QVAL_LEN : 0)) {
        return false;
    }
    if (o->p) {
        store_qkey_encode(o->p, op->owner, op->seq);
        if (add) {
            store_qval_encode(o->p + STORE_QKEY_LEN, &qe);
        }
    }
    return true;
}

static bool dec_inflight(struct rd *r, struct store_jctx *c, struct store_jop *op, struct out *o)
{
    struct store_inflight fe = {0};
    bool put = op->type == JT_INFLIGHT_PUT;
    op->owner = get_var(r);
    uint8_t dir = get_u8(r);
    uint64_t pid = get_var(r);
    if (put) {
        fe.qos = get_u8(r);
        fe.state = get_u8(r);
        fe.msg_id = get_delta(r, &c->msg_id);
        fe.seq = get_delta(r, &c->seq);
        op->msg_id = fe.msg_id;
    }
    if (r->bad || dir > STORE_IN || pid > 0xFFFFu || fe.qos > 2 ||
        !place(op, o, STORE_IFKEY_LEN, put ? STORE_IFVAL_LEN : 0)) {
        return false;
    }
    if (o->p) {
        store_ifkey_encode(o->p, op->owner, dir, (uint16_t)pid);
        if (put) {
            store_ifval_encode(o->p + STORE_IFKEY_LEN, &fe);
        }
    }
    return true;
}

static bool dec_generic(struct rd *r, struct store_jop *op, struct out *o)
{
    op->owner = get_var(r);
    op->seq = get_var(r);
    op->msg_id = get_var(r);
    uint64_t klen = get_var(r);
    if (r->bad || klen > STORE_KEY_MAX) {
        return false;
    }
    struct gw_bytes k = get_bytes(r, klen);
    uint64_t vlen = get_var(r);
    struct gw_bytes v = get_bytes(r, vlen);
    if (r->bad || !place(op, o, k.n, v.n)) {
        return false;
    }
    if (o->p) {
        memcpy(o->p, k.p, k.n);
        if (v.n) {
            memcpy(o->p + k.n, v.p, v.n);
        }
    }
    return true;
}

ssize_t store_jop_decode(const uint8_t *p, size_t n, struct store_jctx *ctx, struct store_jop *op,
                         uint8_t *out, size_t cap)
{
    struct rd r = {p, n, 0, false};
    struct out o = {out, cap};
    uint8_t tag = get_u8(&r);
    uint8_t type = tag & (uint8_t)~STORE_JOP_GENERIC;
    bool ok = false;
    if (r.bad || type == 0 || type > STORE_JOP_TYPE_MAX) {
        return GW_E_MALFORMED;
    }
    *op = (struct store_jop){.type = type};
    if (tag & STORE_JOP_GENERIC) {
        ok = dec_generic(&r, op, &o);
    } else if (type == JT_MSG_PUT) {
        ok = dec_msg_put(&r, ctx, op, &o);
    } else if (type == JT_QUEUE_ADD || type == JT_QUEUE_DEL) {
        ok = dec_queue(&r, ctx, op, &o);
    } else if (type == JT_INFLIGHT_PUT || type == JT_INFLIGHT_DEL) {
        ok = dec_inflight(&r, ctx, op, &o);
    }
    return ok ? (ssize_t)r.pos : GW_E_MALFORMED;
}

int store_jpayload_count(struct gw_bytes payload, size_t *pos, uint64_t *count)
{
    size_t used = *pos <= payload.n ? store_jvar_get(payload.p + *pos, payload.n - *pos, count) : 0;
    if (used == 0) {
        return GW_E_MALFORMED;
    }
    *pos += used;
    return 0;
}

int store_jbatch_count(struct gw_bytes payload, size_t *pos, uint64_t *nops)
{
    if (store_jpayload_count(payload, pos, nops) != 0 || *nops > (payload.n - *pos) / 3) {
        return GW_E_MALFORMED;
    }
    return 0;
}

int store_jpayload_check(struct gw_bytes payload)
{
    uint64_t count;
    size_t pos = 0;
    struct store_jctx ctx = {0};
    if (store_jpayload_count(payload, &pos, &count) != 0) {
        return GW_E_MALFORMED;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t nops;
        if (store_jbatch_count(payload, &pos, &nops) != 0) {
            return GW_E_MALFORMED;
        }
        for (uint64_t k = 0; k < nops; k++) {
            struct store_jop op;
            ssize_t used = store_jop_decode(payload.p + pos, payload.n - pos, &ctx, &op, NULL, 0);
            if (used < 0) {
                return GW_E_MALFORMED;
            }
            pos += (size_t)used;
        }
    }
    return pos == payload.n ? 0 : GW_E_MALFORMED;
}
