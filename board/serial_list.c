/* serial_list.c - enumerate serial ports (serial_port.h): what
 * libserialport knows, plus the stable /dev/serial/by-id/ name udev gives
 * a USB dongle (what a config should name, so the port keeps its name
 * whichever ttyUSBn it gets after re-plugging). */
#include "serial_port.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libserialport.h>

#define BY_ID_DIR "/dev/serial/by-id"

bool board_serial_by_id(const char *dir, const char *path, char *out, size_t cap)
{
    struct stat want;
    if (stat(path, &want) < 0) {
        return false;
    }
    DIR *d = opendir(dir);
    if (!d) {
        return false;
    }
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) { /* NOLINT(concurrency-mt-unsafe) */
        char full[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.') {
            continue;
        }
        int n = snprintf(full, sizeof(full), "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(full) || stat(full, &st) < 0) {
            continue;
        }
        /* Same device node: the same character device number. */
        if (S_ISCHR(st.st_mode) && st.st_rdev == want.st_rdev) {
            found = (size_t)n < cap;
            if (found) {
                memcpy(out, full, (size_t)n + 1);
            }
        }
    }
    (void)closedir(d);
    return found;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int board_serial_list(board_serial_list_cb *cb, void *arg, char *err, size_t cap)
{
    struct sp_port **ports = NULL;
    if (sp_list_ports(&ports) != SP_OK) {
        if (err && cap) {
            char *m = sp_last_error_message();
            (void)snprintf(err, cap, "cannot list serial ports: %s", m ? m : "unknown error");
            sp_free_error_message(m);
        }
        return -EIO;
    }
    int n = 0;
    for (; ports[n]; n++) {
        const struct sp_port *p = ports[n];
        char by_id[PATH_MAX] = "";
        struct board_serial_info info = {.usb_vid = -1, .usb_pid = -1};
        info.path = or_empty(sp_get_port_name(p));
        info.description = or_empty(sp_get_port_description(p));
        info.serial = "";
        if (sp_get_port_transport(p) == SP_TRANSPORT_USB) {
            (void)sp_get_port_usb_vid_pid(p, &info.usb_vid, &info.usb_pid);
            info.serial = or_empty(sp_get_port_usb_serial(p));
        }
        (void)board_serial_by_id(BY_ID_DIR, info.path, by_id, sizeof(by_id));
        info.by_id = by_id;
        cb(arg, &info);
    }
    sp_free_port_list(ports);
    return n;
}
