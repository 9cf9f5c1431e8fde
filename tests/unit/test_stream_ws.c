/* test_stream_ws.c - the WebSocket stream (gateway/stream/stream_ws.c)
 * over a fake inner stream that delivers input a few bytes at a time and
 * takes output a few bytes per call, then -EAGAIN (STYLE.md 11): the
 * upgrade, frames split anywhere, pings between fragments, close, short
 * writes under the seam's contract, refusals and allocation failures. */
#include "alloc.h"
#include "gw_err.h"
#include "stream.h"
#include "stream_ws.h"
#include "ws_frame.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define REQ                                                                                        \
    "GET /mqtt HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"               \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"                 \
    "Sec-WebSocket-Protocol: mqtt\r\n\r\n"

struct fake {
    struct stream base;
    uint8_t in[1 << 16];
    size_t in_len;
    size_t in_off;
    size_t read_chunk; /* bytes per read at most */
    bool eof;
    uint8_t out[1 << 18];
    size_t out_len;
    size_t write_chunk; /* bytes per writev at most; 0 = -EAGAIN */
    int *destroyed;
};

static ssize_t fake_read(struct stream *s, uint8_t *p, size_t cap)
{
    struct fake *f = (struct fake *)(void *)s;
    size_t n = f->in_len - f->in_off;
    if (n == 0) {
        return f->eof ? GW_E_CLOSED : 0;
    }
    n = n < cap ? n : cap;
    n = n < f->read_chunk ? n : f->read_chunk;
    memcpy(p, f->in + f->in_off, n);
    f->in_off += n;
    return (ssize_t)n;
}

static ssize_t fake_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
    struct fake *f = (struct fake *)(void *)s;
    size_t room = f->write_chunk;
    size_t took = 0;
    for (int i = 0; i < iovcnt && room > 0; i++) {
        size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;
        assert_true(f->out_len + n <= sizeof(f->out));
        memcpy(f->out + f->out_len, iov[i].iov_base, n);
        f->out_len += n;
        room -= n;
        took += n;
    }
    return took ? (ssize_t)took : -EAGAIN;
}

static void fake_destroy(struct stream *s)
{
    struct fake *f = (struct fake *)(void *)s;
    if (f->destroyed) {
        (*f->destroyed)++;
    }
    free(f);
}

static const struct stream_ops fake_ops = {
        .kind = "tcp",
        .read = fake_read,
        .writev = fake_writev,
        .destroy = fake_destroy,
};

struct rig {
    struct fake *f;
    struct stream *ws;
};

static void rig_open(struct rig *r, size_t headers_max, uint64_t frame_max)
{
    r->f = calloc(1, sizeof(*r->f));
    assert_non_null(r->f);
    r->f->base.ops = &fake_ops;
    r->f->base.fd = -1;
    r->f->read_chunk = 1 << 16;
    r->f->write_chunk = 1 << 18;
    struct stream_ws_opts o = {.headers_max = headers_max, .frame_max = frame_max};
    r->ws = stream_ws_create(&r->f->base, &o);
    assert_non_null(r->ws);
}

static void feed(struct rig *r, const void *p, size_t n)
{
    assert_true(r->f->in_len + n <= sizeof(r->f->in));
    memcpy(r->f->in + r->f->in_len, p, n);
    r->f->in_len += n;
}

/* A masked client frame. */
static void feed_frame(struct rig *r, uint8_t b0, const void *payload, size_t n)
{
    uint8_t hdr[WS_FRAME_HDR_MAX];
    const uint8_t mask[4] = {0xa1, 0x5e, 0x07, 0xc3};
    size_t h = ws_frame_encode_header(hdr, (b0 & 0x80u) != 0, (uint8_t)(b0 & 0x0fu), n, mask);
    feed(r, hdr, h);
    uint8_t body[4096];
    assert_true(n <= sizeof(body));
    memcpy(body, payload, n);
    ws_unmask(body, n, mask, 0); /* masking is its own inverse */
    feed(r, body, n);
}

