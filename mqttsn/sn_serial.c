/* sn_serial.c - MQTT-SN over a serial port (sn_serial.h): open and re-open
 * the device (board/), decode the framing (sn_frame.h) into messages for
 * the gateway, and queue, frame and pace what the gateway sends. */
#include "sn_serial.h"

#include "alloc.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SER_BACKOFF_MIN_MS 250u
#define SER_BACKOFF_MAX_MS 5000u
#define SER_RX_BUDGET      16    /* reads per readiness event */
#define SER_RD_CHUNK       4096u /* one read */
#define SER_IDLE_MIN_MS    200u  /* a partial frame quiet this long never completes */
#define SER_SOFT_MAX       65536u
#define SER_HARD_FACTOR    4u
#define SER_PATH_MAX       256u
/* the largest framed message: xbee escaped, or slip, whichever is larger */
#define SER_FRAME_MAX      (2u * (SN_SERIAL_MSG_MAX + 32u))

struct sn_serial {
    struct loop *loop;
    struct board_serial port;
    struct board_serial_cfg line;
    enum sn_framing framing;
    bool escaped;
    sn_rx_cb *cb;
    void *arg;
    struct sn_frame_dec dec;
    struct loop_timer reopen;
    struct loop_timer idle;
    struct loop_timer pace;
    uint32_t backoff_ms;
    uint32_t idle_ms;
    uint32_t rate_cps; /* characters (octets) per second on the line */
    /* output queue: out[pos .. pos + len) waits to be written */
    uint8_t *out;
    size_t out_pos;
    size_t out_len;
    size_t soft;
    size_t hard;
    uint64_t credit;      /* pacing credit in octet-milliseconds (octets x 1000) */
    uint64_t credit_max;  /* burst */
    uint64_t refilled_ms; /* when credit was last topped up */
    bool write_wait;      /* the fd said EAGAIN: waiting for LOOP_WRITE */
    bool down_logged;     /* the device is away and that was logged */
    bool drop_logged;     /* in an output drop episode: logged once */
    bool tx_fail_logged;  /* an xbee transmit failure was logged */
    uint8_t frame_id;     /* xbee: last transmit request frame id */
    struct sn_serial_stats st;
    char path[SER_PATH_MAX];
    uint8_t rx_buf[2u * SN_SERIAL_MSG_MAX + 16u];
    uint8_t rd[SER_RD_CHUNK];
};

static void on_io(struct loop *l, int fd, unsigned events, void *arg);
static void flush_out(struct sn_serial *s);

