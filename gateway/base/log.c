/* log.c - log sinks. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

unsigned gw_log_mask = GW_LOG_DEFAULT;

static unsigned log_dests = GW_LOG_STDERR;
static bool log_timestamps = true;
static FILE *log_file;
static bool syslog_open;

int gw_log_configure(unsigned mask, unsigned dests, const char *file_path, bool timestamps)
{
    int rc = 0;
    gw_log_mask = mask;
    log_dests = dests;
    log_timestamps = timestamps;
    if (log_file) {
        (void)fclose(log_file);
        log_file = NULL;
    }
    if ((dests & GW_LOG_FILE) && file_path) {
        log_file = fopen(file_path, "a");
        if (!log_file) {
            rc = -errno;
            log_dests &= ~(unsigned)GW_LOG_FILE;
        } else {
            setvbuf(log_file, NULL, _IOLBF, 0);
        }
    }
    if ((dests & GW_LOG_SYSLOG) && !syslog_open) {
        openlog("tern", LOG_PID, LOG_DAEMON);
        syslog_open = true;
    }
    return rc;
}

static const char *level_name(unsigned level)
{
    switch (level) {
    case GW_ERROR:
        return "ERROR";
    case GW_WARN:
        return "WARN";
    case GW_NOTICE:
        return "NOTICE";
    case GW_DEBUG:
        return "DEBUG";
    default:
        return "INFO";
    }
}

static int syslog_prio(unsigned level)
{
    switch (level) {
    case GW_ERROR:
        return LOG_ERR;
    case GW_WARN:
        return LOG_WARNING;
    case GW_NOTICE:
        return LOG_NOTICE;
    case GW_DEBUG:
        return LOG_DEBUG;
    default:
        return LOG_INFO;
    }
}

static void escape_controls(char *out, size_t cap, const char *s); /* below */

void gw_log_write(unsigned level, const char *module, const char *fmt, ...)
{
    char raw[1024];
    char msg[1024];
    char stamp[40] = "";
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    escape_controls(msg, sizeof(msg), raw);
    if (log_timestamps) {
        struct timespec ts;
        struct tm tm;
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        (void)gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        (void)snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
    }
    if (log_dests & GW_LOG_STDERR) {
        (void)fprintf(stderr, "%s%s %s: %s\n", stamp, level_name(level), module, msg);
    }
    if (log_dests & GW_LOG_STDOUT) {
        (void)fprintf(stdout, "%s%s %s: %s\n", stamp, level_name(level), module, msg);
        (void)fflush(stdout);
    }
    if ((log_dests & GW_LOG_FILE) && log_file) {
        (void)fprintf(log_file, "%s%s %s: %s\n", stamp, level_name(level), module, msg);
    }
    if (log_dests & GW_LOG_SYSLOG) {
        syslog(syslog_prio(level), "%s: %s", module, msg);
    }
}

void gw_log_close(void)
{
    if (log_file) {
        (void)fclose(log_file);
        log_file = NULL;
    }
    if (syslog_open) {
        closelog();
        syslog_open = false;
    }
}

/* s[0..n) into out (cap bytes, NUL-terminated), as \xNN for the octets
 * strict names (all of C0 and DEL; with strict also quotes, backslashes
 * and non-ASCII, for values a caller quotes). */
static void escape_into(char *out, size_t cap, const char *s, size_t n, bool strict)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0) {
        return;
    }
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        bool esc = c < 0x20 || c == 0x7f || (strict && (c > 0x7f || c == '"' || c == '\\'));
        if (esc) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/* Every log line passes through here: client ids, usernames and topics
 * reach lines through %s, and a newline or an escape sequence in one must
 * not forge a line or drive a terminal. At the one sink, it covers every
 * call site and transport. */
static void escape_controls(char *out, size_t cap, const char *s)
{
    escape_into(out, cap, s, strlen(s), false);
}

const char *gw_log_escape(char *out, size_t cap, const char *s, size_t n)
{
    escape_into(out, cap, s, n, true);
    return out;
}
