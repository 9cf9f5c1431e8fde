/* args.c - tern_bench's command line: HOST PORT MODE [options], the
 * defaults of each mode. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern_bench.h"

const char *const layout_names[3] = {"pairs", "fanout", "fanin"};

static void usage(void)
{
    (void)fputs("usage: tern_bench HOST PORT MODE [options]\n"
                "  MODE: throughput | latency | idle\n"
                "  -p N   publishers (throughput: 1, latency: 1)\n"
                "  -s N   subscribers (1)\n"
                "  -l L   topic layout: pairs (pub i -> topic i -> sub i), fanout (one topic,\n"
                "         every sub), fanin (pub i -> topic i, subs on PREFIX/+)  (pairs)\n"
                "  -q Q   QoS 0, 1 or 2 of publishes and subscriptions (0)\n"
                "  -m B   payload bytes, >= 16 (64)\n"
                "  -w W   window: max undelivered (and, QoS>0, unacked) per publisher (64)\n"
                "  -d S   duration: publishing seconds; idle: hold seconds (5; idle 600)\n"
                "  -n N   stop after N messages in total (0 = duration only)\n"
                "  -r R   total publish rate msgs/s (throughput: 0 = window-bound;\n"
                "         latency: 2000)\n"
                "  -W S   latency warm-up seconds not sampled (0.5)\n"
                "  -D S   drain time after publishing stops (3)\n"
                "  -c N   idle connections (10000)\n"
                "  -k S   keepalive seconds (600)\n"
                "  -C S   connection setup timeout seconds (10; idle 120)\n"
                "  MODE durable | durable-sub | durable-pub | durable-drain (QoS 1 only):\n"
                "  -i ID  persistent subscriber's client id (tb-durable-sub)\n"
                "  -t T   topic (tb/durable)\n"
                "  -p N   publishers (1); drain: publishers whose sequences to check\n"
                "  -w W   unacked PUBLISHes per publisher (256)\n"
                "  -d S   publishing seconds (5); durable-drain: bound of the drain (60)\n"
                "  -n N   pub: stop after N messages; drain: receive N, leave the rest queued\n"
                "  -D S   pub: wait for the last PUBACKs (3); drain: stop after S s quiet (3)\n"
                "  -e N   drain: messages expected (checked; stop 0.3 s after they arrived)\n"
                "  -T S   durable: bound of its drain phase (60)\n",
                stderr);
    exit(1);
}

static unsigned long parse_num(const char *s, unsigned long max)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        die("bad number '%s' (max %lu)", s, max);
    }
    return v;
}

static double parse_secs(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.0 && v <= 86400.0)) {
        die("bad seconds '%s'", s);
    }
    return v;
}

static void set_defaults(struct opts *o, const char *mode)
{
    o->pubs = 1;
    o->subs = 1;
    o->window = 64;
    o->payload = 64;
    o->conns = 10000;
    o->keepalive_s = 600;
    o->duration_s = 5.0;
    o->drain_s = 3.0;
    o->connect_s = 10.0;
    o->warmup_s = 0.5;
    o->drain_max_s = 60.0;
    o->client_id = "tb-durable-sub";
    o->topic = "tb/durable";
    if (strncmp(mode, "durable", 7) == 0) {
        static const char *const names[] = {"durable", "durable-sub", "durable-pub",
                                            "durable-drain"};
        for (unsigned i = 0; i < 4; i++) {
            if (strcmp(mode, names[i]) == 0) {
                o->mode = (enum bench_mode)(MODE_DURABLE + i);
            }
        }
        if (o->mode < MODE_DURABLE) {
            usage();
        }
        o->window = 256;
        o->qos = 1;
        if (o->mode == MODE_DUR_DRAIN) {
            o->duration_s = 60.0; /* bound of the whole drain */
        }
    } else if (strcmp(mode, "throughput") == 0) {
        o->mode = MODE_THROUGHPUT;
    } else if (strcmp(mode, "latency") == 0) {
        o->mode = MODE_LATENCY;
        o->rate = 2000;
    } else if (strcmp(mode, "idle") == 0) {
        o->mode = MODE_IDLE;
        o->duration_s = 600.0;
        o->connect_s = 120.0;
    } else {
        usage();
    }
}

static void parse_layout(struct opts *o, const char *s)
{
    for (unsigned i = 0; i < 3; i++) {
        if (strcmp(s, layout_names[i]) == 0) {
            o->layout = (enum bench_layout)i;
            return;
        }
    }
    die("bad layout '%s'", s);
}

void parse_opts(struct opts *o, int argc, char **argv)
{
    if (argc < 4) {
        usage();
    }
    o->host = argv[1];
    o->port = (uint16_t)parse_num(argv[2], 65535);
    set_defaults(o, argv[3]);
    int ch;
    optind = 1;
    while ((ch = getopt(argc - 3, argv + 3, "p:s:l:q:m:w:d:n:r:W:D:c:k:C:i:t:e:T:h")) != -1) {
        switch (ch) {
        case 'p':
            o->pubs = (unsigned)parse_num(optarg, 100000);
            break;
        case 's':
            o->subs = (unsigned)parse_num(optarg, 100000);
            break;
        case 'l':
            parse_layout(o, optarg);
            break;
        case 'q':
            o->qos = (unsigned)parse_num(optarg, 2);
            break;
        case 'm':
            o->payload = parse_num(optarg, 100u << 20);
            break;
        case 'w':
            o->window = (unsigned)parse_num(optarg, 60000);
            break;
        case 'd':
            o->duration_s = parse_secs(optarg);
            break;
        case 'n':
            o->count = parse_num(optarg, ULONG_MAX);
            break;
        case 'r':
            o->rate = (unsigned)parse_num(optarg, 100000000);
            break;
        case 'W':
            o->warmup_s = parse_secs(optarg);
            break;
        case 'D':
            o->drain_s = parse_secs(optarg);
            break;
        case 'c':
            o->conns = (unsigned)parse_num(optarg, 1000000);
            break;
        case 'k':
            o->keepalive_s = (unsigned)parse_num(optarg, 65535);
            break;
        case 'C':
            o->connect_s = parse_secs(optarg);
            break;
        case 'i':
            o->client_id = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'e':
            o->expect = parse_num(optarg, ULONG_MAX);
            break;
        case 'T':
            o->drain_max_s = parse_secs(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 3) {
        usage();
    }
    if (o->payload < STAMP_LEN || o->pubs == 0 || o->subs == 0 || o->window == 0 || o->conns == 0) {
        die("need payload >= %u bytes and at least one publisher, subscriber, window slot and"
            " connection",
            STAMP_LEN);
    }
}
