/* store_ops.c - the loop thread's writes: each store_*_put / _del encodes
 * its key and value (store_codec.h) into the current batch's arena as one
 * op for the writer (store_writer.c). Validation of what the caller hands
 * in happens here, before anything is added. */
#include "alloc.h"
#include "gw_err.h"
#include "store_codec.h"
#include "store_priv.h"

#include <errno.h>
#include <string.h>

/* Append an op with key_len + val_len arena bytes; *key and *val point at
 * them. NULL (-ENOMEM) leaves the batch as it was. */
struct store_op *store_batch_add(struct store *s, uint8_t type, size_t key_len, size_t val_len,
                                 uint8_t **key, uint8_t **val)
{
    struct store_batch *b = store_batch_get(s);
    if (!b) {
        return NULL;
    }
    if (b->nops == b->ops_cap) {
        size_t cap = b->ops_cap ? b->ops_cap * 2 : 16;
        struct store_op *ops = gw_realloc(b->ops, cap * sizeof *ops);
        if (!ops) {
            return NULL;
        }
        b->ops = ops;
        b->ops_cap = cap;
    }
    size_t need = key_len + val_len;
    if (b->arena_cap - b->used < need) {
        size_t cap = b->arena_cap ? b->arena_cap * 2 : 4096;
        while (cap - b->used < need) {
            cap *= 2;
        }
        uint8_t *a = gw_realloc(b->arena, cap);
        if (!a) {
            return NULL;
        }
        b->arena = a;
        b->arena_cap = cap;
    }
    struct store_op *op = &b->ops[b->nops++];
    memset(op, 0, sizeof *op);
    op->type = type;
    op->key_off = b->used;
    op->key_len = key_len;
    op->val_off = b->used + key_len;
    op->val_len = val_len;
    *key = b->arena + op->key_off;
    *val = b->arena + op->val_off;
    b->used += need;
    if (type != STORE_OP_QUEUE_DEL && type != STORE_OP_QUEUE_TRIM &&
        type != STORE_OP_INFLIGHT_DEL && type != STORE_OP_SESSION_DEL && type != STORE_OP_SUB_DEL &&
        type != STORE_OP_RETAIN_DEL && type != STORE_OP_LINK_DEL) {
        b->grow += need + 16u; /* a record's key, value and LMDB node header */
    }
    return op;
}

