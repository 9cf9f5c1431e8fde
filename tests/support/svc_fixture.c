/* svc_fixture.c - see svc_fixture.h. */
#include "svc_fixture.h"

#include "alloc.h"
#include "auth.h"
#include "broker.h"
#include "cfg.h"
#include "gw_err.h"
#include "loop.h"
#include "mqtt_props.h"
#include "msg.h"
#include "persist.h"
#include "sess.h"
#include "svc.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

/* ---- the fake front-end ---- */

static int fake_publish(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup, bool retain)
{
    struct fake_link *f = link;
    assert_true(f->n < MAX_SENT);
    struct sent *s = &f->sent[f->n++];
    *s = (struct sent){.kind = 'P', .pid = pid, .qos = qos, .dup = dup, .retain = retain};
    snprintf(s->topic, sizeof(s->topic), "%s", m->topic);
    return 0;
}

static int fake_publish_tag(void *link, struct msg *m, uint8_t qos, uint16_t pid, bool dup,
                            bool retain, struct sess_tag *tag)
{
    (void)tag;
    return fake_publish(link, m, qos, pid, dup, retain);
}

static int fake_pubrel(void *link, uint16_t pid)
{
    struct fake_link *f = link;
    assert_true(f->n < MAX_SENT);
    f->sent[f->n++] = (struct sent){.kind = 'R', .pid = pid};
    return 0;
}

static bool fake_writable(void *link)
{
    return ((struct fake_link *)link)->writable;
}

static void fake_kick(void *link, int reason)
{
    struct fake_link *f = link;
    f->kicks++;
    f->kick_reason = reason;
}

const struct sess_link_ops fake_ops = {fake_publish, fake_pubrel, fake_writable, fake_kick,
                                       fake_publish_tag};

/* ---- fixture: a broker on a real loop and store ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->base, sizeof(f->base), "/tmp/tern_svc_XXXXXX");
    assert_non_null(mkdtemp(f->base));
    snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->base);
    snprintf(f->acl_path, sizeof(f->acl_path), "%s/acl", f->base);
    snprintf(f->passwd_path, sizeof(f->passwd_path), "%s/passwd", f->base);
    for (size_t i = 0; i < sizeof(f->links) / sizeof(f->links[0]); i++) {
        f->links[i].writable = true;
    }
    *state = f;
    return 0;
}

void stop(struct fx *f)
{
    broker_destroy(f->b);
    f->b = NULL;
    loop_destroy(f->l);
    f->l = NULL;
}

int teardown(void **state)
{
    struct fx *f = *state;
    gw_alloc_fail_at(-1, 0);
    if (f->b) {
        stop(f);
    }
    (void)nftw(f->base, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    assert_int_equal(gw_alloc_bytes(), 0);
    return 0;
}

void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Create loop, config (persistence in the temp dir, plus f->extra and the
 * acl_file and password_file when there are), broker, auth, store, and the
 * broker's timers. */
void start(struct fx *f)
{
    char text[2048];
    char auth_lines[256] = "";
    if (f->with_acl) {
        snprintf(auth_lines, sizeof(auth_lines), "acl_file %s\npassword_file %s\n", f->acl_path,
                 f->passwd_path);
    }
    snprintf(text, sizeof(text),
             "persistence true\n"
             "persistence_location %s\n"
             "persistence_durability none\n"
             "%s",
             f->store_dir, auth_lines);
    strncat(text, f->extra, sizeof(text) - strlen(text) - 1);
    char err[512] = "";
    struct gw_config *cfg = NULL;
    int rc = cfg_load_string(text, "test_svc.conf", &cfg, err, sizeof(err));
    if (rc != 0) {
        fail_msg("config: %d %s", rc, err);
    }
    assert_int_equal(loop_create(&f->l), 0);
    assert_int_equal(broker_create(f->l, cfg, &f->b), 0);
    assert_int_equal(broker_load_auth(f->b), 0);
    assert_int_equal(persist_open(f->b), 0);
    assert_true(persist_enabled(f->b));
    assert_int_equal(broker_start(f->b), 0);
}

/* Two users of tests/data/passwd.fixture (mosquitto_passwd 2.0.11):
 * alice/secret, bob/hunter2. The service only sees usernames that a check
 * like this verified. */
const char passwd_main[] =
        "alice:$7$101$yj57J2V8aJ7d24Ld$ZsUddzCpeGSOum8N3Ygb9vWRFE1NGDKLBawuMWMKsPRz4LT6kCxUB4GD7g"
        "qbp8CCEqEVstGEb+HiTgkF0iQsug==\n"
        "bob:$6$ZWNCYNXiklkWRTYQ$YDf2nZ2399G9Ep8Ee6CMN4HGhmB+Us80V8BBjXrnksdXh/DQ0KuMT2JUgaw4ylbSz"
        "lvPvZgZXmwOKRicE3HrPw==\n";

