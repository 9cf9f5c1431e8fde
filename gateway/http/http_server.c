/* http_server.c - the one-request-per-connection HTTP server of
 * http_server.h: listening sockets, connections, replies. */
#include "http_server.h"

#include "alloc.h"
#include "gw_err.h"
#include "log.h"
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_BACKLOG       64
#define DEFAULT_MAX_REQ    8192u
#define DEFAULT_TIMEOUT_MS 5000u
#define DEFAULT_MAX_CONNS  64u
#define DRAIN_MAX          65536u /* bytes read and dropped after the reply */

enum hc_state {
    HC_READING,  /* waiting for the request head */
    HC_WAITING,  /* the handler deferred its answer (http_wait): not reading */
    HC_WRITING,  /* reply queued in out */
    HC_DRAINING, /* reply sent, write side shut: reading to EOF before close */
    HC_DEAD      /* closed, freed by the end-of-iteration hook */
};

struct http_conn {
    struct http_conn *prev;
    struct http_conn *next;
    struct http_server *s;
    int fd;
    enum hc_state state;
    struct buf in;
    struct buf out;
    struct loop_timer timer;
    size_t drained;
    uint8_t peer[16]; /* for per-address rules of the handler (failed logins) */
    void (*gone)(void *arg); /* HC_WAITING: the waiter, told if we close first */
    void *gone_arg;
    bool resumed; /* http_wake ran: the handler gets wake_result */
    int wake_result;
};

struct http_lsn {
    struct http_lsn *next;
    struct http_server *s;
    int fd;
    struct loop_timer pause; /* out of descriptors: not watched until it fires */
    bool out_of_fds;         /* logged for this episode */
};

struct http_server {
    struct loop *l;
    struct http_limits lim;
    http_handler_cb *cb;
    void *arg;
    struct http_lsn *lsns;
    struct http_conn *conns;
    size_t n_conns;
    struct http_conn *dead; /* freed at the end of the iteration (STYLE.md 4) */
    struct http_counters cnt;
};

const char *http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

int http_body_append(struct http_reply *rep, const void *p, size_t n)
{
    if (rep->failed) {
        return -ENOMEM;
    }
    if (buf_reserve(&rep->body, n) < 0) {
        rep->failed = true;
        return -ENOMEM;
    }
    memcpy(buf_tail(&rep->body), p, n);
    buf_commit(&rep->body, n);
    return 0;
}

int http_body_printf(struct http_reply *rep, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_list again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    int rc = 0;
    if (n < 0) {
        rep->failed = true;
        rc = -EINVAL;
    } else if ((size_t)n < sizeof(small)) {
        rc = http_body_append(rep, small, (size_t)n);
    } else if (rep->failed || buf_reserve(&rep->body, (size_t)n + 1) < 0) {
        rep->failed = true;
        rc = -ENOMEM;
    } else {
        (void)vsnprintf((char *)buf_tail(&rep->body), (size_t)n + 1, fmt, again);
        buf_commit(&rep->body, (size_t)n);
    }
    va_end(again);
    va_end(ap);
    return rc;
}

static void conn_close(struct http_conn *c)
{
    struct http_server *s = c->s;
    if (c->state == HC_DEAD) {
        return;
    }
    if (c->state == HC_WAITING && c->gone) {
        c->gone(c->gone_arg); /* its work will find nobody */
    }
    (void)loop_fd_del(s->l, c->fd);
    (void)close(c->fd);
    loop_timer_stop(s->l, &c->timer);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    s->n_conns--;
    c->state = HC_DEAD;
    c->next = s->dead;
    s->dead = c;
}

static void conn_free(struct http_conn *c)
{
    buf_fini(&c->in);
    buf_fini(&c->out);
    gw_free(c);
}

static void on_end_of_iteration(struct loop *l, void *arg)
{
    (void)l;
    struct http_server *s = arg;
    while (s->dead) {
        struct http_conn *c = s->dead;
        s->dead = c->next;
        conn_free(c);
    }
}

static void conn_drain(struct http_conn *c)
{
    uint8_t sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        c->drained += n > 0 ? (size_t)n : 0;
        if (n <= 0 || c->drained > DRAIN_MAX) {
            conn_close(c);
            return;
        }
    }
}

