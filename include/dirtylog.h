/*
 * dirtylog — dirty-region logs for user-space storage engines.
 *
 * A log covers a target of `target_sectors` 512-byte sectors cut into regions
 * of `region_size` sectors (region_count = ceil(target_sectors / region_size)).
 * It keeps three sets of regions: clean (no write in flight), in sync (every
 * copy agrees) and recovering (handed out for resync). The operations mirror
 * Linux device-mapper's struct dm_dirty_log_type; docs/api.md is the contract.
 *
 * Errors are negative errno values (see dl_strerror()). A failing call leaves
 * the log unchanged. Region numbers and counts are uint64_t everywhere.
 *
 * NULL handles (dl_log *, dl_rh *), one rule for every public function: a
 * call that returns an int answers -EINVAL (predicates included), one that
 * returns a count or size answers 0, one that returns a pointer answers NULL,
 * and the destroy calls and dl_log_set_context() ignore NULL. Nothing is ever
 * dereferenced. (dl_log_errorf() and the dl_parse_* helpers take a NULL log:
 * there it only names whose message it is.)
 */
#ifndef DIRTYLOG_H
#define DIRTYLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DL_EXPORT __attribute__((visibility("default")))
#define DL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DL_EXPORT
#define DL_PRINTF(f, a)
#endif

#define DL_VERSION_MAJOR 0
#define DL_VERSION_MINOR 1
#define DL_VERSION_PATCH 0

/* Sector size assumed by target lengths and region sizes. */
#define DL_SECTOR_SIZE 512u

/* Longest type name, and the most arguments a table line may carry. */
#define DL_TYPE_NAME_MAX 64
#define DL_MAX_ARGS 64

typedef struct dl_log dl_log;

/* Which status string dl_log_status() produces. */
enum dl_status_type {
    DL_STATUS_INFO = 1,  /* runtime state, e.g. "1 core" or "3 disk /dev/x A" */
    DL_STATUS_TABLE = 2, /* the constructor line, e.g. "core 2 1024 nosync" */
};

/*
 * Thread model a log type declares (in the spirit of nbdkit's):
 * SERIALIZE_ALL  the library holds a per-log mutex around every op;
 * PARALLEL       the type is safe for concurrent calls of every op and the
 *                library takes no lock at all (core, disk, userspace).
 */
enum dl_thread_model {
    DL_THREAD_MODEL_SERIALIZE_ALL = 0,
    DL_THREAD_MODEL_PARALLEL = 1,
};

/*
 * The engine's data-device flush: a log calls it before it persists any clean
 * bit, so data on every copy is stable before the log claims a region clean.
 * Returns 0 or -errno; a failure makes the log fail (sticky).
 */
typedef int (*dl_flush_fn)(void *arg);

/*
 * A log type: a versioned vtable. `struct_size` is sizeof(struct
 * dl_log_type) as the type was compiled; fields past it are treated as
 * absent, so a type built against an older header keeps working. Append new
 * fields at the end only. The smallest struct_size accepted is
 * DL_LOG_TYPE_SIZE_V1 (every field up to and including `status`).
 *
 * Required: name, ctr, dtr, get_region_size, is_clean, in_sync, flush,
 * mark_region, clear_region, get_resync_work, set_region_sync,
 * get_sync_count, status. Optional (NULL means "nothing to do" / "no"):
 * presuspend, postsuspend, resume, is_remote_recovering.
 *
 * Region arguments are always < region_count: the library checks them.
 * A type keeps its state with dl_log_set_context() in ctr.
 */
struct dl_log_type {
    uint32_t struct_size;  /* sizeof(struct dl_log_type) at build time */
    uint32_t api_version;  /* DL_LOG_TYPE_API_VERSION at build time */
    const char *name;      /* e.g. "core"; no white space */
    int thread_model;      /* enum dl_thread_model */