/* Read until the stream has nothing more; returns the payload bytes. */
static size_t drain(struct rig *r, uint8_t *dst, size_t cap, ssize_t *last)
{
    size_t got = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t n = stream_read(r->ws, dst + got, cap - got < 7 ? cap - got : 7);
        *last = n;
        if (n <= 0 && !(n == 0 && stream_pending(r->ws))) {
            return got;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    fail_msg("drain did not end");
    return got;
}

/* Parse the server's frames in out[from..): unmasked, decoded in order. */
static size_t server_frames(const struct fake *f, size_t from, uint8_t *ops, size_t *lens,
                            uint8_t *payload, size_t max)
{
    size_t k = 0;
    size_t off = from;
    size_t po = 0;
    while (off < f->out_len && k < max) {
        struct ws_frame_hdr h;
        ssize_t n = ws_frame_decode_header(f->out + off, f->out_len - off, false, 0, &h);
        assert_true(n > 0);
        assert_true(h.fin);
        assert_true(off + (size_t)n + h.len <= f->out_len);
        ops[k] = h.opcode;
        lens[k] = (size_t)h.len;
        memcpy(payload + po, f->out + off + n, (size_t)h.len);
        po += (size_t)h.len;
        off += (size_t)n + (size_t)h.len;
        k++;
    }
    return k;
}

static size_t upgrade(struct rig *r, size_t chunk)
{
    r->f->read_chunk = chunk;
    feed(r, REQ, strlen(REQ));
    uint8_t buf[64];
    for (int i = 0; i < 10000 && r->f->in_off < r->f->in_len; i++) {
        assert_int_equal(stream_read(r->ws, buf, sizeof(buf)), 0);
    }
    assert_int_equal(stream_flush(r->ws), 0);
    const char *end = "\r\n\r\n";
    uint8_t *e = memmem(r->f->out, r->f->out_len, end, 4);
    assert_non_null(e);
    assert_int_equal(memcmp(r->f->out, "HTTP/1.1 101 ", 13), 0);
    assert_non_null(memmem(r->f->out, r->f->out_len, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28));
    return (size_t)(e + 4 - r->f->out);
}

static void test_stream_ws_upgrade_byte_at_a_time_then_frames(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, 0, 0);
    assert_string_equal(stream_kind(r.ws), "ws");
    assert_int_equal(stream_writev(r.ws, &(struct iovec){"x", 1}, 1), -EAGAIN); /* before 101 */
    size_t head = upgrade(&r, 1);
    assert_int_equal(r.f->out_len, head); /* nothing but the answer */
    /* A message in three fragments with a ping between, a frame holding
     * two "packets", an empty binary frame: fed a byte at a time. */
    feed_frame(&r, 0x02, "hello ", 6);
    feed_frame(&r, 0x89, "png", 3);
    feed_frame(&r, 0x00, "wor", 3);
    feed_frame(&r, 0x80, "ld", 2);
    feed_frame(&r, 0x82, "", 0);
    feed_frame(&r, 0x82, "\xc0\x00\xc0\x00", 4);
    uint8_t got[64];
    ssize_t last;
    size_t n = drain(&r, got, sizeof(got), &last);
    assert_int_equal(last, 0);
    assert_int_equal(n, 15);
    assert_memory_equal(got, "hello world\xc0\x00\xc0\x00", 15);
    /* The pong went out (after the 101), echoing the ping. */
    uint8_t ops[8];
    size_t lens[8];
    uint8_t pay[64];
    assert_int_equal(server_frames(r.f, head, ops, lens, pay, 8), 1);
    assert_int_equal(ops[0], WS_OP_PONG);
    assert_memory_equal(pay, "png", 3);
    assert_false(stream_want(r.ws) & LOOP_WRITE);
    stream_destroy(r.ws);
}

static void test_stream_ws_short_writes_make_valid_frames(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, 0, 0);
    size_t head = upgrade(&r, 4096);
    uint8_t msg[3000];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)(i * 7);
    }
    /* The caller's contract: untaken bytes are offered again first; here
     * in two iovecs, with a ping arriving mid-frame. */
    r.f->write_chunk = 5;
    size_t sent = 0;
    bool pinged = false;
    for (int i = 0; i < 100000 && sent < sizeof(msg); i++) {
        size_t cut = sent + (sizeof(msg) - sent) / 2;
        struct iovec iov[2] = {{msg + sent, cut - sent}, {msg + cut, sizeof(msg) - cut}};
        ssize_t w = stream_writev(r.ws, iov, cut > sent ? 2 : 1);
        if (w == -EAGAIN) {
            continue; /* a fresh call is a new chance for the fake */
        }
        assert_true(w > 0);
        sent += (size_t)w;
        if (!pinged && sent > 100) {
            feed_frame(&r, 0x89, "mid", 3);
            uint8_t tmp[16];
            assert_int_equal(stream_read(r.ws, tmp, sizeof(tmp)), 0);
            assert_int_equal(stream_flush(r.ws), 0); /* mid-frame: nothing of ours */
            pinged = true;                           /* the pong waits for the frame's end */
        }
    }
    assert_int_equal(sent, sizeof(msg));
    r.f->write_chunk = 1 << 18;
    assert_int_equal(stream_flush(r.ws), 0);
    uint8_t ops[8];
    size_t lens[8];
    static uint8_t pay[8192];
    size_t k = server_frames(r.f, head, ops, lens, pay, 8);
    assert_true(k >= 2);
    size_t data = 0;
    bool pong = false;
    for (size_t i = 0; i < k; i++) {
        if (ops[i] == WS_OP_PONG) {
            pong = true;
        } else {
            assert_int_equal(ops[i], WS_OP_BINARY);
            data += lens[i];
        }
    }
    assert_true(pong);
    assert_int_equal(data, sizeof(msg));
    stream_destroy(r.ws);
}

