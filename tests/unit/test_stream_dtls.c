/* test_stream_dtls.c - DTLS server sessions (gateway/stream/stream_dtls.c)
 * against an mbedTLS DTLS client, datagrams passed in memory: no sockets.
 * The cookie exchange keeps nothing, a PSK handshake gives the identity
 * and carries records both ways, a wrong key or an unknown identity fails
 * with its reason, non-ClientHellos are dropped unseen. */
#include "alloc.h"
#include "gw_err.h"
#include "stream_dtls.h"
#include "stream_tls.h"

#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>

#define QCAP 16

/* A queue of datagrams, one direction. */
struct dq {
    uint8_t d[QCAP][2048];
    size_t n[QCAP];
    int head;
    int len;
};

static void dq_push(struct dq *q, const uint8_t *p, size_t n)
{
    assert_true(q->len < QCAP);
    assert_true(n <= sizeof(q->d[0]));
    int i = (q->head + q->len) % QCAP;
    memcpy(q->d[i], p, n);
    q->n[i] = n;
    q->len++;
}

static size_t dq_pop(struct dq *q, uint8_t *p, size_t cap)
{
    if (q->len == 0) {
        return 0;
    }
    size_t n = q->n[q->head] < cap ? q->n[q->head] : cap;
    memcpy(p, q->d[q->head], n);
    q->head = (q->head + 1) % QCAP;
    q->len--;
    return n;
}

struct world {
    struct dq to_client;
    struct dq to_server;
    struct stream_tls_conf *conf;
    struct stream_dtls *srv;
    struct stream_dtls_sess *sess;
    uint8_t last_addr[STREAM_DTLS_ADDR_MAX];
    size_t last_addr_len;
    /* the client */
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config cconf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_timing_delay_context timer;
};

