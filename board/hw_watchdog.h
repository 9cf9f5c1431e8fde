/* hw_watchdog.h - the Linux watchdog device (/dev/watchdog), optional.
 *
 * Once the device is open the hardware resets the board unless it is
 * written to ("kicked") within its timeout. The caller kicks it from a
 * loop timer, so a stuck event loop stops the kicks and the board resets
 * (STYLE.md 1). A clean stop writes the magic 'V' before closing, which
 * disarms drivers that support it (Documentation/watchdog/watchdog-api);
 * with `nowayout` drivers the board still resets: say so in the docs.
 *
 * Off by default: opening the device arms it. Any thread; no allocation. */
#ifndef BOARD_HW_WATCHDOG_H
#define BOARD_HW_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

struct board_watchdog {
    int fd;             /* -1: closed */
    uint32_t timeout_s; /* the timeout in force (the device's if it refused ours) */
    bool timeout_set;   /* WDIOC_SETTIMEOUT took our value */
};

/* Open path and ask for timeout_s (WDIOC_SETTIMEOUT; a device or file
 * that does not take the ioctl keeps its own timeout, reported through
 * w->timeout_set). Returns 0 or -errno (nothing open). */
int board_watchdog_open(struct board_watchdog *w, const char *path, uint32_t timeout_s);

/* Kick: one write. Returns 0 or -errno. */
int board_watchdog_kick(const struct board_watchdog *w);

/* Disarm (magic close 'V') and close. Idempotent. */
void board_watchdog_close(struct board_watchdog *w);

#endif
