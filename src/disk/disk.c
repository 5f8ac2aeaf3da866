#define _POSIX_C_SOURCE 200809L
/* Type "disk": the log persisted on a file or block device.
 *   disk <path> <region_size> [sync|nosync] [block_on_error] [format=dm|format=native] [grow]
 *        [max_bitmap=<bytes>]
 *
 * Memory: four sparse bitmaps over regions (dirty, out_of_sync, recovering,
 * and ondisk = what the device says, 1 = "may differ") plus two over the
 * bitmap's write units (4 KiB blocks native, 512-byte sectors dm): "changed"
 * and "cleaning", the units whose on-disk bits may have to turn 1 / 0.
 *
 * The files: see disk_internal.h. Hot paths take no lock; the protocol on
 * those queues is described in disk_flush.c. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk/disk_internal.h"
#include "log_internal.h"
#include "versioned.h"

/* The largest bitmap a log may have unless its table says max_bitmap=:
 * 1 GiB, i.e. 2^33 regions. A typo in a target or region size must not
 * make the log write until the disk is full. */
#define DEFAULT_MAX_BITMAP (1ull << 30)

/* ---- failure ------------------------------------------------------------ */

/* The log fails (sticky). Failures happen only in a flush round or the
 * first resume, which never run at the same time, so the first failure's
 * cause is written once, before the letter is published. */
int dl__disk_fail(dl_log *log, struct disk_log *lc, int letter, int err, const char *what)
{
    /* The view first: once `failed` is visible, no reader may still answer
     * from the bitmap without the call. */
    dl__log_withdraw_view(log);
    if (atomic_load(&lc->failed) == 0) {
        lc->fail_err = err < 0 ? err : -EIO;
        snprintf(lc->fail_what, sizeof lc->fail_what, "%s", what);
        atomic_store(&lc->failed, letter);
    }
    dl_log_errorf(log, "disk log %s failed: %s: %s (the log now treats every region as dirty)",
                  lc->path, what, dl_strerror(err));
    return lc->fail_err;
}

/* The error of a call that found the log failed: the first failure's cause. */
int dl__disk_failed_error(dl_log *log, struct disk_log *lc)
{
    dl_log_errorf(log, "disk log %s has failed (%c) earlier: %s: %s; every region reads dirty",
                  lc->path, atomic_load(&lc->failed), lc->fail_what, dl_strerror(lc->fail_err));
    return lc->fail_err;
}

/* ---- constructor --------------------------------------------------------- */

static void disk_free(struct disk_log *lc)
{
    dl__bitmap_destroy(lc->dirty);
    dl__sync_state_destroy(&lc->sync);
    dl__bitmap_destroy(lc->ondisk);
    dl__bitmap_destroy(lc->changed);
    dl__bitmap_destroy(lc->cleaning);
    dl__disk_flush_free(lc);
    for (unsigned i = 0; i < lc->noptions; i++)
        free(lc->options[i]);
    free(lc->path);
    free(lc);
}

static int parse_options(dl_log *log, struct disk_log *lc, unsigned argc, char **argv)
{
    /* sync|nosync and block_on_error are every type's; the rest are ours. */
    char *rest[MAX_OPTIONS];
    unsigned nrest;
    int r = dl_parse_flags(log, argc, argv, &lc->sync_mode, &lc->block_on_error, rest, &nrest);
    if (r < 0)
        return r;
    int have_format = 0;
    for (unsigned i = 0; i < nrest; i++) {
        const char *a = rest[i];
        if (strcmp(a, "grow") == 0) {
            if (lc->grow) {
                dl_log_errorf(log, "'%s' given twice", a);
                return -EINVAL;
            }
            lc->grow = 1;
        } else if (strncmp(a, "max_bitmap=", 11) == 0) {
            if (lc->max_bitmap) {
                dl_log_errorf(log, "'%s' conflicts with an earlier max_bitmap=", a);
                return -EINVAL;
            }
            if (dl__parse_u64(a + 11, &lc->max_bitmap) != 0 || lc->max_bitmap == 0) {
                dl_log_errorf(log, "'%s': max_bitmap takes a number of bytes (1 to 2^64-1)", a);
                return -EINVAL;
            }
        } else if (strcmp(a, "format=dm") == 0 || strcmp(a, "format=native") == 0) {
            if (have_format++) {
                dl_log_errorf(log, "'%s' conflicts with an earlier format=", a);
                return -EINVAL;
            }
            lc->format = a[7] == 'd' ? DISK_FORMAT_DM : DISK_FORMAT_NATIVE;
        } else {
            dl_log_errorf(log, "unknown argument '%s' (expected sync, nosync, block_on_error, "
                               "format=dm, format=native, grow or max_bitmap=<bytes>)", a);
            return -EINVAL;
        }
    }
    for (unsigned i = 0; i < argc; i++) /* echoed by status as given */
        if (!(lc->options[lc->noptions++] = strdup(argv[i])))
            return -ENOMEM;
    return 0;
}

