/* Type "core": three region sets in memory, nothing persisted.
 * core <region_size> [sync|nosync] [block_on_error]
 *
 * Every op is lock-free: the dirty set is an atomic sparse bitmap and the
 * sync state (bitmap/sync_state.h) keeps an exact count the same way. A log
 * of at most DL_LOG_VIEW_MAX_REGIONS regions keeps its dirty and
 * out-of-sync sets flat and publishes them as the inline read path's view
 * (dirtylog.h): the view answers exactly as core_is_clean / core_in_sync. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bitmap/bitmap.h"
#include "bitmap/sync_state.h"
#include "dirtylog.h"
#include "log_internal.h"

struct core_log {
    uint32_t region_size;
    uint64_t region_count;
    enum dl_sync_mode sync_mode;
    int block_on_error;
    struct bitmap *dirty; /* 1 = marked (writes may be in flight) */
    struct sync_state sync;
};

static void core_free(struct core_log *lc)
{
    dl__bitmap_destroy(lc->dirty);
    dl__sync_state_destroy(&lc->sync);
    free(lc);
}

/* ---- range calls (the wrapper checked the range) ---- */

static int core_is_clean_range(dl_log *log, uint64_t first, uint64_t count,
                               uint64_t *first_dirty)
{
    uint64_t found;
    if (!dl__bitmap_find_set_in(((struct core_log *)dl__context(log))->dirty, first,
                                first + count, &found))
        return 1;
    if (first_dirty)
        *first_dirty = found;
    return 0;
}

static int core_mark_range(dl_log *log, uint64_t first, uint64_t count)
{
    return dl__bitmap_set_range(((struct core_log *)dl__context(log))->dirty, first, count);
}

static int core_clear_range(dl_log *log, uint64_t first, uint64_t count)
{
    return dl__bitmap_clear_range(((struct core_log *)dl__context(log))->dirty, first, count);
}

static const struct dl__range_ops core_range_ops = {
    .is_clean_range = core_is_clean_range,
    .mark_range = core_mark_range,
    .clear_range = core_clear_range,
};

/* The public threshold is what a flat bitmap can hold. */
_Static_assert(DL_LOG_VIEW_MAX_REGIONS <= DL__BITMAP_FLAT_MAX_BITS,
               "DL_LOG_VIEW_MAX_REGIONS exceeds what a flat bitmap holds");

static int core_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    if (argc < 1 || argc > 3) {
        dl_log_errorf(log, "core takes 1 to 3 arguments (<region_size> [sync|nosync] "
                           "[block_on_error]), got %u", argc);
        return -EINVAL;
    }
    struct core_log *lc = calloc(1, sizeof *lc);
    if (!lc)
        return -ENOMEM;
    int r = dl_parse_region_size(log, argv[0], target, &lc->region_size);
    if (r == 0)
        r = dl_parse_flags(log, argc - 1, argv + 1, &lc->sync_mode, &lc->block_on_error, NULL,
                           NULL);
    if (r < 0) {
        free(lc);
        return r;
    }
    lc->region_count = dl_region_count(target, lc->region_size);
    /* Flat (and published) when small enough and the budget allows. */
    int flat = lc->region_count <= DL_LOG_VIEW_MAX_REGIONS;
    /* A new core log is out of sync unless the table says nosync. */
    if ((flat ? dl__bitmap_create_prefer_flat(&lc->dirty, lc->region_count, 0)
              : dl__bitmap_create(&lc->dirty, lc->region_count, 0)) < 0 ||
        dl__sync_state_init(&lc->sync, lc->region_count, lc->sync_mode == DL_SYNC_NONE,
                            flat) < 0) {
        core_free(lc);
        return -ENOMEM;
    }
    dl_log_set_context(log, lc);
    dl__log_set_range_ops(log, &core_range_ops);
    /* (a set that ended up sparse has no words: it is not published) */
    dl__log_publish_view(log, dl__bitmap_flat_words(lc->dirty),
                         dl__bitmap_flat_words(lc->sync.out_of_sync), lc->region_count);
    dl__log_set_fast_dirty(log, lc->dirty); /* core_mark_region / core_clear_region */
    return 0;
}

static void core_dtr(dl_log *log)
{
    core_free(dl__context(log));
}

static uint32_t core_get_region_size(dl_log *log)
{
    return ((struct core_log *)dl__context(log))->region_size;
}

static int core_is_clean(dl_log *log, uint64_t region)
{
    return !dl__bitmap_test(((struct core_log *)dl__context(log))->dirty, region);
}

static int core_in_sync(dl_log *log, uint64_t region, int can_block)
{
    (void)can_block; /* memory never blocks */
    return !dl__bitmap_test(((struct core_log *)dl__context(log))->sync.out_of_sync, region);
}

static int core_flush(dl_log *log)
{
    (void)log; /* nothing to persist */
    return 0;
}

static int core_mark_region(dl_log *log, uint64_t region)
{
    int r = dl__bitmap_set(((struct core_log *)dl__context(log))->dirty, region);
    return r < 0 ? r : 0;
}

static int core_clear_region(dl_log *log, uint64_t region)
{
    int r = dl__bitmap_clear(((struct core_log *)dl__context(log))->dirty, region);
    return r < 0 ? r : 0;
}

static int core_get_resync_work(dl_log *log, uint64_t *region)
{
    return dl__sync_state_get_work(&((struct core_log *)dl__context(log))->sync, region);
}

static int core_set_region_sync(dl_log *log, uint64_t region, int in_sync)
{
    int r = dl__sync_state_set(&((struct core_log *)dl__context(log))->sync, region, in_sync);
    return r < 0 ? r : 0;
}

static int core_get_sync_count(dl_log *log, uint64_t *count)
{
    *count = atomic_load(&((struct core_log *)dl__context(log))->sync.sync_count);
    return 0;
}

static int core_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct core_log *lc = dl__context(log);
    int n;
    if (type == DL_STATUS_INFO) {
        n = snprintf(buf, len, "1 core");
    } else {
        const char *flag = lc->sync_mode == DL_SYNC_FORCE  ? " sync"
                           : lc->sync_mode == DL_SYNC_NONE ? " nosync"
                                                           : "";
        unsigned argc = 1 + (lc->sync_mode != DL_SYNC_DEFAULT) + (lc->block_on_error != 0);
        n = snprintf(buf, len, "core %u %" PRIu32 "%s%s", argc, lc->region_size, flag,
                     lc->block_on_error ? " block_on_error" : "");
    }
    if (n < 0)
        return -EINVAL;
    return (size_t)n < len ? n : -ENOSPC;
}

const struct dl_log_type dl__core_type = {
    DL_LOG_TYPE_INIT("core"),
    .thread_model = DL_THREAD_MODEL_PARALLEL,
    .ctr = core_ctr,
    .dtr = core_dtr,
    .get_region_size = core_get_region_size,
    .is_clean = core_is_clean,
    .in_sync = core_in_sync,
    .flush = core_flush,
    .mark_region = core_mark_region,
    .clear_region = core_clear_region,
    .get_resync_work = core_get_resync_work,
    .set_region_sync = core_set_region_sync,
    .get_sync_count = core_get_sync_count,
    .status = core_status,
};
