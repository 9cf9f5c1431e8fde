/* tern_bench.c - MQTT 3.1.1 load generator (the benchmark, not a test).
 *
 * Speaks raw MQTT 3.1.1 over TCP from one thread and one epoll loop. It uses
 * no MQTT library and no broker code, so it measures Tern and mosquitto the
 * same way. Modes (see tests/bench/README.md):
 *   throughput  P publishers -> S subscribers, QoS 0/1/2, windowed pipeline
 *   latency     1 -> 1 at a fixed rate, CLOCK_MONOTONIC stamp in the payload
 *   idle        N connections with CONNECT + one SUBSCRIBE, held open
 *   durable     persistent subscriber (clean session 0) subscribes QoS 1 and
 *               goes offline; P publishers publish QoS 1 to its topic
 *               (PUBACKs/s); it reconnects and drains, checking order.
 *               Each phase also runs alone: durable-sub, durable-pub,
 *               durable-drain (so a script can restart the broker between).
 * Human-readable lines go to stderr; one machine-readable "RESULT k=v ..."
 * line goes to stdout (idle also prints "READY conns=N" once all are
 * subscribed, then holds them until SIGTERM/SIGINT or -d seconds).
 *
 * Flow control: a publisher may have at most W messages "undelivered"
 * (published but not yet seen by every matching subscriber) and, at QoS 1/2,
 * at most W unacknowledged. This keeps broker queues bounded (no drops from
 * max_queued_messages) and measures sustained, not burst, throughput.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S      1000000000ull
#define STAMP_LEN     16u        /* u32 publisher, u32 seq, u64 send time ns */
#define READ_CHUNK    65536u     /* bytes read per call for traffic conns */
#define READ_BUDGET   262144u    /* bytes read per conn per wakeup */
#define OUT_SOFT_MAX  65536u     /* stop generating while this much is unsent */
#define MAX_PENDING   64u        /* connections being set up at once */
#define TIMER_TAG     UINT32_MAX /* epoll tag of the rate timer */
#define QOS0_STALL_NS (300ull * 1000000ull)

enum bench_mode {
    MODE_THROUGHPUT,
    MODE_LATENCY,
    MODE_IDLE,
    MODE_DURABLE,   /* the three phases below in one run */
    MODE_DUR_SUB,   /* persistent subscriber: CONNECT (clean 0), SUBSCRIBE, DISCONNECT */
    MODE_DUR_PUB,   /* publishers only: QoS 1 to the offline subscriber, PUBACKs/s */
    MODE_DUR_DRAIN, /* persistent subscriber reconnects and receives its queue */
};

#define DUR_GRACE_NS (300ull * 1000000ull) /* drain: wait this long for extras */

enum bench_layout { LAYOUT_PAIRS, LAYOUT_FANOUT, LAYOUT_FANIN };

enum conn_role { ROLE_SUB, ROLE_PUB, ROLE_IDLE };

enum conn_state { CST_INIT, CST_TCP, CST_CONNACK, CST_SUBACK, CST_READY };

/* Byte buffer; live data is p[off..len). Owned by its conn. */
struct bbuf {
    uint8_t *p;
    size_t off;
    size_t len;
    size_t cap;
};

struct conn {
    int fd;
    enum conn_role role;
    enum conn_state st;
    unsigned idx; /* publisher, subscriber or idle index */
    bool out_armed;
    bool dirty;
    struct bbuf in;
    struct bbuf out;
    uint64_t sent;  /* publisher: PUBLISH packets written */
    uint64_t acked; /* publisher: PUBACK / PUBCOMP received */
    uint16_t next_id;
};

struct opts {
    const char *host;
    uint16_t port;
    enum bench_mode mode;
    enum bench_layout layout;
    unsigned pubs;
    unsigned subs;
    unsigned qos;
    unsigned window;
    unsigned conns;
    unsigned keepalive_s;
    unsigned rate; /* total msgs/s, 0 = as fast as the window allows */
    size_t payload;
    uint64_t count; /* total messages to publish, 0 = bounded by duration */
    double duration_s;
    double drain_s;
    double connect_s;
    double warmup_s;
    double drain_max_s;    /* durable: bound of the drain phase */
    const char *client_id; /* durable: the persistent subscriber's id */
    const char *topic;     /* durable: the one topic */
    uint64_t expect;       /* durable-drain: messages expected, 0 = unknown */
};

