/* cfg_priv.h - what cfg.c, cfg_opts.c, cfg_bridge.c and cfg_bridge_check.c
 * share; included only by those.
 *
 * cfg.c lexes lines, reads files and include_dir, resolves, validates, frees
 * and diffs configs; cfg_opts.c holds the option table, the value parsers
 * and the handlers of the options a row cannot describe; cfg_bridge.c holds
 * the rows of the bridge options (the `connection` blocks) and their
 * handlers, cfg_bridge_check.c their resolution, validation, compare and
 * free. All work on one struct cfg_parser per load. Errors: 0, GW_E_CONFIG
 * (message written with cfg_fail) or -ENOMEM (cfg_fail_nomem). Not thread-safe, like cfg.h. */
#ifndef GW_CFG_PRIV_H
#define GW_CFG_PRIV_H

#include "cfg.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum cfg_opt_type {
    CFG_T_BOOL,
    CFG_T_U16,
    CFG_T_U32,
    CFG_T_U64,
    CFG_T_INT,
    CFG_T_STRING,   /* rest of the line (mosquitto: paths may contain spaces) */
    CFG_T_DURATION, /* uint32 seconds from "1h" "3d" "2w" "1m" "1y" */
    CFG_T_SIZE,     /* uint64 bytes, optional k/M/G suffix (binary) */
    CFG_T_ENUM,     /* int-sized enum from opt.choices, a choice may take a number */
    CFG_T_SPECIAL,  /* handled by opt.fn */
    CFG_T_IGNORE,   /* accepted with a warning */
    CFG_T_REJECT    /* error; help is the message */
};

enum cfg_opt_flags {
    CFG_OPT_GLOBAL = 0,
    CFG_OPT_LISTENER = 1u << 0, /* only inside a listener block (or the legacy port listener) */
    CFG_OPT_BOTH = 1u << 1,     /* listener block if inside one, else global */
    CFG_OPT_RELOAD = 1u << 2,   /* SIGHUP may change it without a restart */
    CFG_OPT_PREFIX = 1u << 3,   /* name matches as a prefix (bridge_*, psk_*) */
    CFG_OPT_FIRST = 1u << 4,    /* must come before any listener */
    CFG_OPT_BRIDGE = 1u << 5,   /* only inside a connection block; loff is the offset in
                                   struct cfg_bridge */
    CFG_OPT_SERIAL = 1u << 6    /* with CFG_OPT_LISTENER: only inside an mqttsn_serial block */
};

struct cfg_parser {
    struct gw_config *c;
    const char *file; /* name in messages */
    unsigned line;
    unsigned flags; /* enum cfg_flags */
    int depth;      /* 0 main file, 1 include_dir file */
    long cur;       /* index of the current listener block, -1 before any */
    long legacy;    /* index of the port/bind_address listener, -1 if none */
    long bridge;    /* index of the current connection block, -1 outside one */
    bool log_type_seen;
    bool log_dest_seen;
    char *err;
    size_t errcap;
};

/* One word a CFG_T_ENUM option accepts; a table of them ends with a NULL name. */
struct cfg_choice {
    const char *name;
    int value;       /* stored in the row's field */
    const char *arg; /* NULL: no argument; else the name ("MS") of the number it needs,
                        an integer opt.min..opt.max stored as uint32 at opt.noff */
};

struct cfg_opt;
typedef int cfg_opt_fn(struct cfg_parser *p, const struct cfg_opt *o, char *args);

struct cfg_opt {
    const char *name;
    enum cfg_opt_type type;
    unsigned flags;
    size_t goff; /* offset in struct gw_config */
    size_t loff; /* offset in struct cfg_listener (struct cfg_bridge: CFG_OPT_BRIDGE) */
    int64_t min;
    int64_t max;
    const char *def; /* default as config text; NULL = none */
    cfg_opt_fn *fn;
    const char *help; /* help line; for CFG_T_IGNORE why it is ignored (NULL: no reason) */
    const struct cfg_choice *choices; /* CFG_T_ENUM only */
    size_t noff; /* CFG_T_ENUM with a numbered choice, global rows only: offset of the
                    uint32 number in struct gw_config (0 there otherwise); 0 = none */
};

/* ---- cfg_opts.c -------------------------------------------------------- */

/* The option table and its length (rows are read-only). */
extern const struct cfg_opt cfg_opt_table[];
extern const size_t cfg_opt_count;

/* Row for option name (borrowed), exact or by prefix, from cfg_opt_table
 * then cfg_bridge_opt_table; NULL if unknown. */
const struct cfg_opt *cfg_opt_find(const char *name);

/* Parse args (modified in place) for a plain-typed option o into the
 * global field or the current listener's, per o->flags. Returns 0,
 * GW_E_CONFIG or -ENOMEM with the message in p. */
int cfg_opt_apply(struct cfg_parser *p, const struct cfg_opt *o, char *args);

/* Store every row's default into p->c (parsed like file text) and the
 * default log masks. Returns 0 or an error as cfg_opt_apply. */
