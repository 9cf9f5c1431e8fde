/* file_text.h - read a whole text file (password, ACL and SCRAM files) into
 * memory in one go, with a size bound, for parsers that work on a string. */
#ifndef FILE_TEXT_H
#define FILE_TEXT_H

#include <stddef.h>

/* Read the regular file at path into a new NUL-terminated buffer (*out,
 * freed with gw_free; *len: bytes read, without the NUL). Returns 0, or
 * -errno, -EISDIR for a directory, -EINVAL for another non-regular file,
 * -EFBIG over max_bytes, -ENOMEM. A file that shrinks while read gives
 * what was read. */
int file_text_read(const char *path, size_t max_bytes, char **out, size_t *len);

#endif
