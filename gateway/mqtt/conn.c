/* conn.c - connection I/O over its stream: reading and decoding, output
 * queue, backpressure, CONNECT and keepalive timers. */
#include "conn.h"

#include "alloc.h"
#include "auth_worker.h"
#include "broker.h"
#include "clock.h"
#include "mqtt_ack.h"
#include "mqtt_fe.h"
#include "gw_err.h"
#include "log.h"
#include "lsn.h"
#include "mqtt_codec.h"
#include "mqtt_proto.h"
#include "mqtt_v5.h"
#include "sess.h"
#include "stream.h"
#include "token_bucket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONN_READ_CHUNK     ((size_t)64 * 1024)
#define CONN_READ_BUDGET    ((size_t)256 * 1024)
#define CONN_WRITE_BUDGET   ((size_t)1024 * 1024)
#define CONN_IDLE_BUF_KEEP  4096u
/* Before CONNECT is accepted a client gets a tighter packet limit: enough
 * for a CONNECT with a will and credentials, not a memory attack (200
 * half-sent CONNECTs of 500 KB held 250 MB before any authentication). */
#define CONN_PRE_CONNECT_MAX ((size_t)64 * 1024)
/* One connection's share of a loop turn for handling its input. Bytes do
 * not bound the work: a QoS 0 flood routed to many subscribers costs
 * microseconds a packet, and 256 KiB of it held the loop for 10 ms and
 * more while every other client waited (the soak, issue 11). Past the
 * share the rest waits for the next turn, read and handled in order. */
#define CONN_TURN_US        1000u
#define CONN_TURN_CHECK     32u /* packets between two reads of the clock */

static void on_event(struct loop *l, int fd, unsigned events, void *arg);
static void on_timer(struct loop *l, void *arg);
static void on_readable(struct conn *c);
static void turn_unlink(struct conn *c);

static struct mqtt_fe *conn_fe(const struct conn *c)
{
    return c->lsn->fe;
}

static void save_peer(struct conn *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(c->peer_addr, &in->sin_addr, 4);
        c->peer_port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(c->peer_addr, &in6->sin6_addr, 16);
        c->peer_port = ntohs(in6->sin6_port);
    }
    c->peer_family = (uint8_t)sa->sa_family;
}

const char *conn_peer(const struct conn *c)
{
    static char out[INET6_ADDRSTRLEN + 10];
    char host[INET6_ADDRSTRLEN] = "?";
    if (c->peer_family == AF_INET || c->peer_family == AF_INET6) {
        (void)inet_ntop(c->peer_family, c->peer_addr, host, sizeof(host));
    }
    (void)snprintf(out, sizeof(out), c->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
                   c->peer_port);
    return out;
}

/* Start c on stream s: loop interest, the CONNECT timer from started_ms
 * (accept time: a TLS handshake spends the same connect_timeout), the
 * front-end's list. Returns 0 or an error (nothing registered then). */
static int conn_start(struct broker *b, struct lsn *lsn, struct conn *c, struct stream *s,
                      const struct sockaddr *addr, uint64_t started_ms)
{
    c->b = b;
    c->lsn = lsn;
    c->stream = s;
    c->stream_want = (uint8_t)stream_want(s);
    c->state = CONN_ST_NEW;
    save_peer(c, addr);
    outq_init(&c->out);
    loop_timer_init(&c->timer, on_timer, c);
    c->last_rx_ms = loop_now_ms(b->loop);
    int rc = loop_fd_add(b->loop, s->fd, LOOP_READ | c->stream_want, on_event, c);
    if (rc == 0) {
        rc = loop_timer_start(b->loop, &c->timer,
                              started_ms + (uint64_t)b->cfg->connect_timeout_s * 1000u);
    }
    if (rc < 0) {
        (void)loop_fd_del(b->loop, s->fd);
        return rc;
    }
    struct mqtt_fe *fe = lsn->fe;
    c->next = fe->conns;
    if (fe->conns) {
        fe->conns->prev = c;
    }
    fe->conns = c;
    fe->n_conns++;
    return 0;
}

