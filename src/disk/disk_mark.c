#define _POSIX_C_SOURCE 200809L
/* The disk log's marking side: the lock-free ops that change dirty and
 * out_of_sync and queue the write units whose on-disk bits may change.
 *
 *   a bit that may turn 1 on disk  -> its unit on "changed"  (a mark round)
 *   a bit that may turn 0 on disk  -> its unit on "cleaning" (a clean pass)
 *
 * Both are taken by disk_flush.c, whose top comment holds the argument that
 * a mark is never lost and a bit is never written clean too early. */
#include <errno.h>
#include <stdatomic.h>

#include "disk/disk_internal.h"
#include "log_internal.h"

/* The on-disk bit of region may need to become 1: queue its unit unless
 * ondisk already says 1 (the device holds 1, or a mark round wrote it and
 * its flush callers wait for a sync). The fence pairs with the one a clean
 * pass puts between lowering ondisk and re-reading dirty (Dekker). */
static int queue_if_clean_on_disk(struct disk_log *lc, uint64_t region)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (dl__bitmap_test(lc->ondisk, region))
        return 0;
    int r = dl__bitmap_set(lc->changed, unit_of(lc, region));
    return r < 0 ? r : 0;
}

/* The on-disk bit of region may become 0: queue its unit for a clean pass
 * if it is 1. */
static int queue_if_dirty_on_disk(struct disk_log *lc, uint64_t region)
{
    if (!dl__bitmap_test(lc->ondisk, region) || dl__bitmap_test(lc->dirty, region) ||
        dl__bitmap_test(lc->sync.out_of_sync, region))
        return 0;
    int r = dl__bitmap_set(lc->cleaning, unit_of(lc, region));
    return r < 0 ? r : 0;
}

int dl__disk_mark_region(dl_log *log, uint64_t region)
{
    struct disk_log *lc = dl__context(log);
    int r = dl__bitmap_set(lc->dirty, region);
    if (r < 0)
        return r;
    return queue_if_clean_on_disk(lc, region);
}

int dl__disk_clear_region(dl_log *log, uint64_t region)
{
    struct disk_log *lc = dl__context(log);
    int r = dl__bitmap_clear(lc->dirty, region);
    if (r < 0)
        return r;
    return queue_if_dirty_on_disk(lc, region);
}

int dl__disk_set_region_sync(dl_log *log, uint64_t region, int in_sync)
{
    struct disk_log *lc = dl__context(log);
    int r = dl__sync_state_set(&lc->sync, region, in_sync);
    if (r < 0)
        return r;
    return in_sync ? queue_if_dirty_on_disk(lc, region) : queue_if_clean_on_disk(lc, region);
}

/* ---- range calls: one pass over the range (the wrapper checked it) ------- */

int dl__disk_is_clean_range(dl_log *log, uint64_t first, uint64_t count, uint64_t *first_dirty)
{
    struct disk_log *lc = dl__context(log);
    uint64_t found = first; /* a failed log reads every region dirty */
    if (count == 0 || (!atomic_load_explicit(&lc->failed, memory_order_relaxed) &&
                       !dl__bitmap_find_set_in(lc->dirty, first, first + count, &found)))
        return 1;
    if (first_dirty)
        *first_dirty = found;
    return 0;
}

/* Change dirty over the range, then queue each region's unit as the single
 * ops do. Every allocation happens first (the range's units on the queue it
 * may use, then the bits of dirty: all or nothing), so nothing fails after
 * a bit changed. */
static int change_range(struct disk_log *lc, uint64_t first, uint64_t count, int mark)
{
    if (count == 0)
        return 0;
    uint64_t u0 = unit_of(lc, first), u1 = unit_of(lc, first + count - 1);
    int r = dl__bitmap_reserve(mark ? lc->changed : lc->cleaning, u0, u1 - u0 + 1, 1);
    if (r == 0)
        r = mark ? dl__bitmap_set_range(lc->dirty, first, count)
                 : dl__bitmap_clear_range(lc->dirty, first, count);
    for (uint64_t x = first; r == 0 && x < first + count; x++)
        r = mark ? queue_if_clean_on_disk(lc, x) : queue_if_dirty_on_disk(lc, x);
    return r;
}

int dl__disk_mark_range(dl_log *log, uint64_t first, uint64_t count)
{
    return change_range(dl__context(log), first, count, 1);
}

int dl__disk_clear_range(dl_log *log, uint64_t first, uint64_t count)
{
    return change_range(dl__context(log), first, count, 0);
}
