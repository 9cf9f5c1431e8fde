/* guard_page.h - input that ends right before a PROT_NONE page, for the
 * codec tests (test_mqtt_codec_*, test_mqtt_props, test_sn_codec): a
 * decoder that reads one byte past what it was given faults, with or
 * without ASan. group_setup/group_teardown are the cmocka group hooks that
 * map and unmap the page; guarded() copies the input into place. */
#ifndef GUARD_PAGE_H
#define GUARD_PAGE_H

#include <stddef.h>
#include <stdint.h>

#define GUARD_DATA ((size_t)96 * 1024) /* the most a guarded input may hold */

int group_setup(void **state);

int group_teardown(void **state);

/* Copy b so that its last byte sits right before the guard page. */
const uint8_t *guarded(const uint8_t *b, size_t n);

#endif
