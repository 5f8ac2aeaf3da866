/* Test log types for the write-intent layer.
 *
 * "rh_count": wraps a core log (same arguments) and
 *  - counts every op;
 *  - models what a persistent log would have on stable storage: `mem` is the
 *    dirty bit in memory (mark/clear), `durable` what the last flush
 *    persisted (a snapshot of `mem` taken when the flush starts);
 *  - like a real log, runs the engine's flush callback before persisting any
 *    clean bit, and reports each clean bit it persists to a test hook;
 *  - can block a flush (before_flush hook) and fail flushes on demand.
 * "rh_null": no state at all, every region in sync; for huge logs.
 * "rh_file <path> <region_size>": a minimal persistent log (one byte per
 *  region, whole file written and fsynced at flush), for the crash test. */
#ifndef RH_COUNTING_LOG_H
#define RH_COUNTING_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dirtylog.h"

struct counting_log {
    dl_log *inner;
    uint64_t region_count;
    _Atomic uint64_t flushes, marks, clears, in_syncs, is_cleans, resync_works, set_syncs;
    _Atomic uint8_t *mem;     /* dirty in memory */
    _Atomic uint8_t *durable; /* dirty on "stable storage" */
    uint8_t *snap;            /* under flush_lock */
    pthread_mutex_t flush_lock;
    _Atomic int fail_flushes; /* > 0: the next flushes fail with -EIO */
    _Atomic uint64_t callbacks_run;
    int callback_ran_this_flush; /* under flush_lock */
    /* Hooks, set by the test before use. */
    void (*before_flush)(void *arg, uint64_t flush_no); /* flush_no from 1 */
    void (*on_mark)(void *arg, uint64_t region);
    void (*on_clear_persist)(void *arg, uint64_t region, int callback_ran);
    void *hook_arg;
};

/* Register both types (idempotent). */
void counting_log_register(void);
struct counting_log *counting_log_of(dl_log *log);
/* Sum of every op count except flushes (for "no log call" checks). */
uint64_t counting_log_ops(struct counting_log *cl);

#endif
