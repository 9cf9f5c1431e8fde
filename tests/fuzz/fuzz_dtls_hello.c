/* fuzz_dtls_hello.c - libFuzzer target for what a stranger can send a
 * DTLS listener (gateway/stream/stream_dtls.c): a datagram from an address
 * without a session goes through stream_dtls_accept. Whatever it is, the
 * answer is nothing or one HelloVerifyRequest no larger than the datagram
 * (no amplification), no session appears (a cookie is an HMAC under a
 * random key: no input can carry a valid one), and the spare context
 * keeps no memory of it (gw_alloc's counter is back where it was). The
 * first input byte picks one of 256 source addresses. The cookie-length
 * reader (stream_dtls_hello_cookie_len) sees the same bytes. */
#include "alloc.h"
#include "stream_dtls.h"
#include "stream_tls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t sent_n;
static size_t sent_bytes;

static int on_send(void *arg, const uint8_t *addr, size_t addr_len, const uint8_t *p, size_t n)
{
    (void)arg;
    (void)addr;
    (void)addr_len;
    (void)p;
    sent_n++;
    sent_bytes += n;
    return 0;
}

static struct stream_dtls *server(void)
{
    static struct stream_dtls *srv;
    if (!srv) {
        static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        struct stream_tls_psk psk = {"fuzz", key, sizeof(key)};
        struct stream_tls_cfg cfg = {
                .server = true, .datagram = true, .psk_hint = "f", .psks = &psk, .n_psks = 1};
        struct stream_tls_conf *c = NULL;
        char err[200];
        if (stream_tls_conf_create(&cfg, &c, err, sizeof(err)) != 0 ||
            stream_dtls_create(c, on_send, NULL, &srv) != 0) {
            abort();
        }
        stream_tls_conf_unref(c); /* the server holds its own reference */
    }
    return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stream_dtls *srv = server();
    if (size < 1) {
        return 0;
    }
    uint8_t addr[6] = {10, 0, 0, data[0], 0x12, 0x34};
    sent_n = 0;
    sent_bytes = 0;
    int cookie = stream_dtls_hello_cookie_len(data + 1, size - 1);
    if (cookie < -1 || cookie > 255) {
        abort();
    }
    size_t before = gw_alloc_bytes();
    struct stream_dtls_sess *s = NULL;
    char why[200];
    enum stream_dtls_verdict v =
            stream_dtls_accept(srv, addr, sizeof(addr), data + 1, size - 1, &s, why, sizeof(why));
    if (v == STREAM_DTLS_SESSION || s != NULL) {
        abort(); /* a session without a cookie */
    }
    if (sent_n > 1 || sent_bytes > size - 1 ||
        (v == STREAM_DTLS_DROPPED && sent_n != 0 && why[0] == '\0')) {
        abort(); /* more than a cookie, or larger than what came */
    }
    if (strlen(why) >= sizeof(why) || gw_alloc_bytes() != before) {
        abort();
    }
    return 0;
}
