/* auth_psk.h - pre-shared keys: mosquitto's psk_file ("identity:hexkey"
 * lines) and the hex form of one key (bridge_psk). For TLS-PSK listeners
 * and bridges now, and MQTT-SN over DTLS (per-device keys) later.
 *
 * The parser is pure apart from gw_alloc: text in, a table out, no I/O,
 * no logging (fuzzed: tests/fuzz/fuzz_psk.c). Like mosquitto's psk_file:
 * '#' starts a comment line, blank lines are skipped, the first ':' ends
 * the identity (so an identity has no ':'), the key is hex (upper or lower
 * case, an even count of digits). Stricter than mosquitto where a looser
 * reading would hide a mistake: an identity given twice, an empty identity
 * or key, a key over 64 bytes, an identity over 128 bytes or with control
 * characters are errors naming the line. */
#ifndef AUTH_PSK_H
#define AUTH_PSK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AUTH_PSK_MAX_KEY      64u  /* bytes (512 bits) */
#define AUTH_PSK_MAX_IDENTITY 128u /* bytes */

struct auth_psk {
    char *identity; /* NUL-terminated, owned by the table */
    uint8_t key[AUTH_PSK_MAX_KEY];
    size_t key_len;
};

/* A parsed psk_file: n entries in file order. Free with auth_psk_table_free. */
struct auth_psk_table {
    struct auth_psk *v;
    size_t n;
};

/* Decode hex digits hex[0..n) into out (cap bytes). Returns the byte count
 * (> 0), or GW_E_MALFORMED (odd count, a non-hex digit, empty) or
 * GW_E_TOO_LARGE (over cap). */
ssize_t auth_psk_hex_decode(const char *hex, size_t n, uint8_t *out, size_t cap);

/* Parse psk_file text[0..len) (need not be NUL-terminated). name is used in
 * messages ("NAME:LINE: ..."). Returns 0 and *out, or GW_E_CONFIG with the
 * message in err, or -ENOMEM. *out is untouched on failure. */
int auth_psk_parse(const char *text, size_t len, const char *name, struct auth_psk_table *out,
                   char *err, size_t errcap);

/* Read and parse the file at path (at most 4 MiB). Errors as
 * auth_psk_parse, plus GW_E_CONFIG "psk_file PATH: <errno text>". */
int auth_psk_load(const char *path, struct auth_psk_table *out, char *err, size_t errcap);

/* Free the entries (keys are wiped first). An empty table is fine. */
void auth_psk_table_free(struct auth_psk_table *t);

#endif
