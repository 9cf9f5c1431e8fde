/* test_svc_publish.c - the session service (svc.h): publishing,
 * releasing QoS 2, the store quota, large messages under allocation
 * failure. Fixture: tests/support/svc_fixture.h. */
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

/* ---- allocation failures (STYLE.md section 11) ---- */

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
            T(test_svc_publish_alloc_failure_clean_error),
            T(test_svc_publish_large_alloc_failure_acked_on_disk),
            T(test_svc_publish_large_inflight_alloc_failure_acked_on_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
