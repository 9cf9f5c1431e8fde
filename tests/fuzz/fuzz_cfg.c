/* fuzz_cfg.c - libFuzzer target for the config parser.
 *
 * The input becomes a NUL-terminated string for cfg_load_string_flags with
 * CFG_F_NO_INCLUDE, so include_dir never touches the filesystem. A loaded
 * config must pass cfg_validate again and diff as equal to itself. */
#include "alloc.h"
#include "cfg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    size_t base = gw_alloc_bytes();
    struct gw_config *c = NULL;
    char err[256];
    if (cfg_load_string_flags(text, "fuzz.conf", CFG_F_NO_INCLUDE, &c, err, sizeof(err)) == 0) {
        if (cfg_validate(c, err, sizeof(err)) != 0 ||
            cfg_diff_restart_needed(c, c, err, sizeof(err)) != 0) {
            abort();
        }
        cfg_free(c);
    } else if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort(); /* the message must always be terminated */
    }
    if (gw_alloc_bytes() != base) {
        abort(); /* leak through gw_alloc on some path */
    }
    free(text);
    return 0;
}
