/* The cluster fixture itself: three corosync nodes form one cluster (every
 * node sees three members and quorum; a CPG group joined on each node shows
 * the three node ids); a node cut off the bridge loses quorum while the other
 * two keep it, and comes back when healed; a killed corosync is seen by the
 * others, and a restarted one rejoins; after clu_stop no process and no
 * namespace of the run is left.
 *   test_cluster_fixture <cpg_probe> */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster_fixture.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

/* Every node sees `members` nodes with the given quorum; node `except` (0:
 * none) is not asked. */
static int all_see(unsigned members, int quorate, unsigned except)
{
    for (unsigned i = 1; i <= clu_nodes(); i++)
        if (i != except && clu_wait_view(i, members, quorate, 30000) < 0)
            return -1;
    return 0;
}

static int scenario(const char *probe)
{
    unsigned long long t0 = clu_now_ms();
    REQUIRE_EQ(clu_start(3), 0);
    printf("3-node cluster formed in %llu ms (%s)\n", clu_now_ms() - t0, clu_dir());

    /* CPG across the nodes: two probes hold the group, the third sees all. */
    char out2[160], out3[160], members[256];
    snprintf(out2, sizeof out2, "%s/probe.out", clu_node_dir(2));
    snprintf(out3, sizeof out3, "%s/probe.out", clu_node_dir(3));
    const char *hold[] = {probe, "--group", "fixture", "--hold", NULL};
    pid_t p2 = clu_spawn(2, hold, out2), p3 = clu_spawn(3, hold, out3);
    REQUIRE(p2 > 0 && p3 > 0);
    const char *see[] = {probe, "--group", "fixture", "--members", "3", NULL};
    CHECK_EQ(clu_run(1, see, members, sizeof members), 0);
    /* The last membership line printed is the one with all three. */
    const char *last = NULL;
    for (const char *m = strstr(members, "members:"); m; m = strstr(m + 1, "members:"))
        last = m;
    CHECK(last && strncmp(last, "members: 1 2 3", 14) == 0);
    printf("probe on node 1: %s", members);
    CHECK(WIFSIGNALED(clu_kill(p2, SIGTERM, 5000)));
    CHECK(WIFSIGNALED(clu_kill(p3, SIGTERM, 5000)));

    /* A cut: the minority loses quorum, the majority keeps it. */
    REQUIRE_EQ(clu_cut(1), 0);
    CHECK_EQ(clu_wait_view(1, 1, 0, 30000), 0);
    CHECK_EQ(clu_wait_view(2, 2, 1, 30000), 0);
    CHECK_EQ(clu_wait_view(3, 2, 1, 30000), 0);
    REQUIRE_EQ(clu_heal(1), 0);
    CHECK_EQ(all_see(3, 1, 0), 0);

    /* A dead corosync, then the same node back. */
    REQUIRE_EQ(clu_kill_corosync(3), 0);
    CHECK_EQ(all_see(2, 1, 3), 0);
    REQUIRE_EQ(clu_restart_corosync(3), 0);
    CHECK_EQ(all_see(3, 1, 0), 0);
    return 0;
}

int main(int argc, char **argv)
{
    int skip = clu_require(NULL);
    if (skip)
        return skip;
    if (argc < 2 || access(argv[1], X_OK) != 0) {
        fprintf(stderr, "usage: test_cluster_fixture <cpg_probe>\n");
        return 2;
    }
    if (scenario(argv[1]) != 0 || test_failures)
        clu_dump_logs();

    /* Everything goes: the namespaces (and with them the links) and the
     * run's directory. */
    char ns[3][64], dir[128];
    pid_t corosync[3];
    for (unsigned i = 0; i < 3; i++) {
        snprintf(ns[i], sizeof ns[i], "/run/netns/%s", clu_node_ns(i + 1));
        corosync[i] = clu_corosync_pid(i + 1);
    }
    snprintf(dir, sizeof dir, "%s", clu_dir());
    clu_stop();
    struct stat st;
    for (unsigned i = 0; i < 3; i++) {
        CHECK(clu_node_ns(i + 1)[0] && stat(ns[i], &st) != 0);
        CHECK(corosync[i] > 0 && kill(corosync[i], 0) != 0);
    }
    CHECK(dir[0] && stat(dir, &st) != 0);
    return test_exit_status("cluster fixture");
}
