/* test_svc_sub.c - the session service (svc.h): subscribing,
 * unsubscribing, retained messages on subscribe. Fixture:
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

/* ---- allocation failures (STYLE.md section 11) ---- */

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
            T(test_svc_subscribe_share_acl_on_filter),
            T(test_svc_subscribe_invalid_filter_invalid),
            T(test_svc_send_retained_only_readable),
            T(test_svc_unsubscribe_known_true_unknown_false),
            T(test_svc_subscribe_again_replaced),
            T(test_svc_subscribe_durable_after_restart_kept),
            T(test_svc_subscribe_alloc_failure_clean_error),
            T(test_svc_subscribe_again_alloc_failure_keeps_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
