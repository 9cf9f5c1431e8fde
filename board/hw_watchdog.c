/* hw_watchdog.c - /dev/watchdog of hw_watchdog.h. board/ is the only
 * ioctl user (STYLE.md 1). */
#include "hw_watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <unistd.h>

int board_watchdog_open(struct board_watchdog *w, const char *path, uint32_t timeout_s)
{
    w->fd = -1;
    w->timeout_s = timeout_s;
    w->timeout_set = false;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -errno;
    }
    int t = (int)timeout_s;
    if (ioctl(fd, WDIOC_SETTIMEOUT, &t) == 0) {
        w->timeout_set = true;
        w->timeout_s = (uint32_t)t; /* the driver may round it */
    }
    w->fd = fd;
    return 0;
}

int board_watchdog_kick(const struct board_watchdog *w)
{
    if (w->fd < 0) {
        return -EBADF;
    }
    ssize_t n = write(w->fd, "k", 1);
    return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

void board_watchdog_close(struct board_watchdog *w)
{
    if (w->fd < 0) {
        return;
    }
    (void)!write(w->fd, "V", 1); /* magic close: a clean stop disarms it */
    (void)close(w->fd);
    w->fd = -1;
}
