/* stream.c - what every stream shares: the words of the last failure. */
#include "stream.h"

#include <stdarg.h>
#include <stdio.h>

/* One line, for the owner's log line right after the op that failed. Per
 * thread: server handshakes run on the TLS handshake worker
 * (tls_hs_worker.h), which copies the line into its result. */
static _Thread_local char why[256];

void stream_vset_why(const char *fmt, va_list ap)
{
    (void)vsnprintf(why, sizeof(why), fmt, ap);
}

void stream_set_why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    stream_vset_why(fmt, ap);
    va_end(ap);
}

const char *stream_why(void)
{
    return why;
}

void stream_clear_why(void)
{
    why[0] = '\0';
}
