/* clock.h - monotonic time. Timeouts never use wall-clock time: gateways
 * boot without an RTC and NTP steps the clock. */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t gw_clock_now_ms(void);

/* The same in microseconds (work budgets within one loop turn). */
uint64_t gw_clock_now_us(void);

/* Seconds of wall-clock time, for $SYS and log stamps only. */
int64_t gw_clock_wall_s(void);

#endif
