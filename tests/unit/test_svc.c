/* test_svc.c - the session service (svc.h) driven by fake front-ends: a
 * fake struct sess_link_ops records what the service asks a connection to
 * send, and the real broker core runs on a real loop with the real LMDB
 * store in a mkdtemp directory. No sockets, no sleep: commits complete by
 * running the loop until a persist_after_commit callback stops it, and
 * expiry is driven by writing expire_at_ms or passing now_ms. */
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

#define MAX_SENT 64

struct sent {
    char kind; /* 'P' publish, 'R' pubrel */
    uint16_t pid;
    uint8_t qos;
    bool dup;
    bool retain;
    char topic[64];
};

struct fake_link {
    struct sent sent[MAX_SENT];
    size_t n;
    bool writable;
    int kicks;
    int kick_reason;
};

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

static const struct sess_link_ops fake_ops = {fake_publish, fake_pubrel, fake_writable, fake_kick,
                                              fake_publish_tag};

/* ---- fixture: a broker on a real loop and store ---- */

struct fx {
    char base[64];      /* mkdtemp: holds store/, acl and passwd */
    char store_dir[96]; /* persistence_location */
    char acl_path[96];
    char passwd_path[96];
    char extra[512]; /* config lines of this test */
    bool with_acl;
    struct loop *l;
    struct broker *b;
    struct fake_link links[8];
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
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

static void stop(struct fx *f)
{
    broker_destroy(f->b);
    f->b = NULL;
    loop_destroy(f->l);
    f->l = NULL;
}

static int teardown(void **state)
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

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Create loop, config (persistence in the temp dir, plus f->extra and the
 * acl_file and password_file when there are), broker, auth, store, and the
 * broker's timers. */
static void start(struct fx *f)
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
static const char passwd_main[] =
        "alice:$7$101$yj57J2V8aJ7d24Ld$ZsUddzCpeGSOum8N3Ygb9vWRFE1NGDKLBawuMWMKsPRz4LT6kCxUB4GD7g"
        "qbp8CCEqEVstGEb+HiTgkF0iQsug==\n"
        "bob:$6$ZWNCYNXiklkWRTYQ$YDf2nZ2399G9Ep8Ee6CMN4HGhmB+Us80V8BBjXrnksdXh/DQ0KuMT2JUgaw4ylbSz"
        "lvPvZgZXmwOKRicE3HrPw==\n";

static void start_acl(struct fx *f, const char *acl)
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
static void restart(struct fx *f)
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
static void commit(struct fx *f)
{
    assert_int_equal(persist_after_commit(f->b, on_committed, f->l, 0), 0);
    assert_int_equal(loop_run(f->l), 0);
}

/* The ACL of most authorisation tests: alice writes and reads sensors/#,
 * watcher reads everything, pub writes everything. */
static const char acl_main[] = "user alice\n"
                               "topic readwrite sensors/#\n"
                               "user watcher\n"
                               "topic read #\n"
                               "user pub\n"
                               "topic readwrite #\n";

static struct msg *mkmsg(const char *topic, const char *payload, uint8_t qos, bool retain)
{
    struct gw_bytes none = {NULL, 0};
    struct msg *m = msg_create(gw_bytes_str(topic), gw_bytes_str(payload), none, qos, retain);
    assert_non_null(m);
    return m;
}

struct open_args {
    const char *id;
    const char *user;
    bool clean;
    bool persistent;
    uint32_t expiry_s;
    uint16_t recv_max_in;
    const struct svc_door *door;
    struct msg *will; /* taken */
};

static enum svc_verdict open_with(struct fx *f, const struct open_args *a, struct sess **s,
                                  bool *present)
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
static struct sess *connect_link(struct fx *f, const struct open_args *a, struct fake_link *link,
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

static struct sess *connect_as(struct fx *f, const char *id, const char *user, bool persistent,
                               struct fake_link *link)
{
    struct open_args a = {.id = id, .user = user, .persistent = persistent};
    return connect_link(f, &a, link, NULL);
}

static void subscribe(struct fx *f, struct sess *s, const char *filter, uint8_t qos)
{
    struct svc_sub sub = {.filter = gw_bytes_str(filter), .qos = qos};
    bool replaced;
    enum svc_verdict v = svc_subscribe(f->b, s, &sub, &replaced);
    if (v != SVC_OK) {
        fail_msg("subscribe %s: %s", filter, svc_verdict_name(v));
    }
}

static enum svc_verdict publish(struct fx *f, struct sess *from, const struct svc_door *door,
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
static struct sess *offline_subscriber(struct fx *f, const char *id, const char *user,
                                       const char *filter)
{
    struct sess *s = connect_as(f, id, user, true, &f->links[7]);
    subscribe(f, s, filter, 1);
    svc_disconnect(f->b, s, true, false);
    return s;
}

static size_t count_topic(const struct fake_link *l, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->sent[i].kind == 'P' && strcmp(l->sent[i].topic, topic) == 0) {
            n++;
        }
    }
    return n;
}

/* ---- open ---- */

static void test_svc_open_new_session_not_present(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s;
    bool present = true;
    struct open_args a = {.id = "c1", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_OK);
    assert_false(present);
    assert_non_null(s);
    assert_ptr_equal(sess_table_get(&f->b->sessions, gw_bytes_str("c1")), s);
    assert_string_equal(s->username, "alice");
    assert_false(s->clean);
    svc_disconnect(f->b, s, true, false);
}

static void test_svc_open_resume_present(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", "alice", true, &f->links[0]);
    subscribe(f, s, "a/b", 1);
    svc_disconnect(f->b, s, true, false);
    commit(f);

    struct sess *s2;
    bool present = false;
    struct open_args a = {.id = "c1", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_OK);
    assert_true(present);
    assert_ptr_equal(s2, s);
    assert_int_equal(s2->n_subs, 1);
    assert_int_equal(s2->expiry_idx, 0);
}

static void test_svc_open_clean_discards(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", "alice", true, &f->links[0]);
    subscribe(f, s, "a/b", 1);
    svc_disconnect(f->b, s, true, false);
    struct svc_door open_door = {.allow_anonymous = true};
    struct svc_outcome out;
    assert_int_equal(publish(f, NULL, &open_door, "a/b", 1, 0, false, &out), SVC_OK);
    assert_int_equal(sess_queue_len(s), 1);
    commit(f);

    struct sess *s2;
    bool present = true;
    struct open_args a = {.id = "c1", .user = "alice", .clean = true, .persistent = true};
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_OK);
    assert_false(present);
    assert_int_equal(s2->n_subs, 0);
    assert_int_equal(sess_queue_len(s2), 0);
    commit(f); /* the old session is freed at the end of the iteration */
    /* Nothing of the old session is routed to any more. */
    assert_int_equal(publish(f, NULL, &open_door, "a/b", 1, 0, false, &out), SVC_OK);
    assert_true(out.no_subscribers);
}

/* A shared group's message must go to a member that still exists: the
 * session a clean start discards stays in the router until the end of the
 * loop iteration (broker_reap_session leaves its subscriptions to
 * sess_destroy in free_reaped), and a publish in that iteration must not
 * pick it: it would be acknowledged and lost with the dead session. */
static void test_svc_open_clean_discarded_member_gets_no_share(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *old = connect_as(f, "a", NULL, true, &f->links[0]);
    subscribe(f, old, "$share/g/t", 1);
    svc_disconnect(f->b, old, true, false);
    struct sess *b = connect_as(f, "b", NULL, true, &f->links[1]);
    subscribe(f, b, "$share/g/t", 1);
    svc_disconnect(f->b, b, true, false);
    commit(f);

    struct sess *a;
    bool present = true;
    struct open_args clean = {.id = "a", .clean = true, .persistent = true};
    assert_int_equal(open_with(f, &clean, &a, &present), SVC_OK);
    assert_false(present);
    /* Same iteration: another client publishes twice to the group. */
    struct svc_door open_door = {.allow_anonymous = true};
    for (int i = 0; i < 2; i++) {
        struct svc_outcome out;
        assert_int_equal(publish(f, NULL, &open_door, "t", 1, 0, false, &out), SVC_OK);
        assert_true(out.pending);
    }
    assert_int_equal(sess_queue_len(b), 2);
}

static void test_svc_open_same_identity_takes_over(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "will/#", 1);
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("will/alice", "gone", 1, false)};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);

    struct sess *s2;
    bool present = false;
    struct open_args a2 = {.id = "c1", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &a2, &s2, &present), SVC_OK);
    assert_true(present);
    assert_ptr_equal(s2, s);
    assert_int_equal(f->links[0].kicks, 1);
    assert_int_equal(f->links[0].kick_reason, GW_E_TAKEOVER);
    assert_null(s->link);
    assert_int_equal(count_topic(w, "will/alice"), 1);
    assert_int_equal(svc_attach(f->b, s2, &fake_ops, &f->links[2]), 0);
    assert_ptr_equal(s2->link, &f->links[2]);
}

