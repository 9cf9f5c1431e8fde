/* stream_ws.c - the WebSocket stream of stream_ws.h.
 *
 * Reading is zero-copy: raw bytes are read from the inner stream into the
 * caller's buffer and the frames are undone in place (headers dropped,
 * payload unmasked and moved down), so only a partial frame header (14
 * bytes) and a control frame's payload (125 bytes) are kept here. Our
 * own bytes (the handshake answer, a pong, a close) wait in `own` and go
 * out only between data frames, never inside one (RFC 6455 5.4). */
#include "stream_ws.h"

#include "alloc.h"
#include "clock.h"
#include "gw_err.h"
#include "token_bucket.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Pings a client may send: a burst, then a rate (each costs a pong). */
#define WS_PING_RATE  10u
#define WS_PING_BURST 50u
#define WS_IOV_MAX    64
/* RFC 6455 5.2: a 64-bit length's top bit is 0. */
#define WS_LEN_MAX    ((uint64_t)INT64_MAX)

enum ws_state {
    WS_ST_HANDSHAKE, /* reading the upgrade request */
    WS_ST_OPEN,      /* frames both ways */
    WS_ST_CLOSING,   /* a close was sent or is due: no data either way */
    WS_ST_REFUSED,   /* the upgrade was answered with an HTTP error */
};

struct ws_stream {
    struct stream base;
    struct stream *inner;
    enum ws_state state;
    size_t headers_max;
    uint64_t frame_max;
    /* The request head; after the upgrade, the bytes that followed it. */
    uint8_t *head;
    size_t head_len;
    size_t head_off;
    /* The frame being read. */
    uint8_t hdr[WS_FRAME_HDR_MAX];
    size_t hdr_n;
    bool in_frame;
    struct ws_frame_hdr cur;
    uint64_t left; /* payload bytes of cur still to come */
    uint64_t seen; /* payload bytes of cur so far (the mask's phase) */
    struct ws_msg_state msg;
    uint8_t ctrl[WS_CONTROL_MAX];
    size_t ctrl_n;
    int deferred; /* an error (or GW_E_CLOSED) for the next read: bytes came first */
    struct token_bucket pings;
    /* Our own bytes, and what is due once they are out. */
    uint8_t own[512];
    size_t own_len;
    size_t own_off;
    bool pong_due;
    uint8_t pong[WS_CONTROL_MAX];
    size_t pong_len;
    bool close_due;
    bool close_sent;
    uint16_t close_code;
    char close_why[64];
    /* The data frame being written. */
    uint8_t whdr[WS_FRAME_HDR_MAX];
    size_t whdr_len;
    size_t whdr_off;
    uint64_t wleft; /* payload bytes the frame still owes */
};

static struct ws_stream *ws_of(struct stream *s)
{
    return (struct ws_stream *)(void *)s;
}

static const struct ws_stream *cws_of(const struct stream *s)
{
    return (const struct ws_stream *)(const void *)s;
}

static bool mid_frame(const struct ws_stream *w)
{
    return w->whdr_off < w->whdr_len || w->wleft > 0;
}

static bool own_due(const struct ws_stream *w)
{
    return w->own_off < w->own_len || w->pong_due || w->close_due;
}

/* Refuse what the peer sent: a close frame with code goes out, the next
 * read returns err. */
static void fail(struct ws_stream *w, int err, uint16_t code, const char *why)
{
    stream_set_why("closing with %u: %s", code, why);
    (void)snprintf(w->close_why, sizeof(w->close_why), "%s", why);
    w->close_code = code;
    w->close_due = true;
    w->state = WS_ST_CLOSING;
    w->deferred = err;
}

/* Move the next due control frame into `own` (a pong before the close). */
static void stage_control(struct ws_stream *w)
{
    if (w->pong_due) {
        w->own_len = ws_frame_encode_header(w->own, true, WS_OP_PONG, w->pong_len, NULL);
        memcpy(w->own + w->own_len, w->pong, w->pong_len);
        w->own_len += w->pong_len;
        w->pong_due = false;
    } else if (w->close_due) {
        w->own_len = ws_close_encode(w->own, sizeof(w->own), w->close_code, w->close_why);
        w->close_due = false;
        w->close_sent = true;
    }
    w->own_off = 0;
}

