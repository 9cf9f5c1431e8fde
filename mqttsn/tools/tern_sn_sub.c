/* tern_sn_sub.c - subscribe to an MQTT-SN 1.2 gateway from the command line
 * and print what arrives, in the style of mosquitto_sub. Answers the
 * gateway's REGISTERs (wildcard subscriptions, §6.10), acknowledges QoS 1
 * and 2, keeps the connection alive with PINGREQ, and with --sleep acts as a
 * sleeping client (§6.14). See --help and mqttsn/README.md. */
#include "gw_err.h"
#include "sn_tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG         "tern_sn_sub"
#define MAX_SUBS     32u
#define QOS2_PENDING 64u /* QoS 2 message ids received and not yet released */

/* One subscription from -t / -T / -S. */
struct sub_topic {
    uint8_t topic_type;
    const char *name; /* NORMAL */
    uint16_t topic_id;
    uint8_t short_name[2];
};

/* Topic ids the gateway named in REGISTER or SUBACK (§6.9, §6.10). */
struct topic_name {
    uint16_t id;
    char *name; /* malloc'ed */
};

struct sub_state {
    struct sub_topic subs[MAX_SUBS];
    unsigned nsubs;
    int qos;
    unsigned long count; /* -C: stop after this many, 0 = no limit */
    unsigned long received;
    bool verbose;
    unsigned long sleep_s; /* --sleep, 0 = stay awake */
    struct topic_name *names;
    size_t nnames;
    uint16_t qos2_ids[QOS2_PENDING];
    unsigned nqos2;
};

static const char usage_text[] =
        "Usage: " PROG " [-h HOST] [-p PORT] [-q 0|1|2] [-v] [-C N] [-W S] [-d]\n"
        "                   {-t TOPIC | -T TOPIC_ID | -S XY}... [options]\n"
        "Subscribe at an MQTT-SN 1.2 gateway over UDP and print the messages, one per line.\n\n"
        "  -h, --host HOST        gateway host name or address (default 127.0.0.1)\n"
        "  -p, --port PORT        gateway UDP port (default " SN_TOOL_DEFAULT_PORT ")\n"
        "  -i, --id ID            client id, 1-23 characters (default " PROG "-PID)\n"
        "  -t, --topic FILTER     subscribe by topic name; + and # allowed (repeatable)\n"
        "  -T, --topic-id ID      subscribe to a predefined topic id (repeatable)\n"
        "  -S, --short XY         subscribe to a two-character short topic (repeatable)\n"
        "  -q, --qos QOS          0, 1 or 2 (default 0)\n"
        "  -v, --verbose          print the topic before each payload\n"
        "  -C, --count N          exit after N messages\n"
        "  -W, --timeout S        exit after S seconds (status 3 if -C was not reached)\n"
        "  -k, --keepalive S      keep-alive in seconds (default 60); PINGREQ when idle\n"
        "  -c, --disable-clean-session  keep the session after DISCONNECT\n"
        "      --sleep S          sleeping client: DISCONNECT with duration S, then wake\n"
        "                         every 3/4 S with PINGREQ to fetch buffered messages\n"
        "      --retry-ms MS      retransmission interval Tretry (default 5000)\n"
        "      --retries N        retransmissions Nretry (default 3)\n"
        "  -e, --encapsulate NODE wrap every message in a forwarder encapsulation with\n"
        "                         wireless node id NODE (text, or 0x and hex digits)\n"
        "      --will-topic T     will topic; --will-payload P, --will-qos Q, --will-retain\n"
        "  -d, --debug            dump every packet sent and received to stderr\n"
        "      --help             this text\n\n"
        "Topics print as their name; a predefined id the gateway never named prints as\n"
        "<predefined ID>, an unknown registered id as <topic id ID>.\n"
        "Exit status: 0 done, 1 bad arguments, 2 network error, 3 timeout (no answer\n"
        "after the retries, or -W before -C messages), 4 refused by the gateway\n"
        "(CONNACK or SUBACK return code), 5 the gateway disconnected us or broke the\n"
        "protocol.\n";

enum sub_long_only { OPT_SLEEP = SN_OPT_LAST };

static const struct option long_opts[] = {SN_TOOL_LONG_OPTS,
                                          {"topic", required_argument, NULL, 't'},
                                          {"topic-id", required_argument, NULL, 'T'},
                                          {"short", required_argument, NULL, 'S'},
                                          {"qos", required_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"count", required_argument, NULL, 'C'},
                                          {"sleep", required_argument, NULL, OPT_SLEEP},
                                          {NULL, 0, NULL, 0}};

static int usage_error(const char *msg)
{
    (void)fprintf(stderr, "%s: %s\nTry '%s --help'.\n", PROG, msg, PROG);
    return SN_EXIT_USAGE;
}

