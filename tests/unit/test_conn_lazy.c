/* test_conn_lazy.c - the parts of a connection made on first use: the
 * input buffer (conn.c keep_partial) and the MQTT 5 topic alias table
 * (mqtt_v5.c). An idle connection has none; the first use makes them;
 * running out of memory for one closes that connection (logged) and
 * leaks nothing. A real loop, broker and front-end; the client is the
 * other end of a socketpair. */
#include "alloc.h"
#include "broker.h"
#include "cfg.h"
#include "conn.h"
#include "loop.h"
#include "lsn.h"
#include "mqtt_fe.h"
#include "mqtt_v5.h"
#include "outq.h"

#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
    struct loop *l;
    struct broker *b;
    struct mqtt_fe *fe;
    struct cfg_listener cl;
    struct lsn lsn;
    struct loop_timer stop;
    int peer; /* the client's end */
};

/* A CONNECT, MQTT 3.1.1, client id "in-1", clean session, keepalive 60. */
static const uint8_t connect_pkt[] = {0x10, 16,  0,   4,   'M', 'Q', 'T', 'T', 4,
                                      0x02, 0,   60,  0,   4,   'i', 'n', '-', '1'};

/* MQTT 5 CONNECT, client id "v5-1", no properties; then a QoS 0 PUBLISH
 * of "ta/x" that sets Topic Alias 1. */
static const uint8_t connect_v5[] = {0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60,
                                     0,    0,  4, 'v', '5', '-', '1'};
static const uint8_t publish_alias[] = {0x30, 12, 0, 4, 't', 'a', '/', 'x',
                                        3,    0x23, 0, 1, 'h', 'i'};