int conn_create(struct broker *b, struct lsn *lsn, int fd, const struct sockaddr *addr)
{
    struct conn *c = gw_calloc(1, sizeof(*c));
    struct stream *s = c ? lsn_stream(lsn, fd, &c->tcp) : NULL;
    if (!s) {
        gw_free(c);
        (void)close(fd);
        return -ENOMEM;
    }
    int one = 1;
    /* A broker must not add Nagle's delay to each message. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = conn_start(b, lsn, c, s, addr, loop_now_ms(b->loop));
    if (rc < 0) {
        stream_destroy(s);
        gw_free(c);
        return rc;
    }
    lsn->n_conns++;
    b->st.connections_accepted++;
    return 0;
}

int conn_adopt(struct broker *b, struct lsn *lsn, struct stream *s, const struct sockaddr *addr,
               uint64_t started_ms)
{
    struct conn *c = gw_calloc(1, sizeof(*c));
    int rc = c ? conn_start(b, lsn, c, s, addr, started_ms) : -ENOMEM;
    if (rc < 0) {
        stream_destroy(s);
        gw_free(c);
        return rc;
    }
    /* The handshake's last read may have brought the first application
     * records too (the client's CONNECT or WebSocket upgrade): mbedTLS or
     * the read-ahead holds them, and the socket will not signal them
     * again. Read now; with nothing held this costs one recv. */
    on_readable(c);
    return 0;
}

void conn_close_later(struct conn *c, int reason)
{
    if (c->state == CONN_ST_CLOSING) {
        return;
    }
    turn_unlink(c); /* close_next shares turn_next's storage */
    if (c->v5 && c->state == CONN_ST_ACTIVE) {
        /* MQTT 5: say why before closing [MQTT-4.13.2-1]. */
        uint8_t rc = c->v5_disconnect ? c->v5_disconnect : v5_disconnect_rc(reason);
        if (rc) {
            (void)v5_send_disconnect(c, rc);
        }
    }
    c->state = CONN_ST_CLOSING;
    c->close_reason = reason;
    (void)loop_fd_del(c->b->loop, c->stream->fd);
    loop_timer_stop(c->b->loop, &c->timer);
    /* The session stays attached until the end of the iteration
     * (finish_close): a closing link is not writable, so its messages
     * queue or drop meanwhile, and a CONNECT of the same client in this
     * iteration finds the session held and takes it over (the link's kick
     * makes this connection forget it). Detached here, the session looked
     * free: the new connection reaped or resumed it, then this one's
     * svc_disconnect reaped it again (a double free) or detached the new
     * connection's link. */
    c->close_next = conn_fe(c)->closing;
    conn_fe(c)->closing = c;
}

static void mark_pending(struct conn *c)
{
    /* First in, first flushed: deliveries queued while handling a packet
     * go out before the acknowledgement to its sender. */
    if (!c->on_pending) {
        struct mqtt_fe *fe = conn_fe(c);
        c->on_pending = true;
        c->pend_next = NULL;
        if (fe->pending_tail) {
            fe->pending_tail->pend_next = c;
        } else {
            fe->pending = c;
        }
        fe->pending_tail = c;
    }
}

static int check_hard_limit(struct conn *c)
{
    uint64_t hard = c->b->cfg->output_hard_limit_bytes;
    if (hard && outq_bytes(&c->out) > hard) {
        gw_log(GW_WARN, "conn", "peer=%s output over hard limit (%zu bytes): disconnecting",
               conn_peer(c), outq_bytes(&c->out));
        conn_close_later(c, GW_E_SLOW);
        return GW_E_SLOW;
    }
    return 0;
}

uint8_t *conn_reserve(struct conn *c, size_t n)
{
    if (c->state == CONN_ST_CLOSING) {
        return NULL;
    }
    uint8_t *p = outq_reserve(&c->out, n);
    if (!p) {
        conn_close_later(c, -ENOMEM);
        return NULL;
    }
    c->b->st.bytes_sent += n;
    mark_pending(c);
    return check_hard_limit(c) < 0 ? NULL : p;
}