/* Write our own bytes: 0 when none are left, -EAGAIN, or an error. Only
 * between data frames. */
static int push_own(struct ws_stream *w)
{
    int rc = stream_flush(w->inner);
    if (rc < 0) {
        return rc;
    }
    for (;;) {
        if (w->own_off == w->own_len) {
            if (!w->pong_due && !w->close_due) {
                return 0;
            }
            stage_control(w);
        }
        struct iovec v = {w->own + w->own_off, w->own_len - w->own_off};
        ssize_t n = stream_writev(w->inner, &v, 1);
        if (n < 0) {
            return (int)n;
        }
        w->own_off += (size_t)n;
        if (w->own_off < w->own_len) {
            return -EAGAIN;
        }
    }
}

/* ---- the opening handshake ---- */

static int answer(struct ws_stream *w, const struct ws_upgrade *u)
{
    w->own_len = ws_upgrade_answer(u, w->own, sizeof(w->own));
    w->own_off = 0;
    int rc = push_own(w);
    return rc == -EAGAIN ? 0 : rc;
}

static int refuse_upgrade(struct ws_stream *w, int status, const char *why)
{
    struct ws_upgrade u = {.status = status, .why = why};
    stream_set_why("upgrade refused with %d: %s", status, why);
    w->state = WS_ST_REFUSED;
    (void)answer(w, &u);
    return GW_E_REFUSED;
}

/* Read the request head; answer it when it is whole. Returns 0 (done or
 * more to come) or an error. */
static int read_handshake(struct ws_stream *w)
{
    for (;;) {
        if (w->head_len == w->headers_max) {
            char why[80];
            (void)snprintf(why, sizeof(why), "request head over websockets_headers_size (%zu)",
                           w->headers_max);
            return refuse_upgrade(w, 431, why);
        }
        ssize_t r = stream_read(w->inner, w->head + w->head_len, w->headers_max - w->head_len);
        if (r <= 0) {
            return (int)r; /* 0: more later; GW_E_CLOSED: gone before asking */
        }
        w->head_len += (size_t)r;
        struct ws_upgrade u;
        ssize_t n = ws_upgrade_parse(w->head, w->head_len, &u);
        if (n == GW_E_INCOMPLETE) {
            continue;
        }
        if (u.status != 101) {
            return refuse_upgrade(w, u.status, u.why);
        }
        w->head_off = (size_t)n; /* frames sent before our answer are read next */
        w->state = WS_ST_OPEN;
        return answer(w, &u);
    }
}

/* ---- reading frames ---- */

static void on_ping(struct ws_stream *w)
{
    if (!tb_take(&w->pings, WS_PING_RATE, WS_PING_BURST, 1, gw_clock_now_ms())) {
        fail(w, GW_E_REFUSED, WS_CLOSE_POLICY, "ping flood");
        return;
    }
    /* A pong answers only the latest ping when several wait (5.5.3). */
    memcpy(w->pong, w->ctrl, w->ctrl_n);
    w->pong_len = w->ctrl_n;
    w->pong_due = true;
}