    /* Parse argv (the arguments after the type name and argc of a table
     * line) and build state. 0 or -errno; on failure describe the bad
     * argument with dl_log_errorf() and leave nothing allocated. */
    int (*ctr)(dl_log *log, uint64_t target_sectors, unsigned argc, char **argv);
    /* Free everything; does not flush. */
    void (*dtr)(dl_log *log);
    int (*presuspend)(dl_log *log);
    int (*postsuspend)(dl_log *log); /* persist */
    int (*resume)(dl_log *log);      /* (re)load, then persist */
    uint32_t (*get_region_size)(dl_log *log);
    int (*is_clean)(dl_log *log, uint64_t region); /* 0 or 1 */
    /* 1, 0, -EWOULDBLOCK (!can_block and no answer without blocking), <0. */
    int (*in_sync)(dl_log *log, uint64_t region, int can_block);
    int (*flush)(dl_log *log);
    int (*mark_region)(dl_log *log, uint64_t region);  /* 0 or -errno */
    int (*clear_region)(dl_log *log, uint64_t region); /* 0 or -errno */
    /* 1 and *region (now recovering), 0 if none, <0 error. */
    int (*get_resync_work)(dl_log *log, uint64_t *region);
    int (*set_region_sync)(dl_log *log, uint64_t region, int in_sync);
    int (*get_sync_count)(dl_log *log, uint64_t *count);
    /* Write a NUL-terminated string; return its length, or -ENOSPC if
     * len is too small (the library reports that to the caller). */
    int (*status)(dl_log *log, enum dl_status_type type, char *buf, size_t len);
    int (*is_remote_recovering)(dl_log *log, uint64_t region); /* 0 or 1 */
};

#define DL_LOG_TYPE_API_VERSION 1

/* The minimum struct_size of a struct dl_log_type (its first version). */
#define DL_LOG_TYPE_SIZE_V1 \
    (offsetof(struct dl_log_type, status) + sizeof(((struct dl_log_type *)0)->status))

/* Initialise a type struct: DL_LOG_TYPE_INIT("mine") then set the ops. */
#define DL_LOG_TYPE_INIT(type_name) \
    .struct_size = sizeof(struct dl_log_type), \
    .api_version = DL_LOG_TYPE_API_VERSION, .name = (type_name)

/* ---- Errors ------------------------------------------------------------ */

/* Text for a return value of this library: "-EINVAL" -> "Invalid argument". */
DL_EXPORT const char *dl_strerror(int err);
/* The human message of the last failing call in this thread that had one
 * (e.g. "region_size 1000 is not a power of 2"), or "" if none. */
DL_EXPORT const char *dl_last_error(void);

/* ---- Registry of log types -------------------------------------------- */

/* The built-in types "core", "disk" and "userspace" are registered
 * automatically. The struct and its name are copied. -EEXIST for a duplicate
 * name, -EINVAL for a malformed type (missing required op, bad name,
 * struct_size below DL_LOG_TYPE_SIZE_V1, newer api_version). */
DL_EXPORT int dl_register_type(const struct dl_log_type *type);
/* -ENOENT if not registered, -EBUSY while logs of that type exist. */
DL_EXPORT int dl_unregister_type(const char *name);
/* The registered type of that name (the registry's copy), or NULL. The
 * pointer stays valid and its contents unchanged for the life of the process,
 * even if the type is unregistered meanwhile (from any thread): the registry
 * never frees a type's copy (re-registering an identical type reuses it). */
DL_EXPORT const struct dl_log_type *dl_find_type(const char *name);

/* ---- Creating and destroying logs -------------------------------------- */

/* Create a log of a registered type. argv holds the type's arguments only
 * (for "core 2 1024 nosync": argc 2, {"1024", "nosync"}). On failure *log is
 * NULL, the result is -errno and dl_last_error() says which argument. */
DL_EXPORT int dl_log_create(const char *type_name, uint64_t target_sectors,
                            unsigned argc, const char *const *argv, dl_log **log);
/* Same from a device-mapper table fragment: "<type> <argc> <args...>". */
DL_EXPORT int dl_log_create_table(const char *table, uint64_t target_sectors, dl_log **log);
/* Free a log (calls the type's dtr; does not flush). NULL is ignored. */
DL_EXPORT void dl_log_destroy(dl_log *log);

