/* test_board_serial.c - board/serial_port.h on real pseudo-terminals: the
 * termios fallback opens a pty libserialport refuses, raw mode passes every
 * octet unchanged both ways, settings are applied, errors are clean. */
#include "serial_port.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

struct pty {
    int master;
    int slave;
    char name[64];
};

static int pty_setup(void **state)
{
    static struct pty p;
    assert_int_equal(openpty(&p.master, &p.slave, p.name, NULL, NULL), 0);
    *state = &p;
    return 0;
}

static int pty_teardown(void **state)
{
    struct pty *p = *state;
    (void)close(p->master);
    (void)close(p->slave);
    return 0;
}

static const struct board_serial_cfg cfg_115200 = {.baud = 115200, .data_bits = 8, .stop_bits = 1};

static void test_serial_open_pty_falls_back_to_termios(void **state)
{
    struct pty *p = *state;
    struct board_serial s;
    char err[128];
    assert_int_equal(board_serial_open(&s, p->name, &cfg_115200, err, sizeof(err)), 0);
    assert_true(s.fd >= 0);
    assert_true(s.termios);
    assert_null(s.sp);
    assert_true(fcntl(s.fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);
    struct termios t;
    assert_int_equal(tcgetattr(s.fd, &t), 0);
    assert_int_equal(cfgetospeed(&t), B115200);
    assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG), 0);
    assert_int_equal(t.c_cflag & CSIZE, CS8);
    board_serial_close(&s);
    assert_int_equal(s.fd, -1);
    board_serial_close(&s); /* closed: no-op */
}

static void test_serial_raw_mode_passes_every_octet(void **state)
{
    struct pty *p = *state;
    struct board_serial s;
    assert_int_equal(board_serial_open(&s, p->name, &cfg_115200, NULL, 0), 0);
    uint8_t all[256];
    for (size_t i = 0; i < sizeof(all); i++) {
        all[i] = (uint8_t)i; /* CR, NL, ^C, ^D, XON, XOFF, 0x7F ... */
    }
    assert_int_equal(write(p->master, all, sizeof(all)), (ssize_t)sizeof(all));
    uint8_t got[256];
    size_t n = 0;
    for (int tries = 0; n < sizeof(got) && tries < 1000; tries++) {
        ssize_t r = read(s.fd, got + n, sizeof(got) - n);
        if (r > 0) {
            n += (size_t)r;
        } else {
            assert_int_equal(errno, EAGAIN);
            (void)usleep(1000);
        }
    }
    assert_int_equal(n, sizeof(all));
    assert_memory_equal(got, all, sizeof(all));
    assert_int_equal(write(s.fd, all, sizeof(all)), (ssize_t)sizeof(all));
    n = 0;
    for (int tries = 0; n < sizeof(got) && tries < 1000; tries++) {
        ssize_t r = read(p->master, got + n, sizeof(got) - n);
        if (r > 0) {
            n += (size_t)r;
        }
    }
    assert_memory_equal(got, all, sizeof(all));
    board_serial_close(&s);
}

static void test_serial_settings_applied(void **state)
{
    struct pty *p = *state;
    struct board_serial s;
    struct board_serial_cfg c = {.baud = 9600,
                                 .data_bits = 7,
                                 .stop_bits = 2,
                                 .parity = BOARD_PARITY_ODD,
                                 .flow = BOARD_FLOW_XONXOFF};
    assert_int_equal(board_serial_open(&s, p->name, &c, NULL, 0), 0);
    struct termios t;
    assert_int_equal(tcgetattr(s.fd, &t), 0);
    assert_int_equal(cfgetospeed(&t), B9600);
    /* Linux's pty driver forces CS8 and clears PARENB whatever we ask
     * (pty_set_termios), so only what a pty keeps can be checked here. */
    assert_true(t.c_cflag & CSTOPB);
    assert_true(t.c_iflag & IXON);
    board_serial_close(&s);
}

static void test_serial_bad_baud_refused(void **state)
{
    struct pty *p = *state;
    struct board_serial s;
    char err[128] = "";
    struct board_serial_cfg c = cfg_115200;
    c.baud = 12345;
    assert_int_equal(board_serial_open(&s, p->name, &c, err, sizeof(err)), -EINVAL);
    assert_int_equal(s.fd, -1);
    assert_non_null(strstr(err, "baud"));
}

static void test_serial_missing_device_enoent(void **state)
{
    (void)state;
    struct board_serial s;
    char err[128] = "";
    assert_int_equal(board_serial_open(&s, "/dev/tern-no-such-port", &cfg_115200, err, sizeof(err)),
                     -ENOENT);
    assert_int_equal(s.fd, -1);
    assert_true(err[0] != '\0');
}

static void test_serial_not_a_tty_refused(void **state)
{
    (void)state;
    struct board_serial s;
    assert_int_equal(board_serial_open(&s, "/dev/null", &cfg_115200, NULL, 0), -ENOTTY);
    assert_int_equal(s.fd, -1);
}

static void test_serial_open_through_symlink(void **state)
{
    struct pty *p = *state;
    char dir[] = "/tmp/tern-byid-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char link[PATH_MAX];
    (void)snprintf(link, sizeof(link), "%s/usb-Tern_Radio_0001-if00-port0", dir);
    assert_int_equal(symlink(p->name, link), 0);
    char found[PATH_MAX] = "";
    assert_true(board_serial_by_id(dir, p->name, found, sizeof(found)));
    assert_string_equal(found, link);
    assert_false(board_serial_by_id(dir, "/dev/null", found, sizeof(found)));
    struct board_serial s;
    assert_int_equal(board_serial_open(&s, link, &cfg_115200, NULL, 0), 0);
    board_serial_close(&s);
    (void)unlink(link);
    (void)rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_serial_open_pty_falls_back_to_termios, pty_setup,
                                            pty_teardown),
            cmocka_unit_test_setup_teardown(test_serial_raw_mode_passes_every_octet, pty_setup,
                                            pty_teardown),
            cmocka_unit_test_setup_teardown(test_serial_settings_applied, pty_setup, pty_teardown),
            cmocka_unit_test_setup_teardown(test_serial_bad_baud_refused, pty_setup, pty_teardown),
            cmocka_unit_test(test_serial_missing_device_enoent),
            cmocka_unit_test(test_serial_not_a_tty_refused),
            cmocka_unit_test_setup_teardown(test_serial_open_through_symlink, pty_setup,
                                            pty_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