int conn_send(struct conn *c, const void *p, size_t n)
{
    uint8_t *d = conn_reserve(c, n);
    if (!d) {
        return c->state == CONN_ST_CLOSING ? GW_E_CLOSED : -ENOMEM;
    }
    memcpy(d, p, n);
    return 0;
}

int conn_send_ref(struct conn *c, const void *p, size_t n, outq_release_cb *release, void *arg)
{
    if (c->state == CONN_ST_CLOSING) {
        release(arg);
        return GW_E_CLOSED;
    }
    int rc = outq_append_ref(&c->out, p, n, release, arg);
    if (rc < 0) {
        release(arg);
        conn_close_later(c, rc);
        return rc;
    }
    c->b->st.bytes_sent += n;
    mark_pending(c);
    return check_hard_limit(c);
}

bool conn_writable(const struct conn *c)
{
    return c->state != CONN_ST_CLOSING &&
           outq_bytes(&c->out) <= c->b->cfg->output_soft_limit_bytes;
}

static void set_interest(struct conn *c)
{
    unsigned ev = 0;
    if (!c->read_paused) {
        ev |= LOOP_READ;
    }
    if (c->write_armed) {
        ev |= LOOP_WRITE;
    }
    /* A TLS record or a WebSocket control frame may need either event
     * whatever MQTT wants. */
    ev |= stream_want(c->stream) & (LOOP_READ | LOOP_WRITE);
    (void)loop_fd_mod(c->b->loop, c->stream->fd, ev);
}

/* Write queued output through the stream: its own bytes first, then up to
 * budget bytes of the queue. Returns 0 (done or the socket is full) or an
 * error. */
static int write_out(struct conn *c, size_t budget)
{
    stream_clear_why();
    int rc = stream_flush(c->stream);
    if (rc < 0) {
        return rc == -EAGAIN ? 0 : rc;
    }
    while (outq_bytes(&c->out) > 0 && budget > 0) {
        struct iovec iov[OUTQ_IOV_MAX];
        int n = outq_gather(&c->out, iov, OUTQ_IOV_MAX, budget);
        ssize_t w = stream_writev(c->stream, iov, n);
        if (w == -EAGAIN) {
            return 0;
        }
        if (w < 0) {
            return (int)w;
        }
        outq_consume(&c->out, (size_t)w);
        budget = (size_t)w >= budget ? 0 : budget - (size_t)w;
    }
    return 0;
}

static void log_stream_error(const struct conn *c, int rc)
{
    if (stream_why()[0] && rc != GW_E_CLOSED) {
        gw_log(GW_INFO, "conn", "peer=%s client=\"%s\" %s: %s", conn_peer(c),
               c->sess ? c->sess->id : "", stream_kind(c->stream), stream_why());
    }
}

void conn_flush_final(struct conn *c)
{
    if (!c->stream) {
        return;
    }
    (void)write_out(c, (size_t)64 * 1024);
    stream_shutdown(c->stream, c->close_reason);
}

void conn_drop_stream(struct conn *c)
{
    stream_destroy(c->stream);
    c->stream = NULL;
}

void conn_flush(struct conn *c)
{
    if (!c->stream) {
        return;
    }
    int rc = write_out(c, CONN_WRITE_BUDGET);
    if (rc < 0) {
        if (c->state != CONN_ST_CLOSING) {
            log_stream_error(c, rc);
            conn_close_later(c, rc);
        }
        return;
    }
    if (c->state == CONN_ST_CLOSING) {
        return;
    }
    bool want_write = outq_bytes(&c->out) > 0;
    unsigned had = c->stream_want;
    c->stream_want = (uint8_t)stream_want(c->stream);
    /* Over the soft limit: stop reading this client until it drains
     * (STYLE.md 5): it is not reading what it asked for. */
    bool pause = !conn_writable(c) || c->held || c->rate_paused || c->turn_paused;
    bool resumed = c->read_paused && !pause;
    if (want_write != c->write_armed || pause != c->read_paused || had != c->stream_want) {
        c->write_armed = want_write;
        c->read_paused = pause;
        set_interest(c);
    }
    if (resumed && stream_pending(c->stream)) {
        on_readable(c); /* decoded bytes the socket will not signal again */
    }
    if (!pause && c->state != CONN_ST_CLOSING && c->sess && c->sess->q_len > 0) {
        sess_pump(c->sess);
    }
}