/* Install the engine's data-device flush (see dl_flush_fn). Call it before
 * the log is used concurrently. fn NULL removes it. */
DL_EXPORT int dl_log_set_flush_callback(dl_log *log, dl_flush_fn fn, void *arg);

/* ---- Operations (one wrapper per op) ----------------------------------- */
/* Every region argument is checked: region >= region_count is -ERANGE and
 * touches nothing. Predicates return exactly 0 or 1 (or -errno). */

DL_EXPORT int dl_log_presuspend(dl_log *log);
DL_EXPORT int dl_log_postsuspend(dl_log *log);
DL_EXPORT int dl_log_resume(dl_log *log);
DL_EXPORT uint32_t dl_log_get_region_size(dl_log *log);
DL_EXPORT uint64_t dl_log_get_region_count(dl_log *log);
DL_EXPORT uint64_t dl_log_get_target_sectors(dl_log *log);
DL_EXPORT int dl_log_is_clean(dl_log *log, uint64_t region);
DL_EXPORT int dl_log_in_sync(dl_log *log, uint64_t region, int can_block);
DL_EXPORT int dl_log_flush(dl_log *log);
DL_EXPORT int dl_log_mark_region(dl_log *log, uint64_t region);
DL_EXPORT int dl_log_clear_region(dl_log *log, uint64_t region);
DL_EXPORT int dl_log_get_resync_work(dl_log *log, uint64_t *region);
DL_EXPORT int dl_log_set_region_sync(dl_log *log, uint64_t region, int in_sync);
DL_EXPORT int dl_log_get_sync_count(dl_log *log, uint64_t *count);
/* Length of the string written to buf (NUL-terminated), or -EINVAL for a
 * NULL log or a bad status type, -ENOSPC if buf is NULL or len is too small
 * (buf then holds ""). */
DL_EXPORT int dl_log_status(dl_log *log, enum dl_status_type type, char *buf, size_t len);
DL_EXPORT int dl_log_is_remote_recovering(dl_log *log, uint64_t region);
/* The log's type (valid while the log exists, and after: see dl_find_type()). */
DL_EXPORT const struct dl_log_type *dl_log_get_type(dl_log *log);

/* ---- Batch calls: a multi-region I/O pays one call ---------------------- */
/* The range [first, first + count) must lie within the log (first + count
 * <= region_count, no wrap-around), else -ERANGE and nothing is touched.
 * count 0 is a valid empty range. */

/* 1 if every region of the range is clean (count 0 included), 0 if one is
 * not: then *first_dirty (if not NULL) is the lowest such region. -errno. */
DL_EXPORT int dl_log_is_clean_range(dl_log *log, uint64_t first, uint64_t count,
                                    uint64_t *first_dirty);
/* Mark / clear every region of the range: 0 or -errno. core and disk logs do
 * it in one pass, all or nothing (every allocation happens first). Other
 * types get a loop over their mark_region / clear_region: if one of those
 * fails, the regions before it stay marked (cleared) -- a mark is never
 * undone, that could drop a mark another caller made -- and the error is
 * returned. */
DL_EXPORT int dl_log_mark_range(dl_log *log, uint64_t first, uint64_t count);
DL_EXPORT int dl_log_clear_range(dl_log *log, uint64_t first, uint64_t count);

