/* sn_tool.c - the MQTT-SN client endpoint shared by tern_sn_pub and
 * tern_sn_sub: UDP socket, send / receive, retransmitted exchanges and the
 * client side of CONNECT, REGISTER, PUBLISH, DISCONNECT and PINGREQ. */
#include "sn_tool.h"

#include "gw_err.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t sn_tool_now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sn_tool_init(struct sn_tool *t, const char *prog, const char *id_prefix)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    t->prog = prog;
    t->next_msg_id = 1;
    t->cfg.host = "127.0.0.1";
    t->cfg.port = SN_TOOL_DEFAULT_PORT;
    t->cfg.keepalive_s = 60;
    t->cfg.clean = true;
    t->cfg.retry_ms = SN_TOOL_RETRY_MS;
    t->cfg.nretry = SN_TOOL_NRETRY;
    (void)snprintf(t->cfg.client_id, sizeof(t->cfg.client_id), "%s-%ld", id_prefix, (long)getpid());
}

int sn_tool_fail(struct sn_tool *t, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
    return rc;
}

int sn_tool_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return SN_EXIT_OK;
    case GW_E_TIMEOUT:
        return SN_EXIT_TIMEOUT;
    case GW_E_REFUSED:
        return SN_EXIT_REJECTED;
    case GW_E_PROTOCOL:
    case GW_E_CLOSED:
    case GW_E_MALFORMED:
        return SN_EXIT_PROTOCOL;
    case GW_E_TOO_LARGE:
    case GW_E_CONFIG:
    case -EINVAL:
        return SN_EXIT_USAGE;
    default:
        return SN_EXIT_NETWORK;
    }
}

uint16_t sn_tool_msg_id(struct sn_tool *t)
{
    uint16_t id = t->next_msg_id;
    t->next_msg_id = (uint16_t)(id == 0xFFFF ? 1 : id + 1);
    return id;
}

int sn_tool_open(struct sn_tool *t)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    int grc = getaddrinfo(t->cfg.host, t->cfg.port, &hints, &res);
    if (grc != 0) {
        return sn_tool_fail(t, -EHOSTUNREACH, "cannot resolve %s port %s: %s", t->cfg.host,
                            t->cfg.port, gai_strerror(grc));
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* Connected UDP: the kernel drops datagrams from other peers and
         * reports ICMP port unreachable as ECONNREFUSED. */
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            t->fd = fd;
            break;
        }
        err = errno;
        (void)close(fd);
    }
    freeaddrinfo(res);
    if (t->fd < 0) {
        return sn_tool_fail(t, -err, "cannot open a UDP socket to %s port %s: %s", t->cfg.host,
                            t->cfg.port, strerror(err));
    }
    if (t->cfg.timeout_s) {
        t->deadline_ms = sn_tool_now_ms() + (uint64_t)t->cfg.timeout_s * 1000u;
    }
    return 0;
}

void sn_tool_close(struct sn_tool *t)
{
    if (t->fd >= 0) {
        (void)close(t->fd);
        t->fd = -1;
    }
}

int sn_tool_send(struct sn_tool *t, const struct sn_msg *m)
{
    struct gw_bytes node = {t->cfg.node_id, t->cfg.node_id_len};
    size_t n = t->cfg.encap ? sn_encap_encoded_size(node.n, m) : sn_encoded_size(m);
    if (sn_encoded_size(m) > SN_MAX_LEN || n > SN_TOOL_MAX_DATAGRAM) {
        return sn_tool_fail(t, GW_E_TOO_LARGE,
                            "%s of %zu bytes does not fit one UDP datagram (at most %u)",
                            sn_type_name(m->type), n, SN_TOOL_MAX_DATAGRAM);
    }
    if (t->cfg.encap) {
        /* §5.5: radius is only meaningful from gateway to forwarder. */
        n = sn_encode_encap(t->sbuf, sizeof(t->sbuf), 0, node, m);
    } else {
        n = sn_encode(t->sbuf, sizeof(t->sbuf), m);
    }
    if (t->cfg.debug) {
        sn_tool_dump(t, "->", t->sbuf, n, m);
    }
    for (int tries = 0;; tries++) {
        ssize_t w = send(t->fd, t->sbuf, n, 0);
        if (w >= 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == ECONNREFUSED && tries < 3) {
            /* An earlier datagram drew ICMP port unreachable: keep trying,
             * the gateway may come up; the exchange times out otherwise. */
            t->saw_unreachable = true;
            continue;
        }
        int e = errno;
        return sn_tool_fail(t, -e, "send to %s port %s: %s", t->cfg.host, t->cfg.port, strerror(e));
    }
    t->last_tx_ms = sn_tool_now_ms();
    return 0;
}

