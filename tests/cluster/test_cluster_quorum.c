/* Loss of quorum. Three nodes, a client on each of one clustered_core log.
 *  1. Node 1 cut off from the other two: its flushes fail (-EIO, "no quorum")
 *     while nodes 2 and 3 keep flushing; healed, the three converge (every
 *     node answers the same for every region) and node 1 flushes again.
 *  2. Nodes 1 and 2 cut off (each node alone, none has quorum): every
 *     node's flush fails; healed, the nodes converge again.
 * Every acknowledged mark is dirty on every node at the end.
 *   test_cluster_quorum <dirtylogd> */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cluster_fixture.h"
#include "cluster_main.h"
#include "cluster_logs.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define NODES 3
#define REGIONS 1024
#define INNER "clustered_core 8 nosync"

static dl_log *client[NODES + 1];
static unsigned char acked[REGIONS]; /* marks acknowledged (never cleared) */
static unsigned next_region[NODES + 1];

/* Mark the node's next region (node n uses n, n + 3, ...) and flush. */
static int mark_flush(unsigned n)
{
    unsigned r = next_region[n] * NODES + n;
    int e = dl_log_mark_region(client[n], r);
    if (e == 0)
        e = dl_log_flush(client[n]);
    if (e == 0)
        acked[r] = 1;
    next_region[n]++;
    return e;
}

/* Every node sees the given view; 0 or -1. */
static int views(const unsigned members[NODES + 1], const int quorate[NODES + 1])
{
    for (unsigned n = 1; n <= NODES; n++)
        if (clu_wait_view(n, members[n], quorate[n], 30000) < 0)
            return -1;
    return 0;
}

static int converge(const char *when)
{
    static const unsigned all[NODES + 1] = {0, 3, 3, 3};
    static const int yes[NODES + 1] = {0, 1, 1, 1};
    REQUIRE_EQ(views(all, yes), 0);
    /* Quorate again: every node flushes (after it caught up, bounded); that
     * also sends the marks a node's client made while its flushes failed. */
    for (unsigned n = 1; n <= NODES; n++) {
        unsigned long long deadline = clu_now_ms() + clu_deadline_ms(30000);
        int e;
        while ((e = mark_flush(n)) != 0 && clu_now_ms() < deadline) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (e != 0) {
            fprintf(stderr, "%s: node %u still fails flushes: %s\n", when, n, dl_strerror(e));
            test_failures++;
        }
    }
    /* Then every node answers the same for every region. */
    if (clu_wait_identical(client + 1, NODES, REGIONS, 30000) < 0) {
        fprintf(stderr, "%s: the nodes did not converge\n", when);
        test_failures++;
    }
    for (unsigned r = 0; r < REGIONS; r++)
        for (unsigned n = 1; acked[r] && n <= NODES; n++)
            if (dl_log_is_clean(client[n], r) != 0) {
                fprintf(stderr, "%s: acknowledged mark of region %u not dirty on node %u\n", when,
                        r, n);
                test_failures++;
            }
    return 0;
}

/* A flush on a node without quorum fails with -EIO. */
static void check_flush_fails(unsigned n, const char *when)
{
    int e = mark_flush(n);
    if (e != -EIO) {
        fprintf(stderr, "%s: flush on node %u (no quorum) gave %d (%s), expected -EIO\n", when,
                n, e, e ? dl_strerror(e) : "success");
        test_failures++;
    }
}

static int scenario(const char *dirtylogd)
{
    REQUIRE_EQ(clu_start(NODES), 0);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_daemon_start(n, dirtylogd, NULL), 0);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE((client[n] = clu_log_open(n, "quorum", INNER, REGIONS * 8)) != NULL);
    for (unsigned k = 0; k < 5; k++)
        for (unsigned n = 1; n <= NODES; n++)
            CHECK_EQ(mark_flush(n), 0);

    /* 1. One node cut off: the minority fails, the majority goes on. */
    REQUIRE_EQ(clu_cut(1), 0);
    static const unsigned m1[NODES + 1] = {0, 1, 2, 2};
    static const int q1[NODES + 1] = {0, 0, 1, 1};
    REQUIRE_EQ(views(m1, q1), 0);
    for (unsigned k = 0; k < 3; k++) {
        check_flush_fails(1, "node 1 cut off");
        CHECK_EQ(mark_flush(2), 0);
        CHECK_EQ(mark_flush(3), 0);
    }
    REQUIRE_EQ(clu_heal(1), 0);
    converge("after node 1 was cut off");

    /* 2. Two nodes cut off: nobody has quorum. */
    REQUIRE_EQ(clu_cut(1), 0);
    REQUIRE_EQ(clu_cut(2), 0);
    static const unsigned m2[NODES + 1] = {0, 1, 1, 1};
    static const int q2[NODES + 1] = {0, 0, 0, 0};
    REQUIRE_EQ(views(m2, q2), 0);
    for (unsigned n = 1; n <= NODES; n++)
        check_flush_fails(n, "two nodes cut off");
    REQUIRE_EQ(clu_heal(1), 0);
    REQUIRE_EQ(clu_heal(2), 0);
    converge("after two nodes were cut off");

    for (unsigned n = 1; n <= NODES; n++)
        dl_log_destroy(client[n]);
    return 0;
}

int main(int argc, char **argv)
{
    return clu_test_main(argc, argv, "cluster quorum", "40000", scenario);
}
