/* cfg.c - mosquitto.conf(5) parser: lines, files and include_dir, the
 * config's memory and the command line overrides. Resolution and
 * validation are in cfg_check.c, the SIGHUP diff in cfg_diff.c.
 *
 * Each line names a row of the option table (cfg_opts.c, which also parses
 * the values and runs the per-option handlers); this file only splits lines
 * into a name and its arguments, reads files and owns the config's memory.
 * Nothing here logs: errors go to the caller's buffer, compatibility notes to
 * gw_config.warnings. */
#include "cfg.h"

#include "alloc.h"
#include "cfg_priv.h"
#include "gw_err.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_MAX_FILE_BYTES (4u * 1024u * 1024u) /* a config file larger than this is a mistake */

/* ---- messages ---------------------------------------------------------- */

void cfg_put_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Write "FILE:LINE: message" and return GW_E_CONFIG. */
__attribute__((format(printf, 2, 3))) int cfg_fail(struct cfg_parser *p, const char *fmt, ...)
{
    if (!p->err || p->errcap == 0) {
        return GW_E_CONFIG;
    }
    int n = snprintf(p->err, p->errcap, "%s:%u: ", p->file, p->line);
    if (n > 0 && (size_t)n < p->errcap) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return GW_E_CONFIG;
}

int cfg_fail_nomem(struct cfg_parser *p)
{
    (void)cfg_fail(p, "out of memory");
    return -ENOMEM;
}

/* Warning for an ignored option o; its help, if any, says why. */
static int add_warning(struct cfg_parser *p, const struct cfg_opt *o)
{
    struct gw_config *c = p->c;
    char buf[384];
    (void)snprintf(buf, sizeof(buf),
                   "%s:%u: option '%s' is accepted for compatibility and ignored by tern%s%s",
                   p->file, p->line, o->name, o->help ? ": " : "", o->help ? o->help : "");
    char *w = gw_strdup(buf);
    char **v = w ? gw_realloc(c->warnings, (c->n_warnings + 1) * sizeof(*v)) : NULL;
    if (!v) {
        gw_free(w);
        return cfg_fail_nomem(p);
    }
    v[c->n_warnings++] = w;
    c->warnings = v;
    return 0;
}

/* ---- lexing ------------------------------------------------------------ */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