/* One datagram from the socket into t->rbuf, decoded. Returns 0, 1 for a
 * datagram to skip, or -errno. */
static int read_one(struct sn_tool *t, struct sn_msg *m)
{
    ssize_t n = recv(t->fd, t->rbuf, sizeof(t->rbuf), MSG_TRUNC);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            return 1;
        }
        if (errno == ECONNREFUSED) {
            t->saw_unreachable = true;
            return 1;
        }
        return -errno;
    }
    if ((size_t)n > sizeof(t->rbuf)) {
        if (t->cfg.debug) {
            (void)fprintf(stderr, "%s: <- truncated datagram of %zd bytes, dropped\n", t->prog, n);
        }
        return 1;
    }
    struct sn_msg outer;
    if (sn_decode(t->rbuf, (size_t)n, &outer) < 0) {
        if (t->cfg.debug) {
            sn_tool_dump(t, "<- malformed, dropped:", t->rbuf, (size_t)n, NULL);
        }
        return 1;
    }
    if (outer.type == SN_ENCAPSULATED) {
        struct sn_encap e;
        if (sn_decode_encap(t->rbuf, (size_t)n, &e, m) < 0) {
            if (t->cfg.debug) {
                sn_tool_dump(t, "<- malformed encapsulated, dropped:", t->rbuf, (size_t)n, NULL);
            }
            return 1;
        }
    } else {
        *m = outer;
    }
    if (t->cfg.debug) {
        sn_tool_dump(t, "<-", t->rbuf, (size_t)n, m);
    }
    return 0;
}

int sn_tool_recv(struct sn_tool *t, int timeout_ms, struct sn_msg *m)
{
    uint64_t until = sn_tool_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    if (t->deadline_ms && until > t->deadline_ms) {
        until = t->deadline_ms;
    }
    for (;;) {
        /* Always poll once, so a timeout of 0 still reads what is queued. */
        uint64_t now = sn_tool_now_ms();
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        int prc = poll(&pfd, 1, now < until ? (int)(until - now) : 0);
        if (prc < 0 && errno != EINTR) {
            return -errno;
        }
        if (prc > 0) {
            int rc = read_one(t, m);
            if (rc <= 0) {
                return rc;
            }
        } else if (sn_tool_now_ms() >= until) {
            return GW_E_TIMEOUT;
        }
    }
}

static bool deadline_passed(const struct sn_tool *t)
{
    return t->deadline_ms && sn_tool_now_ms() >= t->deadline_ms;
}

static int timeout_fail(struct sn_tool *t, const char *what)
{
    const char *hint = "";
    if (t->saw_unreachable) {
        hint = " (ICMP port unreachable: nothing listens there)";
    } else if (t->cfg.encap) {
        hint = " (does the gateway accept encapsulated messages?)";
    }
    if (deadline_passed(t)) {
        return sn_tool_fail(t, GW_E_TIMEOUT, "timed out waiting for %s (-W %u s)%s", what,
                            t->cfg.timeout_s, hint);
    }
    return sn_tool_fail(t, GW_E_TIMEOUT,
                        "no %s from the gateway at %s port %s after %u tries, %u ms apart%s", what,
                        t->cfg.host, t->cfg.port, t->cfg.nretry + 1, t->cfg.retry_ms, hint);
}

