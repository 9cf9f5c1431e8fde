/* sd_notify.h - systemd's service notification protocol, without libsystemd.
 *
 * Under `Type=notify` systemd passes NOTIFY_SOCKET: a unix datagram socket
 * path, or an abstract socket name when it starts with '@'. The service
 * sends newline-separated KEY=VALUE assignments there: READY=1 once it
 * serves, STATUS=... free text for `systemctl status`, WATCHDOG=1 at least
 * every WATCHDOG_USEC microseconds when `WatchdogSec=` is set (systemd
 * kills and restarts a service that misses it), RELOADING=1 / STOPPING=1
 * around a reload and at shutdown (sd_notify(3), sd_watchdog_enabled(3)).
 *
 * Without NOTIFY_SOCKET every call is a no-op that succeeds. A failed send
 * is returned, never retried: notifications are advisory. Any thread, no
 * allocation; the socket is non-blocking. */
#ifndef BOARD_SD_NOTIFY_H
#define BOARD_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct board_notify {
    int fd; /* -1: not under systemd (or not Type=notify) */
    struct sockaddr_un addr;
    socklen_t addr_len;
    uint64_t watchdog_usec; /* 0: no watchdog for this process */
};

/* Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is ours
 * only if WATCHDOG_PID is unset or our pid) and open a datagram socket.
 * Returns 0 (n->fd is -1 when there is no NOTIFY_SOCKET), -EINVAL for a
 * NOTIFY_SOCKET that is neither an absolute path nor '@name' or is too
 * long, or -errno from socket(). n is always initialised. */
int board_notify_open(struct board_notify *n);

/* Send text (e.g. "READY=1\nSTATUS=serving") as one datagram. Returns 0
 * (also when not under systemd) or -errno. */
int board_notify_send(const struct board_notify *n, const char *text);

/* True when systemd expects WATCHDOG=1 from us. */
static inline bool board_notify_watchdog(const struct board_notify *n)
{
    return n->fd >= 0 && n->watchdog_usec > 0;
}

/* Close the socket. Idempotent. */
void board_notify_close(struct board_notify *n);

#endif
