/* main.c - the tern daemon: command line, config, signals, wiring. */
#include "alloc.h"
#include "auth.h"
#include "auth_method.h"
#include "bridge.h"
#include "broker.h"
#include "cfg.h"
#include "crypto.h"
#include "gw_err.h"
#include "list_ports.h"
#include "log.h"
#include "lsn.h"
#include "loop.h"
#include "man.h"
#include "mqtt_fe.h"
#include "ops.h"
#include "ops_fronts.h"
#include "persist.h"
#include "service.h"
#include "sn_gw.h"
#include "store_info.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct opts {
    const char *config;
    unsigned port;
    bool verbose;
    bool check_only;
    bool store_info;
    bool list_ports;
    const char *scram_user;
};

struct app {
    struct loop *loop;
    struct broker *broker;
    struct mqtt_fe *mqtt;
    struct bridge *bridges;
    struct ops *ops;
    struct ops_fronts fronts;
    struct service svc;
    const char *config_path;
    int sigfd;
    bool verbose;
    unsigned port;
};

static void usage(FILE *out)
{
    (void)fprintf(out,
                  "tern " TERN_VERSION " - edge-gateway MQTT broker\n"
                  "\n"
                  "usage: tern [-c FILE] [-p PORT] [-v] [--check-config]\n"
                  "\n"
                  "  -c, --config-file FILE  read the configuration from FILE (mosquitto syntax)\n"
                  "  -p, --port PORT         listen on 127.0.0.1 and ::1 port PORT\n"
                  "  -v, --verbose           log everything (log_type all)\n"
                  "      --check-config      validate the configuration and exit\n"
                  "      --scram-passwd USER read a password on stdin, print a scram_file line\n"
                  "      --store-info        print the store's figures (sessions, queues,\n"
                  "                          oldest message, retained, size) and exit\n"
                  "      --list-ports        list serial ports (USB ids, serial number and the\n"
                  "                          stable /dev/serial/by-id/ name) and exit\n"
                  "      --help-config       list every configuration option\n"
                  "  -h, --help              show this help\n"
                  "      --version           show the version\n"
                  "\n"
                  "With no configuration, tern listens for MQTT on 127.0.0.1 and ::1 port 1883\n"
                  "and allows anonymous clients there, like mosquitto 2; for MQTT-SN on UDP\n"
                  "127.0.0.1 port 1884; and serves metrics on http://127.0.0.1:9883/metrics.\n");
}

/* Returns 0 to run, 1 to exit with success, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if ((!strcmp(a, "-c") || !strcmp(a, "--config-file")) && has_next) {
            o->config = argv[++i];
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--port")) && has_next) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 1 || p > 65535) {
                (void)fprintf(stderr, "tern: -p expects a port 1..65535, got '%s'\n", argv[i]);
                return -1;
            }
            o->port = (unsigned)p;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = true;
        } else if (!strcmp(a, "--check-config")) {
            o->check_only = true;
        } else if (!strcmp(a, "--store-info")) {
            o->store_info = true;
        } else if (!strcmp(a, "--list-ports")) {
            o->list_ports = true;
        } else if (!strcmp(a, "--scram-passwd") && has_next) {
            o->scram_user = argv[++i];
        } else if (!strcmp(a, "--man") && has_next) {
            if (man_print(stdout, argv[++i]) < 0) {
                (void)fprintf(stderr, "tern: --man expects tern.8 or tern.conf.5\n");
                return -1;
            }
            return 1;
        } else if (!strcmp(a, "--help-config")) {
            cfg_print_help(stdout);
            return 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--version")) {
            (void)printf("tern version %s\n", TERN_VERSION);
            return 1;
        } else {
            (void)fprintf(stderr, "tern: unknown or incomplete argument '%s'\n\n", a);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

/* Load the config and apply command-line overrides. Returns NULL (after
 * printing why) on failure. */
static struct gw_config *load_config(const char *path, unsigned port, bool verbose)
{
    struct gw_config *cfg = NULL;
    char err[512] = "";
    int rc = path ? cfg_load(path, &cfg, err, sizeof(err)) : cfg_default(&cfg);
    if (rc < 0) {
        (void)fprintf(stderr, "tern: %s\n", err[0] ? err : gw_strerror(rc));
        return NULL;
    }
    if (port && cfg_set_port(cfg, (uint16_t)port) < 0) {
        (void)fprintf(stderr, "tern: -p %u conflicts with a configured listener\n", port);
        cfg_free(cfg);
        return NULL;
    }
    if (verbose) {
        cfg_set_verbose(cfg);
    }
    return cfg;
}

static void log_warnings(const struct gw_config *cfg)
{
    for (size_t i = 0; i < cfg->n_warnings; i++) {
        gw_log(GW_WARN, "config", "%s", cfg->warnings[i]);
    }
}

