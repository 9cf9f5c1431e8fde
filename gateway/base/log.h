/* log.h - leveled logging to stderr, stdout, a file and/or syslog.
 *
 * gw_log tests the level mask before evaluating its arguments (Redis), so a
 * debug line costs one branch when debug is off. One line per event with
 * key=value context; never log passwords or payloads. Levels follow
 * mosquitto's log_type names so configs carry over. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum gw_log_level {
    GW_ERROR       = 1u << 0, /* log_type error */
    GW_WARN        = 1u << 1, /* log_type warning */
    GW_NOTICE      = 1u << 2, /* log_type notice */
    GW_INFO        = 1u << 3, /* log_type information */
    GW_DEBUG       = 1u << 4, /* log_type debug */
    GW_SUBSCRIBE   = 1u << 5, /* log_type subscribe */
    GW_UNSUBSCRIBE = 1u << 6  /* log_type unsubscribe */
};

#define GW_LOG_ALL     0x7fu
#define GW_LOG_DEFAULT (GW_ERROR | GW_WARN | GW_NOTICE | GW_INFO)

enum gw_log_dest {
    GW_LOG_STDERR = 1u << 0,
    GW_LOG_STDOUT = 1u << 1,
    GW_LOG_FILE   = 1u << 2,
    GW_LOG_SYSLOG = 1u << 3
};

extern unsigned gw_log_mask; /* read by the macro; set with gw_log_configure */

#define gw_log(level, module, ...)                                                                 \
    do {                                                                                           \
        if (gw_log_mask & (unsigned)(level)) {                                                     \
            gw_log_write((level), (module), __VA_ARGS__);                                          \
        }                                                                                          \
    } while (0)

/* Set the level mask, destinations and timestamps. file_path is used when
 * dests has GW_LOG_FILE (opened in append mode; reopened on each call, so
 * SIGHUP reopens a rotated file). Returns 0 or -errno from opening the file
 * (the other destinations are applied anyway). */
int gw_log_configure(unsigned mask, unsigned dests, const char *file_path, bool timestamps);

/* Write one line. Use the gw_log macro instead. */
void gw_log_write(unsigned level, const char *module, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Close the log file and syslog. */
void gw_log_close(void);

/* Copy s[0..n) into out (cap bytes, NUL-terminated) with control and
 * non-ASCII bytes escaped as \xNN and quotes escaped, for client ids and
 * topics in log lines. Returns out. */
const char *gw_log_escape(char *out, size_t cap, const char *s, size_t n);

#endif
