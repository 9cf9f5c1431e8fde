/* file_text.c - whole-file reads for the parsers of text files. See
 * file_text.h. */
#include "file_text.h"

#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

int file_text_read(const char *path, size_t max_bytes, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && !S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if (rc == 0 && (uint64_t)st.st_size > (uint64_t)max_bytes) {
        rc = -EFBIG;
    }
    size_t size = rc == 0 ? (size_t)st.st_size : 0;
    char *buf = rc == 0 ? gw_alloc(size + 1) : NULL;
    size_t got = 0;
    rc = rc < 0 ? rc : !buf ? -ENOMEM : 0;
    while (rc == 0 && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno != EINTR) {
            rc = -errno;
        } else if (r == 0) {
            break; /* file shrank: parse what we have */
        } else if (r > 0) {
            got += (size_t)r;
        }
    }
    (void)close(fd);
    if (rc < 0 || !buf) {
        gw_free(buf);
        return rc < 0 ? rc : -ENOMEM;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}