static int add_sub(struct sub_state *s, int kind, const char *arg)
{
    if (s->nsubs == MAX_SUBS) {
        return usage_error("too many subscriptions");
    }
    struct sub_topic *st = &s->subs[s->nsubs];
    unsigned long v = 0;
    if (kind == 't') {
        if (arg[0] == '\0') {
            return usage_error("-t needs a topic filter");
        }
        st->topic_type = SN_TOPIC_NORMAL;
        st->name = arg;
    } else if (kind == 'S') {
        st->topic_type = SN_TOPIC_SHORT;
        if (sn_tool_parse_short(PROG, arg, st->short_name) < 0) {
            return SN_EXIT_USAGE;
        }
    } else {
        st->topic_type = SN_TOPIC_PREDEFINED;
        if (sn_tool_parse_uint(PROG, "a topic id", arg, 0xFFFF, &v) < 0) {
            return SN_EXIT_USAGE;
        }
        if (v == 0) {
            return usage_error("a topic id is 1 to 65535");
        }
        st->topic_id = (uint16_t)v;
    }
    s->nsubs++;
    return 0;
}

static int parse_sub(struct sub_state *s, int c, const char *arg)
{
    switch (c) {
    case 't':
    case 'T':
    case 'S':
        return add_sub(s, c, arg);
    case 'q':
        return sn_tool_parse_qos(PROG, arg, 0, &s->qos) < 0 ? SN_EXIT_USAGE : 0;
    case 'v':
        s->verbose = true;
        return 0;
    case 'C':
        if (sn_tool_parse_uint(PROG, "the count", arg, 1000000000, &s->count) < 0) {
            return SN_EXIT_USAGE;
        }
        return s->count ? 0 : usage_error("-C needs a count from 1");
    case OPT_SLEEP:
        if (sn_tool_parse_uint(PROG, "the sleep duration", arg, 0xFFFF, &s->sleep_s) < 0) {
            return SN_EXIT_USAGE;
        }
        return s->sleep_s ? 0 : usage_error("--sleep needs 1 to 65535 seconds");
    default:
        return usage_error("unknown option");
    }
}

/* ---- topic names ---- */

static const char *name_of(const struct sub_state *s, uint16_t id)
{
    for (size_t i = 0; i < s->nnames; i++) {
        if (s->names[i].id == id) {
            return s->names[i].name;
        }
    }
    return NULL;
}

static int remember(struct sn_tool *t, struct sub_state *s, uint16_t id, struct gw_bytes name)
{
    char *copy = malloc(name.n + 1);
    if (!copy) {
        return sn_tool_fail(t, -ENOMEM, "out of memory");
    }
    memcpy(copy, name.p, name.n);
    copy[name.n] = '\0';
    for (size_t i = 0; i < s->nnames; i++) {
        if (s->names[i].id == id) { /* a gateway may reuse an id after a new session */
            free(s->names[i].name);
            s->names[i].name = copy;
            return 0;
        }
    }
    struct topic_name *nn = realloc(s->names, (s->nnames + 1) * sizeof(*nn));
    if (!nn) {
        free(copy);
        return sn_tool_fail(t, -ENOMEM, "out of memory");
    }
    s->names = nn;
    s->names[s->nnames++] = (struct topic_name){id, copy};
    return 0;
}

static void forget_all(struct sub_state *s)
{
    for (size_t i = 0; i < s->nnames; i++) {
        free(s->names[i].name);
    }
    free(s->names);
    s->names = NULL;
    s->nnames = 0;
}

/* ---- receiving ---- */

static void print_msg(const struct sub_state *s, const struct sn_publish *p)
{
    if (s->verbose) {
        const char *name = NULL;
        if (p->flags.topic_type == SN_TOPIC_SHORT) {
            (void)printf("%c%c ", p->short_name[0], p->short_name[1]);
        } else if ((name = name_of(s, p->topic_id)) != NULL) {
            (void)printf("%s ", name);
        } else {
            (void)printf(p->flags.topic_type == SN_TOPIC_PREDEFINED ? "<predefined %u> "
                                                                    : "<topic id %u> ",
                         p->topic_id);
        }
    }
    if (p->data.n) {
        (void)fwrite(p->data.p, 1, p->data.n, stdout);
    }
    (void)putchar('\n');
    (void)fflush(stdout);
}

