/* test_stream_tls.c - gateway/stream's TLS conf checks and a whole TLS-PSK
 * session between a client and a server stream over a socketpair (both
 * non-blocking, driven from one thread): the handshake, the PSK identity,
 * staged writes larger than a record, a write the socket takes in part,
 * close_notify. No files, no network (a socketpair: hence tests/integration). */
#include "alloc.h"
#include "gw_err.h"
#include "loop.h"
#include "stream.h"
#include "stream_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static const uint8_t key1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const struct stream_tls_psk psks[] = {{"dev-b", key1, sizeof(key1)},
                                             {"dev-a", key1, 8}};

static int server_conf(const char *ciphers, const struct stream_tls_psk *p, size_t n,
                       struct stream_tls_conf **out, char *err, size_t cap)
{
    struct stream_tls_cfg c = {.server = true, .psk_hint = "h", .psks = p, .n_psks = n,
                               .ciphers = ciphers};
    return stream_tls_conf_create(&c, out, err, cap);
}

static void test_stream_tls_cipher_names(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        int rc;
        const char *expect;
    } cases[] = {
            {"TLS-PSK-WITH-AES-128-GCM-SHA256", 0, NULL},                       /* mbedTLS */
            {"TLS_PSK_WITH_AES_128_GCM_SHA256:TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", 0, NULL},
            {"PSK-AES128-GCM-SHA256", GW_E_CONFIG, "unknown suite \"PSK-AES128-GCM-SHA256\""},
            {"::", GW_E_CONFIG, "ciphers: the list is empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stream_tls_conf *c = NULL;
        char err[300] = "";
        int rc = server_conf(cases[i].list, psks, 2, &c, err, sizeof(err));
        if (rc != cases[i].rc || (cases[i].expect && !strstr(err, cases[i].expect))) {
            fail_msg("case %zu: rc=%d err=%s", i, rc, err);
        }
        stream_tls_conf_unref(c);
    }
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_stream_tls_conf_errors(void **state)
{
    (void)state;
    char err[300] = "";
    struct stream_tls_conf *c = NULL;
    const struct stream_tls_psk dup[] = {{"x", key1, 4}, {"x", key1, 4}};
    assert_int_equal(server_conf(NULL, dup, 2, &c, err, sizeof(err)), GW_E_CONFIG);
    assert_non_null(strstr(err, "psk identity \"x\" is given twice"));
    const struct stream_tls_psk empty[] = {{"", key1, 4}};
    assert_int_equal(server_conf(NULL, empty, 1, &c, err, sizeof(err)), GW_E_CONFIG);
    struct stream_tls_cfg none = {.server = true};
    assert_int_equal(stream_tls_conf_create(&none, &c, err, sizeof(err)), GW_E_CONFIG);
    assert_non_null(strstr(err, "needs certfile and keyfile (or psk_file)"));
    struct stream_tls_cfg v13 = {.server = true, .psks = psks, .n_psks = 1,
                                 .tls_version = "tlsv1.3"};
    assert_int_equal(stream_tls_conf_create(&v13, &c, err, sizeof(err)), GW_E_CONFIG);
    assert_non_null(strstr(err, "tls_version tlsv1.3: not supported by this mbedTLS"));
    struct stream_tls_cfg nofile = {.server = true, .certfile = "/nonexistent/c.pem",
                                    .keyfile = "/nonexistent/k.pem"};
    assert_int_equal(stream_tls_conf_create(&nofile, &c, err, sizeof(err)), GW_E_CONFIG);
    assert_string_equal(err, "certfile /nonexistent/c.pem: No such file or directory");
    struct stream_tls_cfg req = {.server = true, .psks = psks, .n_psks = 1,
                                 .require_certificate = true};
    assert_int_equal(stream_tls_conf_create(&req, &c, err, sizeof(err)), GW_E_CONFIG);
    assert_non_null(strstr(err, "require_certificate needs cafile or capath"));
    assert_int_equal(gw_alloc_bytes(), 0);
}

struct pair {
    struct stream_tls_conf *sc;
    struct stream_tls_conf *cc;
    struct stream *srv;
    struct stream *cli;
    char srv_why[256]; /* what the server's failing step said (stream_why) */
};

static void pair_open(struct pair *p, const uint8_t *ckey, size_t ckey_len, const char *cid)
{
    char err[300] = "";
    assert_int_equal(server_conf(NULL, psks, 2, &p->sc, err, sizeof(err)), 0);
    struct stream_tls_cfg cc = {.psk_identity = cid, .psk = ckey, .psk_len = ckey_len};
    if (stream_tls_conf_create(&cc, &p->cc, err, sizeof(err)) != 0) {
        fail_msg("client conf: %s", err);
    }
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    p->srv = stream_tls_server_create(p->sc, sv[0]);
    p->cli = stream_tls_client_create(p->cc, sv[1], "dev");
    assert_non_null(p->srv);
    assert_non_null(p->cli);
}

static void pair_close(struct pair *p)
{
    stream_destroy(p->srv);
    stream_destroy(p->cli);
    stream_tls_conf_unref(p->sc);
    stream_tls_conf_unref(p->cc);
}

/* Drive both handshakes; returns the client's result. */
static int pair_handshake(struct pair *p)
{
    uint8_t b[64];
    int crc = -EAGAIN;
    for (int turn = 0; turn < 2000 && crc == -EAGAIN; turn++) {
        crc = stream_tls_handshake(p->cli);
        stream_clear_why();
        ssize_t r = stream_read(p->srv, b, sizeof(b)); /* the server's handshake runs in read */
        if (r < 0) {
            (void)snprintf(p->srv_why, sizeof(p->srv_why), "%s", stream_why());
        }
        (void)stream_flush(p->srv);
        if (r < 0 && crc == -EAGAIN) {
            crc = stream_tls_handshake(p->cli); /* the alert reaches the client */
            return crc == -EAGAIN ? (int)r : crc;
        }
        if (crc == -EAGAIN) {
            usleep(100);
        }
    }
    return crc;
}

static void test_stream_tls_psk_session(void **state)
{
    (void)state;
    struct pair p = {0};
    pair_open(&p, key1, sizeof(key1), "dev-b");
    assert_null(stream_identity(p.srv)); /* nothing verified yet */
    assert_int_equal(pair_handshake(&p), 0);
    uint8_t b[64];
    assert_int_equal(stream_read(p.srv, b, sizeof(b)), 0); /* established, nothing sent */
    assert_string_equal(stream_identity(p.srv), "dev-b");
    assert_true(stream_is_tls(p.srv));
    /* 200 KB from the client: staged in records, some only half sent */
    enum { N = 200000 };
    uint8_t *data = malloc(N);
    uint8_t *got = malloc(N);
    for (size_t i = 0; i < N; i++) {
        data[i] = (uint8_t)(i * 31 + i / 977);
    }
    size_t sent = 0;
    size_t recvd = 0;
    bool saw_partial = false;
    for (int turn = 0; turn < 100000 && recvd < N; turn++) {
        int frc = stream_flush(p.cli);
        assert_true(frc == 0 || frc == -EAGAIN);
        if (sent < N && frc == 0) {
            struct iovec iov[2] = {{data + sent, (N - sent) / 2}, {data + sent + (N - sent) / 2,
                                                                  N - sent - (N - sent) / 2}};
            ssize_t w = stream_writev(p.cli, iov, 2);
            assert_true(w > 0 || w == -EAGAIN);
            if (w > 0) {
                sent += (size_t)w;
                saw_partial = saw_partial || stream_want(p.cli) == LOOP_WRITE;
            }
        }
        ssize_t r = stream_read(p.srv, got + recvd, N - recvd);
        assert_true(r >= 0);
        recvd += (size_t)r;
    }
    assert_int_equal(recvd, N);
    assert_memory_equal(got, data, N);
    assert_true(saw_partial); /* a 4 KiB socket buffer cannot take a 16 KiB record at once */
    stream_shutdown(p.cli, 0);
    ssize_t r = 0;
    for (int turn = 0; turn < 100 && r == 0; turn++) {
        r = stream_read(p.srv, b, sizeof(b));
    }
    assert_int_equal(r, GW_E_CLOSED); /* close_notify */
    free(data);
    free(got);
    pair_close(&p);
    assert_int_equal(gw_alloc_bytes(), 0);
}

static void test_stream_tls_wrong_psk_refused(void **state)
{
    (void)state;
    static const uint8_t wrong[16] = {9};
    struct pair p = {0};
    pair_open(&p, wrong, sizeof(wrong), "dev-b");
    assert_true(pair_handshake(&p) < 0);
    assert_non_null(strstr(p.srv_why, "TLS handshake failed"));
    assert_non_null(strstr(p.srv_why, "wrong PSK for identity \"dev-b\""));
    assert_null(stream_identity(p.srv));
    pair_close(&p);
    pair_open(&p, key1, 8, "nobody");
    assert_true(pair_handshake(&p) < 0);
    assert_non_null(strstr(p.srv_why, "Unknown identity"));
    pair_close(&p);
    assert_int_equal(gw_alloc_bytes(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_stream_tls_cipher_names),
            cmocka_unit_test(test_stream_tls_conf_errors),
            cmocka_unit_test(test_stream_tls_psk_session),
            cmocka_unit_test(test_stream_tls_wrong_psk_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
