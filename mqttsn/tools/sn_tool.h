/* sn_tool.h - what tern_sn_pub and tern_sn_sub share: one MQTT-SN 1.2 client
 * endpoint over a connected UDP socket, with blocking request / response
 * exchanges (retransmitted every Tretry, at most Nretry times, MQTT-SN 1.2
 * §6.13), optional forwarder encapsulation (§5.5), a packet dump for -d, and
 * argument helpers.
 *
 * These are command-line field tools, not part of the daemon: they use libc
 * (malloc, stdio) directly, block in poll(), and print their own errors. Every
 * function that fails returns a negative code (gw_err.h or -errno) and leaves
 * a one-line reason in t->err; sn_tool_exit_code() maps the code to the
 * documented exit status.
 *
 * Message views: a struct sn_msg handed to a callback or returned by
 * sn_tool_recv points into t->rbuf and dies at the next receive. */
#ifndef SN_TOOL_H
#define SN_TOOL_H

#include "sn_codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SN_TOOL_DEFAULT_PORT "1883"
#define SN_TOOL_RETRY_MS     5000u  /* Tretry default (the spec suggests 10-15 s) */
#define SN_TOOL_NRETRY       3u     /* Nretry default (§6.13 suggests 3-5) */
#define SN_TOOL_MAX_DATAGRAM 65507u /* largest UDP payload over IPv4 */
#define SN_TOOL_NODE_ID_MAX  SN_ENCAP_NODE_MAX

/* Exit statuses, documented in --help and mqttsn/README.md. */
enum sn_tool_exit {
    SN_EXIT_OK = 0,
    SN_EXIT_USAGE = 1,    /* bad arguments, unreadable file */
    SN_EXIT_NETWORK = 2,  /* host not resolved, socket error */
    SN_EXIT_TIMEOUT = 3,  /* no answer after the retries, or -W expired */
    SN_EXIT_REJECTED = 4, /* the gateway refused: CONNACK, REGACK, PUBACK or SUBACK rc */
    SN_EXIT_PROTOCOL = 5  /* the gateway disconnected us or broke the protocol */
};

/* Will of the CONNECT (§6.3); topic == NULL means no will. Borrowed strings. */
struct sn_tool_will {
    const char *topic;
    const char *payload;
    size_t payload_len;
    int qos;
    bool retain;
};

/* Settings common to both tools; strings are borrowed from argv. */
struct sn_tool_cfg {
    const char *host;
    const char *port;
    char client_id[SN_CLIENT_ID_MAX + 1];
    unsigned keepalive_s;
    bool clean;
    unsigned retry_ms;  /* Tretry */
    unsigned nretry;    /* Nretry: retransmissions after the first send */
    unsigned timeout_s; /* -W: overall deadline, 0 = none */
    int debug;          /* -d: dump every packet to stderr */
    struct sn_tool_will will;
    bool encap; /* wrap every message in an Encapsulated Message (§5.5) */
    uint8_t node_id[SN_TOOL_NODE_ID_MAX];
    size_t node_id_len;
};

struct sn_tool;

/* Called for every received message that is not the answer an exchange is
 * waiting for (a gateway REGISTER, a PUBLISH, a PUBACK that rejects a QoS 0
 * publish...). Return 0 to go on, or a negative code (with t->err set) to end
 * the exchange in progress with that code. */
typedef int sn_tool_msg_cb(struct sn_tool *t, const struct sn_msg *m, void *arg);

/* The client endpoint. Initialise with sn_tool_init, open with sn_tool_open. */
struct sn_tool {
    struct sn_tool_cfg cfg;
    int fd;
    uint16_t next_msg_id;
    uint64_t deadline_ms; /* from -W, CLOCK_MONOTONIC; 0 = none */
    uint64_t last_tx_ms;  /* for keep-alive PINGREQs */
    bool saw_unreachable; /* an ICMP port unreachable came back */
    const char *prog;
    sn_tool_msg_cb *on_other;
    void *on_other_arg;
    char err[256];
    uint8_t rbuf[SN_MAX_LEN + 1];
    uint8_t sbuf[SN_MAX_LEN + SN_TOOL_NODE_ID_MAX + 8];
};