static void set_dup(struct sn_msg *req)
{
    if (req->type == SN_PUBLISH) {
        req->u.publish.flags.dup = true; /* §5.3.4: DUP on retransmission */
    } else if (req->type == SN_SUBSCRIBE || req->type == SN_UNSUBSCRIBE) {
        req->u.subscribe.flags.dup = true;
    }
}

/* Wait one Tretry for the answer match() accepts. Returns 1 when it came, 0
 * when Tretry ran out (retransmit), or a negative code. */
static int wait_answer(struct sn_tool *t, sn_tool_match_fn *match, void *ctx, const char *what)
{
    uint64_t until = sn_tool_now_ms() + t->cfg.retry_ms;
    for (;;) {
        uint64_t now = sn_tool_now_ms();
        struct sn_msg m;
        int rc = now < until ? sn_tool_recv(t, (int)(until - now), &m) : GW_E_TIMEOUT;
        if (rc == GW_E_TIMEOUT) {
            return deadline_passed(t) ? timeout_fail(t, what) : 0;
        }
        if (rc < 0) {
            return sn_tool_fail(t, rc, "receive from %s port %s: %s", t->cfg.host, t->cfg.port,
                                strerror(-rc));
        }
        int r = match(t, &m, ctx);
        if (r < 0 || r == 1) {
            return r;
        }
        if (r == 2) {
            until = sn_tool_now_ms() + t->cfg.retry_ms; /* the exchange moved on */
            continue;
        }
        r = t->on_other ? t->on_other(t, &m, t->on_other_arg) : sn_tool_on_other_default(t, &m);
        if (r < 0) {
            return r;
        }
    }
}

int sn_tool_request(struct sn_tool *t, struct sn_msg *req, sn_tool_match_fn *match, void *ctx,
                    const char *what)
{
    for (unsigned attempt = 0; attempt <= t->cfg.nretry; attempt++) {
        if (attempt > 0) {
            set_dup(req); /* Tretry expired: retransmit (§6.13) */
        }
        int rc = sn_tool_send(t, req);
        if (rc < 0) {
            return rc;
        }
        rc = wait_answer(t, match, ctx, what);
        if (rc != 0) {
            return rc < 0 ? rc : 0;
        }
    }
    return timeout_fail(t, what);
}

/* ---- CONNECT (§6.3) ---- */

static int match_connack(struct sn_tool *t, const struct sn_msg *m, void *ctx)
{
    uint8_t *rc = ctx;
    const struct sn_tool_will *w = &t->cfg.will;
    struct sn_msg out = {0};
    switch (m->type) {
    case SN_CONNACK:
        *rc = m->u.rc;
        return 1;
    case SN_WILLTOPICREQ:
        out.type = SN_WILLTOPIC;
        out.u.will_topic.flags.qos = (int8_t)w->qos;
        out.u.will_topic.flags.retain = w->retain;
        out.u.will_topic.topic = gw_bytes_str(w->topic);
        break;
    case SN_WILLMSGREQ:
        out.type = SN_WILLMSG;
        out.u.will_msg = (struct gw_bytes){(const uint8_t *)w->payload, w->payload_len};
        break;
    default:
        return 0;
    }
    if (!w->topic) {
        return sn_tool_fail(t, GW_E_PROTOCOL, "gateway asked for a will we did not announce (%s)",
                            sn_type_name(m->type));
    }
    int src = sn_tool_send(t, &out);
    return src < 0 ? src : 2;
}

