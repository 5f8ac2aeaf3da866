/* The write path: dl_rh_begin_write / dl_rh_end_write.
 *
 * Hot path (every region of the range already durably dirty and not
 * recovering): one CAS per region incrementing its pending count. No lock,
 * no log call, no allocation.
 * Cold path: under rh->lock, mark what is not marked, wait for one group
 * commit (rh_commit.c), then admit. A writer never holds admitted regions
 * while it sleeps on a recovering one (it gives back what it took on the hot
 * path first), so two resync threads and two writers cannot deadlock. */
#include <errno.h>

#include "rh/rh_internal.h"

/* Hot path: admit a write to one region if it is durably dirty. */
static int try_admit(struct dl_rh *rh, uint64_t region)
{
    struct rh_entry *e = dl__rh_lookup(rh, region);
    if (!e)
        return 0;
    uint64_t w = atomic_load_explicit(&e->state, memory_order_acquire);
    for (;;) {
        if ((w & (RH_F_DURABLE | RH_F_RECOVERING)) != RH_F_DURABLE ||
            rh_pending(w) == RH_PENDING_MASK)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&e->state, &w, w + 1, memory_order_acquire,
                                                  memory_order_acquire))
            return 1;
    }
}

/* Drop one pending write; stamp the region idle when it was the last, and
 * say (1) whether someone waiting for it to drain must be woken. -EINVAL if
 * nothing was pending. `add` is ORed in (RH_F_NOSYNC for a failed write). */
static int release(struct dl_rh *rh, struct rh_entry *e, uint64_t add)
{
    uint64_t w = atomic_load_explicit(&e->state, memory_order_relaxed);
    for (;;) {
        if (rh_pending(w) == 0)
            return -EINVAL;
        uint64_t nw = (w - 1) | add;
        int wake = 0;
        if (rh_pending(w) == 1) {
            nw = rh_with_stamp(nw, atomic_load_explicit(&rh->gen, memory_order_relaxed));
            if (nw & RH_F_WAITERS) {
                nw &= ~RH_F_WAITERS;
                wake = 1;
            }
        }
        /* Release: the engine's writes to the copies happen before anyone
         * who sees the region idle (the clear pass) acts on it. */
        if (atomic_compare_exchange_weak_explicit(&e->state, &w, nw, memory_order_release,
                                                  memory_order_relaxed))
            return wake;
    }
}

void dl__rh_wake_drained(struct dl_rh *rh)
{
    pthread_mutex_lock(&rh->lock);
    pthread_cond_broadcast(&rh->region_cond);
    pthread_mutex_unlock(&rh->lock);
}

int dl__rh_entry_init(struct dl_rh *rh, uint64_t region, struct rh_entry *e)
{
    if (atomic_load_explicit(&e->state, memory_order_relaxed) & RH_F_KNOWN)
        return 0;
    int in = dl_log_in_sync(rh->log, region, 1);
    if (in < 0)
        return in; /* cache nothing: the next caller asks again */
    atomic_fetch_or_explicit(&e->state, RH_F_KNOWN | (in ? 0 : RH_F_NOSYNC),
                             memory_order_relaxed);
    rh->stats.touched_regions++;
    return 0;
}

/* Cold path, under the lock. Loops until every region of the range is
 * durably dirty and not recovering, then admits the write to all of them. */
static int begin_pinned(struct dl_rh *rh, uint64_t first, uint64_t last, unsigned flags)
{
    int busy = (flags & DL_RH_NOWAIT) || (rh->flags & DL_RH_BUSY_ON_RECOVERY);
again:
    for (uint64_t r = first; r <= last; r++) {
        int err = dl__rh_entry_init(rh, r, dl__rh_lookup(rh, r));
        if (err < 0)
            return err;
    }
    for (uint64_t r = first; r <= last; r++) {
        struct rh_entry *e = dl__rh_lookup(rh, r);
        if (atomic_load_explicit(&e->state, memory_order_relaxed) & RH_F_RECOVERING) {
            if (busy)
                return -EBUSY;
            rh->stats.recovery_waits++;
            if (rh->hooks.on_recovery_wait)
                rh->hooks.on_recovery_wait(rh->hooks.arg, r);
            pthread_cond_wait(&rh->region_cond, &rh->lock);
            goto again;
        }
    }
    uint64_t target = 0;
    for (uint64_t r = first; r <= last; r++) {
        struct rh_leaf *leaf;
        struct rh_entry *e = dl__rh_lookup_alloc(rh, r, &leaf);
        uint64_t w = atomic_load_explicit(&e->state, memory_order_relaxed);
        if (!(w & RH_F_MARKED)) {
            int err = dl_log_mark_region(rh->log, r);
            if (err < 0)
                return err;
            rh->stats.marks++;
            dl__rh_heat_on_mark(rh, e);
            e->ticket = rh_next_flush(rh);
            atomic_fetch_or_explicit(&e->state, RH_F_MARKED, memory_order_relaxed);
            dl__rh_note_marked(rh, leaf, r, 1);
        } else if (!(w & RH_F_DURABLE)) {
            if (e->ticket <= rh->flush_last_ok) {
                /* A flush that started after the mark succeeded. */
                atomic_fetch_or_explicit(&e->state, RH_F_DURABLE, memory_order_release);
                continue;
            }
            if (e->ticket <= rh->flush_completed)
                e->ticket = rh_next_flush(rh); /* its flushes failed: the next one */
        } else {
            continue;
        }
        if (e->ticket > target)
            target = e->ticket;
    }
    if (target) {
        uint64_t t0 = dl__rh_now_ns(rh);
        int err = dl__rh_commit_wait(rh, target);
        uint64_t t1 = dl__rh_now_ns(rh);
        dl__rh_note_cold_wait(rh, t1 > t0 ? t1 - t0 : 0); /* the load measure, rh_heat.c */
        if (err < 0)
            return err;
        goto again; /* things may have moved while we slept: check afresh */
    }
    for (uint64_t r = first; r <= last; r++)
        if (rh_pending(atomic_load_explicit(&dl__rh_lookup(rh, r)->state, memory_order_relaxed)) ==
            RH_PENDING_MASK)
            return -EAGAIN;
    /* Enders may CAS concurrently; a fetch_add composes with them. */
    for (uint64_t r = first; r <= last; r++)
        atomic_fetch_add_explicit(&dl__rh_lookup(rh, r)->state, 1, memory_order_acquire);
    return 0;
}

