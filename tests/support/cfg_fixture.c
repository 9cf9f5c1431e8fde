/* cfg_fixture.c - see cfg_fixture.h. */
#include "cfg_fixture.h"

#include "alloc.h"
#include "cfg.h"
#include "gw_err.h"
#include "log.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

char err[512];

struct gw_config *load_ok(const char *text)
{
    struct gw_config *c = NULL;
    int rc = cfg_load_string(text, "t.conf", &c, err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error %d: %s\n", rc, err);
    }
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

const char every_option[] = "# every option with a non-default value\n"
                                   "\n"
                                   "   per_listener_settings false   \n"
                                   "allow_anonymous true\r\n"
                                   "password_file /etc/tern/pass words\n"
                                   "acl_file /etc/tern/acl\n"
                                   "allow_zero_length_clientid false\n"
                                   "auto_id_prefix gen-\n"
                                   "max_inflight_messages 0\n"
                                   "max_inflight_bytes 64k\n"
                                   "max_queued_messages 5\n"
                                   "max_queued_bytes 2M\n"
                                   "max_packet_size 268435455\n"
                                   "max_connections 100\n"
                                   "max_keepalive 600\n"
                                   "message_size_limit 1000\n"
                                   "sys_interval 0\n"
                                   "queue_qos0_messages true\n"
                                   "retain_available false\n"
                                   "persistence false\n"
                                   "persistence_location /var/lib/tern/\n"
                                   "persistence_durability periodic 250\n"
                                   "persistence_quota 64M\n"
                                   "persistence_quota_policy drop_oldest\n"
                                   "persistence_map_size 256M\n"
                                   "persistent_client_expiration 2w\n"
                                   "connection_messages false\n"
                                   "log_type debug\n"
                                   "log_type subscribe\n"
                                   "log_dest syslog\n"
                                   "log_timestamp false\n"
                                   "pid_file /run/tern.pid\n"
                                   "connect_timeout 30\n"
                                   "output_soft_limit 2M\n"
                                   "output_hard_limit 1G\n"
                                   "listener 1883\n"
                                   "protocol mqtt\n"
                                   "socket_domain ipv4\n"
                                   "listener 1884\n"
                                   "max_connections 7\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

void make_include_tree(struct tmp_dir *t, const char *b_conf)
{
    char path[192];
    (void)snprintf(t->dir, sizeof(t->dir), "/tmp/tern_cfg_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    (void)snprintf(path, sizeof(path), "%s/b.conf", t->dir);
    write_file(path, b_conf);
    (void)snprintf(path, sizeof(path), "%s/a.conf", t->dir);
    write_file(path, "listener 1884\nmax_connections 3\n");
    (void)snprintf(path, sizeof(path), "%s/notes.txt", t->dir);
    write_file(path, "garbage that is not read\n");
    (void)snprintf(t->main, sizeof(t->main), "%s.main", t->dir);
    char text[256];
    (void)snprintf(text, sizeof(text), "listener 1883\ninclude_dir %s\nsys_interval 5\n", t->dir);
    write_file(t->main, text);
}

void remove_include_tree(const struct tmp_dir *t)
{
    const char *names[] = {"a.conf", "b.conf", "notes.txt"};
    for (size_t i = 0; i < 3; i++) {
        char path[192];
        (void)snprintf(path, sizeof(path), "%s/%s", t->dir, names[i]);
        (void)unlink(path);
    }
    (void)rmdir(t->dir);
    (void)unlink(t->main);
}
