/* The main of a one-scenario cluster test (a header, not the testkit: it
 * uses the test's own failure count from common/check.h). */
#ifndef DL_CLUSTER_MAIN_H
#define DL_CLUSTER_MAIN_H

#include <stdio.h>
#include <stdlib.h>

#include "cluster_fixture.h"
#include "common/check.h"

/* Check the arguments (argv[1] is the dirtylogd to run), skip visibly where
 * clu_require says so, give the clients timeout_ms per request, run the
 * scenario, dump the logs on a failure, stop everything; returns the test's
 * exit status. */
static inline int clu_test_main(int argc, char **argv, const char *name, const char *timeout_ms,
                                int (*scenario)(const char *dirtylogd))
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <dirtylogd>\n", argv[0]);
        return 2;
    }
    int skip = clu_require(argv[1]);
    if (skip)
        return skip;
    setenv("DIRTYLOG_TIMEOUT_MS", timeout_ms, 1);
    if (scenario(argv[1]) != 0 || test_failures)
        clu_dump_logs();
    clu_stop();
    return test_exit_status(name);
}

#endif