static void test_stream_ws_close_echoed_then_closed(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, 0, 0);
    size_t head = upgrade(&r, 4096);
    feed_frame(&r, 0x82, "ab", 2);
    feed_frame(&r, 0x88, "\x03\xe9going", 7); /* 1001 */
    feed_frame(&r, 0x82, "ignored", 7);
    uint8_t buf[64];
    assert_int_equal(stream_read(r.ws, buf, sizeof(buf)), 2); /* data before the close first */
    assert_true(stream_pending(r.ws));
    assert_int_equal(stream_read(r.ws, buf, sizeof(buf)), GW_E_CLOSED);
    assert_int_equal(stream_writev(r.ws, &(struct iovec){"x", 1}, 1), GW_E_CLOSED);
    stream_shutdown(r.ws, 0);
    uint8_t ops[4];
    size_t lens[4];
    uint8_t pay[64];
    assert_int_equal(server_frames(r.f, head, ops, lens, pay, 4), 1); /* one close only */
    assert_int_equal(ops[0], WS_OP_CLOSE);
    assert_int_equal(lens[0], 2);
    assert_memory_equal(pay, "\x03\xe9", 2);
    stream_destroy(r.ws);
}

static uint16_t refusal(const uint8_t *b0s, const char *const *payloads, size_t nframes,
                        uint64_t frame_max, int expect_rc, const char *why)
{
    struct rig r;
    rig_open(&r, 0, frame_max);
    size_t head = upgrade(&r, 4096);
    for (size_t i = 0; i < nframes; i++) {
        feed_frame(&r, b0s[i], payloads[i], strlen(payloads[i]));
    }
    uint8_t buf[256];
    ssize_t last;
    (void)drain(&r, buf, sizeof(buf), &last);
    assert_int_equal(last, expect_rc);
    assert_non_null(strstr(stream_why(), why));
    uint8_t ops[4];
    size_t lens[4];
    uint8_t pay[256];
    size_t k = server_frames(r.f, head, ops, lens, pay, 4);
    assert_int_equal(k, 1);
    assert_int_equal(ops[0], WS_OP_CLOSE);
    uint16_t code = (uint16_t)((pay[0] << 8) | pay[1]);
    stream_destroy(r.ws);
    return code;
}

static void test_stream_ws_refusals_close_with_code(void **state)
{
    (void)state;
    const uint8_t text[] = {0x81};
    const char *p1[] = {"\xc0\x00"};
    assert_int_equal(refusal(text, p1, 1, 0, GW_E_MALFORMED, "text frame"), WS_CLOSE_UNSUPPORTED);
    const uint8_t cont[] = {0x80};
    assert_int_equal(refusal(cont, p1, 1, 0, GW_E_MALFORMED, "continuation"), WS_CLOSE_PROTOCOL);
    const uint8_t big[] = {0x82};
    const char *p2[] = {"0123456789"};
    assert_int_equal(refusal(big, p2, 1, 9, GW_E_TOO_LARGE, "frame of 10 bytes over 9"),
                     WS_CLOSE_TOO_BIG);
    const uint8_t frag[] = {0x02, 0x80};
    const char *p3[] = {"01234", "56789"};
    assert_int_equal(refusal(frag, p3, 2, 9, GW_E_TOO_LARGE, "message over 9"), WS_CLOSE_TOO_BIG);
    const uint8_t badclose[] = {0x88};
    const char *p4[] = {"\x03\xe8\xff"};
    assert_int_equal(refusal(badclose, p4, 1, 0, GW_E_MALFORMED, "not UTF-8"), WS_CLOSE_BAD_DATA);
}

static void test_stream_ws_unmasked_frame_refused(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, 0, 0);
    (void)upgrade(&r, 4096);
    feed(&r, "\x82\x02\xc0\x00", 4);
    uint8_t buf[16];
    assert_int_equal(stream_read(r.ws, buf, sizeof(buf)), GW_E_MALFORMED);
    assert_non_null(strstr(stream_why(), "closing with 1002: unmasked client frame"));
    stream_destroy(r.ws);
}