/* Monotonic milliseconds. */
uint64_t sn_tool_now_ms(void);

/* Defaults: host 127.0.0.1, port SN_TOOL_DEFAULT_PORT, client id
 * "<prefix>-<pid>", keep-alive 60 s, clean session, Tretry / Nretry defaults. */
void sn_tool_init(struct sn_tool *t, const char *prog, const char *id_prefix);

/* Resolve cfg.host / cfg.port and open a connected UDP socket (so ICMP errors
 * are seen and only the gateway's datagrams are read). Starts the -W clock. */
int sn_tool_open(struct sn_tool *t);

void sn_tool_close(struct sn_tool *t);

/* Set t->err (printf format) and return rc. */
int sn_tool_fail(struct sn_tool *t, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Map a negative code from these functions to enum sn_tool_exit. */
int sn_tool_exit_code(int rc);

/* Next message id, never 0. */
uint16_t sn_tool_msg_id(struct sn_tool *t);

/* Encode m (encapsulated if cfg.encap), dump it with -d, send it. */
int sn_tool_send(struct sn_tool *t, const struct sn_msg *m);

/* Wait up to timeout_ms (and never past the -W deadline) for one message.
 * Returns 0 with *m filled (views into t->rbuf), GW_E_TIMEOUT, or -errno.
 * Malformed datagrams are reported with -d and skipped. */
int sn_tool_recv(struct sn_tool *t, int timeout_ms, struct sn_msg *m);

/* Decide whether m answers the exchange in progress: return 1 if it does,
 * 0 if not (it then goes to t->on_other), 2 if it moved the exchange on
 * (e.g. answered WILLTOPICREQ) and the wait starts over, or a negative code
 * to fail. */
typedef int sn_tool_match_fn(struct sn_tool *t, const struct sn_msg *m, void *ctx);

/* Send req and wait for the answer match() accepts; on Tretry without it,
 * send again (with DUP set on PUBLISH / SUBSCRIBE / UNSUBSCRIBE), at most
 * cfg.nretry times. what names the exchange in the timeout error. Returns 0
 * (the answer's fields are the match function's to copy), GW_E_TIMEOUT, or
 * another negative code. */
int sn_tool_request(struct sn_tool *t, struct sn_msg *req, sn_tool_match_fn *match, void *ctx,
                    const char *what);

/* CONNECT with cfg's client id, keep-alive, clean flag and will (running the
 * WILLTOPICREQ / WILLMSGREQ exchange, §6.3); GW_E_REFUSED if CONNACK is not
 * accepted. */
int sn_tool_connect(struct sn_tool *t);

/* REGISTER topic (§6.5); *topic_id gets the gateway's id. GW_E_REFUSED with
 * the return code in t->err if REGACK rejects it. */
int sn_tool_register(struct sn_tool *t, const char *topic, uint16_t *topic_id);

/* PUBLISH p and complete its QoS flow (PUBACK, or PUBREC / PUBREL /
 * PUBCOMP, §6.7); p->msg_id is assigned here for QoS 1 and 2. GW_E_REFUSED
 * if the gateway answers with a return code other than accepted. */
int sn_tool_publish(struct sn_tool *t, struct sn_publish *p);

/* DISCONNECT, with a sleep duration if has_duration (§6.14), and wait for the
 * gateway's DISCONNECT. */
int sn_tool_disconnect(struct sn_tool *t, bool has_duration, uint16_t duration_s);

/* PINGREQ (with the client id when with_id: a sleeping client waking up,
 * §6.14) and wait for PINGRESP; messages the gateway sends before it go to
 * t->on_other. */
int sn_tool_ping(struct sn_tool *t, bool with_id);

/* The default on_other behaviour both tools build on: answer a gateway
 * REGISTER with REGACK accepted, PINGREQ with PINGRESP; a DISCONNECT from the
 * gateway is GW_E_CLOSED; a PUBACK with a return code other than accepted (a
 * rejected QoS 0 / -1 publish, §6.7) is GW_E_REFUSED; anything else is
 * ignored (shown by -d). */
int sn_tool_on_other_default(struct sn_tool *t, const struct sn_msg *m);

/* -d: print one line describing m, then its bytes in hex, to stderr. */
void sn_tool_dump(const struct sn_tool *t, const char *dir, const uint8_t *p, size_t n,
                  const struct sn_msg *m);

/* Long-only options both tools take (values above any short option). */
enum sn_tool_opt {
    SN_OPT_HELP = 256,
    SN_OPT_RETRY_MS,
    SN_OPT_RETRIES,
    SN_OPT_WILL_TOPIC,
    SN_OPT_WILL_PAYLOAD,
    SN_OPT_WILL_QOS,
    SN_OPT_WILL_RETAIN,
    SN_OPT_LAST /* a tool's own long-only options start here */
};

/* getopt_long entries of the options sn_tool_parse_option understands. */
#define SN_TOOL_LONG_OPTS                                                                          \
    {"host", required_argument, NULL, 'h'}, {"port", required_argument, NULL, 'p'},                \
            {"id", required_argument, NULL, 'i'}, {"keepalive", required_argument, NULL, 'k'},     \
            {"disable-clean-session", no_argument, NULL, 'c'},                                     \
            {"timeout", required_argument, NULL, 'W'},                                             \
            {"encapsulate", required_argument, NULL, 'e'}, {"debug", no_argument, NULL, 'd'},      \
            {"help", no_argument, NULL, SN_OPT_HELP},                                              \
            {"retry-ms", required_argument, NULL, SN_OPT_RETRY_MS},                                \
            {"retries", required_argument, NULL, SN_OPT_RETRIES},                                  \
            {"will-topic", required_argument, NULL, SN_OPT_WILL_TOPIC},                            \
            {"will-payload", required_argument, NULL, SN_OPT_WILL_PAYLOAD},                        \
            {"will-qos", required_argument, NULL, SN_OPT_WILL_QOS},                                \
    {                                                                                              \
        "will-retain", no_argument, NULL, SN_OPT_WILL_RETAIN                                       \
    }

/* Short option letters of the same: "h:p:i:k:cW:e:d". */
#define SN_TOOL_SHORT_OPTS "h:p:i:k:cW:e:d"

/* Apply one common option (c from getopt_long, arg its optarg) to t->cfg.
 * Returns 0, 1 if c is not a common option, or -EINVAL after printing why. */
int sn_tool_parse_option(struct sn_tool *t, int c, const char *arg);

/* The will options hang together: a topic without wildcards, and no
 * --will-payload / --will-qos / --will-retain without --will-topic. */
int sn_tool_check_will(const char *prog, const struct sn_tool_cfg *cfg);

/* Argument helpers: return 0, or -EINVAL after printing "prog: what ..." to
 * stderr. */
int sn_tool_parse_uint(const char *prog, const char *what, const char *s, unsigned long max,
                       unsigned long *out);
int sn_tool_parse_qos(const char *prog, const char *s, int min, int *out);
int sn_tool_parse_short(const char *prog, const char *s, uint8_t out[2]);
int sn_tool_parse_node_id(const char *prog, const char *s, struct sn_tool_cfg *cfg);
int sn_tool_set_client_id(const char *prog, const char *s, struct sn_tool_cfg *cfg);

/* Read a whole file (path "-" = stdin) into a malloc'ed buffer, at most max
 * bytes. Returns 0 and *out / *len (the caller frees *out), or -errno /
 * GW_E_TOO_LARGE. */
int sn_tool_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

#endif
