/* man.h - tern(8) and tern.conf(5) in man(7) troff, printed by
 * `tern --man tern.8|tern.conf.5` at build time (packaging), so the
 * configuration page comes from the option table itself. */
#ifndef MAN_H
#define MAN_H

#include <stdio.h>

/* Print the page named name ("tern.8" or "tern.conf.5"). Returns 0, or -1
 * for an unknown name. */
int man_print(FILE *out, const char *name);

#endif
