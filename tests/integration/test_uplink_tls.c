/* Integration tests for the bridge uplink's TLS (gateway/stream/stream_tls.c) on a
 * real event loop against real `openssl s_server` processes, with
 * certificates made at run time by the openssl CLI: a CA, a server
 * certificate for localhost / 127.0.0.1, one for another name, a client
 * certificate and an unrelated CA. Servers listen on kernel-picked ports and
 * are killed at the end. */
#include "alloc.h"
#include "gw_err.h"
#include "loop.h"
#include "uplink_harness.h"
#include "uplink_io.h"
#include "stream.h"
#include "stream_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

/* ---- processes and files ---- */

static char dir[256];              /* temp dir with keys, certificates, logs */
static const char *openssl = NULL; /* the CLI */

/* One s_server serves one connection at a time: the bulk tests stop theirs
 * (SIGSTOP), so each gets its own, and a failure there (which leaves its
 * connection open) cannot block the other cases. */
enum srv_kind { SRV_MAIN, SRV_OTHER, SRV_MTLS, SRV_BULK, SRV_RETRY, SRV_N };

static pid_t srv_pid[SRV_N];
static uint16_t srv_port[SRV_N];

static void path_of(char *out, size_t cap, const char *name)
{
    (void)snprintf(out, cap, "%s/%s", dir, name);
}

/* Run argv with output to dir/<log>; returns the process id or -1. */
static pid_t spawn(char *const argv[], const char *log)
{
    char logpath[512];
    path_of(logpath, sizeof(logpath), log);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

static void dump_log(const char *log)
{
    char p[512];
    char line[512];
    path_of(p, sizeof(p), log);
    FILE *f = fopen(p, "r");
    while (f && fgets(line, sizeof(line), f)) {
        fprintf(stderr, "  %s: %s", log, line);
    }
    if (f) {
        (void)fclose(f);
    }
}

/* Run one openssl command to completion in dir; 0 on success. */
static int run_openssl(const char *const *args)
{
    char *argv[40];
    size_t n = 0;
    argv[n++] = (char *)openssl;
    for (size_t i = 0; args[i] && n < 39; i++) {
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    pid_t pid = spawn(argv, "openssl.log");
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "openssl %s failed\n", args[0]);
        dump_log("openssl.log");
        return -1;
    }
    return 0;
}

static const char openssl_cnf[] = "[req]\n"
                                  "distinguished_name = dn\n"
                                  "prompt = no\n"
                                  "[dn]\n"
                                  "CN = unused\n"
                                  "[ca_ext]\n"
                                  "basicConstraints = critical,CA:TRUE\n"
                                  "keyUsage = critical,keyCertSign,cRLSign\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "[server_ext]\n"
                                  "basicConstraints = CA:FALSE\n"
                                  "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "[other_ext]\n"
                                  "basicConstraints = CA:FALSE\n"
                                  "subjectAltName = DNS:other.example\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "[client_ext]\n"
                                  "basicConstraints = CA:FALSE\n"
                                  "extendedKeyUsage = clientAuth\n";

static int make_ca(const char *name, const char *cn)
{
    char key[300];
    char crt[300];
    char subj[100];
    (void)snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    (void)snprintf(crt, sizeof(crt), "%s/%s.pem", dir, name);
    (void)snprintf(subj, sizeof(subj), "/CN=%s", cn);
    char cnf[300];
    path_of(cnf, sizeof(cnf), "openssl.cnf");
    const char *args[] = {
            "req",    "-x509",   "-config", cnf,        "-extensions",
            "ca_ext", "-newkey", "ec",      "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key,       "-out",     crt,
            "-subj",  subj,      "-days",   "2",        NULL};
    return run_openssl(args);
}

