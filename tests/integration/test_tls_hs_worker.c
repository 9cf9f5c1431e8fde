/* test_tls_hs_worker.c - the TLS handshake worker (gateway/stream/
 * tls_hs_worker.h) with real mbedTLS TLS-PSK sessions over socketpairs:
 * many handshakes at once complete on the worker while this thread only
 * drives the clients; the first application bytes after the handshake
 * are read from the handed-back stream; the timeout, a client that closes
 * mid-handshake, a wrong key; dropping one owner's handshakes while
 * another's go on; destroying the worker with handshakes in flight frees
 * everything (counted heap, and LSan in the ASan build). Socketpairs, no
 * network: hence tests/integration. */
#include "alloc.h"
#include "clock.h"
#include "gw_err.h"
#include "stream.h"
#include "stream_tls.h"
#include "tls_hs_worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

#define N_MAX 24

static const uint8_t key1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t key2[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static const struct stream_tls_psk psks[] = {{"dev", key1, sizeof(key1)}};

struct slot {
    struct stream *cli;
    int cli_rc; /* the client's handshake: -EAGAIN while going */
    bool done;  /* the worker handed the server side back */
    int rc;
    char why[256];
    struct stream *srv; /* handed back, established */
    pthread_t cb_thread;
};

struct fixture {
    struct stream_tls_conf *sc;
    struct stream_tls_conf *cc;
    struct stream_tls_conf *bad_cc; /* same identity, wrong key */
    struct tls_hs_worker *w;
    struct slot slots[N_MAX];
    size_t n;
    size_t n_done;
};

static void on_done(void *ctx, const struct tls_hs_result *r)
{
    struct fixture *f = ctx;
    struct slot *s = r->owner;
    assert_false(s->done);
    s->done = true;
    s->rc = r->rc;
    s->cb_thread = pthread_self();
    (void)snprintf(s->why, sizeof(s->why), "%s", r->why);
    if (r->rc == 0) {
        s->srv = r->s;
    } else {
        stream_destroy(r->s);
    }
    f->n_done++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[300] = "";
    struct stream_tls_cfg sc = {.server = true, .psk_hint = "h", .psks = psks, .n_psks = 1};
    struct stream_tls_cfg cc = {.psk_identity = "dev", .psk = key1, .psk_len = sizeof(key1)};
    struct stream_tls_cfg bad = {.psk_identity = "dev", .psk = key2, .psk_len = sizeof(key2)};
    assert_int_equal(stream_tls_conf_create(&sc, &f->sc, err, sizeof(err)), 0);
    assert_int_equal(stream_tls_conf_create(&cc, &f->cc, err, sizeof(err)), 0);
    assert_int_equal(stream_tls_conf_create(&bad, &f->bad_cc, err, sizeof(err)), 0);
    assert_int_equal(tls_hs_worker_create(on_done, f, &f->w), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tls_hs_worker_destroy(f->w);
    for (size_t i = 0; i < f->n; i++) {
        stream_destroy(f->slots[i].cli);
        stream_destroy(f->slots[i].srv);
    }
    stream_tls_conf_unref(f->sc);
    stream_tls_conf_unref(f->cc);
    stream_tls_conf_unref(f->bad_cc);
    free(f);
    assert_int_equal(gw_alloc_bytes(), 0);
    return 0;
}

/* A socketpair: the server end to the worker (owner: the slot itself, or
 * owner when given), the client end kept here. */
static struct slot *add_pair(struct fixture *f, struct stream_tls_conf *cc, void *owner,
                             uint64_t timeout_ms)
{
    assert_true(f->n < N_MAX);
    struct slot *s = &f->slots[f->n++];
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct stream *srv = stream_tls_server_create(f->sc, sv[0]);
    s->cli = stream_tls_client_create(cc, sv[1], "dev");
    assert_non_null(srv);
    assert_non_null(s->cli);
    s->cli_rc = -EAGAIN;
    struct sockaddr_storage peer = {.ss_family = AF_UNIX};
    assert_int_equal(tls_hs_worker_submit(f->w, srv, owner ? owner : s, &peer,
                                          timeout_ms == 1u ? 1000u : gw_clock_now_ms(), timeout_ms),
                     0);
    return s;
}

/* This thread drives the clients only and collects; the servers' steps
 * can run nowhere but on the worker. Bounded: 20 s. */
static void run_until_done(struct fixture *f, size_t want_done)
{
    for (int turn = 0; turn < 20000 && f->n_done < want_done; turn++) {
        for (size_t i = 0; i < f->n; i++) {
            struct slot *s = &f->slots[i];
            if (s->cli && s->cli_rc == -EAGAIN) {
                s->cli_rc = stream_tls_handshake(s->cli);
            }
        }
        struct pollfd p = {.fd = tls_hs_worker_fd(f->w), .events = POLLIN};
        if (poll(&p, 1, 1) == 1) {
            tls_hs_worker_collect(f->w);
        }
    }
    assert_int_equal(f->n_done, want_done);
}

static void test_tls_hs_worker_many_handshakes_all_complete(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 20; i++) {
        (void)add_pair(f, f->cc, NULL, 60000u);
    }
    assert_int_equal(tls_hs_worker_pending(f->w), 20);
    run_until_done(f, 20);
    assert_int_equal(tls_hs_worker_pending(f->w), 0);
    for (size_t i = 0; i < f->n; i++) {
        struct slot *s = &f->slots[i];
        if (s->rc != 0) {
            fail_msg("handshake %zu: rc=%d %s", i, s->rc, s->why);
        }
        assert_true(pthread_equal(s->cb_thread, pthread_self())); /* callbacks on the owner's */
        assert_string_equal(stream_identity(s->srv), "dev");
    }
}

/* What the client sends right after its handshake is read from the
 * handed-back stream, on this thread, as conn_adopt reads it. */
static void test_tls_hs_worker_first_bytes_after_handback(void **state)
{
    struct fixture *f = *state;
    struct slot *s = add_pair(f, f->cc, NULL, 60000u);
    run_until_done(f, 1);
    for (int turn = 0; turn < 2000 && s->cli_rc == -EAGAIN; turn++) {
        s->cli_rc = stream_tls_handshake(s->cli);
        usleep(100);
    }
    assert_int_equal(s->cli_rc, 0);
    assert_int_equal(s->rc, 0);
    static const uint8_t connect[] = {0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0};
    struct iovec iov = {(void *)connect, sizeof(connect)};
    assert_int_equal(stream_writev(s->cli, &iov, 1), (ssize_t)sizeof(connect));
    uint8_t got[64];
    ssize_t r = 0;
    for (int turn = 0; turn < 2000 && r == 0; turn++) {
        r = stream_read(s->srv, got, sizeof(got));
        if (r == 0) {
            usleep(100);
        }
    }
    assert_int_equal(r, (ssize_t)sizeof(connect));
    assert_memory_equal(got, connect, sizeof(connect));
}

static void test_tls_hs_worker_timeout(void **state)
{
    struct fixture *f = *state;
    /* A 1 ms timeout counts from 1 s after boot (add_pair): the deadline
     * has gone by at once, so the silent client is timed out on the
     * first pass. */
    struct slot *s = add_pair(f, f->cc, NULL, 1u);
    s->cli_rc = 1; /* connected, never driven: silent */
    run_until_done(f, 1);
    assert_int_equal(s->rc, GW_E_TIMEOUT);
    assert_string_equal(s->why, "TLS handshake not done in time");
}

static void test_tls_hs_worker_client_closes_mid_handshake(void **state)
{
    struct fixture *f = *state;
    struct slot *s = add_pair(f, f->cc, NULL, 60000u);
    s->cli_rc = stream_tls_handshake(s->cli); /* the ClientHello goes out */
    assert_int_equal(s->cli_rc, -EAGAIN);
    usleep(20000); /* let the worker answer it and wait for the next flight */
    stream_destroy(s->cli);
    s->cli = NULL;
    run_until_done(f, 1);
    assert_int_not_equal(s->rc, 0);
    assert_true(s->rc == GW_E_CLOSED || s->rc < 0);
}

static void test_tls_hs_worker_wrong_key_says_why(void **state)
{
    struct fixture *f = *state;
    struct slot *s = add_pair(f, f->bad_cc, NULL, 60000u);
    run_until_done(f, 1);
    assert_int_equal(s->rc, -EPROTO);
    assert_non_null(strstr(s->why, "TLS handshake failed"));
    assert_non_null(strstr(s->why, "wrong PSK for identity \"dev\""));
}

/* Listener close: one owner's handshakes go at once, the other's
 * complete; then the worker is destroyed with handshakes still in it. */
static void test_tls_hs_worker_drop_owner_and_destroy_in_flight(void **state)
{
    struct fixture *f = *state;
    int owner_a = 0;
    for (int i = 0; i < 4; i++) {
        (void)add_pair(f, f->cc, &owner_a, 60000u);
    }
    for (int i = 0; i < 3; i++) {
        (void)add_pair(f, f->cc, NULL, 60000u);
    }
    /* some of A's under way (ClientHellos sent), the rest still queued */
    f->slots[0].cli_rc = stream_tls_handshake(f->slots[0].cli);
    f->slots[1].cli_rc = stream_tls_handshake(f->slots[1].cli);
    usleep(20000);
    assert_int_equal(tls_hs_worker_drop(f->w, &owner_a), 4);
    assert_int_equal(tls_hs_worker_pending(f->w), 3);
    for (size_t i = 0; i < 4; i++) {
        stream_destroy(f->slots[i].cli); /* A's servers are gone: no callback comes */
        f->slots[i].cli = NULL;
    }
    run_until_done(f, 3);
    for (size_t i = 4; i < 7; i++) {
        assert_int_equal(f->slots[i].rc, 0);
    }
    assert_int_equal(tls_hs_worker_drop(f->w, &owner_a), 0);
    /* Two more in flight when the worker goes (teardown destroys it). */
    struct slot *x = add_pair(f, f->cc, NULL, 60000u);
    (void)add_pair(f, f->cc, NULL, 60000u);
    x->cli_rc = stream_tls_handshake(x->cli);
    usleep(20000);
    assert_int_equal(tls_hs_worker_pending(f->w), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_tls_hs_worker_many_handshakes_all_complete, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_tls_hs_worker_first_bytes_after_handback, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_tls_hs_worker_timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tls_hs_worker_client_closes_mid_handshake, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_tls_hs_worker_wrong_key_says_why, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tls_hs_worker_drop_owner_and_destroy_in_flight,
                                            setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
