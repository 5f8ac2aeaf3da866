/* A node joins mid-load. Nodes 1 and 2 (of a 3-node cluster) run clients
 * that mark, clear behind and flush one clustered_core log; while they run,
 * node 3's corosync and dirtylogd start and open the log, and a client on
 * node 3 joins the load. Afterwards node 3 answers exactly what nodes 1 and 2
 * answer for every region (is_clean and in_sync), and every mark
 * acknowledged and not cleared is dirty on all three.
 *   test_cluster_join <dirtylogd> */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "cluster_fixture.h"
#include "cluster_main.h"
#include "cluster_logs.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define NODES 3
#define SPAN 1024
#define REGIONS (NODES * SPAN)
#define INNER "clustered_core 8 nosync"

static int scenario(const char *dirtylogd)
{
    static struct clu_loader ld[NODES + 1];
    uint64_t target = (uint64_t)REGIONS * 8;
    REQUIRE_EQ(clu_setup(NODES), 0);
    for (unsigned n = 1; n <= 2; n++)
        REQUIRE_EQ(clu_start_corosync(n), 0);
    for (unsigned n = 1; n <= 2; n++)
        REQUIRE_EQ(clu_wait_view(n, 2, 1, 30000), 0); /* 2 of 3 votes: quorate */
    for (unsigned n = 1; n <= 2; n++)
        REQUIRE_EQ(clu_daemon_start(n, dirtylogd, NULL), 0);
    for (unsigned n = 1; n <= NODES; n++) {
        ld[n].node = n;
        ld[n].base = (uint64_t)(n - 1) * SPAN;
        ld[n].count = SPAN;
        ld[n].clear_lag = 5;
    }
    for (unsigned n = 1; n <= 2; n++) {
        REQUIRE((ld[n].log = clu_log_open(n, "join", INNER, target)) != NULL);
        REQUIRE_EQ(clu_loader_start(&ld[n]), 0);
    }
    REQUIRE_EQ(clu_loaders_wait(50, 60000), 0);

    /* Node 3 comes up under load and opens the log. */
    REQUIRE_EQ(clu_start_corosync(3), 0);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_wait_view(n, NODES, 1, 30000), 0);
    REQUIRE_EQ(clu_daemon_start(3, dirtylogd, NULL), 0);
    unsigned long before = clu_loaders_acknowledged();
    REQUIRE((ld[3].log = clu_log_open(3, "join", INNER, target)) != NULL);
    printf("node 3 opened the log while the others acknowledged %lu flushes\n",
           clu_loaders_acknowledged() - before);
    REQUIRE_EQ(clu_loader_start(&ld[3]), 0);
    REQUIRE_EQ(clu_loaders_wait(clu_loaders_acknowledged() + 60, 60000), 0);
    for (unsigned n = 1; n <= NODES; n++) {
        clu_loader_stop(&ld[n]);
        CHECK_EQ(ld[n].errors, 0);
    }

    dl_log *view[NODES];
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE((view[n - 1] = clu_log_open(n, "join", INNER, target)) != NULL);
    CHECK_EQ(clu_wait_identical(view, NODES, REGIONS, 10000), 0);
    for (unsigned n = 1; n <= NODES; n++) {
        uint64_t from, to;
        clu_loader_marked(&ld[n], ld[n].done, &from, &to);
        for (uint64_t r = from; r < to; r++)
            for (unsigned v = 0; v < NODES; v++)
                if (dl_log_is_clean(view[v], r) != 0) {
                    fprintf(stderr, "region %llu, marked by node %u's client, is not dirty on "
                                    "node %u\n", (unsigned long long)r, n, v + 1);
                    test_failures++;
                }
    }
    for (unsigned n = 1; n <= NODES; n++) {
        dl_log_destroy(view[n - 1]);
        dl_log_destroy(ld[n].log);
    }
    return 0;
}

int main(int argc, char **argv)
{
    return clu_test_main(argc, argv, "cluster join", "40000", scenario);
}