/* alice is connected with two messages queued behind a link that does not
 * take more output; intruder opens her client id. */
static void check_other_identity_refused(struct fx *f, const char *intruder)
{
    start(f);
    struct fake_link *al = &f->links[0];
    al->writable = false;
    struct sess *s = connect_as(f, "c-alice", "alice", true, al);
    subscribe(f, s, "a/#", 1);
    struct svc_door open_door = {.allow_anonymous = true};
    struct svc_outcome out;
    assert_int_equal(publish(f, NULL, &open_door, "a/1", 1, 0, false, &out), SVC_OK);
    assert_int_equal(publish(f, NULL, &open_door, "a/2", 1, 0, false, &out), SVC_OK);
    assert_int_equal(sess_queue_len(s), 2);

    struct sess *s2;
    bool present;
    struct open_args a = {.id = "c-alice", .user = intruder, .persistent = true};
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_ID_TAKEN);
    assert_null(s2);
    assert_int_equal(al->kicks, 0);
    assert_ptr_equal(s->link, al);
    assert_ptr_equal(sess_table_get(&f->b->sessions, gw_bytes_str("c-alice")), s);
    assert_string_equal(s->username, "alice");
    assert_int_equal(sess_queue_len(s), 2);
    assert_int_equal(al->n, 0);
    /* A clean start by the intruder does not discard her session either. */
    a.clean = true;
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_ID_TAKEN);
    assert_int_equal(sess_queue_len(s), 2);
    assert_int_equal(s->n_subs, 1);
}

static void test_svc_open_other_user_id_taken(void **state)
{
    check_other_identity_refused(*state, "bob");
}

static void test_svc_open_anonymous_on_user_session_id_taken(void **state)
{
    check_other_identity_refused(*state, NULL);
}

static void test_svc_open_user_on_anonymous_session_id_taken(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c-anon", NULL, true, &f->links[0]);
    struct sess *s2;
    bool present;
    struct open_args a = {.id = "c-anon", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_ID_TAKEN);
    assert_int_equal(f->links[0].kicks, 0);
    assert_ptr_equal(s->link, &f->links[0]);
    assert_null(s->username);
}

static void test_svc_open_reserved_id_refused(void **state)
{
    struct fx *f = *state;
    start(f);
    assert_int_equal(broker_reserve_id(f->b, "bridge-local"), 0);
    struct sess *s;
    bool present;
    struct open_args a = {.id = "bridge-local",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("w", "x", 0, false)};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_ID_RESERVED);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("bridge-local")));
}

static void test_svc_open_door_no_anonymous_refuses_anonymous(void **state)
{
    struct fx *f = *state;
    start(f);
    struct svc_door door = {.allow_anonymous = false};
    struct sess *s;
    bool present;
    struct open_args a = {.id = "c1", .door = &door, .persistent = true};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_NOT_AUTHORISED);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("c1")));
}

static void test_svc_open_door_no_anonymous_admits_user(void **state)
{
    struct fx *f = *state;
    start(f);
    struct svc_door door = {.allow_anonymous = false};
    struct sess *s;
    bool present;
    struct open_args a = {.id = "c1", .user = "alice", .door = &door, .persistent = true};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_OK);
    assert_non_null(s);
    svc_disconnect(f->b, s, true, false);
}

static bool only_sensor_ids(const void *arg, struct gw_bytes id)
{
    const char *prefix = arg;
    size_t n = strlen(prefix);
    return id.n >= n && memcmp(id.p, prefix, n) == 0;
}

static void test_svc_open_door_id_not_allowed_refused(void **state)
{
    struct fx *f = *state;
    start(f);
    struct svc_door door = {
            .allow_anonymous = true, .id_allowed = only_sensor_ids, .id_arg = "th-"};
    struct sess *s;
    bool present;
    struct open_args a = {.id = "laptop", .user = "alice", .door = &door};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_NOT_AUTHORISED);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("laptop")));
    struct open_args ok = {.id = "th-04", .door = &door};
    assert_int_equal(open_with(f, &ok, &s, &present), SVC_OK);
    svc_disconnect(f->b, s, true, false);
}

static void test_svc_open_expired_session_not_resumed(void **state)
{
    struct fx *f = *state;
    start(f);
    struct open_args a = {.id = "c1", .user = "alice", .persistent = true, .expiry_s = 1};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    subscribe(f, s, "a/b", 1);
    svc_disconnect(f->b, s, true, false);
    assert_int_equal(s->expire_at_ms, loop_now_ms(f->l) + 1000u);
    assert_int_not_equal(s->expiry_idx, 0);
    /* The interval has passed, the expiry timer has not run yet. */
    s->expire_at_ms = loop_now_ms(f->l);

    struct sess *s2;
    bool present = true;
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_OK);
    assert_false(present);
    assert_ptr_not_equal(s2, s);
    assert_int_equal(s2->n_subs, 0);
}

/* broker->n_clients ($SYS clients/connected) counts what svc_open admitted
 * and svc_disconnect ended; a take-over ends one connection and admits
 * another, and a refused open admits nothing. */
static void test_svc_open_client_count_takeover_no_leak(void **state)
{
    struct fx *f = *state;
    start(f);
    assert_int_equal(f->b->n_clients, 0);
    (void)connect_as(f, "a", "alice", true, &f->links[0]);
    (void)connect_as(f, "b", NULL, false, &f->links[1]);
    assert_int_equal(f->b->n_clients, 2);
    /* Same identity, session resumed: one connection replaces another. */
    struct open_args ta = {.id = "a", .user = "alice", .persistent = true};
    struct sess *a2 = connect_link(f, &ta, &f->links[2], NULL);
    assert_int_equal(f->links[0].kicks, 1);
    assert_int_equal(f->b->n_clients, 2);
    /* Same identity with a clean start: the old session goes as well. */
    struct open_args tb = {.id = "b", .clean = true};
    struct sess *b2 = connect_link(f, &tb, &f->links[3], NULL);
    assert_int_equal(f->links[1].kicks, 1);
    assert_int_equal(f->b->n_clients, 2);
    /* Refusals count nothing. */
    struct sess *s;
    bool present;
    struct open_args bob = {.id = "a", .user = "bob", .persistent = true};
    assert_int_equal(open_with(f, &bob, &s, &present), SVC_ID_TAKEN);
    struct svc_door closed = {.allow_anonymous = false};
    struct open_args anon = {.id = "z", .door = &closed};
    assert_int_equal(open_with(f, &anon, &s, &present), SVC_NOT_AUTHORISED);
    assert_int_equal(f->b->n_clients, 2);
    svc_disconnect(f->b, a2, true, false);
    assert_int_equal(f->b->n_clients, 1);
    svc_disconnect(f->b, b2, false, false);
    assert_int_equal(f->b->n_clients, 0);
    assert_int_equal(f->b->st.clients_maximum, 2);
}

/* A clean session ends with its connection: gone from the table, and
 * nothing is routed to it any more [MQTT-3.1.2-6]. A persistent one stays
 * and keeps its subscription. */
static void test_svc_disconnect_clean_session_reaped(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *c = connect_as(f, "clean", NULL, false, &f->links[0]);
    subscribe(f, c, "a/b", 1);
    struct sess *d = connect_as(f, "durable", NULL, true, &f->links[1]);
    subscribe(f, d, "x/y", 1);
    svc_disconnect(f->b, c, false, false);
    svc_disconnect(f->b, d, false, false);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("clean")));
    assert_ptr_equal(sess_table_get(&f->b->sessions, gw_bytes_str("durable")), d);
    struct svc_door open_door = {.allow_anonymous = true};
    struct svc_outcome out;
    assert_int_equal(publish(f, NULL, &open_door, "a/b", 1, 0, false, &out), SVC_OK);
    assert_true(out.no_subscribers);
    assert_int_equal(publish(f, NULL, &open_door, "x/y", 1, 0, false, &out), SVC_OK);
    assert_false(out.no_subscribers);
    assert_int_equal(sess_queue_len(d), 1);
}

/* A clean session lasts as long as its connection and its state MUST NOT
 * be reused [MQTT-3.1.2-6] (MQTT 5: Session Expiry Interval 0, section
 * 3.1.2.11.2): taking over a connected clean session with clean false
 * finds no session. mosquitto 2.0.11 answers Session Present 0 here. */
static void test_svc_open_takeover_of_clean_session_not_present(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", "alice", false, &f->links[0]);
    subscribe(f, s, "a/b", 1);
    struct sess *s2;
    bool present = true;
    struct open_args a = {.id = "c1", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &a, &s2, &present), SVC_OK);
    assert_int_equal(f->links[0].kicks, 1);
    assert_false(present);
    assert_int_equal(s2->n_subs, 0);
}

/* The allocation failures of a clean-start take-over: a refused open
 * (SVC_NO_MEMORY) leaves the owner's connection and session as they were
 * (svc_open: "a failure leaves every session as it was"). */
