/* svc_fixture.h - the fixture of the session service's unit tests
 * (test_svc_open.c, test_svc_publish.c, test_svc_sub.c): a fake front-end
 * (struct sess_link_ops recording what the service asks a connection to
 * send) and the real broker core on a real loop, with the real LMDB store
 * in a mkdtemp directory. No sockets, no sleep: commits complete by
 * running the loop until a persist_after_commit callback stops it. */
#ifndef SVC_FIXTURE_H
#define SVC_FIXTURE_H

#include "msg.h"
#include "sess.h"
#include "svc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct loop;

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

/* The fake link's ops (links live in struct fx.links). */
extern const struct sess_link_ops fake_ops;

/* Two users of tests/data/passwd.fixture (mosquitto_passwd 2.0.11):
 * alice/secret, bob/hunter2. */
extern const char passwd_main[];

/* The ACL of most authorisation tests: alice writes and reads sensors/#,
 * watcher reads everything, pub writes everything. */
extern const char acl_main[];

/* cmocka setup / teardown: a fresh struct fx with its temp directory;
 * teardown also checks that nothing allocated was left behind. */
int setup(void **state);
int teardown(void **state);

/* Start the broker (config: persistence in the temp dir plus f->extra, and
 * the acl and password files when start_acl wrote them), stop it, or
 * restart it on the same store. */
void start(struct fx *f);
void start_acl(struct fx *f, const char *acl);
void stop(struct fx *f);
void restart(struct fx *f);
void write_file(const char *path, const char *text);

/* Run the loop until everything queued so far is committed. */
void commit(struct fx *f);

struct msg *mkmsg(const char *topic, const char *payload, uint8_t qos, bool retain);

/* svc_open with a's fields; connect_link also attaches link (SVC_OK or
 * the test fails); connect_as is connect_link with the common fields. */
enum svc_verdict open_with(struct fx *f, const struct open_args *a, struct sess **s, bool *present);
struct sess *connect_link(struct fx *f, const struct open_args *a, struct fake_link *link,
                          bool *present);
struct sess *connect_as(struct fx *f, const char *id, const char *user, bool persistent,
                        struct fake_link *link);

/* svc_subscribe (SVC_OK or the test fails) and svc_publish of "payload". */
void subscribe(struct fx *f, struct sess *s, const char *filter, uint8_t qos);
enum svc_verdict publish(struct fx *f, struct sess *from, const struct svc_door *door,
                         const char *topic, uint8_t qos, uint16_t pid, bool retain,
                         struct svc_outcome *out);

/* A persistent QoS 1 subscriber to filter that went offline. */
struct sess *offline_subscriber(struct fx *f, const char *id, const char *user, const char *filter);

/* PUBLISHes of topic the link was sent. */
size_t count_topic(const struct fake_link *l, const char *topic);

/* A door's id_allowed: ids that start with the prefix arg. */
bool only_sensor_ids(const void *arg, struct gw_bytes id);

#endif
