/* The generic conformance suite through `userspace` against clustered_core
 * and clustered_disk, on a 1-node and on a 3-node cluster (dirtylogd
 * --cluster on every node). On three nodes each new log of the suite goes to
 * the next node's daemon in turn, so every daemon serves the suite inside a
 * three-member corosync cluster. (The suite opens its logs itself, with
 * targets only it knows, so it cannot open the same log on the other nodes
 * too: logs shared by several nodes are what the scenario tests check.)
 *   test_cluster_conformance <dirtylogd> core|disk <nodes> */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_fixture.h"
#include "cluster_logs.h"
#include "common/check.h"
#include "conformance.h"

TEST_MAIN_DEFINITIONS

struct backing {
    int disk;            /* clustered_disk, else clustered_core */
    unsigned nodes;      /* of the cluster */
    unsigned generation; /* a fresh uuid (and device) per reset */
};

static void device_path(const struct backing *b, char *buf, size_t len)
{
    snprintf(buf, len, "%s/conf-%u.log", clu_shared_dir(), b->generation);
}

static int make_table(void *arg, unsigned tail_argc, const char *tail, char *buf, size_t len)
{
    (void)tail_argc;
    struct backing *b = arg;
    char uuid[64], inner[400], dev[200];
    snprintf(uuid, sizeof uuid, "conf-%s-%u", b->disk ? "disk" : "core", b->generation);
    device_path(b, dev, sizeof dev);
    if (b->disk)
        snprintf(inner, sizeof inner, "clustered_disk %s %s", dev, tail);
    else
        snprintf(inner, sizeof inner, "clustered_core %s", tail);
    unsigned node = 1 + b->generation % b->nodes;
    return clu_table(buf, len, node, uuid, inner);
}

static void reset(void *arg)
{
    struct backing *b = arg;
    char dev[200];
    device_path(b, dev, sizeof dev);
    unlink(dev);
    b->generation++;
}

static void run(const char *dirtylogd, int disk, unsigned nodes)
{
    int started = clu_start(nodes) == 0;
    for (unsigned n = 1; started && n <= nodes; n++)
        started = clu_daemon_start(n, dirtylogd, NULL) == 0;
    CHECK(started);
    if (started) {
        char name[64];
        struct backing b = {.disk = disk, .nodes = nodes};
        snprintf(name, sizeof name, "%s, %u node(s)", disk ? "clustered_disk" : "clustered_core",
                 nodes);
        struct conf_fixture fx = {.name = name, .make_table = make_table, .reset = reset,
                                  .arg = &b, .persistent = disk, .huge_regions = 1ull << 20};
        unsigned long long t0 = clu_now_ms();
        conformance_run(&fx);
        printf("%s: suite ran in %llu ms\n", name, clu_now_ms() - t0);
        for (unsigned n = 1; n <= nodes; n++)
            CHECK_EQ(clu_daemon_stop(n), 0);
    }
    if (test_failures)
        clu_dump_logs();
    clu_stop();
}

int main(int argc, char **argv)
{
    unsigned nodes = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 0;
    if (argc < 4 || (strcmp(argv[2], "core") != 0 && strcmp(argv[2], "disk") != 0) ||
        nodes < 1 || nodes > CLU_MAX_NODES) {
        fprintf(stderr, "usage: %s <dirtylogd> core|disk <nodes>\n", argv[0]);
        return 2;
    }
    int skip = clu_require(argv[1]);
    if (skip)
        return skip;
    setenv("DIRTYLOG_TIMEOUT_MS", "40000", 1);
    run(argv[1], strcmp(argv[2], "disk") == 0, nodes);
    return test_exit_status("cluster conformance");
}
