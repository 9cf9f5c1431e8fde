/* prom.h - Prometheus text exposition format 0.0.4, written into an HTTP
 * reply body.
 *
 * A family is announced once (prom_family: # HELP and # TYPE) and its
 * samples follow it, all together, as the format requires. Label values
 * are escaped here (backslash, double quote, newline); label names and
 * metric names are the caller's constants. Loop thread. */
#ifndef PROM_H
#define PROM_H

#include "http_server.h"

#include <stdint.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* # HELP name help \n # TYPE name type ("counter", "gauge", "histogram"). */
void prom_family(struct http_reply *r, const char *name, const char *type, const char *help);

/* One sample: name{labels} value. labels is NULL or the text between the
 * braces, built with prom_label. */
void prom_u64(struct http_reply *r, const char *name, const char *labels, uint64_t v);
void prom_f64(struct http_reply *r, const char *name, const char *labels, double v);

/* Append `key="value"` (value escaped) to the label text in buf (cap
 * bytes, NUL-terminated; starts empty), with a comma if buf is not empty.
 * A value that does not fit is cut. Returns buf. */
char *prom_label(char *buf, size_t cap, const char *key, const char *value);

/* Histogram samples of family name: cumulative name_bucket{le=...} for
 * each of n bounds and +Inf from per-bucket counts (n + 1 of them), then
 * name_sum and name_count. labels as prom_u64 (may be NULL). */
void prom_histogram(struct http_reply *r, const char *name, const char *labels,
                    const double *bounds, const uint64_t *buckets, size_t n, double sum);

#endif