/* A key and a certificate for cn signed by the CA in dir/ca.*. */
static int make_leaf(const char *name, const char *cn, const char *ext, const char *serial)
{
    char key[300];
    char csr[300];
    char crt[300];
    char subj[100];
    char cnf[300];
    char ca[300];
    char cakey[300];
    (void)snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    (void)snprintf(csr, sizeof(csr), "%s/%s.csr", dir, name);
    (void)snprintf(crt, sizeof(crt), "%s/%s.pem", dir, name);
    (void)snprintf(subj, sizeof(subj), "/CN=%s", cn);
    path_of(cnf, sizeof(cnf), "openssl.cnf");
    path_of(ca, sizeof(ca), "ca.pem");
    path_of(cakey, sizeof(cakey), "ca.key");
    const char *req[] = {"req",     "-new",    "-config",  cnf,
                         "-newkey", "ec",      "-pkeyopt", "ec_paramgen_curve:prime256v1",
                         "-nodes",  "-keyout", key,        "-out",
                         csr,       "-subj",   subj,       NULL};
    const char *sign[] = {"x509",        "-req", "-in",  csr, "-CA",   ca,  "-CAkey",   cakey,
                          "-set_serial", serial, "-out", crt, "-days", "2", "-extfile", cnf,
                          "-extensions", ext,    NULL};
    return run_openssl(req) == 0 && run_openssl(sign) == 0 ? 0 : -1;
}

/* Start `openssl s_server -rev` (echoes each line reversed) on a kernel-
 * picked port and wait for its "ACCEPT 127.0.0.1:<port>" line. */
