/* test_svc.c - the session service (svc.h) driven by fake front-ends: a
 * fake struct sess_link_ops records what the service asks a connection to
 * send, and the real broker core runs on a real loop with the real LMDB
 * store in a mkdtemp directory. No sockets, no sleep: commits complete by
 * running the loop until a persist_after_commit callback stops it, and
 * expiry is driven by writing expire_at_ms or passing now_ms. */
#include "alloc.h"
#include "broker.h"
#include "cfg.h"
#include "gw_err.h"
#include "loop.h"
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
    char base[64];      /* mkdtemp: holds store/ and acl */
    char store_dir[96]; /* persistence_location */
    char acl_path[96];
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
 * acl_file when there is one), broker, auth and store. */
static void start(struct fx *f)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "persistence true\n"
             "persistence_location %s\n"
             "persistence_durability none\n"
             "%s%s%s",
             f->store_dir, f->with_acl ? "acl_file " : "", f->with_acl ? f->acl_path : "",
             f->with_acl ? "\n" : "");
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
}

static void start_acl(struct fx *f, const char *acl)
{
    write_file(f->acl_path, acl);
    f->with_acl = true;
    start(f);
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
            T(test_svc_identity_after_restart_kept),
            T(test_svc_open_will_to_sys_not_authorised),
            T(test_svc_open_will_acl_forbidden_not_authorised),
            T(test_svc_will_set_refused_keeps_old),
            T(test_svc_will_unclean_disconnect_published),
            T(test_svc_will_forbidden_after_acl_reload_not_published),
            T(test_svc_publish_acl_denied_not_delivered),
            T(test_svc_publish_sys_not_authorised),
            T(test_svc_publish_sessionless_door_no_anonymous_refused),
            T(test_svc_publish_sessionless_door_anonymous_ok),
            T(test_svc_publish_qos2_duplicate_not_routed_twice),
            T(test_svc_publish_recv_max_exceeded_refused),
            T(test_svc_publish_offline_persistent_subscriber_pending),
            T(test_svc_publish_clean_subscriber_not_pending),
            T(test_svc_publish_no_subscribers_reported),
            T(test_svc_quota_refused_acked_all_queued),
            T(test_svc_quota_refused_acked_survive_restart),
            T(test_svc_subscribe_share_acl_on_filter),
            T(test_svc_subscribe_invalid_filter_invalid),
            T(test_svc_send_retained_only_readable),
            T(test_svc_unsubscribe_known_true_unknown_false),
            T(test_svc_expiry_heap_reaps_in_order),
            T(test_svc_open_alloc_failure_clean_error),
            T(test_svc_publish_alloc_failure_clean_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