struct bench {
    struct opts o;
    int ep;
    int timer_fd;
    struct conn *conns;
    unsigned nconns;
    unsigned next_open;
    unsigned pending;
    unsigned ready;
    unsigned *dirty;
    unsigned ndirty;
    char prefix[48];
    char (*topics)[96];      /* per publisher */
    unsigned fan;            /* subscribers that receive each message */
    uint64_t *recv_from;     /* per publisher, summed over subscribers */
    uint64_t *resolved_from; /* received + known lost, per publisher */
    uint32_t *next_seq;      /* [sub * pubs + pub] */
    uint64_t received;
    uint64_t dup;
    uint64_t gaps;
    uint64_t forgiven;
    uint64_t total_sent;
    uint64_t total_acked;
    uint64_t t_last_ack;
    uint64_t stale;        /* durable-sub: messages already queued for the id */
    uint64_t beyond;       /* durable-drain: deliveries after -n, left unacked */
    int session_present;   /* durable-drain: CONNACK flag, -1 before */
    uint64_t tokens;
    uint64_t t_start;
    uint64_t t_warm;
    uint64_t t_first_recv; /* first counted delivery, 0 before */
    uint64_t t_last_recv;
    uint64_t t_progress; /* last delivery or QoS 0 stall reset */
    uint64_t *lat_ns;
    size_t nlat;
    size_t lat_cap;
    uint8_t *payload;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputs("tern_bench: error: ", stderr);
    (void)vfprintf(stderr, fmt, ap);
    (void)fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME of a CLOCK_MONOTONIC instant, in seconds (for scripts
 * that line our times up with a broker's log stamps). */
static double wall_s(uint64_t mono_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double real_now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    return real_now - (double)(now_ns() - mono_ns) / (double)NS_PER_S;
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NS_PER_S +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

/* ---- buffers and packet encoders ---------------------------------------- */

/* Make room for n more bytes at p + len; returns that pointer. */
static uint8_t *bbuf_reserve(struct bbuf *b, size_t n)
{
    if (b->cap - b->len >= n) {
        return b->p + b->len;
    }
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            die("out of memory");
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static size_t bbuf_used(const struct bbuf *b)
{
    return b->len - b->off;
}

static size_t varint_len(size_t v)
{
    if (v < 128) {
        return 1;
    }
    if (v < 16384) {
        return 2;
    }
    return v < 2097152 ? 3 : 4;
}

static uint8_t *put_header(uint8_t *p, unsigned type_flags, size_t rem)
{
    *p++ = (uint8_t)type_flags;
    do {
        uint8_t d = (uint8_t)(rem & 0x7fu);
        rem >>= 7;
        if (rem > 0) {
            d = (uint8_t)(d | 0x80u);
        }
        *p++ = d;
    } while (rem > 0);
    return p;
}

static uint8_t *put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
    p = put_u16(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* Each encoder appends one packet to b and returns the bytes appended. */
static size_t enc_connect(struct bbuf *b, const char *client_id, unsigned keepalive_s, bool clean)
{
    size_t idlen = strlen(client_id);
    size_t rem = 10 + 2 + idlen;
    uint8_t *start = bbuf_reserve(b, 1 + varint_len(rem) + rem);
    uint8_t *p = put_header(start, 0x10, rem);
    p = put_str(p, "MQTT", 4);
    *p++ = 4;    /* protocol level 3.1.1 */
    *p++ = clean ? 0x02 : 0x00; /* clean session or not; no will, no credentials */
    p = put_u16(p, keepalive_s);
    p = put_str(p, client_id, idlen);
    b->len += (size_t)(p - start);
    return (size_t)(p - start);
}

static size_t enc_subscribe(struct bbuf *b, uint16_t id, const char *filter, unsigned qos)
{
    size_t flen = strlen(filter);
    size_t rem = 2 + 2 + flen + 1;
    uint8_t *start = bbuf_reserve(b, 1 + varint_len(rem) + rem);
    uint8_t *p = put_header(start, 0x82, rem);
    p = put_u16(p, id);
    p = put_str(p, filter, flen);
    *p++ = (uint8_t)qos;
    b->len += (size_t)(p - start);
    return (size_t)(p - start);
}

static size_t enc_publish(struct bbuf *b, const char *topic, unsigned qos, uint16_t id,
                          const uint8_t *payload, size_t plen)
{
    size_t tlen = strlen(topic);
    size_t rem = 2 + tlen + (qos > 0 ? 2 : 0) + plen;
    uint8_t *start = bbuf_reserve(b, 1 + varint_len(rem) + rem);
    uint8_t *p = put_header(start, 0x30u | (qos << 1), rem);
    p = put_str(p, topic, tlen);
    if (qos > 0) {
        p = put_u16(p, id);
    }
    memcpy(p, payload, plen);
    p += plen;
    b->len += (size_t)(p - start);
    return (size_t)(p - start);
}

/* PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70, DISCONNECT 0xe0 (no id). */
static void enc_short(struct bbuf *b, unsigned type_flags, int id)
{
    uint8_t *p = bbuf_reserve(b, 4);
    p[0] = (uint8_t)type_flags;
    if (id < 0) {
        p[1] = 0;
        b->len += 2;
        return;
    }
    p[1] = 2;
    put_u16(p + 2, (size_t)id);
    b->len += 4;
}

/* Decode the fixed header at p[0..n). Returns header length, 0 if incomplete,
 * -1 if the remaining length is malformed (more than 4 bytes). */
static int dec_header(const uint8_t *p, size_t n, size_t *rem)
{
    size_t v = 0;
    unsigned shift = 0;
    for (size_t i = 1; i < n && i <= 4; i++) {
        v |= (size_t)(p[i] & 0x7fu) << shift;
        if ((p[i] & 0x80u) == 0) {
            *rem = v;
            return (int)i + 1;
        }
        shift += 7;
    }
    return n >= 5 ? -1 : 0;
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* ---- connections ------------------------------------------------------- */

static bool is_durable(const struct bench *b)
{
    return b->o.mode >= MODE_DURABLE;
}

static void mark_dirty(struct bench *b, struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        b->dirty[b->ndirty++] = (unsigned)(c - b->conns);
    }
}

static void conn_fail(const struct bench *b, const struct conn *c, const char *why, int err)
{
    static const char *const roles[] = {"subscriber", "publisher", "idle"};
    die("%s %u (conn %u/%u ready): %s%s%s", roles[c->role], c->idx, b->ready, b->nconns, why,
        err ? ": " : "", err ? strerror(err) : "");
}

static void conn_set_events(struct bench *b, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - b->conns)};
    if (epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_fail(b, c, "epoll_ctl", errno);
    }
}

static void conn_flush(struct bench *b, struct conn *c)
{
    while (bbuf_used(&c->out) > 0) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, bbuf_used(&c->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                conn_fail(b, c, "send", errno);
            }
            if (!c->out_armed) {
                c->out_armed = true;
                conn_set_events(b, c, EPOLLIN | EPOLLOUT);
            }
            return;
        }
        c->out.off += (size_t)n;
    }
    c->out.off = 0;
    c->out.len = 0;
    if (c->out_armed) {
        c->out_armed = false;
        conn_set_events(b, c, EPOLLIN);
    }
}

static void flush_dirty(struct bench *b)
{
    for (unsigned i = 0; i < b->ndirty; i++) {
        struct conn *c = &b->conns[b->dirty[i]];
        c->dirty = false;
        conn_flush(b, c);
    }
    b->ndirty = 0;
}

static void conn_open(struct bench *b, struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(b->o.port)};
    if (inet_pton(AF_INET, b->o.host, &sa.sin_addr) != 1) {
        die("host must be an IPv4 address: %s", b->o.host);
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(b, c, "socket (raise ulimit -n?)", errno);
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        conn_fail(b, c, "connect", errno);
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - b->conns)};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(b, c, "epoll_ctl add", errno);
    }
    c->out_armed = true;
    c->st = CST_TCP;
    c->next_id = 1;
    b->pending++;
}

/* Keep up to MAX_PENDING connections in setup (listen backlogs are small). */
static void open_more(struct bench *b)
{
    while (b->pending < MAX_PENDING && b->next_open < b->nconns) {
        conn_open(b, &b->conns[b->next_open++]);
    }
}

