/* A node dies under load: kill -9 of its dirtylogd, and (a second log, the
 * node back) kill -9 of its corosync. Two clients per node mark and flush
 * disjoint regions of one clustered_core log (nosync: everything starts in
 * sync). On the two survivors afterwards:
 *  - every region a client of the dead node had marked (acknowledged before
 *    the kill) is out of sync;
 *  - no acknowledged mark of a surviving client is lost (each is checked,
 *    before and after the resync);
 *  - get_resync_work, called on both survivors at once, hands out each of
 *    those regions exactly once across the two, and nothing outside what the
 *    dead node's clients had touched; then every region is in sync.
 *   test_cluster_kill <dirtylogd> */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cluster_fixture.h"
#include "cluster_logs.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define NODES 3
#define DEAD 3
#define PER_NODE 2
#define SPAN 2048 /* regions per client */
#define REGIONS (NODES * PER_NODE * SPAN)
#define INNER "clustered_core 8 nosync"

static const char *dirtylogd;
static struct clu_loader ld[NODES + 1][PER_NODE];
static dl_log *view[NODES + 1];
static _Atomic unsigned char handed[REGIONS];

struct resyncer {
    unsigned node;
    unsigned long count;
    int error;
};

/* Take resync work on one survivor until the whole log is in sync. */
static void *resync(void *arg)
{
    struct resyncer *rs = arg;
    dl_log *log = view[rs->node];
    unsigned long long deadline = clu_now_ms() + clu_deadline_ms(60000);
    while (clu_now_ms() < deadline) {
        uint64_t region;
        int r = dl_log_get_resync_work(log, &region);
        if (r == 1) {
            if (region < REGIONS)
                handed[region]++;
            rs->count++;
            r = dl_log_set_region_sync(log, region, 1);
        }
        if (r < 0) {
            rs->error = r;
            return NULL;
        }
        if (r == 0) {
            uint64_t in_sync = 0;
            if (dl_log_get_sync_count(log, &in_sync) == 0 && in_sync == REGIONS)
                return NULL;
            struct timespec ts = {0, 10 * 1000 * 1000}; /* another node holds the rest */
            nanosleep(&ts, NULL);
        }
    }
    rs->error = -1;
    return NULL;
}

/* Every acknowledged mark of the survivors' clients is dirty on both. */
static void check_survivor_marks(const char *when)
{
    for (unsigned n = 1; n <= NODES; n++) {
        if (n == DEAD)
            continue;
        for (unsigned c = 0; c < PER_NODE; c++)
            for (uint64_t r = ld[n][c].base; r < ld[n][c].base + ld[n][c].done; r++)
                for (unsigned v = 1; v <= NODES; v++)
                    if (v != DEAD && dl_log_is_clean(view[v], r) != 0) {
                        fprintf(stderr, "%s: region %llu (acknowledged mark of a client on node "
                                        "%u) is not dirty on node %u\n", when,
                                (unsigned long long)r, n, v);
                        test_failures++;
                    }
    }
}

