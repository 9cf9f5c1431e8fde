/* fuzz_scram.c - libFuzzer target for the SCRAM-SHA-256 server side and the
 * scram_file loader (auth_scram.c).
 *
 * Input: byte 0 picks the server nonce (even: the fixed RFC 7677 nonce, so
 * seeds and mutations reach the proof check; odd: a random one); the rest
 * is split at the first NUL into up to three client messages fed to one
 * session in order (client-first, client-final, then a replay). Messages
 * may hold anything; a NUL cannot, since it is the separator. The same
 * bytes are also parsed as a scram_file. Properties checked: no crash, the
 * output stays within out_cap, SUCCESS only for user "user", errors name
 * "fuzz.scram:LINE:", and nothing leaks through gw_alloc. */
#include "alloc.h"
#include "auth_method.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 7677 section 3: user "user", password "pencil". */
static const char creds_text[] = "user:SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                                 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                                 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n"
                                 "a,b=c:SCRAM-SHA-256$1:AA==$"
                                 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                                 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n";

static const char rfc_snonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

static struct auth_scram_creds *creds(void)
{
    static struct auth_scram_creds *c;
    if (!c && auth_scram_load_string(creds_text, "fuzz", &c, NULL, 0) != 0) {
        abort();
    }
    return c;
}

static void run_exchange(const uint8_t *p, size_t n, int fixed_nonce)
{
    struct auth_method_session *s = NULL;
    if (auth_scram_sha256.start(creds(), &s) != 0) {
        abort();
    }
    if (fixed_nonce && auth_scram_set_server_nonce(s, rfc_snonce, sizeof(rfc_snonce) - 1) != 0) {
        abort();
    }
    uint8_t out[AUTH_METHOD_OUT_MAX];
    for (int i = 0; i < 3 && n > 0; i++) {
        const uint8_t *nul = memchr(p, '\0', n);
        size_t len = nul ? (size_t)(nul - p) : n;
        struct auth_step st = {.out = out, .out_cap = sizeof(out)};
        int rc = s->method->step(s, (struct gw_bytes){p, len}, &st);
        if (rc == 0 && st.out_len > st.out_cap) {
            abort();
        }
        if (rc == 0 && st.result == AUTH_STEP_SUCCESS && strcmp(st.username, "user") != 0 &&
            strcmp(st.username, "a,b=c") != 0) {
            abort();
        }
        p += nul ? len + 1 : len;
        n -= nul ? len + 1 : len;
    }
    s->method->destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)creds(); /* load once, before the leak baseline */
    size_t base = gw_alloc_bytes();
    if (size > 0) {
        run_exchange(data + 1, size - 1, (data[0] & 1) == 0);
    }
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    char err[256];
    struct auth_scram_creds *c = NULL;
    int rc = auth_scram_load_string(text, "fuzz.scram", &c, err, sizeof(err));
    if (rc != 0 && (memchr(err, '\0', sizeof(err)) == NULL ||
                    (rc != -12 /* ENOMEM */ && strncmp(err, "fuzz.scram:", 11) != 0))) {
        abort();
    }
    auth_scram_free(c);
    free(text);
    if (gw_alloc_bytes() != base) {
        abort(); /* leak through gw_alloc on some path */
    }
    return 0;
}