static void test_svc_open_takeover_alloc_failure_owner_untouched(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *old = &f->links[0];
    struct sess *s = connect_as(f, "c1", "alice", true, old);
    subscribe(f, s, "a/b", 1);
    commit(f);
    long n;
    struct sess *s2 = NULL;
    bool present = true;
    for (n = 0; n < 1000; n++) {
        struct open_args a = {.id = "c1", .user = "alice", .clean = true, .persistent = true};
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = open_with(f, &a, &s2, &present);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            break;
        }
        if (v != SVC_NO_MEMORY) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
        if (old->kicks != 0) {
            fail_msg("allocation %ld failed: SVC_NO_MEMORY, but the owner's link was kicked", n);
        }
        if (sess_table_get(&f->b->sessions, gw_bytes_str("c1")) != s || s->n_subs != 1) {
            fail_msg("allocation %ld failed: SVC_NO_MEMORY, but the session was discarded", n);
        }
        assert_int_equal(f->b->n_clients, 1);
    }
    assert_true(n < 1000);
    assert_int_equal(old->kicks, 1);
    assert_false(present);
    assert_int_equal(s2->n_subs, 0);
    assert_int_equal(f->b->n_clients, 1);
}

/* ---- identity across a restart ---- */

static void test_svc_identity_after_restart_kept(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", "alice", true, &f->links[0]);
    subscribe(f, s, "a/b", 1);
    svc_disconnect(f->b, s, true, false);
    commit(f);
    restart(f);

    struct sess *s2;
    bool present = true;
    struct open_args bob = {.id = "c1", .user = "bob", .persistent = true};
    assert_int_equal(open_with(f, &bob, &s2, &present), SVC_ID_TAKEN);
    struct open_args anon = {.id = "c1", .persistent = true};
    assert_int_equal(open_with(f, &anon, &s2, &present), SVC_ID_TAKEN);
    struct open_args alice = {.id = "c1", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &alice, &s2, &present), SVC_OK);
    assert_true(present);
    assert_int_equal(s2->n_subs, 1);
}

/* ---- attach ---- */

/* sub got d/1 at QoS 1 (no PUBACK) and d/2 at QoS 2 (PUBREC, PUBREL sent,
 * no PUBCOMP), lost its connection, and d/3 was queued while it was
 * away. Returns the packet ids of d/1 and d/2. */
static void inflight_then_offline(struct fx *f, uint16_t *pid1, uint16_t *pid2)
{
    struct fake_link *l1 = &f->links[0];
    struct sess *s = connect_as(f, "sub", NULL, true, l1);
    subscribe(f, s, "d/#", 2);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[1]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "d/1", 1, 1, false, &out), SVC_OK);
    assert_int_equal(publish(f, p, NULL, "d/2", 2, 2, false, &out), SVC_OK);
    assert_int_equal(l1->n, 2);
    assert_int_equal(l1->sent[0].qos, 1);
    assert_false(l1->sent[0].dup);
    assert_int_equal(l1->sent[1].qos, 2);
    *pid1 = l1->sent[0].pid;
    *pid2 = l1->sent[1].pid;
    assert_int_not_equal(*pid1, 0);
    assert_int_not_equal(*pid1, *pid2);
    assert_int_equal(sess_on_pubrec(s, *pid2), 0);
    assert_int_equal(l1->n, 3);
    assert_int_equal(l1->sent[2].kind, 'R');
    svc_disconnect(f->b, s, false, false);
    assert_int_equal(publish(f, p, NULL, "d/3", 1, 3, false, &out), SVC_OK);
    assert_true(out.pending);
    commit(f);
}

/* Resumed: the QoS 1 message again with DUP and its packet id, PUBREL for
 * the QoS 2 one [MQTT-4.4.0-1], in their order, then the queue. */
static void check_resent(struct fx *f, uint16_t pid1, uint16_t pid2)
{
    struct fake_link *l2 = &f->links[2];
    struct open_args a = {.id = "sub", .persistent = true};
    bool present = false;
    (void)connect_link(f, &a, l2, &present);
    assert_true(present);
    assert_int_equal(l2->n, 3);
    assert_int_equal(l2->sent[0].kind, 'P');
    assert_string_equal(l2->sent[0].topic, "d/1");
    assert_int_equal(l2->sent[0].pid, pid1);
    assert_int_equal(l2->sent[0].qos, 1);
    assert_true(l2->sent[0].dup);
    assert_int_equal(l2->sent[1].kind, 'R');
    assert_int_equal(l2->sent[1].pid, pid2);
    assert_int_equal(l2->sent[2].kind, 'P');
    assert_string_equal(l2->sent[2].topic, "d/3");
    assert_int_equal(l2->sent[2].qos, 1);
    assert_false(l2->sent[2].dup);
    assert_int_not_equal(l2->sent[2].pid, pid1);
}

static void test_svc_attach_resumed_resends_inflight_then_queue(void **state)
{
    struct fx *f = *state;
    start(f);
    uint16_t pid1;
    uint16_t pid2;
    inflight_then_offline(f, &pid1, &pid2);
    check_resent(f, pid1, pid2);
}

static void test_svc_attach_after_restart_resends_inflight_then_queue(void **state)
{
    struct fx *f = *state;
    start(f);
    uint16_t pid1;
    uint16_t pid2;
    inflight_then_offline(f, &pid1, &pid2);
    restart(f);
    check_resent(f, pid1, pid2);
}

/* A link that takes no more output gets nothing at attach; the queue
 * waits for it. */
static void test_svc_attach_unwritable_link_keeps_queue(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "d/#");
    struct svc_door open_door = {.allow_anonymous = true};
    struct svc_outcome out;
    assert_int_equal(publish(f, NULL, &open_door, "d/1", 1, 0, false, &out), SVC_OK);
    assert_int_equal(publish(f, NULL, &open_door, "d/2", 1, 0, false, &out), SVC_OK);
    struct fake_link *l = &f->links[0];
    l->writable = false;
    struct open_args a = {.id = "sub", .persistent = true};
    struct sess *s = connect_link(f, &a, l, NULL);
    assert_ptr_equal(s, sub);
    assert_int_equal(l->n, 0);
    assert_int_equal(sess_queue_len(s), 2);
    l->writable = true;
    sess_pump(s); /* what a front-end does when its output drains */
    assert_int_equal(count_topic(l, "d/1"), 1);
    assert_int_equal(count_topic(l, "d/2"), 1);
    assert_string_equal(l->sent[0].topic, "d/1");
}

/* ---- wills ---- */

static void test_svc_open_will_to_sys_not_authorised(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s;
    bool present;
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("$SYS/broker/connection/x", "0", 1, true)};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_NOT_AUTHORISED);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("c1")));
}

static void test_svc_open_will_acl_forbidden_not_authorised(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct sess *s;
    bool present;
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("cmd/unlock", "1", 1, true)};
    assert_int_equal(open_with(f, &a, &s, &present), SVC_NOT_AUTHORISED);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("c1")));
    /* The same will on a topic alice may write is accepted. */
    struct open_args ok = {.id = "c1",
                           .user = "alice",
                           .persistent = true,
                           .will = mkmsg("sensors/alice", "1", 1, false)};
    assert_int_equal(open_with(f, &ok, &s, &present), SVC_OK);
    assert_non_null(s->will);
}

static void test_svc_will_set_refused_keeps_old(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("sensors/alice", "old", 1, false)};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    struct msg *old = s->will;
    assert_int_equal(svc_will_set(f->b, s, mkmsg("cmd/unlock", "1", 1, false)), SVC_NOT_AUTHORISED);
    assert_ptr_equal(s->will, old);
    assert_string_equal(s->will->topic, "sensors/alice");
    assert_int_equal(svc_will_set(f->b, s, mkmsg("$SYS/x", "1", 1, false)), SVC_NOT_AUTHORISED);
    assert_ptr_equal(s->will, old);
    assert_int_equal(svc_will_set(f->b, s, mkmsg("sensors/new", "1", 1, false)), SVC_OK);
    assert_string_equal(s->will->topic, "sensors/new");
}

static void test_svc_will_unclean_disconnect_published(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", "watcher", false, w);
    subscribe(f, watcher, "sensors/#", 1);
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("sensors/alice/status", "gone", 1, false)};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    svc_disconnect(f->b, s, false, false);
    assert_int_equal(count_topic(w, "sensors/alice/status"), 1);
}

/* DISCONNECT: no will [MQTT-3.14.4-3], and it is forgotten. */
static void test_svc_will_clean_disconnect_not_published(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "will/#", 1);
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("will/alice", "gone", 1, false)};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    svc_disconnect(f->b, s, true, false);
    assert_int_equal(w->n, 0);
    assert_null(s->will);
}