char *cfg_trim(char *s)
{
    while (is_space(*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/* Split off the next whitespace-separated token of *s; NULL at the end. */
char *cfg_next_token(char **s)
{
    char *t = *s;
    while (is_space(*t)) {
        t++;
    }
    if (*t == '\0') {
        *s = t;
        return NULL;
    }
    char *e = t;
    while (*e != '\0' && !is_space(*e)) {
        e++;
    }
    if (*e != '\0') {
        *e++ = '\0';
    }
    *s = e;
    return t;
}

/* Exactly one argument: the token, or NULL after writing the error. */
char *cfg_one_arg(struct cfg_parser *p, const char *name, char *args, const char *expected)
{
    char *tok = cfg_next_token(&args);
    if (!tok) {
        (void)cfg_fail(p, "option '%s': missing value, expected %s", name, expected);
        return NULL;
    }
    char *extra = cfg_next_token(&args);
    if (extra) {
        (void)cfg_fail(p, "option '%s': unexpected extra argument '%.40s'", name, extra);
        return NULL;
    }
    return tok;
}

/* ---- listeners --------------------------------------------------------- */

void cfg_listener_fini(struct cfg_listener *l)
{
    gw_free(l->bind_address);
    gw_free(l->protocol);
    gw_free(l->origin);
    gw_free(l->mqttsn_advertise_address);
    gw_free(l->mqttsn_predefined_topics);
    gw_free(l->mqttsn_allowed_clients);
    gw_free(l->mqttsn_client_allow_file);
    gw_free(l->mqttsn_forwarders);
    gw_free(l->mqttsn_serial_device);
    gw_free(l->tls.cafile);
    gw_free(l->tls.capath);
    gw_free(l->tls.certfile);
    gw_free(l->tls.keyfile);
    gw_free(l->tls.crlfile);
    gw_free(l->tls.tls_version);
    gw_free(l->tls.ciphers);
    gw_free(l->tls.psk_hint);
    gw_free(l->tls.psk_file);
}

/* Append a listener on port/address (borrowed); returns its index or -ENOMEM. */
long cfg_listener_add(struct gw_config *c, uint16_t port, const char *addr, int domain,
                      const char *origin)
{
    struct cfg_listener l = {.port = port, .socket_domain = domain};
    l.max_connections = CFG_UNSET;
    l.mqttsn_amplification_limit = CFG_UNSET;
    l.mqttsn_udp_receive_buffer = CFG_SN_UDP_RCVBUF_DEFAULT;
    l.bind_address = addr ? gw_strdup(addr) : NULL;
    l.protocol = gw_strdup("mqtt");
    l.origin = gw_strdup(origin);
    struct cfg_listener *v = NULL;
    if ((!addr || l.bind_address) && l.protocol && l.origin) {
        v = gw_realloc(c->listeners, (c->n_listeners + 1) * sizeof(*v));
    }
    if (!v) {
        cfg_listener_fini(&l);
        return -ENOMEM;
    }
    v[c->n_listeners] = l;
    c->listeners = v;
    return (long)c->n_listeners++;
}

/* See cfg_priv.h. */
int cfg_listener_add_loopback(struct gw_config *c, uint16_t port, const char *origin)
{
    long a = cfg_listener_add(c, port, "127.0.0.1", AF_INET, origin);
    long b = a < 0 ? a : cfg_listener_add(c, port, "::1", AF_INET6, origin);
    if (b < 0) {
        if (a >= 0) {
            cfg_listener_fini(&c->listeners[--c->n_listeners]);
        }
        return -ENOMEM;
    }
    for (size_t i = (size_t)a; i < c->n_listeners; i++) {
        c->listeners[i].max_connections = c->max_connections;
        c->listeners[i].allow_anonymous = c->allow_anonymous;
    }
    return 0;
}

/* ---- lines, files, include_dir ----------------------------------------- */

static int parse_line(struct cfg_parser *p, char *line)
{
    line = cfg_trim(line);
    if (*line == '\0' || *line == '#') {
        return 0;
    }
    char *name = cfg_next_token(&line);
    char *args = cfg_trim(line);
    const struct cfg_opt *o = cfg_opt_find(name);
    if (!o) {
        return cfg_fail(p, "unknown option '%.60s'", name);
    }
    if (o->type == CFG_T_REJECT) {
        return cfg_fail(p, "option '%.60s': %s", name, o->help);
    }
    if ((o->flags & CFG_OPT_BRIDGE) && p->bridge < 0) {
        return cfg_fail(p, "option '%.60s' must follow a 'connection' line", name);
    }
    switch (o->type) {
    case CFG_T_IGNORE:
        return add_warning(p, o);
    case CFG_T_SPECIAL:
        return o->fn(p, o, args);
    default:
        return cfg_opt_apply(p, o, args);
    }
}

/* Parse text in place (it is modified), line by line. */
static int parse_text(struct cfg_parser *p, char *text)
{
    unsigned line = 1;
    for (char *s = text; s; line++) {
        char *nl = strchr(s, '\n');
        if (nl) {
            *nl = '\0';
        }
        p->line = line;
        int rc = parse_line(p, s);
        if (rc < 0) {
            return rc;
        }
        s = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* Size of the regular file open at fd, or a negative error. */
static ssize_t file_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (!S_ISREG(st.st_mode)) {
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if (st.st_size > (off_t)CFG_MAX_FILE_BYTES) {
        return -EFBIG;
    }
    return (ssize_t)st.st_size;
}

/* Read up to cap bytes from fd into buf; *n gets the count. */
static int read_all(int fd, char *buf, size_t cap, size_t *n)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            break; /* file shrank: parse what we have */
        }
        got += (size_t)r;
    }
    *n = got;
    return 0;
}

/* Read a whole regular file into a new NUL-terminated buffer (*out, gw_free). */
static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t size = file_size(fd);
    char *buf = size >= 0 ? gw_alloc((size_t)size + 1) : NULL;
    size_t n = 0;
    int rc = size < 0 ? (int)size : !buf ? -ENOMEM : read_all(fd, buf, (size_t)size, &n);
    (void)close(fd);
    if (rc < 0 || !buf) {
        gw_free(buf);
        return rc < 0 ? rc : -ENOMEM;
    }
    *out = buf;
    *len = n;
    buf[n] = '\0';
    return 0;
}

/* Parse the file at path; open errors are reported at the including line
 * (p->file/p->line) or, for the main file, as "PATH: reason". */
static int parse_file(struct cfg_parser *p, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc < 0 || !text) {
        if (p->depth == 0) {
            cfg_put_err(p->err, p->errcap, "%s: %s", path, gw_strerror(rc));
            return rc;
        }
        (void)cfg_fail(p, "cannot read '%s': %s", path, gw_strerror(rc));
        return rc;
    }
    if (memchr(text, '\0', len)) {
        gw_free(text);
        cfg_put_err(p->err, p->errcap, "%s: contains a NUL byte", path);
        return GW_E_CONFIG;
    }
    const char *saved_file = p->file;
    unsigned saved_line = p->line;
    p->file = path;
    rc = parse_text(p, text);
    p->file = saved_file;
    p->line = saved_line;
    gw_free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gw_free(names[i]);
    }
    gw_free(names);
}

