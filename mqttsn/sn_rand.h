/* sn_rand.h - unpredictable MQTT-SN identifiers.
 *
 * Gateway-assigned topic ids and the message ids of gateway REGISTERs are
 * the values a peer echoes to prove it receives what the gateway sends
 * (sn_amp.h): a sender with a forged address must not be able to guess
 * them, so they come from the kernel's CSPRNG (getrandom(2)), never from a
 * counter. Loop thread only (a small pool refilled by one syscall). */
#ifndef SN_RAND_H
#define SN_RAND_H

#include <stdint.h>

/* A random value in lo..hi (1 <= lo <= hi <= 65535). If the kernel gives
 * no randomness (it never fails once the pool is initialised), falls back
 * to a mix of the clock and a counter and logs once. */
uint16_t sn_rand_range(uint16_t lo, uint16_t hi);

#endif