static void on_close(struct ws_stream *w)
{
    uint16_t code;
    struct gw_bytes reason;
    int rc = ws_close_decode(w->ctrl, w->ctrl_n, &code, &reason);
    if (rc == GW_E_PROTOCOL) {
        fail(w, GW_E_MALFORMED, WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
        return;
    }
    if (rc < 0) {
        fail(w, GW_E_MALFORMED, WS_CLOSE_PROTOCOL, "invalid close frame");
        return;
    }
    /* Answer with a close echoing the code (5.5.1); then the end. */
    w->close_code = code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code;
    w->close_why[0] = '\0';
    w->close_due = !w->close_sent;
    w->state = WS_ST_CLOSING;
    w->deferred = GW_E_CLOSED;
}

static void frame_done(struct ws_stream *w)
{
    w->in_frame = false;
    switch (w->cur.opcode) {
    case WS_OP_PING:
        on_ping(w);
        break;
    case WS_OP_CLOSE:
        on_close(w);
        break;
    default:
        break; /* data, or a pong (unsolicited ones are allowed, 5.5.3) */
    }
}

/* A frame header completes in hdr: check it. */
static void frame_begin(struct ws_stream *w)
{
    int kind = ws_msg_check(&w->msg, &w->cur, w->frame_max);
    if (kind == GW_E_TOO_LARGE) {
        char why[64];
        (void)snprintf(why, sizeof(why), "message over %llu bytes",
                       (unsigned long long)w->frame_max);
        fail(w, GW_E_TOO_LARGE, WS_CLOSE_TOO_BIG, why);
        return;
    }
    if (kind < 0) {
        fail(w, GW_E_MALFORMED, WS_CLOSE_PROTOCOL, "continuation out of order");
        return;
    }
    if (kind == WS_OP_TEXT) {
        /* MQTT is carried in binary frames only [MQTT-6.0.0-1]. */
        fail(w, GW_E_MALFORMED, WS_CLOSE_UNSUPPORTED, "text frame (MQTT needs binary)");
        return;
    }
    w->in_frame = true;
    w->left = w->cur.len;
    w->seen = 0;
    w->ctrl_n = 0;
    if (w->left == 0) {
        frame_done(w);
    }
}

/* Take header bytes from p[0..n); returns how many were used. */
static size_t take_header(struct ws_stream *w, const uint8_t *p, size_t n)
{
    size_t had = w->hdr_n;
    size_t take = n < WS_FRAME_HDR_MAX - had ? n : WS_FRAME_HDR_MAX - had;
    memcpy(w->hdr + had, p, take);
    ssize_t h = ws_frame_decode_header(w->hdr, had + take, true, w->frame_max, &w->cur);
    if (h == GW_E_INCOMPLETE) {
        w->hdr_n = had + take;
        return take;
    }
    w->hdr_n = 0;
    if (h == GW_E_TOO_LARGE) {
        char why[64];
        (void)snprintf(why, sizeof(why), "frame of %llu bytes over %llu",
                       (unsigned long long)w->cur.len, (unsigned long long)w->frame_max);
        fail(w, GW_E_TOO_LARGE, WS_CLOSE_TOO_BIG, why);
        return take;
    }
    if (h < 0) {
        /* Unmasked, reserved bits or opcode, a bad length, a big or
         * fragmented control frame (RFC 6455 5.1, 5.2, 5.5). */
        uint8_t op = (uint8_t)(w->hdr[0] & 0x0fu);
        bool known = op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
        bool unmasked =
                (w->hdr[0] & 0x70u) == 0 && known && had + take >= 2 && !(w->hdr[1] & 0x80u);
        fail(w, GW_E_MALFORMED, WS_CLOSE_PROTOCOL,
             unmasked ? "unmasked client frame" : "invalid frame header");
        return take;
    }
    frame_begin(w);
    return (size_t)h - had;
}

/* Undo the frames in p[0..n) in place: payload moves down to p[0..).
 * Returns the payload bytes; a refusal or the peer's close is left in
 * w->deferred. */
static size_t unframe(struct ws_stream *w, uint8_t *p, size_t n)
{
    size_t i = 0;
    size_t o = 0;
    while (i < n && w->state == WS_ST_OPEN) {
        if (!w->in_frame) {
            i += take_header(w, p + i, n - i);
            continue;
        }
        size_t m = w->left < n - i ? (size_t)w->left : n - i;
        if (w->cur.opcode & 0x8u) {
            memcpy(w->ctrl + w->ctrl_n, p + i, m);
            ws_unmask(w->ctrl + w->ctrl_n, m, w->cur.mask, w->seen);
            w->ctrl_n += m;
        } else {
            memmove(p + o, p + i, m);
            ws_unmask(p + o, m, w->cur.mask, w->seen);
            o += m;
        }
        i += m;
        w->seen += m;
        w->left -= m;
        if (w->left == 0) {
            frame_done(w);
        }
    }
    return o;
}

/* Raw bytes for p[0..cap): what followed the request head first, then
 * the inner stream. Returns > 0, 0 (nothing now) or an error. */
static ssize_t read_raw(struct ws_stream *w, uint8_t *p, size_t cap)
{
    if (w->head) {
        size_t n = w->head_len - w->head_off;
        n = n < cap ? n : cap;
        memcpy(p, w->head + w->head_off, n);
        w->head_off += n;
        if (w->head_off == w->head_len) {
            gw_free(w->head); /* the handshake's buffer is done with */
            w->head = NULL;
        }
        if (n > 0) {
            return (ssize_t)n;
        }
    }
    return stream_read(w->inner, p, cap);
}

static ssize_t take_deferred(struct ws_stream *w)
{
    int rc = w->deferred;
    w->deferred = 0;
    if (rc != GW_E_CLOSED && w->close_code && w->close_why[0]) {
        /* The reason is told with the error it comes with (stream_why is
         * cleared before each op). */
        stream_set_why("closing with %u: %s", w->close_code, w->close_why);
    }
    return rc;
}

static ssize_t ws_read(struct stream *s, uint8_t *p, size_t cap)
{
    struct ws_stream *w = ws_of(s);
    if (w->deferred) {
        return take_deferred(w);
    }
    if (w->state == WS_ST_HANDSHAKE) {
        int rc = read_handshake(w);
        if (rc < 0 || w->state != WS_ST_OPEN) {
            return rc;
        }
    }
    if (w->state != WS_ST_OPEN) {
        return GW_E_CLOSED;
    }
    size_t out = 0;
    while (out < cap && w->state == WS_ST_OPEN) {
        ssize_t r = read_raw(w, p + out, cap - out);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            w->deferred = (int)r; /* after the bytes before it */
            break;
        }
        out += unframe(w, p + out, (size_t)r);
    }
    if (own_due(w) && !mid_frame(w)) {
        (void)push_own(w); /* a pong or close now rather than a loop turn later */
    }
    if (out == 0 && w->deferred) {
        return take_deferred(w);
    }
    return (ssize_t)out;
}