static void on_stop(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

/* Run the loop for about ms milliseconds (its events and hooks). */
static void run_for(struct fixture *f, uint64_t ms)
{
    assert_int_equal(loop_timer_start(f->l, &f->stop, loop_now_ms(f->l) + ms), 0);
    assert_int_equal(loop_run(f->l), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    char err[256] = "";
    struct gw_config *cfg = NULL;
    assert_int_equal(cfg_load_string("allow_anonymous true\npersistence false\n", "t.conf", &cfg,
                                     err, sizeof(err)),
                     0);
    assert_int_equal(loop_create(&f->l), 0);
    assert_int_equal(broker_create(f->l, cfg, &f->b), 0);
    assert_int_equal(broker_start(f->b), 0);
    assert_int_equal(mqtt_fe_create(f->b, &f->fe), 0);
    f->lsn = (struct lsn){.b = f->b, .fe = f->fe, .cfg = &f->cl, .fd = -1,
                          .max_connections = -1, .allow_anonymous = true};
    loop_timer_init(&f->stop, on_stop, NULL);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(conn_create(f->b, &f->lsn, sv[0], (const struct sockaddr *)&peer), 0);
    f->peer = sv[1];
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    gw_alloc_fail_at(-1, 0);
    loop_timer_stop(f->l, &f->stop);
    mqtt_fe_destroy(f->fe);
    broker_destroy(f->b);
    loop_destroy(f->l);
    (void)close(f->peer);
    outq_pool_drain();
    free(f);
    assert_int_equal(gw_alloc_bytes(), 0); /* nothing leaked, failures included */
    return 0;
}

static struct conn *the_conn(const struct fixture *f)
{
    return f->fe->conns;
}

/* The peer's next bytes, waiting up to a second of loop turns. */
static ssize_t peer_read(struct fixture *f, uint8_t *p, size_t cap)
{
    for (int i = 0; i < 20; i++) {
        ssize_t n = read(f->peer, p, cap);
        if (n >= 0 || errno != EAGAIN) {
            return n;
        }
        run_for(f, 50);
    }
    return -1;
}

static void test_conn_input_idle_has_no_buffer_split_packet_gets_one(void **state)
{
    struct fixture *f = *state;
    run_for(f, 10);
    assert_non_null(the_conn(f));
    assert_null(the_conn(f)->in); /* nothing read yet: no buffer */
    assert_int_equal(write(f->peer, connect_pkt, 7), 7);
    run_for(f, 20);
    assert_non_null(the_conn(f)->in); /* the first 7 bytes wait in it */
    assert_int_equal(write(f->peer, connect_pkt + 7, sizeof(connect_pkt) - 7),
                     (ssize_t)(sizeof(connect_pkt) - 7));
    uint8_t ack[8];
    assert_int_equal(peer_read(f, ack, sizeof(ack)), 4);
    assert_int_equal(ack[0], 0x20); /* CONNACK 0: the split CONNECT was whole */
    assert_int_equal(ack[3], 0);
}

/* fail: which allocation of the partial packet fails (0: the buffer's
 * struct, 1: its bytes). The connection closes; the peer sees EOF. */
static void split_packet_out_of_memory(struct fixture *f, long fail)
{
    run_for(f, 10);
    assert_int_equal(f->fe->n_conns, 1);
    assert_int_equal(write(f->peer, connect_pkt, 7), 7);
    gw_alloc_fail_at(fail, 0);
    run_for(f, 20);
    gw_alloc_fail_at(-1, 0);
    assert_int_equal(f->fe->n_conns, 0);
    assert_int_equal(f->lsn.n_conns, 0);
    uint8_t b[8];
    assert_int_equal(peer_read(f, b, sizeof(b)), 0); /* closed, nothing sent */
}

static void test_conn_input_buffer_struct_nomem_closes(void **state)
{
    split_packet_out_of_memory(*state, 0);
}

static void test_conn_input_buffer_bytes_nomem_closes(void **state)
{
    split_packet_out_of_memory(*state, 1);
}

/* CONNECT v5 and read its CONNACK. */
static void connect5(struct fixture *f)
{
    assert_int_equal(write(f->peer, connect_v5, sizeof(connect_v5)), (ssize_t)sizeof(connect_v5));
    uint8_t ack[64];
    ssize_t n = peer_read(f, ack, sizeof(ack));
    assert_true(n >= 5);
    assert_int_equal(ack[0], 0x20);
    assert_int_equal(ack[3], 0); /* Success */
    assert_non_null(the_conn(f)->v5);
}

static void test_conn_v5_alias_table_made_at_first_alias(void **state)
{
    struct fixture *f = *state;
    connect5(f);
    assert_null(the_conn(f)->v5->alias);
    assert_null(the_conn(f)->v5->alias_out);
    assert_int_equal(write(f->peer, publish_alias, sizeof(publish_alias)),
                     (ssize_t)sizeof(publish_alias));
    run_for(f, 20);
    assert_int_equal(f->fe->n_conns, 1);
    assert_non_null(the_conn(f)->v5->alias);
    assert_string_equal(the_conn(f)->v5->alias[1], "ta/x");
}

static void test_conn_v5_alias_table_nomem_closes(void **state)
{
    struct fixture *f = *state;
    connect5(f);
    gw_alloc_fail_at(0, 1); /* the table and the alias's topic copy, both */
    assert_int_equal(write(f->peer, publish_alias, sizeof(publish_alias)),
                     (ssize_t)sizeof(publish_alias));
    run_for(f, 20);
    gw_alloc_fail_at(-1, 0);
    assert_int_equal(f->fe->n_conns, 0);
    uint8_t b[64];
    ssize_t n;
    do {
        n = peer_read(f, b, sizeof(b)); /* a DISCONNECT with its reason may come first */
    } while (n > 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(
                    test_conn_input_idle_has_no_buffer_split_packet_gets_one, setup, teardown),
            cmocka_unit_test_setup_teardown(test_conn_input_buffer_struct_nomem_closes, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_conn_input_buffer_bytes_nomem_closes, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_conn_v5_alias_table_made_at_first_alias, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_conn_v5_alias_table_nomem_closes, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
