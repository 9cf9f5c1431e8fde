/* fuzz_ws_upgrade.c - the WebSocket opening handshake
 * (gateway/stream/ws_handshake.c) over the strict HTTP parser.
 *
 * Any input within the header bound: ws_upgrade_parse returns a count
 * within the input with a status among those it answers, GW_E_INCOMPLETE,
 * or a 400 / 431 refusal; an accepted upgrade carries a 28-character
 * accept key and the mqtt subprotocol; every answer fits its buffer and
 * is a well-formed status line; every strict prefix of an accepted head
 * is GW_E_INCOMPLETE. */
#include "gw_err.h"
#include "ws_handshake.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool status_known(int s)
{
    return s == 101 || s == 400 || s == 404 || s == 405 || s == 426 || s == 431;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) {
        return 0; /* the largest websockets_headers_size worth fuzzing */
    }
    struct ws_upgrade u;
    ssize_t n = ws_upgrade_parse(data, size, &u);
    if (n == GW_E_INCOMPLETE) {
        return 0;
    }
    if (n < 0 && n != GW_E_MALFORMED && n != GW_E_TOO_LARGE) {
        abort();
    }
    if ((n > 0 && (size_t)n > size) || !status_known(u.status) || !u.why) {
        abort();
    }
    if (n < 0 && u.status != 400 && u.status != 431) {
        abort();
    }
    if (u.status == 101 && (strlen(u.accept) != 28 || !u.subprotocol)) {
        abort();
    }
    uint8_t ans[512];
    size_t an = ws_upgrade_answer(&u, ans, sizeof(ans));
    if (an < 16 || memcmp(ans, "HTTP/1.1 ", 9) != 0 || !memmem(ans, an, "\r\n\r\n", 4)) {
        abort();
    }
    if (u.status == 101) {
        for (size_t k = 0; k < (size_t)n; k++) {
            struct ws_upgrade v;
            if (ws_upgrade_parse(data, k, &v) != GW_E_INCOMPLETE) {
                abort();
            }
        }
    }
    return 0;
}