static void set_geometry(struct disk_log *lc)
{
    if (lc->format == DISK_FORMAT_NATIVE) {
        lc->bitmap_offset = DLN_BITMAP_OFFSET;
        lc->unit_bytes = DLN_BLOCK_BYTES;
        lc->nunits = dl__native_bitmap_bytes(lc->region_count) / DLN_BLOCK_BYTES;
        lc->min_device_bytes = DLN_BITMAP_OFFSET + dl__native_bitmap_bytes(lc->region_count);
        lc->invert = 0;
    } else {
        lc->bitmap_offset = DLM_BITMAP_OFFSET;
        lc->unit_bytes = DLM_SECTOR;
        lc->nunits = (dl__dm_bitmap_bytes(lc->region_count) + DLM_SECTOR - 1) / DLM_SECTOR;
        lc->min_device_bytes = DLM_BITMAP_OFFSET + dl__dm_bitmap_bytes(lc->region_count);
        lc->invert = 1;
    }
}

/* The bitmap's size against the cap (max_bitmap=, default 1 GiB). */
static int check_bitmap_cap(dl_log *log, struct disk_log *lc)
{
    uint64_t cap = lc->max_bitmap ? lc->max_bitmap : DEFAULT_MAX_BITMAP;
    uint64_t bytes = lc->format == DISK_FORMAT_NATIVE ? dl__native_bitmap_bytes(lc->region_count)
                                                      : dl__dm_bitmap_bytes(lc->region_count);
    if (bytes <= cap)
        return 0;
    dl_log_errorf(log, "log %s: %" PRIu64 " regions need a bitmap of %" PRIu64 " bytes, more than "
                       "the cap of %" PRIu64 " bytes%s (a larger region_size makes it smaller; "
                       "max_bitmap=<bytes> raises the cap)",
                  lc->path, lc->region_count, bytes, cap, lc->max_bitmap ? "" : " (the default)");
    return -EFBIG;
}

static const struct dl__range_ops disk_range_ops = {
    .is_clean_range = dl__disk_is_clean_range,
    .mark_range = dl__disk_mark_range,
    .clear_range = dl__disk_clear_range,
};

static int disk_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    /* dl_log_create_disk_io's io, or NULL when created by name. */
    struct dl_io *given = dl__create_arg(log);
    if (argc < 2 || argc > 2 + MAX_OPTIONS) {
        dl_log_errorf(log, "disk takes 2 to %d arguments (<log_device> <region_size> "
                           "[sync|nosync] [block_on_error] [format=dm] [grow] "
                           "[max_bitmap=<bytes>]), got %u",
                      2 + MAX_OPTIONS, argc);
        return -EINVAL;
    }
    struct disk_log *lc = calloc(1, sizeof *lc);
    if (!lc)
        return -ENOMEM;
    lc->format = DISK_FORMAT_NATIVE;
    int r = dl_parse_region_size(log, argv[1], target, &lc->region_size);
    if (r == 0)
        r = parse_options(log, lc, argc - 2, argv + 2);
    if (r == 0 && !(lc->path = strdup(argv[0])))
        r = -ENOMEM;
    if (r == 0 && argv[0][0] == '\0') {
        dl_log_errorf(log, "log device path is empty");
        r = -EINVAL;
    }
    if (r < 0) {
        disk_free(lc);
        return r;
    }
    lc->region_count = dl_region_count(target, lc->region_size);
    set_geometry(lc);
    r = check_bitmap_cap(log, lc);
    if (r == 0)
        r = dl__disk_open_device(log, lc, given);
    if (r == 0)
        r = dl__disk_check_device(log, lc);
    /* Small logs keep dirty and out_of_sync flat if the process's budget
     * allows (bitmap.h): the view (below). */
    int flat = lc->region_count <= DL_LOG_VIEW_MAX_REGIONS;
    if (r == 0 &&
        ((flat ? dl__bitmap_create_prefer_flat(&lc->dirty, lc->region_count, 0)
               : dl__bitmap_create(&lc->dirty, lc->region_count, 0)) < 0 ||
         /* Until the first resume loads the bitmap, answer conservatively. */
         dl__sync_state_init(&lc->sync, lc->region_count, 0, flat) < 0 ||
         dl__bitmap_create(&lc->ondisk, lc->region_count, 0) < 0 ||
         dl__bitmap_create(&lc->changed, lc->nunits, 0) < 0 ||
         dl__bitmap_create(&lc->cleaning, lc->nunits, 0) < 0))
        r = -ENOMEM;
    if (r == 0 && pthread_mutex_init(&lc->gc_lock, NULL) != 0)
        r = -ENOMEM;
    if (r == 0 && pthread_cond_init(&lc->gc_cond, NULL) != 0) {
        pthread_mutex_destroy(&lc->gc_lock);
        r = -ENOMEM;
    }
    if (r == 0) {
        pthread_condattr_t ca;
        int ok = pthread_condattr_init(&ca) == 0;
        ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&lc->gather_cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
        if (!ok) {
            pthread_cond_destroy(&lc->gc_cond);
            pthread_mutex_destroy(&lc->gc_lock);
            r = -ENOMEM;
        }
    }
    if (r < 0) {
        if (lc->io && lc->io != given && lc->io->close)
            lc->io->close(lc->io);
        disk_free(lc);
        return r;
    }
    dl_log_set_context(log, lc);
    dl__log_set_range_ops(log, &disk_range_ops);
    /* The view answers as disk_is_clean / disk_in_sync do while the log has
     * not failed; dl__disk_fail withdraws it. */
    if (!atomic_load(&lc->failed)) /* (sets that ended up sparse are not published) */
        dl__log_publish_view(log, dl__bitmap_flat_words(lc->dirty),
                             dl__bitmap_flat_words(lc->sync.out_of_sync), lc->region_count);
    return 0;
}