static void test_svc_will_forbidden_after_acl_reload_not_published(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", "watcher", false, w);
    subscribe(f, watcher, "sensors/#", 1);
    struct open_args a = {.id = "c1",
                          .user = "alice",
                          .persistent = true,
                          .will = mkmsg("sensors/alice/status", "gone", 1, false)};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    /* alice loses write access; watcher may still read the topic. */
    write_file(f->acl_path, "user alice\n"
                            "topic read sensors/#\n"
                            "user watcher\n"
                            "topic read #\n");
    assert_int_equal(broker_load_auth(f->b), 0);
    uint64_t dropped = f->b->st.pub_dropped;
    svc_disconnect(f->b, s, false, false);
    assert_int_equal(count_topic(w, "sensors/alice/status"), 0);
    assert_int_equal(w->n, 0);
    assert_int_equal(f->b->st.pub_dropped, dropped + 1);
}

static void test_svc_open_will_invalid_topic_invalid(void **state)
{
    struct fx *f = *state;
    start(f);
    static const char *const bad[] = {"a/+", "a/#", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sess *s;
        bool present;
        struct open_args a = {.id = "c1", .persistent = true, .will = mkmsg(bad[i], "x", 0, false)};
        enum svc_verdict v = open_with(f, &a, &s, &present);
        if (v != SVC_INVALID) {
            fail_msg("will topic \"%s\": %s", bad[i], svc_verdict_name(v));
        }
    }
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("c1")));
    assert_int_equal(f->b->n_clients, 0);
}

/* ---- publish ---- */

static void test_svc_publish_acl_denied_not_delivered(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", "watcher", false, w);
    subscribe(f, watcher, "#", 1);
    struct sess *alice = connect_as(f, "c1", "alice", false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, alice, NULL, "cmd/unlock", 1, 0, false, &out), SVC_NOT_AUTHORISED);
    assert_int_equal(w->n, 0);
    assert_int_equal(publish(f, alice, NULL, "cmd/unlock", 2, 5, false, &out), SVC_NOT_AUTHORISED);
    assert_false(sess_in_qos2_has(alice, 5));
    assert_int_equal(w->n, 0);
    /* What the ACL allows goes through. */
    assert_int_equal(publish(f, alice, NULL, "sensors/t", 1, 0, false, &out), SVC_OK);
    assert_int_equal(count_topic(w, "sensors/t"), 1);
}

static void test_svc_publish_sys_not_authorised(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "$SYS/#", 1);
    struct sess *alice = connect_as(f, "c1", "alice", false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, alice, NULL, "$SYS/broker/uptime", 0, 0, true, &out),
                     SVC_NOT_AUTHORISED);
    assert_int_equal(w->n, 0);
}

static void test_svc_publish_sessionless_door_no_anonymous_refused(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "sn/#", 0);
    struct svc_outcome out;
    struct svc_door closed = {.allow_anonymous = false};
    assert_int_equal(publish(f, NULL, &closed, "sn/t", 0, 0, false, &out), SVC_NOT_AUTHORISED);
    struct svc_door listed = {.allow_anonymous = true, .id_allowed = only_sensor_ids, .id_arg = ""};
    assert_int_equal(publish(f, NULL, &listed, "sn/t", 0, 0, false, &out), SVC_NOT_AUTHORISED);
    assert_int_equal(publish(f, NULL, NULL, "sn/t", 0, 0, false, &out), SVC_NOT_AUTHORISED);
    assert_int_equal(w->n, 0);
}

static void test_svc_publish_sessionless_door_anonymous_ok(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "sn/#", 0);
    struct svc_outcome out;
    struct svc_door open_door = {.allow_anonymous = true};
    assert_int_equal(publish(f, NULL, &open_door, "sn/t", 0, 0, false, &out), SVC_OK);
    assert_false(out.no_subscribers);
    assert_int_equal(count_topic(w, "sn/t"), 1);
    assert_int_equal(w->sent[0].qos, 0);
}

static void test_svc_publish_qos2_duplicate_not_routed_twice(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "q/#", 2);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 7, false, &out), SVC_OK);
    assert_false(out.duplicate);
    assert_true(sess_in_qos2_has(p, 7));
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 7, false, &out), SVC_OK);
    assert_true(out.duplicate);
    assert_int_equal(count_topic(w, "q/x"), 1);
    bool pending = true;
    svc_release(f->b, p, 7, &pending);
    assert_false(pending); /* a clean publisher: nothing on disk */
    assert_false(sess_in_qos2_has(p, 7));
    /* After PUBREL the id is a new message. */
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 7, false, &out), SVC_OK);
    assert_false(out.duplicate);
    assert_int_equal(count_topic(w, "q/x"), 2);
}

static void test_svc_publish_recv_max_exceeded_refused(void **state)
{
    struct fx *f = *state;
    start(f);
    struct open_args a = {.id = "pub", .recv_max_in = 2};
    struct sess *p = connect_link(f, &a, &f->links[0], NULL);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 1, false, &out), SVC_OK);
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 2, false, &out), SVC_OK);
    /* A resend of an id awaiting PUBREL does not count. */
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 1, false, &out), SVC_OK);
    assert_true(out.duplicate);
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 3, false, &out), SVC_RECV_MAX);
    assert_false(sess_in_qos2_has(p, 3));
    /* QoS 0 and 1 are not limited by it. */
    assert_int_equal(publish(f, p, NULL, "q/x", 1, 4, false, &out), SVC_OK);
    bool pending;
    svc_release(f->b, p, 1, &pending);
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 3, false, &out), SVC_OK);
    assert_false(out.duplicate);
    assert_true(sess_in_qos2_has(p, 3));
}

static void test_svc_publish_offline_persistent_subscriber_pending(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "data/#");
    commit(f);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "data/x", 1, 1, false, &out), SVC_OK);
    assert_true(out.pending);
    assert_false(out.no_subscribers);
    assert_int_equal(sess_queue_len(sub), 1);
}

static void test_svc_publish_clean_subscriber_not_pending(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "data/#", 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "data/x", 1, 1, false, &out), SVC_OK);
    assert_false(out.pending);
    assert_false(out.no_subscribers);
    assert_int_equal(count_topic(w, "data/x"), 1);
    assert_int_equal(w->sent[0].qos, 1);
}

static void test_svc_publish_no_subscribers_reported(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "data/#", 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "nobody/here", 1, 1, false, &out), SVC_OK);
    assert_true(out.no_subscribers);
    assert_false(out.pending);
    assert_int_equal(publish(f, p, NULL, "data/y", 1, 2, false, &out), SVC_OK);
    assert_false(out.no_subscribers);
}

static void test_svc_publish_too_large_refused(void **state)
{
    struct fx *f = *state;
    snprintf(f->extra, sizeof(f->extra), "message_size_limit 16\n");
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "t/#", 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    struct svc_publish big = {.topic = gw_bytes_str("t/big"),
                              .payload = gw_bytes_str("0123456789abcdefg"),
                              .qos = 2,
                              .packet_id = 4};
    assert_int_equal(svc_publish(f->b, p, NULL, &big, &out), SVC_TOO_LARGE);
    assert_false(sess_in_qos2_has(p, 4));
    struct svc_publish fits = {.topic = gw_bytes_str("t/ok"),
                               .payload = gw_bytes_str("0123456789abcdef"),
                               .qos = 1,
                               .packet_id = 5};
    assert_int_equal(svc_publish(f->b, p, NULL, &fits, &out), SVC_OK);
    assert_int_equal(w->n, 1);
    assert_string_equal(w->sent[0].topic, "t/ok");
}

static void test_svc_publish_retain_unavailable_refused(void **state)
{
    struct fx *f = *state;
    snprintf(f->extra, sizeof(f->extra), "retain_available false\n");
    start(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "t/#", 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "t/r", 1, 1, true, &out), SVC_NO_RETAIN);
    assert_int_equal(w->n, 0);
    /* A retained will is refused at CONNECT, a plain one is not. */
    struct sess *s;
    bool present;
    struct open_args rw = {.id = "c1", .will = mkmsg("t/w", "x", 1, true)};
    assert_int_equal(open_with(f, &rw, &s, &present), SVC_NO_RETAIN);
    assert_int_equal(svc_will_check(f->b, p, gw_bytes_str("t/w"), true), SVC_NO_RETAIN);
    assert_int_equal(svc_will_check(f->b, p, gw_bytes_str("t/w"), false), SVC_OK);
    assert_int_equal(publish(f, p, NULL, "t/r", 1, 2, false, &out), SVC_OK);
    assert_int_equal(count_topic(w, "t/r"), 1);
}

/* MQTT 5 No Local [MQTT-3.8.3-3]: the publisher's own subscription does
 * not get it back; nobody else subscribed means no subscribers. */