/* Names of DIR's *.conf entries, sorted (strcmp: mosquitto's case-sensitive order). */
static int list_conf(struct cfg_parser *p, const char *dir, char ***out, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d) {
        int rc = -errno;
        (void)cfg_fail(p, "include_dir '%.200s': %s", dir, gw_strerror(rc));
        return rc;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) { /* NOLINT(concurrency-mt-unsafe) */
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".conf") != 0) {
            continue;
        }
        char *s = gw_strdup(e->d_name);
        char **v = s ? gw_realloc(names, (n + 1) * sizeof(*v)) : NULL;
        if (!v) {
            gw_free(s);
            rc = cfg_fail_nomem(p);
            break;
        }
        names = v;
        names[n++] = s;
    }
    (void)closedir(d);
    if (rc < 0) {
        free_names(names, n);
        return rc;
    }
    if (n > 1) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    *out = names;
    *n_out = n;
    return 0;
}

/* Only from the main file, so includes nest exactly one level (mosquitto). */
int cfg_include_dir(struct cfg_parser *p, const struct cfg_opt *o, char *args)
{
    if (p->flags & CFG_F_NO_INCLUDE) {
        return cfg_fail(p, "option '%s' is disabled here", o->name);
    }
    if (p->depth > 0) {
        return cfg_fail(p, "option '%s' is only allowed in the main configuration file", o->name);
    }
    if (*args == '\0') {
        return cfg_fail(p, "option '%s': missing value, expected a directory", o->name);
    }
    char **names = NULL;
    size_t n = 0;
    int rc = list_conf(p, args, &names, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t cap = strlen(args) + strlen(names[i]) + 2;
        char *path = gw_alloc(cap);
        if (!path) {
            rc = cfg_fail_nomem(p);
            break;
        }
        (void)snprintf(path, cap, "%s/%s", args, names[i]);
        p->depth = 1;
        p->cur = -1; /* a listener or connection block does not continue into the next file */
        p->bridge = -1;
        rc = parse_file(p, path);
        p->depth = 0;
        gw_free(path);
    }
    if (rc == 0) {
        p->cur = -1;
        p->bridge = -1;
    }
    free_names(names, n);
    return rc;
}

/* ---- public entry points ----------------------------------------------- */

