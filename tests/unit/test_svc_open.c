/* test_svc_open.c - the session service (svc.h): opening sessions,
 * identities, attaching links, wills, the expiry heap. Fixture:
 * tests/support/svc_fixture.h. */
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
#include "svc_fixture.h"

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
    assert_int_equal(l1->n, 2); /* PUBREL waits for the WAIT_PUBCOMP record */
    commit(f);
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

/* sub (persistent, connected on links[0]) was sent a QoS 2 message and
 * answered PUBREC. Returns its session and the packet id. */
static struct sess *qos2_pubrec(struct fx *f, uint16_t *pid)
{
    struct fake_link *l1 = &f->links[0];
    struct sess *s = connect_as(f, "sub", NULL, true, l1);
    subscribe(f, s, "d/#", 2);
    struct sess *p = connect_as(f, "pub", NULL, false, &f->links[1]);
    struct svc_outcome out;
    assert_int_equal(publish(f, p, NULL, "d/2", 2, 2, false, &out), SVC_OK);
    commit(f);
    assert_int_equal(l1->n, 1);
    *pid = l1->sent[0].pid;
    assert_int_equal(sess_on_pubrec(s, *pid), 0);
    return s;
}

/* With the real store: no PUBREL until the batch holding the WAIT_PUBCOMP
 * record committed (a crash before it would make the restarted broker
 * resend the PUBLISH to a receiver that already released the id); and
 * what the commit wrote is what a restart restores: PUBREL, not PUBLISH. */
static void test_svc_pubrel_held_until_commit(void **state)
{
    struct fx *f = *state;
    start(f);
    uint16_t pid;
    struct sess *s = qos2_pubrec(f, &pid);
    struct fake_link *l1 = &f->links[0];
    assert_int_equal(l1->n, 1);
    assert_int_equal(sess_on_pubrec(s, pid), 0); /* repeated: still waits */
    assert_int_equal(l1->n, 1);
    commit(f);
    assert_int_equal(l1->n, 2);
    assert_int_equal(l1->sent[1].kind, 'R');
    assert_int_equal(l1->sent[1].pid, pid);
    assert_int_equal(sess_on_pubrec(s, pid), 0); /* committed: PUBREL again at once */
    assert_int_equal(l1->n, 3);
    restart(f);
    struct fake_link *l2 = &f->links[2];
    struct open_args a = {.id = "sub", .persistent = true};
    bool present = false;
    (void)connect_link(f, &a, l2, &present);
    assert_true(present);
    assert_int_equal(l2->n, 1);
    assert_int_equal(l2->sent[0].kind, 'R');
    assert_int_equal(l2->sent[0].pid, pid);
}

/* The session is replaced by a clean one (and freed) before the commit:
 * the held PUBREL's callback finds it gone, sends nothing (ASan: no use
 * after free; teardown: nothing leaked). */
static void test_svc_pubrel_session_replaced_before_commit(void **state)
{
    struct fx *f = *state;
    start(f);
    uint16_t pid;
    (void)qos2_pubrec(f, &pid);
    struct fake_link *l2 = &f->links[2];
    struct open_args a = {.id = "sub", .clean = true};
    bool present = true;
    (void)connect_link(f, &a, l2, &present);
    assert_false(present);
    commit(f);
    assert_int_equal(f->links[0].n, 1);
    assert_int_equal(l2->n, 0);
}

/* The link is gone at commit time: nothing sent then, PUBREL on the next
 * connection [MQTT-4.4.0-1]. */
static void test_svc_pubrel_link_gone_then_resumed(void **state)
{
    struct fx *f = *state;
    start(f);
    uint16_t pid;
    struct sess *s = qos2_pubrec(f, &pid);
    svc_disconnect(f->b, s, false, false);
    commit(f);
    assert_int_equal(f->links[0].n, 1);
    struct fake_link *l2 = &f->links[2];
    struct open_args a = {.id = "sub", .persistent = true};
    bool present = false;
    (void)connect_link(f, &a, l2, &present);
    assert_true(present);
    assert_int_equal(l2->n, 1);
    assert_int_equal(l2->sent[0].kind, 'R');
    assert_int_equal(l2->sent[0].pid, pid);
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
            T(test_svc_pubrel_held_until_commit),
            T(test_svc_pubrel_session_replaced_before_commit),
            T(test_svc_pubrel_link_gone_then_resumed),
            T(test_svc_open_will_to_sys_not_authorised),
            T(test_svc_open_will_acl_forbidden_not_authorised),
            T(test_svc_will_set_refused_keeps_old),
            T(test_svc_will_unclean_disconnect_published),
            T(test_svc_will_clean_disconnect_not_published),
            T(test_svc_will_forbidden_after_acl_reload_not_published),
            T(test_svc_open_will_invalid_topic_invalid),
            T(test_svc_expiry_heap_reaps_in_order),
            T(test_svc_expiry_heap_many_reaped_by_deadline),
            T(test_svc_expiry_resume_disarms_timer),
            T(test_svc_expiry_timer_reaps_due_session),
            T(test_svc_open_alloc_failure_clean_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
