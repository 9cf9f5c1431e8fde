/* service.h - tern as a system service: systemd notifications (READY,
 * STATUS, WATCHDOG, RELOADING, STOPPING; board/sd_notify.h) and the
 * optional hardware watchdog (watchdog_device; board/hw_watchdog.h),
 * both kicked from loop timers so a stuck loop stops them.
 *
 * Composition root (main.c's helper). Loop thread only. */
#ifndef SERVICE_H
#define SERVICE_H

#include "hw_watchdog.h"
#include "loop.h"
#include "sd_notify.h"

#include <stdint.h>

struct broker;
struct ops;

#define SERVICE_STATUS_MS 10000u /* STATUS= refresh while running */

struct service {
    struct loop *loop;
    struct broker *b;
    struct ops *ops;
    struct board_notify nfy;
    struct board_watchdog wd;
    struct loop_timer sd_timer;     /* WATCHDOG=1 at half of WATCHDOG_USEC */
    struct loop_timer hw_timer;     /* device kick at a third of its timeout */
    struct loop_timer status_timer; /* STATUS= every SERVICE_STATUS_MS */
    uint64_t sd_every_ms;
    uint64_t hw_every_ms;
    bool stopping;
};

/* Read the notify environment (before anything else starts; set s->loop
 * once the loop exists). A bad NOTIFY_SOCKET is logged and ignored. */
void service_open(struct service *s);

/* STATUS=text (startup stages, shown by systemctl status). */
void service_status(struct service *s, const char *text);

/* Everything is up: open the hardware watchdog if configured (an error
 * stops tern: an asked-for watchdog that is not there is a setup fault),
 * start the timers, send READY=1 with a STATUS line. Returns 0 or -errno. */
int service_ready(struct service *s, struct broker *b, struct ops *ops);

/* Around a SIGHUP reload: RELOADING=1, then READY=1 again. */
void service_reloading(struct service *s);
void service_reloaded(struct service *s);

/* Shutdown begins: STOPPING=1, stop the timers, disarm the hardware
 * watchdog (magic close). Idempotent. */
void service_stopping(struct service *s);

/* Close the notify socket (after service_stopping). */
void service_close(struct service *s);

#endif
