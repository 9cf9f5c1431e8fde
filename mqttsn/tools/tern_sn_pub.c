/* tern_sn_pub.c - publish MQTT-SN 1.2 messages from the command line, in the
 * style of mosquitto_pub: CONNECT, REGISTER the topic name (or use a
 * predefined id or a short name), PUBLISH at QoS 0/1/2 and DISCONNECT; or at
 * QoS -1 send the PUBLISH alone, without connecting (§6.8). See --help and
 * mqttsn/README.md. */
#include "gw_err.h"
#include "sn_tool.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "tern_sn_pub"

enum msg_source { SRC_NONE, SRC_MESSAGE, SRC_FILE, SRC_STDIN, SRC_LINES, SRC_NULL };

struct pub_opts {
    const char *topic; /* -t: registered with REGISTER */
    uint16_t topic_id; /* -T: predefined */
    uint8_t short_name[2];
    int topic_kind; /* 0 none, 't', 'T', 'S' */
    int qos;
    bool retain;
    enum msg_source src;
    const char *message;
    const char *file;
    unsigned long repeat;
    unsigned long repeat_delay_ms;
};

static const char usage_text[] =
        "Usage: " PROG " [-h HOST] [-p PORT] [-q -1|0|1|2] [-r] [-d]\n"
        "                   {-t TOPIC | -T TOPIC_ID | -S XY}\n"
        "                   {-m MESSAGE | -f FILE | -s | -l | -n} [options]\n"
        "Publish to an MQTT-SN 1.2 gateway over UDP.\n\n"
        "  -h, --host HOST        gateway host name or address (default 127.0.0.1)\n"
        "  -p, --port PORT        gateway UDP port (default " SN_TOOL_DEFAULT_PORT ")\n"
        "  -i, --id ID            client id, 1-23 characters (default " PROG "-PID)\n"
        "  -t, --topic NAME       topic name, registered with REGISTER\n"
        "  -T, --topic-id ID      predefined topic id (1-65535)\n"
        "  -S, --short XY         two-character short topic name\n"
        "  -q, --qos QOS          -1, 0, 1 or 2 (default 0); -1 sends the PUBLISH without\n"
        "                         connecting and needs -T or -S\n"
        "  -m, --message TEXT     the payload\n"
        "  -f, --file FILE        the payload is the content of FILE\n"
        "  -s, --stdin-file       the payload is all of standard input\n"
        "  -l, --stdin-line       one message per line of standard input\n"
        "  -n, --null-message     an empty payload\n"
        "  -r, --retain           set the retain flag\n"
        "      --repeat N         publish the message N times (default 1)\n"
        "      --repeat-delay S   seconds between repeats (may be fractional: 0.5)\n"
        "  -k, --keepalive S      keep-alive in seconds (default 60)\n"
        "  -c, --disable-clean-session  keep the session after DISCONNECT\n"
        "  -W, --timeout S        give up after S seconds in all\n"
        "      --retry-ms MS      retransmission interval Tretry (default 5000)\n"
        "      --retries N        retransmissions Nretry (default 3)\n"
        "  -e, --encapsulate NODE wrap every message in a forwarder encapsulation with\n"
        "                         wireless node id NODE (text, or 0x and hex digits)\n"
        "      --will-topic T     will topic; --will-payload P, --will-qos Q, --will-retain\n"
        "  -d, --debug            dump every packet sent and received to stderr\n"
        "      --help             this text\n\n"
        "Exit status: 0 done, 1 bad arguments, 2 network error, 3 timeout (no answer\n"
        "after the retries, or -W), 4 refused by the gateway (CONNACK, REGACK or PUBACK\n"
        "return code), 5 the gateway disconnected us or broke the protocol.\n";

enum pub_long_only { OPT_REPEAT = SN_OPT_LAST, OPT_REPEAT_DELAY };