static void conn_tcp_done(struct bench *b, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        conn_fail(b, c, "connect", err);
    }
    char id[48];
    static const char roles[] = "spi";
    snprintf(id, sizeof(id), "tb%ld%c%u", (long)getpid(), roles[c->role], c->idx);
    if (is_durable(b) && c->role == ROLE_SUB) {
        enc_connect(&c->out, b->o.client_id, b->o.keepalive_s, false);
    } else {
        enc_connect(&c->out, id, b->o.keepalive_s, true);
    }
    c->st = CST_CONNACK;
    mark_dirty(b, c);
}

static void conn_set_ready(struct bench *b, struct conn *c)
{
    c->st = CST_READY;
    b->ready++;
    b->pending--;
}

static void sub_filter(const struct bench *b, const struct conn *c, char *dst, size_t cap)
{
    if (is_durable(b)) {
        snprintf(dst, cap, "%s", b->o.topic);
    } else if (c->role == ROLE_IDLE) {
        snprintf(dst, cap, "%s/idle/%u", b->prefix, c->idx);
    } else if (b->o.layout == LAYOUT_FANIN) {
        snprintf(dst, cap, "%s/+", b->prefix);
    } else if (b->o.layout == LAYOUT_FANOUT) {
        snprintf(dst, cap, "%s/0", b->prefix);
    } else {
        snprintf(dst, cap, "%s/%u", b->prefix, c->idx);
    }
}

/* ---- incoming packets -------------------------------------------------- */

static void record_latency(struct bench *b, uint64_t sent_ns, uint64_t now)
{
    if (sent_ns < b->t_warm || now < sent_ns) {
        return;
    }
    if (b->nlat == b->lat_cap) {
        b->lat_cap = b->lat_cap ? b->lat_cap * 2 : 65536;
        uint64_t *p = realloc(b->lat_ns, b->lat_cap * sizeof(*p));
        if (p == NULL) {
            die("out of memory");
        }
        b->lat_ns = p;
    }
    b->lat_ns[b->nlat++] = now - sent_ns;
}

/* Count one delivery from the stamp at the start of the payload. */
static void account_delivery(struct bench *b, const struct conn *c, const uint8_t *pl, size_t n)
{
    uint32_t pub;
    uint32_t seq;
    uint64_t sent_ns;
    if (n < STAMP_LEN) {
        die("subscriber %u: payload of %zu bytes has no stamp", c->idx, n);
    }
    memcpy(&pub, pl, 4);
    memcpy(&seq, pl + 4, 4);
    memcpy(&sent_ns, pl + 8, 8);
    if (pub >= b->o.pubs) {
        die("subscriber %u: stamp names publisher %" PRIu32, c->idx, pub);
    }
    uint64_t now = now_ns();
    uint32_t *next = &b->next_seq[(size_t)c->idx * b->o.pubs + pub];
    if (seq < *next) {
        b->dup++; /* duplicate or out of order: both break exactly-once/ordering */
        return;
    }
    if (seq > *next) {
        b->gaps += seq - *next;
        b->resolved_from[pub] += seq - *next;
    }
    *next = seq + 1;
    b->received++;
    b->recv_from[pub]++;
    b->resolved_from[pub]++;
    if (b->t_first_recv == 0) {
        b->t_first_recv = now;
    }
    b->t_last_recv = now;
    b->t_progress = now;
    if (b->o.mode == MODE_LATENCY) {
        record_latency(b, sent_ns, now);
    }
}

static void on_publish(struct bench *b, struct conn *c, unsigned flags, const uint8_t *p, size_t n)
{
    unsigned qos = (flags >> 1) & 3u;
    if (n < 2 || qos == 3) {
        conn_fail(b, c, "malformed PUBLISH", 0);
    }
    size_t tlen = get_u16(p);
    size_t off = 2 + tlen + (qos > 0 ? 2 : 0);
    if (off > n) {
        conn_fail(b, c, "malformed PUBLISH", 0);
    }
    if (b->o.mode == MODE_DUR_DRAIN && b->o.count > 0 && b->received >= b->o.count) {
        b->beyond++; /* past -n: not acknowledged, so the broker keeps it */
        return;
    }
    if (qos > 0) {
        enc_short(&c->out, qos == 1 ? 0x40 : 0x50, get_u16(p + 2 + tlen));
        mark_dirty(b, c);
    }
    if (b->o.mode == MODE_DUR_SUB) {
        b->stale++; /* queued for this id by an earlier run: acknowledged, not counted */
        return;
    }
    if (c->role == ROLE_SUB) {
        account_delivery(b, c, p + off, n - off);
    }
}

static void on_connack(struct bench *b, struct conn *c, const uint8_t *p, size_t n)
{
    if (c->st != CST_CONNACK || n != 2) {
        conn_fail(b, c, "unexpected CONNACK", 0);
    }
    if (p[1] != 0) {
        char why[48];
        snprintf(why, sizeof(why), "CONNACK return code %u", p[1]);
        conn_fail(b, c, why, 0);
    }
    if (c->role == ROLE_PUB) {
        conn_set_ready(b, c);
        return;
    }
    if (b->o.mode == MODE_DUR_DRAIN) { /* the session (and subscription) must exist */
        b->session_present = p[0] & 1;
        conn_set_ready(b, c);
        return;
    }
    char filter[128];
    sub_filter(b, c, filter, sizeof(filter));
    enc_subscribe(&c->out, 1, filter, b->o.qos);
    c->st = CST_SUBACK;
    mark_dirty(b, c);
}

static void on_packet(struct bench *b, struct conn *c, unsigned hdr, const uint8_t *p, size_t n)
{
    switch (hdr >> 4) {
    case 2:
        on_connack(b, c, p, n);
        break;
    case 3:
        on_publish(b, c, hdr & 0x0fu, p, n);
        break;
    case 4: /* PUBACK */
    case 7: /* PUBCOMP */
        if (c->role != ROLE_PUB || n != 2 || c->acked >= c->sent) {
            conn_fail(b, c, "unexpected PUBACK/PUBCOMP", 0);
        }
        c->acked++;
        b->total_acked++;
        b->t_last_ack = now_ns();
        break;
    case 5: /* PUBREC -> PUBREL */
        if (n != 2) {
            conn_fail(b, c, "malformed PUBREC", 0);
        }
        enc_short(&c->out, 0x62, get_u16(p));
        mark_dirty(b, c);
        break;
    case 6: /* PUBREL -> PUBCOMP */
        if (n != 2) {
            conn_fail(b, c, "malformed PUBREL", 0);
        }
        enc_short(&c->out, 0x70, get_u16(p));
        mark_dirty(b, c);
        break;
    case 9: /* SUBACK */
        if (c->st != CST_SUBACK || n != 3 || p[2] == 0x80) {
            conn_fail(b, c, "SUBSCRIBE refused", 0);
        }
        conn_set_ready(b, c);
        break;
    case 13: /* PINGRESP */
        break;
    default:
        conn_fail(b, c, "unexpected packet type", 0);
    }
}

