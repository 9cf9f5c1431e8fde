/* list_ports.c - `tern --list-ports` (list_ports.h), over board/'s
 * enumeration (libserialport plus /dev/serial/by-id). */
#include "list_ports.h"

#include "serial_port.h"

static void print_port(void *arg, const struct board_serial_info *p)
{
    FILE *out = arg;
    (void)fprintf(out, "%s\n", p->path);
    if (p->usb_vid >= 0) {
        (void)fprintf(out, "    usb %04x:%04x%s%s\n", (unsigned)p->usb_vid, (unsigned)p->usb_pid,
                      p->serial[0] ? "  serial " : "", p->serial);
    }
    if (p->description[0]) {
        (void)fprintf(out, "    description %s\n", p->description);
    }
    /* What to configure: the stable name when udev made one. */
    (void)fprintf(out, "    mqttsn_serial %s\n", p->by_id[0] ? p->by_id : p->path);
}

int list_ports_print(FILE *out, FILE *err)
{
    char why[256] = "";
    int n = board_serial_list(print_port, out, why, sizeof(why));
    if (n < 0) {
        (void)fprintf(err, "tern: --list-ports: %s\n", why);
        return n;
    }
    if (n == 0) {
        (void)fprintf(out, "no serial ports found\n");
    }
    return 0;
}