static const struct option long_opts[] = {
        SN_TOOL_LONG_OPTS,
        {"topic", required_argument, NULL, 't'},
        {"topic-id", required_argument, NULL, 'T'},
        {"short", required_argument, NULL, 'S'},
        {"qos", required_argument, NULL, 'q'},
        {"message", required_argument, NULL, 'm'},
        {"file", required_argument, NULL, 'f'},
        {"stdin-file", no_argument, NULL, 's'},
        {"stdin-line", no_argument, NULL, 'l'},
        {"null-message", no_argument, NULL, 'n'},
        {"retain", no_argument, NULL, 'r'},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"repeat-delay", required_argument, NULL, OPT_REPEAT_DELAY},
        {NULL, 0, NULL, 0}};

static int usage_error(const char *msg)
{
    (void)fprintf(stderr, "%s: %s\nTry '%s --help'.\n", PROG, msg, PROG);
    return SN_EXIT_USAGE;
}

static int set_topic(struct pub_opts *o, int kind, const char *arg)
{
    unsigned long v = 0;
    if (o->topic_kind) {
        return usage_error("give one of -t, -T and -S");
    }
    o->topic_kind = kind;
    if (kind == 't') {
        o->topic = arg;
        return 0;
    }
    if (kind == 'S') {
        return sn_tool_parse_short(PROG, arg, o->short_name) < 0 ? SN_EXIT_USAGE : 0;
    }
    if (sn_tool_parse_uint(PROG, "a topic id", arg, 0xFFFF, &v) < 0) {
        return SN_EXIT_USAGE;
    }
    if (v == 0) { /* 0x0000 is reserved (§5.3.11) */
        return usage_error("a topic id is 1 to 65535");
    }
    o->topic_id = (uint16_t)v;
    return 0;
}

static int set_source(struct pub_opts *o, enum msg_source src, const char *arg)
{
    if (o->src != SRC_NONE) {
        return -EINVAL;
    }
    o->src = src;
    if (src == SRC_MESSAGE) {
        o->message = arg;
    } else if (src == SRC_FILE) {
        o->file = arg;
    }
    return 0;
}

static int parse_delay(const char *arg, unsigned long *ms)
{
    char *end = NULL;
    double d = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(d >= 0.0) || d > 86400.0) {
        (void)fprintf(stderr, "%s: --repeat-delay must be 0 to 86400 seconds, not \"%s\"\n", PROG,
                      arg);
        return -EINVAL;
    }
    *ms = (unsigned long)(d * 1000.0);
    return 0;
}

static int parse_pub(struct pub_opts *o, int c, const char *arg)
{
    switch (c) {
    case 't':
    case 'T':
    case 'S':
        return set_topic(o, c, arg);
    case 'q':
        return sn_tool_parse_qos(PROG, arg, -1, &o->qos) < 0 ? SN_EXIT_USAGE : 0;
    case 'm':
    case 'f':
    case 's':
    case 'l':
    case 'n': {
        static const char kinds[] = "mfsln";
        enum msg_source src = (enum msg_source)(strchr(kinds, c) - kinds + SRC_MESSAGE);
        return set_source(o, src, arg) < 0 ? usage_error("give one of -m, -f, -s, -l and -n") : 0;
    }
    case 'r':
        o->retain = true;
        return 0;
    case OPT_REPEAT:
        return sn_tool_parse_uint(PROG, "--repeat", arg, 1000000000, &o->repeat) < 0 ||
                               o->repeat == 0
                       ? usage_error("--repeat needs a count from 1")
                       : 0;
    case OPT_REPEAT_DELAY:
        return parse_delay(arg, &o->repeat_delay_ms) < 0 ? SN_EXIT_USAGE : 0;
    default:
        return usage_error("unknown option");
    }
}

static int check_opts(const struct sn_tool *t, const struct pub_opts *o)
{
    if (!o->topic_kind) {
        return usage_error("no topic: give -t NAME, -T ID or -S XY");
    }
    if (o->src == SRC_NONE) {
        return usage_error("no message: give -m, -f, -s, -l or -n");
    }
    if (o->qos == -1 && o->topic_kind == 't') {
        /* §6.8: QoS -1 has no connection, so no REGISTER: only predefined
         * ids and short names. */
        return usage_error("QoS -1 publishes without connecting: use -T ID or -S XY, not -t");
    }
    if (o->topic_kind == 't' && (o->topic[0] == '\0' || strpbrk(o->topic, "+#"))) {
        return usage_error("-t needs a topic name without wildcards");
    }
    if (o->qos == -1 && t->cfg.will.topic) {
        return usage_error("QoS -1 does not connect, so it has no will");
    }
    return sn_tool_check_will(PROG, &t->cfg) < 0 ? SN_EXIT_USAGE : 0;
}