static void parse_input(struct bench *b, struct conn *c)
{
    struct bbuf *in = &c->in;
    while (bbuf_used(in) >= 2) {
        size_t rem = 0;
        int hl = dec_header(in->p + in->off, bbuf_used(in), &rem);
        if (hl < 0) {
            conn_fail(b, c, "malformed remaining length", 0);
        }
        if (hl == 0 || bbuf_used(in) < (size_t)hl + rem) {
            break;
        }
        const uint8_t *pkt = in->p + in->off;
        in->off += (size_t)hl + rem;
        on_packet(b, c, pkt[0], pkt + hl, rem);
    }
    if (in->off == in->len) {
        in->off = 0;
        in->len = 0;
    }
}

static void conn_readable(struct bench *b, struct conn *c)
{
    size_t chunk = c->role == ROLE_IDLE ? 256 : READ_CHUNK;
    size_t total = 0;
    while (total < READ_BUDGET) {
        uint8_t *dst = bbuf_reserve(&c->in, chunk);
        ssize_t n = recv(c->fd, dst, chunk, 0);
        if (n == 0) {
            conn_fail(b, c, "closed by broker", 0);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            conn_fail(b, c, "recv", errno);
        }
        c->in.len += (size_t)n;
        total += (size_t)n;
        parse_input(b, c);
        if ((size_t)n < chunk) {
            break;
        }
    }
}

static void on_timer(struct bench *b)
{
    uint64_t ticks = 0;
    if (read(b->timer_fd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks)) {
        b->tokens += ticks;
    }
}

static void handle_events(struct bench *b, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(b->ep, evs, 256, timeout_ms);
    if (n < 0 && errno != EINTR) {
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u32 == TIMER_TAG) {
            on_timer(b);
            continue;
        }
        struct conn *c = &b->conns[evs[i].data.u32];
        uint32_t e = evs[i].events;
        if (c->st == CST_TCP) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                conn_tcp_done(b, c);
            }
            continue;
        }
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            conn_readable(b, c);
        }
        if (e & EPOLLOUT) {
            mark_dirty(b, c);
        }
    }
    flush_dirty(b);
}

/* ---- setup and teardown ------------------------------------------------ */

static void bench_init(struct bench *b, unsigned nconns)
{
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    if (b->ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    b->timer_fd = -1;
    b->nconns = nconns;
    b->conns = xcalloc(nconns, sizeof(*b->conns));
    b->dirty = xcalloc(nconns, sizeof(*b->dirty));
    for (unsigned i = 0; i < nconns; i++) {
        b->conns[i].fd = -1;
    }
    snprintf(b->prefix, sizeof(b->prefix), "tb/%ld", (long)getpid());
}

static void connect_all(struct bench *b)
{
    uint64_t deadline = now_ns() + (uint64_t)(b->o.connect_s * (double)NS_PER_S);
    while (b->ready < b->nconns) {
        if (g_stop) {
            die("interrupted during connect");
        }
        if (now_ns() > deadline) {
            die("connect timeout: %u of %u connections ready after %.1f s", b->ready, b->nconns,
                b->o.connect_s);
        }
        open_more(b);
        flush_dirty(b);
        handle_events(b, 10);
    }
}

/* Graceful: DISCONNECT then close. Abortive (RST) for idle mode so that
 * 10,000 sockets leave no TIME_WAIT entries eating the ephemeral ports. */
static void close_all(struct bench *b, bool abortive)
{
    for (unsigned i = 0; i < b->nconns; i++) {
        struct conn *c = &b->conns[i];
        if (c->fd < 0) {
            continue;
        }
        if (abortive) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        } else {
            c->out.off = 0;
            c->out.len = 0;
            enc_short(&c->out, 0xe0, -1);
            (void)send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        }
        close(c->fd);
        c->fd = -1;
        free(c->in.p);
        free(c->out.p);
    }
}

/* ---- traffic (throughput and latency) ---------------------------------- */

static void traffic_setup(struct bench *b)
{
    const struct opts *o = &b->o;
    bench_init(b, o->subs + o->pubs);
    b->fan = o->layout == LAYOUT_PAIRS ? 1 : o->subs;
    b->topics = xcalloc(o->pubs, sizeof(*b->topics));
    b->recv_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->resolved_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->next_seq = xcalloc((size_t)o->pubs * o->subs, sizeof(uint32_t));
    b->payload = xcalloc(o->payload, 1);
    memset(b->payload, 'x', o->payload);
    for (unsigned i = 0; i < o->subs + o->pubs; i++) {
        struct conn *c = &b->conns[i];
        c->role = i < o->subs ? ROLE_SUB : ROLE_PUB;
        c->idx = i < o->subs ? i : i - o->subs;
    }
    for (unsigned i = 0; i < o->pubs; i++) {
        unsigned t = o->layout == LAYOUT_FANOUT ? 0 : o->layout == LAYOUT_PAIRS ? i % o->subs : i;
        snprintf(b->topics[i], sizeof(b->topics[i]), "%s/%u", b->prefix, t);
    }
}

static void start_rate_timer(struct bench *b)
{
    b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (b->timer_fd < 0) {
        die("timerfd_create: %s", strerror(errno));
    }
    uint64_t period = NS_PER_S / b->o.rate;
    struct itimerspec its = {
            .it_interval = {.tv_sec = (time_t)(period / NS_PER_S),
                            .tv_nsec = (long)(period % NS_PER_S)},
            .it_value = {.tv_sec = 0, .tv_nsec = 1},
    };
    if (timerfd_settime(b->timer_fd, 0, &its, NULL) < 0) {
        die("timerfd_settime: %s", strerror(errno));
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, b->timer_fd, &ev) < 0) {
        die("epoll_ctl timer: %s", strerror(errno));
    }
}

