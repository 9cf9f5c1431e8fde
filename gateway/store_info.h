/* store_info.h - `tern --store-info`: the store's figures for people
 * debugging a gateway in the field. */
#ifndef STORE_INFO_H
#define STORE_INFO_H

#include "cfg.h"

#include <stdio.h>

/* Open the store named by cfg (read only in effect: nothing is written
 * unless the store does not exist yet, in which case nothing is created
 * and an error is printed), print sessions, queue depths, oldest message
 * ages, retained count and size to out. Safe while tern runs (LMDB allows
 * readers in other processes). Returns 0 or an error (printed). */
int store_info_print(const struct gw_config *cfg, FILE *out);

#endif
