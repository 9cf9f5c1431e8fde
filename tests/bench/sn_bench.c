/* sn_bench.c - MQTT-SN publish benchmark (the benchmark, not a test).
 *
 * C MQTT-SN 1.2 clients publish over UDP into a broker's MQTT-SN gateway;
 * one MQTT 3.1.1 subscriber on TCP receives every message and counts it.
 * Like tern_bench it has its own few encoders and decoders (no MQTT library,
 * no broker code) and runs one thread with one epoll loop.
 *
 *   QoS 0: each client fires PUBLISHes as fast as its window allows: at most
 *          W messages published and not yet seen by the subscriber. A lost
 *          datagram is detected by the sequence numbers of later ones; when a
 *          client's window makes no progress for 300 ms, what is still
 *          missing is written off as lost and the window reopens. So loss is
 *          bounded and counted, and the figure is sustained throughput.
 *   -r R:  pace the clients to R messages/s in all (for latency without
 *          queueing); the window still applies.
 *   -n N:  each client publishes N messages, then the run drains and ends
 *          (with -w N and QoS 0: one unpaced burst, sn_burst.sh).
 *   QoS 1: MQTT-SN has one outstanding QoS 1 PUBLISH per client (one
 *          retransmission record, §6.13), so each client waits for PUBACK
 *          before the next one; parallelism comes from C clients.
 *          Unanswered PUBLISHes are resent with DUP after 1 s. The window
 *          applies too (default 8): a PUBACK means the broker has the
 *          message, not that the subscriber does, so without it the
 *          broker's queue to the subscriber would grow for the whole run.
 *
 * The first 16 payload bytes carry client index, sequence number and the
 * CLOCK_MONOTONIC send time; the subscriber's receive time minus that is
 * the latency (first -W seconds not sampled). Human lines go to stderr, one
 * "RESULT k=v ..." line to stdout. See tests/bench/README.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S      1000000000ull
#define STAMP_LEN     16u
#define STALL_NS      (300ull * 1000000ull)  /* QoS 0: write off a stuck window */
#define RETRY_NS      (1000ull * 1000000ull) /* QoS 1: resend after this */
#define SUB_BUF       (1u << 20)
#define MAX_LAT       4000000u /* latency samples kept */
#define SN_PUBLISH    0x0C
#define SN_PUBACK     0x0D
#define SN_CONNACK    0x05
#define SN_REGACK     0x0B
#define SN_CONNECT    0x04
#define SN_REGISTER   0x0A
#define SN_DISCONNECT 0x18
#define TAG_SUB       UINT32_MAX

struct snc {
    int fd;
    uint16_t topic_id;
    uint64_t sent;     /* PUBLISHes sent (not counting resends) */
    uint64_t seen;     /* highest sequence the subscriber saw + 1 */
    uint64_t received; /* messages of this client the subscriber got */
    uint64_t acked;    /* QoS 1: PUBACKs */
    uint64_t stall_ns; /* QoS 0: when the window last moved */
    uint64_t sent_ns;  /* QoS 1: send time of the outstanding PUBLISH */
    bool outstanding;  /* QoS 1 */
    uint16_t msg_id;
};

struct opts {
    const char *host;
    const char *mqtt_port;
    const char *sn_port;
    unsigned qos;
    unsigned clients;
    unsigned window;
    size_t payload;
    double rate; /* total msgs/s, 0 = as fast as the window allows */
    uint64_t count; /* -n: messages per client, 0 = until -d ends */
    double duration_s;
    double warmup_s;
    double drain_s;
};

struct bench {
    struct opts o;
    int ep;
    int sub_fd;
    struct snc *c;
    uint8_t *sub_buf;
    size_t sub_len;
    uint64_t start_ns, end_ns, first_rx_ns, last_rx_ns;
    uint64_t received, dup, resent, bad_acks;
    uint32_t *lat_us;
    size_t nlat;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputs("sn_bench: ", stderr);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static int open_sock(const char *host, const char *port, int type)
{
    struct addrinfo hints = {.ai_socktype = type, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        die("%s:%s: %s", host, port, gai_strerror(rc));
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            (void)close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        die("connect %s:%s: %s", host, port, strerror(errno));
    }
    return fd;
}

/* ---- MQTT-SN client side (MQTT-SN 1.2 §5.4) ---- */

/* Send one datagram, then wait up to 1 s for a reply of type want; three
 * tries. Returns the reply length in buf. */
static size_t sn_exchange(int fd, const uint8_t *msg, size_t n, uint8_t want, uint8_t *buf,
                          size_t cap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (send(fd, msg, n, 0) != (ssize_t)n) {
            die("send: %s", strerror(errno));
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, 1000) > 0) {
            ssize_t r = recv(fd, buf, cap, 0);
            if (r >= 2 && buf[0] == r && buf[1] == want) {
                return (size_t)r;
            }
            if (r < 0) {
                die("recv from the MQTT-SN gateway: %s", strerror(errno));
            }
        }
    }
    die("no answer of type 0x%02x from the MQTT-SN gateway", want);
}

