/* sd_notify.c - the NOTIFY_SOCKET datagram protocol of sd_notify.h. */
#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A strict decimal of at most 19 digits; false for anything else. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    if (!s || !*s) {
        return false;
    }
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 19) {
            return false;
        }
        v = v * 10u + (uint64_t)(s[n] - '0');
    }
    *out = v;
    return true;
}

static uint64_t watchdog_usec(void)
{
    uint64_t usec = 0;
    uint64_t pid = 0;
    /* sd_watchdog_enabled(3): WATCHDOG_PID names the process meant; a
     * value for another process (we were exec'd by it) is not ours. */
    const char *p = getenv("WATCHDOG_PID"); /* NOLINT(concurrency-mt-unsafe): startup */
    if (p && (!parse_u64(p, &pid) || pid != (uint64_t)getpid())) {
        return 0;
    }
    const char *u = getenv("WATCHDOG_USEC"); /* NOLINT(concurrency-mt-unsafe): startup */
    return parse_u64(u, &usec) ? usec : 0;
}

int board_notify_open(struct board_notify *n)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
    const char *path = getenv("NOTIFY_SOCKET"); /* NOLINT(concurrency-mt-unsafe): startup */
    if (!path || !*path) {
        return 0;
    }
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(n->addr.sun_path) || len < 2) {
        return -EINVAL;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, path, len);
    if (path[0] == '@') {
        n->addr.sun_path[0] = '\0'; /* abstract namespace: unix(7) */
        n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    n->fd = fd;
    n->watchdog_usec = watchdog_usec();
    return 0;
}

int board_notify_send(const struct board_notify *n, const char *text)
{
    if (n->fd < 0) {
        return 0;
    }
    ssize_t w = sendto(n->fd, text, strlen(text), MSG_NOSIGNAL, (const struct sockaddr *)&n->addr,
                       n->addr_len);
    return w < 0 ? -errno : 0;
}

void board_notify_close(struct board_notify *n)
{
    if (n->fd >= 0) {
        (void)close(n->fd);
        n->fd = -1;
    }
}