/* Write what is queued; close when all is out or the peer is gone. */
static void conn_flush(struct http_conn *c)
{
    while (buf_len(&c->out) > 0) {
        ssize_t n = send(c->fd, buf_head(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            (void)loop_fd_mod(c->s->l, c->fd, LOOP_WRITE);
            return;
        }
        if (n <= 0) {
            conn_close(c);
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
    /* Lingering close (RFC 9112 9.6): closing with unread input makes the
     * kernel send a reset, which can destroy the reply before the client
     * read it. Shut the write side and read to EOF first (bounded in bytes
     * and by the connection's timer). */
    (void)shutdown(c->fd, SHUT_WR);
    c->state = HC_DRAINING;
    (void)loop_fd_mod(c->s->l, c->fd, LOOP_READ);
    conn_drain(c);
}

/* Queue the status line, the fields and (unless head_only) the body. */
static void conn_reply(struct http_conn *c, struct http_reply *rep, bool head_only)
{
    if (rep->failed) {
        buf_fini(&rep->body);
        buf_init(&rep->body);
        rep->status = 500;
        rep->content_type = NULL;
        rep->extra_header = NULL;
    }
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%s%s%s"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     rep->status, http_status_text(rep->status), buf_len(&rep->body),
                     rep->content_type ? "Content-Type: " : "",
                     rep->content_type ? rep->content_type : "", rep->content_type ? "\r\n" : "",
                     rep->extra_header ? rep->extra_header : "", rep->extra_header ? "\r\n" : "");
    size_t hn = n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0;
    size_t bn = head_only ? 0 : buf_len(&rep->body);
    c->state = HC_WRITING;
    if (hn == 0 || buf_reserve(&c->out, hn + bn) < 0) {
        conn_close(c);
        return;
    }
    memcpy(buf_tail(&c->out), head, hn);
    buf_commit(&c->out, hn);
    if (bn) {
        memcpy(buf_tail(&c->out), buf_head(&rep->body), bn);
        buf_commit(&c->out, bn);
    }
    conn_flush(c);
}

/* A reply the server gives itself (no handler). */
static void conn_refuse(struct http_conn *c, int status, const char *extra)
{
    struct http_reply rep = {
            .status = status, .content_type = "text/plain; charset=utf-8", .extra_header = extra};
    buf_init(&rep.body);
    (void)http_body_printf(&rep, "%d %s\n", status, http_status_text(status));
    c->s->cnt.bad++;
    conn_reply(c, &rep, false);
    buf_fini(&rep.body);
}

static bool bytes_is(struct gw_bytes b, const char *s)
{
    return gw_bytes_eq(b, gw_bytes_str(s));
}

static void conn_handle(struct http_conn *c, struct http_request *req)
{
    /* RFC 9110 6.2: a server that does not support the major version
     * answers 505. */
    if (req->major != 1) {
        conn_refuse(c, 505, NULL);
        return;
    }
    bool head = bytes_is(req->method, "HEAD");
    if (!head && !bytes_is(req->method, "GET")) {
        conn_refuse(c, 405, "Allow: GET, HEAD"); /* RFC 9110 15.5.6 */
        return;
    }
    if (req->has_transfer_encoding) {
        conn_refuse(c, 501, NULL); /* RFC 9112 6.1 */
        return;
    }
    if (req->content_length > 0) {
        conn_refuse(c, 413, NULL); /* no endpoint takes a body */
        return;
    }
    struct http_reply rep = {
            .status = 500, .resumed = c->resumed, .wake_result = c->wake_result, .conn_ = c};
    buf_init(&rep.body);
    c->s->cnt.requests += !c->resumed;
    memcpy(req->peer, c->peer, sizeof(req->peer));
    c->s->cb(c->s->arg, req, &rep);
    if (rep.deferred_) {
        buf_fini(&rep.body); /* answered again on http_wake */
        return;
    }
    conn_reply(c, &rep, head);
    buf_fini(&rep.body);
}

struct http_wait *http_reply_defer(struct http_reply *rep, void (*gone)(void *arg), void *arg)
{
    struct http_conn *c = rep->conn_;
    if (!c || c->resumed || c->state != HC_READING) {
        return NULL;
    }
    rep->deferred_ = true;
    c->state = HC_WAITING;
    c->gone = gone;
    c->gone_arg = arg;
    (void)loop_fd_mod(c->s->l, c->fd, 0); /* nothing more is read meanwhile */
    return (struct http_wait *)(void *)c;
}

static void conn_try_parse(struct http_conn *c);

void http_wake(struct http_wait *w, int result)
{
    struct http_conn *c = (struct http_conn *)(void *)w;
    if (c->state != HC_WAITING) {
        return;
    }
    c->state = HC_READING;
    c->gone = NULL;
    c->resumed = true;
    c->wake_result = result;
    conn_try_parse(c); /* the request is still in c->in */
}

/* Parse what arrived; answer once the head is complete or broken. */
static void conn_try_parse(struct http_conn *c)
{
    struct http_request req;
    ssize_t n = http_parse_request(buf_head(&c->in), buf_len(&c->in), &req);
    bool full = n == GW_E_INCOMPLETE && buf_len(&c->in) >= c->s->lim.max_request;
    if (n > 0) {
        conn_handle(c, &req);
    } else if (n == GW_E_TOO_LARGE || full) {
        conn_refuse(c, 431, NULL); /* RFC 6585 5 */
    } else if (n != GW_E_INCOMPLETE) {
        conn_refuse(c, 400, NULL);
    }
}

static void conn_read(struct http_conn *c)
{
    size_t max = c->s->lim.max_request;
    while (c->state == HC_READING) {
        size_t have = buf_len(&c->in);
        size_t want = max - have;
        if (want == 0) {
            conn_try_parse(c);
            return;
        }
        if (buf_reserve(&c->in, want) < 0) {
            conn_close(c);
            return;
        }
        ssize_t n = recv(c->fd, buf_tail(&c->in), want, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            /* Closed or failed before a whole request. Nothing sent at all
             * is a TCP probe (port checks), not a bad request. */
            c->s->cnt.bad += buf_len(&c->in) > 0;
            conn_close(c);
            return;
        }
        buf_commit(&c->in, (size_t)n);
        conn_try_parse(c);
    }
}

static void on_conn_io(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    struct http_conn *c = arg;
    if (c->state == HC_READING && (events & (LOOP_READ | LOOP_ERROR))) {
        conn_read(c);
    } else if (c->state == HC_WRITING && (events & (LOOP_WRITE | LOOP_ERROR))) {
        conn_flush(c);
    } else if (c->state == HC_DRAINING) {
        conn_drain(c);
    } else if (c->state == HC_WAITING && (events & LOOP_ERROR)) {
        conn_close(c); /* reset while its answer waits: reported until closed */
    }
}

static void on_conn_timeout(struct loop *l, void *arg)
{
    (void)l;
    struct http_conn *c = arg;
    if (c->state == HC_DRAINING) {
        conn_close(c); /* the reply is out: not a timeout of the request */
        return;
    }
    c->s->cnt.timeouts++;
    if (c->state == HC_WAITING) {
        /* Its work took too long: the waiter forgets it, the client hears. */
        if (c->gone) {
            c->gone(c->gone_arg);
            c->gone = NULL;
        }
        c->state = HC_READING;
        conn_refuse(c, 503, "Retry-After: 1");
    } else if (c->state == HC_READING) {
        conn_refuse(c, 408, NULL); /* best effort: closes if it cannot be sent now */
    }
    if (c->state != HC_DEAD) {
        conn_close(c);
    }
}

static void conn_open(struct http_server *s, int fd, const struct sockaddr_storage *ss)
{
    struct http_conn *c = gw_calloc(1, sizeof(*c));
    if (!c) {
        (void)close(fd);
        return;
    }
    c->s = s;
    c->fd = fd;
    if (ss->ss_family == AF_INET) {
        memcpy(c->peer, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        memcpy(c->peer, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, 16);
    }
    buf_init(&c->in);
    buf_init(&c->out);
    loop_timer_init(&c->timer, on_conn_timeout, c);
    if (loop_fd_add(s->l, fd, LOOP_READ, on_conn_io, c) < 0 ||
        loop_timer_start(s->l, &c->timer, loop_now_ms(s->l) + s->lim.timeout_ms) < 0) {
        (void)loop_fd_del(s->l, fd);
        (void)close(fd);
        conn_free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->n_conns++;
    s->cnt.accepted++;
}

#define HTTP_PAUSE_MS 250u

static void on_pause_end(struct loop *l, void *arg)
{
    struct http_lsn *ls = arg;
    (void)loop_fd_mod(l, ls->fd, LOOP_READ);
}

/* Out of descriptors or kernel memory: retried at once, accept would fail
 * again and spin the loop (the connection stays in the backlog, the
 * socket readable). The listener rests 250 ms; one line per episode. */
static void accept_failed(struct http_lsn *ls, int err)
{
    if (err == EAGAIN || err == EINTR || err == ECONNABORTED) {
        return; /* nothing left, or the peer gave up: not worth a line */
    }
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (!ls->out_of_fds) {
            ls->out_of_fds = true;
            gw_log(GW_WARN, "http", "accept failed: %s; pausing the listener until a "
                   "descriptor frees", gw_strerror(-err));
        }
        (void)loop_fd_mod(ls->s->l, ls->fd, 0);
        (void)loop_timer_start(ls->s->l, &ls->pause, loop_now_ms(ls->s->l) + HTTP_PAUSE_MS);
        return;
    }
    gw_log(GW_WARN, "http", "accept failed: %s", gw_strerror(-err));
}

/* Accept one connection; false when there is none left (or accept failed). */
static bool accept_one(struct http_lsn *ls, int fd)
{
    struct http_server *s = ls->s;
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof(ss);
    int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        accept_failed(ls, errno);
        return false;
    }
    ls->out_of_fds = false;
    if (s->n_conns >= s->lim.max_conns) {
        s->cnt.refused++;
        (void)close(c);
        return true;
    }
    conn_open(s, c, &ss);
    return true;
}

static void on_accept(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct http_lsn *ls = arg;
    for (int i = 0; i < 64 && accept_one(ls, fd); i++) {
        /* bounded: other sockets get their turn */
    }
}

int http_server_create(struct loop *l, const struct http_limits *lim, http_handler_cb *cb,
                       void *arg, struct http_server **out)
{
    struct http_server *s = gw_calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->l = l;
    s->cb = cb;
    s->arg = arg;
    if (lim) {
        s->lim = *lim;
    }
    s->lim.max_request = s->lim.max_request ? s->lim.max_request : DEFAULT_MAX_REQ;
    s->lim.timeout_ms = s->lim.timeout_ms ? s->lim.timeout_ms : DEFAULT_TIMEOUT_MS;
    s->lim.max_conns = s->lim.max_conns ? s->lim.max_conns : DEFAULT_MAX_CONNS;
    if (loop_hook_add(l, on_end_of_iteration, s) < 0) {
        gw_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

/* Fill ss from a numeric address (NULL: the wildcard of domain). */
static int make_addr(const char *addr, uint16_t port, int domain, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!addr) {
        addr = domain == AF_INET ? "0.0.0.0" : "::";
    }
    if (domain != AF_INET6 && inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
        return 0;
    }
    if (domain != AF_INET && inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
        return 0;
    }
    return -EINVAL;
}

static int open_listen_fd(const char *addr, uint16_t port, int domain)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int rc = make_addr(addr, port, domain, &ss, &len);
    if (rc < 0) {
        return rc;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        /* An explicit IPv6 address is IPv6 only; "all addresses" is
         * dual-stack unless ipv6 was asked for (as lsn.c). */
        int v6only = (addr || domain == AF_INET6) ? 1 : 0;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, HTTP_BACKLOG) < 0) {
        rc = -errno;
        (void)close(fd);
        return rc;
    }
    return fd;
}

int http_server_listen(struct http_server *s, const char *addr, uint16_t port, int domain)
{
    int fd = open_listen_fd(addr, port, domain);
    if (fd == -EAFNOSUPPORT && !addr && domain == 0) {
        fd = open_listen_fd(NULL, port, AF_INET); /* a kernel without IPv6 */
    }
    if (fd < 0) {
        return fd;
    }
    struct http_lsn *ls = gw_calloc(1, sizeof(*ls));
    if (!ls) {
        (void)close(fd);
        return -ENOMEM;
    }
    ls->s = s;
    ls->fd = fd;
    loop_timer_init(&ls->pause, on_pause_end, ls);
    int rc = loop_fd_add(s->l, fd, LOOP_READ, on_accept, ls);
    if (rc < 0) {
        (void)close(fd);
        gw_free(ls);
        return rc;
    }
    ls->next = s->lsns;
    s->lsns = ls;
    return 0;
}

void http_server_destroy(struct http_server *s)
{
    if (!s) {
        return;
    }
    while (s->conns) {
        conn_close(s->conns);
    }
    on_end_of_iteration(s->l, s);
    while (s->lsns) {
        struct http_lsn *ls = s->lsns;
        s->lsns = ls->next;
        loop_timer_stop(s->l, &ls->pause);
        (void)loop_fd_del(s->l, ls->fd);
        (void)close(ls->fd);
        gw_free(ls);
    }
    loop_hook_del(s->l, on_end_of_iteration, s);
    gw_free(s);
}

const struct http_counters *http_server_counters(const struct http_server *s)
{
    return &s->cnt;
}

size_t http_server_conns(const struct http_server *s)
{
    return s->n_conns;
}
