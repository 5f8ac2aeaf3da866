/* Clients of a cluster's daemons for the scenario tests: table lines, open
 * logs, compare what the nodes answer, and loaders (one thread per client
 * marking, optionally clearing behind, and flushing) that record which marks
 * were acknowledged. */
#ifndef DL_TEST_CLUSTER_LOGS_H
#define DL_TEST_CLUSTER_LOGS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dirtylog.h"

/* "userspace <n> <uuid> socket=<node's socket> <inner>" into buf; 0 or -1. */
int clu_table(char *buf, size_t len, unsigned node, const char *uuid, const char *inner);
/* Create and resume; NULL (after printing why) on failure. */
dl_log *clu_log_open(unsigned node, const char *uuid, const char *inner, uint64_t target);

/* What a node answers for a region: bit 0 clean, bit 1 in sync; -1 on error. */
int clu_region_state(dl_log *log, uint64_t region);
/* Poll until the logs (one per node, n of them) answer the same for every
 * region in [0, regions), bounded; 0, or -1 after printing the first
 * difference. */
int clu_wait_identical(dl_log *const *logs, unsigned n, uint64_t regions, unsigned timeout_ms);

/* A client that, step k = 0, 1, ..., marks region base + k, clears region
 * base + k - clear_lag (if clear_lag and k >= clear_lag), and flushes. */
struct clu_loader {
    dl_log *log;
    unsigned node;
    uint64_t base, count;
    unsigned clear_lag;
    /* Steps acknowledged (flush returned 0): [0, done). Steps acknowledged
     * before clu_loaders_freeze(): [0, durable). */
    _Atomic uint64_t done, durable;
    _Atomic unsigned errors;
    _Atomic int stop;
    int last_error;
    pthread_t thread;
};
int clu_loader_start(struct clu_loader *l);
/* Ask it to stop and join it. */
void clu_loader_stop(struct clu_loader *l);
/* From now on, acknowledged steps no longer count as durable (call it just
 * before killing something). */
void clu_loaders_freeze(void);
void clu_loaders_unfreeze(void);
/* Steps acknowledged by all loaders since the program started. */
unsigned long clu_loaders_acknowledged(void);
/* Wait until the loaders acknowledged `flushes` steps in all (clu_loaders_acknowledged),
 * bounded; 0 or -1. */
int clu_loaders_wait(unsigned long flushes, unsigned timeout_ms);
/* The regions a loader has marked and not cleared after `steps` steps:
 * [*from, *to). */
void clu_loader_marked(const struct clu_loader *l, uint64_t steps, uint64_t *from, uint64_t *to);

#endif
