/* tls_bench.c - TLS figures (a benchmark that prints numbers, not a test).
 *
 * Talks MQTT 3.1.1 by hand over gateway/stream's streams (plain TCP, or TLS
 * on Tern's own mbedTLS client code), so Tern and mosquitto are measured
 * the same way. Blocking sockets in the stream threads; the handshake storm
 * drives its connections non-blocking with poll.
 *
 *   tls_bench storm -p PORT [-c CAFILE] [-n 100] [-d 10] [-r 1000]
 *       a QoS 0 stream (1 publisher -> 1 subscriber at -r messages/s, a
 *       CLOCK_MONOTONIC stamp in each payload) alone for 2 s, then beside
 *       rounds of -n concurrent TLS handshakes (each to the end, then
 *       closed) for -d seconds; prints the stream's p50/p99/max latency in
 *       both phases and the handshakes per second.
 *   tls_bench qos1 -p PORT [-c CAFILE] [-d 10] [-w 64] [-P BROKER_PID]
 *       1 publisher -> 1 subscriber at QoS 1, at most -w unacknowledged;
 *       prints messages per second and, with -P, the broker's CPU time per
 *       message (utime + stime from /proc/PID/stat).
 * Without -c the connections are plain TCP. Host is 127.0.0.1, name
 * "localhost" for the certificate check. */
#include "stream.h"
#include "stream_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_LEN 64u
#define MAX_SAMPLES 200000u

static uint16_t port;
static struct stream_tls_conf *tls_conf; /* NULL = plain */
static atomic_bool stop_storm;
static atomic_bool stop_stream;

static uint64_t now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
    (void)fprintf(stderr, "tls_bench: %s: %s\n", what, why);
    exit(1);
}

static int tcp_connect(bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        die("socket", strerror(errno));
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        die("connect", strerror(errno));
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* A blocking stream, handshake done. */
static struct stream *open_blocking(void)
{
    int fd = tcp_connect(false);
    if (!tls_conf) {
        return stream_tcp_create(fd);
    }
    struct stream *s = stream_tls_client_create(tls_conf, fd, "localhost");
    if (!s || stream_tls_handshake(s) != 0) {
        die("TLS handshake", s ? stream_why() : "no memory");
    }
    return s;
}

static void send_all(struct stream *s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        struct iovec iov = {.iov_base = (void *)(uintptr_t)p, .iov_len = n};
        ssize_t w = stream_writev(s, &iov, 1);
        if (w <= 0) {
            die("write", stream_why());
        }
        p += w;
        n -= (size_t)w;
    }
    if (stream_flush(s) != 0) {
        die("flush", stream_why());
    }
}

/* ---- MQTT 3.1.1 by hand ---- */

static size_t put_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

static size_t put_len(uint8_t *p, size_t n)
{
    size_t i = 0;
    do {
        uint8_t b = (uint8_t)(n % 128);
        n /= 128;
        p[i++] = (uint8_t)(b | (n ? 0x80 : 0));
    } while (n);
    return i;
}

static void mqtt_connect(struct stream *s, const char *id)
{
    uint8_t body[128];
    size_t n = put_str(body, "MQTT");
    body[n++] = 4;
    body[n++] = 0x02; /* clean session */
    body[n++] = 0;
    body[n++] = 60;
    n += put_str(body + n, id);
    uint8_t pkt[160] = {0x10};
    size_t h = 1 + put_len(pkt + 1, n);
    memcpy(pkt + h, body, n);
    send_all(s, pkt, h + n);
}

static void mqtt_subscribe(struct stream *s, const char *topic, uint8_t qos)
{
    uint8_t body[128] = {0, 1};
    size_t n = 2 + put_str(body + 2, topic);
    body[n++] = qos;
    uint8_t pkt[160] = {0x82};
    size_t h = 1 + put_len(pkt + 1, n);
    memcpy(pkt + h, body, n);
    send_all(s, pkt, h + n);
}

static size_t mqtt_publish(uint8_t *pkt, const char *topic, uint8_t qos, uint16_t pid,
                           const uint8_t *payload)
{
    uint8_t body[256];
    size_t n = put_str(body, topic);
    if (qos) {
        body[n++] = (uint8_t)(pid >> 8);
        body[n++] = (uint8_t)pid;
    }
    memcpy(body + n, payload, PAYLOAD_LEN);
    n += PAYLOAD_LEN;
    pkt[0] = (uint8_t)(0x30 | qos << 1);
    size_t h = 1 + put_len(pkt + 1, n);
    memcpy(pkt + h, body, n);
    return h + n;
}

