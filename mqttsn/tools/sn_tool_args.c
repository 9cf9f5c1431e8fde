/* sn_tool_args.c - command-line value parsing and file reading for the
 * MQTT-SN field tools. Errors are printed here, once, naming the option. */
#include "gw_err.h"
#include "sn_tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sn_tool_parse_uint(const char *prog, const char *what, const char *s, unsigned long max,
                       unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v > max) {
        (void)fprintf(stderr, "%s: %s must be a number from 0 to %lu, not \"%s\"\n", prog, what,
                      max, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int sn_tool_parse_qos(const char *prog, const char *s, int min, int *out)
{
    if (strcmp(s, "-1") == 0 && min < 0) {
        *out = -1;
        return 0;
    }
    if ((s[0] == '0' || s[0] == '1' || s[0] == '2') && s[1] == '\0') {
        *out = s[0] - '0';
        return 0;
    }
    (void)fprintf(stderr, "%s: QoS must be %s0, 1 or 2, not \"%s\"\n", prog, min < 0 ? "-1, " : "",
                  s);
    return -EINVAL;
}

int sn_tool_parse_short(const char *prog, const char *s, uint8_t out[2])
{
    /* §3 "short topic name": exactly two characters, no wildcards in them. */
    if (strlen(s) != 2 || strpbrk(s, "+#")) {
        (void)fprintf(stderr, "%s: a short topic name is exactly two characters, not \"%s\"\n",
                      prog, s);
        return -EINVAL;
    }
    out[0] = (uint8_t)s[0];
    out[1] = (uint8_t)s[1];
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int sn_tool_parse_node_id(const char *prog, const char *s, struct sn_tool_cfg *cfg)
{
    /* "0x0a1b..." is hex bytes (radio addresses); anything else is taken as
     * the bytes of the string. */
    size_t n = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        const char *h = s + 2;
        size_t hl = strlen(h);
        if (hl == 0 || hl % 2 || hl / 2 > SN_TOOL_NODE_ID_MAX) {
            goto bad;
        }
        for (; n < hl / 2; n++) {
            int hi = hexval(h[2 * n]);
            int lo = hexval(h[2 * n + 1]);
            if (hi < 0 || lo < 0) {
                goto bad;
            }
            cfg->node_id[n] = (uint8_t)(hi << 4 | lo);
        }
    } else {
        n = strlen(s);
        if (n == 0 || n > SN_TOOL_NODE_ID_MAX) {
            goto bad;
        }
        memcpy(cfg->node_id, s, n);
    }
    cfg->node_id_len = n;
    cfg->encap = true;
    return 0;
bad:
    (void)fprintf(stderr,
                  "%s: a wireless node id is 1 to %u bytes, as text or 0x and hex digits, "
                  "not \"%s\"\n",
                  prog, SN_TOOL_NODE_ID_MAX, s);
    return -EINVAL;
}

int sn_tool_set_client_id(const char *prog, const char *s, struct sn_tool_cfg *cfg)
{
    size_t n = strlen(s);
    if (n == 0 || n > SN_CLIENT_ID_MAX) { /* §5.3.1: 1..23 octets */
        (void)fprintf(stderr, "%s: a client id is 1 to %u characters, not \"%s\"\n", prog,
                      SN_CLIENT_ID_MAX, s);
        return -EINVAL;
    }
    memcpy(cfg->client_id, s, n + 1);
    return 0;
}

int sn_tool_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        return -errno;
    }
    size_t cap = 4096;
    size_t n = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n == cap) {
            uint8_t *nb = cap > max ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                rc = cap > max ? GW_E_TOO_LARGE : -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            rc = ferror(f) ? -EIO : 1;
        }
    }
    if (f != stdin) {
        (void)fclose(f);
    }
    if (rc == 1 && n > max) {
        rc = GW_E_TOO_LARGE;
    }
    if (rc != 1) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

int sn_tool_parse_option(struct sn_tool *t, int c, const char *arg)
{
    struct sn_tool_cfg *cfg = &t->cfg;
    unsigned long v = 0;
    int rc = 0;
    switch (c) {
    case 'h':
        cfg->host = arg;
        break;
    case 'p':
        cfg->port = arg;
        break;
    case 'i':
        rc = sn_tool_set_client_id(t->prog, arg, cfg);
        break;
    case 'k': /* §5.4.4 Duration: 16 bits */
        rc = sn_tool_parse_uint(t->prog, "the keep-alive", arg, 0xFFFF, &v);
        cfg->keepalive_s = (unsigned)v;
        break;
    case 'c':
        cfg->clean = false;
        break;
    case 'W':
        rc = sn_tool_parse_uint(t->prog, "the timeout", arg, 86400ul * 366ul, &v);
        cfg->timeout_s = (unsigned)v;
        break;
    case 'e':
        rc = sn_tool_parse_node_id(t->prog, arg, cfg);
        break;
    case 'd':
        cfg->debug++;
        break;
    case SN_OPT_RETRY_MS:
        rc = sn_tool_parse_uint(t->prog, "--retry-ms", arg, 3600000, &v);
        cfg->retry_ms = v ? (unsigned)v : 1u;
        break;
    case SN_OPT_RETRIES:
        rc = sn_tool_parse_uint(t->prog, "--retries", arg, 100, &v);
        cfg->nretry = (unsigned)v;
        break;
    case SN_OPT_WILL_TOPIC:
        cfg->will.topic = arg;
        break;
    case SN_OPT_WILL_PAYLOAD:
        cfg->will.payload = arg;
        cfg->will.payload_len = strlen(arg);
        break;
    case SN_OPT_WILL_QOS:
        rc = sn_tool_parse_qos(t->prog, arg, 0, &cfg->will.qos);
        break;
    case SN_OPT_WILL_RETAIN:
        cfg->will.retain = true;
        break;
    default:
        return 1;
    }
    return rc < 0 ? -EINVAL : 0;
}

int sn_tool_check_will(const char *prog, const struct sn_tool_cfg *cfg)
{
    const struct sn_tool_will *w = &cfg->will;
    if (w->topic && (w->topic[0] == '\0' || strpbrk(w->topic, "+#"))) {
        (void)fprintf(stderr, "%s: --will-topic needs a topic name without wildcards\n", prog);
        return -EINVAL;
    }
    if (!w->topic && (w->payload || w->qos || w->retain)) {
        (void)fprintf(stderr,
                      "%s: --will-payload, --will-qos and --will-retain need --will-topic\n", prog);
        return -EINVAL;
    }
    return 0;
}
