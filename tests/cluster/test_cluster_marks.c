/* Three nodes, a client on each marking overlapping and disjoint regions of
 * one clustered_core log with flushes: after every acknowledged flush, every
 * node answers is_clean = 0 for every region that client marked and has not
 * cleared (whoever else marked or cleared it); after every client cleared
 * all its marks, every node answers 1 for every region.
 *   test_cluster_marks <dirtylogd> */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cluster_fixture.h"
#include "cluster_main.h"
#include "cluster_logs.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define NODES 3
#define ROUNDS 40
#define SHARED 8        /* regions [0, SHARED) every client marks and clears */
#define OWN_BASE 100    /* client i owns [OWN_BASE * (i + 1), ...) */
#define REGIONS 512
#define INNER "clustered_core 8 nosync"

struct client {
    unsigned node;
    dl_log *log;
    dl_log *view[NODES + 1]; /* the same log seen through each node ([1..NODES]) */
    unsigned char marked[REGIONS];
};

/* Every region this client marked and has not cleared is dirty everywhere. */
static void check_dirty_everywhere(struct client *c, unsigned round)
{
    for (unsigned r = 0; r < REGIONS; r++) {
        if (!c->marked[r])
            continue;
        for (unsigned n = 1; n <= NODES; n++) {
            int clean = dl_log_is_clean(c->view[n], r);
            if (clean != 0) {
                fprintf(stderr, "round %u: client on node %u marked region %u, flushed; node %u "
                                "answers is_clean = %d\n", round, c->node, r, n, clean);
                test_failures++;
            }
        }
    }
}

static void *run(void *arg)
{
    struct client *c = arg;
    unsigned own = OWN_BASE * c->node;
    for (unsigned k = 0; k < ROUNDS; k++) {
        /* A shared region (overlapping with the other clients), an own one,
         * and clears behind: the shared region two rounds ago, an own one. */
        unsigned shared = (k + c->node) % SHARED;
        int r = dl_log_mark_region(c->log, shared);
        if (r == 0)
            r = dl_log_mark_region(c->log, own + k);
        c->marked[shared] = c->marked[own + k] = 1;
        if (r == 0 && k >= 2) {
            unsigned old = (k - 2 + c->node) % SHARED;
            if (old != shared) {
                r = dl_log_clear_region(c->log, old);
                c->marked[old] = 0;
            }
        }
        if (r == 0 && k % 3 == 2) {
            r = dl_log_clear_region(c->log, own + k - 1);
            c->marked[own + k - 1] = 0;
        }
        if (r == 0)
            r = dl_log_flush(c->log);
        if (r != 0) {
            fprintf(stderr, "node %u round %u: %s: %s\n", c->node, k, dl_strerror(r),
                    dl_last_error());
            test_failures++;
            return NULL;
        }
        check_dirty_everywhere(c, k);
    }
    /* Clear everything this client still has marked. */
    for (unsigned r = 0; r < REGIONS; r++)
        if (c->marked[r]) {
            CHECK_EQ(dl_log_clear_region(c->log, r), 0);
            c->marked[r] = 0;
        }
    CHECK_EQ(dl_log_flush(c->log), 0);
    return NULL;
}

static int scenario(const char *dirtylogd)
{
    REQUIRE_EQ(clu_start(NODES), 0);
    for (unsigned n = 1; n <= NODES; n++)
        REQUIRE_EQ(clu_daemon_start(n, dirtylogd, NULL), 0);
    static struct client cl[NODES + 1];
    uint64_t target = REGIONS * 8;
    for (unsigned i = 1; i <= NODES; i++) {
        cl[i].node = i;
        REQUIRE((cl[i].log = clu_log_open(i, "marks", INNER, target)) != NULL);
        for (unsigned n = 1; n <= NODES; n++)
            REQUIRE((cl[i].view[n] = clu_log_open(n, "marks", INNER, target)) != NULL);
    }
    pthread_t t[NODES + 1];
    for (unsigned i = 1; i <= NODES; i++)
        REQUIRE(pthread_create(&t[i], NULL, run, &cl[i]) == 0);
    for (unsigned i = 1; i <= NODES; i++)
        pthread_join(t[i], NULL);

    /* All cleared: clean on every node. Clears travel with the clearing
     * client's flush; a node may apply one a moment later (dirty is the
     * safe side), hence a bounded poll. */
    unsigned long long deadline = clu_now_ms() + clu_deadline_ms(10000);
    for (unsigned n = 1; n <= NODES; n++)
        for (unsigned r = 0; r < REGIONS; r++) {
            while (dl_log_is_clean(cl[1].view[n], r) == 0 && clu_now_ms() < deadline) {
                struct timespec ts = {0, 20 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            if (dl_log_is_clean(cl[1].view[n], r) != 1) {
                fprintf(stderr, "after all clears node %u answers region %u is not clean\n", n,
                        r);
                test_failures++;
            }
        }
    for (unsigned i = 1; i <= NODES; i++) {
        for (unsigned n = 1; n <= NODES; n++)
            dl_log_destroy(cl[i].view[n]);
        dl_log_destroy(cl[i].log);
    }
    for (unsigned n = 1; n <= NODES; n++)
        CHECK_EQ(clu_daemon_stop(n), 0);
    return 0;
}

int main(int argc, char **argv)
{
    return clu_test_main(argc, argv, "cluster marks", "60000", scenario);
}
