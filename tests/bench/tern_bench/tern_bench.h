/* tern_bench.h - what the load generator's files share (tests/bench/tern_bench).
 *
 * One program, one thread, one epoll loop (see main.c for the modes). The
 * files: main.c (signals, dispatch to a mode), args.c (command line),
 * util.c (clock, errors, memory), mqtt.c (buffers, MQTT 3.1.1 encoders and
 * the fixed-header decoder), conn.c (sockets, the event loop, connection
 * setup and teardown), packets.c (what the broker sends: CONNACK, SUBACK,
 * PUBLISH, acknowledgements), publish.c (the windowed publisher pump),
 * latency.c (rate timer, latency samples and percentiles), and one file a
 * mode: traffic.c (throughput and latency: the same loop), durable.c,
 * idle.c. Nothing here is linked with broker code.
 */
#ifndef TERN_BENCH_H
#define TERN_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

extern volatile sig_atomic_t g_stop; /* SIGTERM or SIGINT arrived */
extern const char *const layout_names[3];

/* util.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
uint64_t now_ns(void);
double wall_s(uint64_t mono_ns);
uint64_t cpu_ns(void);
void *xcalloc(size_t n, size_t size);

/* mqtt.c */
uint8_t *bbuf_reserve(struct bbuf *b, size_t n);
size_t enc_connect(struct bbuf *b, const char *client_id, unsigned keepalive_s, bool clean);
size_t enc_subscribe(struct bbuf *b, uint16_t id, const char *filter, unsigned qos);
size_t enc_publish(struct bbuf *b, const char *topic, unsigned qos, uint16_t id,
                   const uint8_t *payload, size_t plen);
void enc_short(struct bbuf *b, unsigned type_flags, int id);
int dec_header(const uint8_t *p, size_t n, size_t *rem);

static inline size_t bbuf_used(const struct bbuf *b)
{
    return b->len - b->off;
}

static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* conn.c */
bool is_durable(const struct bench *b);
void mark_dirty(struct bench *b, struct conn *c);
void conn_fail(const struct bench *b, const struct conn *c, const char *why, int err)
        __attribute__((noreturn));
void flush_dirty(struct bench *b);
void conn_set_ready(struct bench *b, struct conn *c);
void sub_filter(const struct bench *b, const struct conn *c, char *dst, size_t cap);
void handle_events(struct bench *b, int timeout_ms);
void bench_init(struct bench *b, unsigned nconns);
void connect_all(struct bench *b);
void close_all(struct bench *b, bool abortive);

/* packets.c */
void on_packet(struct bench *b, struct conn *c, unsigned hdr, const uint8_t *p, size_t n);

/* publish.c */
void pump_publishers(struct bench *b);

/* latency.c */
void start_rate_timer(struct bench *b);
void record_latency(struct bench *b, uint64_t sent_ns, uint64_t now);
void latency_sort(struct bench *b);
double pct_us(const uint64_t *v, size_t n, unsigned pct);

/* the modes, and the command line */
int run_traffic(struct bench *b);
int run_durable(struct opts *o);
int run_idle(struct bench *b);
void parse_opts(struct opts *o, int argc, char **argv);

#endif