/* How many more messages publisher c may send now. */
static uint64_t pub_credit(const struct bench *b, const struct conn *c)
{
    const struct opts *o = &b->o;
    if (is_durable(b)) { /* nobody receives: only the unacked window limits */
        uint64_t unacked = c->sent - c->acked;
        uint64_t credit = unacked < o->window ? o->window - unacked : 0;
        if (o->count > 0) {
            uint64_t left = o->count - b->total_sent;
            credit = credit < left ? credit : left;
        }
        return bbuf_used(&c->out) >= OUT_SOFT_MAX ? 0 : credit;
    }
    uint64_t delivered = b->resolved_from[c->idx] / b->fan;
    uint64_t undelivered = c->sent > delivered ? c->sent - delivered : 0;
    uint64_t credit = undelivered < o->window ? o->window - undelivered : 0;
    if (o->qos > 0 && c->sent - c->acked >= o->window) {
        return 0;
    }
    if (o->qos > 0) {
        uint64_t unacked_room = o->window - (c->sent - c->acked);
        credit = credit < unacked_room ? credit : unacked_room;
    }
    if (o->rate > 0 && credit > b->tokens) {
        credit = b->tokens;
    }
    if (o->count > 0) {
        uint64_t left = o->count - b->total_sent;
        credit = credit < left ? credit : left;
    }
    return bbuf_used(&c->out) >= OUT_SOFT_MAX ? 0 : credit;
}

static void publish_one(struct bench *b, struct conn *c)
{
    uint32_t pub = c->idx;
    uint32_t seq = (uint32_t)c->sent;
    uint64_t t = now_ns();
    memcpy(b->payload, &pub, 4);
    memcpy(b->payload + 4, &seq, 4);
    memcpy(b->payload + 8, &t, 8);
    uint16_t id = 0;
    if (b->o.qos > 0) {
        id = c->next_id;
        c->next_id = (uint16_t)(c->next_id == 65535 ? 1 : c->next_id + 1);
    }
    enc_publish(&c->out, b->topics[c->idx], b->o.qos, id, b->payload, b->o.payload);
    c->sent++;
    b->total_sent++;
    if (b->o.rate > 0) {
        b->tokens--;
    }
}

static void pump_publishers(struct bench *b)
{
    for (unsigned i = b->o.subs; i < b->nconns; i++) {
        struct conn *c = &b->conns[i];
        uint64_t credit = pub_credit(b, c);
        for (uint64_t k = 0; k < credit && bbuf_used(&c->out) < OUT_SOFT_MAX; k++) {
            publish_one(b, c);
        }
        if (credit > 0) {
            mark_dirty(b, c);
        }
    }
}

/* QoS 0 may legitimately lose messages; a lost message would hold its
 * publisher's window forever, so after a stall count the missing as lost. */
static void forgive_stall(struct bench *b)
{
    for (unsigned i = 0; i < b->o.pubs; i++) {
        const struct conn *c = &b->conns[b->o.subs + i];
        uint64_t due = c->sent * b->fan;
        if (b->resolved_from[i] < due) {
            b->forgiven += due - b->resolved_from[i];
            b->resolved_from[i] = due;
        }
    }
}

static bool traffic_done(const struct bench *b)
{
    return b->received >= b->total_sent * b->fan &&
           (b->o.qos == 0 || b->total_acked == b->total_sent);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const uint64_t *v, size_t n, unsigned pct)
{
    if (n == 0) {
        return 0.0;
    }
    size_t i = (size_t)(((double)(n - 1) * pct) / 100.0 + 0.5);
    return (double)v[i] / 1000.0;
}

static const char *const layout_names[] = {"pairs", "fanout", "fanin"};

static int traffic_report(struct bench *b, double elapsed_s, double gen_cpu_s)
{
    const struct opts *o = &b->o;
    uint64_t expected = b->total_sent * b->fan;
    uint64_t lost = expected > b->received ? expected - b->received : 0;
    bool ok = b->received == expected && b->dup == 0 && b->total_acked == b->total_sent;
    if (o->qos == 0) {
        ok = b->dup == 0;
    }
    qsort(b->lat_ns, b->nlat, sizeof(uint64_t), cmp_u64);
    double rate = elapsed_s > 0 ? (double)b->received / elapsed_s : 0.0;
    double gen_pct = elapsed_s > 0 ? 100.0 * gen_cpu_s / elapsed_s : 0.0;
    fprintf(stderr,
            "%s %s %u->%u qos%u %zuB: sent=%" PRIu64 " expected=%" PRIu64 " received=%" PRIu64
            " lost=%" PRIu64 " (mid-stream %" PRIu64 ") dup=%" PRIu64
            " in %.3f s = %.0f deliveries/s (generator cpu %.0f%%)\n",
            o->mode == MODE_LATENCY ? "latency" : "throughput", layout_names[o->layout], o->pubs,
            o->subs, o->qos, o->payload, b->total_sent, expected, b->received, lost, b->gaps,
            b->dup, elapsed_s, rate, gen_pct);
    if (!ok) {
        fprintf(stderr,
                "WARNING: count mismatch: QoS %u must deliver every message exactly once"
                " (expected=%" PRIu64 " received=%" PRIu64 " dup=%" PRIu64 " acked=%" PRIu64
                "/%" PRIu64 ")\n",
                o->qos, expected, b->received, b->dup, b->total_acked, b->total_sent);
    }
    if (o->mode == MODE_LATENCY) {
        fprintf(stderr,
                "latency (%zu samples after %.1f s warm-up): p50=%.1f us p99=%.1f us max=%.1f us\n",
                b->nlat, o->warmup_s, pct_us(b->lat_ns, b->nlat, 50),
                pct_us(b->lat_ns, b->nlat, 99), pct_us(b->lat_ns, b->nlat, 100));
    }
    printf("RESULT mode=%s layout=%s pubs=%u subs=%u qos=%u payload=%zu sent=%" PRIu64
           " expected=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64
           " gaps=%" PRIu64 " acked=%" PRIu64
           " elapsed_s=%.3f msgs_per_s=%.0f gen_cpu_pct=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f"
           " samples=%zu ok=%d\n",
           o->mode == MODE_LATENCY ? "latency" : "throughput", layout_names[o->layout], o->pubs,
           o->subs, o->qos, o->payload, b->total_sent, expected, b->received, lost, b->dup, b->gaps,
           b->total_acked, elapsed_s, rate, gen_pct, pct_us(b->lat_ns, b->nlat, 50),
           pct_us(b->lat_ns, b->nlat, 99), pct_us(b->lat_ns, b->nlat, 100), b->nlat, ok ? 1 : 0);
    (void)fflush(stdout);
    return ok ? 0 : 2;
}