static void test_stream_ws_ping_flood_refused(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, 0, 0);
    (void)upgrade(&r, 4096);
    r.f->write_chunk = 0; /* the client reads nothing: pongs must not pile up */
    for (int i = 0; i < 200; i++) {
        feed_frame(&r, 0x89, "p", 1);
    }
    uint8_t buf[64];
    ssize_t last;
    (void)drain(&r, buf, sizeof(buf), &last);
    assert_int_equal(last, GW_E_REFUSED);
    assert_non_null(strstr(stream_why(), "ping flood"));
    stream_destroy(r.ws);
}

static void test_stream_ws_bad_upgrade_answered(void **state)
{
    (void)state;
    struct rig r;
    rig_open(&r, 0, 0);
    const char *req = "GET /mqtt HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    feed(&r, req, strlen(req));
    uint8_t buf[64];
    assert_int_equal(stream_read(r.ws, buf, sizeof(buf)), GW_E_REFUSED);
    assert_int_equal(memcmp(r.f->out, "HTTP/1.1 400 ", 13), 0);
    assert_non_null(strstr(stream_why(), "no single Sec-WebSocket-Key"));
    stream_destroy(r.ws);

    rig_open(&r, 128, 0);
    feed(&r, REQ, strlen(REQ)); /* longer than 128 bytes */
    assert_int_equal(stream_read(r.ws, buf, sizeof(buf)), GW_E_REFUSED);
    assert_int_equal(memcmp(r.f->out, "HTTP/1.1 431 ", 13), 0);
    stream_destroy(r.ws);

    rig_open(&r, 0, 0);
    feed(&r, "GET /mqtt HT", 12);
    assert_int_equal(stream_read(r.ws, buf, sizeof(buf)), 0);
    stream_shutdown(r.ws, GW_E_TIMEOUT); /* connect_timeout: slowloris */
    assert_int_equal(memcmp(r.f->out, "HTTP/1.1 408 ", 13), 0);
    stream_destroy(r.ws);
}

static void test_stream_ws_shutdown_sends_close_code(void **state)
{
    (void)state;
    const int reasons[] = {0, GW_E_SHUTDOWN, GW_E_PROTOCOL, GW_E_TOO_LARGE, GW_E_SLOW, -ENOMEM};
    const uint16_t codes[] = {1000, 1001, 1002, 1009, 1008, 1011};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        struct rig r;
        rig_open(&r, 0, 0);
        size_t head = upgrade(&r, 4096);
        stream_shutdown(r.ws, reasons[i]);
        uint8_t ops[4];
        size_t lens[4];
        uint8_t pay[256];
        assert_int_equal(server_frames(r.f, head, ops, lens, pay, 4), 1);
        assert_int_equal(ops[0], WS_OP_CLOSE);
        assert_int_equal((pay[0] << 8) | pay[1], codes[i]);
        stream_destroy(r.ws);
    }
}

static void test_stream_ws_create_alloc_failures_clean(void **state)
{
    (void)state;
    for (long n = 0; n < 4; n++) {
        int destroyed = 0;
        struct fake *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->base.ops = &fake_ops;
        f->destroyed = &destroyed;
        struct stream_ws_opts o = {0};
        size_t before = gw_alloc_bytes();
        gw_alloc_fail_at(n, 0);
        struct stream *ws = stream_ws_create(&f->base, &o);
        gw_alloc_fail_at(-1, 0);
        if (!ws) {
            assert_int_equal(destroyed, 0); /* inner untouched: still the caller's */
            assert_int_equal(gw_alloc_bytes(), before);
            fake_destroy(&f->base);
            continue;
        }
        stream_destroy(ws);
        assert_int_equal(destroyed, 1);
        assert_int_equal(gw_alloc_bytes(), before);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_stream_ws_upgrade_byte_at_a_time_then_frames),
            cmocka_unit_test(test_stream_ws_short_writes_make_valid_frames),
            cmocka_unit_test(test_stream_ws_close_echoed_then_closed),
            cmocka_unit_test(test_stream_ws_refusals_close_with_code),
            cmocka_unit_test(test_stream_ws_unmasked_frame_refused),
            cmocka_unit_test(test_stream_ws_ping_flood_refused),
            cmocka_unit_test(test_stream_ws_bad_upgrade_answered),
            cmocka_unit_test(test_stream_ws_shutdown_sends_close_code),
            cmocka_unit_test(test_stream_ws_create_alloc_failures_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
