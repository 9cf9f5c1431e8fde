/* serial_port.c - open, configure and close a serial port (serial_port.h):
 * libserialport first, termios when libserialport refuses the device. */
#include "serial_port.h"

#include "serial_termios.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libserialport.h>

void board_serial_init(struct board_serial *s)
{
    s->fd = -1;
    s->sp = NULL;
    s->termios = false;
}

static int sp_errno(enum sp_return r)
{
    if (r == SP_ERR_FAIL) {
        int e = sp_last_error_code();
        return e > 0 ? -e : -EIO;
    }
    return r == SP_ERR_MEM ? -ENOMEM : r == SP_ERR_SUPP ? -ENOTSUP : -EINVAL;
}

static enum sp_parity sp_parity_of(enum board_parity p)
{
    return p == BOARD_PARITY_EVEN  ? SP_PARITY_EVEN
           : p == BOARD_PARITY_ODD ? SP_PARITY_ODD
                                   : SP_PARITY_NONE;
}

static enum sp_flowcontrol sp_flow_of(enum board_flow f)
{
    return f == BOARD_FLOW_RTSCTS    ? SP_FLOWCONTROL_RTSCTS
           : f == BOARD_FLOW_XONXOFF ? SP_FLOWCONTROL_XONXOFF
                                     : SP_FLOWCONTROL_NONE;
}

/* Apply cfg through libserialport; the first refusal wins. */
static int sp_configure(struct sp_port *p, const struct board_serial_cfg *cfg, char *err,
                        size_t cap)
{
    enum sp_return r = sp_set_baudrate(p, (int)cfg->baud);
    const char *what = "baud rate";
    if (r == SP_OK) {
        what = "data bits";
        r = sp_set_bits(p, cfg->data_bits);
    }
    if (r == SP_OK) {
        what = "parity";
        r = sp_set_parity(p, sp_parity_of(cfg->parity));
    }
    if (r == SP_OK) {
        what = "stop bits";
        r = sp_set_stopbits(p, cfg->stop_bits);
    }
    if (r == SP_OK) {
        what = "flow control";
        r = sp_set_flowcontrol(p, sp_flow_of(cfg->flow));
    }
    if (r != SP_OK) {
        if (err && cap) {
            char *m = sp_last_error_message();
            (void)snprintf(err, cap, "libserialport refused the %s: %s", what,
                           r == SP_ERR_FAIL && m ? m : "invalid or unsupported");
            sp_free_error_message(m);
        }
        return sp_errno(r);
    }
    return 0;
}

/* libserialport's path. Returns 0, a negative errno after a real failure
 * of a device it knows, or 1: it does not know the device (try termios). */
static int open_sp(struct board_serial *s, const char *path, const struct board_serial_cfg *cfg,
                   char *err, size_t cap)
{
    struct sp_port *p = NULL;
    char real[PATH_MAX];
    /* A /dev/serial/by-id/ symlink: libserialport looks the name up in
     * /sys/class/tty, which knows ttyUSB0, not the link. */
    if (!realpath(path, real) || sp_get_port_by_name(real, &p) != SP_OK) {
        return 1; /* no /sys/class/tty entry: a pty, or a path that is not a device */
    }
    if (sp_open(p, SP_MODE_READ_WRITE) != SP_OK) {
        sp_free_port(p);
        return 1; /* e.g. TIOCMGET refused: not a real UART */
    }
    int rc = sp_configure(p, cfg, err, cap);
    int fd = -1;
    if (rc == 0 && sp_get_port_handle(p, &fd) != SP_OK) {
        rc = -EIO;
    }
    /* libserialport reads blocking through select(); we want -EAGAIN. */
    int fl = rc == 0 ? fcntl(fd, F_GETFL) : -1;
    if (rc == 0 &&
        (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
        rc = -errno;
    }
    if (rc < 0) {
        (void)sp_close(p);
        sp_free_port(p);
        return rc;
    }
    s->fd = fd;
    s->sp = p;
    s->termios = false;
    return 0;
}

int board_serial_open(struct board_serial *s, const char *path, const struct board_serial_cfg *cfg,
                      char *err, size_t cap)
{
    board_serial_init(s);
    if (err && cap) {
        err[0] = '\0';
    }
    int rc = open_sp(s, path, cfg, err, cap);
    if (rc <= 0) {
        return rc;
    }
    int fd = board_termios_open(path, cfg, err, cap);
    if (fd < 0) {
        return fd;
    }
    s->fd = fd;
    s->termios = true;
    return 0;
}

void board_serial_close(struct board_serial *s)
{
    if (s->sp) {
        (void)sp_close(s->sp); /* closes the fd */
        sp_free_port(s->sp);
    } else if (s->fd >= 0) {
        (void)close(s->fd);
    }
    board_serial_init(s);
}