static const uint8_t xbee_broadcast[8] = {0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

/* ---- line rate and bounds ---- */

static uint32_t rate_of(const struct board_serial_cfg *c)
{
    uint32_t bits = 1u + c->data_bits + (c->parity != BOARD_PARITY_NONE ? 1u : 0u) + c->stop_bits;
    uint32_t cps = c->baud / bits;
    return cps ? cps : 1u;
}

static void size_queue(struct sn_serial *s)
{
    size_t soft = s->rate_cps / 2u;               /* half a second of line time */
    size_t least = SER_FRAME_MAX + SER_FRAME_MAX; /* two framed messages */
    soft = soft < least ? least : soft > SER_SOFT_MAX ? SER_SOFT_MAX : soft;
    s->soft = soft;
    s->hard = soft * SER_HARD_FACTOR;
    uint64_t burst = s->rate_cps / 20u; /* 50 ms of line time at once */
    s->credit_max = (burst < 64u ? 64u : burst) * 1000u;
    /* 64 character times, at least SER_IDLE_MIN_MS */
    uint32_t idle = (uint32_t)(64000u / s->rate_cps);
    s->idle_ms = idle < SER_IDLE_MIN_MS ? SER_IDLE_MIN_MS : idle;
}

uint32_t sn_serial_default_retry_ms(const struct sn_serial *s)
{
    uint64_t drain_ms = (uint64_t)s->hard * 1000u / s->rate_cps;
    uint64_t msg_ms = 2u * (uint64_t)SN_SERIAL_MSG_MAX * 1000u / s->rate_cps;
    uint64_t ms = 10000u + drain_ms + msg_ms;
    return ms > 3600000u ? 3600000u : (uint32_t)ms;
}

/* ---- open, lose, re-open ---- */

static void reset_decoder(struct sn_serial *s)
{
    struct sn_frame_counters keep = s->dec.ctr;
    if (sn_frame_partial(&s->dec)) {
        keep.framing_errors++; /* the device went away mid-frame */
    }
    sn_frame_dec_init(&s->dec, s->framing, s->escaped, s->rx_buf, sizeof(s->rx_buf),
                      SN_SERIAL_MSG_MAX);
    s->dec.ctr = keep;
}

static const char *framing_name(enum sn_framing f)
{
    return f == SN_FRAMING_SLIP ? "slip" : f == SN_FRAMING_XBEE ? "xbee" : "raw";
}

/* Once per episode: the device may take minutes to come (or come back). */
static void note_open_failed(struct sn_serial *s, const char *err)
{
    if (!s->down_logged) {
        s->down_logged = true;
        gw_log(GW_WARN, "sn_serial",
               "port=%s cannot open: %s; retrying with back-off up to %u s (logged once)", s->path,
               err, SER_BACKOFF_MAX_MS / 1000u);
    }
}

static int try_open(struct sn_serial *s)
{
    char err[200];
    int rc = board_serial_open(&s->port, s->path, &s->line, err, sizeof(err));
    if (rc == 0) {
        rc = loop_fd_add(s->loop, s->port.fd, LOOP_READ, on_io, s);
        if (rc < 0) {
            (void)snprintf(err, sizeof(err), "cannot watch the port");
            board_serial_close(&s->port);
        }
    }
    if (rc < 0) {
        note_open_failed(s, err);
        return rc;
    }
    s->st.opens++;
    s->down_logged = false;
    s->backoff_ms = SER_BACKOFF_MIN_MS;
    s->out_pos = 0;
    s->out_len = 0;
    s->write_wait = false;
    s->credit = s->credit_max;
    s->refilled_ms = loop_now_ms(s->loop);
    reset_decoder(s);
    gw_log(GW_NOTICE, "sn_serial", "port=%s open (%s, %u baud, %s framing%s)", s->path,
           s->port.termios ? "termios" : "libserialport", s->line.baud, framing_name(s->framing),
           s->framing == SN_FRAMING_XBEE ? (s->escaped ? ", API mode 2" : ", API mode 1") : "");
    return 0;
}

/* Returns 0 or -ENOMEM (the timer heap could not grow: logged, the port
 * stays closed). */
static int schedule_reopen(struct sn_serial *s)
{
    int rc = loop_timer_start(s->loop, &s->reopen, loop_now_ms(s->loop) + s->backoff_ms);
    if (rc < 0) {
        gw_log(GW_ERROR, "sn_serial", "port=%s cannot schedule a re-open: %s", s->path,
               strerror(-rc)); /* NOLINT(concurrency-mt-unsafe) */
        return rc;
    }
    s->backoff_ms =
            s->backoff_ms * 2u > SER_BACKOFF_MAX_MS ? SER_BACKOFF_MAX_MS : s->backoff_ms * 2u;
    return 0;
}

static void on_reopen(struct loop *l, void *arg)
{
    (void)l;
    struct sn_serial *s = arg;
    if (try_open(s) < 0) {
        (void)schedule_reopen(s);
    }
}

/* The device vanished (unplugged USB, closed pty): close it, keep the
 * sessions (their keep-alive decides), and come back when it does. What
 * was queued for it is lost: QoS 1/2 is retransmitted by the gateway. */
static void port_lost(struct sn_serial *s, int err)
{
    if (s->port.fd < 0) {
        return; /* once per loss */
    }
    s->st.losses++;
    gw_log(GW_WARN, "sn_serial",
           "port=%s lost: %s; %zu queued octets dropped; re-opening with back-off", s->path,
           err ? strerror(err) : "end of file", s->out_len); /* NOLINT(concurrency-mt-unsafe) */
    (void)loop_fd_del(s->loop, s->port.fd);
    board_serial_close(&s->port);
    loop_timer_stop(s->loop, &s->idle);
    loop_timer_stop(s->loop, &s->pace);
    reset_decoder(s);
    s->out_pos = 0;
    s->out_len = 0;
    s->down_logged = true; /* the failing re-opens stay quiet */
    s->backoff_ms = SER_BACKOFF_MIN_MS;
    (void)schedule_reopen(s);
}

static bool vanished(int err)
{
    return err == EIO || err == ENXIO || err == ENODEV || err == EBADF || err == EPIPE;
}

/* ---- input ---- */

static void on_tx_status(struct sn_serial *s, const struct sn_frame_out *o)
{
    if (o->status == 0) {
        s->tx_fail_logged = false;
        return;
    }
    if (!s->tx_fail_logged) {
        s->tx_fail_logged = true;
        gw_log(GW_NOTICE, "sn_serial",
               "port=%s xbee transmit status 0x%02x for frame %u: not delivered (counted; "
               "logged once until a delivery succeeds)",
               s->path, o->status, o->frame_id);
    }
}

static void deliver(struct sn_serial *s, const struct sn_frame_out *o)
{
    if (o->kind == SN_FRAME_TX_STATUS) {
        on_tx_status(s, o);
        return;
    }
    struct sn_peer peer;
    memset(&peer, 0, sizeof(peer));
    if (s->framing == SN_FRAMING_XBEE) {
        memcpy(peer.addr, o->addr, 8);
        peer.len = 8;
    } else {
        peer.len = 1; /* the port itself: one link */
    }
    s->cb(s->arg, &peer, o->msg.p, o->msg.n);
}

/* Feed p[0..n) (n may be 0: drain what the decoder holds). */
static void feed(struct sn_serial *s, const uint8_t *p, size_t n)
{
    for (;;) {
        struct sn_frame_out o;
        size_t used = sn_frame_decode(&s->dec, p, n, &o);
        p += used;
        n -= used;
        if (o.kind != SN_FRAME_NONE) {
            deliver(s, &o);
            if (s->port.fd < 0) {
                return; /* cannot happen today: the callback does not close ports */
            }
            continue;
        }
        if (n == 0 || used == 0) {
            return;
        }
    }
}

static void arm_idle(struct sn_serial *s)
{
    if (sn_frame_partial(&s->dec)) {
        (void)loop_timer_start(s->loop, &s->idle, loop_now_ms(s->loop) + s->idle_ms);
    } else {
        loop_timer_stop(s->loop, &s->idle);
    }
}

static void on_idle(struct loop *l, void *arg)
{
    (void)l;
    struct sn_serial *s = arg;
    sn_frame_idle(&s->dec);
    feed(s, NULL, 0);
    arm_idle(s);
}

/* Read what is there. Returns 0, or the errno of a vanished device. */
static int read_some(struct sn_serial *s)
{
    for (int i = 0; i < SER_RX_BUDGET; i++) {
        ssize_t r = read(s->port.fd, s->rd, sizeof(s->rd));
        if (r > 0) {
            feed(s, s->rd, (size_t)r);
            if (s->port.fd < 0) {
                return 0; /* an answer's write found the device gone: already handled */
            }
            continue;
        }
        if (r == 0) {
            return EIO; /* end of file: a tty reads 0 after hang-up */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            return 0;
        }
        return vanished(errno) ? errno : 0;
    }
    return 0;
}

static void on_io(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    struct sn_serial *s = arg;
    if (events & LOOP_WRITE) {
        s->write_wait = false;
        (void)loop_fd_mod(s->loop, s->port.fd, LOOP_READ);
        flush_out(s);
        if (s->port.fd < 0) {
            return;
        }
    }
    if (!(events & (LOOP_READ | LOOP_ERROR))) {
        return;
    }
    int err = read_some(s);
    if (err == 0 && (events & LOOP_ERROR)) {
        err = EIO; /* hang-up with nothing left to read */
    }
    if (err) {
        port_lost(s, err);
        return;
    }
    arm_idle(s);
}

/* ---- output ---- */

static void refill(struct sn_serial *s)
{
    uint64_t now = loop_now_ms(s->loop);
    if (now > s->refilled_ms) {
        s->credit += (now - s->refilled_ms) * s->rate_cps;
        s->credit = s->credit > s->credit_max ? s->credit_max : s->credit;
        s->refilled_ms = now;
    }
}

static void on_pace(struct loop *l, void *arg)
{
    (void)l;
    flush_out(arg);
}

/* Write what the line rate allows now; wait for credit or the fd. */
static void flush_out(struct sn_serial *s)
{
    if (s->port.fd < 0 || s->write_wait) {
        return;
    }
    refill(s);
    while (s->out_len > 0) {
        size_t allowed = (size_t)(s->credit / 1000u);
        size_t n = s->out_len < allowed ? s->out_len : allowed;
        if (n == 0) {
            size_t need = s->out_len < 16u ? s->out_len : 16u;
            uint64_t wait = (need * 1000u - s->credit + s->rate_cps - 1u) / s->rate_cps;
            (void)loop_timer_start(s->loop, &s->pace, loop_now_ms(s->loop) + (wait ? wait : 1u));
            return;
        }
        ssize_t w = write(s->port.fd, s->out + s->out_pos, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && errno == EAGAIN) {
            s->write_wait = true;
            (void)loop_fd_mod(s->loop, s->port.fd, LOOP_READ | LOOP_WRITE);
            return;
        }
        if (w < 0) {
            port_lost(s, vanished(errno) ? errno : EIO);
            return;
        }
        s->credit -= (uint64_t)w * 1000u;
        s->out_pos += (size_t)w;
        s->out_len -= (size_t)w;
        s->st.octets_out += (uint64_t)w;
    }
    s->out_pos = 0;
    if (s->drop_logged) {
        s->drop_logged = false; /* the episode ended: the queue drained */
    }
}

/* A QoS 0 or -1 PUBLISH (possibly Encapsulated, §5.5), which a full
 * queue may drop; everything else must wait its turn. */
static bool droppable(const uint8_t *p, size_t n)
{
    size_t hdr = n >= 3 && p[0] == 0x01 ? 3u : 1u;
    if (n < hdr + 2) {
        return false;
    }
    if (hdr == 1 && p[1] == 0xFE && p[0] >= 3 && p[0] < n) {
        return droppable(p + p[0], n - p[0]);
    }
    unsigned qos = (p[hdr + 1] >> 5) & 3u;
    return p[hdr] == 0x0C && (qos == 0 || qos == 3);
}

static bool is_gwinfo(const uint8_t *p, size_t n)
{
    return n >= 2 && p[0] != 0x01 && p[1] == 0x02;
}

static size_t frame_msg(struct sn_serial *s, const struct sn_peer *peer, const uint8_t *p, size_t n,
                        uint8_t *dst, size_t cap)
{
    if (s->framing == SN_FRAMING_SLIP) {
        return sn_frame_slip_encode(dst, cap, p, n);
    }
    if (s->framing == SN_FRAMING_XBEE) {
        /* Issue 13: GWINFO goes to the broadcast address, as ADVERTISE. */
        const uint8_t *dest = peer->len == 8 && !is_gwinfo(p, n) ? peer->addr : xbee_broadcast;
        s->frame_id = (uint8_t)(s->frame_id % 255u + 1u); /* 1..255: 0 asks for no status */
        return sn_frame_xbee_encode(dst, cap, s->escaped, s->frame_id, dest, p, n);
    }
    if (n > cap) {
        return 0;
    }
    memcpy(dst, p, n);
    return n;
}

static void note_drop(struct sn_serial *s, const char *what)
{
    if (!s->drop_logged) {
        s->drop_logged = true;
        gw_log(GW_NOTICE, "sn_serial",
               "port=%s output queue full (%zu of %zu octets): %s dropped (counted; logged "
               "once until it drains)",
               s->path, s->out_len, s->hard, what);
    }
}

static int ser_send(void *ctx, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    struct sn_serial *s = ctx;
    static uint8_t framed[SER_FRAME_MAX];
    if (s->port.fd < 0) {
        return -ENOTCONN; /* the device is away: MQTT-SN retries cover it */
    }
    if (n > SN_SERIAL_MSG_MAX) {
        s->st.dropped_too_big++;
        return -EMSGSIZE;
    }
    size_t fn = frame_msg(s, peer, p, n, framed, sizeof(framed));
    if (fn == 0) {
        s->st.dropped_too_big++;
        return -EMSGSIZE;
    }
    if (droppable(p, n) && s->out_len + fn > s->soft) {
        s->st.dropped_qos0++;
        note_drop(s, "QoS 0 PUBLISH");
        return -ENOBUFS;
    }
    if (s->out_len + fn > s->hard) {
        s->st.dropped_full++;
        note_drop(s, "message");
        return -ENOBUFS;
    }
    if (s->out_pos + s->out_len + fn > s->hard) {
        memmove(s->out, s->out + s->out_pos, s->out_len);
        s->out_pos = 0;
    }
    memcpy(s->out + s->out_pos + s->out_len, framed, fn);
    s->out_len += fn;
    s->st.frames_out++;
    flush_out(s);
    return 0;
}

/* The port's last path element (at most its last 48 characters): peer
 * strings have little room (sn_gw_peer_str) and "port=" lines carry the
 * whole path. */
static const char *short_name(const struct sn_serial *s)
{
    const char *slash = strrchr(s->path, '/');
    const char *base = slash ? slash + 1 : s->path;
    size_t n = strlen(base);
    return n > 48 ? base + n - 48 : base;
}

static const char *ser_peer_str(void *ctx, const struct sn_peer *peer, char *buf, size_t cap)
{
    const struct sn_serial *s = ctx;
    if (peer->len == 8) {
        unsigned long long a = 0;
        for (size_t i = 0; i < 8; i++) {
            a = a << 8 | peer->addr[i];
        }
        (void)snprintf(buf, cap, "%s/xbee=%016llx", short_name(s), a);
    } else {
        (void)snprintf(buf, cap, "%s", short_name(s));
    }
    return buf;
}

const struct sn_transport_ops sn_serial_ops = {
        .send = ser_send,
        .peer_str = ser_peer_str,
};

/* ---- public ---- */

int sn_serial_open(struct loop *l, const struct sn_serial_params *sp, sn_rx_cb *cb, void *arg,
                   struct sn_serial **out)
{
    if (strlen(sp->path) >= SER_PATH_MAX) {
        gw_log(GW_ERROR, "sn_serial", "port path longer than %u characters", SER_PATH_MAX - 1u);
        return -EINVAL;
    }
    struct sn_serial *s = gw_calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->loop = l;
    board_serial_init(&s->port);
    s->line = sp->line;
    s->framing = sp->framing;
    s->escaped = sp->xbee_escaped;
    s->cb = cb;
    s->arg = arg;
    memcpy(s->path, sp->path, strlen(sp->path) + 1);
    s->rate_cps = rate_of(&s->line);
    size_queue(s);
    s->out = gw_alloc(s->hard);
    if (!s->out) {
        gw_free(s);
        return -ENOMEM;
    }
    loop_timer_init(&s->reopen, on_reopen, s);
    loop_timer_init(&s->idle, on_idle, s);
    loop_timer_init(&s->pace, on_pace, s);
    sn_frame_dec_init(&s->dec, s->framing, s->escaped, s->rx_buf, sizeof(s->rx_buf),
                      SN_SERIAL_MSG_MAX);
    s->backoff_ms = SER_BACKOFF_MIN_MS;
    if (try_open(s) < 0 && schedule_reopen(s) < 0) {
        sn_serial_close(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void sn_serial_close(struct sn_serial *s)
{
    if (!s) {
        return;
    }
    loop_timer_stop(s->loop, &s->reopen);
    loop_timer_stop(s->loop, &s->idle);
    loop_timer_stop(s->loop, &s->pace);
    if (s->port.fd >= 0) {
        (void)loop_fd_del(s->loop, s->port.fd);
        board_serial_close(&s->port);
    }
    gw_free(s->out);
    gw_free(s);
}

void sn_serial_broadcast(const struct sn_serial *s, struct sn_peer *out)
{
    memset(out, 0, sizeof(*out));
    if (s->framing == SN_FRAMING_XBEE) {
        memcpy(out->addr, xbee_broadcast, 8);
        out->len = 8;
    } else {
        out->len = 1;
    }
}

bool sn_serial_is_open(const struct sn_serial *s)
{
    return s->port.fd >= 0;
}

void sn_serial_get_stats(const struct sn_serial *s, struct sn_serial_stats *out)
{
    *out = s->st;
    out->octets_in = s->dec.ctr.octets;
    out->frames_in = s->dec.ctr.frames;
    out->framing_errors = s->dec.ctr.framing_errors;
    out->crc_errors = s->dec.ctr.crc_errors;
    out->xbee_tx_failed = s->dec.ctr.tx_failed;
}

const char *sn_serial_path(const struct sn_serial *s)
{
    return s->path;
}
