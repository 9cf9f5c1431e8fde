/* prom.c - the Prometheus text format writer of prom.h. */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void prom_family(struct http_reply *r, const char *name, const char *type, const char *help)
{
    (void)http_body_printf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_name(struct http_reply *r, const char *name, const char *labels)
{
    if (labels && labels[0]) {
        (void)http_body_printf(r, "%s{%s} ", name, labels);
    } else {
        (void)http_body_printf(r, "%s ", name);
    }
}

void prom_u64(struct http_reply *r, const char *name, const char *labels, uint64_t v)
{
    sample_name(r, name, labels);
    (void)http_body_printf(r, "%llu\n", (unsigned long long)v);
}

void prom_f64(struct http_reply *r, const char *name, const char *labels, double v)
{
    sample_name(r, name, labels);
    if (isnan(v)) {
        (void)http_body_printf(r, "NaN\n");
    } else if (isinf(v)) {
        (void)http_body_printf(r, "%s\n", v > 0 ? "+Inf" : "-Inf");
    } else {
        (void)http_body_printf(r, "%.17g\n", v);
    }
}

char *prom_label(char *buf, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(buf);
    int k = snprintf(buf + n, cap - n, "%s%s=\"", n ? "," : "", key);
    if (k < 0 || (size_t)k >= cap - n) {
        buf[n] = '\0';
        return buf;
    }
    n += (size_t)k;
    /* Text format 0.0.4: label values escape \, " and newline. Room for
     * an escape pair plus the closing quote is kept. */
    for (const char *p = value; *p && n + 4 < cap; p++) {
        if (*p == '\\' || *p == '"') {
            buf[n++] = '\\';
            buf[n++] = *p;
        } else if (*p == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *p;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

void prom_histogram(struct http_reply *r, const char *name, const char *labels,
                    const double *bounds, const uint64_t *buckets, size_t n, double sum)
{
    char sname[128];
    uint64_t cum = 0;
    (void)snprintf(sname, sizeof(sname), "%s_bucket", name);
    for (size_t i = 0; i <= n; i++) {
        cum += buckets[i];
        char le[32];
        char lab[256];
        (void)snprintf(lab, sizeof(lab), "%s", labels ? labels : "");
        if (i < n) {
            (void)snprintf(le, sizeof(le), "%g", bounds[i]);
        } else {
            (void)snprintf(le, sizeof(le), "+Inf");
        }
        prom_u64(r, sname, prom_label(lab, sizeof(lab), "le", le), cum);
    }
    (void)snprintf(sname, sizeof(sname), "%s_sum", name);
    prom_f64(r, sname, labels, sum);
    (void)snprintf(sname, sizeof(sname), "%s_count", name);
    prom_u64(r, sname, labels, cum);
}
