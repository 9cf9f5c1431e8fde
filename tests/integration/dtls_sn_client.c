/* dtls_sn_client.c - an MQTT-SN 1.2 client over DTLS 1.2 on mbedTLS, for
 * the integration tests (test_mqttsn_dtls.py). Independent of Tern's code:
 * its own MQTT-SN encoding (MQTT-SN 1.2 section 5) and its own mbedTLS
 * client, so a bug on one side is not mirrored on the other.
 *
 *   tern_dtls_sn_client --port P [--host H] --id CLIENT_ID
 *       (--psk-identity ID --psk HEX | [--cafile CA] [--cert C --key K])
 *       [--sub TOPIC] [--count N] [--pub TOPIC MESSAGE] [--qos 0|1]
 *       [--timeout S] [--hello-out FILE]
 *
 * Prints one line per event: "handshake ok <suite>", "connack <rc>",
 * "suback <rc>", "puback <rc>", "msg <topic> <payload>", "done". Exit 0 on
 * success, 2 when the handshake fails ("handshake failed: <reason>"), 3
 * when a CONNACK refuses, 4 on a timeout or an MQTT-SN refusal.
 * --hello-out writes the first datagram the client sends (its ClientHello,
 * without a cookie) to FILE and exits: the spoofing test replays it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

enum {
    T_CONNECT = 0x04,
    T_CONNACK = 0x05,
    T_REGISTER = 0x0A,
    T_REGACK = 0x0B,
    T_PUBLISH = 0x0C,
    T_PUBACK = 0x0D,
    T_SUBSCRIBE = 0x12,
    T_SUBACK = 0x13,
    T_PINGREQ = 0x16,
    T_PINGRESP = 0x17,
    T_DISCONNECT = 0x18,
};

struct opts {
    const char *host;
    const char *port;
    const char *id;
    const char *psk_identity;
    const char *psk_hex;
    const char *cafile;
    const char *cert;
    const char *key;
    const char *sub;
    const char *pub_topic;
    const char *pub_msg;
    const char *hello_out;
    const char *node; /* hex wireless node id: wrap every message (section 5.5) */
    int local_port;   /* bind the source port (0: any) */
    bool abrupt;      /* leave without DISCONNECT and close_notify */
    bool stall;       /* stop the handshake once the server's flight came: exit */
    bool wake;        /* no CONNECT: PINGREQ with the client id, take what was kept (6.14) */
    int sleep_s;      /* end with DISCONNECT(duration): asleep, then leave abruptly */
    int count;
    int qos;
    int timeout_s;
};

struct client {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_timing_delay_context timer;
    const char *hello_out;
    uint8_t node[8]; /* --node: speak as a forwarder for this wireless node id */
    size_t node_len;
    time_t deadline;
    uint16_t msg_id;

    struct {
        uint16_t id;
        char name[128];
    } topics[32];

    int n_topics;
};

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(code);
}

static void mbed_die(int code, const char *what, int rc)
{
    char msg[200];
    mbedtls_strerror(rc, msg, sizeof(msg));
    die(code, "%s: %s (-0x%04x)", what, msg, (unsigned)-rc);
}

/* ---- the transport: one datagram per MQTT-SN message ---- */

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    struct client *c = ctx;
    if (c->hello_out) {
        FILE *f = fopen(c->hello_out, "wb");
        if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
            die(4, "cannot write %s", c->hello_out);
        }
        die(0, "hello written (%zu bytes)", n);
    }
    return mbedtls_net_send(&c->net, p, n);
}

static int bio_recv_timeout(void *ctx, unsigned char *p, size_t n, uint32_t ms)
{
    struct client *c = ctx;
    return mbedtls_net_recv_timeout(&c->net, p, n, ms);
}

