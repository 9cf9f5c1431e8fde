/* test_sn_serial.c - the serial transport's output side (mqttsn/sn_serial.c)
 * on a real pseudo-terminal: framing of what the gateway sends, the
 * per-port queue bounds (QoS 0 dropped over the soft bound, the rest
 * queued up to the hard one), oversize refused, a closed port refuses, the
 * peer strings and the broadcast peer. The receive side and pacing over
 * time are covered by tests/integration/test_mqttsn_serial*.py. */
#include "alloc.h"
#include "loop.h"
#include "sn_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
    struct loop *loop;
    int master;
    int slave;
    char name[64];
    struct sn_serial *s;
};

static void on_rx(void *arg, const struct sn_peer *peer, const uint8_t *p, size_t n)
{
    (void)arg;
    (void)peer;
    (void)p;
    (void)n;
}

static int open_port(void **state, enum sn_framing framing, uint32_t baud)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(loop_create(&f.loop), 0);
    assert_int_equal(openpty(&f.master, &f.slave, f.name, NULL, NULL), 0);
    assert_int_equal(fcntl(f.master, F_SETFL, O_NONBLOCK), 0); /* drain must not block */
    struct sn_serial_params sp = {.path = f.name, .framing = framing, .xbee_escaped = true};
    sp.line = (struct board_serial_cfg){.baud = baud, .data_bits = 8, .stop_bits = 1};
    assert_int_equal(sn_serial_open(f.loop, &sp, on_rx, NULL, &f.s), 0);
    assert_true(sn_serial_is_open(f.s));
    *state = &f;
    return 0;
}

static int setup_raw_9600(void **state)
{
    return open_port(state, SN_FRAMING_RAW, 9600);
}

static int setup_slip(void **state)
{
    return open_port(state, SN_FRAMING_SLIP, 115200);
}

static int setup_xbee(void **state)
{
    return open_port(state, SN_FRAMING_XBEE, 115200);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sn_serial_close(f->s);
    (void)close(f->master);
    (void)close(f->slave);
    loop_destroy(f->loop);
    return 0;
}

static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (int tries = 0; tries < 50 && n < cap; tries++) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    return n;
}

static const struct sn_peer port_peer = {.len = 1};

/* PUBLISH QoS flags (bits 6..5), topic id 1, msg id 0, 14 octets of data. */
static void publish(uint8_t *m, unsigned qos)
{
    memset(m, 'd', 20);
    m[0] = 20;
    m[1] = 0x0C;
    m[2] = (uint8_t)(qos << 5);
    m[3] = 0;
    m[4] = 1;
    m[5] = 0;
    m[6] = 0;
}

static void test_serial_qos0_dropped_over_soft_bound_rest_queued(void **state)
{
    struct fixture *f = *state;
    (void)tcflush(f->slave, TCIOFLUSH);
    uint8_t q0[20];
    uint8_t q1[20];
    publish(q0, 0);
    publish(q1, 1);
    /* 9600 baud: 64 octets go at once, the rest waits for the line (no
     * loop runs here), so the queue fills. */
    int accepted = 0;
    int refused = 0;
    for (int i = 0; i < 400; i++) {
        int rc = sn_serial_ops.send(f->s, &port_peer, q0, sizeof(q0));
        accepted += rc == 0;
        refused += rc == -ENOBUFS;
    }
    struct sn_serial_stats st;
    sn_serial_get_stats(f->s, &st);
    assert_true(refused > 0);
    assert_int_equal(accepted + refused, 400);
    assert_int_equal(st.dropped_qos0, (uint64_t)refused);
    /* 4224-octet soft bound + the 64-octet burst written */
    assert_in_range((size_t)accepted * 20u, 4224u, 4224u + 64u + 20u);
    /* QoS 1 still goes in: it waits, up to four times the soft bound */
    int q1_ok = 0;
    while (q1_ok < 2000 && sn_serial_ops.send(f->s, &port_peer, q1, sizeof(q1)) == 0) {
        q1_ok++;
    }
    sn_serial_get_stats(f->s, &st);
    assert_true(q1_ok > 500);
    assert_int_equal(st.dropped_full, 1);
    /* Encapsulated QoS 0 (§5.5) is QoS 0 too. */
    uint8_t enc[24] = {4, 0xFE, 0, 0x07};
    memcpy(enc + 4, q0, sizeof(q0));
    assert_int_equal(sn_serial_ops.send(f->s, &port_peer, enc, sizeof(enc)), -ENOBUFS);
    sn_serial_get_stats(f->s, &st);
    assert_int_equal(st.dropped_qos0, (uint64_t)refused + 1u);
    uint8_t got[128];
    assert_int_equal(drain(f->master, got, 64), 64);
    assert_memory_equal(got, q0, 20); /* raw: the message as it is */
}

static void test_serial_oversize_refused(void **state)
{
    struct fixture *f = *state;
    static uint8_t big[SN_SERIAL_MSG_MAX + 1];
    big[0] = 0x01;
    assert_int_equal(sn_serial_ops.send(f->s, &port_peer, big, sizeof(big)), -EMSGSIZE);
    struct sn_serial_stats st;
    sn_serial_get_stats(f->s, &st);
    assert_int_equal(st.dropped_too_big, 1);
}