static void test_svc_publish_no_local_not_echoed(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *me = &f->links[0];
    struct sess *s = connect_as(f, "c1", NULL, false, me);
    struct svc_sub sub = {
            .filter = gw_bytes_str("chat/#"), .qos = 1, .options = MQTT_SUB_OPT_NO_LOCAL};
    bool replaced;
    assert_int_equal(svc_subscribe(f->b, s, &sub, &replaced), SVC_OK);
    struct svc_outcome out;
    assert_int_equal(publish(f, s, NULL, "chat/1", 1, 1, false, &out), SVC_OK);
    assert_int_equal(me->n, 0);
    assert_true(out.no_subscribers);
    struct fake_link *other = &f->links[1];
    struct sess *o = connect_as(f, "c2", NULL, false, other);
    assert_int_equal(publish(f, o, NULL, "chat/2", 1, 1, false, &out), SVC_OK);
    assert_int_equal(count_topic(me, "chat/2"), 1);
}

/* A retained message with no subscriber is kept (not "no subscribers") and
 * written to the store: acknowledge after the commit. */
static void test_svc_publish_retained_no_subscriber_pending(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "r/1", 1, 1, true, &out), SVC_OK);
    assert_false(out.no_subscribers);
    assert_true(out.pending);
    commit(f);
    restart(f);
    struct fake_link *l = &f->links[1];
    struct sess *s = connect_as(f, "c1", NULL, false, l);
    svc_send_retained(f->b, s, gw_bytes_str("r/#"), 1, NULL);
    assert_int_equal(count_topic(l, "r/1"), 1);
}

/* svc_publish_msg (the broker's own messages) reports where it went. */
static void test_svc_publish_msg_offline_persistent_pending(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "n/#");
    struct msg *m = mkmsg("n/1", "x", 1, false);
    struct svc_outcome out;
    svc_publish_msg(f->b, m, NULL, &out);
    assert_true(out.pending);
    assert_false(out.no_subscribers);
    assert_int_equal(sess_queue_len(sub), 1);
    msg_unref(m);
    m = mkmsg("nobody/1", "x", 1, false);
    svc_publish_msg(f->b, m, NULL, &out);
    assert_false(out.pending);
    assert_true(out.no_subscribers);
    msg_unref(m);
}

/* A durable publisher's QoS 2 id awaiting PUBREL is on disk before PUBREC
 * (out.pending): after a restart its resend is still a duplicate. */
static void test_svc_publish_qos2_duplicate_after_restart_not_routed(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *p = connect_as(f, "pub", NULL, true, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 9, false, &out), SVC_OK);
    assert_false(out.duplicate);
    assert_true(out.pending);
    commit(f);
    restart(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "q/#", 2);
    bool present = false;
    struct open_args a = {.id = "pub", .persistent = true};
    p = connect_link(f, &a, &f->links[2], &present);
    assert_true(present);
    assert_true(sess_in_qos2_has(p, 9));
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 9, false, &out), SVC_OK);
    assert_true(out.duplicate);
    assert_int_equal(w->n, 0);
}

/* PUBREL of a durable session: PUBCOMP waits for the commit (pending),
 * and after a restart the id is a new message. Unknown ids are fine. */
static void test_svc_release_durable_pending_then_new(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *p = connect_as(f, "pub", NULL, true, &f->links[0]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 9, false, &out), SVC_OK);
    commit(f);
    bool pending = false;
    svc_release(f->b, p, 9, &pending);
    assert_true(pending);
    assert_false(sess_in_qos2_has(p, 9));
    pending = true;
    svc_release(f->b, p, 10, &pending);
    assert_false(pending);
    commit(f);
    restart(f);
    struct fake_link *w = &f->links[1];
    struct sess *watcher = connect_as(f, "watcher", NULL, false, w);
    subscribe(f, watcher, "q/#", 2);
    struct open_args a = {.id = "pub", .persistent = true};
    p = connect_link(f, &a, &f->links[2], NULL);
    assert_false(sess_in_qos2_has(p, 9));
    assert_int_equal(publish(f, p, NULL, "q/x", 2, 9, false, &out), SVC_OK);
    assert_false(out.duplicate);
    assert_int_equal(count_topic(w, "q/x"), 1);
}

/* ---- store quota ---- */

/* Publish QoS 1 from a clean publisher to one offline persistent
 * subscriber, committing every 8 messages, until the store refuses.
 * Returns the number of SVC_OK; checks that each went into the queue. */
static uint64_t fill_to_quota(struct fx *f, struct sess *sub)
{
    static char payload[1024];
    memset(payload, 'p', sizeof(payload) - 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    uint64_t acked = 0;
    bool refused = false;
    for (int i = 0; i < 4000 && !refused; i++) {
        char topic[32];
        snprintf(topic, sizeof(topic), "data/%d", i);
        struct svc_publish pb = {
                .topic = gw_bytes_str(topic), .payload = gw_bytes_str(payload), .qos = 1};
        struct svc_outcome out;
        uint64_t before = sess_queue_len(sub);
        enum svc_verdict v = svc_publish(f->b, p, NULL, &pb, &out);
        if (v == SVC_QUOTA) {
            refused = true;
            assert_int_equal(sess_queue_len(sub), before);
            break;
        }
        assert_int_equal(v, SVC_OK);
        assert_true(out.pending);
        acked++;
        assert_int_equal(sess_queue_len(sub), acked);
        if (i % 8 == 7) {
            commit(f);
        }
    }
    assert_true(refused);
    assert_true(acked > 0);
    /* Still refused after another commit: the quota holds. */
    commit(f);
    struct svc_outcome out;
    struct svc_publish pb = {
            .topic = gw_bytes_str("data/late"), .payload = gw_bytes_str(payload), .qos = 1};
    assert_int_equal(svc_publish(f->b, p, NULL, &pb, &out), SVC_QUOTA);
    assert_int_equal(sess_queue_len(sub), acked);
    svc_disconnect(f->b, p, true, false);
    return acked;
}

static const char quota_cfg[] = "persistence_quota 256K\n"
                                "persistence_quota_policy refuse\n"
                                "max_queued_messages 0\n";

static void test_svc_quota_refused_acked_all_queued(void **state)
{
    struct fx *f = *state;
    snprintf(f->extra, sizeof(f->extra), "%s", quota_cfg);
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "data/#");
    commit(f);
    uint64_t acked = fill_to_quota(f, sub);
    assert_int_equal(sess_queue_len(sub), acked);
}

static void test_svc_quota_refused_acked_survive_restart(void **state)
{
    struct fx *f = *state;
    snprintf(f->extra, sizeof(f->extra), "%s", quota_cfg);
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "data/#");
    commit(f);
    uint64_t acked = fill_to_quota(f, sub);
    commit(f);
    restart(f);
    sub = sess_table_get(&f->b->sessions, gw_bytes_str("sub"));
    assert_non_null(sub);
    assert_int_equal(sess_queue_len(sub), acked);
}

/* A QoS 2 message the store refused is not acknowledged, and its id is not
 * kept: the publisher's resend is routed again, not taken for a
 * duplicate. */
static void test_svc_quota_qos2_refused_id_forgotten(void **state)
{
    struct fx *f = *state;
    snprintf(f->extra, sizeof(f->extra), "%s", quota_cfg);
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "data/#");
    commit(f);
    uint64_t acked = fill_to_quota(f, sub);
    struct sess *p = connect_as(f, "pub2", NULL, false, &f->links[1]);
    for (int i = 0; i < 2; i++) {
        struct svc_outcome out;
        assert_int_equal(publish(f, p, NULL, "data/q2", 2, 77, false, &out), SVC_QUOTA);
        assert_false(out.duplicate);
        assert_false(sess_in_qos2_has(p, 77));
    }
    assert_int_equal(sess_queue_len(sub), acked);
}

/* ---- subscribe ---- */

static void test_svc_subscribe_share_acl_on_filter(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct sess *s = connect_as(f, "c1", "alice", false, &f->links[0]);
    struct svc_sub ok = {.filter = gw_bytes_str("$share/g/sensors/x"), .qos = 1};
    bool replaced = true;
    assert_int_equal(svc_subscribe(f->b, s, &ok, &replaced), SVC_OK);
    assert_false(replaced);
    assert_int_equal(s->n_subs, 1);
    struct svc_sub other = {.filter = gw_bytes_str("$share/g/other/x"), .qos = 1};
    assert_int_equal(svc_subscribe(f->b, s, &other, &replaced), SVC_NOT_AUTHORISED);
    struct svc_sub plain = {.filter = gw_bytes_str("other/x"), .qos = 1};
    assert_int_equal(svc_subscribe(f->b, s, &plain, &replaced), SVC_NOT_AUTHORISED);
    assert_int_equal(s->n_subs, 1);
    /* The shared subscription receives. */
    struct sess *p = connect_as(f, "p", "pub", false, &f->links[1]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "sensors/x", 1, 1, false, &out), SVC_OK);
    assert_int_equal(count_topic(&f->links[0], "sensors/x"), 1);
}