/* Incoming packets: a buffer and a callback per complete packet. */
struct reader {
    struct stream *s;
    uint8_t buf[1 << 17];
    size_t len;
};

typedef void on_packet_fn(void *arg, uint8_t type, const uint8_t *body, size_t n);

/* Read once (blocking) and hand every complete packet to fn. */
static void read_packets(struct reader *r, on_packet_fn *fn, void *arg)
{
    ssize_t got = stream_read(r->s, r->buf + r->len, sizeof(r->buf) - r->len);
    if (got < 0) {
        die("read", stream_why()[0] ? stream_why() : "closed");
    }
    r->len += (size_t)got;
    size_t at = 0;
    for (;;) {
        size_t rem = 0;
        size_t i = 1;
        unsigned shift = 0;
        while (at + i < r->len && i < 5) {
            rem |= (size_t)(r->buf[at + i] & 0x7f) << shift;
            shift += 7;
            if (!(r->buf[at + i++] & 0x80)) {
                goto have_len;
            }
        }
        break;
    have_len:
        if (at + i + rem > r->len) {
            break;
        }
        fn(arg, r->buf[at], r->buf + at + i, rem);
        at += i + rem;
    }
    memmove(r->buf, r->buf + at, r->len - at);
    r->len -= at;
}

/* ---- the QoS 0 stream and its latency ---- */

struct lat {
    uint64_t *v;
    atomic_size_t n;
    atomic_bool recording;
};

static struct lat lat;

static void on_stream_packet(void *arg, uint8_t type, const uint8_t *body, size_t n)
{
    (void)arg;
    if ((type & 0xf0) != 0x30 || n < PAYLOAD_LEN) {
        return;
    }
    uint64_t sent;
    memcpy(&sent, body + n - PAYLOAD_LEN, sizeof(sent));
    size_t k = atomic_load(&lat.n);
    if (atomic_load(&lat.recording) && k < MAX_SAMPLES) {
        lat.v[k] = now_ns() - sent;
        atomic_store(&lat.n, k + 1);
    }
}

static void *subscriber(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&stop_stream)) {
        read_packets(r, on_stream_packet, NULL);
    }
    return NULL;
}

struct pub_arg {
    struct stream *s;
    unsigned rate;
};

