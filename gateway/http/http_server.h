/* http_server.h - a small HTTP/1.1 server on the event loop, for the
 * operations endpoints (metrics, health, status).
 *
 * One request per connection: the server reads one request head (bounded
 * by http_limits.max_request bytes, within timeout_ms of the accept), asks
 * the handler for the reply, writes it with `Connection: close` and closes
 * (RFC 9112 9.6). That is all a Prometheus scraper or a health probe needs,
 * and it keeps a connection's state to one buffer each way. Only GET and
 * HEAD are served; a body, a Transfer-Encoding or a version other than 1.x
 * is refused with its 4xx/5xx status before the handler runs, and a
 * malformed head gets 400. Nothing a peer sends reaches other connections.
 *
 * A handler that needs work off the loop (a password check) defers its
 * answer (http_reply_defer) and is run again when the work is done.
 *
 * Sockets are non-blocking and owned by the loop; connections over
 * max_conns are closed at accept and counted. Loop thread only. */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include "buf.h"
#include "http_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http_server;

struct http_limits {
    size_t max_request;  /* bytes of a request head; default 8192 */
    uint32_t timeout_ms; /* accept to last byte written; default 5000 */
    size_t max_conns;    /* open connections per server; default 64 */
};

/* A reply the handler fills. body is initialised empty by the server. */
struct http_reply {
    int status;               /* 200, 401, 404, 503 ... */
    const char *content_type; /* static string; NULL = none (no body) */
    const char *extra_header; /* one "Name: value" line without CRLF, or NULL; static or
                                 valid until the handler returns (copied) */
    struct buf body;
    bool failed; /* an append ran out of memory: the server answers 500 */
    /* Set by the server when the handler runs again after http_wake. */
    bool resumed;
    int wake_result;
    /* Server-side only. */
    void *conn_;
    bool deferred_;
};

/* The server's figures (for its own metrics). */
struct http_counters {
    uint64_t accepted;
    uint64_t refused;  /* over max_conns */
    uint64_t requests; /* handled by the handler */
    uint64_t bad;      /* answered 4xx/5xx by the server itself, or closed unanswered */
    uint64_t timeouts;
};

/* Answer one request. req and its views live until the handler returns.
 * The handler sets rep->status, rep->content_type and appends the body;
 * for HEAD the server sends only the head. Must not block. */
typedef void http_handler_cb(void *arg, const struct http_request *req, struct http_reply *rep);

/* A request whose answer waits for work off the loop (a password check on
 * the auth worker): the handler must not block. */
struct http_wait;

/* In a handler: answer later. The server stops reading the connection and
 * keeps its request; http_wake(w, result) runs the handler again on the
 * same request with rep->resumed set and rep->wake_result = result, and
 * that answer is sent. If the connection ends first (its timeout, the
 * server's destruction), gone(arg) runs instead and w is dead. A resumed
 * request cannot wait again: NULL then (answer now). */
struct http_wait *http_reply_defer(struct http_reply *rep, void (*gone)(void *arg), void *arg);

/* The awaited work is done: answer the request (loop thread). */
void http_wake(struct http_wait *w, int result);

/* Create a server on loop l (borrowed, outlives the server) with limits
 * lim (NULL or zero fields: defaults). Returns 0 and *out (free with
 * http_server_destroy), or -ENOMEM. */
int http_server_create(struct loop *l, const struct http_limits *lim, http_handler_cb *cb,
                       void *arg, struct http_server **out);

/* Listen on addr (numeric; NULL = all addresses, dual-stack unless domain
 * is AF_INET or AF_INET6) port port. Returns 0, or -errno with nothing
 * left open. May be called for several addresses. */
int http_server_listen(struct http_server *s, const char *addr, uint16_t port, int domain);

/* Close every socket and free the server. NULL is a no-op. */
void http_server_destroy(struct http_server *s);

/* The server's counters (borrowed, live). */
const struct http_counters *http_server_counters(const struct http_server *s);

/* Open connections right now. */
size_t http_server_conns(const struct http_server *s);

/* Append n bytes (printf: formatted text) to rep's body. On failure
 * rep->failed is set and later appends do nothing. Returns 0 or -ENOMEM. */
int http_body_append(struct http_reply *rep, const void *p, size_t n);
__attribute__((format(printf, 2, 3))) int http_body_printf(struct http_reply *rep, const char *fmt,
                                                           ...);

/* Reason phrase of a status code ("Not Found"); "" if unknown. */
const char *http_status_text(int status);

#endif