static const uint8_t key1[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t key2[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t addr_a[] = {10, 0, 0, 1, 0x12, 0x34};

static int srv_send(void *arg, const uint8_t *addr, size_t addr_len, const uint8_t *p, size_t n)
{
    struct world *w = arg;
    memcpy(w->last_addr, addr, addr_len);
    w->last_addr_len = addr_len;
    dq_push(&w->to_client, p, n);
    return 0;
}

static int cli_send(void *ctx, const unsigned char *p, size_t n)
{
    struct world *w = ctx;
    dq_push(&w->to_server, p, n);
    return (int)n;
}

static int cli_recv(void *ctx, unsigned char *p, size_t n)
{
    struct world *w = ctx;
    size_t k = dq_pop(&w->to_client, p, n);
    return k ? (int)k : MBEDTLS_ERR_SSL_WANT_READ;
}

static void client_setup(struct world *w, const char *identity, const uint8_t *key)
{
    mbedtls_ssl_init(&w->ssl);
    mbedtls_ssl_config_init(&w->cconf);
    mbedtls_entropy_init(&w->entropy);
    mbedtls_ctr_drbg_init(&w->drbg);
    assert_int_equal(mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &w->entropy, NULL, 0),
                     0);
    assert_int_equal(mbedtls_ssl_config_defaults(&w->cconf, MBEDTLS_SSL_IS_CLIENT,
                                                 MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT),
                     0);
    mbedtls_ssl_conf_rng(&w->cconf, mbedtls_ctr_drbg_random, &w->drbg);
    /* No retransmission during a test: the exchange is lossless. */
    mbedtls_ssl_conf_handshake_timeout(&w->cconf, 60000, 60000);
    assert_int_equal(mbedtls_ssl_conf_psk(&w->cconf, key, 16, (const unsigned char *)identity,
                                          strlen(identity)),
                     0);
    assert_int_equal(mbedtls_ssl_setup(&w->ssl, &w->cconf), 0);
    mbedtls_ssl_set_bio(&w->ssl, w, cli_send, cli_recv, NULL);
    mbedtls_ssl_set_timer_cb(&w->ssl, &w->timer, mbedtls_timing_set_delay,
                             mbedtls_timing_get_delay);
}

static int setup(void **state)
{
    static struct world w;
    memset(&w, 0, sizeof(w));
    struct stream_tls_psk psks[] = {{"dev1", key1, sizeof(key1)}, {"dev2", key2, sizeof(key2)}};
    struct stream_tls_cfg cfg = {
            .server = true, .datagram = true, .psk_hint = "t", .psks = psks, .n_psks = 2};
    char err[200];
    assert_int_equal(stream_tls_conf_create(&cfg, &w.conf, err, sizeof(err)), 0);
    assert_int_equal(stream_dtls_create(w.conf, srv_send, &w, &w.srv), 0);
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    stream_dtls_sess_destroy(w->sess);
    stream_dtls_destroy(w->srv);
    stream_tls_conf_unref(w->conf);
    mbedtls_ssl_free(&w->ssl);
    mbedtls_ssl_config_free(&w->cconf);
    mbedtls_ctr_drbg_free(&w->drbg);
    mbedtls_entropy_free(&w->entropy);
    assert_int_equal(gw_alloc_bytes(), 0);
    return 0;
}

/* Deliver every datagram for the server; returns the last read result. */
static ssize_t server_step(struct world *w, uint8_t *out, size_t cap)
{
    uint8_t d[2048];
    size_t n;
    ssize_t r = 0;
    while ((n = dq_pop(&w->to_server, d, sizeof(d))) > 0) {
        if (!w->sess) {
            char why[200];
            (void)stream_dtls_accept(w->srv, addr_a, sizeof(addr_a), d, n, &w->sess, why,
                                     sizeof(why));
            continue;
        }
        stream_dtls_sess_feed(w->sess, d, n);
        while ((r = stream_dtls_sess_read(w->sess, out, cap)) > 0) {
            return r;
        }
        if (r < 0) {
            return r;
        }
    }
    return r;
}

/* Run both sides until the client's handshake ends; returns its result
 * and leaves the server's last read result in *srv_rc. */
static int run_handshake(struct world *w, ssize_t *srv_rc)
{
    uint8_t out[256];
    int rc = MBEDTLS_ERR_SSL_WANT_READ;
    *srv_rc = 0;
    for (int i = 0; i < 20 && (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
         i++) {
        rc = mbedtls_ssl_handshake(&w->ssl);
        if (rc == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
            rc = MBEDTLS_ERR_SSL_WANT_READ;
        }
        ssize_t r = server_step(w, out, sizeof(out));
        if (r < 0) {
            *srv_rc = r;
        }
    }
    (void)server_step(w, out, sizeof(out)); /* the client's last flight */
    return rc;
}

static void test_dtls_client_hello_without_cookie_keeps_nothing(void **state)
{
    struct world *w = *state;
    client_setup(w, "dev1", key1);
    assert_int_equal(mbedtls_ssl_handshake(&w->ssl), MBEDTLS_ERR_SSL_WANT_READ);
    uint8_t hello[2048];
    size_t n = dq_pop(&w->to_server, hello, sizeof(hello));
    assert_true(n > 25);
    size_t before = gw_alloc_bytes();
    struct mallinfo2 mi0 = mallinfo2();
    for (int i = 0; i < 200; i++) {
        uint8_t addr[6] = {10, 1, (uint8_t)(i >> 8), (uint8_t)i, 0x40, 0x00};
        struct stream_dtls_sess *s = NULL;
        char why[200];
        assert_int_equal(
                stream_dtls_accept(w->srv, addr, sizeof(addr), hello, n, &s, why, sizeof(why)),
                STREAM_DTLS_COOKIE_SENT);
        assert_null(s);
        uint8_t r[2048];
        size_t k = dq_pop(&w->to_client, r, sizeof(r));
        /* RFC 6347 4.2.1: one HelloVerifyRequest, smaller than the hello */
        assert_true(k > 25 && k < n);
        assert_int_equal(r[0], 22);
        assert_int_equal(r[13], 3);
        assert_int_equal(w->to_client.len, 0);
        assert_memory_equal(w->last_addr, addr, sizeof(addr));
    }
    assert_int_equal(stream_dtls_cookies_sent(w->srv), 200);
    assert_int_equal(gw_alloc_bytes(), before);
    struct mallinfo2 mi1 = mallinfo2();
    /* mbedTLS's own heap (the spare's handshake state) does not grow per
     * sender (ASan's allocator reports zeros, which passes too). */
    assert_true(mi1.uordblks <= mi0.uordblks + 4096);
}

static void test_dtls_psk_handshake_gives_identity_and_carries_records(void **state)
{
    struct world *w = *state;
    client_setup(w, "dev2", key2);
    ssize_t srv_rc;
    assert_int_equal(run_handshake(w, &srv_rc), 0);
    assert_int_equal(srv_rc, 0);
    assert_non_null(w->sess);
    assert_true(stream_dtls_sess_established(w->sess));
    assert_string_equal(stream_dtls_sess_identity(w->sess), "dev2");
    assert_int_equal(stream_dtls_sess_deadline_ms(w->sess), 0);
    assert_int_equal(stream_dtls_cookies_sent(w->srv), 1);
    /* client -> server */
    assert_int_equal(mbedtls_ssl_write(&w->ssl, (const unsigned char *)"\x02\x16", 2), 2);
    uint8_t out[256];
    assert_int_equal(server_step(w, out, sizeof(out)), 2);
    assert_memory_equal(out, "\x02\x16", 2);
    /* server -> client */
    assert_int_equal(stream_dtls_sess_write(w->sess, (const uint8_t *)"\x02\x17", 2), 0);
    unsigned char in[64];
    assert_int_equal(mbedtls_ssl_read(&w->ssl, in, sizeof(in)), 2);
    assert_memory_equal(in, "\x02\x17", 2);
    /* close_notify ends the session */
    assert_int_equal(mbedtls_ssl_close_notify(&w->ssl), 0);
    assert_int_equal(server_step(w, out, sizeof(out)), GW_E_CLOSED);
}

/* SIGHUP replaces a listener's server: sessions it handed out go on with
 * the old one (and its cookie key), which is freed with the last of them. */
static void test_dtls_session_outlives_its_released_server(void **state)
{
    struct world *w = *state;
    client_setup(w, "dev1", key1);
    ssize_t srv_rc;
    assert_int_equal(run_handshake(w, &srv_rc), 0);
    assert_non_null(w->sess);
    stream_dtls_destroy(w->srv);
    w->srv = NULL;
    assert_int_equal(mbedtls_ssl_write(&w->ssl, (const unsigned char *)"\x02\x16", 2), 2);
    uint8_t out[64];
    assert_int_equal(server_step(w, out, sizeof(out)), 2);
    assert_int_equal(stream_dtls_sess_write(w->sess, (const uint8_t *)"\x02\x17", 2), 0);
    unsigned char in[64];
    assert_int_equal(mbedtls_ssl_read(&w->ssl, in, sizeof(in)), 2);
    stream_dtls_sess_close_notify(w->sess);
    stream_dtls_sess_destroy(w->sess);
    w->sess = NULL;
}

static void test_dtls_wrong_psk_fails_naming_the_identity(void **state)
{
    struct world *w = *state;
    client_setup(w, "dev1", key2);
    ssize_t srv_rc;
    assert_int_not_equal(run_handshake(w, &srv_rc), 0);
    assert_int_equal(srv_rc, -EPROTO);
    assert_non_null(strstr(stream_dtls_sess_why(w->sess), "wrong PSK for identity \"dev1\""));
    assert_false(stream_dtls_sess_established(w->sess));
    assert_int_equal(stream_dtls_sess_write(w->sess, (const uint8_t *)"x", 1), -ENOTCONN);
}

static void test_dtls_unknown_identity_fails(void **state)
{
    struct world *w = *state;
    client_setup(w, "ghost\x01", key1);
    ssize_t srv_rc;
    assert_int_not_equal(run_handshake(w, &srv_rc), 0);
    assert_int_equal(srv_rc, -EPROTO);
    /* the control character is not printed as such */
    assert_non_null(strstr(stream_dtls_sess_why(w->sess), "unknown PSK identity \"ghost?\""));
}

static void test_dtls_not_a_client_hello_is_dropped_silently(void **state)
{
    struct world *w = *state;
    static const uint8_t junk[][32] = {
            {0x02, 0x01, 0x00},                                     /* MQTT-SN SEARCHGW */
            {23, 254, 253, 0, 1, 0, 0, 0, 0, 0, 1, 0, 10, 1, 2, 3}, /* app data, epoch 1 */
            {22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 2},       /* a ServerHello */
            {22, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 1},           /* TLS, not DTLS */
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct stream_dtls_sess *s = NULL;
        char why[200] = "x";
        assert_int_equal(stream_dtls_accept(w->srv, addr_a, sizeof(addr_a), junk[i],
                                            sizeof(junk[i]), &s, why, sizeof(why)),
                         STREAM_DTLS_DROPPED);
        assert_null(s);
        assert_string_equal(why, "");
        assert_int_equal(w->to_client.len, 0);
    }
    /* no address, or one too long */
    struct stream_dtls_sess *s = NULL;
    char why[200];
    uint8_t big[STREAM_DTLS_ADDR_MAX + 1] = {0};
    assert_int_equal(stream_dtls_accept(w->srv, big, sizeof(big), junk[0], 3, &s, why, sizeof(why)),
                     STREAM_DTLS_DROPPED);
}

static void test_dtls_new_session_has_a_retransmission_deadline(void **state)
{
    struct world *w = *state;
    client_setup(w, "dev1", key1);
    uint8_t out[64];
    (void)mbedtls_ssl_handshake(&w->ssl);   /* ClientHello */
    (void)server_step(w, out, sizeof(out)); /* HelloVerifyRequest */
    (void)mbedtls_ssl_handshake(&w->ssl);   /* ClientHello with the cookie */
    (void)server_step(w, out, sizeof(out)); /* the session: the server's flight */
    assert_non_null(w->sess);
    assert_false(stream_dtls_sess_established(w->sess));
    assert_true(stream_dtls_sess_deadline_ms(w->sess) > 0);
    /* Before the deadline the timer call retransmits nothing. */
    int before = w->to_client.len;
    assert_int_equal(stream_dtls_sess_on_timer(w->sess), 0);
    assert_int_equal(w->to_client.len, before);
}

static void test_dtls_hello_cookie_len_reads_within_bounds(void **state)
{
    struct world *w = *state;
    client_setup(w, "dev1", key1);
    (void)mbedtls_ssl_handshake(&w->ssl);
    uint8_t hello[2048];
    size_t n = dq_pop(&w->to_server, hello, sizeof(hello));
    assert_int_equal(stream_dtls_hello_cookie_len(hello, n), 0);
    /* every strict prefix that ends before the cookie length: -1 */
    size_t at = 13 + 12 + 2 + 32 + 1 + hello[13 + 12 + 2 + 32];
    for (size_t k = 0; k <= at; k++) {
        assert_int_equal(stream_dtls_hello_cookie_len(hello, k), -1);
    }
    assert_int_equal(stream_dtls_hello_cookie_len(hello, at + 1), 0);
    /* the second ClientHello carries the cookie of the HelloVerifyRequest */
    char why[200];
    struct stream_dtls_sess *s = NULL;
    assert_int_equal(
            stream_dtls_accept(w->srv, addr_a, sizeof(addr_a), hello, n, &s, why, sizeof(why)),
            STREAM_DTLS_COOKIE_SENT);
    (void)mbedtls_ssl_handshake(&w->ssl);
    n = dq_pop(&w->to_server, hello, sizeof(hello));
    assert_true(stream_dtls_hello_cookie_len(hello, n) > 0);
    /* a session id over 32 bytes is no ClientHello */
    hello[13 + 12 + 2 + 32] = 33;
    assert_int_equal(stream_dtls_hello_cookie_len(hello, n), -1);
    static const uint8_t not_hello[40] = {23, 254, 253};
    assert_int_equal(stream_dtls_hello_cookie_len(not_hello, sizeof(not_hello)), -1);
}

static void test_dtls_conf_must_be_a_datagram_server(void **state)
{
    (void)state;
    struct stream_tls_psk psk = {"a", key1, sizeof(key1)};
    struct stream_tls_cfg cfg = {.server = true, .psk_hint = "t", .psks = &psk, .n_psks = 1};
    struct stream_tls_conf *c = NULL;
    char err[200];
    assert_int_equal(stream_tls_conf_create(&cfg, &c, err, sizeof(err)), 0);
    struct stream_dtls *d = NULL;
    assert_int_equal(stream_dtls_create(c, srv_send, NULL, &d), -EINVAL);
    assert_null(d);
    stream_tls_conf_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_dtls_client_hello_without_cookie_keeps_nothing,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_dtls_psk_handshake_gives_identity_and_carries_records, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dtls_session_outlives_its_released_server, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_dtls_wrong_psk_fails_naming_the_identity, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_dtls_unknown_identity_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dtls_not_a_client_hello_is_dropped_silently, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_dtls_new_session_has_a_retransmission_deadline,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_dtls_hello_cookie_len_reads_within_bounds, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_dtls_conf_must_be_a_datagram_server, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