/* Start a connection's share of this turn (CONN_TURN_US). */
static void start_turn(struct conn *c)
{
    c->turn_pkts = 0;
    conn_fe(c)->turn_until_us = gw_clock_now_us() + CONN_TURN_US;
}

/* Its share is used: stop reading and handling; the front-end's turn
 * timer gives it the next turn (conn_turn_timer). One timer and a list in
 * the front-end instead of a timer in every connection: 24 bytes less on
 * each of thousands of mostly idle connections. */
static void pause_for_turn(struct conn *c)
{
    if (c->state == CONN_ST_CLOSING) {
        return; /* turn_next is close_next now */
    }
    c->turn_paused = true;
    if (!c->read_paused) {
        c->read_paused = true;
        set_interest(c);
    }
    if (c->turn_queued) {
        return;
    }
    struct mqtt_fe *fe = conn_fe(c);
    c->turn_queued = true;
    c->turn_next = NULL;
    if (fe->turn_tail) {
        fe->turn_tail->turn_next = c;
    } else {
        fe->turn_head = c;
    }
    fe->turn_tail = c;
    if (!loop_timer_armed(&fe->turn_timer)) {
        (void)loop_timer_start(c->b->loop, &fe->turn_timer, loop_now_ms(c->b->loop));
    }
}

/* c is being freed: off the turn lists (only a connection that used its
 * share in the last turn is on one: short lists). */
static void turn_unlink(struct conn *c)
{
    if (!c->turn_queued) {
        return;
    }
    struct mqtt_fe *fe = conn_fe(c);
    struct conn *prev = NULL;
    for (struct conn **pp = &fe->turn_head; *pp; prev = *pp, pp = &(*pp)->turn_next) {
        if (*pp == c) {
            *pp = c->turn_next;
            if (fe->turn_tail == c) {
                fe->turn_tail = prev;
            }
            c->turn_queued = false;
            return;
        }
    }
    for (struct conn **pp = &fe->turn_running; *pp; pp = &(*pp)->turn_next) {
        if (*pp == c) {
            *pp = c->turn_next;
            c->turn_queued = false;
            return;
        }
    }
}

static size_t process_input(struct conn *c, const uint8_t *data, size_t len);

void conn_hold_input(struct conn *c)
{
    c->held = true;
    if (!c->read_paused) {
        c->read_paused = true;
        set_interest(c);
    }
}

void conn_release_input(struct conn *c)
{
    c->held = false;
    if (c->state == CONN_ST_CLOSING) {
        return;
    }
    start_turn(c);
    if (c->in) {
        size_t used = process_input(c, buf_head(c->in), buf_len(c->in));
        buf_consume(c->in, used);
        buf_compact(c->in, CONN_IDLE_BUF_KEEP);
    }
    if (c->state == CONN_ST_CLOSING || c->held || c->rate_paused || c->turn_paused) {
        return;
    }
    bool pause = !conn_writable(c);
    if (pause != c->read_paused) {
        c->read_paused = pause;
        set_interest(c);
    }
    if (!pause && stream_pending(c->stream)) {
        on_readable(c); /* decoded bytes the socket will not signal again */
    }
}

/* ---- publish rate limits ---- */

struct conn_rate {
    struct token_bucket msgs;
    struct token_bucket bytes;
    struct loop_timer resume;
    struct conn *c;
    bool dropping; /* QoS 0 dropped since the last one let through: logged */
};