static void *publisher(void *arg)
{
    struct pub_arg *a = arg;
    uint64_t period = 1000000000u / a->rate;
    uint64_t next = now_ns();
    uint8_t payload[PAYLOAD_LEN] = {0};
    uint8_t pkt[300];
    while (!atomic_load(&stop_stream)) {
        uint64_t t = now_ns();
        if (t < next) {
            struct timespec ts = {0, (long)(next - t)};
            (void)nanosleep(&ts, NULL);
        }
        next += period;
        uint64_t stamp = now_ns();
        memcpy(payload, &stamp, sizeof(stamp));
        send_all(a->s, pkt, mqtt_publish(pkt, "bench/stream", 0, 0, payload));
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report_latency(const char *phase)
{
    size_t n = atomic_load(&lat.n);
    if (n == 0) {
        printf("%-22s no messages\n", phase);
        return;
    }
    qsort(lat.v, n, sizeof(uint64_t), cmp_u64);
    printf("%-22s messages=%zu p50=%.3f ms p99=%.3f ms max=%.3f ms\n", phase, n,
           (double)lat.v[n / 2] / 1e6, (double)lat.v[n * 99 / 100] / 1e6,
           (double)lat.v[n - 1] / 1e6);
    atomic_store(&lat.n, 0);
}

/* ---- the handshake storm ---- */

struct storm_arg {
    unsigned n;
    atomic_ulong done;
    atomic_ulong failed;
};

static void storm_round(struct storm_arg *a)
{
    struct stream *s[1024];
    struct pollfd pf[1024];
    unsigned n = a->n < 1024 ? a->n : 1024;
    unsigned live = n;
    for (unsigned i = 0; i < n; i++) {
        s[i] = stream_tls_client_create(tls_conf, tcp_connect(true), "localhost");
        if (!s[i]) {
            die("storm", "no memory");
        }
    }
    uint64_t deadline = now_ns() + 10ull * 1000000000u;
    while (live > 0 && now_ns() < deadline) {
        unsigned k = 0;
        for (unsigned i = 0; i < n; i++) {
            if (!s[i]) {
                continue;
            }
            int rc = stream_tls_handshake(s[i]);
            if (rc == -EAGAIN) {
                pf[k].fd = s[i]->fd;
                pf[k].events = stream_want(s[i]) == LOOP_WRITE ? POLLOUT : POLLIN;
                k++;
                continue;
            }
            atomic_fetch_add(rc == 0 ? &a->done : &a->failed, 1);
            stream_destroy(s[i]);
            s[i] = NULL;
            live--;
        }
        if (k > 0) {
            (void)poll(pf, k, 100);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        stream_destroy(s[i]);
    }
}

static void *storm(void *arg)
{
    struct storm_arg *a = arg;
    /* The load generator's own handshakes (mbedTLS, client side) must not
     * starve the stream threads it measures: this thread runs at nice 19
     * (Linux: setpriority on a thread id). */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    while (!atomic_load(&stop_storm)) {
        storm_round(a);
    }
    return NULL;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    (void)nanosleep(&ts, NULL);
}

static void run_storm(unsigned n, unsigned dur, unsigned rate)
{
    if (!tls_conf) {
        die("storm", "needs -c CAFILE (TLS)");
    }
    lat.v = calloc(MAX_SAMPLES, sizeof(uint64_t));
    struct reader *r = calloc(1, sizeof(*r));
    r->s = open_blocking();
    mqtt_connect(r->s, "bench-sub");
    mqtt_subscribe(r->s, "bench/stream", 0);
    struct pub_arg pa = {.s = open_blocking(), .rate = rate};
    mqtt_connect(pa.s, "bench-pub");
    pthread_t ts;
    pthread_t tp;
    (void)pthread_create(&ts, NULL, subscriber, r);
    sleep_s(0.5);
    (void)pthread_create(&tp, NULL, publisher, &pa);
    sleep_s(0.5); /* warm-up, not recorded */
    atomic_store(&lat.recording, true);
    sleep_s(2);
    report_latency("stream alone:");
    struct storm_arg sa = {.n = n};
    pthread_t th;
    uint64_t t0 = now_ns();
    (void)pthread_create(&th, NULL, storm, &sa);
    sleep_s(dur);
    report_latency("stream with storm:");
    atomic_store(&stop_storm, true);
    (void)pthread_join(th, NULL);
    double el = (double)(now_ns() - t0) / 1e9;
    printf("%-22s concurrent=%u completed=%lu failed=%lu (%.0f handshakes/s)\n", "handshakes:",
           n, (unsigned long)atomic_load(&sa.done), (unsigned long)atomic_load(&sa.failed),
           (double)atomic_load(&sa.done) / el);
    atomic_store(&stop_stream, true);
    (void)pthread_join(tp, NULL);
    /* the subscriber blocks in read: let the process exit end it */
}

/* ---- QoS 1 throughput ---- */

struct q1 {
    atomic_ulong acked;
    atomic_ulong delivered;
    struct stream *sub;
};

static void on_pub_packet(void *arg, uint8_t type, const uint8_t *body, size_t n)
{
    (void)body;
    (void)n;
    struct q1 *q = arg;
    if ((type & 0xf0) == 0x40) {
        atomic_fetch_add(&q->acked, 1);
    }
}

static void on_sub_packet(void *arg, uint8_t type, const uint8_t *body, size_t n)
{
    struct q1 *q = arg;
    if ((type & 0xf0) != 0x30 || n < 4) {
        return;
    }
    size_t tl = (size_t)body[0] << 8 | body[1];
    uint8_t ack[4] = {0x40, 2, body[2 + tl], body[3 + tl]};
    send_all(q->sub, ack, sizeof(ack));
    atomic_fetch_add(&q->delivered, 1);
}

static void *q1_subscriber(void *arg)
{
    struct q1 *q = arg;
    struct reader *r = calloc(1, sizeof(*r));
    r->s = q->sub;
    while (!atomic_load(&stop_stream)) {
        read_packets(r, on_sub_packet, q);
    }
    return NULL;
}

static double proc_cpu_s(long pid)
{
    char path[64];
    (void)snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0;
    unsigned long st = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void run_qos1(unsigned dur, unsigned window, long pid)
{
    struct q1 q = {.sub = open_blocking()};
    mqtt_connect(q.sub, "bench-q1-sub");
    mqtt_subscribe(q.sub, "bench/q1", 1);
    struct reader *pr = calloc(1, sizeof(*pr));
    pr->s = open_blocking();
    mqtt_connect(pr->s, "bench-q1-pub");
    pthread_t ts;
    (void)pthread_create(&ts, NULL, q1_subscriber, &q);
    sleep_s(0.5);
    /* the CONNACK and SUBACK are counted by nobody: the publisher reads
     * only PUBACKs from here on (CONNACK type 0x20 is ignored) */
    uint8_t payload[PAYLOAD_LEN] = {0};
    uint8_t pkt[300 * 16];
    unsigned long sent = 0;
    uint16_t pid16 = 0;
    double cpu0 = pid ? proc_cpu_s(pid) : 0;
    uint64_t t0 = now_ns();
    uint64_t end = t0 + (uint64_t)dur * 1000000000u;
    while (now_ns() < end) {
        size_t n = 0;
        /* at most window unacknowledged and window undelivered: the
         * sustained rate, not a burst into the broker's queues */
        while (sent - atomic_load(&q.acked) < window && sent - atomic_load(&q.delivered) < window &&
               n + 300 < sizeof(pkt)) {
            pid16 = (uint16_t)(pid16 % 65535 + 1);
            n += mqtt_publish(pkt + n, "bench/q1", 1, pid16, payload);
            sent++;
        }
        if (n > 0) {
            send_all(pr->s, pkt, n);
        }
        if (sent - atomic_load(&q.acked) >= window) {
            read_packets(pr, on_pub_packet, &q);
        } else if (n == 0) {
            sched_yield(); /* waiting for the subscriber */
        }
    }
    double el = (double)(now_ns() - t0) / 1e9;
    double cpu1 = pid ? proc_cpu_s(pid) : 0;
    unsigned long acked = atomic_load(&q.acked);
    unsigned long got = atomic_load(&q.delivered);
    printf("qos1 %s: acked=%lu delivered=%lu in %.1f s: %.0f msg/s", tls_conf ? "tls" : "tcp",
           acked, got, el, (double)got / el);
    if (pid) {
        printf(", broker CPU %.1f us/msg (%.0f%% of a core)", (cpu1 - cpu0) * 1e6 / (double)got,
               (cpu1 - cpu0) * 100.0 / el);
    }
    printf("\n");
    atomic_store(&stop_stream, true);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        (void)fprintf(stderr, "usage: tls_bench storm|qos1 -p PORT [-c CAFILE] [-n N] [-d S] "
                              "[-r RATE] [-w WINDOW] [-P PID]\n");
        return 2;
    }
    const char *mode = argv[1];
    const char *cafile = NULL;
    unsigned n = 100;
    unsigned dur = 10;
    unsigned rate = 1000;
    unsigned window = 64;
    long pid = 0;
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "p:c:n:d:r:w:P:")) != -1) {
        switch (opt) {
        case 'p': port = (uint16_t)atoi(optarg); break;
        case 'c': cafile = optarg; break;
        case 'n': n = (unsigned)atoi(optarg); break;
        case 'd': dur = (unsigned)atoi(optarg); break;
        case 'r': rate = (unsigned)atoi(optarg); break;
        case 'w': window = (unsigned)atoi(optarg); break;
        case 'P': pid = atol(optarg); break;
        default: return 2;
        }
    }
    if (cafile) {
        struct stream_tls_cfg c = {.cafile = cafile};
        char err[256];
        if (stream_tls_conf_create(&c, &tls_conf, err, sizeof(err)) != 0) {
            die("TLS", err);
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "storm") == 0) {
        run_storm(n, dur, rate);
    } else if (strcmp(mode, "qos1") == 0) {
        run_qos1(dur, window, pid);
    } else {
        die("mode", "expected storm or qos1");
    }
    _exit(0); /* reader threads are blocked in read */
}
