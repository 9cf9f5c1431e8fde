/* fuzz_ws_stream.c - the WebSocket stream (gateway/stream/stream_ws.c)
 * as a state machine: the input is what a client sends, delivered by a
 * fake inner stream in chunks the input chooses, with reads of varying
 * size, writes that the fake takes a few bytes at a time, and a final
 * shutdown.
 *
 * Checked: no read returns more payload than raw bytes arrived; once the
 * upgrade was answered 101, everything the stream wrote after the HTTP
 * answer parses as unmasked, unfragmented-control server frames, and the
 * binary frames carry exactly the bytes writev reported taken, in order. */
#include "alloc.h"
#include "gw_err.h"
#include "stream.h"
#include "stream_ws.h"
#include "ws_frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQ                                                                                        \
    "GET /mqtt HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"               \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"                 \
    "Sec-WebSocket-Protocol: mqtt\r\n\r\n"

struct fake {
    struct stream base;
    const uint8_t *in;
    size_t in_len;
    size_t in_off;
    size_t read_chunk;
    uint8_t out[1 << 17];
    size_t out_len;
    size_t write_chunk;
};

static ssize_t fake_read(struct stream *s, uint8_t *p, size_t cap)
{
    struct fake *f = (struct fake *)(void *)s;
    size_t n = f->in_len - f->in_off;
    if (n == 0) {
        return GW_E_CLOSED;
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
    for (int i = 0; i < iovcnt && room > 0 && f->out_len < sizeof(f->out); i++) {
        size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;
        n = n < sizeof(f->out) - f->out_len ? n : sizeof(f->out) - f->out_len;
        memcpy(f->out + f->out_len, iov[i].iov_base, n);
        f->out_len += n;
        room -= n;
        took += n;
    }
    return took ? (ssize_t)took : -EAGAIN;
}

static void fake_destroy(struct stream *s)
{
    (void)s; /* static: nothing to free */
}

static const struct stream_ops fake_ops = {
    .kind = "tcp", .read = fake_read, .writev = fake_writev, .destroy = fake_destroy};

static struct fake fk;
static uint8_t inbuf[1 << 16];
static uint8_t sent[1 << 17];

/* The server's output after the HTTP answer: frames, and the data bytes
 * equal to what writev took. */
static void check_output(size_t taken)
{
    const uint8_t *e = memmem(fk.out, fk.out_len, "\r\n\r\n", 4);
    if (!e || memcmp(fk.out, "HTTP/1.1 101 ", 13) != 0) {
        return;
    }
    size_t off = (size_t)(e + 4 - fk.out);
    size_t data = 0;
    while (off < fk.out_len) {
        struct ws_frame_hdr h;
        ssize_t n = ws_frame_decode_header(fk.out + off, fk.out_len - off, false, 0, &h);
        if (n == GW_E_INCOMPLETE) {
            return; /* the fake's buffer ended, or a frame still owed */
        }
        if (n < 0 || !h.fin || (h.opcode != WS_OP_BINARY && h.opcode != WS_OP_PONG &&
                                h.opcode != WS_OP_CLOSE)) {
            abort();
        }
        size_t have = fk.out_len - off - (size_t)n;
        size_t len = h.len < have ? (size_t)h.len : have;
        if (h.opcode == WS_OP_BINARY) {
            if (data + len > taken || memcmp(fk.out + off + n, sent + data, len) != 0) {
                abort();
            }
            data += len;
        }
        off += (size_t)n + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    size_t pre = (data[0] & 0x80u) ? strlen(REQ) : 0;
    size_t body = size - 3 < sizeof(inbuf) - pre ? size - 3 : sizeof(inbuf) - pre;
    memcpy(inbuf, REQ, pre);
    memcpy(inbuf + pre, data + 3, body);
    memset(&fk, 0, sizeof(fk));
    fk.base.ops = &fake_ops;
    fk.base.fd = -1;
    fk.in = inbuf;
    fk.in_len = pre + body;
    fk.read_chunk = 1u + (data[0] & 0x3fu) * 16u;
    fk.write_chunk = 1u + data[1];
    struct stream_ws_opts o = {.headers_max = 256u + (data[2] & 0x0fu) * 64u,
                               .frame_max = (data[2] & 0x10u) ? 300u : 0u};
    struct stream *ws = stream_ws_create(&fk.base, &o);
    if (!ws) {
        return 0;
    }
    static uint8_t buf[4096];
    size_t got = 0;
    size_t taken = 0;
    for (int i = 0; i < 4096; i++) {
        size_t cap = 1u + (size_t)((i * 131u + data[1]) % sizeof(buf));
        ssize_t r = stream_read(ws, buf, cap);
        if (r > 0) {
            got += (size_t)r;
            if ((size_t)r > cap || got > fk.in_off) {
                abort(); /* more payload than raw bytes */
            }
        }
        if (i % 3 == 0 && taken + 100 < sizeof(sent)) {
            for (size_t k = 0; k < 100; k++) {
                sent[taken + k] = (uint8_t)(taken + k);
            }
            struct iovec iov[2] = {{sent + taken, 60}, {sent + taken + 60, 40}};
            ssize_t w = stream_writev(ws, iov, 2);
            if (w > 0) {
                taken += (size_t)w; /* the rest is offered again next time */
            }
            (void)stream_flush(ws);
        }
        if (r < 0 && r != -EAGAIN) {
            break;
        }
    }
    stream_shutdown(ws, GW_E_PROTOCOL);
    check_output(taken);
    stream_destroy(ws);
    return 0;
}