int store_msg_put(struct store *s, const struct store_msg *m)
{
    uint8_t *k;
    uint8_t *v;
    if (m->id == 0 || m->qos > 2) {
        return -EINVAL;
    }
    if (m->topic.n > STORE_TOPIC_MAX || m->payload.n > STORE_BLOB_MAX ||
        m->props.n > STORE_BLOB_MAX) {
        return GW_E_TOO_LARGE;
    }
    size_t vlen = store_msg_size(m);
    struct store_op *op = store_batch_add(s, STORE_OP_MSG_PUT, STORE_ID_LEN, vlen, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->msg_id = m->id;
    store_id_encode(k, m->id);
    store_msg_encode(v, vlen, m);
    return 0;
}

int store_queue_add(struct store *s, const struct store_qentry *e)
{
    uint8_t *k;
    uint8_t *v;
    if (e->msg_id == 0 || e->qos > 2) {
        return -EINVAL;
    }
    struct store_op *op =
            store_batch_add(s, STORE_OP_QUEUE_ADD, STORE_QKEY_LEN, STORE_QVAL_LEN, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = e->owner;
    op->seq = e->seq;
    op->msg_id = e->msg_id;
    store_qkey_encode(k, e->owner, e->seq);
    store_qval_encode(v, e);
    return 0;
}

int store_queue_del(struct store *s, uint64_t owner, uint64_t seq)
{
    uint8_t *k;
    uint8_t *v;
    struct store_op *op = store_batch_add(s, STORE_OP_QUEUE_DEL, STORE_QKEY_LEN, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    op->seq = seq;
    store_qkey_encode(k, owner, seq);
    return 0;
}

int store_queue_trim(struct store *s, uint64_t owner, uint64_t upto_seq)
{
    uint8_t *k;
    uint8_t *v;
    struct store_op *op = store_batch_add(s, STORE_OP_QUEUE_TRIM, STORE_ID_LEN, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    op->seq = upto_seq;
    store_id_encode(k, owner);
    return 0;
}

int store_inflight_put(struct store *s, const struct store_inflight *f)
{
    uint8_t *k;
    uint8_t *v;
    if (f->dir > STORE_IN || f->qos > 2) {
        return -EINVAL;
    }
    struct store_op *op =
            store_batch_add(s, STORE_OP_INFLIGHT_PUT, STORE_IFKEY_LEN, STORE_IFVAL_LEN, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = f->owner;
    op->msg_id = f->msg_id;
    store_ifkey_encode(k, f->owner, f->dir, f->pid);
    store_ifval_encode(v, f);
    return 0;
}

int store_inflight_del(struct store *s, uint64_t owner, uint8_t dir, uint16_t pid)
{
    uint8_t *k;
    uint8_t *v;
    if (dir > STORE_IN) {
        return -EINVAL;
    }
    struct store_op *op = store_batch_add(s, STORE_OP_INFLIGHT_DEL, STORE_IFKEY_LEN, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    store_ifkey_encode(k, owner, dir, pid);
    return 0;
}

int store_session_put(struct store *s, const struct store_session *ss)
{
    uint8_t *k;
    uint8_t *v;
    if (ss->client_id.n > STORE_CLIENT_ID_MAX || ss->extra.n > STORE_BLOB_MAX) {
        return GW_E_TOO_LARGE;
    }
    size_t vlen = store_session_size(ss);
    struct store_op *op = store_batch_add(s, STORE_OP_SESSION_PUT, STORE_ID_LEN, vlen, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = ss->owner;
    store_id_encode(k, ss->owner);
    store_session_encode(v, vlen, ss);
    return 0;
}

int store_session_del(struct store *s, uint64_t owner)
{
    uint8_t *k;
    uint8_t *v;
    struct store_op *op = store_batch_add(s, STORE_OP_SESSION_DEL, STORE_ID_LEN, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    store_id_encode(k, owner);
    return 0;
}

int store_sub_put(struct store *s, const struct store_sub *sub)
{
    uint8_t *k;
    uint8_t *v;
    if (sub->filter.n == 0 || sub->qos > 2) {
        return -EINVAL;
    }
    if (sub->filter.n > STORE_FILTER_MAX) {
        return GW_E_TOO_LARGE;
    }
    size_t klen = store_subkey_size(sub->filter);
    struct store_op *op = store_batch_add(s, STORE_OP_SUB_PUT, klen, STORE_SUBVAL_LEN, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = sub->owner;
    store_subkey_encode(k, klen, sub->owner, sub->filter);
    store_subval_encode(v, sub);
    return 0;
}

int store_link_put(struct store *s, uint64_t owner, struct gw_bytes key, struct gw_bytes value)
{
    uint8_t *k;
    uint8_t *v;
    if (key.n == 0) {
        return -EINVAL;
    }
    if (key.n > STORE_FILTER_MAX || value.n > UINT32_MAX) {
        return GW_E_TOO_LARGE;
    }
    size_t klen = store_subkey_size(key); /* same layout: be64 owner, bytes */
    struct store_op *op = store_batch_add(s, STORE_OP_LINK_PUT, klen, value.n, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    store_subkey_encode(k, klen, owner, key);
    if (value.n) {
        memcpy(v, value.p, value.n);
    }
    return 0;
}

int store_link_del(struct store *s, uint64_t owner, struct gw_bytes key)
{
    uint8_t *k;
    uint8_t *v;
    if (key.n == 0) {
        return -EINVAL;
    }
    if (key.n > STORE_FILTER_MAX) {
        return GW_E_TOO_LARGE;
    }
    size_t klen = store_subkey_size(key);
    struct store_op *op = store_batch_add(s, STORE_OP_LINK_DEL, klen, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    store_subkey_encode(k, klen, owner, key);
    return 0;
}

int store_sub_del(struct store *s, uint64_t owner, struct gw_bytes filter)
{
    uint8_t *k;
    uint8_t *v;
    if (filter.n == 0) {
        return -EINVAL;
    }
    if (filter.n > STORE_FILTER_MAX) {
        return GW_E_TOO_LARGE;
    }
    size_t klen = store_subkey_size(filter);
    struct store_op *op = store_batch_add(s, STORE_OP_SUB_DEL, klen, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->owner = owner;
    store_subkey_encode(k, klen, owner, filter);
    return 0;
}

int store_retain_put(struct store *s, struct gw_bytes topic, uint64_t msg_id)
{
    uint8_t *k;
    uint8_t *v;
    if (topic.n == 0 || msg_id == 0) {
        return -EINVAL;
    }
    if (topic.n > STORE_TOPIC_KEY_MAX) {
        return GW_E_TOO_LARGE;
    }
    struct store_op *op = store_batch_add(s, STORE_OP_RETAIN_PUT, topic.n, STORE_COUNT_LEN, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    op->msg_id = msg_id;
    memcpy(k, topic.p, topic.n);
    store_u64_encode(v, msg_id);
    return 0;
}

int store_retain_del(struct store *s, struct gw_bytes topic)
{
    uint8_t *k;
    uint8_t *v;
    if (topic.n == 0) {
        return -EINVAL;
    }
    if (topic.n > STORE_TOPIC_KEY_MAX) {
        return GW_E_TOO_LARGE;
    }
    struct store_op *op = store_batch_add(s, STORE_OP_RETAIN_DEL, topic.n, 0, &k, &v);
    if (!op) {
        return -ENOMEM;
    }
    memcpy(k, topic.p, topic.n);
    return 0;
}
