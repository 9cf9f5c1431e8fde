/* sn_amp.h - anti-amplification accounting for one MQTT-SN peer.
 *
 * UDP source addresses can be forged: a CONNECT and a SUBSCRIBE sent with a
 * victim's address would make the gateway flood the victim. As QUIC does
 * for an unvalidated address (RFC 9000 section 8.1), the gateway sends a
 * peer at most `factor` times the bytes it received from it until the peer
 * proves that it receives what the gateway sends: it echoes a value it
 * could only have read in a datagram from the gateway (a topic id or
 * message id drawn from a CSPRNG, sn_rand.h). After that the peer is
 * validated and the limit no longer applies.
 *
 * Pure accounting: no clock, no I/O, no allocation. The caller keeps one
 * struct sn_amp per peer (per client), zeroed at creation. */
#ifndef SN_AMP_H
#define SN_AMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SN_AMP_FACTOR_DEFAULT 3u /* RFC 9000 section 8.1: three times */
#define SN_AMP_STRIKES_MAX    8u /* wrong proofs tolerated before the client is dropped */

struct sn_amp {
    uint64_t rx;        /* bytes received from the peer */
    uint64_t tx;        /* bytes sent to it (only what the limit let through) */
    uint64_t blocked;   /* datagrams not sent because of the limit */
    uint8_t strikes;    /* proofs that did not match (blind guesses) */
    bool validated;     /* the peer proved its address: no limit */
    bool limited;       /* in a limited episode (for logging once) */
};

/* n bytes arrived from the peer (whole datagram, as received). */
void sn_amp_on_rx(struct sn_amp *a, size_t n);

/* May a datagram of n bytes go to the peer? factor 0 means no limit.
 * Returns true and counts n as sent, or false and counts one blocked
 * datagram (nothing else changes). */
bool sn_amp_take(struct sn_amp *a, size_t n, uint32_t factor);

/* The peer echoed an unpredictable value: from now on it is not limited. */
void sn_amp_validate(struct sn_amp *a);

/* The peer sent a proof that does not match (a REGACK for another message
 * or topic id). A sender that cannot read our datagrams can only guess; the
 * guesses are bounded so that the 32 bits of a REGISTER's ids stay hard to
 * hit. Returns true once more than SN_AMP_STRIKES_MAX were seen (drop the
 * client). No-op (false) for a validated peer. */
bool sn_amp_strike(struct sn_amp *a);

/* Bytes that may still go before the limit (UINT64_MAX when validated or
 * factor 0). */
uint64_t sn_amp_room(const struct sn_amp *a, uint32_t factor);

#endif