/* ---- Inline read path ----------------------------------------------------
 *
 * dl_log_is_clean_fast() and dl_log_in_sync_fast() answer exactly as
 * dl_log_is_clean() and dl_log_in_sync() do (same values, same errors: they
 * fall back to those calls), but without a call when the log publishes a
 * read-only view of the set: a flat bitmap and the number of regions it
 * answers for. "core" and "disk" logs of at most DL_LOG_VIEW_MAX_REGIONS
 * regions publish one (2 MiB per set at the maximum; all such sets of a
 * process within 64 MiB, later logs go without); other types, bigger logs
 * and a failed disk log do not.
 *
 * ABI. Every dl_log begins with a struct dl_log_view, and always will. Its
 * fields up to out_of_sync (DL_LOG_VIEW_SIZE_V1) never move; later versions
 * only append fields, and say how far the library's view goes in
 * struct_size, which a reader must check before it reads any field past
 * DL_LOG_VIEW_SIZE_V1. So a program built against this header keeps working
 * with every later library. A limit is read with an acquire load: a set's
 * words pointer is written before its limit is first made non-zero (release)
 * and never changes afterwards; the words it points at stay valid until
 * dl_log_destroy(); a limit only ever drops to 0 (the view is withdrawn, the
 * calls answer from then on). Words are read with atomic loads: bit r of
 * word r / 64 (LSB first) is 1 for a dirty (resp. out-of-sync) region.
 */
#if defined(__GNUC__) || defined(__clang__)
typedef uint64_t dl_view_word __attribute__((aligned(8))); /* 8-aligned on 32-bit too */
#define DL_HAVE_INLINE_VIEW 1
#else
typedef uint64_t dl_view_word;
#define DL_HAVE_INLINE_VIEW 0
#endif

struct dl_log_view {
    uint32_t struct_size;     /* sizeof(struct dl_log_view) of the library */
    uint32_t reserved;        /* 0 */
    dl_view_word clean_limit; /* regions < it: dirty[] answers; 0: no view */
    const dl_view_word *dirty;       /* bit set: not clean */
    dl_view_word sync_limit;  /* regions < it: out_of_sync[] answers */
    const dl_view_word *out_of_sync; /* bit set: not in sync */
};

#define DL_LOG_VIEW_SIZE_V1 \
    (offsetof(struct dl_log_view, out_of_sync) + sizeof(const dl_view_word *))
/* The largest log that publishes a view (the library's policy; a reader
 * needs no knowledge of it). */
#define DL_LOG_VIEW_MAX_REGIONS (1ull << 24)

/* The view of a log (never NULL for a non-NULL log; its limits say what it
 * answers). */
static inline const struct dl_log_view *dl_log_view(const dl_log *log)
{
    return (const struct dl_log_view *)(const void *)log;
}

/* 0 or 1 from a set's words, or -1 if the view does not answer for region. */
static inline int dl_view_test(const dl_view_word *limit, const dl_view_word *const *words,
                               uint64_t region)
{
#if DL_HAVE_INLINE_VIEW
    if (region < __atomic_load_n(limit, __ATOMIC_ACQUIRE))
        return (int)((__atomic_load_n(&(*words)[region / 64], __ATOMIC_ACQUIRE) >> (region % 64)) &
                     1);
#else
    (void)limit, (void)words, (void)region;
#endif
    return -1;
}

static inline int dl_log_is_clean_fast(dl_log *log, uint64_t region)
{
    if (log) {
        const struct dl_log_view *v = dl_log_view(log);
        int dirty = dl_view_test(&v->clean_limit, &v->dirty, region);
        if (dirty >= 0)
            return !dirty;
    }
    return dl_log_is_clean(log, region);
}

static inline int dl_log_in_sync_fast(dl_log *log, uint64_t region, int can_block)
{
    if (log) {
        const struct dl_log_view *v = dl_log_view(log);
        int out = dl_view_test(&v->sync_limit, &v->out_of_sync, region);
        if (out >= 0)
            return !out;
    }
    return dl_log_in_sync(log, region, can_block);
}

/* ---- For implementers of log types ------------------------------------- */

/* A type's private state, set in ctr. */
DL_EXPORT void dl_log_set_context(dl_log *log, void *context);
DL_EXPORT void *dl_log_get_context(dl_log *log);
/* Record the human message of a failure (shown by dl_last_error()). */
DL_EXPORT void dl_log_errorf(dl_log *log, const char *fmt, ...) DL_PRINTF(2, 3);
/* Run the engine's flush callback: 0 if none is installed (-EINVAL: no log). */
DL_EXPORT int dl_log_call_flush_callback(dl_log *log);
/* ceil(target_sectors / region_size); 0 if region_size is 0. */
DL_EXPORT uint64_t dl_region_count(uint64_t target_sectors, uint32_t region_size);
/* Parse a region size by the table rules (unsigned decimal, no junk, power
 * of two, >= 2, <= target_sectors, fits uint32). 0 or -EINVAL with the reason
 * recorded through dl_log_errorf(). */