/* Pin the range's entries (allocating them) for the clear passes, work,
 * unpin. */
static int begin_locked(struct dl_rh *rh, uint64_t first, uint64_t last, unsigned flags)
{
    rh->stats.cold_begins++;
    uint64_t r = first;
    int err = 0;
    for (; r <= last; r++) {
        struct rh_entry *e = dl__rh_lookup_alloc(rh, r, NULL);
        if (!e) {
            err = -ENOMEM;
            break;
        }
        e->cold_users++;
    }
    if (err == 0)
        err = begin_pinned(rh, first, last, flags);
    for (uint64_t i = first; i < r; i++)
        dl__rh_lookup(rh, i)->cold_users--;
    return err;
}

static int begin_regions(struct dl_rh *rh, uint64_t first, uint64_t last, unsigned flags)
{
    uint64_t r = first;
    while (r <= last && try_admit(rh, r))
        r++;
    if (r > last)
        return 0;
    /* Give back what the hot path took before we may sleep. */
    int wake = 0;
    for (uint64_t i = first; i < r; i++)
        wake |= release(rh, dl__rh_lookup(rh, i), 0) > 0;
    pthread_mutex_lock(&rh->lock);
    if (wake)
        pthread_cond_broadcast(&rh->region_cond);
    int err = begin_locked(rh, first, last, flags);
    pthread_mutex_unlock(&rh->lock);
    return err;
}

static int end_regions(struct dl_rh *rh, uint64_t first, uint64_t last, int result)
{
    int err = 0, wake = 0;
    if (result >= 0) {
        for (uint64_t r = first; r <= last; r++) {
            struct rh_entry *e = dl__rh_lookup(rh, r);
            int w = e ? release(rh, e, 0) : -EINVAL;
            if (w < 0)
                err = w;
            else
                wake |= w;
        }
        if (wake)
            dl__rh_wake_drained(rh);
        return err;
    }
    /* A failed write: the copies may differ. Under the lock so the log's
     * sync bit and our NOSYNC flag change together with respect to
     * recovery (which also runs under it). The region stays marked. */
    pthread_mutex_lock(&rh->lock);
    for (uint64_t r = first; r <= last; r++) {
        struct rh_entry *e = dl__rh_lookup(rh, r);
        if (!e || rh_pending(atomic_load(&e->state)) == 0) {
            err = -EINVAL;
            continue;
        }
        int s = dl_log_set_region_sync(rh->log, r, 0);
        if (s < 0 && err == 0)
            err = s;
        int w = release(rh, e, RH_F_NOSYNC);
        if (w > 0)
            wake = 1;
    }
    if (wake)
        pthread_cond_broadcast(&rh->region_cond);
    pthread_mutex_unlock(&rh->lock);
    return err;
}

enum range_unit { IN_BYTES, IN_SECTORS };

/* What the four entry points below share: a NULL handle is -EINVAL; an empty
 * range is nothing to do (0); else [start, start + count), in bytes or
 * sectors, becomes the inclusive region range [*first, *last] (1), or
 * -ERANGE if it runs past the end of the target. */
static int to_regions(struct dl_rh *rh, enum range_unit unit, uint64_t start, uint64_t count,
                      uint64_t *first, uint64_t *last)
{
    if (!rh)
        return -EINVAL;
    if (count == 0)
        return 0;
    uint64_t sectors = dl_log_get_target_sectors(rh->log), total = sectors;
    uint64_t per_region = rh->region_size;
    if (unit == IN_BYTES) {
        total = sectors > UINT64_MAX / DL_SECTOR_SIZE ? UINT64_MAX : sectors * DL_SECTOR_SIZE;
        per_region = rh->region_bytes;
    }
    if (count > total || start > total - count)
        return -ERANGE;
    *first = start / per_region;
    *last = (start + count - 1) / per_region;
    return 1;
}

int dl_rh_begin_write(dl_rh *rh, uint64_t offset, uint64_t length, unsigned flags)
{
    uint64_t first, last;
    int r = to_regions(rh, IN_BYTES, offset, length, &first, &last);
    return r <= 0 ? r : begin_regions(rh, first, last, flags);
}

int dl_rh_end_write(dl_rh *rh, uint64_t offset, uint64_t length, int result)
{
    uint64_t first, last;
    int r = to_regions(rh, IN_BYTES, offset, length, &first, &last);
    return r <= 0 ? r : end_regions(rh, first, last, result);
}

int dl_rh_begin_sectors(dl_rh *rh, uint64_t sector, uint64_t nr_sectors, unsigned flags)
{
    uint64_t first, last;
    int r = to_regions(rh, IN_SECTORS, sector, nr_sectors, &first, &last);
    return r <= 0 ? r : begin_regions(rh, first, last, flags);
}

int dl_rh_end_sectors(dl_rh *rh, uint64_t sector, uint64_t nr_sectors, int result)
{
    uint64_t first, last;
    int r = to_regions(rh, IN_SECTORS, sector, nr_sectors, &first, &last);
    return r <= 0 ? r : end_regions(rh, first, last, result);
}