void start_acl(struct fx *f, const char *acl)
{
    write_file(f->acl_path, acl);
    write_file(f->passwd_path, passwd_main);
    f->with_acl = true;
    start(f);
    assert_non_null(f->b->auth);
    assert_true(auth_has_acl(f->b->auth));
    assert_true(auth_has_passwords(f->b->auth));
    assert_true(auth_check_password(f->b->auth, gw_bytes_str("alice"), gw_bytes_str("secret")));
}

/* Destroy the broker and open a new one on the same store. */
void restart(struct fx *f)
{
    stop(f);
    start(f);
}

static void on_committed(void *arg, uint32_t data, int rc)
{
    (void)data;
    assert_int_equal(rc, 0);
    loop_stop(arg);
}

/* Run the loop until everything queued so far is committed (and the
 * sessions reaped so far are freed). */
void commit(struct fx *f)
{
    assert_int_equal(persist_after_commit(f->b, on_committed, f->l, 0), 0);
    assert_int_equal(loop_run(f->l), 0);
}

/* The ACL of most authorisation tests: alice writes and reads sensors/#,
 * watcher reads everything, pub writes everything. */
const char acl_main[] = "user alice\n"
                        "topic readwrite sensors/#\n"
                        "user watcher\n"
                        "topic read #\n"
                        "user pub\n"
                        "topic readwrite #\n";

struct msg *mkmsg(const char *topic, const char *payload, uint8_t qos, bool retain)
{
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(gw_bytes_str(topic), gw_bytes_str(payload), none, qos, retain);
    assert_non_null(m);
    return m;
}

enum svc_verdict open_with(struct fx *f, const struct open_args *a, struct sess **s, bool *present)
{
    struct svc_connect c = {
            .client_id = gw_bytes_str(a->id),
            .username = a->user,
            .door = a->door,
            .clean = a->clean,
            .persistent = a->persistent,
            .expiry_s = a->expiry_s,
            .protocol = 4,
            .recv_max_in = a->recv_max_in,
            .will = a->will,
    };
    *s = NULL;
    *present = false;
    return svc_open(f->b, &c, s, present);
}

/* Open and attach to link; the verdict must be SVC_OK. */
struct sess *connect_link(struct fx *f, const struct open_args *a, struct fake_link *link,
                          bool *present)
{
    struct sess *s;
    bool p;
    enum svc_verdict v = open_with(f, a, &s, &p);
    if (v != SVC_OK) {
        fail_msg("svc_open %s: %s", a->id, svc_verdict_name(v));
    }
    assert_non_null(s);
    assert_int_equal(svc_attach(f->b, s, &fake_ops, link), 0);
    if (present) {
        *present = p;
    }
    return s;
}

struct sess *connect_as(struct fx *f, const char *id, const char *user, bool persistent,
                        struct fake_link *link)
{
    struct open_args a = {.id = id, .user = user, .persistent = persistent};
    return connect_link(f, &a, link, NULL);
}

void subscribe(struct fx *f, struct sess *s, const char *filter, uint8_t qos)
{
    struct svc_sub sub = {.filter = gw_bytes_str(filter), .qos = qos};
    bool replaced;
    enum svc_verdict v = svc_subscribe(f->b, s, &sub, &replaced);
    if (v != SVC_OK) {
        fail_msg("subscribe %s: %s", filter, svc_verdict_name(v));
    }
}

enum svc_verdict publish(struct fx *f, struct sess *from, const struct svc_door *door,
                         const char *topic, uint8_t qos, uint16_t pid, bool retain,
                         struct svc_outcome *out)
{
    struct svc_publish p = {
            .topic = gw_bytes_str(topic),
            .payload = gw_bytes_str("payload"),
            .qos = qos,
            .retain = retain,
            .packet_id = pid,
    };
    return svc_publish(f->b, from, door, &p, out);
}

/* A persistent subscriber to filter that went offline (its queue is in the
 * store). */
struct sess *offline_subscriber(struct fx *f, const char *id, const char *user, const char *filter)
{
    struct sess *s = connect_as(f, id, user, true, &f->links[7]);
    subscribe(f, s, filter, 1);
    svc_disconnect(f->b, s, true, false);
    return s;
}

size_t count_topic(const struct fake_link *l, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->sent[i].kind == 'P' && strcmp(l->sent[i].topic, topic) == 0) {
            n++;
        }
    }
    return n;
}

bool only_sensor_ids(const void *arg, struct gw_bytes id)
{
    const char *prefix = arg;
    size_t n = strlen(prefix);
    return id.n >= n && memcmp(id.p, prefix, n) == 0;
}
