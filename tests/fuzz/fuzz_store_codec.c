/* fuzz_store_codec.c - every store record decoder on arbitrary bytes.
 *
 * Input: one selector byte (record type, modulo the count) then the record.
 * A record that decodes must re-encode to exactly the same bytes (every
 * layout is canonical) and decode again to the same fields. */
#include "store_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n && memcmp(a, b, n) != 0) {
        abort();
    }
}

static void check_msg(const uint8_t *p, size_t n)
{
    struct store_msg m;
    struct store_msg m2;
    if (store_msg_decode(p, n, 42, &m) != 0) {
        return;
    }
    uint8_t *buf = malloc(n);
    if (!buf || store_msg_size(&m) != n || store_msg_encode(buf, n, &m) != n) {
        abort();
    }
    same(buf, p, n);
    if (store_msg_decode(buf, n, 42, &m2) != 0 || m2.qos != m.qos || m2.retain != m.retain ||
        m2.expiry_s != m.expiry_s || m2.created_s != m.created_s || m2.topic.n != m.topic.n || m2.payload.n != m.payload.n ||
        m2.props.n != m.props.n) {
        abort();
    }
    free(buf);
}

static void check_session(const uint8_t *p, size_t n)
{
    struct store_session ss;
    struct store_session s2;
    if (store_session_decode(p, n, 7, &ss) != 0) {
        return;
    }
    uint8_t *buf = malloc(n);
    if (!buf || store_session_size(&ss) != n || store_session_encode(buf, n, &ss) != n) {
        abort();
    }
    same(buf, p, n);
    if (store_session_decode(buf, n, 7, &s2) != 0 || s2.client_id.n != ss.client_id.n ||
        s2.extra.n != ss.extra.n || s2.expiry_s != ss.expiry_s || s2.next_pid != ss.next_pid) {
        abort();
    }
    free(buf);
}

static void check_fixed(uint8_t type, const uint8_t *p, size_t n)
{
    uint8_t buf[64];
    uint64_t a;
    uint64_t b;
    uint32_t c;
    uint8_t d;
    uint16_t pid;
    struct store_qentry e;
    struct store_inflight f;
    struct store_sub sub;
    struct gw_bytes filter;
    size_t len = 0;
    switch (type) {
    case 2:
        if (store_qkey_decode(p, n, &a, &b) == 0) {
            store_qkey_encode(buf, a, b);
            len = STORE_QKEY_LEN;
        }
        break;
    case 3:
        if (store_qval_decode(p, n, &e) == 0) {
            store_qval_encode(buf, &e);
            len = STORE_QVAL_LEN;
        }
        break;
    case 4:
        if (store_ifkey_decode(p, n, &a, &d, &pid) == 0) {
            store_ifkey_encode(buf, a, d, pid);
            len = STORE_IFKEY_LEN;
        }
        break;
    case 5:
        if (store_ifval_decode(p, n, &f) == 0) {
            store_ifval_encode(buf, &f);
            len = STORE_IFVAL_LEN;
        }
        break;
    case 6:
        if (store_subkey_decode(p, n, &a, &filter) == 0) {
            uint8_t *k = malloc(n);
            if (!k || store_subkey_encode(k, n, a, filter) != n) {
                abort();
            }
            same(k, p, n);
            free(k);
        }
        return;
    case 7:
        if (store_subval_decode(p, n, &sub) == 0) {
            store_subval_encode(buf, &sub);
            len = STORE_SUBVAL_LEN;
        }
        break;
    case 8:
        if (store_ref_decode(p, n, &c) == 0) {
            store_ref_encode(buf, c);
            len = STORE_REFVAL_LEN;
        }
        break;
    case 9:
        if (store_u64_decode(p, n, &a) == 0) {
            store_u64_encode(buf, a);
            len = STORE_COUNT_LEN;
        }
        break;
    case 10:
        if (store_version_decode(p, n, &c) == 0) {
            store_version_encode(buf, c);
            len = STORE_VERSION_LEN;
        }
        break;
    case 11:
        if (store_ids_decode(p, n, &a, &b) == 0) {
            store_ids_encode(buf, a, b);
            len = STORE_IDS_LEN;
        }
        break;
    default:
        if (store_id_decode(p, n, &a) == 0) {
            store_id_encode(buf, a);
            len = STORE_ID_LEN;
        }
        break;
    }
    if (len) {
        if (len != n) {
            abort();
        }
        same(buf, p, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t type = (uint8_t)(data[0] % 13);
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (type == 0) {
        check_msg(p, n);
    } else if (type == 1) {
        check_session(p, n);
    } else {
        check_fixed(type, p, n);
    }
    return 0;
}