/* QoS 2 (§6.7): a re-sent PUBLISH before PUBREL is the same message. */
static bool qos2_seen(struct sub_state *s, uint16_t msg_id, bool add)
{
    for (unsigned i = 0; i < s->nqos2; i++) {
        if (s->qos2_ids[i] == msg_id) {
            if (!add) {
                s->qos2_ids[i] = s->qos2_ids[--s->nqos2];
            }
            return true;
        }
    }
    if (add) {
        if (s->nqos2 == QOS2_PENDING) {
            memmove(s->qos2_ids, s->qos2_ids + 1, (QOS2_PENDING - 1) * sizeof(uint16_t));
            s->nqos2--;
        }
        s->qos2_ids[s->nqos2++] = msg_id;
    }
    return false;
}

static int on_msg(struct sn_tool *t, const struct sn_msg *m, void *arg)
{
    struct sub_state *s = arg;
    if (m->type == SN_REGISTER) {
        int rc = remember(t, s, m->u.reg.topic_id, m->u.reg.topic);
        if (rc < 0) {
            return rc;
        }
    } else if (m->type == SN_PUBREL) {
        (void)qos2_seen(s, m->u.msg_id, false);
    } else if (m->type == SN_PUBLISH) {
        const struct sn_publish *p = &m->u.publish;
        bool dup = p->flags.qos == 2 && qos2_seen(s, p->msg_id, true);
        if (!dup && (!s->count || s->received < s->count)) {
            s->received++;
            print_msg(s, p);
        }
    }
    /* The acknowledgements: REGACK, PUBACK, PUBREC, PUBCOMP, PINGRESP. */
    return sn_tool_on_other_default(t, m);
}

static bool done(const struct sub_state *s)
{
    return s->count && s->received >= s->count;
}

/* ---- subscribing ---- */

struct suback_wait {
    uint16_t msg_id;
    uint16_t topic_id;
    uint8_t rc;
    int8_t qos;
};

static int match_suback(struct sn_tool *t, const struct sn_msg *m, void *ctx)
{
    (void)t;
    struct suback_wait *w = ctx;
    if (m->type != SN_SUBACK || m->u.suback.msg_id != w->msg_id) {
        return 0;
    }
    w->topic_id = m->u.suback.topic_id;
    w->rc = m->u.suback.rc;
    w->qos = m->u.suback.flags.qos;
    return 1;
}

static void describe(const struct sub_topic *st, char *buf, size_t cap)
{
    if (st->topic_type == SN_TOPIC_NORMAL) {
        (void)snprintf(buf, cap, "\"%s\"", st->name);
    } else if (st->topic_type == SN_TOPIC_SHORT) {
        (void)snprintf(buf, cap, "short topic \"%c%c\"", st->short_name[0], st->short_name[1]);
    } else {
        (void)snprintf(buf, cap, "predefined topic id %u", st->topic_id);
    }
}

static int subscribe_one(struct sn_tool *t, struct sub_state *s, const struct sub_topic *st)
{
    struct sn_msg req = {.type = SN_SUBSCRIBE};
    struct sn_subscribe *sb = &req.u.subscribe;
    sb->flags.qos = (int8_t)s->qos;
    sb->flags.topic_type = st->topic_type;
    sb->msg_id = sn_tool_msg_id(t);
    sb->topic_id = st->topic_id;
    memcpy(sb->short_name, st->short_name, 2);
    if (st->topic_type == SN_TOPIC_NORMAL) {
        sb->topic_name = gw_bytes_str(st->name);
    }
    struct suback_wait w = {.msg_id = sb->msg_id};
    int rc = sn_tool_request(t, &req, match_suback, &w, "SUBACK");
    if (rc < 0) {
        return rc;
    }
    char what[64];
    describe(st, what, sizeof(what));
    if (w.rc != SN_RC_ACCEPTED) {
        return sn_tool_fail(t, GW_E_REFUSED, "SUBSCRIBE %s refused: SUBACK %s (%u)", what,
                            sn_rc_name(w.rc), w.rc);
    }
    if (t->cfg.debug) {
        (void)fprintf(stderr, "%s: subscribed to %s, granted QoS %d, topic id %u\n", PROG, what,
                      w.qos, w.topic_id);
    }
    /* §6.9: a name without wildcards gets its topic id in SUBACK. */
    if (st->topic_type == SN_TOPIC_NORMAL && w.topic_id) {
        return remember(t, s, w.topic_id, gw_bytes_str(st->name));
    }
    return 0;
}

/* ---- the two ways of waiting ---- */

