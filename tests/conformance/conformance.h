/* The generic conformance suite: the same semantic tests run against any log
 * type, given a fixture that turns a "tail" of arguments into a table line.
 *
 * The suite composes tails such as "1024", "1024 nosync", "1000" (malformed);
 * the fixture wraps them into a complete table line for its type, e.g.
 *   core:      "core <n> <tail>"
 *   disk:      "disk <n> /tmp/x/log <tail>"
 *   userspace: "userspace <n> <uuid> socket=/p core <tail>"
 * where <n> counts every word after it. */
#ifndef DL_CONFORMANCE_H
#define DL_CONFORMANCE_H

#include <stddef.h>

#include "dirtylog.h"

struct conf_fixture {
    const char *name; /* for messages, e.g. "disk(dm format)" */
    /* Write the table line for `tail` (tail_argc words) into buf; return 0,
     * or -1 if it does not fit. Called once per log the suite creates. */
    int (*make_table)(void *arg, unsigned tail_argc, const char *tail, char *buf, size_t len);
    /* Forget any persistent state so the next log is new (delete a file, pick
     * a new uuid). May be NULL. Called before each new log, not between a
     * destroy and a re-create that tests persistence. */
    void (*reset)(void *arg);
    void *arg;
    /* Does state survive destroy + create (postsuspend persists, resume
     * reloads)? core: 0; disk: 1. Enables the persistence tests. */
    int persistent;
    /* Smallest target the suite should use when it needs a big log; types
     * with a per-region on-disk cost can ask for smaller "huge" tests. 0 = the
     * suite's default (2^33 regions, sparse). */
    unsigned long long huge_regions;
};

/* Run every test; print each failure; return the number of failed checks. */
int conformance_run(const struct conf_fixture *fx);

#endif
