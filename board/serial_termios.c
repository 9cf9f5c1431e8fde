/* serial_termios.c - open a tty with termios when libserialport will not
 * (serial_port.h). Raw mode: no echo, no line editing, no CR/NL mapping,
 * no signals from the data (an 0x03 from a radio is data, not ^C). */
#include "serial_termios.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct rate {
    uint32_t baud;
    speed_t code;
};

static const struct rate rates[] = {
        {50, B50},           {75, B75},           {110, B110},         {134, B134},
        {150, B150},         {200, B200},         {300, B300},         {600, B600},
        {1200, B1200},       {1800, B1800},       {2400, B2400},       {4800, B4800},
        {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
        {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
        {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000},
        {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
        {3500000, B3500000}, {4000000, B4000000},
};

static void put(char *err, size_t cap, const char *what, int rc)
{
    if (err && cap) {
        (void)snprintf(err, cap, "%s: %s", what, strerror(-rc)); /* NOLINT(concurrency-mt-unsafe) */
    }
}

static int speed_of(uint32_t baud, speed_t *out)
{
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        if (rates[i].baud == baud) {
            *out = rates[i].code;
            return 0;
        }
    }
    return -EINVAL;
}

static tcflag_t size_bits(uint8_t data_bits)
{
    switch (data_bits) {
    case 5:
        return CS5;
    case 6:
        return CS6;
    case 7:
        return CS7;
    default:
        return CS8;
    }
}

int board_termios_configure(int fd, const struct board_serial_cfg *cfg, char *err, size_t cap)
{
    struct termios t;
    speed_t sp;
    if (speed_of(cfg->baud, &sp) < 0) {
        put(err, cap, "baud rate not a standard termios rate", -EINVAL);
        return -EINVAL;
    }
    if (cfg->data_bits < 5 || cfg->data_bits > 8 || cfg->stop_bits < 1 || cfg->stop_bits > 2) {
        put(err, cap, "data bits 5..8 and stop bits 1..2", -EINVAL);
        return -EINVAL;
    }
    if (tcgetattr(fd, &t) < 0) {
        int rc = -errno;
        put(err, cap, "tcgetattr", rc);
        return rc;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | CSTOPB | PARENB | PARODD | CRTSCTS);
    t.c_cflag |= size_bits(cfg->data_bits) | CLOCAL | CREAD;
    t.c_cflag |= cfg->stop_bits == 2 ? CSTOPB : 0;
    t.c_cflag |= cfg->parity != BOARD_PARITY_NONE ? PARENB : 0;
    t.c_cflag |= cfg->parity == BOARD_PARITY_ODD ? PARODD : 0;
    t.c_cflag |= cfg->flow == BOARD_FLOW_RTSCTS ? CRTSCTS : 0;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_iflag |= cfg->flow == BOARD_FLOW_XONXOFF ? (IXON | IXOFF) : 0;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    (void)cfsetispeed(&t, sp);
    (void)cfsetospeed(&t, sp);
    if (tcsetattr(fd, TCSANOW, &t) < 0) {
        int rc = -errno;
        put(err, cap, "tcsetattr", rc);
        return rc;
    }
    return 0;
}

int board_termios_open(const char *path, const struct board_serial_cfg *cfg, char *err, size_t cap)
{
    /* O_NOCTTY: a daemon without a terminal must not adopt the radio's. */
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        put(err, cap, "open", rc);
        return rc;
    }
    if (!isatty(fd)) {
        (void)close(fd);
        put(err, cap, "not a terminal device", -ENOTTY);
        return -ENOTTY;
    }
    int rc = board_termios_configure(fd, cfg, err, cap);
    if (rc < 0) {
        (void)close(fd);
        return rc;
    }
    return fd;
}
