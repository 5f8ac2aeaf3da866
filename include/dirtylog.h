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
 * fields at the end only.
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

/* Built-in types ("core", and later "disk", "userspace") are registered
 * automatically. The struct is copied; `name` must stay valid until the type
 * is unregistered. -EEXIST for a duplicate name, -EINVAL for a malformed type
 * (missing required op, bad name, struct_size too small, newer api_version). */
DL_EXPORT int dl_register_type(const struct dl_log_type *type);
/* -ENOENT if not registered, -EBUSY while logs of that type exist. */
DL_EXPORT int dl_unregister_type(const char *name);
/* The registered type of that name, or NULL. */
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
/* Length of the string written to buf (NUL-terminated), or -EINVAL for a bad
 * status type, -ENOSPC if len is too small (buf then holds ""). */
DL_EXPORT int dl_log_status(dl_log *log, enum dl_status_type type, char *buf, size_t len);
DL_EXPORT int dl_log_is_remote_recovering(dl_log *log, uint64_t region);
/* The log's type. */
DL_EXPORT const struct dl_log_type *dl_log_get_type(dl_log *log);

/* ---- For implementers of log types ------------------------------------- */

/* A type's private state, set in ctr. */
DL_EXPORT void dl_log_set_context(dl_log *log, void *context);
DL_EXPORT void *dl_log_get_context(dl_log *log);
/* Record the human message of a failure (shown by dl_last_error()). */
DL_EXPORT void dl_log_errorf(dl_log *log, const char *fmt, ...) DL_PRINTF(2, 3);
/* Run the engine's flush callback: 0 if none is installed. */
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
 * -EINVAL with a message. */
DL_EXPORT int dl_parse_flags(dl_log *log, unsigned argc, char **argv, int *sync_mode,
                             int *block_on_error);


/* ==== Disk logs: the I/O interface and disk-specific calls ==============
 *
 * Every byte the "disk" log type reads or writes goes through a struct
 * dl_io, a small vtable. The default implementation (dl_io_open_posix) works
 * on a regular file or a block device; tests and engines can supply their
 * own (to record writes, inject faults, or put the log somewhere else) with
 * dl_log_create_disk_io(). Offsets and sizes are in bytes.
 */
struct dl_io {
    /* sizeof(struct dl_io) as the implementation was compiled; fields past
     * it are treated as absent. Append new fields at the end only. */
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
};

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

#ifdef __cplusplus
}
#endif
#endif /* DIRTYLOG_H */
