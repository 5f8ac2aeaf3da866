/* A dl_io in memory for the tests: counts operations, records writes and
 * syncs, and injects faults (an errno or a short write at a chosen I/O, or
 * a full disk: space_cap). set_size and reserve behave as ftruncate and
 * fallocate(KEEP_SIZE) on a file (memio_init_ops can take them away). */
#ifndef DL_TEST_MEMIO_H
#define DL_TEST_MEMIO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"

enum memio_op { MEMIO_READ, MEMIO_WRITE, MEMIO_SYNC };

struct memio_rec { /* one recorded write or sync */
    int op;        /* MEMIO_WRITE or MEMIO_SYNC */
    uint64_t off;
    size_t len;
    uint8_t *data; /* copy of the bytes written */
};

struct memio {
    struct dl_io io;
    pthread_mutex_t lock;
    uint8_t *buf;
    uint64_t size, cap;
    uint32_t lbs;
    int fixed_size; /* a "block device": writes past the end fail */
    /* counters */
    unsigned long reads, writes, syncs, bytes_written, ops;
    /* fault injection: at I/O number fail_at (reads, writes and syncs all
     * counted from 0), fail with -fail_errno; short_at writes half. */
    long fail_at, short_at;
    int fail_errno, fail_all_after; /* fail_all_after: every later I/O fails too */
    int read_errno; /* every read fails with -read_errno if non-zero */
    /* A full disk: a write ending past space_cap bytes fails with -ENOSPC
     * (nothing written), as does reserve past it (0: no cap). Extending
     * the length with set_size needs no space (a sparse file). */
    uint64_t space_cap;
    unsigned long set_sizes, reserves; /* calls of each */
    /* recording (for the crash simulation) */
    int record;
    struct memio_rec *recs;
    size_t nrecs, caprecs;
    /* called (without the lock) before each sync; may block */
    void (*on_sync)(struct memio *m);
    void *user;
    int closed;
};

/* A fresh empty device (size 0) or one of `size` zero bytes that cannot grow. */
void memio_init(struct memio *m, uint64_t size, int fixed);
/* Which optional operations the io offers (both, after memio_init). */
void memio_init_ops(struct memio *m, int set_size, int reserve);
void memio_destroy(struct memio *m);
/* Replace the contents. */
void memio_load(struct memio *m, const uint8_t *data, uint64_t size);
void memio_reset_counters(struct memio *m);
void memio_clear_records(struct memio *m);
/* Number of records so far (a position in the history). */
size_t memio_position(struct memio *m);
/* A "disk" log on this device, resumed as an engine would: 0 and *log, or
 * -errno (no log; dl_last_error() says why). */
int memio_open_log(struct memio *m, uint64_t target_sectors, unsigned argc,
                   const char *const *argv, dl_log **log);
/* The same with the arguments as one string of words ("x 1024 nosync"). */
int memio_open_words(struct memio *m, const char *args, uint64_t target_sectors, dl_log **log);

#endif