static int run_traffic(struct bench *b)
{
    const struct opts *o = &b->o;
    traffic_setup(b);
    connect_all(b);
    b->t_start = now_ns();
    b->t_warm = b->t_start + (uint64_t)(o->warmup_s * (double)NS_PER_S);
    b->t_last_recv = b->t_start;
    b->t_progress = b->t_start;
    uint64_t pub_end = b->t_start + (uint64_t)(o->duration_s * (double)NS_PER_S);
    uint64_t drain_end = 0;
    uint64_t cpu0 = cpu_ns();
    bool publishing = true;
    if (o->rate > 0) {
        start_rate_timer(b);
    }
    for (;;) {
        uint64_t now = now_ns();
        if (publishing &&
            (now >= pub_end || g_stop || (o->count > 0 && b->total_sent >= o->count))) {
            publishing = false;
            drain_end = now + (uint64_t)(o->drain_s * (double)NS_PER_S);
        }
        if (publishing) {
            pump_publishers(b);
            flush_dirty(b);
        } else if (traffic_done(b) || now >= drain_end ||
                   (o->qos == 0 && now - b->t_progress > QOS0_STALL_NS)) {
            break;
        }
        if (o->qos == 0 && publishing && now - b->t_progress > QOS0_STALL_NS) {
            forgive_stall(b);
            b->t_progress = now;
        }
        handle_events(b, 5);
    }
    double gen_cpu_s = (double)(cpu_ns() - cpu0) / (double)NS_PER_S;
    double elapsed_s = (double)(b->t_last_recv - b->t_start) / (double)NS_PER_S;
    int rc = traffic_report(b, elapsed_s, gen_cpu_s);
    close_all(b, false);
    return rc;
}

/* ---- durable: offline persistent subscriber -------------------------- */

/* A fresh bench for one phase: subs subscriber conns then pubs publishers. */
static struct bench *dur_new(const struct opts *o, enum bench_mode mode, unsigned subs,
                             unsigned pubs)
{
    struct bench *b = xcalloc(1, sizeof(*b));
    b->o = *o;
    b->o.mode = mode;
    b->o.qos = 1;
    b->session_present = -1;
    bench_init(b, subs + pubs);
    b->fan = 1;
    b->topics = xcalloc(o->pubs, sizeof(*b->topics));
    b->recv_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->resolved_from = xcalloc(o->pubs, sizeof(uint64_t));
    b->next_seq = xcalloc(o->pubs, sizeof(uint32_t));
    b->payload = xcalloc(o->payload, 1);
    memset(b->payload, 'x', o->payload);
    for (unsigned i = 0; i < subs + pubs; i++) {
        b->conns[i].role = i < subs ? ROLE_SUB : ROLE_PUB;
        b->conns[i].idx = i < subs ? i : i - subs;
    }
    for (unsigned i = 0; i < o->pubs; i++) {
        snprintf(b->topics[i], sizeof(b->topics[i]), "%s", o->topic);
    }
    b->o.subs = subs;
    return b;
}

/* CONNECT (clean session 0) + SUBSCRIBE QoS 1, then DISCONNECT: offline. */
static int run_dur_sub(const struct opts *o)
{
    struct bench *b = dur_new(o, MODE_DUR_SUB, 1, 0);
    connect_all(b);
    uint64_t end = now_ns() + 100ull * 1000000ull; /* ack anything already queued */
    while (now_ns() < end) {
        handle_events(b, 10);
    }
    close_all(b, false);
    fprintf(stderr, "durable-sub: '%s' subscribed to '%s' QoS 1 (clean session 0), offline%s\n",
            o->client_id, o->topic, b->stale ? " (WARNING: it had queued messages)" : "");
    printf("RESULT mode=durable-sub client_id=%s topic=%s stale=%" PRIu64 " ok=1\n", o->client_id,
           o->topic, b->stale);
    (void)fflush(stdout);
    return 0;
}

/* P publishers, QoS 1, W unacked each, for -d seconds or -n messages; then
 * up to -D seconds for the last PUBACKs. Figure: PUBACKs/s. */
static int run_dur_pub(const struct opts *o, uint64_t *acked_out)
{
    struct bench *b = dur_new(o, MODE_DUR_PUB, 0, o->pubs);
    connect_all(b);
    b->t_start = now_ns();
    b->t_last_ack = b->t_start;
    uint64_t pub_end = b->t_start + (uint64_t)(o->duration_s * (double)NS_PER_S);
    uint64_t drain_end = 0;
    uint64_t cpu0 = cpu_ns();
    bool publishing = true;
    for (;;) {
        uint64_t now = now_ns();
        if (publishing &&
            (now >= pub_end || g_stop || (o->count > 0 && b->total_sent >= o->count))) {
            publishing = false;
            drain_end = now + (uint64_t)(o->drain_s * (double)NS_PER_S);
        }
        if (publishing) {
            pump_publishers(b);
            flush_dirty(b);
        } else if (b->total_acked == b->total_sent || now >= drain_end) {
            break;
        }
        handle_events(b, 5);
    }
    double gen_cpu_s = (double)(cpu_ns() - cpu0) / (double)NS_PER_S;
    double elapsed_s = (double)(b->t_last_ack - b->t_start) / (double)NS_PER_S;
    double rate = elapsed_s > 0 ? (double)b->total_acked / elapsed_s : 0.0;
    double gen_pct = elapsed_s > 0 ? 100.0 * gen_cpu_s / elapsed_s : 0.0;
    bool ok = b->total_acked == b->total_sent;
    fprintf(stderr,
            "durable-pub %u pubs window %u: sent=%" PRIu64 " acked=%" PRIu64
            " in %.3f s = %.0f PUBACKs/s (generator cpu %.0f%%)\n",
            o->pubs, o->window, b->total_sent, b->total_acked, elapsed_s, rate, gen_pct);
    if (!ok) {
        fprintf(stderr, "WARNING: %" PRIu64 " of %" PRIu64 " PUBLISHes not acknowledged after %.1f s\n",
                b->total_sent - b->total_acked, b->total_sent, o->drain_s);
    }
    printf("RESULT mode=durable-pub pubs=%u window=%u payload=%zu sent=%" PRIu64 " acked=%" PRIu64
           " elapsed_s=%.3f acks_per_s=%.0f gen_cpu_pct=%.0f ok=%d\n",
           o->pubs, o->window, o->payload, b->total_sent, b->total_acked, elapsed_s, rate, gen_pct,
           ok ? 1 : 0);
    (void)fflush(stdout);
    close_all(b, false);
    if (acked_out != NULL) {
        *acked_out = b->total_acked;
    }
    return ok ? 0 : 2;
}