static void reload(struct app *a)
{
    if (!a->config_path) {
        gw_log(GW_NOTICE, "main", "SIGHUP: no configuration file to reload");
        return;
    }
    struct gw_config *cfg = load_config(a->config_path, a->port, a->verbose);
    if (!cfg) {
        gw_log(GW_ERROR, "main", "SIGHUP: configuration rejected, keeping the running one");
        return;
    }
    log_warnings(cfg);
    service_reloading(&a->svc);
    broker_reload(a->broker, cfg);
    mqtt_fe_reload(a->mqtt);
    sn_gw_reload_all(); /* DTLS certificate and key rotation */
    service_reloaded(&a->svc);
}

/* SIGHUP reloads; SIGINT and SIGTERM stop the loop (a clean shutdown). */
static void handle_signal(struct app *a, struct loop *l, uint32_t signo)
{
    if (signo == SIGHUP) {
        gw_log(GW_NOTICE, "main", "SIGHUP: reloading configuration");
        reload(a);
        return;
    }
    gw_log(GW_NOTICE, "main", "signal %u: shutting down", signo);
    loop_stop(l);
}

static void on_signal(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        handle_signal(arg, l, si.ssi_signo);
    }
}

static int setup_signals(struct app *a)
{
    sigset_t set;
    (void)sigemptyset(&set);
    (void)sigaddset(&set, SIGINT);
    (void)sigaddset(&set, SIGTERM);
    (void)sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return -errno;
    }
    (void)signal(SIGPIPE, SIG_IGN); /* write errors come back as EPIPE */
    a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (a->sigfd < 0) {
        return -errno;
    }
    return loop_fd_add(a->loop, a->sigfd, LOOP_READ, on_signal, a);
}

static void write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        gw_log(GW_WARN, "main", "pid_file %s: %s", path, strerror(errno)); /* NOLINT */
        return;
    }
    (void)fprintf(f, "%ld\n", (long)getpid());
    (void)fclose(f);
}

/* Every connection, store and radio costs a descriptor: take all the
 * kernel allows this process (the soft limit is often 1024, the hard one
 * far higher). What a listener does when even that runs out: lsn.c. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max) {
        return;
    }
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        gw_log(GW_WARN, "main", "cannot raise the descriptor limit from %llu: %s",
               (unsigned long long)was, strerror(errno)); /* NOLINT(concurrency-mt-unsafe) */
        return;
    }
    gw_log(GW_INFO, "main", "descriptor limit raised from %llu to %llu", (unsigned long long)was,
           (unsigned long long)rl.rlim_cur);
}

/* The operations endpoints (metrics, health, status) over every
 * `protocol http` listener, with the front-ends' figures. */
static int start_ops(struct app *a)
{
    a->fronts = (struct ops_fronts){.mqtt = a->mqtt, .bridges = a->bridges};
    struct ops_source src = ops_fronts_source(&a->fronts);
    int rc = ops_create(a->broker, &a->ops);
    rc = rc == 0 ? ops_source_add(a->ops, &src) : rc;
    rc = rc == 0 ? ops_listen(a->ops) : rc;
    if (rc == 0) {
        ops_set_ready(a->ops, true);
    }
    return rc;
}

static int run(struct app *a, struct gw_config *cfg)
{
    /* Copied: a reload frees the config the path came from. */
    char pid_path[4096] = "";
    if (cfg->pid_file) {
        (void)snprintf(pid_path, sizeof(pid_path), "%s", cfg->pid_file);
    }
    const char *pid_file = pid_path[0] ? pid_path : NULL;
    raise_fd_limit();
    service_open(&a->svc);
    int rc = loop_create(&a->loop);
    if (rc == 0) {
        a->svc.loop = a->loop;
        service_status(&a->svc, "opening the store");
        rc = broker_create(a->loop, cfg, &a->broker);
        if (rc < 0) {
            cfg_free(cfg);
        }
    } else {
        cfg_free(cfg);
    }
    if (rc == 0) {
        rc = setup_signals(a);
    }
    if (rc == 0) {
        rc = broker_load_auth(a->broker);
    }
    if (rc == 0) {
        rc = persist_open(a->broker);
    }
    if (rc == 0) {
        service_status(&a->svc, "opening listeners and bridges");
        rc = mqtt_fe_create(a->broker, &a->mqtt);
    }
    if (rc == 0) {
        rc = broker_start(a->broker);
    }
    if (rc == 0) {
        rc = mqtt_fe_listen(a->mqtt);
        for (size_t i = 0; rc == 0 && i < a->broker->cfg->n_listeners; i++) {
            const struct cfg_listener *cl = &a->broker->cfg->listeners[i];
            struct sn_gw *gw;
            if (strcmp(cl->protocol, "mqttsn") == 0) {
                rc = sn_gw_open(a->broker, cl, &gw);
                if (rc < 0 && cl->best_effort) {
                    gw_log(GW_WARN, "main", "the default MQTT-SN listener (UDP 127.0.0.1:%u) "
                           "stays off: %s", cl->port, gw_strerror(rc));
                    rc = 0;
                }
            }
        }
    }
    if (rc == 0) {
        rc = bridge_start_all(a->broker, &a->bridges);
    }
    if (rc == 0) {
        rc = start_ops(a);
    }
    if (rc == 0) {
        rc = service_ready(&a->svc, a->broker, a->ops); /* READY=1: listeners and store up */
    }
    if (rc == 0) {
        if (pid_file) {
            write_pid_file(pid_file);
        }
        gw_log(GW_NOTICE, "main", "tern %s running", TERN_VERSION);
        rc = loop_run(a->loop);
        gw_log(GW_NOTICE, "main", "tern %s stopping", TERN_VERSION);
        ops_set_ready(a->ops, false);
        service_stopping(&a->svc);
    } else {
        gw_log(GW_ERROR, "main", "cannot start: %s", gw_strerror(rc));
    }
    if (rc == 0 && pid_file) {
        (void)unlink(pid_file);
    }
    ops_destroy(a->ops); /* no endpoint answers from here on */
    sn_gw_close_all(); /* MQTT-SN clients leave their sessions before the broker goes */
    bridge_stop_all(a->bridges);
    if (a->mqtt) {
        mqtt_fe_shutdown(a->mqtt); /* connections close, their wills go out */
    }
    if (a->broker) {
        broker_stop(a->broker); /* the store's last completions */
    }
    mqtt_fe_destroy(a->mqtt);
    broker_destroy(a->broker);
    bridge_free_all(a->bridges); /* after the store's last completions */
    if (a->sigfd > 0) {
        (void)close(a->sigfd);
    }
    service_stopping(&a->svc); /* a failed start: the hardware watchdog is disarmed */
    service_close(&a->svc);
    loop_destroy(a->loop);
    return rc;
}