int sn_tool_connect(struct sn_tool *t)
{
    struct sn_msg req = {.type = SN_CONNECT};
    req.u.connect.flags.clean = t->cfg.clean;
    req.u.connect.flags.will = t->cfg.will.topic != NULL;
    req.u.connect.duration_s = (uint16_t)t->cfg.keepalive_s;
    req.u.connect.client_id = gw_bytes_str(t->cfg.client_id);
    uint8_t rc = 0;
    int r = sn_tool_request(t, &req, match_connack, &rc, "CONNACK");
    if (r < 0) {
        return r;
    }
    if (rc != SN_RC_ACCEPTED) {
        return sn_tool_fail(t, GW_E_REFUSED, "CONNECT refused by the gateway: CONNACK %s (%u)",
                            sn_rc_name(rc), rc);
    }
    return 0;
}

/* ---- REGISTER (§6.5) ---- */

struct ack_wait {
    enum sn_type want;
    enum sn_type alt; /* PUBACK answering a QoS 2 PUBLISH with an error */
    uint16_t msg_id;
    uint16_t topic_id;
    uint8_t rc;
    enum sn_type got;
};

static uint16_t ack_msg_id(const struct sn_msg *m)
{
    switch (m->type) {
    case SN_REGACK:
    case SN_PUBACK:
        return m->u.topic_ack.msg_id;
    case SN_SUBACK:
        return m->u.suback.msg_id;
    case SN_PUBREC:
    case SN_PUBCOMP:
    case SN_PUBREL:
    case SN_UNSUBACK:
        return m->u.msg_id;
    default:
        return 0;
    }
}

static int match_ack(struct sn_tool *t, const struct sn_msg *m, void *ctx)
{
    (void)t;
    struct ack_wait *w = ctx;
    if ((m->type != w->want && m->type != w->alt) || ack_msg_id(m) != w->msg_id) {
        return 0;
    }
    w->got = m->type;
    if (m->type == SN_REGACK || m->type == SN_PUBACK) {
        w->topic_id = m->u.topic_ack.topic_id;
        w->rc = m->u.topic_ack.rc;
    }
    return 1;
}

int sn_tool_register(struct sn_tool *t, const char *topic, uint16_t *topic_id)
{
    struct sn_msg req = {.type = SN_REGISTER};
    req.u.reg.msg_id = sn_tool_msg_id(t);
    req.u.reg.topic = gw_bytes_str(topic);
    struct ack_wait w = {.want = SN_REGACK, .alt = SN_REGACK, .msg_id = req.u.reg.msg_id};
    int r = sn_tool_request(t, &req, match_ack, &w, "REGACK");
    if (r < 0) {
        return r;
    }
    if (w.rc != SN_RC_ACCEPTED) {
        return sn_tool_fail(t, GW_E_REFUSED, "REGISTER \"%s\" refused: REGACK %s (%u)", topic,
                            sn_rc_name(w.rc), w.rc);
    }
    *topic_id = w.topic_id;
    return 0;
}

/* ---- PUBLISH (§6.7) ---- */

static int puback_refused(struct sn_tool *t, const struct sn_publish *p, uint8_t rc)
{
    if (p->flags.topic_type == SN_TOPIC_SHORT) {
        return sn_tool_fail(t, GW_E_REFUSED,
                            "PUBLISH to short topic \"%c%c\" refused: PUBACK %s (%u)",
                            p->short_name[0], p->short_name[1], sn_rc_name(rc), rc);
    }
    return sn_tool_fail(t, GW_E_REFUSED, "PUBLISH to %stopic id %u refused: PUBACK %s (%u)",
                        p->flags.topic_type == SN_TOPIC_PREDEFINED ? "predefined " : "",
                        p->topic_id, sn_rc_name(rc), rc);
}

