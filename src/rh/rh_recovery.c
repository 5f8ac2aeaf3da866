/* Recovery (resync) through the write-intent layer:
 *   next      the log hands out a region not in sync; we flag it RECOVERING,
 *             so new writes to it wait (or get -EBUSY);
 *   wait_idle the resync thread sleeps until writes admitted before that
 *             have ended (the last ender wakes it);
 *   end       the log records the result; RECOVERING ends; writers wake.
 * All three run under rh->lock, like every change of a region's flags. */
#include <errno.h>
#include <string.h>

#include "rh/rh_internal.h"

int dl_rh_recovery_next(dl_rh *rh, uint64_t *region)
{
    if (!rh || !region)
        return -EINVAL;
    pthread_mutex_lock(&rh->lock);
    uint64_t r;
    int found = dl_log_get_resync_work(rh->log, &r);
    if (found > 0) {
        struct rh_entry *e = dl__rh_lookup_alloc(rh, r, NULL);
        if (!e) {
            dl_log_set_region_sync(rh->log, r, 0); /* hand it back, still out of sync */
            found = -ENOMEM;
        } else {
            if (!(atomic_load_explicit(&e->state, memory_order_relaxed) & RH_F_KNOWN))
                rh->stats.touched_regions++;
            /* The log handed it out, so it is not in sync. */
            atomic_fetch_or_explicit(&e->state, RH_F_KNOWN | RH_F_NOSYNC | RH_F_RECOVERING,
                                     memory_order_relaxed);
            *region = r;
        }
    }
    pthread_mutex_unlock(&rh->lock);
    return found;
}

static struct rh_entry *recovering_entry(dl_rh *rh, uint64_t region)
{
    if (region >= rh->region_count)
        return NULL;
    struct rh_entry *e = dl__rh_lookup(rh, region);
    if (!e || !(atomic_load_explicit(&e->state, memory_order_relaxed) & RH_F_RECOVERING))
        return NULL;
    return e;
}

int dl_rh_recovery_wait_idle(dl_rh *rh, uint64_t region)
{
    if (!rh)
        return -EINVAL;
    int err = 0;
    pthread_mutex_lock(&rh->lock);
    struct rh_entry *e = recovering_entry(rh, region);
    if (!e)
        err = -EINVAL;
    while (e) {
        uint64_t w = atomic_load_explicit(&e->state, memory_order_acquire);
        if (rh_pending(w) == 0)
            break;
        /* Set WAITERS in the same CAS that re-checks pending, under the
         * lock the last ender takes before broadcasting: no lost wake-up. */
        if (!(w & RH_F_WAITERS) &&
            !atomic_compare_exchange_strong_explicit(&e->state, &w, w | RH_F_WAITERS,
                                                     memory_order_acquire,
                                                     memory_order_relaxed))
            continue;
        if (rh->hooks.on_drain_wait)
            rh->hooks.on_drain_wait(rh->hooks.arg, region);
        pthread_cond_wait(&rh->region_cond, &rh->lock);
    }
    pthread_mutex_unlock(&rh->lock);
    return err;
}

int dl_rh_recovery_end(dl_rh *rh, uint64_t region, int success)
{
    if (!rh)
        return -EINVAL;
    pthread_mutex_lock(&rh->lock);
    struct rh_entry *e = recovering_entry(rh, region);
    if (!e) {
        pthread_mutex_unlock(&rh->lock);
        return -EINVAL;
    }
    int err = dl_log_set_region_sync(rh->log, region, success != 0);
    int in_sync = success && err == 0;
    uint64_t gen = atomic_load_explicit(&rh->gen, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&e->state, memory_order_relaxed), nw;
    do {
        nw = w & ~(RH_F_RECOVERING | (in_sync ? RH_F_NOSYNC : 0));
        /* Recovered and idle: a candidate for the next clear passes. */
        if (in_sync && (w & RH_F_DURABLE) && rh_pending(w) == 0)
            nw = rh_with_stamp(nw, gen);
    } while (!atomic_compare_exchange_weak_explicit(&e->state, &w, nw, memory_order_release,
                                                    memory_order_relaxed));
    /* Recovered but never marked by us (it was dirty from before): clear it
     * in the log too, or the next start would resync it again. Under the
     * lock, so a writer's mark of it can only come after this clear. */
    if (in_sync && !(w & RH_F_MARKED) && dl_log_clear_region(rh->log, region) == 0) {
        rh->stats.clears++;
        rh->clears_unflushed++;
    }
    pthread_cond_broadcast(&rh->region_cond);
    pthread_mutex_unlock(&rh->lock);
    return err;
}

void dl__rh_set_test_hooks(dl_rh *rh, const struct dl_rh_test_hooks *hooks)
{
    pthread_mutex_lock(&rh->lock);
    if (hooks)
        rh->hooks = *hooks;
    else
        memset(&rh->hooks, 0, sizeof rh->hooks);
    /* The clock may have changed: the load window starts again on it. */
    rh->window_start_ns = dl__rh_now_ns(rh);
    rh->window_wait_ns = rh->window_waits = 0;
    pthread_mutex_unlock(&rh->lock);
}
