/* stream_ws.h - the server side of a WebSocket (RFC 6455) as a stream,
 * over any inner stream: TCP gives ws://, TLS gives wss://.
 *
 * It first answers the HTTP/1.1 upgrade (ws_handshake.h), then reads
 * the payload of binary frames in order, whatever their fragmentation
 * (MQTT packets may span frames and a frame may hold several: the MQTT
 * layer reassembles packets from the byte stream), answers pings,
 * answers a close with a close and then reads GW_E_CLOSED, and writes
 * what it is given as unmasked binary frames. Refusals are answered
 * before the error is returned: an HTTP status during the handshake, a
 * close frame with its code (1002 protocol error, 1003 a text frame
 * [MQTT-6.0.0-1], 1007, 1008 a ping flood, 1009 too big) afterwards;
 * `why` says what happened. Only the inner stream's ops are used, never
 * the socket. Loop thread only. */
#ifndef STREAM_WS_H
#define STREAM_WS_H

#include "stream.h"

#include <stddef.h>
#include <stdint.h>

struct stream_ws_opts {
    size_t headers_max; /* bytes of the request head (websockets_headers_size) */
    uint64_t frame_max; /* largest frame and message payload, 0 = RFC 6455's 2^63 - 1 */
};

/* Wrap inner (taken over on success: destroyed with the WebSocket).
 * Returns NULL on -ENOMEM; inner is then untouched and still the
 * caller's. */
struct stream *stream_ws_create(struct stream *inner, const struct stream_ws_opts *opts);

#endif