int sn_tool_publish(struct sn_tool *t, struct sn_publish *p)
{
    struct sn_msg req = {.type = SN_PUBLISH};
    if (p->flags.qos <= 0) {
        p->msg_id = 0; /* §5.4.12: not relevant for QoS 0 and -1 */
        req.u.publish = *p;
        return sn_tool_send(t, &req);
    }
    p->msg_id = sn_tool_msg_id(t);
    req.u.publish = *p;
    struct ack_wait w = {.want = p->flags.qos == 1 ? SN_PUBACK : SN_PUBREC,
                         .alt = SN_PUBACK,
                         .msg_id = p->msg_id};
    int r = sn_tool_request(t, &req, match_ack, &w, p->flags.qos == 1 ? "PUBACK" : "PUBREC");
    if (r < 0) {
        return r;
    }
    if (w.got == SN_PUBACK) {
        return w.rc == SN_RC_ACCEPTED ? 0 : puback_refused(t, p, w.rc);
    }
    /* QoS 2: PUBREL until PUBCOMP. */
    struct sn_msg rel = {.type = SN_PUBREL};
    rel.u.msg_id = p->msg_id;
    struct ack_wait wc = {.want = SN_PUBCOMP, .alt = SN_PUBCOMP, .msg_id = p->msg_id};
    return sn_tool_request(t, &rel, match_ack, &wc, "PUBCOMP");
}

/* ---- DISCONNECT and PINGREQ (§6.12, §6.14) ---- */

static int match_type(struct sn_tool *t, const struct sn_msg *m, void *ctx)
{
    (void)t;
    const enum sn_type *want = ctx;
    return m->type == *want;
}

int sn_tool_disconnect(struct sn_tool *t, bool has_duration, uint16_t duration_s)
{
    struct sn_msg req = {.type = SN_DISCONNECT};
    req.u.disconnect.has_duration = has_duration;
    req.u.disconnect.duration_s = duration_s;
    enum sn_type want = SN_DISCONNECT;
    return sn_tool_request(t, &req, match_type, &want, "DISCONNECT");
}

int sn_tool_ping(struct sn_tool *t, bool with_id)
{
    struct sn_msg req = {.type = SN_PINGREQ};
    if (with_id) {
        req.u.client_id = gw_bytes_str(t->cfg.client_id);
    }
    enum sn_type want = SN_PINGRESP;
    return sn_tool_request(t, &req, match_type, &want, "PINGRESP");
}

int sn_tool_on_other_default(struct sn_tool *t, const struct sn_msg *m)
{
    struct sn_msg out = {0};
    switch (m->type) {
    case SN_REGISTER: /* §6.10: the gateway names a topic id before using it */
        out.type = SN_REGACK;
        out.u.topic_ack.topic_id = m->u.reg.topic_id;
        out.u.topic_ack.msg_id = m->u.reg.msg_id;
        out.u.topic_ack.rc = SN_RC_ACCEPTED;
        return sn_tool_send(t, &out);
    case SN_PINGREQ:
        out.type = SN_PINGRESP;
        return sn_tool_send(t, &out);
    case SN_PUBLISH:
        if (m->u.publish.flags.qos == 1) {
            out.type = SN_PUBACK;
            out.u.topic_ack.topic_id = m->u.publish.topic_id;
            out.u.topic_ack.msg_id = m->u.publish.msg_id;
            return sn_tool_send(t, &out);
        }
        if (m->u.publish.flags.qos == 2) {
            out.type = SN_PUBREC;
            out.u.msg_id = m->u.publish.msg_id;
            return sn_tool_send(t, &out);
        }
        return 0;
    case SN_PUBREL:
        out.type = SN_PUBCOMP;
        out.u.msg_id = m->u.msg_id;
        return sn_tool_send(t, &out);
    case SN_DISCONNECT:
        return sn_tool_fail(t, GW_E_CLOSED,
                            "the gateway sent DISCONNECT (session taken over, keep-alive "
                            "expired or protocol error; see the gateway log)");
    case SN_PUBACK:
        if (m->u.topic_ack.rc != SN_RC_ACCEPTED) {
            /* §6.7: a QoS 0 PUBLISH to an unknown topic id draws a PUBACK. */
            return sn_tool_fail(t, GW_E_REFUSED, "PUBLISH to topic id %u refused: PUBACK %s (%u)",
                                m->u.topic_ack.topic_id, sn_rc_name(m->u.topic_ack.rc),
                                m->u.topic_ack.rc);
        }
        return 0;
    default:
        return 0;
    }
}
