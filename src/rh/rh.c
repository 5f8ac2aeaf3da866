/* The write-intent layer's lifetime, queries and counters. The write path is
 * in rh_write.c, group commit and dl_rh_flush in rh_commit.c, the lazy clear
 * pass in rh_clear.c, recovery in rh_recovery.c, the sparse region table in
 * rh_table.c. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rh/rh_internal.h"
#include "versioned.h"

#define KNOWN_FLAGS (DL_RH_BUSY_ON_RECOVERY | DL_RH_EAGER_CLEAR | DL_RH_FIXED_HOT_SET)

int dl_rh_create(dl_log *log, const struct dl_rh_options *opts, dl_rh **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!log)
        return -EINVAL;
    struct dl_rh_options o;
    memset(&o, 0, sizeof o);
    /* An older caller's smaller struct: the missing fields stay 0. */
    if (opts && dl__import_versioned(&o, sizeof o, opts, DL_RH_OPTIONS_SIZE_V1) < 0)
        return -EINVAL;
    if ((o.flags & ~KNOWN_FLAGS) || o.hot_periods > RH_MAX_HOT_PERIODS)
        return -EINVAL;

    dl_rh *rh = calloc(1, sizeof *rh);
    if (!rh)
        return -ENOMEM;
    rh->log = log;
    rh->region_size = dl_log_get_region_size(log);
    rh->region_count = dl_log_get_region_count(log);
    rh->region_bytes = (uint64_t)rh->region_size * DL_SECTOR_SIZE;
    rh->flags = o.flags;
    rh->hot_periods = (o.flags & DL_RH_EAGER_CLEAR) ? 0 : o.hot_periods ? o.hot_periods : 1;
    rh->clear_threshold = o.clear_threshold;
    /* Default: half the log's regions (rounded up). */
    rh->hot_cap = o.hot_cap ? o.hot_cap : rh->region_count / 2 + rh->region_count % 2;
    rh->hot_cap_explicit = o.hot_cap != 0;
    atomic_init(&rh->gen, 0);
    rh->stats.struct_size = sizeof rh->stats;
    if (rh->region_size == 0 || rh->region_count == 0) {
        free(rh);
        return -EINVAL;
    }
    if (pthread_mutex_init(&rh->lock, NULL) != 0) {
        free(rh);
        return -ENOMEM;
    }
    if (pthread_cond_init(&rh->flush_cond, NULL) != 0) {
        pthread_mutex_destroy(&rh->lock);
        free(rh);
        return -ENOMEM;
    }
    if (pthread_cond_init(&rh->region_cond, NULL) != 0) {
        pthread_cond_destroy(&rh->flush_cond);
        pthread_mutex_destroy(&rh->lock);
        free(rh);
        return -ENOMEM;
    }
    rh->window_start_ns = dl__rh_now_ns(rh);
    int err = dl__rh_table_init(rh);
    if (err < 0) {
        dl_rh_destroy(rh);
        return err;
    }
    *out = rh;
    return 0;
}

void dl_rh_destroy(dl_rh *rh)
{
    if (!rh)
        return;
    dl__rh_table_free(rh);
    pthread_cond_destroy(&rh->region_cond);
    pthread_cond_destroy(&rh->flush_cond);
    pthread_mutex_destroy(&rh->lock);
    free(rh);
}

dl_log *dl_rh_get_log(dl_rh *rh) { return rh ? rh->log : NULL; }

int dl_rh_region_state(dl_rh *rh, uint64_t region)
{
    if (!rh)
        return -EINVAL;
    if (region >= rh->region_count)
        return -ERANGE;
    struct rh_entry *e = dl__rh_lookup(rh, region);
    uint64_t w = e ? atomic_load_explicit(&e->state, memory_order_acquire) : 0;
    if (!(w & RH_F_KNOWN)) {
        int in = dl_log_in_sync(rh->log, region, 1);
        return in < 0 ? in : in ? DL_RH_CLEAN : DL_RH_NOSYNC;
    }
    if (w & RH_F_RECOVERING)
        return DL_RH_RECOVERING;
    if (w & RH_F_NOSYNC)
        return DL_RH_NOSYNC;
    return (w & RH_F_MARKED) ? DL_RH_DIRTY : DL_RH_CLEAN;
}

int dl_rh_range_in_sync(dl_rh *rh, uint64_t offset, uint64_t length)
{
    if (!rh)
        return -EINVAL;
    if (length == 0)
        return 1;
    uint64_t sectors = dl_log_get_target_sectors(rh->log);
    uint64_t total = sectors > UINT64_MAX / DL_SECTOR_SIZE ? UINT64_MAX : sectors * DL_SECTOR_SIZE;
    if (length > total || offset > total - length)
        return -ERANGE;
    uint64_t last = (offset + length - 1) / rh->region_bytes;
    for (uint64_t r = offset / rh->region_bytes; r <= last; r++) {
        int s = dl_rh_region_state(rh, r);
        if (s < 0)
            return s;
        if (s == DL_RH_NOSYNC || s == DL_RH_RECOVERING)
            return 0;
    }
    return 1;
}

int dl_rh_get_stats(dl_rh *rh, struct dl_rh_stats *st)
{
    if (!rh || !st)
        return -EINVAL;
    pthread_mutex_lock(&rh->lock);
    struct dl_rh_stats s = rh->stats;
    s.dirty_regions = rh->dirty_regions;
    pthread_mutex_unlock(&rh->lock);
    return dl__export_versioned(st, &s, sizeof s, DL_RH_STATS_SIZE_V1);
}