static void test_svc_subscribe_invalid_filter_invalid(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", NULL, false, &f->links[0]);
    static const char *const bad[] = {"a/#/b", "a+/b", "", "$share/g", "$share//x", "$share/g+/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct svc_sub sub = {.filter = gw_bytes_str(bad[i]), .qos = 1};
        bool replaced;
        enum svc_verdict v = svc_subscribe(f->b, s, &sub, &replaced);
        if (v != SVC_INVALID) {
            fail_msg("filter \"%s\": %s", bad[i], svc_verdict_name(v));
        }
    }
    assert_int_equal(s->n_subs, 0);
}

static void test_svc_send_retained_only_readable(void **state)
{
    struct fx *f = *state;
    start_acl(f, acl_main);
    struct sess *p = connect_as(f, "p", "pub", false, &f->links[1]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "sensors/a", 1, 1, true, &out), SVC_OK);
    assert_int_equal(publish(f, p, NULL, "secret/b", 1, 2, true, &out), SVC_OK);
    assert_int_equal(publish(f, p, NULL, "sensors/live", 1, 3, false, &out), SVC_OK);
    struct fake_link *al = &f->links[0];
    struct sess *s = connect_as(f, "c1", "alice", false, al);
    svc_send_retained(f->b, s, gw_bytes_str("#"), 2, NULL);
    assert_int_equal(al->n, 1);
    assert_string_equal(al->sent[0].topic, "sensors/a");
    assert_true(al->sent[0].retain);
    assert_int_equal(al->sent[0].qos, 1);
    /* min(message QoS, requested QoS) */
    svc_send_retained(f->b, s, gw_bytes_str("sensors/+"), 0, NULL);
    assert_int_equal(al->n, 2);
    assert_int_equal(al->sent[1].qos, 0);
    /* A shared subscription gets none (MQTT 5.0 4.8.2). */
    svc_send_retained(f->b, s, gw_bytes_str("$share/g/sensors/#"), 1, NULL);
    assert_int_equal(al->n, 2);
}

static void test_svc_unsubscribe_known_true_unknown_false(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", NULL, false, &f->links[0]);
    subscribe(f, s, "a/b", 1);
    assert_true(svc_unsubscribe(f->b, s, gw_bytes_str("a/b")));
    assert_false(svc_unsubscribe(f->b, s, gw_bytes_str("a/b")));
    assert_false(svc_unsubscribe(f->b, s, gw_bytes_str("never/subscribed")));
    struct svc_outcome out;
    assert_int_equal(publish(f, s, NULL, "a/b", 1, 1, false, &out), SVC_OK);
    assert_true(out.no_subscribers);
    assert_int_equal(f->links[0].n, 0);
}

/* Subscribing again replaces the options: *replaced, one subscription. */
static void test_svc_subscribe_again_replaced(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *l = &f->links[0];
    struct sess *s = connect_as(f, "c1", NULL, false, l);
    struct svc_sub sub = {.filter = gw_bytes_str("a/b"), .qos = 0};
    bool replaced = true;
    assert_int_equal(svc_subscribe(f->b, s, &sub, &replaced), SVC_OK);
    assert_false(replaced);
    sub.qos = 1;
    assert_int_equal(svc_subscribe(f->b, s, &sub, &replaced), SVC_OK);
    assert_true(replaced);
    assert_int_equal(s->n_subs, 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[1]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "a/b", 2, 1, false, &out), SVC_OK);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->sent[0].qos, 1);
}

/* A durable subscription survives a restart; one removed stays removed. */
static void test_svc_subscribe_durable_after_restart_kept(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *s = connect_as(f, "c1", NULL, true, &f->links[0]);
    subscribe(f, s, "keep/#", 1);
    subscribe(f, s, "drop/#", 1);
    assert_true(svc_unsubscribe(f->b, s, gw_bytes_str("drop/#")));
    svc_disconnect(f->b, s, true, false);
    commit(f);
    restart(f);
    s = sess_table_get(&f->b->sessions, gw_bytes_str("c1"));
    assert_non_null(s);
    assert_int_equal(s->n_subs, 1);
    assert_non_null(sess_sub_find(s, gw_bytes_str("keep/#")));
    struct svc_door open_door = {.allow_anonymous = true};
    struct svc_outcome out;
    assert_int_equal(publish(f, NULL, &open_door, "drop/x", 1, 0, false, &out), SVC_OK);
    assert_true(out.no_subscribers);
    assert_int_equal(publish(f, NULL, &open_door, "keep/x", 1, 0, false, &out), SVC_OK);
    assert_true(out.pending);
    assert_int_equal(sess_queue_len(s), 1);
}

/* ---- expiry heap ---- */

static void test_svc_expiry_heap_reaps_in_order(void **state)
{
    struct fx *f = *state;
    start(f);
    static const char *const ids[] = {"e30", "e10", "e40", "e20", "e50"};
    static const uint64_t at[] = {30, 10, 40, 20, 50};
    uint64_t base = loop_now_ms(f->l) + 3600u * 1000u; /* the loop's timer never gets there */
    struct sess *s[5];
    for (size_t i = 0; i < 5; i++) {
        struct open_args a = {.id = ids[i], .persistent = true, .expiry_s = 3600};
        s[i] = connect_link(f, &a, &f->links[i], NULL);
        svc_disconnect(f->b, s[i], true, false);
        s[i]->expire_at_ms = base + at[i];
        broker_expiry_arm(f->b, s[i]);
    }
    assert_int_equal(f->b->expiry.n, 5);
    /* e40 comes back before its time: it leaves the heap. */
    struct sess *r;
    bool present;
    struct open_args back = {.id = "e40", .persistent = true, .expiry_s = 3600};
    assert_int_equal(open_with(f, &back, &r, &present), SVC_OK);
    assert_true(present);
    assert_ptr_equal(r, s[2]);
    assert_int_equal(r->expiry_idx, 0);
    assert_int_equal(f->b->expiry.n, 4);

    static const struct {
        uint64_t now;
        const char *gone;
    } steps[] = {{9, NULL}, {10, "e10"}, {25, "e20"}, {35, "e30"}, {49, NULL}, {1000, "e50"}};

    bool left[5] = {true, true, true, true, true};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        broker_expiry_run(f->b, base + steps[k].now);
        for (size_t i = 0; i < 5; i++) {
            if (steps[k].gone && strcmp(ids[i], steps[k].gone) == 0) {
                left[i] = false;
            }
            bool in = sess_table_get(&f->b->sessions, gw_bytes_str(ids[i])) != NULL;
            if (in != left[i]) {
                fail_msg("now=+%llu: %s %s", (unsigned long long)steps[k].now, ids[i],
                         in ? "still there" : "reaped");
            }
        }
    }
    /* The resumed one is never reaped while connected. */
    assert_true(left[2]);
    assert_int_equal(f->b->expiry.n, 0);
}

/* The heap's own invariant: every parent due no later than its children,
 * and every session knows its slot. */
static void check_heap(const struct broker *b)
{
    for (uint32_t i = 0; i < b->expiry.n; i++) {
        const struct sess *s = b->expiry.heap[i];
        if (s->expiry_idx != i + 1) {
            fail_msg("heap slot %u: %s thinks it is at %u", i, s->id, s->expiry_idx - 1);
        }
        if (i > 0 && b->expiry.heap[(i - 1) / 2]->expire_at_ms > s->expire_at_ms) {
            fail_msg("heap slot %u: %s due before its parent", i, s->id);
        }
    }
}

/* 150 offline sessions (past the heap's first 64 slots) with deadlines in
 * a scrambled order, some re-armed to a later deadline, some resumed: at
 * every millisecond exactly the due ones are gone. */