static void test_serial_slip_frames_what_is_sent(void **state)
{
    struct fixture *f = *state;
    const uint8_t ping[] = {0x02, 0x17};
    assert_int_equal(sn_serial_ops.send(f->s, &port_peer, ping, 2), 0);
    uint8_t got[16];
    const uint8_t want[6] = {0xC0, 0x02, 0x17, 0, 0, 0xC0};
    assert_int_equal(drain(f->master, got, sizeof(want)), sizeof(want));
    uint16_t crc = sn_frame_crc16(ping, 2);
    assert_int_equal(got[3], crc >> 8);
    assert_int_equal(got[4], crc & 0xFF);
    assert_memory_equal(got, want, 3);
    char buf[80];
    assert_string_equal(sn_serial_ops.peer_str(f->s, &port_peer, buf, sizeof(buf)),
                        strrchr(f->name, '/') + 1);
    struct sn_peer b;
    sn_serial_broadcast(f->s, &b);
    assert_int_equal(b.len, 1);
}

static void test_serial_xbee_addresses_and_gwinfo_broadcast(void **state)
{
    struct fixture *f = *state;
    struct sn_peer node = {.len = 8, .addr = {0x00, 0x13, 0xA2, 0x00, 0x40, 0xA1, 0xB2, 0xC3}};
    char buf[80];
    (void)sn_serial_ops.peer_str(f->s, &node, buf, sizeof(buf));
    assert_non_null(strstr(buf, "/xbee=0013a20040a1b2c3"));
    const uint8_t pingresp[] = {0x02, 0x17};
    const uint8_t gwinfo[] = {0x03, 0x02, 0x01};
    assert_int_equal(sn_serial_ops.send(f->s, &node, pingresp, 2), 0);
    assert_int_equal(sn_serial_ops.send(f->s, &node, gwinfo, 3), 0);
    uint8_t got[128];
    size_t n = drain(f->master, got, sizeof(got));
    /* first: transmit request to the node, frame id 1 (0x13 escaped: 7D 33) */
    const uint8_t hdr1[] = {0x7E, 0x00, 0x10, 0x10, 0x01, 0x00, 0x7D, 0x33, 0xA2};
    assert_true(n > sizeof(hdr1));
    assert_memory_equal(got, hdr1, sizeof(hdr1));
    /* second: GWINFO to the broadcast address, frame id 2; its length 0x11
     * is escaped too (API mode 2) */
    const uint8_t *second = memchr(got + 1, 0x7E, n - 1);
    assert_non_null(second);
    const uint8_t hdr2[] = {0x7E, 0x00, 0x7D, 0x31, 0x10, 0x02, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    assert_true((size_t)(got + n - second) > sizeof(hdr2));
    assert_memory_equal(second, hdr2, sizeof(hdr2));
    struct sn_peer b;
    sn_serial_broadcast(f->s, &b);
    assert_int_equal(b.len, 8);
    assert_int_equal(b.addr[6], 0xFF);
    assert_int_equal(b.addr[7], 0xFF);
}

static void test_serial_missing_device_retried_and_refuses(void **state)
{
    (void)state;
    struct loop *l = NULL;
    struct sn_serial *s = NULL;
    size_t base = gw_alloc_bytes();
    assert_int_equal(loop_create(&l), 0);
    struct sn_serial_params sp = {.path = "/dev/tern-no-such-radio"};
    sp.line = (struct board_serial_cfg){.baud = 115200, .data_bits = 8, .stop_bits = 1};
    assert_int_equal(sn_serial_open(l, &sp, on_rx, NULL, &s), 0); /* retried later */
    assert_false(sn_serial_is_open(s));
    const uint8_t ping[] = {0x02, 0x17};
    assert_int_equal(sn_serial_ops.send(s, &port_peer, ping, 2), -ENOTCONN);
    assert_int_equal(sn_serial_default_retry_ms(s), 12177);
    sn_serial_close(s);
    loop_destroy(l);
    assert_int_equal(gw_alloc_bytes(), base);
}

/* Fail the n-th allocation of sn_serial_open for n = 0, 1, ...: each is
 * -ENOMEM with nothing left behind (SQLite's technique). */
static void test_serial_open_alloc_failures_clean(void **state)
{
    (void)state;
    struct sn_serial_params sp = {.path = "/dev/tern-no-such-radio"};
    sp.line = (struct board_serial_cfg){.baud = 115200, .data_bits = 8, .stop_bits = 1};
    size_t base = gw_alloc_bytes();
    for (long n = 0;; n++) {
        struct loop *l = NULL;
        struct sn_serial *s = NULL;
        assert_int_equal(loop_create(&l), 0);
        gw_alloc_fail_at(n, 0);
        int rc = sn_serial_open(l, &sp, on_rx, NULL, &s);
        gw_alloc_fail_at(-1, 0);
        sn_serial_close(s);
        loop_destroy(l);
        assert_int_equal(gw_alloc_bytes(), base);
        if (rc == 0) {
            assert_true(n >= 3); /* the port, its output queue, the re-open timer */
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_serial_qos0_dropped_over_soft_bound_rest_queued,
                                            setup_raw_9600, teardown),
            cmocka_unit_test_setup_teardown(test_serial_oversize_refused, setup_raw_9600, teardown),
            cmocka_unit_test_setup_teardown(test_serial_slip_frames_what_is_sent, setup_slip,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_serial_xbee_addresses_and_gwinfo_broadcast,
                                            setup_xbee, teardown),
            cmocka_unit_test(test_serial_missing_device_retried_and_refuses),
            cmocka_unit_test(test_serial_open_alloc_failures_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