static void on_rate_resume(struct loop *l, void *arg)
{
    (void)l;
    struct conn_rate *r = arg;
    r->c->rate_paused = false;
    conn_release_input(r->c); /* what waited in the buffer, then read on */
}

bool conn_rate_publish(struct conn *c, uint8_t qos, size_t n)
{
    const struct gw_config *cfg = c->b->cfg;
    uint64_t mr = cfg->max_publish_rate;
    uint64_t br = cfg->max_publish_bytes_rate;
    if (!mr && !br) {
        return true;
    }
    if (!c->rate) {
        c->rate = gw_calloc(1, sizeof(*c->rate));
        if (!c->rate) {
            return true; /* no memory for the limit: not a reason to lose it */
        }
        c->rate->c = c;
        loop_timer_init(&c->rate->resume, on_rate_resume, c->rate);
    }
    struct conn_rate *r = c->rate;
    uint64_t now = loop_now_ms(c->b->loop);
    if (qos == 0) {
        bool ok = !mr || tb_take(&r->msgs, mr, mr, 1, now);
        if (ok && br && !tb_take(&r->bytes, br, br, n, now)) {
            ok = false;
            r->msgs.milli += mr ? 1000 : 0; /* the message token back */
        }
        if (!ok) {
            c->b->st.rate_dropped++;
            c->b->st.pub_dropped++;
            if (!r->dropping) {
                r->dropping = true;
                gw_log(GW_NOTICE, "conn",
                       "peer=%s client=\"%s\" over max_publish_rate: dropping QoS 0 (further "
                       "drops counted only)",
                       conn_peer(c), c->sess ? c->sess->id : "");
            }
            return false;
        }
        r->dropping = false;
        return true;
    }
    uint64_t wait = mr ? tb_take_debt(&r->msgs, mr, mr, 1, now) : 0;
    uint64_t wb = br ? tb_take_debt(&r->bytes, br, br, n, now) : 0;
    wait = wb > wait ? wb : wait;
    if (wait) {
        /* This one goes on; nothing more is read or handled until the
         * buckets are out of debt. */
        c->b->st.rate_slowed++;
        c->rate_paused = true;
        if (!c->read_paused) {
            c->read_paused = true;
            set_interest(c);
        }
        (void)loop_timer_start(c->b->loop, &r->resume, now + wait);
    }
    return true;
}

void conn_destroy(struct conn *c)
{
    struct mqtt_fe *fe = conn_fe(c);
    turn_unlink(c);
    if (c->pw_state == CONN_PW_PENDING) {
        if (c->pw_req) {
            auth_worker_cancel(c->b->pw_worker, c->pw_req); /* its answer finds nobody */
        }
        c->pw_req = NULL;
    } else if (c->rate) {
        loop_timer_stop(c->b->loop, &c->rate->resume);
        gw_free(c->rate);
        c->rate = NULL;
    }
    stream_destroy(c->stream);
    c->stream = NULL;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        fe->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    fe->n_conns--;
    mqtt_ack_clear(c);
    lsn_conn_closed(c->lsn);
    if (c->in) {
        buf_fini(c->in);
        gw_free(c->in);
    }
    outq_fini(&c->out);
    v5_free(c->v5);
    gw_free(c);
}

/* Reads land here first: most reads hold whole packets, which are handled
 * straight from this buffer, so an idle connection keeps no input buffer
 * (only a partial packet is copied into conn.in). Loop thread only. */
static uint8_t scratch[CONN_READ_CHUNK];

/* Decode and handle every complete packet in data[0..len). Returns the
 * bytes consumed; the connection is marked closing on any error. */
