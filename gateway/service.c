/* service.c - systemd notifications and the hardware watchdog of
 * service.h. */
#include "service.h"

#include "broker.h"
#include "gw_err.h"
#include "log.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

void service_open(struct service *s)
{
    memset(s, 0, sizeof(*s));
    s->wd.fd = -1;
    int rc = board_notify_open(&s->nfy);
    if (rc < 0) {
        gw_log(GW_WARN, "service", "NOTIFY_SOCKET unusable, not notifying systemd: %s",
               gw_strerror(rc));
    }
}

static void send_text(struct service *s, const char *text)
{
    int rc = board_notify_send(&s->nfy, text);
    if (rc < 0) {
        gw_log(GW_DEBUG, "service", "notify '%.20s' failed: %s", text, gw_strerror(rc));
    }
}

void service_status(struct service *s, const char *text)
{
    char msg[256];
    (void)snprintf(msg, sizeof(msg), "STATUS=%s", text);
    send_text(s, msg);
}

static void running_status(struct service *s, const char *prefix)
{
    char why[160] = "";
    bool ok = ops_healthy(s->ops, why, sizeof(why));
    char msg[400];
    (void)snprintf(msg, sizeof(msg), "%sSTATUS=running: %zu clients connected, %zu sessions; %s%s",
                   prefix, s->b->n_clients, s->b->sessions.count,
                   ok ? "healthy" : "unhealthy: ", ok ? "" : why);
    send_text(s, msg);
}

static void on_sd_timer(struct loop *l, void *arg)
{
    struct service *s = arg;
    send_text(s, "WATCHDOG=1");
    (void)loop_timer_start(l, &s->sd_timer, loop_now_ms(l) + s->sd_every_ms);
}

static void on_hw_timer(struct loop *l, void *arg)
{
    struct service *s = arg;
    int rc = board_watchdog_kick(&s->wd);
    if (rc < 0) {
        gw_log(GW_WARN, "service", "watchdog kick failed: %s", gw_strerror(rc));
    }
    (void)loop_timer_start(l, &s->hw_timer, loop_now_ms(l) + s->hw_every_ms);
}

static void on_status_timer(struct loop *l, void *arg)
{
    struct service *s = arg;
    running_status(s, "");
    (void)loop_timer_start(l, &s->status_timer, loop_now_ms(l) + SERVICE_STATUS_MS);
}

static int open_hw_watchdog(struct service *s)
{
    const struct gw_config *cfg = s->b->cfg;
    if (!cfg->watchdog_device) {
        return 0;
    }
    int rc = board_watchdog_open(&s->wd, cfg->watchdog_device, cfg->watchdog_timeout_s);
    if (rc < 0) {
        gw_log(GW_ERROR, "service", "watchdog_device %s: %s", cfg->watchdog_device,
               gw_strerror(rc));
        return rc;
    }
    if (!s->wd.timeout_set) {
        gw_log(GW_WARN, "service",
               "watchdog_device %s did not take a timeout of %u s; kicking as if it had",
               cfg->watchdog_device, cfg->watchdog_timeout_s);
    }
    s->hw_every_ms = (uint64_t)s->wd.timeout_s * 1000u / 3u;
    s->hw_every_ms = s->hw_every_ms ? s->hw_every_ms : 300u;
    gw_log(GW_NOTICE, "service", "watchdog_device %s armed: timeout %u s, kicked every %llu ms",
           cfg->watchdog_device, s->wd.timeout_s, (unsigned long long)s->hw_every_ms);
    (void)board_watchdog_kick(&s->wd);
    return loop_timer_start(s->loop, &s->hw_timer, loop_now_ms(s->loop) + s->hw_every_ms);
}

int service_ready(struct service *s, struct broker *b, struct ops *ops)
{
    s->b = b;
    s->ops = ops;
    loop_timer_init(&s->sd_timer, on_sd_timer, s);
    loop_timer_init(&s->hw_timer, on_hw_timer, s);
    loop_timer_init(&s->status_timer, on_status_timer, s);
    int rc = open_hw_watchdog(s);
    if (rc < 0) {
        return rc;
    }
    uint64_t now = loop_now_ms(s->loop);
    if (board_notify_watchdog(&s->nfy)) {
        /* sd_watchdog_enabled(3) recommends half the interval. */
        s->sd_every_ms = s->nfy.watchdog_usec / 2000u;
        s->sd_every_ms = s->sd_every_ms ? s->sd_every_ms : 1u;
        send_text(s, "WATCHDOG=1");
        rc = loop_timer_start(s->loop, &s->sd_timer, now + s->sd_every_ms);
    }
    if (rc == 0 && s->nfy.fd >= 0) {
        rc = loop_timer_start(s->loop, &s->status_timer, now + SERVICE_STATUS_MS);
        rc = rc == 0 ? ops_watch_loop(ops) : rc; /* STATUS= says whether the loop stalls */
    }
    running_status(s, "READY=1\n");
    return rc;
}

void service_reloading(struct service *s)
{
    send_text(s, "RELOADING=1\nSTATUS=reloading the configuration");
}

void service_reloaded(struct service *s)
{
    running_status(s, "READY=1\n");
}

void service_stopping(struct service *s)
{
    if (s->stopping) {
        return;
    }
    s->stopping = true;
    send_text(s, "STOPPING=1\nSTATUS=stopping");
    if (s->loop) {
        loop_timer_stop(s->loop, &s->sd_timer);
        loop_timer_stop(s->loop, &s->hw_timer);
        loop_timer_stop(s->loop, &s->status_timer);
    }
    board_watchdog_close(&s->wd);
}

void service_close(struct service *s)
{
    board_notify_close(&s->nfy);
}
