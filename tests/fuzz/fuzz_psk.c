/* fuzz_psk.c - libFuzzer target for the psk_file parser (auth_psk.c):
 * any input either parses into entries that keep the file's limits (an
 * identity of 1..128 printable bytes, a key of 1..64 bytes, no identity
 * twice) or fails with a terminated "fuzz:LINE: ..." message; nothing
 * leaks through gw_alloc. */
#include "alloc.h"
#include "auth_psk.h"
#include "gw_err.h"

#include <errno.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_psk_table t;
    char err[256];
    memset(err, 'x', sizeof(err));
    int rc = auth_psk_parse((const char *)data, size, "fuzz", &t, err, sizeof(err));
    if (rc == 0) {
        for (size_t i = 0; i < t.n; i++) {
            size_t n = strlen(t.v[i].identity);
            if (n == 0 || n > AUTH_PSK_MAX_IDENTITY || t.v[i].key_len == 0 ||
                t.v[i].key_len > AUTH_PSK_MAX_KEY || strchr(t.v[i].identity, ':')) {
                abort();
            }
            for (size_t j = 0; j < i; j++) {
                if (strcmp(t.v[i].identity, t.v[j].identity) == 0) {
                    abort();
                }
            }
        }
        auth_psk_table_free(&t);
    } else if (rc != -ENOMEM) {
        if (rc != GW_E_CONFIG || !memchr(err, '\0', sizeof(err)) || strstr(err, "fuzz:") != err) {
            abort();
        }
    }
    if (gw_alloc_bytes() != 0) {
        abort();
    }
    return 0;
}