/* The subscriber reconnects (clean session 0, no SUBSCRIBE) and receives its
 * queue: every publisher's sequence must start at 0 and have no gap or
 * duplicate. Stops after -n messages (the rest left unacked, in the store),
 * after -e messages plus a short grace (extras would be counted), after -D
 * seconds without a delivery, or after -d seconds in all. */
static int run_dur_drain(const struct opts *o)
{
    struct bench *b = dur_new(o, MODE_DUR_DRAIN, 1, 0);
    uint64_t t0 = now_ns();
    connect_all(b);
    b->t_start = now_ns();
    b->t_last_recv = b->t_start;
    b->t_progress = b->t_start;
    fprintf(stderr, "durable-drain '%s': connected, session present %d\n", o->client_id,
            b->session_present);
    uint64_t end = b->t_start + (uint64_t)(o->duration_s * (double)NS_PER_S);
    uint64_t quiet_ns = (uint64_t)(o->drain_s * (double)NS_PER_S);
    uint64_t cpu0 = cpu_ns();
    uint64_t t_expect = 0;
    const char *why = "deadline";
    for (;;) {
        uint64_t now = now_ns();
        if (o->count > 0 && b->received >= o->count) {
            why = "count";
            break;
        }
        if (o->expect > 0 && b->received >= o->expect && t_expect == 0) {
            t_expect = now;
        }
        if (t_expect != 0 && now - t_expect >= DUR_GRACE_NS) {
            why = "expected";
            break;
        }
        if (now - b->t_progress >= quiet_ns) {
            why = "quiet";
            break;
        }
        if (now >= end || g_stop) {
            break;
        }
        handle_events(b, 5);
    }
    flush_dirty(b); /* the last PUBACKs */
    double gen_cpu_s = (double)(cpu_ns() - cpu0) / (double)NS_PER_S;
    double elapsed_s = (double)(b->t_last_recv - b->t_start) / (double)NS_PER_S;
    double rate = elapsed_s > 0 ? (double)b->received / elapsed_s : 0.0;
    /* First to last delivery: the stream's own duration, whenever it began. */
    uint64_t t_first = b->t_first_recv ? b->t_first_recv : b->t_last_recv;
    double stream_s = (double)(b->t_last_recv - t_first) / (double)NS_PER_S;
    bool ok = b->dup == 0 && b->gaps == 0 && b->session_present == 1 &&
              (o->expect == 0 || b->received == o->expect) &&
              (o->count == 0 || b->received == o->count);
    fprintf(stderr,
            "durable-drain '%s': session_present=%d received=%" PRIu64 " gaps=%" PRIu64
            " dup=%" PRIu64 " in %.3f s = %.0f msgs/s (connect %.3f s, stop: %s, generator cpu"
            " %.0f%%)\n",
            o->client_id, b->session_present, b->received, b->gaps, b->dup, elapsed_s, rate,
            (double)(b->t_start - t0) / (double)NS_PER_S, why,
            elapsed_s > 0 ? 100.0 * gen_cpu_s / elapsed_s : 0.0);
    if (!ok) {
        fprintf(stderr,
                "WARNING: drain mismatch: received=%" PRIu64 " expected=%" PRIu64
                " (-n %" PRIu64 ") gaps=%" PRIu64 " dup=%" PRIu64 " session_present=%d\n",
                b->received, o->expect, o->count, b->gaps, b->dup, b->session_present);
    }
    printf("RESULT mode=durable-drain client_id=%s session_present=%d received=%" PRIu64
           " expected=%" PRIu64 " gaps=%" PRIu64 " dup=%" PRIu64 " beyond=%" PRIu64
           " connect_s=%.3f elapsed_s=%.3f msgs_per_s=%.0f stream_s=%.3f first_at=%.6f"
           " last_at=%.6f stop=%s ok=%d\n",
           o->client_id, b->session_present, b->received, o->expect, b->gaps, b->dup, b->beyond,
           (double)(b->t_start - t0) / (double)NS_PER_S, elapsed_s, rate, stream_s, wall_s(t_first),
           wall_s(b->t_last_recv), why, ok ? 1 : 0);
    (void)fflush(stdout);
    close_all(b, false);
    return ok ? 0 : 2;
}

static int run_durable(struct opts *o)
{
    if (o->mode == MODE_DUR_SUB) {
        return run_dur_sub(o);
    }
    if (o->mode == MODE_DUR_PUB) {
        return run_dur_pub(o, NULL);
    }
    if (o->mode == MODE_DUR_DRAIN) {
        return run_dur_drain(o);
    }
    uint64_t acked = 0;
    int rc = run_dur_sub(o);
    int rc_pub = run_dur_pub(o, &acked);
    if (rc_pub == 1) {
        return 1;
    }
    struct opts d = *o;
    d.expect = acked;
    d.count = 0;
    d.duration_s = o->drain_max_s;
    d.drain_s = 3.0;
    int rc_drain = run_dur_drain(&d);
    return rc != 0 ? rc : rc_pub != 0 ? rc_pub : rc_drain;
}

/* ---- idle ------------------------------------------------------------ */

static int run_idle(struct bench *b)
{
    const struct opts *o = &b->o;
    bench_init(b, o->conns);
    for (unsigned i = 0; i < o->conns; i++) {
        b->conns[i].role = ROLE_IDLE;
        b->conns[i].idx = i;
    }
    uint64_t t0 = now_ns();
    connect_all(b);
    double setup_s = (double)(now_ns() - t0) / (double)NS_PER_S;
    fprintf(stderr, "idle: %u connections subscribed in %.2f s; holding\n", b->ready, setup_s);
    printf("READY conns=%u setup_s=%.2f\n", b->ready, setup_s);
    (void)fflush(stdout);
    uint64_t hold_end = now_ns() + (uint64_t)(o->duration_s * (double)NS_PER_S);
    while (!g_stop && now_ns() < hold_end) {
        handle_events(b, 200);
    }
    close_all(b, true);
    printf("RESULT mode=idle conns=%u setup_s=%.2f ok=1\n", b->ready, setup_s);
    return 0;
}

/* ---- command line ------------------------------------------------------ */

