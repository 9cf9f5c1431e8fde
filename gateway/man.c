/* man.c - the manual pages of man.h. tern.conf(5)'s option list is
 * cfg_print_man_options: the option table, as --help-config prints it. */
#include "man.h"

#include "cfg.h"

#include <string.h>

static const char tern8[] =
        ".TH TERN 8 \"\" \"tern " TERN_VERSION "\" \"System Administration\"\n"
        ".SH NAME\ntern \\- edge\\-gateway MQTT broker, MQTT\\-SN gateway and "
        "store\\-and\\-forward "
        "bridge\n"
        ".SH SYNOPSIS\n.B tern\n[\\fB\\-c\\fR \\fIFILE\\fR] [\\fB\\-p\\fR \\fIPORT\\fR] "
        "[\\fB\\-v\\fR] [\\fB\\-\\-check\\-config\\fR]\n"
        ".SH DESCRIPTION\n"
        "Tern is one process with one event loop: an MQTT 3.1.1 and 5.0 broker for local\n"
        "applications, a native MQTT\\-SN 1.2 gateway for sensors over UDP, and durable bridges\n"
        "to a cloud broker whose backlog waits in an LMDB store while the uplink is down.\n"
        "A QoS 1 or 2 message is acknowledged only once it is on disk.\n"
        "It reads mosquitto's configuration syntax; see\n.BR tern.conf (5).\n"
        ".PP\nWith no configuration file tern listens for MQTT on 127.0.0.1 and ::1 port 1883,\n"
        "for MQTT\\-SN on UDP 127.0.0.1 port 1884, serves its metrics on\n"
        "http://127.0.0.1:9883/metrics, and keeps its store in ./tern\\-data/.\n"
        ".SH OPTIONS\n"
        ".TP\n.BR \\-c \", \" \\-\\-config\\-file \" \" \\fIFILE\\fR\nRead the configuration from "
        "FILE.\n"
        ".TP\n.BR \\-p \", \" \\-\\-port \" \" \\fIPORT\\fR\nListen for MQTT on 127.0.0.1 and ::1 "
        "port PORT.\n"
        ".TP\n.BR \\-v \", \" \\-\\-verbose\nLog everything (log_type all).\n"
        ".TP\n.B \\-\\-check\\-config\nValidate the configuration, password and ACL files and "
        "exit; non\\-zero with FILE:LINE: reason on an error.\n"
        ".TP\n.B \\-\\-store\\-info\nPrint the store's figures (sessions, queues, oldest message, "
        "retained, size) and exit; works while tern runs.\n"
        ".TP\n.BI \\-\\-scram\\-passwd \" USER\"\nRead a password on stdin and print a scram_file "
        "line for USER.\n"
        ".TP\n.B \\-\\-help\\-config\nList every configuration option.\n"
        ".TP\n.BI \\-\\-man \" PAGE\"\nPrint this page (tern.8) or tern.conf.5 in troff.\n"
        ".TP\n.BR \\-h \", \" \\-\\-help\nShow the usage.\n"
        ".TP\n.B \\-\\-version\nShow the version.\n"
        ".SH SIGNALS\n"
        ".TP\n.BR SIGINT \", \" SIGTERM\nStop cleanly; clients lose their connection without "
        "DISCONNECT, so their wills are published.\n"
        ".TP\n.B SIGHUP\nRe\\-read the configuration file; reloadable options take effect, "
        "the log names those that need a restart; a file with an error is rejected whole.\n"
        ".SH SYSTEMD\n"
        "Under Type=notify tern sends READY=1 once its listeners and store are up, STATUS= "
        "lines, WATCHDOG=1 from its event loop at half of WatchdogSec, RELOADING=1 around a "
        "reload and STOPPING=1 at shutdown. The packaged unit is tern.service.\n"
        ".SH HTTP ENDPOINTS\n"
        "A listener with protocol http serves /metrics (Prometheus), /healthz, /readyz and "
        "/api/v1/status (JSON).\n"
        ".SH FILES\n"
        ".TP\n.I /etc/tern/tern.conf\nThe configuration of the packaged service.\n"
        ".TP\n.I /var/lib/tern/\nThe LMDB store of the packaged service.\n"
        ".SH SEE ALSO\n.BR tern.conf (5),\n.BR tern_sn_pub (1),\n.BR tern_sn_sub (1),\n"
        ".BR mosquitto.conf (5)\n";

static const char conf5_head[] =
        ".TH TERN.CONF 5 \"\" \"tern " TERN_VERSION "\" \"File Formats\"\n"
        ".SH NAME\ntern.conf \\- configuration of the tern MQTT broker\n"
        ".SH DESCRIPTION\n"
        "One option per line, mosquitto.conf(5) syntax; a line starting with # is a comment.\n"
        "Options shared with mosquitto keep mosquitto's names and meanings. An unknown option,\n"
        "a missing or extra argument or a value out of range stops tern with FILE:LINE and what\n"
        "was expected;\n.B tern \\-\\-check\\-config \\-c FILE\nchecks a file without "
        "starting.\n"
        "Listener options apply to the last\n.B listener\nline; SIZE accepts k, M and G.\n";

static const char conf5_tail[] =
        ".SH EXAMPLE\n.nf\nlistener 1883 127.0.0.1\nlistener 1884 127.0.0.1\nprotocol mqttsn\n"
        "listener 9883 127.0.0.1\nprotocol http\npersistence_location /var/lib/tern/\n.fi\n"
        ".SH SEE ALSO\n.BR tern (8),\n.BR mosquitto.conf (5)\n";

int man_print(FILE *out, const char *name)
{
    if (strcmp(name, "tern.8") == 0) {
        (void)fputs(tern8, out);
        return 0;
    }
    if (strcmp(name, "tern.conf.5") == 0) {
        (void)fputs(conf5_head, out);
        cfg_print_man_options(out);
        (void)fputs(conf5_tail, out);
        return 0;
    }
    return -1;
}