static void disk_dtr(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    if (lc->io && lc->io->close)
        lc->io->close(lc->io);
    pthread_cond_destroy(&lc->gc_cond);
    pthread_cond_destroy(&lc->gather_cond);
    pthread_mutex_destroy(&lc->gc_lock);
    disk_free(lc);
}

extern const struct dl_log_type dl__disk_type;

int dl_log_create_disk_io(uint64_t target_sectors, unsigned argc, const char *const *argv,
                          struct dl_io *io, dl_log **log)
{
    /* The operations up to priv (DL_IO_V1_SIZE) are required; later ones
     * are optional. */
    struct dl_io ops;
    if (!io || dl__import_versioned(&ops, sizeof ops, io, DL_IO_V1_SIZE) < 0 || !ops.pread ||
        !ops.pwrite || !ops.sync || !ops.size) {
        if (log)
            *log = NULL;
        dl__set_error("dl_log_create_disk_io: io is NULL, its struct_size is not at least "
                      "DL_IO_V1_SIZE, or it lacks a required operation");
        return -EINVAL;
    }
    /* The built-in type itself, whatever the registry holds under "disk". */
    return dl__log_create_with(&dl__disk_type, target_sectors, argc, argv, io, log);
}

static int disk_postsuspend(dl_log *log)
{
    return dl__disk_flush(log);
}

/* The first resume loads the device; later ones (after a postsuspend) keep
 * the memory state, which is authoritative, and persist it. */
static int disk_resume(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    if (lc->loaded)
        return dl__disk_flush(log);
    pthread_mutex_lock(&lc->gc_lock);
    int r = atomic_load(&lc->failed) ? dl__disk_failed_error(log, lc) : dl__disk_load(log, lc);
    pthread_mutex_unlock(&lc->gc_lock);
    return r;
}

/* ---- the lock-free ops that only read (the ones that mark are in disk_flush.c) */

static int disk_is_clean(dl_log *log, uint64_t region)
{
    struct disk_log *lc = dl__context(log);
    if (atomic_load_explicit(&lc->failed, memory_order_relaxed))
        return 0;
    return !dl__bitmap_test(lc->dirty, region);
}

static int disk_in_sync(dl_log *log, uint64_t region, int can_block)
{
    (void)can_block;
    struct disk_log *lc = dl__context(log);
    if (atomic_load_explicit(&lc->failed, memory_order_relaxed))
        return 0;
    return !dl__bitmap_test(lc->sync.out_of_sync, region);
}

static int disk_get_resync_work(dl_log *log, uint64_t *region)
{
    return dl__sync_state_get_work(&((struct disk_log *)dl__context(log))->sync, region);
}

static int disk_get_sync_count(dl_log *log, uint64_t *count)
{
    struct disk_log *lc = dl__context(log);
    /* A failed log reads every region out of sync. */
    *count = atomic_load(&lc->failed) ? 0 : atomic_load(&lc->sync.sync_count);
    return 0;
}

static uint32_t disk_get_region_size(dl_log *log)
{
    return ((struct disk_log *)dl__context(log))->region_size;
}

static int disk_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct disk_log *lc = dl__context(log);
    int n;
    if (type == DL_STATUS_INFO) {
        int f = atomic_load(&lc->failed);
        n = snprintf(buf, len, "3 disk %s %c", lc->path, f ? f : 'A');
    } else {
        n = snprintf(buf, len, "disk %u %s %" PRIu32, 2 + lc->noptions, lc->path, lc->region_size);
        for (unsigned i = 0; i < lc->noptions && n >= 0 && (size_t)n < len; i++) {
            int m = snprintf(buf + n, len - (size_t)n, " %s", lc->options[i]);
            n = m < 0 ? m : n + m;
        }
    }
    if (n < 0)
        return -EINVAL;
    return (size_t)n < len ? n : -ENOSPC;
}

const struct dl_log_type dl__disk_type = {
    DL_LOG_TYPE_INIT("disk"),
    .thread_model = DL_THREAD_MODEL_PARALLEL,
    .ctr = disk_ctr,
    .dtr = disk_dtr,
    .postsuspend = disk_postsuspend,
    .resume = disk_resume,
    .get_region_size = disk_get_region_size,
    .is_clean = disk_is_clean,
    .in_sync = disk_in_sync,
    .flush = dl__disk_flush,
    .mark_region = dl__disk_mark_region,
    .clear_region = dl__disk_clear_region,
    .get_resync_work = disk_get_resync_work,
    .set_region_sync = dl__disk_set_region_sync,
    .get_sync_count = disk_get_sync_count,
    .status = disk_status,
};