DL_EXPORT int dl_parse_region_size(dl_log *log, const char *arg, uint64_t target_sectors,
                                   uint32_t *region_size);

/* Sync flag of a table line: none, "sync" (force resync), "nosync". */
enum dl_sync_mode { DL_SYNC_DEFAULT = 0, DL_SYNC_FORCE = 1, DL_SYNC_NONE = 2 };

/* Parse the optional trailing words every built-in type accepts: at most one
 * of sync|nosync, and block_on_error (echoed by status). Any other word is
 * -EINVAL with a message, unless `rest` is given: then the words it does not
 * know are handed back in order in rest[0..*nrest) (room for argc words)
 * for the type's own options. */
DL_EXPORT int dl_parse_flags(dl_log *log, unsigned argc, char **argv, enum dl_sync_mode *sync_mode,
                             int *block_on_error, char **rest, unsigned *nrest);


/* ==== Disk logs: the I/O interface and disk-specific calls ==============
 *
 * Every byte the "disk" log type reads or writes goes through a struct
 * dl_io, a small vtable. The default implementation (dl_io_open_posix) works
 * on a regular file or a block device; tests and engines can supply their
 * own (to record writes, inject faults, or put the log somewhere else) with
 * dl_log_create_disk_io(). Offsets and sizes are in bytes.
 */
struct dl_io {
    /* sizeof(struct dl_io) as the implementation was compiled (DL_IO_INIT
     * sets it), at least DL_IO_V1_SIZE; fields past it are treated as
     * absent. Append new fields at the end only. */
    uint32_t struct_size;
    /* Read up to len bytes at offset: bytes read (0 at end of device, fewer
     * than len allowed), or -errno. */
    int64_t (*pread)(struct dl_io *io, void *buf, size_t len, uint64_t offset);
    /* Write up to len bytes at offset (a regular file grows): bytes written
     * (> 0; fewer than len allowed, the log writes the rest), or -errno. */
    int64_t (*pwrite)(struct dl_io *io, const void *buf, size_t len, uint64_t offset);
    /* Make every completed write durable (fdatasync). 0 or -errno. */
    int (*sync)(struct dl_io *io);
    /* Current size in bytes and logical block size (512 if unknown). A
     * regular file reports its length; a block device its capacity. */
    int (*size)(struct dl_io *io, uint64_t *bytes, uint32_t *logical_block_size);
    /* Release everything (the log calls it once, at destroy). May be NULL. */
    void (*close)(struct dl_io *io);
    /* The implementation's own state. */
    void *priv;
    /* ---- optional (NULL, or past struct_size: absent) ---- */
    /* Set the device's length (a regular file: ftruncate); bytes past the
     * old end read as zero. 0 or -errno (-ENOTSUP where the length is fixed).
     * Lets the log make a new all-zero bitmap without writing it, and take
     * back the length a failed grow added. */
    int (*set_size)(struct dl_io *io, uint64_t bytes);
    /* Allocate backing storage for bytes [0, bytes) without changing the
     * length (fallocate FALLOC_FL_KEEP_SIZE), so that later writes there
     * cannot fail for lack of space. 0, -EOPNOTSUPP where it cannot be done,
     * -ENOSPC, or -errno. */
    int (*reserve)(struct dl_io *io, uint64_t bytes);
};

/* The size of struct dl_io as first published (struct_size up to and
 * including priv): the smallest struct_size the library accepts. */
#define DL_IO_V1_SIZE (offsetof(struct dl_io, priv) + sizeof(void *))

