/* tern_bench - MQTT 3.1.1 load generator (the benchmark, not a test).
 *
 * Speaks raw MQTT 3.1.1 over TCP from one thread and one epoll loop. It uses
 * no MQTT library and no broker code, so it measures Tern and mosquitto the
 * same way. Modes (see tests/bench/README.md):
 *   throughput  P publishers -> S subscribers, QoS 0/1/2, windowed pipeline
 *   latency     1 -> 1 at a fixed rate, CLOCK_MONOTONIC stamp in the payload
 *   idle        N connections with CONNECT + one SUBSCRIBE, held open
 *   durable     persistent subscriber (clean session 0) subscribes QoS 1 and
 *               goes offline; P publishers publish QoS 1 to its topic
 *               (PUBACKs/s); it reconnects and drains, checking order.
 *               Each phase also runs alone: durable-sub, durable-pub,
 *               durable-drain (so a script can restart the broker between).
 * Human-readable lines go to stderr; one machine-readable "RESULT k=v ..."
 * line goes to stdout (idle also prints "READY conns=N" once all are
 * subscribed, then holds them until SIGTERM/SIGINT or -d seconds).
 *
 * Flow control: a publisher may have at most W messages "undelivered"
 * (published but not yet seen by every matching subscriber) and, at QoS 1/2,
 * at most W unacknowledged. This keeps broker queues bounded (no drops from
 * max_queued_messages) and measures sustained, not burst, throughput.
 *
 * The files, one job each, are listed in tern_bench.h.
 */
#include <signal.h>
#include <stddef.h>

#include "tern_bench.h"

volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    static struct bench b;
    parse_opts(&b.o, argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    if (b.o.mode == MODE_IDLE) {
        return run_idle(&b);
    }
    if (b.o.mode >= MODE_DURABLE) {
        if (b.o.qos != 1) {
            die("durable modes are QoS 1 only");
        }
        return run_durable(&b.o);
    }
    return run_traffic(&b);
}
