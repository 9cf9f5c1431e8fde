/* sn_serial.h - MQTT-SN over a serial port (issue 13): the transport of an
 * `mqttsn_serial DEVICE` block, as the gateway sees it (sn_transport.h).
 *
 * One port carries one framing (sn_frame.h). Peers: with raw and slip the
 * port is one link, so every message comes from the same one-octet peer
 * address and a forwarder's nodes are told apart by the gateway through
 * their §5.5 Encapsulation; with xbee the peer is the radio's 64-bit
 * source address (8 octets), one client per address.
 *
 * The port comes and goes (hot-plug): a read or write error of a vanished
 * device (EIO, ENXIO, ENODEV, hang-up) closes it, logs once and re-opens
 * the same path with back-off (250 ms doubling to 5 s), which also finds a
 * new device behind the same /dev/serial/by-id/ symlink. Sessions are not
 * touched: their keep-alive and sleep rules decide.
 *
 * Output is queued per port, bounded and paced to the line rate (octets
 * per second = baud / bits per character): over the soft bound a QoS 0 or
 * -1 PUBLISH is dropped and counted; everything else (acknowledgements,
 * QoS 1/2, control) is queued up to the hard bound (4 x soft), beyond
 * which send fails and MQTT-SN's retransmission covers it.
 * Loop thread only. */
#ifndef SN_SERIAL_H
#define SN_SERIAL_H

#include "serial_port.h"
#include "sn_frame.h"
#include "sn_transport.h"

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct sn_serial;

#define SN_SERIAL_MSG_MAX 1024u /* largest MQTT-SN message on a serial link */

extern const struct sn_transport_ops sn_serial_ops; /* ctx is the struct sn_serial */

/* What a port counted since it was configured (across re-opens). */
struct sn_serial_stats {
    uint64_t octets_in;
    uint64_t octets_out;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t framing_errors;
    uint64_t crc_errors;
    uint64_t dropped_qos0;    /* QoS 0 / -1 PUBLISH dropped: output over the soft bound */
    uint64_t dropped_full;    /* other messages refused: output at the hard bound */
    uint64_t dropped_too_big; /* over SN_SERIAL_MSG_MAX */
    uint64_t xbee_tx_failed;  /* transmit status reporting a failure */
    uint64_t opens;           /* successful opens, the first included */
    uint64_t losses;          /* times the device vanished */
};

struct sn_serial_params {
    const char *path; /* borrowed for the call; copied */
    struct board_serial_cfg line;
    enum sn_framing framing;
    bool xbee_escaped; /* API mode 2 */
};

/* Configure the port and try to open it; when the device is not there
 * (yet) it is logged and retried with back-off: a gateway may boot before
 * its dongle enumerates. cb gets every message with its peer. Returns 0
 * and *out, or -ENOMEM / -EINVAL (path too long). */
int sn_serial_open(struct loop *l, const struct sn_serial_params *sp, sn_rx_cb *cb, void *arg,
                   struct sn_serial **out);

/* Close the port, stop every timer, free s. NULL is a no-op. */
void sn_serial_close(struct sn_serial *s);

/* The link's broadcast peer: where ADVERTISE and GWINFO go (xbee
 * 0x000000000000FFFF; raw and slip the port itself). */
void sn_serial_broadcast(const struct sn_serial *s, struct sn_peer *out);

/* Tretry default for this link (MQTT-SN 1.2 §6.13 suggests 10 to 15 s):
 * 10 s plus twice the time a full output queue needs at line rate, so a
 * retransmission never races its own queued original on a slow link. */
uint32_t sn_serial_default_retry_ms(const struct sn_serial *s);

bool sn_serial_is_open(const struct sn_serial *s);

/* Counters (frame counters of the decoder included). */
void sn_serial_get_stats(const struct sn_serial *s, struct sn_serial_stats *out);

/* The configured path and a short name for $SYS topics and log lines. */
const char *sn_serial_path(const struct sn_serial *s);

#endif