static int phase(const char *uuid, int kill_corosync)
{
    const char *what = kill_corosync ? "corosync" : "dirtylogd";
    uint64_t target = (uint64_t)REGIONS * 8;
    for (unsigned r = 0; r < REGIONS; r++)
        handed[r] = 0;
    for (unsigned n = 1; n <= NODES; n++) {
        REQUIRE((view[n] = clu_log_open(n, uuid, INNER, target)) != NULL);
        for (unsigned c = 0; c < PER_NODE; c++) {
            struct clu_loader *l = &ld[n][c];
            l->node = n;
            l->base = (uint64_t)((n - 1) * PER_NODE + c) * SPAN;
            l->count = SPAN;
            l->clear_lag = 0;
            REQUIRE((l->log = clu_log_open(n, uuid, INNER, target)) != NULL);
        }
    }
    clu_loaders_unfreeze();
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned c = 0; c < PER_NODE; c++)
            REQUIRE_EQ(clu_loader_start(&ld[n][c]), 0);
    REQUIRE_EQ(clu_loaders_wait(clu_loaders_acknowledged() + 90, 60000), 0);

    clu_loaders_freeze();
    if (kill_corosync)
        REQUIRE_EQ(clu_kill_corosync(DEAD), 0);
    else
        clu_daemon_kill9(DEAD);
    for (unsigned c = 0; c < PER_NODE; c++)
        clu_loader_stop(&ld[DEAD][c]);
    /* The survivors carry on after the kill. */
    CHECK_EQ(clu_loaders_wait(clu_loaders_acknowledged() + 40, 60000), 0);
    for (unsigned n = 1; n <= NODES; n++)
        if (n != DEAD)
            for (unsigned c = 0; c < PER_NODE; c++)
                clu_loader_stop(&ld[n][c]);
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned c = 0; c < PER_NODE; c++)
            CHECK(n == DEAD || ld[n][c].errors == 0);
    printf("%s of node %u killed: its clients had %llu and %llu acknowledged marks\n", what, DEAD,
           (unsigned long long)ld[DEAD][0].durable, (unsigned long long)ld[DEAD][1].durable);

    /* The dead node's marks are out of sync on the survivors (the first
     * one polled: a survivor learns of the death from corosync). */
    for (unsigned v = 1; v <= NODES; v++) {
        if (v == DEAD)
            continue;
        unsigned long long deadline = clu_now_ms() + clu_deadline_ms(30000);
        uint64_t first = ld[DEAD][0].base;
        while (dl_log_in_sync(view[v], first, 1) != 0 && clu_now_ms() < deadline) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        for (unsigned c = 0; c < PER_NODE; c++)
            for (uint64_t r = ld[DEAD][c].base; r < ld[DEAD][c].base + ld[DEAD][c].durable; r++)
                if (dl_log_in_sync(view[v], r, 1) != 0) {
                    fprintf(stderr, "%s kill: region %llu, marked on node %u, is in sync on "
                                    "node %u\n", what, (unsigned long long)r, DEAD, v);
                    test_failures++;
                }
    }
    check_survivor_marks("before the resync");

    /* Resync on both survivors at once. */
    struct resyncer rs[2] = {{.node = DEAD == 1 ? 2 : 1}, {.node = DEAD == 3 ? 2 : 3}};
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, resync, &rs[i]) == 0);
    for (unsigned i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(rs[i].error, 0);
    }
    printf("%s kill: resync handed out %lu region(s) on node %u, %lu on node %u\n", what,
           rs[0].count, rs[0].node, rs[1].count, rs[1].node);
    for (unsigned r = 0; r < REGIONS; r++) {
        unsigned owner = r / SPAN; /* loader index */
        unsigned n = owner / PER_NODE + 1, c = owner % PER_NODE;
        uint64_t k = r - ld[n][c].base;
        int durable_dead = n == DEAD && k < ld[n][c].durable;
        /* A dead client's step after the freeze may have reached the others. */
        int touched_dead = n == DEAD && k <= ld[n][c].done;
        if (handed[r] > 1 || (durable_dead && handed[r] != 1) || (!touched_dead && handed[r])) {
            fprintf(stderr, "%s kill: region %u (client %u of node %u, step %llu) handed out %u "
                            "time(s)\n", what, r, c, n, (unsigned long long)k, handed[r]);
            test_failures++;
        }
    }
    for (unsigned v = 1; v <= NODES; v++) {
        uint64_t in_sync = 0;
        if (v != DEAD) {
            CHECK_EQ(dl_log_get_sync_count(view[v], &in_sync), 0);
            CHECK_U64(in_sync, REGIONS);
        }
    }
    check_survivor_marks("after the resync");

    for (unsigned n = 1; n <= NODES; n++) {
        for (unsigned c = 0; c < PER_NODE; c++)
            dl_log_destroy(ld[n][c].log);
        dl_log_destroy(view[n]);
    }
    /* The dead node comes back for the next phase. */
    if (kill_corosync) {
        clu_daemon_kill9(DEAD);
        REQUIRE_EQ(clu_start_corosync(DEAD), 0);
        for (unsigned n = 1; n <= NODES; n++)
            REQUIRE_EQ(clu_wait_view(n, NODES, 1, 30000), 0);
    }
    REQUIRE_EQ(clu_daemon_start(DEAD, dirtylogd, NULL), 0);
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
    dirtylogd = argv[1];
    /* The dead node's clients give up quickly; a CTR may wait for the
     * cluster's state. */
    setenv("DIRTYLOG_RECONNECT_MS", "1000", 1);
    setenv("DIRTYLOG_TIMEOUT_MS", "40000", 1);
    int ok = clu_start(NODES) == 0;
    for (unsigned n = 1; ok && n <= NODES; n++)
        ok = clu_daemon_start(n, dirtylogd, NULL) == 0;
    CHECK(ok);
    if (ok && phase("kill-daemon", 0) == 0)
        phase("kill-corosync", 1);
    if (test_failures)
        clu_dump_logs();
    clu_stop();
    return test_exit_status("cluster kill");
}
