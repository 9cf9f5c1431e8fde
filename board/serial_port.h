/* serial_port.h - serial ports for radio modules (board/, ARCHITECTURE.md).
 *
 * Opens and configures a serial port and hands out its file descriptor,
 * non-blocking, for the caller's event loop: board/ calls nothing of
 * Tern's (no loop, no log, no gw_alloc). Ports open through libserialport;
 * when libserialport refuses a device it cannot describe (a pseudo-terminal:
 * sp_get_port_by_name needs a /sys/class/tty entry and sp_open needs
 * TIOCMGET, which ptys lack) the port opens with plain termios instead, so
 * the very same transport code runs on ptys in tests.
 *
 * Errors: 0 or a negative errno; a human-readable reason goes to the
 * caller's err buffer (what libserialport or the OS said). Memory: struct
 * board_serial lives in the caller's memory (init/fini style); the only
 * heap is libserialport's own, freed by board_serial_close. Any thread,
 * one port per thread at a time. */
#ifndef BOARD_SERIAL_PORT_H
#define BOARD_SERIAL_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum board_parity { BOARD_PARITY_NONE = 0, BOARD_PARITY_EVEN, BOARD_PARITY_ODD };

enum board_flow { BOARD_FLOW_NONE = 0, BOARD_FLOW_RTSCTS, BOARD_FLOW_XONXOFF };

/* Line settings. */
struct board_serial_cfg {
    uint32_t baud;     /* 50 .. 4000000; the termios path takes the standard rates only */
    uint8_t data_bits; /* 5..8 */
    uint8_t stop_bits; /* 1 or 2 */
    enum board_parity parity;
    enum board_flow flow;
};

/* An open port. fd is -1 while closed. */
struct board_serial {
    int fd;
    void *sp;     /* struct sp_port * when libserialport opened it, else NULL */
    bool termios; /* opened by the termios fallback */
};

/* Open path (a device node or a symlink to one, e.g. /dev/serial/by-id/...)
 * read-write, non-blocking, close-on-exec, not as a controlling terminal,
 * in raw mode with the line settings of cfg (borrowed). Returns 0 with
 * s->fd set, or a negative errno (-ENOENT: no such device, -EINVAL:
 * settings the device refuses, ...) with the reason in err (cap bytes,
 * NUL-terminated; err may be NULL). On failure s is closed (fd -1). */
int board_serial_open(struct board_serial *s, const char *path, const struct board_serial_cfg *cfg,
                      char *err, size_t cap);

/* Close the port (fd and libserialport handle). A closed port is a no-op. */
void board_serial_close(struct board_serial *s);

/* Set s closed without opening it (fd -1), so board_serial_close is safe. */
void board_serial_init(struct board_serial *s);

/* One port as board_serial_list reports it. Strings are borrowed and die
 * when the callback returns; "" when unknown. usb_vid/usb_pid are -1 for
 * ports that are not USB. */
struct board_serial_info {
    const char *path;        /* /dev/ttyUSB0 */
    const char *description; /* libserialport's description */
    const char *serial;      /* USB serial number */
    const char *by_id;       /* /dev/serial/by-id/... pointing at path, or "" */
    int usb_vid;
    int usb_pid;
};

typedef void board_serial_list_cb(void *arg, const struct board_serial_info *info);

/* Call cb once for every serial port the system knows (libserialport's
 * enumeration), with its stable /dev/serial/by-id/ name when udev made one.
 * Returns the number of ports, or a negative errno with the reason in err. */
int board_serial_list(board_serial_list_cb *cb, void *arg, char *err, size_t cap);

/* The by-id name of path: the entry of dir (normally /dev/serial/by-id)
 * whose target is the same device as path, copied into out (cap bytes).
 * Returns true if found. Exposed for tests (dir can be any folder of
 * symlinks). */
bool board_serial_by_id(const char *dir, const char *path, char *out, size_t cap);

#endif