static void sn_setup(struct snc *c, unsigned idx, const struct opts *o)
{
    uint8_t m[64];
    uint8_t r[64];
    c->fd = open_sock(o->host, o->sn_port, SOCK_DGRAM);
    int sz = 1 << 20;
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    /* CONNECT: Flags (clean), ProtocolId 1, Duration 600, ClientId. */
    int idn = snprintf((char *)m + 6, 24, "snb-%u-%u", (unsigned)getpid() % 10000u, idx);
    m[0] = (uint8_t)(6 + idn);
    m[1] = SN_CONNECT;
    m[2] = 0x04;
    m[3] = 0x01;
    put_be16(m + 4, 600);
    size_t n = sn_exchange(c->fd, m, m[0], SN_CONNACK, r, sizeof(r));
    if (n != 3 || r[2] != 0) {
        die("client %u: CONNACK refused", idx);
    }
    /* REGISTER sb/<idx>. */
    int tn = snprintf((char *)m + 6, 24, "sb/%u", idx);
    m[0] = (uint8_t)(6 + tn);
    m[1] = SN_REGISTER;
    put_be16(m + 2, 0);
    put_be16(m + 4, 1);
    n = sn_exchange(c->fd, m, m[0], SN_REGACK, r, sizeof(r));
    if (n != 7 || r[6] != 0) {
        die("client %u: REGACK refused", idx);
    }
    c->topic_id = be16(r + 2);
}

static void sn_publish(struct bench *b, struct snc *c, unsigned idx, uint64_t seq, bool dup)
{
    uint8_t m[512];
    size_t n = 7 + b->o.payload;
    unsigned q = b->o.qos;
    m[0] = (uint8_t)n;
    m[1] = SN_PUBLISH;
    m[2] = (uint8_t)((dup ? 0x80 : 0) | q << 5); /* topic type normal */
    put_be16(m + 3, c->topic_id);
    put_be16(m + 5, q ? c->msg_id : 0);
    memset(m + 7, 'x', b->o.payload);
    put_be32(m + 7, idx);
    put_be32(m + 11, (uint32_t)seq);
    uint64_t t = now_ns();
    put_be32(m + 15, (uint32_t)(t >> 32));
    put_be32(m + 19, (uint32_t)t);
    ssize_t w = send(c->fd, m, n, MSG_DONTWAIT);
    if (w < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED) {
        die("send PUBLISH: %s", strerror(errno));
    }
    /* A datagram the kernel refused is lost like one the network dropped. */
    c->sent_ns = t;
}

/* ---- MQTT 3.1.1 subscriber ---- */