/* Initialise an io: struct dl_io io = {DL_IO_INIT, .pread = ..., ...}. */
#define DL_IO_INIT .struct_size = sizeof(struct dl_io)

/* Open `path` with the default POSIX implementation, read-write (or
 * read-only with read_only != 0: writes then fail with -EROFS). A regular
 * file that does not exist is created (empty) if create != 0. A block
 * device's size and logical block size come from BLKGETSIZE64/BLKSSZGET.
 * 0 and *io, or -errno with dl_last_error() naming the path and the cause. */
DL_EXPORT int dl_io_open_posix(const char *path, int read_only, int create, struct dl_io **io);

/* Create a "disk" log on the device `io` instead of opening the path named
 * in argv. argc/argv are the disk type's arguments as for dl_log_create
 * ("<path> <region_size> [sync|nosync] [format=dm] [grow] [block_on_error]");
 * the path is then only a name echoed by status. On success the log owns io
 * and calls io->close at destroy; on failure the caller still owns io. */
DL_EXPORT int dl_log_create_disk_io(uint64_t target_sectors, unsigned argc,
                                    const char *const *argv, struct dl_io *io, dl_log **log);

/* ======================================================================== */
/* ---- Write-intent layer (region hash) ---------------------------------- */
/*
 * What a RAID1 engine embeds on top of any dl_log (device-mapper's "region
 * hash"). It keeps, per region the engine has touched, a pending-write count
 * and a state, and guarantees:
 *
 *   the dirty bit of a region is durable in the log before
 *   dl_rh_begin_write() returns for any write to it.
 *
 * Write path:   dl_rh_begin_write() -> write every copy -> dl_rh_end_write().
 * Periodically: dl_rh_flush() (e.g. once a second, and at FUA/flush
 *               requests if the engine likes): clears, in the log, regions
 *               that stayed idle long enough, after the log has run the
 *               engine's data-device flush (dl_log_set_flush_callback()).
 * Resync:       dl_rh_recovery_next() -> dl_rh_recovery_wait_idle() -> copy
 *               -> dl_rh_recovery_end().
 *
 * Costs: begin/end on a region already durably dirty is one atomic
 * compare-and-swap on that region's word: no lock, no log call, no
 * allocation. A begin that needs marks takes the layer's lock, marks, and
 * waits for ONE log flush shared by every thread waiting at that moment
 * (group commit). Memory is proportional to the regions touched (a sparse
 * radix table; a 2^40-region log costs nothing until written).
 *
 * All calls are thread-safe. Recovery must go through this layer (not
 * dl_log_get_resync_work()/dl_log_set_region_sync() directly) while it
 * exists, and no other user may mark or clear regions of the same log.
 */

typedef struct dl_rh dl_rh;

/* dl_rh_options.flags */
#define DL_RH_BUSY_ON_RECOVERY 0x1u /* begin returns -EBUSY (instead of
                                       waiting) on a region being recovered */
#define DL_RH_EAGER_CLEAR 0x2u      /* no hot set: clear a region at the first
                                       dl_rh_flush() after it went idle */
#define DL_RH_FIXED_HOT_SET 0x4u    /* no adaptive hot set: clear a region
                                       exactly after hot_periods idle periods */

/* The smallest struct_size accepted is DL_RH_OPTIONS_SIZE_V1 (struct_size and
 * flags); every later field reads as 0 (its default) when the caller's
 * struct_size does not reach it. */