/* Handle what arrives between publishes (-l waits on stdin): a rejection
 * PUBACK or a gateway DISCONNECT ends the run. */
static int drain_socket(struct sn_tool *t)
{
    struct sn_msg m;
    int rc;
    while ((rc = sn_tool_recv(t, 0, &m)) == 0) {
        rc = sn_tool_on_other_default(t, &m);
        if (rc < 0) {
            return rc;
        }
    }
    return rc == GW_E_TIMEOUT ? 0 : rc;
}

static int publish_one(struct sn_tool *t, struct sn_publish *p)
{
    int rc = drain_socket(t);
    return rc < 0 ? rc : sn_tool_publish(t, p);
}

/* Milliseconds until the next keep-alive PINGREQ is due (-1: none), at
 * most until the -W deadline. */
static int idle_ms(const struct sn_tool *t, bool connected)
{
    uint64_t now = sn_tool_now_ms();
    uint64_t due = UINT64_MAX;
    if (connected && t->cfg.keepalive_s) {
        due = t->last_tx_ms + (uint64_t)t->cfg.keepalive_s * 1000u;
    }
    if (t->deadline_ms && t->deadline_ms < due) {
        due = t->deadline_ms;
    }
    if (due == UINT64_MAX) {
        return -1;
    }
    return due > now ? (int)(due - now) : 0;
}

/* Nothing to send: PINGREQ when a keep-alive is due, GW_E_TIMEOUT at -W. */
static int on_idle(struct sn_tool *t)
{
    if (t->deadline_ms && sn_tool_now_ms() >= t->deadline_ms) {
        return sn_tool_fail(t, GW_E_TIMEOUT, "-W %u s expired", t->cfg.timeout_s);
    }
    return sn_tool_ping(t, false);
}

/* --repeat-delay: wait, answering the gateway and keeping the connection. */
static int pause_ms(struct sn_tool *t, uint64_t ms, bool connected)
{
    uint64_t until = sn_tool_now_ms() + ms;
    int rc = 0;
    while (rc == 0 && sn_tool_now_ms() < until) {
        int wait = (int)(until - sn_tool_now_ms());
        int idle = idle_ms(t, connected);
        bool due = idle >= 0 && idle <= wait;
        struct sn_msg m;
        rc = sn_tool_recv(t, due ? idle : wait, &m);
        if (rc == 0) {
            rc = sn_tool_on_other_default(t, &m);
        } else if (rc == GW_E_TIMEOUT) {
            rc = due ? on_idle(t) : 0;
        }
    }
    return rc;
}

/* -l: one message per line; PINGREQ when stdin is quiet for a keep-alive. */
static int publish_lines(struct sn_tool *t, struct sn_publish *p, bool connected)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = t->fd, .events = POLLIN}};
        int prc = poll(pfd, 2, idle_ms(t, connected));
        if (prc < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (prc == 0) {
            rc = on_idle(t);
        } else if (pfd[1].revents) {
            rc = drain_socket(t);
        } else if (pfd[0].revents) {
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0) {
                break; /* end of input */
            }
            if (n > 0 && line[n - 1] == '\n') {
                n--;
            }
            p->data = (struct gw_bytes){(const uint8_t *)line, (size_t)n};
            rc = publish_one(t, p);
        }
        if (rc < 0) {
            break;
        }
    }
    free(line);
    return rc;
}