static size_t process_input(struct conn *c, const uint8_t *data, size_t len)
{
    const struct gw_config *cfg = c->b->cfg;
    struct mqtt_limits lim = {.version = c->version, .max_packet_size = cfg->max_packet_size};
    ssize_t used = GW_E_INCOMPLETE;
    size_t off = 0;
    struct mqtt_pkt pkt;
    while (c->state != CONN_ST_CLOSING && !c->held && !c->rate_paused && !c->turn_paused) {
        if (c->state == CONN_ST_NEW &&
            (cfg->max_packet_size == 0 || cfg->max_packet_size > CONN_PRE_CONNECT_MAX)) {
            lim.max_packet_size = CONN_PRE_CONNECT_MAX;
        }
        used = mqtt_decode(data + off, len - off, &lim, &pkt);
        if (used <= 0) {
            break;
        }
        c->b->st.msgs_received++;
        int rc = mqtt_proto_on_packet(c, &pkt); /* views in pkt end here */
        if (c->held) {
            break; /* the packet stays in the buffer: handled again on release */
        }
        off += (size_t)used;
        if (rc < 0) {
            conn_close_later(c, rc);
            return off;
        }
        lim.version = c->version;
        lim.max_packet_size = cfg->max_packet_size;
        if (++c->turn_pkts >= CONN_TURN_CHECK) {
            c->turn_pkts = 0;
            if (gw_clock_now_us() > conn_fe(c)->turn_until_us) {
                pause_for_turn(c);
            }
        }
    }
    if (c->state != CONN_ST_CLOSING && used < 0 && used != GW_E_INCOMPLETE) {
        c->b->st.protocol_errors++;
        gw_log(GW_NOTICE, "conn", "peer=%s client=\"%s\" closing: %s", conn_peer(c),
               c->sess ? c->sess->id : "", gw_strerror((int)used));
        conn_close_later(c, (int)used);
    }
    return off;
}

/* Keep the rest of a read, a packet not yet whole, in c->in (made on
 * first use: most connections never see a packet split across reads).
 * Returns 0 or -ENOMEM (logged here; the caller closes the connection). */
static int keep_partial(struct conn *c, const uint8_t *p, size_t n)
{
    if (!c->in) {
        c->in = gw_alloc(sizeof(*c->in));
        if (c->in) {
            buf_init(c->in);
        }
    }
    if (!c->in || buf_reserve(c->in, n) < 0) {
        gw_log(GW_WARN, "conn", "peer=%s client=\"%s\" closing: out of memory for the %zu "
               "bytes of a partial packet", conn_peer(c), c->sess ? c->sess->id : "", n);
        return -ENOMEM;
    }
    memcpy(buf_tail(c->in), p, n);
    buf_commit(c->in, n);
    return 0;
}

/* Read once. Returns the bytes read (> 0), 0 when the stream has nothing
 * now, or an error (GW_E_CLOSED at EOF). */
static ssize_t read_once(struct conn *c)
{
    ssize_t r;
    stream_clear_why();
    if (!c->in || buf_len(c->in) == 0) {
        r = stream_read(c->stream, scratch, sizeof(scratch));
        if (r > 0) {
            size_t used = process_input(c, scratch, (size_t)r);
            size_t rest = (size_t)r - used;
            if (rest && c->state != CONN_ST_CLOSING && keep_partial(c, scratch + used, rest) < 0) {
                return -ENOMEM;
            }
        }
    } else {
        if (buf_len(c->in) >= CONN_READ_CHUNK && broker_memory_full(c->b)) {
            /* A large packet still arriving would grow the buffer past
             * the budget: the client loses the connection, and resends
             * what it did not get acknowledged. */
            c->b->st.memory_refused++;
            gw_log(GW_NOTICE, "conn", "peer=%s client=\"%s\" closing: memory_limit reached "
                   "with %zu bytes of a packet buffered", conn_peer(c),
                   c->sess ? c->sess->id : "", buf_len(c->in));
            return GW_E_REFUSED;
        }
        if (buf_reserve(c->in, CONN_READ_CHUNK) < 0) {
            return -ENOMEM;
        }
        r = stream_read(c->stream, buf_tail(c->in), buf_room(c->in));
        if (r > 0) {
            buf_commit(c->in, (size_t)r);
            size_t used = process_input(c, buf_head(c->in), buf_len(c->in));
            buf_consume(c->in, used);
            buf_compact(c->in, CONN_IDLE_BUF_KEEP);
        }
    }
    if (r > 0) {
        c->b->st.bytes_received += (uint64_t)r;
    }
    return r;
}