static void sub_setup(struct bench *b)
{
    b->sub_fd = open_sock(b->o.host, b->o.mqtt_port, SOCK_STREAM);
    int one = 1;
    int sz = 4 << 20;
    (void)setsockopt(b->sub_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(b->sub_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    /* CONNECT "snb-sub", clean session, keepalive 600; SUBSCRIBE sb/# at the QoS. */
    static const uint8_t conn[] = {0x10, 19, 0, 4,   'M', 'Q', 'T', 'T', 4,   0x02, 0x02,
                                   0x58, 0,  7, 's', 'n', 'b', '-', 's', 'u', 'b'};
    uint8_t subs[] = {0x82, 9, 0, 1, 0, 4, 's', 'b', '/', '#', (uint8_t)b->o.qos};
    uint8_t r[8];
    if (send(b->sub_fd, conn, sizeof(conn), 0) != (ssize_t)sizeof(conn) ||
        recv(b->sub_fd, r, 4, MSG_WAITALL) != 4 || r[0] != 0x20 || r[3] != 0) {
        die("MQTT subscriber: no CONNACK accepted");
    }
    if (send(b->sub_fd, subs, sizeof(subs), 0) != (ssize_t)sizeof(subs) ||
        recv(b->sub_fd, r, 5, MSG_WAITALL) != 5 || r[0] != 0x90 || r[4] > 2) {
        die("MQTT subscriber: no SUBACK");
    }
}

static void on_delivery(struct bench *b, const uint8_t *payload, size_t n, uint64_t t)
{
    if (n < STAMP_LEN) {
        b->bad_acks++;
        return;
    }
    uint32_t idx = be32(payload);
    uint64_t seq = be32(payload + 4);
    uint64_t sent = (uint64_t)be32(payload + 8) << 32 | be32(payload + 12);
    if (idx >= b->o.clients) {
        b->bad_acks++;
        return;
    }
    struct snc *c = &b->c[idx];
    if (seq + 1 <= c->seen && b->o.qos) {
        b->dup++; /* QoS 1: a resent PUBLISH delivered twice */
        return;
    }
    c->received++;
    b->received++;
    if (seq + 1 > c->seen) {
        c->seen = seq + 1;
        c->stall_ns = t;
    }
    if (!b->first_rx_ns) {
        b->first_rx_ns = t;
    }
    b->last_rx_ns = t;
    if (sent >= b->start_ns + (uint64_t)(b->o.warmup_s * 1e9) && b->nlat < MAX_LAT && t > sent) {
        b->lat_us[b->nlat++] = (uint32_t)((t - sent) / 1000u);
    }
}

/* The fixed header of the MQTT packet at p[0..avail): false until the whole
 * packet is there; else *hdr and *rem are its header and body lengths. */
static bool mqtt_frame(const uint8_t *p, size_t avail, size_t *hdr, size_t *rem)
{
    size_t r = 0;
    for (size_t i = 1; i < 5 && i < avail; i++) {
        r |= (size_t)(p[i] & 0x7F) << (7 * (i - 1));
        if (!(p[i] & 0x80)) {
            *hdr = i + 1;
            *rem = r;
            return avail >= i + 1 + r;
        }
    }
    return false;
}

struct acks {
    uint8_t p[4096];
    size_t n;
};

static void flush_acks(struct bench *b, struct acks *a)
{
    if (a->n && send(b->sub_fd, a->p, a->n, 0) != (ssize_t)a->n) {
        die("MQTT subscriber: PUBACK write failed");
    }
    a->n = 0;
}

/* One PUBLISH (body v[0..rem)): PUBACK it at QoS 1, count it. */
static void on_publish(struct bench *b, uint8_t flags, const uint8_t *v, size_t rem, uint64_t t,
                       struct acks *a)
{
    size_t pos = 2 + (size_t)be16(v);
    if ((flags >> 1) & 3) {
        if (a->n + 4 > sizeof(a->p)) {
            flush_acks(b, a);
        }
        a->p[a->n] = 0x40;
        a->p[a->n + 1] = 2;
        memcpy(a->p + a->n + 2, v + pos, 2);
        a->n += 4;
        pos += 2;
    }
    on_delivery(b, v + pos, rem - pos, t);
}

/* Parse every complete packet in the subscriber's buffer. */
static void sub_parse(struct bench *b, uint64_t t)
{
    static struct acks a;
    size_t off = 0;
    size_t hdr = 0;
    size_t rem = 0;
    while (mqtt_frame(b->sub_buf + off, b->sub_len - off, &hdr, &rem)) {
        const uint8_t *p = b->sub_buf + off;
        if ((p[0] & 0xF0) == 0x30) {
            on_publish(b, p[0], p + hdr, rem, t, &a);
        }
        off += hdr + rem;
    }
    flush_acks(b, &a);
    memmove(b->sub_buf, b->sub_buf + off, b->sub_len - off);
    b->sub_len -= off;
}

static void sub_read(struct bench *b)
{
    for (;;) {
        ssize_t r = recv(b->sub_fd, b->sub_buf + b->sub_len, SUB_BUF - b->sub_len, MSG_DONTWAIT);
        if (r <= 0) {
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                die("MQTT subscriber: connection lost");
            }
            return;
        }
        b->sub_len += (size_t)r;
        sub_parse(b, now_ns());
    }
}

static void sn_read(struct bench *b, struct snc *c)
{
    uint8_t r[64];
    ssize_t n;
    while ((n = recv(c->fd, r, sizeof(r), MSG_DONTWAIT)) > 0) {
        if (n == 7 && r[1] == SN_PUBACK && be16(r + 4) == c->msg_id && c->outstanding) {
            if (r[6] != 0) {
                b->bad_acks++;
            }
            c->outstanding = false;
            c->acked++;
            c->msg_id = (uint16_t)(c->msg_id == 0xFFFF ? 1 : c->msg_id + 1);
        }
    }
}

/* ---- the loop ---- */

/* -r: messages client i may have sent by time t. */
static uint64_t paced(const struct bench *b, uint64_t t)
{
    if (b->o.rate <= 0) {
        return UINT64_MAX;
    }
    double per_client = b->o.rate / (double)b->o.clients;
    return (uint64_t)((double)(t - b->start_ns) / 1e9 * per_client) + 1;
}

static bool generate(struct bench *b, uint64_t t, bool publishing)
{
    bool more = false;
    uint64_t allowed = paced(b, t);
    if (b->o.count && allowed > b->o.count) {
        allowed = b->o.count;
    }
    for (unsigned i = 0; i < b->o.clients; i++) {
        struct snc *c = &b->c[i];
        bool may = publishing && c->sent < allowed;
        if (b->o.qos == 0) {
            if (c->sent > c->seen && t - c->stall_ns > STALL_NS) {
                c->seen = c->sent; /* the rest of the window is lost */
                c->stall_ns = t;
            }
            for (unsigned k = 0; may && k < 16 && c->sent - c->seen < b->o.window; k++) {
                sn_publish(b, c, i, c->sent++, false);
                c->stall_ns = c->sent == c->seen + 1 ? t : c->stall_ns;
                may = c->sent < allowed;
            }
            more |= may && c->sent - c->seen < b->o.window;
        } else if (!c->outstanding && may && c->sent - c->seen < b->o.window) {
            c->outstanding = true;
            sn_publish(b, c, i, c->sent++, false);
        } else if (c->outstanding && t - c->sent_ns > RETRY_NS) {
            b->resent++; /* §6.13: retransmit with DUP */
            sn_publish(b, c, i, c->sent - 1, true);
        }
    }
    return more;
}

static void loop(struct bench *b)
{
    struct epoll_event evs[256];
    b->start_ns = now_ns();
    b->end_ns = b->start_ns + (uint64_t)(b->o.duration_s * 1e9);
    uint64_t drain_end = b->end_ns + (uint64_t)(b->o.drain_s * 1e9);
    for (unsigned i = 0; i < b->o.clients; i++) {
        b->c[i].stall_ns = b->start_ns;
    }
    for (;;) {
        uint64_t t = now_ns();
        bool publishing = t < b->end_ns;
        bool more = generate(b, t, publishing);
        uint64_t sent = 0;
        uint64_t settled = 0;
        for (unsigned i = 0; i < b->o.clients; i++) {
            sent += b->c[i].sent;
            settled += b->o.qos ? b->c[i].acked : b->c[i].seen;
        }
        if (publishing && b->o.count && sent == b->o.count * b->o.clients) {
            b->end_ns = t; /* -n: everything is out; drain from now */
            drain_end = t + (uint64_t)(b->o.drain_s * 1e9);
            publishing = false;
        }
        bool all_in = b->o.qos ? settled == sent && b->received >= sent : settled == sent;
        if (!publishing && (t >= drain_end || all_in)) {
            break;
        }
        int n = epoll_wait(b->ep, evs, 256, more ? 0 : b->o.rate > 0 ? 1 : 5);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == TAG_SUB) {
                sub_read(b);
            } else {
                sn_read(b, &b->c[evs[i].data.u32]);
            }
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void report(struct bench *b, double cpu_s)
{
    uint64_t sent = 0;
    for (unsigned i = 0; i < b->o.clients; i++) {
        sent += b->c[i].sent;
    }
    double span = (double)(b->last_rx_ns - b->start_ns) / 1e9;
    double rate = span > 0 ? (double)b->received / span : 0.0;
    uint64_t lost = sent > b->received ? sent - b->received : 0;
    qsort(b->lat_us, b->nlat, sizeof(uint32_t), cmp_u32);
    uint32_t p50 = b->nlat ? b->lat_us[b->nlat / 2] : 0;
    uint32_t p99 = b->nlat ? b->lat_us[(size_t)((double)b->nlat * 0.99)] : 0;
    uint32_t mx = b->nlat ? b->lat_us[b->nlat - 1] : 0;
    (void)fprintf(stderr,
                  "sn_bench: qos %u, %u clients: sent %" PRIu64 ", received %" PRIu64
                  " (%.0f msg/s), lost %" PRIu64 " (%.2f%%), dup %" PRIu64 ", resent %" PRIu64
                  ", latency p50 %u us p99 %u us max %u us, generator CPU %.0f%%\n",
                  b->o.qos, b->o.clients, sent, b->received, rate, lost,
                  sent ? 100.0 * (double)lost / (double)sent : 0.0, b->dup, b->resent, p50, p99, mx,
                  span > 0 ? 100.0 * cpu_s / span : 0.0);
    (void)printf("RESULT qos=%u clients=%u window=%u rate=%.0f sent=%" PRIu64 " received=%" PRIu64
                 " lost=%" PRIu64 " dup=%" PRIu64 " resent=%" PRIu64 " bad=%" PRIu64
                 " msgs_per_s=%.0f p50_us=%u p99_us=%u max_us=%u\n",
                 b->o.qos, b->o.clients, b->o.window, b->o.rate, sent, b->received, lost, b->dup,
                 b->resent, b->bad_acks, rate, p50, p99, mx);
}

static void usage(void)
{
    (void)fputs("usage: sn_bench HOST MQTT_PORT SN_PORT [-q 0|1] [-c CLIENTS] [-w WINDOW]\n"
                "                [-m BYTES] [-d SECONDS] [-r MSGS_PER_S] [-n COUNT] [-W WARMUP_S]\n"
                "                [-D DRAIN_S]\n",
                stderr);
    exit(2);
}

static void parse(struct opts *o, int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "q:c:w:m:d:W:D:r:n:")) != -1) {
        switch (ch) {
        case 'q':
            o->qos = (unsigned)atoi(optarg);
            break;
        case 'c':
            o->clients = (unsigned)atoi(optarg);
            break;
        case 'w':
            o->window = (unsigned)atoi(optarg);
            break;
        case 'm':
            o->payload = (size_t)atoi(optarg);
            break;
        case 'd':
            o->duration_s = atof(optarg);
            break;
        case 'W':
            o->warmup_s = atof(optarg);
            break;
        case 'D':
            o->drain_s = atof(optarg);
            break;
        case 'r':
            o->rate = atof(optarg);
            break;
        case 'n':
            o->count = strtoull(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 3 || o->qos > 1 || o->clients == 0 || o->clients > 10000 ||
        o->payload < STAMP_LEN || o->payload > 240 || o->duration_s <= 0) {
        usage();
    }
    if (o->window == 0) {
        o->window = o->qos ? 8 : 64;
    }
    o->host = argv[optind];
    o->mqtt_port = argv[optind + 1];
    o->sn_port = argv[optind + 2];
}

int main(int argc, char **argv)
{
    static struct bench bench;
    struct bench *b = &bench;
    b->o = (struct opts){.clients = 8,
                         .window = 0,
                         .payload = 64,
                         .duration_s = 5,
                         .warmup_s = 0.5,
                         .drain_s = 3};
    parse(&b->o, argc, argv);
    b->c = calloc(b->o.clients, sizeof(*b->c));
    b->sub_buf = malloc(SUB_BUF);
    b->lat_us = malloc(MAX_LAT * sizeof(uint32_t));
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!b->c || !b->sub_buf || !b->lat_us || b->ep < 0) {
        die("out of memory");
    }
    sub_setup(b);
    for (unsigned i = 0; i < b->o.clients; i++) {
        b->c[i].msg_id = 1;
        sn_setup(&b->c[i], i, &b->o);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        (void)epoll_ctl(b->ep, EPOLL_CTL_ADD, b->c[i].fd, &ev);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_SUB};
    (void)epoll_ctl(b->ep, EPOLL_CTL_ADD, b->sub_fd, &ev);
    struct rusage ru0;
    struct rusage ru1;
    (void)getrusage(RUSAGE_SELF, &ru0);
    loop(b);
    (void)getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                          ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                          ru0.ru_stime.tv_usec) /
                         1e6;
    report(b, cpu);
    for (unsigned i = 0; i < b->o.clients; i++) {
        static const uint8_t disc[] = {2, SN_DISCONNECT};
        (void)send(b->c[i].fd, disc, sizeof(disc), 0);
        (void)close(b->c[i].fd);
    }
    (void)close(b->sub_fd);
    (void)close(b->ep);
    free(b->c);
    free(b->sub_buf);
    free(b->lat_us);
    return b->bad_acks ? 2 : 0;
}