static int load_payload(const struct pub_opts *o, uint8_t **buf, struct gw_bytes *data)
{
    size_t n = 0;
    int rc = 0;
    switch (o->src) {
    case SRC_MESSAGE:
        *data = gw_bytes_str(o->message);
        return 0;
    case SRC_NULL:
    case SRC_LINES:
        *data = (struct gw_bytes){NULL, 0};
        return 0;
    default:
        rc = sn_tool_read_file(o->src == SRC_FILE ? o->file : "-", SN_TOOL_MAX_DATAGRAM, buf, &n);
        break;
    }
    if (rc < 0) {
        (void)fprintf(stderr, "%s: cannot read %s: %s\n", PROG,
                      o->src == SRC_FILE ? o->file : "standard input",
                      rc == GW_E_TOO_LARGE ? "larger than one UDP datagram" : strerror(-rc));
        return rc;
    }
    *data = (struct gw_bytes){*buf, n};
    return 0;
}

static int run(struct sn_tool *t, const struct pub_opts *o, struct gw_bytes data)
{
    bool connected = o->qos != -1;
    struct sn_publish p = {0};
    p.flags.qos = (int8_t)o->qos;
    p.flags.retain = o->retain;
    p.data = data;
    if (o->topic_kind == 'T') {
        p.flags.topic_type = SN_TOPIC_PREDEFINED;
        p.topic_id = o->topic_id;
    } else if (o->topic_kind == 'S') {
        p.flags.topic_type = SN_TOPIC_SHORT;
        memcpy(p.short_name, o->short_name, 2);
    }
    int rc = sn_tool_open(t);
    if (rc == 0 && connected) {
        rc = sn_tool_connect(t);
    }
    bool session = connected && rc == 0;
    if (rc == 0 && o->topic_kind == 't') {
        rc = sn_tool_register(t, o->topic, &p.topic_id);
    }
    if (rc == 0 && o->src == SRC_LINES) {
        rc = publish_lines(t, &p, connected);
    }
    for (unsigned long i = 0; rc == 0 && o->src != SRC_LINES && i < o->repeat; i++) {
        if (i > 0 && o->repeat_delay_ms) {
            rc = pause_ms(t, o->repeat_delay_ms, connected);
        }
        p.flags.dup = false;
        rc = rc < 0 ? rc : publish_one(t, &p);
    }
    if (session && (rc == 0 || rc == GW_E_REFUSED)) {
        /* The gateway answers in order, so a PUBACK rejecting a QoS 0
         * PUBLISH arrives before its DISCONNECT (§6.7). */
        char err[sizeof(t->err)];
        memcpy(err, t->err, sizeof(err));
        int drc = sn_tool_disconnect(t, false, 0);
        if (rc == GW_E_REFUSED) {
            memcpy(t->err, err, sizeof(err));
        } else {
            rc = drc;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    static struct sn_tool tool;
    struct sn_tool *t = &tool;
    sn_tool_init(t, PROG, PROG);
    struct pub_opts o = {.repeat = 1};
    int c;
    while ((c = getopt_long(argc, argv, SN_TOOL_SHORT_OPTS "t:T:S:q:m:f:slnr", long_opts, NULL)) !=
           -1) {
        if (c == SN_OPT_HELP) {
            (void)fputs(usage_text, stdout);
            return SN_EXIT_OK;
        }
        if (c == '?') {
            return usage_error("bad option");
        }
        int prc = sn_tool_parse_option(t, c, optarg);
        if (prc < 0) {
            return SN_EXIT_USAGE;
        }
        if (prc == 1 && (prc = parse_pub(&o, c, optarg)) != 0) {
            return prc;
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument");
    }
    int rc = check_opts(t, &o);
    uint8_t *buf = NULL;
    struct gw_bytes data;
    if (rc != 0) {
        return rc;
    }
    if (load_payload(&o, &buf, &data) < 0) {
        return SN_EXIT_USAGE;
    }
    rc = run(t, &o, data);
    sn_tool_close(t);
    free(buf);
    if (rc < 0) {
        (void)fprintf(stderr, "%s: %s\n", PROG, t->err[0] ? t->err : gw_strerror(rc));
        return sn_tool_exit_code(rc);
    }
    return SN_EXIT_OK;
}