static int start_server(enum srv_kind k, const char *certname, const char *const *extra)
{
    char crt[300];
    char key[300];
    char log[32];
    (void)snprintf(crt, sizeof(crt), "%s/%s.pem", dir, certname);
    (void)snprintf(key, sizeof(key), "%s/%s.key", dir, certname);
    (void)snprintf(log, sizeof(log), "server%d.log", (int)k);
    char *argv[32] = {(char *)openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", crt,
                      "-key",          key,        "-rev"};
    size_t n = 9;
    for (size_t i = 0; extra[i] && n < 31; i++) {
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    srv_pid[k] = spawn(argv, log);
    if (srv_pid[k] < 0) {
        return -1;
    }
    char p[512];
    path_of(p, sizeof(p), log);
    for (int tries = 0; tries < 500; tries++) { /* 10 s */
        FILE *f = fopen(p, "r");
        char line[256];
        unsigned port = 0;
        while (f && fgets(line, sizeof(line), f)) {
            if (sscanf(line, "ACCEPT 127.0.0.1:%u", &port) == 1) {
                break;
            }
        }
        if (f) {
            (void)fclose(f);
        }
        if (port > 0 && port < 65536) {
            srv_port[k] = (uint16_t)port;
            return 0;
        }
        int status;
        if (waitpid(srv_pid[k], &status, WNOHANG) == srv_pid[k]) {
            srv_pid[k] = -1;
            break;
        }
        (void)nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "s_server %d did not start\n", (int)k);
    dump_log(log);
    return -1;
}

static int write_file(const char *name, const char *text)
{
    char p[512];
    path_of(p, sizeof(p), name);
    FILE *f = fopen(p, "w");
    if (!f) {
        return -1;
    }
    (void)fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    (void)signal(SIGPIPE, SIG_IGN);
    openssl = getenv("TERN_OPENSSL");
    if (!openssl || !*openssl || strstr(openssl, "NOTFOUND")) {
        openssl = "openssl";
    }
    const char *tmp = getenv("TMPDIR");
    (void)snprintf(dir, sizeof(dir), "%s/tern-uplink-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        return -1;
    }
    for (int k = 0; k < SRV_N; k++) {
        srv_pid[k] = -1;
    }
    const char *none[] = {NULL};
    char ca[300];
    path_of(ca, sizeof(ca), "ca.pem");
    const char *mtls[] = {"-Verify", "1", "-CAfile", ca, NULL};
    const char *alpn[] = {"-alpn", "x-other,mqtt", NULL};
    if (write_file("openssl.cnf", openssl_cnf) < 0 || make_ca("ca", "Tern Test CA") < 0 ||
        make_ca("otherca", "Unrelated CA") < 0 ||
        make_leaf("server", "localhost", "server_ext", "1001") < 0 ||
        make_leaf("other", "other.example", "other_ext", "1002") < 0 ||
        make_leaf("client", "tern-bridge", "client_ext", "1003") < 0 ||
        write_file("garbage.pem", "this is not PEM\n") < 0 ||
        start_server(SRV_MAIN, "server", alpn) < 0 || start_server(SRV_OTHER, "other", none) < 0 ||
        start_server(SRV_MTLS, "server", mtls) < 0 || start_server(SRV_BULK, "server", none) < 0 ||
        start_server(SRV_RETRY, "server", none) < 0) {
        fprintf(stderr, "setup failed (openssl CLI: Debian package openssl)\n");
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    (void)state;
    for (int k = 0; k < SRV_N; k++) {
        if (srv_pid[k] > 0) {
            (void)kill(srv_pid[k], SIGKILL); /* also ends a stopped one */
            (void)waitpid(srv_pid[k], NULL, 0);
        }
    }
    return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static struct uplink_tls *tls_make(const char *ca, const char *cert, bool insecure,
                                   const char *alpn)
{
    char cafile[300];
    char certfile[300];
    char keyfile[300];
    (void)snprintf(cafile, sizeof(cafile), "%s/%s.pem", dir, ca);
    (void)snprintf(certfile, sizeof(certfile), "%s/%s.pem", dir, cert ? cert : "");
    (void)snprintf(keyfile, sizeof(keyfile), "%s/%s.key", dir, cert ? cert : "");
    struct uplink_tls_cfg cfg = {.cafile = cafile,
                                 .certfile = cert ? certfile : NULL,
                                 .keyfile = cert ? keyfile : NULL,
                                 .insecure = insecure,
                                 .alpn = alpn};
    char err[256];
    struct uplink_tls *t = NULL;
    if (uplink_tls_create(&cfg, &t, err, sizeof(err)) != 0) {
        fail_msg("uplink_tls_create: %s", err);
    }
    return t;
}

/* Connect to server k as host, send a line and wait for it reversed (or
 * for closed()). */
static void tls_session(struct ctx *c, struct uplink_tls *t, enum srv_kind k, const char *host)
{
    ctx_init(c);
    c->say = "hello tern\n";
    c->expect = "nret olleh";
    ctx_open(c, host, srv_port[k], t);
    ctx_run(c, GUARD_MS);
    assert_false(c->timed_out);
}

static void assert_round_trip(struct ctx *c)
{
    if (c->n_closed) {
        fail_msg("closed: %s", c->reason);
    }
    assert_int_equal(c->n_connected, 1);
    assert_non_null(strstr(c->rx, "nret olleh"));
}

static void test_uplink_tls_round_trip_localhost(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", NULL, false, NULL);
    struct ctx c;
    tls_session(&c, t, SRV_MAIN, "localhost");
    assert_round_trip(&c);
    assert_null(uplink_io_alpn(c.io)); /* none offered */
    ctx_fini(&c);                      /* close_notify on a live stream */
    uplink_tls_free(t);
    assert_int_equal(gw_alloc_bytes(), 0);
}

/* mbedTLS 2.28 matches DNS names only; uplink_tls checks iPAddress
 * subjectAltNames itself. */
static void test_uplink_tls_ip_host_matches_ip_san(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", NULL, false, NULL);
    struct ctx c;
    tls_session(&c, t, SRV_MAIN, "127.0.0.1");
    assert_round_trip(&c);
    ctx_fini(&c);
    tls_session(&c, t, SRV_OTHER, "127.0.0.1"); /* no IP SAN there */
    assert_int_equal(c.n_connected, 0);
    assert_reason_has(&c, "TLS handshake failed: certificate verify failed: ");
    assert_reason_has(&c, "Common Name (CN) does not match");
    assert_closed_once(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
}

static void test_uplink_tls_alpn(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", NULL, false, "mqtt");
    struct ctx c;
    tls_session(&c, t, SRV_MAIN, "localhost");
    assert_round_trip(&c);
    assert_non_null(uplink_io_alpn(c.io));
    assert_string_equal(uplink_io_alpn(c.io), "mqtt");
    ctx_fini(&c);
    uplink_tls_free(t);
    /* No protocol in common: s_server answers no_application_protocol
     * (RFC 7301 section 3.2). */
    t = tls_make("ca", NULL, false, "x-unknown");
    tls_session(&c, t, SRV_MAIN, "localhost");
    assert_int_equal(c.n_connected, 0);
    assert_reason_has(&c, "TLS handshake failed: SSL - A fatal alert message");
    assert_reason_has(&c, "(alert 120: no_application_protocol)");
    assert_closed_once(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
}

static void test_uplink_tls_wrong_ca_refused_even_insecure(void **state)
{
    (void)state;
    for (int insecure = 0; insecure < 2; insecure++) {
        struct uplink_tls *t = tls_make("otherca", NULL, insecure != 0, NULL);
        struct ctx c;
        tls_session(&c, t, SRV_MAIN, "localhost");
        assert_int_equal(c.n_connected, 0);
        assert_reason_has(&c, "TLS handshake failed: certificate verify failed: ");
        assert_reason_has(&c, "not correctly signed by the trusted CA");
        assert_closed_once(&c);
        ctx_fini(&c);
        uplink_tls_free(t);
    }
}

static void test_uplink_tls_name_mismatch_refused_unless_insecure(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", NULL, false, NULL);
    struct ctx c;
    tls_session(&c, t, SRV_OTHER, "localhost"); /* the cert says other.example */
    assert_int_equal(c.n_connected, 0);
    assert_string_equal(c.reason, "TLS handshake failed: certificate verify failed: The "
                                  "certificate Common Name (CN) does not match with the expected "
                                  "CN");
    assert_closed_once(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
    t = tls_make("ca", NULL, true, NULL);
    tls_session(&c, t, SRV_OTHER, "localhost");
    assert_round_trip(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
}

static void test_uplink_tls_client_certificate(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", "client", false, NULL);
    struct ctx c;
    tls_session(&c, t, SRV_MTLS, "localhost");
    assert_round_trip(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
    t = tls_make("ca", NULL, false, NULL); /* the server requires one */
    tls_session(&c, t, SRV_MTLS, "localhost");
    assert_int_equal(c.n_connected, 0);
    assert_reason_has(&c, "TLS handshake failed: SSL - A fatal alert message");
    assert_reason_has(&c, "(alert "); /* handshake_failure in TLS 1.2 */
    assert_closed_once(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
}

/* 6 MiB of lines written at once to a server that is stopped (SIGSTOP):
 * the socket fills and the rest waits in the output queue, unchanged. Once
 * the server runs again, the queue goes out record by record, drained()
 * comes once, and the reversed echo of every line streams back (s_server
 * would fail the MAC of a damaged record). */
static void test_uplink_tls_large_write_round_trip(void **state)
{
    (void)state;

    enum { LINE = 64, LINES = 98304 }; /* 6 MiB: more than the kernel buffers */
    struct uplink_tls *t = tls_make("ca", NULL, false, NULL);
    struct ctx c;
    ctx_init(&c);
    c.stop_on_connected = true;
    ctx_open(&c, "localhost", srv_port[SRV_BULK], t);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 1);
    char *lines = malloc((size_t)LINE * LINES);
    assert_non_null(lines);
    for (int i = 0; i < LINES; i++) {
        char *l = lines + (size_t)i * LINE;
        memset(l, 'a' + i % 26, LINE - 1);
        l[LINE - 1] = '\n';
        char head[24];
        (void)snprintf(head, sizeof(head), "line-%06d+", i);
        memcpy(l, head, 12);
    }
    assert_int_equal(kill(srv_pid[SRV_BULK], SIGSTOP), 0);
    assert_int_equal(uplink_io_write(c.io, lines, (size_t)LINE * LINES), 0);
    free(lines);
    char last[24];
    (void)snprintf(last, sizeof(last), "+%06d-enil\n", LINES - 1);
    for (int i = 0; i < 3; i++) { /* reverse the digits too */
        char d = last[1 + i];
        last[1 + i] = last[6 - i];
        last[6 - i] = d;
    }
    c.expect = last; /* the last line, reversed */
    /* Run until the output stops moving: the socket is full. */
    size_t before = SIZE_MAX;
    size_t stuck = 0;
    for (int i = 0; i < 100 && stuck != before; i++) {
        before = stuck;
        ctx_run(&c, 100);
        assert_true(c.timed_out);
        stuck = uplink_io_pending(c.io);
    }
    assert_int_equal(kill(srv_pid[SRV_BULK], SIGCONT), 0);
    assert_int_equal(stuck, before);
    assert_true(stuck > 0);
    ctx_run(&c, 6 * GUARD_MS); /* 6 MiB each way through ASan on a busy machine */
    if (c.n_closed) {
        fail_msg("closed: %s", c.reason);
    }
    assert_false(c.timed_out);
    assert_int_equal(c.rx_total, (size_t)LINE * LINES);
    assert_int_equal(c.n_drained, 1);
    assert_int_equal(uplink_io_pending(c.io), 0);
    ctx_fini(&c);
    uplink_tls_free(t);
}

/* The TLS stream (gateway/stream) on a socket with a 4 KiB send buffer, to
 * a stopped server: a write must leave a record half sent (the stream
 * keeps it, want = LOOP_WRITE, and further writes get -EAGAIN); once the
 * server runs, flush finishes that record, and every line must come back
 * reversed, in order. */
struct retry_run {
    struct stream *s;
    const char *data;
    size_t n;       /* bytes to send */
    size_t sent;    /* taken by stream_writev */
    bool blocked;   /* a write got -EAGAIN */
    size_t echoed;  /* bytes read back */
    bool echo_ok;
};

static void retry_write_some(struct retry_run *r)
{
    int rc = stream_flush(r->s);
    if (rc == -EAGAIN) {
        r->blocked = true;
        return;
    }
    if (rc < 0) {
        fail_msg("flush: %s", stream_why());
    }
    while (r->sent < r->n) {
        size_t len = r->n - r->sent < 16384 ? r->n - r->sent : 16384;
        struct iovec iov = {.iov_base = (void *)(uintptr_t)(r->data + r->sent), .iov_len = len};
        ssize_t w = stream_writev(r->s, &iov, 1);
        if (w == -EAGAIN) {
            r->blocked = true;
            return;
        }
        if (w < 0) {
            fail_msg("write: %s", stream_why());
        }
        assert_true(w > 0 && (size_t)w <= len);
        r->sent += (size_t)w;
    }
}

static void retry_read_some(struct retry_run *r)
{
    uint8_t b[16384];
    ssize_t n;
    while ((n = stream_read(r->s, b, sizeof(b))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            /* Line k reversed: its bytes in reverse, then the newline. */
            size_t at = r->echoed + (size_t)i;
            size_t line = at / 64;
            size_t col = at % 64;
            char expect = col == 63 ? '\n' : r->data[line * 64 + 62 - col];
            r->echo_ok = r->echo_ok && (char)b[i] == expect;
        }
        r->echoed += (size_t)n;
    }
    if (n != 0) {
        fail_msg("read: %zd %s", n, stream_why());
    }
}

static int connect_small_sndbuf(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int sz = 4096;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    assert_int_equal(poll(&p, 1, GUARD_MS), 1);
}

static void test_uplink_tls_write_retry_after_want_write(void **state)
{
    (void)state;

    enum { LINES = 65536 }; /* 4 MiB of 64-byte lines */
    char cafile[300];
    path_of(cafile, sizeof(cafile), "ca.pem");
    struct stream_tls_cfg tc = {.cafile = cafile};
    char err[256];
    struct stream_tls_conf *conf = NULL;
    assert_int_equal(stream_tls_conf_create(&tc, &conf, err, sizeof(err)), 0);
    int fd = connect_small_sndbuf(srv_port[SRV_RETRY]);
    struct retry_run r = {.s = stream_tls_client_create(conf, fd, "localhost"), .echo_ok = true};
    assert_non_null(r.s);
    int rc;
    while ((rc = stream_tls_handshake(r.s)) == -EAGAIN) {
        wait_fd(fd, stream_want(r.s) == LOOP_READ ? POLLIN : POLLOUT);
    }
    assert_int_equal(rc, 0);
    char *data = malloc((size_t)LINES * 64);
    assert_non_null(data);
    for (size_t i = 0; i < (size_t)LINES * 64; i++) {
        data[i] = i % 64 == 63 ? '\n' : (char)('a' + (i * 7 + i / 64) % 26);
    }
    r.data = data;
    r.n = (size_t)LINES * 64;
    assert_int_equal(kill(srv_pid[SRV_RETRY], SIGSTOP), 0);
    retry_write_some(&r);
    assert_int_equal(kill(srv_pid[SRV_RETRY], SIGCONT), 0);
    assert_true(r.blocked); /* the stopped server let the socket fill */
    assert_int_equal(stream_want(r.s), LOOP_WRITE); /* the stream holds a half-sent record */
    for (int turns = 0; turns < 100000 && (r.sent < r.n || r.echoed < r.n ||
                                           stream_want(r.s) != 0); turns++) {
        short ev = POLLIN;
        if (r.sent < r.n || stream_want(r.s) == LOOP_WRITE) {
            ev |= POLLOUT;
        }
        wait_fd(fd, ev);
        r.blocked = false;
        retry_write_some(&r);
        retry_read_some(&r);
    }
    assert_int_equal(r.sent, r.n);
    assert_int_equal(r.echoed, r.n);
    assert_true(r.echo_ok);
    free(data);
    stream_shutdown(r.s, 0);
    stream_destroy(r.s); /* closes fd */
    stream_tls_conf_unref(conf);
}

/* s_server -rev ends the connection on a "CLOSE" line. */
static void test_uplink_tls_server_close(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", NULL, false, NULL);
    struct ctx c;
    ctx_init(&c);
    c.say = "CLOSE\n";
    ctx_open(&c, "localhost", srv_port[SRV_MAIN], t);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 1);
    assert_reason_has(&c, "closed by peer");
    assert_closed_once(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
}

static void test_uplink_tls_handshake_timeout(void **state)
{
    (void)state;
    struct uplink_tls *t = tls_make("ca", NULL, false, NULL);
    struct ctx c;
    struct peer p;
    ctx_init(&c);
    peer_start(&p, c.l);
    p.hold = true; /* accepts, never answers the ClientHello */
    ctx_open(&c, "localhost", bound_port(p.lfd), t);
    uplink_io_set_timeout(c.io, 300);
    ctx_run(&c, GUARD_MS);
    assert_int_equal(c.n_connected, 0);
    assert_string_equal(c.reason, "TLS handshake timeout");
    assert_closed_once(&c);
    peer_stop(&p);
    ctx_fini(&c);
    uplink_tls_free(t);
}

static void test_uplink_tls_capath(void **state)
{
    (void)state;
    /* dir holds the CAs, other certificates and keys: what parses loads. */
    struct uplink_tls_cfg cfg = {.capath = dir};
    char err[256];
    struct uplink_tls *t = NULL;
    if (uplink_tls_create(&cfg, &t, err, sizeof(err)) != 0) {
        fail_msg("capath: %s", err);
    }
    struct ctx c;
    tls_session(&c, t, SRV_MAIN, "localhost");
    assert_round_trip(&c);
    ctx_fini(&c);
    uplink_tls_free(t);
}

struct bad_cfg {
    const char *cafile; /* names in dir; "-" = a directory with nothing in it */
    const char *capath;
    const char *certfile;
    const char *keyfile;
    const char *tls_version;
    const char *alpn;
    const char *expect[2]; /* in the message */
};

static const struct bad_cfg bad_cfgs[] = {
        {"missing.pem", NULL, NULL, NULL, NULL, NULL, {"/missing.pem", "No such file"}},
        {"garbage.pem", NULL, NULL, NULL, NULL, NULL, {"cafile ", "/garbage.pem: X509 - "}},
        {NULL, NULL, NULL, NULL, NULL, NULL, {"cafile or capath", NULL}},
        {NULL, "-", NULL, NULL, NULL, NULL, {"capath ", "no CA certificate"}},
        {NULL, "missing", NULL, NULL, NULL, NULL, {"capath ", "No such file"}},
        {"ca.pem", NULL, "client.pem", NULL, NULL, NULL, {"certfile given without keyfile", NULL}},
        {"ca.pem", NULL, NULL, "client.key", NULL, NULL, {"keyfile given without certfile", NULL}},
        {"ca.pem", NULL, "garbage.pem", "client.key", NULL, NULL, {"certfile ", "/garbage.pem: "}},
        {"ca.pem", NULL, "client.pem", "garbage.pem", NULL, NULL, {"keyfile ", "/garbage.pem: PK"}},
        {"ca.pem", NULL, "client.pem", "server.key", NULL, NULL, {"not the key of certfile", NULL}},
        {"ca.pem", NULL, NULL, NULL, "tlsv1.3", NULL, {"tlsv1.3", "not supported"}},
        {"ca.pem", NULL, NULL, NULL, "tlsv1.1", NULL, {"expected tlsv1.2 or tlsv1.3", NULL}},
        {"ca.pem", NULL, NULL, NULL, NULL, "", {"alpn", NULL}},
};

static const char *in_dir(char *buf, size_t cap, const char *name)
{
    if (!name) {
        return NULL;
    }
    path_of(buf, cap, strcmp(name, "-") == 0 ? "empty" : name);
    return buf;
}

static void test_uplink_tls_create_errors_name_the_file(void **state)
{
    (void)state;
    char empty[300];
    path_of(empty, sizeof(empty), "empty");
    (void)mkdir(empty, 0700);
    for (size_t i = 0; i < sizeof(bad_cfgs) / sizeof(bad_cfgs[0]); i++) {
        const struct bad_cfg *b = &bad_cfgs[i];
        char p[4][300];
        struct uplink_tls_cfg cfg = {.cafile = in_dir(p[0], sizeof(p[0]), b->cafile),
                                     .capath = in_dir(p[1], sizeof(p[1]), b->capath),
                                     .certfile = in_dir(p[2], sizeof(p[2]), b->certfile),
                                     .keyfile = in_dir(p[3], sizeof(p[3]), b->keyfile),
                                     .tls_version = b->tls_version,
                                     .alpn = b->alpn};
        char err[256] = "";
        struct uplink_tls *t = NULL;
        int rc = uplink_tls_create(&cfg, &t, err, sizeof(err));
        if (rc != GW_E_CONFIG || t != NULL) {
            fail_msg("case %zu: rc=%d err=%s", i, rc, err);
        }
        for (int k = 0; k < 2; k++) {
            if (b->expect[k] && !strstr(err, b->expect[k])) {
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, b->expect[k]);
            }
        }
        assert_int_equal(gw_alloc_bytes(), 0);
    }
}

static void test_uplink_tls_create_alloc_failures(void **state)
{
    (void)state;
    char ca[300];
    path_of(ca, sizeof(ca), "ca.pem");
    struct uplink_tls_cfg cfg = {.cafile = ca, .alpn = "mqtt"};
    int rc = -ENOMEM;
    struct uplink_tls *t = NULL;
    for (long n = 0; rc == -ENOMEM && n < 16; n++) {
        char err[256];
        gw_alloc_fail_at(n, 0);
        rc = uplink_tls_create(&cfg, &t, err, sizeof(err));
        gw_alloc_fail_at(-1, 0);
        if (rc == -ENOMEM) {
            assert_int_equal(gw_alloc_bytes(), 0);
            assert_non_null(strstr(err, "out of memory"));
        }
    }
    assert_int_equal(rc, 0);
    uplink_tls_free(t);
    assert_int_equal(gw_alloc_bytes(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_uplink_tls_round_trip_localhost),
            cmocka_unit_test(test_uplink_tls_ip_host_matches_ip_san),
            cmocka_unit_test(test_uplink_tls_alpn),
            cmocka_unit_test(test_uplink_tls_wrong_ca_refused_even_insecure),
            cmocka_unit_test(test_uplink_tls_name_mismatch_refused_unless_insecure),
            cmocka_unit_test(test_uplink_tls_client_certificate),
            cmocka_unit_test(test_uplink_tls_large_write_round_trip),
            cmocka_unit_test(test_uplink_tls_write_retry_after_want_write),
            cmocka_unit_test(test_uplink_tls_server_close),
            cmocka_unit_test(test_uplink_tls_handshake_timeout),
            cmocka_unit_test(test_uplink_tls_capath),
            cmocka_unit_test(test_uplink_tls_create_errors_name_the_file),
            cmocka_unit_test(test_uplink_tls_create_alloc_failures),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