static void usage(void)
{
    (void)fputs("usage: tern_bench HOST PORT MODE [options]\n"
                "  MODE: throughput | latency | idle\n"
                "  -p N   publishers (throughput: 1, latency: 1)\n"
                "  -s N   subscribers (1)\n"
                "  -l L   topic layout: pairs (pub i -> topic i -> sub i), fanout (one topic,\n"
                "         every sub), fanin (pub i -> topic i, subs on PREFIX/+)  (pairs)\n"
                "  -q Q   QoS 0, 1 or 2 of publishes and subscriptions (0)\n"
                "  -m B   payload bytes, >= 16 (64)\n"
                "  -w W   window: max undelivered (and, QoS>0, unacked) per publisher (64)\n"
                "  -d S   duration: publishing seconds; idle: hold seconds (5; idle 600)\n"
                "  -n N   stop after N messages in total (0 = duration only)\n"
                "  -r R   total publish rate msgs/s (throughput: 0 = window-bound;\n"
                "         latency: 2000)\n"
                "  -W S   latency warm-up seconds not sampled (0.5)\n"
                "  -D S   drain time after publishing stops (3)\n"
                "  -c N   idle connections (10000)\n"
                "  -k S   keepalive seconds (600)\n"
                "  -C S   connection setup timeout seconds (10; idle 120)\n"
                "  MODE durable | durable-sub | durable-pub | durable-drain (QoS 1 only):\n"
                "  -i ID  persistent subscriber's client id (tb-durable-sub)\n"
                "  -t T   topic (tb/durable)\n"
                "  -p N   publishers (1); drain: publishers whose sequences to check\n"
                "  -w W   unacked PUBLISHes per publisher (256)\n"
                "  -d S   publishing seconds (5); durable-drain: bound of the drain (60)\n"
                "  -n N   pub: stop after N messages; drain: receive N, leave the rest queued\n"
                "  -D S   pub: wait for the last PUBACKs (3); drain: stop after S s quiet (3)\n"
                "  -e N   drain: messages expected (checked; stop 0.3 s after they arrived)\n"
                "  -T S   durable: bound of its drain phase (60)\n",
                stderr);
    exit(1);
}

static unsigned long parse_num(const char *s, unsigned long max)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        die("bad number '%s' (max %lu)", s, max);
    }
    return v;
}

static double parse_secs(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.0 && v <= 86400.0)) {
        die("bad seconds '%s'", s);
    }
    return v;
}

static void set_defaults(struct opts *o, const char *mode)
{
    o->pubs = 1;
    o->subs = 1;
    o->window = 64;
    o->payload = 64;
    o->conns = 10000;
    o->keepalive_s = 600;
    o->duration_s = 5.0;
    o->drain_s = 3.0;
    o->connect_s = 10.0;
    o->warmup_s = 0.5;
    o->drain_max_s = 60.0;
    o->client_id = "tb-durable-sub";
    o->topic = "tb/durable";
    if (strncmp(mode, "durable", 7) == 0) {
        static const char *const names[] = {"durable", "durable-sub", "durable-pub",
                                            "durable-drain"};
        for (unsigned i = 0; i < 4; i++) {
            if (strcmp(mode, names[i]) == 0) {
                o->mode = (enum bench_mode)(MODE_DURABLE + i);
            }
        }
        if (o->mode < MODE_DURABLE) {
            usage();
        }
        o->window = 256;
        o->qos = 1;
        if (o->mode == MODE_DUR_DRAIN) {
            o->duration_s = 60.0; /* bound of the whole drain */
        }
    } else if (strcmp(mode, "throughput") == 0) {
        o->mode = MODE_THROUGHPUT;
    } else if (strcmp(mode, "latency") == 0) {
        o->mode = MODE_LATENCY;
        o->rate = 2000;
    } else if (strcmp(mode, "idle") == 0) {
        o->mode = MODE_IDLE;
        o->duration_s = 600.0;
        o->connect_s = 120.0;
    } else {
        usage();
    }
}

static void parse_layout(struct opts *o, const char *s)
{
    for (unsigned i = 0; i < 3; i++) {
        if (strcmp(s, layout_names[i]) == 0) {
            o->layout = (enum bench_layout)i;
            return;
        }
    }
    die("bad layout '%s'", s);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
    if (argc < 4) {
        usage();
    }
    o->host = argv[1];
    o->port = (uint16_t)parse_num(argv[2], 65535);
    set_defaults(o, argv[3]);
    int ch;
    optind = 1;
    while ((ch = getopt(argc - 3, argv + 3, "p:s:l:q:m:w:d:n:r:W:D:c:k:C:i:t:e:T:h")) != -1) {
        switch (ch) {
        case 'p':
            o->pubs = (unsigned)parse_num(optarg, 100000);
            break;
        case 's':
            o->subs = (unsigned)parse_num(optarg, 100000);
            break;
        case 'l':
            parse_layout(o, optarg);
            break;
        case 'q':
            o->qos = (unsigned)parse_num(optarg, 2);
            break;
        case 'm':
            o->payload = parse_num(optarg, 100u << 20);
            break;
        case 'w':
            o->window = (unsigned)parse_num(optarg, 60000);
            break;
        case 'd':
            o->duration_s = parse_secs(optarg);
            break;
        case 'n':
            o->count = parse_num(optarg, ULONG_MAX);
            break;
        case 'r':
            o->rate = (unsigned)parse_num(optarg, 100000000);
            break;
        case 'W':
            o->warmup_s = parse_secs(optarg);
            break;
        case 'D':
            o->drain_s = parse_secs(optarg);
            break;
        case 'c':
            o->conns = (unsigned)parse_num(optarg, 1000000);
            break;
        case 'k':
            o->keepalive_s = (unsigned)parse_num(optarg, 65535);
            break;
        case 'C':
            o->connect_s = parse_secs(optarg);
            break;
        case 'i':
            o->client_id = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'e':
            o->expect = parse_num(optarg, ULONG_MAX);
            break;
        case 'T':
            o->drain_max_s = parse_secs(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 3) {
        usage();
    }
    if (o->payload < STAMP_LEN || o->pubs == 0 || o->subs == 0 || o->window == 0 || o->conns == 0) {
        die("need payload >= %u bytes and at least one publisher, subscriber, window slot and"
            " connection",
            STAMP_LEN);
    }
}

int main(int argc, char **argv)
{
    static struct bench b;
    parse_opts(&b.o, argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    if (b.o.mode == MODE_IDLE) {
        return run_idle(&b);
    }
    if (b.o.mode >= MODE_DURABLE) {
        if (b.o.qos != 1) {
            die("durable modes are QoS 1 only");
        }
        return run_durable(&b.o);
    }
    return run_traffic(&b);
}