int cfg_opt_set_defaults(struct cfg_parser *p);

/* Parse args (modified in place) for a plain-typed row o into the field at
 * base + off (a struct gw_config, cfg_listener or cfg_bridge). Returns 0,
 * GW_E_CONFIG or -ENOMEM with the message in p. */
int cfg_opt_set_field(struct cfg_parser *p, const struct cfg_opt *o, void *base, size_t off,
                      char *args);

/* Bytes of the struct field a row of type t writes; 0 for the others. */
size_t cfg_opt_field_size(enum cfg_opt_type t);

/* ---- cfg_bridge.c ------------------------------------------------------ */

/* The rows of `connection` and the bridge options (part of the option
 * table, kept beside their handlers), and their count. */
extern const struct cfg_opt cfg_bridge_opt_table[];
extern const size_t cfg_bridge_opt_count;

/* Free what topic line t owns (not t itself). */
void cfg_bridge_topic_fini(struct cfg_bridge_topic *t);

/* A listener's max_connections / mqttsn_amplification_limit not set. */
#define CFG_UNSET INT_MIN

/* Both NULL or the same text. */
static inline bool cfg_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The loopback pair (127.0.0.1 and ::1) on port, as mosquitto 2 listens
 * when no listener is configured (cfg.c). Returns 0 or -ENOMEM. */
int cfg_listener_add_loopback(struct gw_config *c, uint16_t port, const char *origin);

/* ---- cfg_check.c ------------------------------------------------------- */

/* After parsing: the embedded default listeners when none is configured,
 * anonymous access as mosquitto 2 sets it, per-listener defaults, then the
 * bridges' (cfg_bridges_resolve). Returns 0 or -ENOMEM with the message in
 * p. */
int cfg_resolve(struct cfg_parser *p);

/* ---- cfg_bridge_check.c ------------------------------------------------ */

/* After parsing: fill the defaults that depend on the whole block (client
 * ids from the host name, notification topic, address ports, local
 * cleansession). Returns 0, GW_E_CONFIG or -ENOMEM with the message in p. */
int cfg_bridges_resolve(struct cfg_parser *p);

/* cfg_validate's bridge part: every block has an address and a topic, TLS
 * options are consistent, local client ids are unique. Returns 0 or
 * GW_E_CONFIG with "FILE:LINE: ..." (the connection line) in err. */
int cfg_bridges_validate(const struct gw_config *c, char *err, size_t errcap);

/* True if a and b configure the same bridges (cfg_diff_restart_needed). */
bool cfg_bridges_equal(const struct gw_config *a, const struct gw_config *b);

/* Free the bridges c owns (cfg_free). */
void cfg_bridges_free(struct gw_config *c);

/* ---- cfg.c ------------------------------------------------------------- */

/* Write "FILE:LINE: message" to p's error buffer; returns GW_E_CONFIG. */
__attribute__((format(printf, 2, 3))) int cfg_fail(struct cfg_parser *p, const char *fmt, ...);

/* printf into err (cap bytes; err NULL or cap 0: nothing), for errors
 * outside a parse (cfg_validate, the loaders). */
__attribute__((format(printf, 3, 4))) void cfg_put_err(char *err, size_t cap, const char *fmt,
                                                       ...);

/* cfg_fail "out of memory"; returns -ENOMEM. */
int cfg_fail_nomem(struct cfg_parser *p);

/* Trim blanks at both ends of s in place; returns the new start. */
char *cfg_trim(char *s);

/* Split off the next whitespace-separated token of *s (cut in place and
 * advanced past); NULL at the end. */
char *cfg_next_token(char **s);

/* Exactly one argument in args: the token, or NULL after writing the error
 * (expected describes the value in the message). */
char *cfg_one_arg(struct cfg_parser *p, const char *name, char *args, const char *expected);

/* Append a listener on port/addr (borrowed, may be NULL) to c; origin
 * (borrowed) is copied. Returns its index or -ENOMEM. */
long cfg_listener_add(struct gw_config *c, uint16_t port, const char *addr, int domain,
                      const char *origin);

/* Free what listener l owns (not l itself). */
void cfg_listener_fini(struct cfg_listener *l);

/* Handler of the include_dir row (main file only). */
cfg_opt_fn cfg_include_dir;

/* cfg_value.c: values shared with the option handlers. */
/* Strict decimal: optional '-', digits, nothing else (*end: first byte not
 * read). */
bool cfg_parse_i64(const char *s, int64_t *out, const char **end);
/* "true" / "false" into *v (1 / 0); 0, or -1 for anything else. */
int cfg_parse_bool(const char *tok, int64_t *v);
/* Parse args for option o into the field at base + off. 0 or GW_E_CONFIG. */
int cfg_opt_set_value(struct cfg_parser *p, const struct cfg_opt *o, char *base, size_t off,
                      char *args);
/* What option o expects, for messages and --help-config. */
const char *cfg_opt_expected_text(const struct cfg_opt *o, char *buf, size_t cap);

#endif