static void send_msg(struct client *c, uint8_t type, const uint8_t *body, size_t n)
{
    uint8_t buf[600];
    if (n + 2 > 255) {
        die(4, "message too long for this client");
    }
    size_t h = 0;
    if (c->node_len > 0) {
        /* MQTT-SN 1.2 section 5.5: Length, 0xFE, Ctrl (radius 0), node id */
        buf[0] = (uint8_t)(3 + c->node_len);
        buf[1] = 0xFE;
        buf[2] = 0;
        memcpy(buf + 3, c->node, c->node_len);
        h = 3 + c->node_len;
    }
    buf[h] = (uint8_t)(n + 2); /* MQTT-SN 1.2 section 5.2.1: one length octet */
    buf[h + 1] = type;
    if (n > 0) {
        memcpy(buf + h + 2, body, n);
    }
    int rc = mbedtls_ssl_write(&c->ssl, buf, h + n + 2);
    if (rc < 0) {
        mbed_die(4, "write", rc);
    }
}

/* One MQTT-SN message into buf; returns its length, or 0 at the deadline. */
static size_t recv_msg(struct client *c, uint8_t *buf, size_t cap)
{
    for (;;) {
        if (time(NULL) >= c->deadline) {
            return 0;
        }
        int rc = mbedtls_ssl_read(&c->ssl, buf, cap);
        if (rc > 0 && c->node_len > 0) {
            /* answers come back wrapped for our node id */
            if (rc < 3 || buf[1] != 0xFE || buf[0] != 3 + c->node_len ||
                memcmp(buf + 3, c->node, c->node_len) != 0 || rc <= buf[0]) {
                die(4, "expected an Encapsulated Message for our node (%d bytes)", rc);
            }
            size_t h = buf[0];
            memmove(buf, buf + h, (size_t)rc - h);
            rc -= (int)h;
        }
        if (rc > 0) {
            if (rc < 2 || buf[0] != rc) {
                die(4, "malformed MQTT-SN message (%d bytes)", rc);
            }
            return (size_t)rc;
        }
        if (rc == MBEDTLS_ERR_SSL_TIMEOUT || rc == MBEDTLS_ERR_SSL_WANT_READ) {
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == 0) {
            die(4, "closed by the gateway");
        }
        mbed_die(4, "read", rc);
    }
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static const char *topic_of(const struct client *c, uint16_t id)
{
    for (int i = 0; i < c->n_topics; i++) {
        if (c->topics[i].id == id) {
            return c->topics[i].name;
        }
    }
    return "?";
}

static void add_topic(struct client *c, uint16_t id, const char *name, size_t n)
{
    if (c->n_topics < 32) {
        c->topics[c->n_topics].id = id;
        (void)snprintf(c->topics[c->n_topics].name, sizeof(c->topics[0].name), "%.*s", (int)n,
                       name);
        c->n_topics++;
    }
}

/* Handle what the gateway sends unasked (REGISTER, PUBLISH); returns true
 * if m was one of those. *got counts PUBLISHes. */
static bool on_unasked(struct client *c, const uint8_t *m, size_t n, int *got)
{
    if (m[1] == T_REGISTER && n >= 6) {
        add_topic(c, get16(m + 2), (const char *)m + 6, n - 6);
        uint8_t ack[5];
        memcpy(ack, m + 2, 4);
        ack[4] = 0;
        send_msg(c, T_REGACK, ack, sizeof(ack));
        return true;
    }
    if (m[1] == T_PUBLISH && n >= 7) {
        uint16_t tid = get16(m + 3);
        printf("msg %s %.*s\n", topic_of(c, tid), (int)(n - 7), (const char *)m + 7);
        fflush(stdout);
        if ((m[2] & 0x60) == 0x20) {
            uint8_t ack[5];
            memcpy(ack, m + 3, 4);
            ack[4] = 0;
            send_msg(c, T_PUBACK, ack, sizeof(ack));
        }
        (*got)++;
        return true;
    }
    return false;
}

/* Wait for a message of type want (others handled); returns its length. */
static size_t expect(struct client *c, uint8_t want, uint8_t *buf, size_t cap, int *got)
{
    for (;;) {
        size_t n = recv_msg(c, buf, cap);
        if (n == 0) {
            die(4, "timeout waiting for message type 0x%02x", want);
        }
        if (buf[1] == want) {
            return n;
        }
        (void)on_unasked(c, buf, n, got);
    }
}

/* ---- DTLS ---- */

static void setup_tls(struct client *c, const struct opts *o)
{
    static const char pers[] = "tern-dtls-test";
    int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                   (const unsigned char *)pers, sizeof(pers) - 1);
    if (rc == 0) {
        rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    }
    if (rc != 0) {
        mbed_die(4, "setup", rc);
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_read_timeout(&c->conf, 500);
    mbedtls_ssl_conf_handshake_timeout(&c->conf, 500, 4000);
    if (o->psk_identity) {
        uint8_t key[64];
        size_t n = strlen(o->psk_hex) / 2;
        for (size_t i = 0; i < n && i < sizeof(key); i++) {
            unsigned v;
            if (sscanf(o->psk_hex + 2 * i, "%2x", &v) != 1) {
                die(4, "bad --psk hex");
            }
            key[i] = (uint8_t)v;
        }
        rc = mbedtls_ssl_conf_psk(&c->conf, key, n > sizeof(key) ? sizeof(key) : n,
                                  (const unsigned char *)o->psk_identity, strlen(o->psk_identity));
        if (rc != 0) {
            mbed_die(4, "psk", rc);
        }
    }
    mbedtls_ssl_conf_authmode(&c->conf,
                              o->cafile ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
    if (o->cafile) {
        if ((rc = mbedtls_x509_crt_parse_file(&c->ca, o->cafile)) != 0) {
            mbed_die(4, "cafile", rc);
        }
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    }
    if (o->cert) {
        if ((rc = mbedtls_x509_crt_parse_file(&c->cert, o->cert)) != 0 ||
            (rc = mbedtls_pk_parse_keyfile(&c->key, o->key, NULL)) != 0 ||
            (rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0) {
            mbed_die(4, "cert/key", rc);
        }
    }
    if ((rc = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0) {
        mbed_die(4, "ssl_setup", rc);
    }
    if (o->cafile && (rc = mbedtls_ssl_set_hostname(&c->ssl, "localhost")) != 0) {
        mbed_die(4, "hostname", rc);
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, NULL, bio_recv_timeout);
    mbedtls_ssl_set_timer_cb(&c->ssl, &c->timer, mbedtls_timing_set_delay,
                             mbedtls_timing_get_delay);
}

#if MBEDTLS_VERSION_MAJOR >= 3
#define SSL_STATE(ssl) ((ssl)->MBEDTLS_PRIVATE(state))
#else
#define SSL_STATE(ssl) ((ssl)->state)
#endif

/* Run the handshake until the server's whole first flight (through
 * ServerHelloDone) came, then leave: the gateway holds a handshake that
 * never finishes. */
static void stall(struct client *c)
{
    int rc;
    do {
        rc = mbedtls_ssl_handshake_step(&c->ssl);
    } while ((rc == 0 || rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) &&
             SSL_STATE(&c->ssl) < MBEDTLS_SSL_CLIENT_CERTIFICATE && time(NULL) < c->deadline);
    if (SSL_STATE(&c->ssl) < MBEDTLS_SSL_CLIENT_CERTIFICATE) {
        mbed_die(2, "handshake failed before the stall", rc);
    }
    die(0, "stalled");
}

static void handshake(struct client *c)
{
    int rc;
    do {
        rc = mbedtls_ssl_handshake(&c->ssl);
    } while (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
    if (rc != 0) {
        mbed_die(2, "handshake failed", rc);
    }
    printf("handshake ok %s\n", mbedtls_ssl_get_ciphersuite(&c->ssl));
    fflush(stdout);
}

/* ---- MQTT-SN ---- */

static void connect_sn(struct client *c, const char *id)
{
    uint8_t b[200];
    size_t n = strlen(id);
    if (n > 23 + 100) {
        die(4, "client id too long");
    }
    b[0] = 0x04; /* clean session (section 5.3.4) */
    b[1] = 0x01; /* protocol id */
    put16(b + 2, 60);
    memcpy(b + 4, id, n);
    send_msg(c, T_CONNECT, b, n + 4);
    uint8_t m[600];
    int got = 0;
    (void)expect(c, T_CONNACK, m, sizeof(m), &got);
    printf("connack %u\n", m[2]);
    fflush(stdout);
    if (m[2] != 0) {
        die(3, "connect refused");
    }
}

static void subscribe(struct client *c, const char *topic, int qos)
{
    uint8_t b[200];
    size_t n = strlen(topic);
    b[0] = (uint8_t)(qos << 5); /* topic name (type 0) */
    put16(b + 1, ++c->msg_id);
    memcpy(b + 3, topic, n);
    send_msg(c, T_SUBSCRIBE, b, n + 3);
    uint8_t m[600];
    int got = 0;
    size_t k = expect(c, T_SUBACK, m, sizeof(m), &got);
    if (k < 8) {
        die(4, "short SUBACK");
    }
    printf("suback %u\n", m[7]);
    fflush(stdout);
    if (m[7] != 0) {
        die(4, "subscribe refused");
    }
    if (get16(m + 3)) {
        add_topic(c, get16(m + 3), topic, n);
    }
}

static void publish(struct client *c, const char *topic, const char *msg, int qos)
{
    uint8_t b[300];
    size_t n = strlen(topic);
    put16(b, 0);
    put16(b + 2, ++c->msg_id);
    memcpy(b + 4, topic, n);
    send_msg(c, T_REGISTER, b, n + 4);
    uint8_t m[600];
    int got = 0;
    (void)expect(c, T_REGACK, m, sizeof(m), &got);
    if (m[6] != 0) {
        die(4, "register refused rc=%u", m[6]);
    }
    uint16_t tid = get16(m + 2);
    size_t ml = strlen(msg);
    b[0] = (uint8_t)(qos << 5);
    put16(b + 1, tid);
    put16(b + 3, qos ? ++c->msg_id : 0);
    memcpy(b + 5, msg, ml);
    send_msg(c, T_PUBLISH, b, ml + 5);
    if (qos) {
        (void)expect(c, T_PUBACK, m, sizeof(m), &got);
        printf("puback %u\n", m[6]);
        fflush(stdout);
        if (m[6] != 0) {
            die(4, "publish refused");
        }
    }
}

/* A UDP socket connected to the gateway, from local_port when given (the
 * tests reuse an address and port for another device). */
static void open_socket(struct client *c, const struct opts *o)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(o->port))};
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->local_port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    if (fd < 0 || inet_pton(AF_INET, o->host, &to.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
        die(4, "socket to %s:%s: %s", o->host, o->port, strerror(errno));
    }
    c->net.fd = fd;
}

/* MQTT-SN 1.2 section 6.14: an asleep client's PINGREQ with its id makes
 * the gateway send what it kept, then PINGRESP. */
static void wake(struct client *c, const char *id)
{
    send_msg(c, T_PINGREQ, (const uint8_t *)id, strlen(id));
    uint8_t m[600];
    int got = 0;
    (void)expect(c, T_PINGRESP, m, sizeof(m), &got);
    printf("pingresp after %d messages\n", got);
    fflush(stdout);
}

/* DISCONNECT with a duration (section 6.14): asleep once acknowledged. */
static void go_to_sleep(struct client *c, int sleep_s)
{
    uint8_t b[2];
    put16(b, (uint16_t)sleep_s);
    send_msg(c, T_DISCONNECT, b, sizeof(b));
    uint8_t m[600];
    int got = 0;
    (void)expect(c, T_DISCONNECT, m, sizeof(m), &got);
    printf("asleep\n");
    fflush(stdout);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.host = "127.0.0.1", .id = "dtls-test", .count = 1, .timeout_s = 10};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(a, "--host") == 0           ? &o->host
                            : strcmp(a, "--port") == 0         ? &o->port
                            : strcmp(a, "--id") == 0           ? &o->id
                            : strcmp(a, "--psk-identity") == 0 ? &o->psk_identity
                            : strcmp(a, "--psk") == 0          ? &o->psk_hex
                            : strcmp(a, "--cafile") == 0       ? &o->cafile
                            : strcmp(a, "--cert") == 0         ? &o->cert
                            : strcmp(a, "--key") == 0          ? &o->key
                            : strcmp(a, "--sub") == 0          ? &o->sub
                            : strcmp(a, "--hello-out") == 0    ? &o->hello_out
                            : strcmp(a, "--node") == 0         ? &o->node
                                                               : NULL;
        if (!v && strcmp(a, "--abrupt") != 0 && strcmp(a, "--stall") != 0 &&
            strcmp(a, "--wake") != 0) {
            die(4, "%s needs a value", a);
        }
        if (slot) {
            *slot = v;
            i++;
        } else if (strcmp(a, "--pub") == 0 && i + 2 < argc) {
            o->pub_topic = argv[++i];
            o->pub_msg = argv[++i];
        } else if (strcmp(a, "--abrupt") == 0) {
            o->abrupt = true;
        } else if (strcmp(a, "--stall") == 0) {
            o->stall = true;
        } else if (strcmp(a, "--wake") == 0) {
            o->wake = true;
        } else if (strcmp(a, "--sleep") == 0) {
            o->sleep_s = atoi(v);
            i++;
        } else if (strcmp(a, "--local-port") == 0) {
            o->local_port = atoi(v);
            i++;
        } else if (strcmp(a, "--count") == 0) {
            o->count = atoi(v);
            i++;
        } else if (strcmp(a, "--qos") == 0) {
            o->qos = atoi(v);
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout_s = atoi(v);
            i++;
        } else {
            die(4, "unknown option %s", a);
        }
    }
    if (!o->port || (o->psk_identity && !o->psk_hex) || (!o->cert != !o->key)) {
        die(4, "usage: see the comment at the top of dtls_sn_client.c");
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o);
    static struct client c;
    mbedtls_net_init(&c.net);
    mbedtls_ssl_init(&c.ssl);
    mbedtls_ssl_config_init(&c.conf);
    mbedtls_entropy_init(&c.entropy);
    mbedtls_ctr_drbg_init(&c.drbg);
    mbedtls_x509_crt_init(&c.ca);
    mbedtls_x509_crt_init(&c.cert);
    mbedtls_pk_init(&c.key);
    c.hello_out = o.hello_out;
    for (size_t i = 0; o.node && o.node[2 * i] && o.node[2 * i + 1] && i < sizeof(c.node); i++) {
        unsigned v;
        if (sscanf(o.node + 2 * i, "%2x", &v) != 1) {
            die(4, "bad --node hex");
        }
        c.node[c.node_len++] = (uint8_t)v;
    }
    c.deadline = time(NULL) + o.timeout_s;
    open_socket(&c, &o);
    setup_tls(&c, &o);
    if (o.stall) {
        stall(&c);
    }
    handshake(&c);
    if (o.wake) {
        wake(&c, o.id);
        printf("done\n");
        return 0; /* back asleep: no DISCONNECT, no close_notify */
    }
    connect_sn(&c, o.id);
    if (o.sub) {
        subscribe(&c, o.sub, o.qos);
        printf("subscribed\n");
        fflush(stdout);
    }
    if (o.pub_topic) {
        publish(&c, o.pub_topic, o.pub_msg, o.qos);
    }
    if (o.sub) {
        int got = 0;
        uint8_t m[600];
        while (got < o.count) {
            size_t n = recv_msg(&c, m, sizeof(m));
            if (n == 0) {
                die(4, "timeout: %d of %d messages", got, o.count);
            }
            (void)on_unasked(&c, m, n, &got);
        }
    }
    if (o.sleep_s > 0) {
        go_to_sleep(&c, o.sleep_s);
    } else if (!o.abrupt) {
        send_msg(&c, T_DISCONNECT, NULL, 0);
        (void)mbedtls_ssl_close_notify(&c.ssl);
    }
    printf("done\n");
    mbedtls_ssl_free(&c.ssl);
    mbedtls_ssl_config_free(&c.conf);
    mbedtls_x509_crt_free(&c.ca);
    mbedtls_x509_crt_free(&c.cert);
    mbedtls_pk_free(&c.key);
    mbedtls_ctr_drbg_free(&c.drbg);
    mbedtls_entropy_free(&c.entropy);
    mbedtls_net_free(&c.net);
    return 0;
}
