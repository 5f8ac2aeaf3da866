/* Every node killed at once under load, then restarted on the same shared
 * clustered_disk device: every mark acknowledged before the kill is dirty on
 * every node afterwards. Two clients per node mark and flush disjoint
 * regions; then kill -9 of every dirtylogd and every corosync; then the
 * cluster, the daemons and one reader per node come back.
 *   test_cluster_restart <dirtylogd> */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "cluster_fixture.h"
#include "cluster_logs.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define NODES 3
#define PER_NODE 2
#define SPAN 1024
#define REGIONS (NODES * PER_NODE * SPAN)

static char inner[256];

static int scenario(const char *dirtylogd)
{
    static struct clu_loader ld[NODES + 1][PER_NODE];
    uint64_t target = (uint64_t)REGIONS * 8;
    snprintf(inner, sizeof inner, "clustered_disk %s/vol.log 8", clu_shared_dir());
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_daemon_start(n, dirtylogd, NULL), 0);
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned c = 0; c < PER_NODE; c++) {
            struct clu_loader *l = &ld[n][c];
            l->node = n;
            l->base = (uint64_t)((n - 1) * PER_NODE + c) * SPAN;
            l->count = SPAN;
            REQUIRE((l->log = clu_log_open(n, "shared-vol", inner, target)) != NULL);
        }
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned c = 0; c < PER_NODE; c++)
            REQUIRE_EQ(clu_loader_start(&ld[n][c]), 0);
    REQUIRE_EQ(clu_loaders_wait(120, 60000), 0);

    /* Everything dies; a flush that returns from now on may or may not have
     * been durable, so it does not count. */
    clu_loaders_freeze();
    for (unsigned n = 1; n <= NODES; n++)
        clu_daemon_kill9(n);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_kill_corosync(n), 0);
    unsigned long durable = 0;
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned c = 0; c < PER_NODE; c++) {
            clu_loader_stop(&ld[n][c]);
            durable += ld[n][c].durable;
            dl_log_destroy(ld[n][c].log);
        }
    printf("all nodes killed after %lu acknowledged marks\n", durable);

    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_start_corosync(n), 0);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_wait_view(n, NODES, 1, 30000), 0);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_daemon_start(n, dirtylogd, NULL), 0);
    dl_log *reader[NODES + 1];
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE((reader[n] = clu_log_open(n, "shared-vol", inner, target)) != NULL);
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned c = 0; c < PER_NODE; c++)
            for (uint64_t r = ld[n][c].base; r < ld[n][c].base + ld[n][c].durable; r++)
                for (unsigned v = 1; v <= NODES; v++)
                    if (dl_log_is_clean(reader[v], r) != 0) {
                        fprintf(stderr, "region %llu (acknowledged by a client on node %u) is "
                                        "not dirty on node %u after the restart\n",
                                (unsigned long long)r, n, v);
                        test_failures++;
                    }
    for (unsigned n = 1; n <= NODES; n++)
        dl_log_destroy(reader[n]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <dirtylogd>\n", argv[0]);
        return 2;
    }
    int skip = clu_require(argv[1]);
    if (skip)
        return skip;
    setenv("DIRTYLOG_RECONNECT_MS", "1000", 1);
    setenv("DIRTYLOG_TIMEOUT_MS", "40000", 1);
    int started = clu_start(NODES) == 0;
    CHECK(started);
    if (started)
        scenario(argv[1]);
    if (test_failures)
        clu_dump_logs();
    clu_stop();
    return test_exit_status("cluster restart");
}
