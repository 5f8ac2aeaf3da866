/* The disk type's state, shared by its files (never installed):
 *   disk.c          the type: ctr/dtr, options, geometry, the read-only ops,
 *                   the vtable
 *   disk_load.c     the device: open, check, format, the first load, grow
 *   disk_mark.c     the marking ops: queue units on "changed" / "cleaning"
 *   disk_flush.c    the flush: mark rounds with group commit, the log sync,
 *                   clean passes around the engine's data flush
 *   format_units.c  bitmap words <-> on-disk write units (both formats) */
#ifndef DL_DISK_INTERNAL_H
#define DL_DISK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap/bitmap.h"
#include "bitmap/sync_state.h"
#include "dirtylog.h"
#include "disk/disk_header.h"

#define MAX_OPTIONS 7

#define CHUNK_UNITS_NATIVE 64 /* 256 KiB per read/write when loading or filling */
#define CHUNK_UNITS_DM 512

/* Write units with a few words each (words_per_unit per unit, in order). */
struct unit_list {
    uint64_t *units;
    uint64_t *words;
    size_t n, cap;
};

struct disk_log {
    char *path;
    uint32_t region_size;
    uint64_t region_count;
    enum dl_sync_mode sync_mode;
    int block_on_error, format, grow;
    uint64_t max_bitmap;         /* bytes; the table's max_bitmap= or the default */
    unsigned noptions;
    char *options[MAX_OPTIONS]; /* the option words as given, echoed by status */

    struct dl_io *io;     /* the device; its ops take this pointer */
    struct dl_io io_ops;  /* io's operations imported full-size (versioned.h):
                           * an optional op it does not have is NULL */
    struct disk_header_info hdr; /* as read (or written) */
    uint64_t stored_regions;     /* region count the device holds before a grow */
    int fresh;                   /* formatted by this ctr: memory starts from the fill */
    int loaded;                  /* the first resume happened */

    /* write-unit geometry */
    uint64_t bitmap_offset;
    uint32_t unit_bytes;
    uint64_t nunits;
    uint64_t min_device_bytes; /* the device ends no earlier (the bitmap's end) */
    int invert; /* dm: on-disk 1 = clean */

    struct bitmap *dirty, *ondisk;
    struct bitmap *changed;  /* units: a bit may turn 1 on disk (a mark round) */
    struct bitmap *cleaning; /* units: a bit may turn 0 on disk (a clean pass) */
    struct sync_state sync; /* out_of_sync, recovering, the exact sync count */
    atomic_int failed; /* 0, 'D' (device) or 'F' (flush) */
    int fail_err;
    char fail_what[160]; /* what failed first, e.g. "writing the bitmap" */

    /* group commit (disk_flush.c); everything below under gc_lock */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;     /* a round, a sync or a write section ended */
    pthread_cond_t gather_cond; /* a flush arrived (the gathering leader waits) */
    uint64_t rounds_started, rounds_done;
    uint64_t rounds_written;      /* mark rounds that wrote a bit turning 1 */
    uint64_t rounds_synced;       /* ... of them, covered by a completed sync */
    int round_running;            /* a leader is gathering or a round runs */
    int sync_running;             /* a log sync runs */
    int writing;                  /* the write section is held (disk_flush.c) */
    int clean_running;            /* a clean pass runs */
    struct unit_list lowering;    /* write section: bits a clean pass lowered in
                                   * ondisk whose data flush has not returned */
    unsigned waiters;             /* flushes waiting for a round or a sync (tests) */
    unsigned arrivals;            /* flush calls so far (wraps) */
    unsigned last_round_callers;  /* flush calls the last round served */
    uint64_t last_round_ns;       /* how long the last round took */
};

static inline uint64_t words_per_unit(const struct disk_log *lc) { return lc->unit_bytes / 8; }
static inline uint64_t unit_of(const struct disk_log *lc, uint64_t region)
{
    return region / ((uint64_t)lc->unit_bytes * 8);
}
static inline uint64_t unit_offset(const struct disk_log *lc, uint64_t unit)
{
    return lc->bitmap_offset + unit * lc->unit_bytes;
}

/* disk.c: the log fails (sticky; `letter` 'D' device or 'F' flush) with the
 * first failure's cause kept; the error of a call that finds it failed. */
int dl__disk_fail(dl_log *log, struct disk_log *lc, int letter, int err, const char *what);
int dl__disk_failed_error(dl_log *log, struct disk_log *lc);

/* disk_load.c: open the device (a given io, an existing path, or a new file
 * formatted atomically), check what it holds against the table (format it
 * if blank), and the first resume's load (with a grow). 0 or -errno. */
int dl__disk_open_device(dl_log *log, struct disk_log *lc, struct dl_io *given);
int dl__disk_check_device(dl_log *log, struct disk_log *lc);
int dl__disk_load(dl_log *log, struct disk_log *lc);

/* disk_mark.c: the ops that queue units on "changed" and "cleaning". */
int dl__disk_mark_region(dl_log *log, uint64_t region);
int dl__disk_clear_region(dl_log *log, uint64_t region);
int dl__disk_set_region_sync(dl_log *log, uint64_t region, int in_sync);
/* disk_flush.c: flush; free what the flush keeps between calls (dtr). */
int dl__disk_flush(dl_log *log);
void dl__disk_flush_free(struct disk_log *lc);
/* ... and their range forms (log_internal.h: struct dl__range_ops). */
int dl__disk_is_clean_range(dl_log *log, uint64_t first, uint64_t count, uint64_t *first_dirty);
int dl__disk_mark_range(dl_log *log, uint64_t first, uint64_t count);
int dl__disk_clear_range(dl_log *log, uint64_t first, uint64_t count);

/* format_units.c: bitmap words <-> on-disk bytes of whole units, and the
 * writes of units. */
void dl__disk_encode_words(const struct disk_log *lc, uint64_t limit, uint64_t first_word,
                           size_t nwords, const uint64_t *w, uint8_t *out);
void dl__disk_decode_words(const struct disk_log *lc, uint64_t first_word, size_t nwords,
                           const uint8_t *in, uint64_t limit, uint64_t *w);
int dl__disk_write_fill(struct disk_log *lc, int value, uint64_t nunits, uint64_t limit);
int dl__disk_write_units(struct disk_log *lc, uint64_t first, uint64_t last, uint64_t limit);

#endif