struct dl_rh_options {
    uint32_t struct_size; /* sizeof(struct dl_rh_options) */
    uint32_t flags;       /* DL_RH_* above */
    /* Hot set: a region is cleared only after it stayed idle (no write in
     * flight, none begun) for at least this many whole flush periods, a
     * period being the time between two dl_rh_flush() calls. 0 = default
     * (1). A region written again before then costs no log I/O at all.
     * Adaptive (unless DL_RH_FIXED_HOT_SET): a region marked again soon
     * after its clear gets a hot period twice as long (up to 32 times
     * this), one that comes back late a shorter one again, and while cold
     * begins wait for log flushes a significant part of the time every hot
     * period doubles (again at most 32 times this in all). */
    uint32_t hot_periods;
    /* 0 = off. When more than this many regions are dirty in the log, the
     * flush a cold begin triggers also runs a clear pass first (as if
     * dl_rh_flush() had been called), bounding the dirty set. */
    uint32_t clear_threshold;
    /* The price of the adaptive hot set, bounded: at most this many idle
     * regions are kept dirty past hot_periods periods (each pass clears the
     * longest idle beyond it), so a crash costs at most this many regions
     * more to resync than with DL_RH_FIXED_HOT_SET. 0 = default: half the
     * log's regions (rounded up), lifted while cold begins waiting for the
     * log hold the writers back (the back-off, docs/rh.md), as md's bitmap
     * keeps bits under load; give a cap to bound the resync at all times. */
    uint64_t hot_cap;
};

#define DL_RH_OPTIONS_SIZE_V1 \
    (offsetof(struct dl_rh_options, flags) + sizeof(((struct dl_rh_options *)0)->flags))

/* dl_rh_begin_write() flags */
#define DL_RH_NOWAIT 0x1u /* -EBUSY instead of waiting for a recovering region */

/* Region states, as dl_rh_region_state() reports them. */
enum dl_rh_state {
    DL_RH_CLEAN = 0,      /* not marked by this layer (in sync) */
    DL_RH_DIRTY = 1,      /* marked in the log (writes may be in flight) */
    DL_RH_NOSYNC = 2,     /* copies may differ: never cleared until recovered */
    DL_RH_RECOVERING = 3, /* handed out for resync: new writes wait */
};

/* Filled up to the caller's struct_size, at least DL_RH_STATS_SIZE_V1 (every
 * counter below: the first version); counters added later are left alone in
 * an older caller's smaller struct. */
struct dl_rh_stats {
    uint32_t struct_size;     /* in: sizeof(struct dl_rh_stats), left as is */
    uint32_t reserved;
    uint64_t dirty_regions;   /* marked by this layer and not cleared */
    uint64_t touched_regions; /* regions with an entry in the table */
    uint64_t table_bytes;     /* memory held by the region table */
    uint64_t log_flushes;     /* dl_log_flush() calls made by the layer */
    uint64_t log_flush_errors;
    uint64_t marks;           /* dl_log_mark_region() calls */
    uint64_t clears;          /* dl_log_clear_region() calls */
    uint64_t cold_begins;     /* begins that took the lock (had to mark or wait) */
    uint64_t recovery_waits;  /* times a writer waited for a recovering region */
    uint64_t clear_passes;    /* dl_rh_flush() passes (periods) */
    /* Second version (DL_RH_STATS_SIZE_V2): the adaptive hot set. */
    uint64_t hot_kept;        /* idle regions kept past hot_periods at the last pass */
    uint64_t cap_clears;      /* clears forced by hot_cap */
    uint64_t backoff;         /* extra doublings of every hot period now (load) */
    uint64_t cold_wait_ns;    /* total time cold begins waited for log flushes */
};

#define DL_RH_STATS_SIZE_V1 \
    (offsetof(struct dl_rh_stats, clear_passes) + sizeof(((struct dl_rh_stats *)0)->clear_passes))
#define DL_RH_STATS_SIZE_V2 \
    (offsetof(struct dl_rh_stats, cold_wait_ns) + sizeof(((struct dl_rh_stats *)0)->cold_wait_ns))

/* Create the layer over `log` (which must outlive it). opts may be NULL for
 * defaults; a struct with a smaller struct_size (older caller, at least
 * DL_RH_OPTIONS_SIZE_V1) is fine. The
 * layer never calls dl_log_postsuspend/resume: the engine does. */
DL_EXPORT int dl_rh_create(dl_log *log, const struct dl_rh_options *opts, dl_rh **out);
/* Free the layer. Touches nothing in the log: call dl_rh_clear_idle() first
 * for a clean shutdown. Every begun write must have ended. NULL is ignored. */