/* ---- writing frames ---- */

static ssize_t ws_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
    struct ws_stream *w = ws_of(s);
    if (w->state == WS_ST_HANDSHAKE) {
        return -EAGAIN; /* nothing goes before our 101 */
    }
    if (w->state != WS_ST_OPEN && !mid_frame(w)) {
        return GW_E_CLOSED; /* no data after a close (RFC 6455 5.5.1) */
    }
    if (!mid_frame(w)) {
        int rc = push_own(w); /* a pong between two frames */
        if (rc < 0) {
            return rc;
        }
        uint64_t total = 0;
        for (int i = 0; i < iovcnt; i++) {
            total += iov[i].iov_len;
        }
        if (total == 0) {
            return -EAGAIN;
        }
        w->whdr_len = ws_frame_encode_header(w->whdr, true, WS_OP_BINARY, total, NULL);
        w->whdr_off = 0;
        w->wleft = total;
    }
    struct iovec v[WS_IOV_MAX + 1];
    int k = 0;
    if (w->whdr_off < w->whdr_len) {
        v[k++] = (struct iovec){w->whdr + w->whdr_off, w->whdr_len - w->whdr_off};
    }
    uint64_t room = w->wleft;
    for (int i = 0; i < iovcnt && k <= WS_IOV_MAX && room > 0; i++) {
        size_t n = iov[i].iov_len < room ? iov[i].iov_len : (size_t)room;
        v[k++] = (struct iovec){iov[i].iov_base, n};
        room -= n;
    }
    ssize_t n = stream_writev(w->inner, v, k);
    if (n < 0) {
        return n;
    }
    size_t hdr_part = w->whdr_len - w->whdr_off;
    hdr_part = (size_t)n < hdr_part ? (size_t)n : hdr_part;
    w->whdr_off += hdr_part;
    size_t pay = (size_t)n - hdr_part;
    w->wleft -= pay;
    return pay > 0 ? (ssize_t)pay : -EAGAIN;
}

static int ws_flush(struct stream *s)
{
    struct ws_stream *w = ws_of(s);
    if (mid_frame(w)) {
        /* The caller offers the frame's rest next; our bytes follow it. */
        return stream_flush(w->inner);
    }
    return push_own(w);
}

