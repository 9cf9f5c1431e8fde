/* serial_termios.h - the termios path of serial_port.c (board/ only): open
 * and configure a tty with plain POSIX calls, for devices libserialport
 * refuses (pseudo-terminals). */
#ifndef BOARD_SERIAL_TERMIOS_H
#define BOARD_SERIAL_TERMIOS_H

#include "serial_port.h"

/* Open path raw and non-blocking with cfg. Returns the fd, or a negative
 * errno with the reason in err. */
int board_termios_open(const char *path, const struct board_serial_cfg *cfg, char *err, size_t cap);

/* Apply cfg to the open tty fd in raw mode. Returns 0 or a negative errno
 * with the reason in err. */
int board_termios_configure(int fd, const struct board_serial_cfg *cfg, char *err, size_t cap);

#endif