static void on_readable(struct conn *c)
{
    size_t total = 0;
    c->last_rx_ms = loop_now_ms(c->b->loop);
    start_turn(c);
    /* Packets that arrived before an EOF are handled first: a DISCONNECT
     * followed by FIN must still suppress the will. */
    while (total < CONN_READ_BUDGET && c->state != CONN_ST_CLOSING) {
        ssize_t r = read_once(c);
        if (r < 0) {
            if (c->state != CONN_ST_CLOSING) {
                log_stream_error(c, (int)r);
                conn_close_later(c, (int)r);
            }
            return;
        }
        /* A short read drained the socket, unless the stream keeps
         * decoded bytes back (a TLS record holds at most 16 KiB). */
        if (r == 0 || ((size_t)r < CONN_READ_CHUNK && !stream_pending(c->stream))) {
            break;
        }
        if (c->held || c->rate_paused || c->turn_paused) {
            break; /* what was read and not handled waits in c->in */
        }
        total += (size_t)r;
    }
    if (c->state != CONN_ST_CLOSING && stream_want(c->stream) != c->stream_want) {
        c->stream_want = (uint8_t)stream_want(c->stream); /* a handshake step changed it */
        set_interest(c);
    }
}

static void on_event(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    struct conn *c = arg;
    if ((events & LOOP_WRITE) && c->state != CONN_ST_CLOSING) {
        conn_flush(c);
    }
    if ((events & LOOP_READ) && c->state != CONN_ST_CLOSING) {
        on_readable(c);
    }
}

/* The connection used its share of a loop turn (pause_for_turn): handle
 * what waited in its buffer, then give it its events back. */
static void resume_turn(struct conn *c)
{
    if (c->state == CONN_ST_CLOSING || !c->stream) {
        return;
    }
    if (c->turn_paused) {
        c->turn_paused = false;
        conn_release_input(c); /* what waited in c->in, then read on */
        if (c->state == CONN_ST_CLOSING) {
            return;
        }
    }
    conn_flush(c);
    if (c->state != CONN_ST_CLOSING) {
        c->stream_want = (uint8_t)stream_want(c->stream);
        set_interest(c);
    }
}

void conn_turn_timer(struct loop *l, void *arg)
{
    (void)l;
    struct mqtt_fe *fe = arg;
    /* The ones queued in the last turn; one that uses its share again
     * now joins the fresh list for the next. */
    fe->turn_running = fe->turn_head;
    fe->turn_head = NULL;
    fe->turn_tail = NULL;
    while (fe->turn_running) {
        struct conn *c = fe->turn_running;
        fe->turn_running = c->turn_next;
        c->turn_next = NULL;
        c->turn_queued = false;
        resume_turn(c);
    }
}

static void on_timer(struct loop *l, void *arg)
{
    struct conn *c = arg;
    uint64_t now = loop_now_ms(l);
    if (c->state == CONN_ST_NEW) {
        gw_log(GW_NOTICE, "conn", "peer=%s closing: no CONNECT within %u s", conn_peer(c),
               c->b->cfg->connect_timeout_s);
        conn_close_later(c, GW_E_TIMEOUT);
        return;
    }
    if (c->state != CONN_ST_ACTIVE || c->keepalive_s == 0) {
        return;
    }
    /* [MQTT-3.1.2-24]: one and a half times the keep alive period. */
    uint64_t limit = (uint64_t)c->keepalive_s * 1500u;
    if (now - c->last_rx_ms >= limit) {
        gw_log(GW_NOTICE, "conn", "peer=%s client=\"%s\" closing: keepalive %u s expired",
               conn_peer(c), c->sess ? c->sess->id : "", c->keepalive_s);
        conn_close_later(c, GW_E_TIMEOUT);
        return;
    }
    (void)loop_timer_start(l, &c->timer, c->last_rx_ms + limit);
}