static void test_svc_expiry_heap_many_reaped_by_deadline(void **state)
{
    struct fx *f = *state;
    start(f);

    enum { N = 150 };
    struct sess *s[N];
    uint64_t at[N];
    bool resumed[N] = {false};
    uint64_t base = loop_now_ms(f->l) + 3600u * 1000u;
    struct fake_link link = {.writable = true};
    for (size_t i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "x%03zu", i);
        struct open_args a = {.id = id, .persistent = true, .expiry_s = 7200};
        s[i] = connect_link(f, &a, &link, NULL);
        svc_disconnect(f->b, s[i], true, false);
        at[i] = 1 + (i * 37u) % N; /* a permutation of 1..N */
        s[i]->expire_at_ms = base + at[i];
        broker_expiry_arm(f->b, s[i]);
    }
    check_heap(f->b);
    for (size_t i = 0; i < N; i += 5) {
        at[i] += N; /* re-armed later: moves down the heap */
        s[i]->expire_at_ms = base + at[i];
        broker_expiry_arm(f->b, s[i]);
        check_heap(f->b);
    }
    /* Re-armed anywhere in 1..2N, in a scrambled order: each re-arm takes
     * a session out of the middle of the heap first. */
    uint32_t x = 12345;
    for (size_t k = 0; k < 400; k++) {
        x = x * 1103515245u + 12345u;
        size_t i = (x >> 8) % N;
        at[i] = 1 + (x >> 20) % (2 * N);
        s[i]->expire_at_ms = base + at[i];
        broker_expiry_arm(f->b, s[i]);
        check_heap(f->b);
    }
    size_t armed = N;
    for (size_t i = 3; i < N; i += 7) {
        struct open_args a = {.id = s[i]->id, .persistent = true, .expiry_s = 7200};
        struct sess *r;
        bool present;
        assert_int_equal(open_with(f, &a, &r, &present), SVC_OK);
        assert_ptr_equal(r, s[i]);
        assert_int_equal(r->expiry_idx, 0);
        check_heap(f->b);
        resumed[i] = true;
        armed--;
    }
    assert_int_equal(f->b->expiry.n, armed);
    for (uint64_t t = 0; t <= 2 * N + 1; t++) {
        broker_expiry_run(f->b, base + t);
        check_heap(f->b);
        size_t left = 0;
        for (size_t i = 0; i < N; i++) {
            char id[16];
            snprintf(id, sizeof(id), "x%03zu", i);
            bool in = sess_table_get(&f->b->sessions, gw_bytes_str(id)) != NULL;
            bool want = resumed[i] || at[i] > t;
            if (in != want) {
                fail_msg("now=+%llu: %s (due +%llu) %s", (unsigned long long)t, id,
                         (unsigned long long)at[i], in ? "still there" : "reaped");
            }
            left += in && !resumed[i];
        }
        assert_int_equal(f->b->expiry.n, left);
    }
    assert_int_equal(f->b->expiry.n, 0);
}

/* Resuming the only offline session empties the heap and stops the
 * expiry timer. */
static void test_svc_expiry_resume_disarms_timer(void **state)
{
    struct fx *f = *state;
    start(f);
    struct open_args a = {.id = "e1", .persistent = true, .expiry_s = 3600};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    assert_false(loop_timer_armed(&f->b->expiry_timer));
    svc_disconnect(f->b, s, true, false);
    assert_int_equal(f->b->expiry.n, 1);
    assert_true(loop_timer_armed(&f->b->expiry_timer));
    bool present = false;
    struct sess *r = connect_link(f, &a, &f->links[1], &present);
    assert_true(present);
    assert_ptr_equal(r, s);
    assert_int_equal(r->expiry_idx, 0);
    assert_int_equal(r->expire_at_ms, 0);
    assert_int_equal(f->b->expiry.n, 0);
    assert_false(loop_timer_armed(&f->b->expiry_timer));
}

/* The loop's expiry timer reaps a due session without a sweep, and the
 * store forgets it. */
static void test_svc_expiry_timer_reaps_due_session(void **state)
{
    struct fx *f = *state;
    start(f);
    struct open_args a = {.id = "e1", .persistent = true, .expiry_s = 3600};
    struct sess *s = connect_link(f, &a, &f->links[0], NULL);
    subscribe(f, s, "e/#", 1);
    svc_disconnect(f->b, s, true, false);
    commit(f);
    assert_true(loop_timer_armed(&f->b->expiry_timer));
    s->expire_at_ms = loop_now_ms(f->l); /* due now */
    broker_expiry_arm(f->b, s);
    commit(f); /* one loop iteration at least: the timer fires */
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("e1")));
    assert_int_equal(f->b->expiry.n, 0);
    assert_false(loop_timer_armed(&f->b->expiry_timer));
    restart(f);
    assert_null(sess_table_get(&f->b->sessions, gw_bytes_str("e1")));
}

/* ---- allocation failures (STYLE.md section 11) ---- */

/* Each failed run returns SVC_NO_MEMORY and leaves nothing behind (a
 * session half made would belong to no identity, or the wrong one); the
 * run that succeeds has its session record on disk. */
static void test_svc_open_alloc_failure_clean_error(void **state)
{
    struct fx *f = *state;
    start(f);
    commit(f);
    long n;
    struct sess *s = NULL;
    for (n = 0; n < 1000; n++) {
        struct msg *will = mkmsg("w/alice", "gone", 1, false);
        struct open_args a = {.id = "c1", .user = "alice", .persistent = true, .will = will};
        bool present;
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = open_with(f, &a, &s, &present);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            break;
        }
        if (v != SVC_NO_MEMORY) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
        /* A clean error leaves no session behind. */
        if (sess_table_get(&f->b->sessions, gw_bytes_str("c1"))) {
            fail_msg("allocation %ld failed: SVC_NO_MEMORY left a session for c1", n);
        }
    }
    assert_true(n > 0 && n < 1000);
    assert_non_null(s);
    assert_string_equal(s->username, "alice");
    assert_non_null(s->will);
    commit(f);
    /* What it acknowledged with SVC_OK is durable, before any disconnect
     * rewrites the record (a crash after the commit). */
    restart(f);
    struct open_args bob = {.id = "c1", .user = "bob", .persistent = true};
    bool present;
    assert_int_equal(open_with(f, &bob, &s, &present), SVC_ID_TAKEN);
    struct open_args alice = {.id = "c1", .user = "alice", .persistent = true};
    assert_int_equal(open_with(f, &alice, &s, &present), SVC_OK);
    assert_true(present);
}

/* Each run is refused (SVC_NO_MEMORY, or SVC_QUOTA for a store write
 * that could not be made) with nothing queued, or returns SVC_OK with the
 * message queued for the offline subscriber and on disk: an allocation
 * failure never turns into an acknowledged loss. */
static void test_svc_publish_alloc_failure_clean_error(void **state)
{
    struct fx *f = *state;
    start(f);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "data/#");
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    commit(f);
    long n;
    for (n = 0; n < 1000; n++) {
        struct svc_outcome out;
        uint64_t before = sess_queue_len(sub);
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = publish(f, p, NULL, "data/x", 1, 1, false, &out);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            /* Acknowledged: it must be queued for the subscriber. */
            if (sess_queue_len(sub) != before + 1 || !out.pending) {
                fail_msg("allocation %ld failed: SVC_OK but queued %llu -> %llu, pending %d", n,
                         (unsigned long long)before, (unsigned long long)sess_queue_len(sub),
                         out.pending);
            }
            break;
        }
        if (v != SVC_NO_MEMORY && v != SVC_QUOTA) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
        if (sess_queue_len(sub) != before) {
            fail_msg("allocation %ld failed: refused (%s) but queued", n, svc_verdict_name(v));
        }
    }
    assert_true(n > 0 && n < 1000);
    commit(f);
    /* And on disk: after a restart the subscriber gets it. */
    restart(f);
    struct fake_link *sl = &f->links[6];
    struct open_args a = {.id = "sub", .persistent = true};
    bool present;
    sub = connect_link(f, &a, sl, &present);
    assert_true(present);
    assert_int_equal(count_topic(sl, "data/x"), 1);
}

/* A new subscription under allocation failure: refused with nothing of it
 * left in the session or the router; the one that succeeds is durable. */
static void test_svc_subscribe_alloc_failure_clean_error(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *l = &f->links[0];
    struct sess *s = connect_as(f, "c1", NULL, true, l);
    subscribe(f, s, "a/b", 1);
    commit(f);
    struct svc_door open_door = {.allow_anonymous = true};
    long n;
    for (n = 0; n < 1000; n++) {
        struct svc_sub sub = {.filter = gw_bytes_str("$share/g/c/d"), .qos = 1};
        bool replaced;
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = svc_subscribe(f->b, s, &sub, &replaced);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            break;
        }
        if (v != SVC_NO_MEMORY) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
        struct svc_outcome out;
        assert_int_equal(publish(f, NULL, &open_door, "c/d", 1, 0, false, &out), SVC_OK);
        if (s->n_subs != 1 || !out.no_subscribers) {
            fail_msg("allocation %ld failed: refused, but %u subscriptions, routed %d", n,
                     s->n_subs, !out.no_subscribers);
        }
    }
    assert_true(n > 0 && n < 1000);
    assert_int_equal(s->n_subs, 2);
    commit(f);
    restart(f);
    s = sess_table_get(&f->b->sessions, gw_bytes_str("c1"));
    assert_non_null(s);
    assert_int_equal(s->n_subs, 2);
    assert_non_null(sess_sub_find(s, gw_bytes_str("$share/g/c/d")));
}

/* Subscribing again to a filter it has, under allocation failure: a
 * refusal keeps the subscription it had (the client's SUBACK failure code
 * says nothing changed). */