/* tern --scram-passwd USER: one scram_file line for USER with the
 * password read from stdin (first line), salted and hashed (4096 rounds). */
static int scram_passwd(const char *user)
{
    char pw[1024];
    if (!fgets(pw, sizeof(pw), stdin)) {
        (void)fprintf(stderr, "tern: --scram-passwd: no password on stdin\n");
        return EXIT_FAILURE;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    char line[1024];
    long n = auth_scram_make_line(user, (const uint8_t *)pw, strlen(pw),
                                  AUTH_SCRAM_DEFAULT_ITERATIONS, line, sizeof(line));
    crypto_wipe(pw, sizeof(pw));
    if (n < 0) {
        (void)fprintf(stderr, "tern: --scram-passwd: %s\n", gw_strerror((int)n));
        return EXIT_FAILURE;
    }
    (void)printf("%s\n", line);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int pr = parse_args(argc, argv, &o);
    if (pr != 0) {
        return pr > 0 ? EXIT_SUCCESS : 2;
    }
    if (o.scram_user) {
        return scram_passwd(o.scram_user);
    }
    if (o.list_ports) {
        return list_ports_print(stdout, stderr) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    struct gw_config *cfg = load_config(o.config, o.port, o.verbose);
    if (!cfg) {
        return EXIT_FAILURE;
    }
    if (o.store_info) {
        int irc = store_info_print(cfg, stdout);
        cfg_free(cfg);
        return irc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    if (o.check_only) {
        struct auth *au = NULL;
        char err[512] = "";
        int arc = (cfg->password_file || cfg->acl_file)
                          ? auth_load(cfg->password_file, cfg->acl_file, &au, err, sizeof(err))
                          : 0;
        auth_free(au);
        for (size_t i = 0; arc == 0 && i < cfg->n_listeners; i++) {
            /* TLS files are read as the listener would read them. */
            const struct cfg_listener *cl = &cfg->listeners[i];
            arc = strcmp(cl->protocol, "mqtt") == 0 ? lsn_tls_check(cl, err, sizeof(err)) : 0;
            if (arc < 0 && err[0]) {
                char tmp[sizeof(err)];
                (void)snprintf(tmp, sizeof(tmp), "%s", err);
                (void)snprintf(err, sizeof(err), "%s: TLS: %.400s", cl->origin, tmp);
            }
        }
        if (arc < 0) {
            (void)fprintf(stderr, "tern: %s\n", err[0] ? err : gw_strerror(arc));
            cfg_free(cfg);
            return EXIT_FAILURE;
        }
        for (size_t i = 0; i < cfg->n_warnings; i++) {
            (void)fprintf(stderr, "tern: warning: %s\n", cfg->warnings[i]);
        }
        (void)printf("%s: configuration OK (%zu listener%s, %zu bridge%s)\n",
                     o.config ? o.config : "(defaults)", cfg->n_listeners,
                     cfg->n_listeners == 1 ? "" : "s", cfg->n_bridges,
                     cfg->n_bridges == 1 ? "" : "s");
        cfg_free(cfg);
        return EXIT_SUCCESS;
    }
    int lrc = gw_log_configure(cfg->log_type_mask, cfg->log_dest_mask, cfg->log_file,
                               cfg->log_timestamp);
    if (lrc < 0) {
        gw_log(GW_ERROR, "main", "log file %s: %s", cfg->log_file, gw_strerror(lrc));
    }
    log_warnings(cfg);
    struct app a = {.config_path = o.config, .verbose = o.verbose, .port = o.port, .sigfd = -1};
    int rc = run(&a, cfg);
    gw_log_close();
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