DL_EXPORT void dl_rh_destroy(dl_rh *rh);
DL_EXPORT dl_log *dl_rh_get_log(dl_rh *rh);

/* Announce a write of `length` bytes at byte `offset` of the target. Returns
 * 0 once every region it touches is durably dirty; the engine may then write
 * every copy and must later call dl_rh_end_write() with the same range.
 * Waits while a touched region is being recovered (or -EBUSY with
 * DL_RH_NOWAIT / DL_RH_BUSY_ON_RECOVERY). On failure (-EBUSY, -ERANGE, the
 * log flush's error, -ENOMEM) nothing is begun: do not write.
 * length 0 is a no-op returning 0. */
DL_EXPORT int dl_rh_begin_write(dl_rh *rh, uint64_t offset, uint64_t length, unsigned flags);
/* The write begun over the same range completed with `result` (0 or
 * -errno). A failed write makes its regions NOSYNC: not in sync in the log,
 * kept dirty, never cleared before recovery succeeds. 0, or -EINVAL for a
 * range with no write in flight, or the log's error recording NOSYNC. */
DL_EXPORT int dl_rh_end_write(dl_rh *rh, uint64_t offset, uint64_t length, int result);
/* The same in 512-byte sectors. */
DL_EXPORT int dl_rh_begin_sectors(dl_rh *rh, uint64_t sector, uint64_t nr_sectors, unsigned flags);
DL_EXPORT int dl_rh_end_sectors(dl_rh *rh, uint64_t sector, uint64_t nr_sectors, int result);

/* One flush period: issue clears (dl_log_clear_region) for every region idle
 * for its hot period (hot_periods or, adaptive, longer), then flush the log
 * once; the log runs the engine's data-device flush callback before it
 * persists those clean bits.
 * Returns the number of regions cleared (>= 0), or the flush's -errno (the
 * clears then stay in the log's memory; the log's own failure handling
 * applies). No log flush at all when there is nothing to clear. */
DL_EXPORT int64_t dl_rh_flush(dl_rh *rh);
/* Clear every idle region now, ignoring the hot set, and flush: for a clean
 * shutdown or suspend. Same result as dl_rh_flush(). */
DL_EXPORT int64_t dl_rh_clear_idle(dl_rh *rh);

/* Resync. dl_rh_recovery_next(): 1 and *region (now RECOVERING: new writes
 * to it wait), 0 if nothing is left to resync, <0 error. Then
 * dl_rh_recovery_wait_idle() waits until the writes in flight to it when it
 * was handed out have ended (0, or -EINVAL if it is not recovering). After
 * copying, dl_rh_recovery_end() records the result (success != 0: in sync;
 * 0: still out of sync, handed out again later), ends RECOVERING and wakes
 * the waiting writers; it returns the log's error if recording failed (the
 * region is then released as NOSYNC). */
DL_EXPORT int dl_rh_recovery_next(dl_rh *rh, uint64_t *region);
DL_EXPORT int dl_rh_recovery_wait_idle(dl_rh *rh, uint64_t region);
DL_EXPORT int dl_rh_recovery_end(dl_rh *rh, uint64_t region, int success);

/* enum dl_rh_state of a region (>= 0) or -ERANGE. Untouched regions are
 * DL_RH_CLEAN or DL_RH_NOSYNC as the log's in_sync says. */
DL_EXPORT int dl_rh_region_state(dl_rh *rh, uint64_t region);
/* 1 if every region of the byte range is in sync (and not recovering), so a
 * read may be served by any copy; 0 otherwise; -ERANGE. Lock-free for
 * touched regions; asks the log for untouched ones. */
DL_EXPORT int dl_rh_range_in_sync(dl_rh *rh, uint64_t offset, uint64_t length);
/* Counters; st->struct_size says how much the caller can take (at least
 * DL_RH_STATS_SIZE_V1, else -EINVAL). */
DL_EXPORT int dl_rh_get_stats(dl_rh *rh, struct dl_rh_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* DIRTYLOG_H */