static unsigned ws_want(const struct stream *s)
{
    const struct ws_stream *w = cws_of(s);
    unsigned ev = stream_want(w->inner);
    if (own_due(w) && !mid_frame(w)) {
        ev |= LOOP_WRITE;
    }
    return ev;
}

static bool ws_pending(const struct stream *s)
{
    const struct ws_stream *w = cws_of(s);
    if (w->deferred || (w->head && w->head_off < w->head_len && w->state == WS_ST_OPEN)) {
        return true;
    }
    return stream_pending(w->inner);
}

static const char *ws_identity(const struct stream *s)
{
    return stream_identity(cws_of(s)->inner);
}

/* The close code for why the connection ends (RFC 6455 7.4.1). */
static uint16_t close_code_for(int reason)
{
    switch (reason) {
    case GW_E_SHUTDOWN:
        return WS_CLOSE_GOING_AWAY;
    case GW_E_MALFORMED:
    case GW_E_PROTOCOL:
        return WS_CLOSE_PROTOCOL;
    case GW_E_TOO_LARGE:
        return WS_CLOSE_TOO_BIG;
    case GW_E_REFUSED:
    case GW_E_SLOW:
        return WS_CLOSE_POLICY;
    case -ENOMEM:
        return WS_CLOSE_INTERNAL;
    default:
        return WS_CLOSE_NORMAL; /* DISCONNECT, keepalive, takeover, EOF */
    }
}

static void ws_shutdown(struct stream *s, int reason)
{
    struct ws_stream *w = ws_of(s);
    if (w->state == WS_ST_HANDSHAKE) {
        if (reason == GW_E_TIMEOUT) {
            /* The CONNECT timeout bounds a slow upgrade (slowloris). */
            w->state = WS_ST_REFUSED;
            struct ws_upgrade u = {.status = 408, .why = "no upgrade request in time"};
            (void)answer(w, &u);
        }
        return;
    }
    if (w->state == WS_ST_OPEN && !mid_frame(w)) {
        w->close_code = close_code_for(reason);
        (void)snprintf(w->close_why, sizeof(w->close_why), "%s",
                       reason == GW_E_SHUTDOWN ? "broker stopping" : "");
        w->close_due = true;
        w->state = WS_ST_CLOSING;
    }
    if (!mid_frame(w)) {
        (void)push_own(w); /* one attempt, never waits */
    }
    stream_shutdown(w->inner, reason);
}

static void ws_destroy(struct stream *s)
{
    struct ws_stream *w = ws_of(s);
    stream_destroy(w->inner);
    gw_free(w->head);
    gw_free(w);
}

static const struct stream_ops ws_ops = {
        .kind = "ws",
        .read = ws_read,
        .writev = ws_writev,
        .flush = ws_flush,
        .want = ws_want,
        .pending = ws_pending,
        .identity = ws_identity,
        .shutdown = ws_shutdown,
        .destroy = ws_destroy,
};

static const struct stream_ops wss_ops = {
        .kind = "wss",
        .read = ws_read,
        .writev = ws_writev,
        .flush = ws_flush,
        .want = ws_want,
        .pending = ws_pending,
        .identity = ws_identity,
        .shutdown = ws_shutdown,
        .destroy = ws_destroy,
};

struct stream *stream_ws_create(struct stream *inner, const struct stream_ws_opts *opts)
{
    struct ws_stream *w = gw_calloc(1, sizeof(*w));
    size_t hmax = opts->headers_max ? opts->headers_max : 4096;
    uint8_t *head = w ? gw_alloc(hmax) : NULL;
    if (!head) {
        gw_free(w);
        return NULL;
    }
    w->base.ops = strcmp(stream_kind(inner), "tls") == 0 ? &wss_ops : &ws_ops;
    w->base.fd = inner->fd;
    w->inner = inner;
    w->state = WS_ST_HANDSHAKE;
    w->headers_max = hmax;
    w->frame_max = opts->frame_max && opts->frame_max < WS_LEN_MAX ? opts->frame_max : WS_LEN_MAX;
    w->head = head;
    return &w->base;
}