static void test_svc_subscribe_again_alloc_failure_keeps_old(void **state)
{
    struct fx *f = *state;
    start(f);
    struct fake_link *l = &f->links[0];
    struct sess *s = connect_as(f, "c1", NULL, true, l);
    subscribe(f, s, "a/b", 1);
    commit(f);
    struct svc_door open_door = {.allow_anonymous = true};
    long n;
    for (n = 0; n < 1000; n++) {
        struct svc_sub sub = {.filter = gw_bytes_str("a/b"), .qos = 2, .sub_id = 7};
        bool replaced = false;
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = svc_subscribe(f->b, s, &sub, &replaced);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            assert_true(replaced);
            break;
        }
        if (v != SVC_NO_MEMORY) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
        size_t before = l->n;
        struct svc_outcome out;
        assert_int_equal(publish(f, NULL, &open_door, "a/b", 1, 0, false, &out), SVC_OK);
        if (s->n_subs != 1 || out.no_subscribers || l->n != before + 1) {
            fail_msg("allocation %ld failed: refused, and the old subscription is gone", n);
        }
    }
    assert_true(n < 1000);
    assert_int_equal(s->n_subs, 1);
}

/* One small publish to data/warm and its commit: the router's hit array
 * is allocated once and kept, and would otherwise take an index of the
 * first failing run, so that the later runs skip the allocations after it
 * (the store's). The store's batch buffer stays at its first size. */
static void warm_up(struct fx *f, struct sess *p)
{
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "data/warm", 1, 1, false, &out), SVC_OK);
    commit(f);
}

/* A payload larger than the store's batch buffer, so the store's own
 * allocations for the message come into play. Refused (SVC_NO_MEMORY or
 * SVC_QUOTA) with nothing queued, or SVC_OK with the message queued AND on
 * disk: after a restart the subscriber gets it. Fail the n-th allocation
 * for n = 0, 1, ... until the publish succeeds. */
static void test_svc_publish_large_alloc_failure_acked_on_disk(void **state)
{
    struct fx *f = *state;
    start(f);
    static char payload[8192];
    memset(payload, 'x', sizeof(payload) - 1);
    struct sess *sub = offline_subscriber(f, "sub", NULL, "data/#");
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    warm_up(f, p);
    assert_int_equal(sess_queue_len(sub), 1);
    char topic[32] = "";
    long n;
    for (n = 0; n < 1000; n++) {
        snprintf(topic, sizeof(topic), "data/big/%ld", n);
        struct svc_publish pb = {
                .topic = gw_bytes_str(topic), .payload = gw_bytes_str(payload), .qos = 1};
        struct svc_outcome out;
        uint64_t before = sess_queue_len(sub);
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = svc_publish(f->b, p, NULL, &pb, &out);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            assert_int_equal(sess_queue_len(sub), before + 1);
            assert_true(out.pending);
            break;
        }
        if (v != SVC_NO_MEMORY && v != SVC_QUOTA) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
        assert_int_equal(sess_queue_len(sub), before);
    }
    assert_true(n > 0 && n < 1000);
    commit(f);
    restart(f);
    struct fake_link *sl = &f->links[6];
    struct open_args a = {.id = "sub", .persistent = true};
    bool present;
    (void)connect_link(f, &a, sl, &present);
    assert_true(present);
    if (count_topic(sl, topic) != 1) {
        fail_msg("SVC_OK at allocation %ld failed, but after a restart the subscriber got %zu", n,
                 count_topic(sl, topic));
    }
}

/* The same for a connected durable subscriber: the message goes in flight
 * at once; acknowledged means its inflight record and body are on disk,
 * so a restart before the subscriber's PUBACK resends it. */
static void test_svc_publish_large_inflight_alloc_failure_acked_on_disk(void **state)
{
    struct fx *f = *state;
    start(f);
    static char payload[8192];
    memset(payload, 'x', sizeof(payload) - 1);
    struct fake_link *sl = &f->links[5];
    struct sess *sub = connect_as(f, "sub", NULL, true, sl);
    subscribe(f, sub, "data/#", 1);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[0]);
    warm_up(f, p);
    assert_int_equal(sl->n, 1);
    assert_int_equal(sess_on_puback(sub, sl->sent[0].pid), 0);
    commit(f);
    char topic[32] = "";
    long n;
    for (n = 0; n < 1000; n++) {
        snprintf(topic, sizeof(topic), "data/big/%ld", n);
        struct svc_publish pb = {
                .topic = gw_bytes_str(topic), .payload = gw_bytes_str(payload), .qos = 1};
        struct svc_outcome out;
        size_t before = sl->n;
        gw_alloc_fail_at(n, 0);
        enum svc_verdict v = svc_publish(f->b, p, NULL, &pb, &out);
        gw_alloc_fail_at(-1, 0);
        if (v == SVC_OK) {
            assert_int_equal(sl->n, before + 1);
            assert_true(out.pending);
            break;
        }
        if (v != SVC_NO_MEMORY && v != SVC_QUOTA) {
            fail_msg("allocation %ld failed: %s", n, svc_verdict_name(v));
        }
    }
    assert_true(n > 0 && n < 1000);
    commit(f);
    restart(f); /* before any PUBACK */
    struct fake_link *l2 = &f->links[6];
    struct open_args a = {.id = "sub", .persistent = true};
    bool present;
    (void)connect_link(f, &a, l2, &present);
    assert_true(present);
    if (count_topic(l2, topic) < 1) {
        fail_msg("SVC_OK at allocation %ld failed, but after a restart the subscriber got %zu", n,
                 count_topic(l2, topic));
    }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            T(test_svc_open_new_session_not_present),
            T(test_svc_open_resume_present),
            T(test_svc_open_clean_discards),
            T(test_svc_open_clean_discarded_member_gets_no_share),
            T(test_svc_open_same_identity_takes_over),
            T(test_svc_open_other_user_id_taken),
            T(test_svc_open_anonymous_on_user_session_id_taken),
            T(test_svc_open_user_on_anonymous_session_id_taken),
            T(test_svc_open_reserved_id_refused),
            T(test_svc_open_door_no_anonymous_refuses_anonymous),
            T(test_svc_open_door_no_anonymous_admits_user),
            T(test_svc_open_door_id_not_allowed_refused),
            T(test_svc_open_expired_session_not_resumed),
            T(test_svc_open_client_count_takeover_no_leak),
            T(test_svc_disconnect_clean_session_reaped),
            T(test_svc_open_takeover_of_clean_session_not_present),
            T(test_svc_open_takeover_alloc_failure_owner_untouched),
            T(test_svc_identity_after_restart_kept),
            T(test_svc_attach_resumed_resends_inflight_then_queue),
            T(test_svc_attach_after_restart_resends_inflight_then_queue),
            T(test_svc_attach_unwritable_link_keeps_queue),
            T(test_svc_open_will_to_sys_not_authorised),
            T(test_svc_open_will_acl_forbidden_not_authorised),
            T(test_svc_will_set_refused_keeps_old),
            T(test_svc_will_unclean_disconnect_published),
            T(test_svc_will_clean_disconnect_not_published),
            T(test_svc_will_forbidden_after_acl_reload_not_published),
            T(test_svc_open_will_invalid_topic_invalid),
            T(test_svc_publish_acl_denied_not_delivered),
            T(test_svc_publish_sys_not_authorised),
            T(test_svc_publish_sessionless_door_no_anonymous_refused),
            T(test_svc_publish_sessionless_door_anonymous_ok),
            T(test_svc_publish_qos2_duplicate_not_routed_twice),
            T(test_svc_publish_recv_max_exceeded_refused),
            T(test_svc_publish_offline_persistent_subscriber_pending),
            T(test_svc_publish_clean_subscriber_not_pending),
            T(test_svc_publish_no_subscribers_reported),
            T(test_svc_publish_too_large_refused),
            T(test_svc_publish_retain_unavailable_refused),
            T(test_svc_publish_no_local_not_echoed),
            T(test_svc_publish_retained_no_subscriber_pending),
            T(test_svc_publish_msg_offline_persistent_pending),
            T(test_svc_publish_qos2_duplicate_after_restart_not_routed),
            T(test_svc_release_durable_pending_then_new),
            T(test_svc_quota_refused_acked_all_queued),
            T(test_svc_quota_refused_acked_survive_restart),
            T(test_svc_quota_qos2_refused_id_forgotten),
            T(test_svc_subscribe_share_acl_on_filter),
            T(test_svc_subscribe_invalid_filter_invalid),
            T(test_svc_send_retained_only_readable),
            T(test_svc_unsubscribe_known_true_unknown_false),
            T(test_svc_subscribe_again_replaced),
            T(test_svc_subscribe_durable_after_restart_kept),
            T(test_svc_expiry_heap_reaps_in_order),
            T(test_svc_expiry_heap_many_reaped_by_deadline),
            T(test_svc_expiry_resume_disarms_timer),
            T(test_svc_expiry_timer_reaps_due_session),
            T(test_svc_open_alloc_failure_clean_error),
            T(test_svc_publish_alloc_failure_clean_error),
            T(test_svc_subscribe_alloc_failure_clean_error),
            T(test_svc_subscribe_again_alloc_failure_keeps_old),
            T(test_svc_publish_large_alloc_failure_acked_on_disk),
            T(test_svc_publish_large_inflight_alloc_failure_acked_on_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