/* Awake: receive until -C or -W, PINGREQ when idle for a keep-alive. */
static int listen_awake(struct sn_tool *t, struct sub_state *s)
{
    while (!done(s)) {
        int wait_ms = 1000;
        if (t->cfg.keepalive_s) {
            uint64_t due = t->last_tx_ms + (uint64_t)t->cfg.keepalive_s * 1000u;
            uint64_t now = sn_tool_now_ms();
            wait_ms = due > now ? (int)(due - now) : 0;
        }
        struct sn_msg m;
        int rc = sn_tool_recv(t, wait_ms, &m);
        if (rc == 0) {
            rc = on_msg(t, &m, s);
        } else if (rc == GW_E_TIMEOUT) {
            if (t->deadline_ms && sn_tool_now_ms() >= t->deadline_ms) {
                return GW_E_TIMEOUT;
            }
            rc = t->cfg.keepalive_s ? sn_tool_ping(t, false) : 0;
        } else {
            rc = sn_tool_fail(t, rc, "receive: %s", strerror(-rc));
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* Asleep (§6.14): DISCONNECT with a duration, then wake before it runs out
 * with PINGREQ + client id; the gateway sends what it buffered, then
 * PINGRESP, and the client sleeps again. */
static int listen_asleep(struct sn_tool *t, struct sub_state *s)
{
    int rc = sn_tool_disconnect(t, true, (uint16_t)s->sleep_s);
    uint64_t nap_ms = s->sleep_s * 750u;
    while (rc == 0 && !done(s)) {
        struct sn_msg m;
        uint64_t wake = sn_tool_now_ms() + nap_ms;
        while (rc == 0 && sn_tool_now_ms() < wake) {
            rc = sn_tool_recv(t, (int)(wake - sn_tool_now_ms()), &m);
            rc = rc == 0 ? on_msg(t, &m, s) : rc; /* nothing should come while asleep */
        }
        if (rc == GW_E_TIMEOUT && t->deadline_ms && sn_tool_now_ms() >= t->deadline_ms) {
            return GW_E_TIMEOUT;
        }
        if (rc != GW_E_TIMEOUT) {
            return rc < 0 ? rc : 0;
        }
        rc = sn_tool_ping(t, true);
        if (rc == GW_E_TIMEOUT && !(t->deadline_ms && sn_tool_now_ms() >= t->deadline_ms)) {
            size_t n = strlen(t->err);
            (void)snprintf(t->err + n, sizeof(t->err) - n,
                           "; does the gateway support sleeping clients (MQTT-SN 1.2 6.14)?");
        }
    }
    return rc;
}

static int run(struct sn_tool *t, struct sub_state *s)
{
    t->on_other = on_msg;
    t->on_other_arg = s;
    int rc = sn_tool_open(t);
    if (rc == 0) {
        rc = sn_tool_connect(t);
    }
    bool session = rc == 0;
    for (unsigned i = 0; rc == 0 && i < s->nsubs; i++) {
        rc = subscribe_one(t, s, &s->subs[i]);
    }
    bool listening = rc == 0;
    if (listening) {
        rc = s->sleep_s ? listen_asleep(t, s) : listen_awake(t, s);
    }
    /* -W ran out while listening (not while connecting or subscribing). */
    bool timed_out =
            listening && rc == GW_E_TIMEOUT && t->deadline_ms && sn_tool_now_ms() >= t->deadline_ms;
    if (session && (rc == 0 || timed_out || rc == GW_E_REFUSED)) {
        /* Leave cleanly (no will); a few seconds at most past -W. */
        t->deadline_ms = 0;
        t->cfg.nretry = 0;
        t->cfg.retry_ms = t->cfg.retry_ms < 2000 ? t->cfg.retry_ms : 2000;
        (void)sn_tool_disconnect(t, false, 0);
    }
    if (timed_out) {
        if (!s->count) {
            return 0; /* -W without -C: listen for that long */
        }
        return sn_tool_fail(t, GW_E_TIMEOUT, "-W %u s expired after %lu of %lu messages",
                            t->cfg.timeout_s, s->received, s->count);
    }
    return rc;
}

int main(int argc, char **argv)
{
    static struct sn_tool tool;
    static struct sub_state st;
    struct sn_tool *t = &tool;
    sn_tool_init(t, PROG, PROG);
    int c;
    while ((c = getopt_long(argc, argv, SN_TOOL_SHORT_OPTS "t:T:S:q:vC:", long_opts, NULL)) != -1) {
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
        if (prc == 1 && (prc = parse_sub(&st, c, optarg)) != 0) {
            return prc;
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument");
    }
    if (st.nsubs == 0) {
        return usage_error("no topic: give -t FILTER, -T ID or -S XY");
    }
    if (sn_tool_check_will(PROG, &t->cfg) < 0) {
        return SN_EXIT_USAGE;
    }
    int rc = run(t, &st);
    sn_tool_close(t);
    forget_all(&st);
    if (rc < 0) {
        (void)fprintf(stderr, "%s: %s\n", PROG, t->err[0] ? t->err : gw_strerror(rc));
        return sn_tool_exit_code(rc);
    }
    return SN_EXIT_OK;
}