void cfg_free(struct gw_config *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < cfg_opt_count; i++) {
        if (cfg_opt_table[i].type == CFG_T_STRING &&
            !(cfg_opt_table[i].flags & CFG_OPT_LISTENER)) { /* those: cfg_listener_fini */
            char *s = NULL;
            memcpy(&s, (char *)c + cfg_opt_table[i].goff, sizeof(s));
            gw_free(s);
        }
    }
    for (size_t i = 0; i < c->n_listeners; i++) {
        cfg_listener_fini(&c->listeners[i]);
    }
    cfg_bridges_free(c);
    free_names(c->warnings, c->n_warnings);
    gw_free(c->listeners);
    gw_free(c->log_file);
    gw_free(c->file);
    gw_free(c);
}

/* Shared body of the loaders: text (may be NULL) or the file at path. */
static int load(const char *path, const char *text, const char *name, unsigned flags,
                struct gw_config **out, char *err, size_t errcap)
{
    struct cfg_parser p = {.file = name, .flags = flags, .cur = -1, .legacy = -1, .bridge = -1};
    p.err = err;
    p.errcap = errcap;
    cfg_put_err(err, errcap, "%s", "");
    p.c = gw_calloc(1, sizeof(*p.c));
    if (!p.c) {
        cfg_put_err(err, errcap, "%s: out of memory", name);
        return -ENOMEM;
    }
    int rc = cfg_opt_set_defaults(&p);
    p.c->file = rc == 0 ? gw_strdup(name) : NULL;
    rc = rc == 0 && !p.c->file ? cfg_fail_nomem(&p) : rc;
    if (rc == 0 && text) {
        char *copy = gw_strdup(text); /* parse_text cuts lines in place */
        rc = copy ? parse_text(&p, copy) : cfg_fail_nomem(&p);
        gw_free(copy);
    } else if (rc == 0 && path) {
        rc = parse_file(&p, path);
    }
    p.line = 0;
    rc = rc == 0 ? cfg_resolve(&p) : rc;
    rc = rc == 0 ? cfg_validate(p.c, err, errcap) : rc;
    if (rc < 0) {
        cfg_free(p.c);
        return rc;
    }
    *out = p.c;
    return 0;
}

int cfg_load(const char *path, struct gw_config **out, char *err, size_t errcap)
{
    if (!path) {
        cfg_put_err(err, errcap, "%s", "no configuration file");
        return -EINVAL;
    }
    return load(path, NULL, path, 0, out, err, errcap);
}

int cfg_load_string_flags(const char *text, const char *name, unsigned flags,
                          struct gw_config **out, char *err, size_t errcap)
{
    if (!text) {
        cfg_put_err(err, errcap, "%s", "no configuration text");
        return -EINVAL;
    }
    return load(NULL, text, name ? name : "(string)", flags, out, err, errcap);
}

int cfg_load_string(const char *text, const char *name, struct gw_config **out, char *err,
                    size_t errcap)
{
    return cfg_load_string_flags(text, name, 0, out, err, errcap);
}

int cfg_default(struct gw_config **out)
{
    int rc = cfg_load_string_flags("", "(defaults)", CFG_F_NO_INCLUDE, out, NULL, 0);
    return rc == -ENOMEM ? rc : (rc < 0 ? -EINVAL : 0);
}

int cfg_set_port(struct gw_config *c, uint16_t port)
{
    if (port == 0) {
        return -EINVAL;
    }
    if (c->default_listener) {
        for (size_t i = 0; i < c->n_listeners; i++) {
            if (strcmp(c->listeners[i].protocol, "mqtt") == 0) {
                c->listeners[i].port = port; /* MQTT-SN and metrics keep theirs */
            }
        }
        return 0;
    }
    size_t before = c->n_listeners;
    if (cfg_listener_add_loopback(c, port, "command line -p") < 0) {
        return -ENOMEM;
    }
    if (cfg_validate(c, NULL, 0) < 0) {
        while (c->n_listeners > before) {
            cfg_listener_fini(&c->listeners[--c->n_listeners]);
        }
        return GW_E_CONFIG;
    }
    return 0;
}

void cfg_set_verbose(struct gw_config *c)
{
    c->log_type_mask = GW_LOG_ALL;
}
