/* Lazy clearing: a region whose writes have all ended stays marked until a
 * clear pass finds it idle for hot_periods whole periods (a period = the
 * time between two passes). Its clear then reaches the log, and the log's
 * flush runs the engine's data-device flush before it persists any clean bit
 * (dl_log_call_flush_callback): every write that ended before our
 * dl_log_clear_region() call is therefore on stable storage on every copy
 * before the log may say "clean". A region written again before its pass
 * costs nothing: no mark, no clear, no flush (the hot set). */
#include "rh/rh_internal.h"

static int eligible(const struct dl_rh *rh, uint64_t w, uint64_t gen, int all_idle)
{
    /* NOSYNC is never cleared before recovery (the kernel once turned a
     * NOSYNC region CLEAN: silent corruption). Not-yet-durable marks belong
     * to a writer in the middle of its begin. */
    if ((w & (RH_F_DURABLE | RH_F_NOSYNC | RH_F_RECOVERING | RH_F_WAITERS)) != RH_F_DURABLE ||
        rh_pending(w) != 0)
        return 0;
    if (all_idle)
        return 1;
    uint64_t idle_for = (gen - rh_stamp(w)) & RH_STAMP_MASK; /* periods started since */
    return idle_for > rh->hot_periods;
}

uint64_t dl__rh_clear_pass(struct dl_rh *rh, int all_idle)
{
    uint64_t gen = atomic_fetch_add_explicit(&rh->gen, 1, memory_order_relaxed) + 1;
    uint64_t cleared = 0;
    rh->stats.clear_passes++;
    for (struct rh_leaf *l = rh->leaves; l; l = l->next) {
        if (l->nmarked == 0)
            continue;
        for (unsigned wi = 0; wi < RH_LEAF / 64; wi++) {
            uint64_t bits = l->marked[wi]; /* a copy: we change the original */
            while (bits) {
                unsigned i = wi * 64 + (unsigned)__builtin_ctzll(bits);
                bits &= bits - 1;
                struct rh_entry *e = &l->e[i];
                uint64_t region = l->base + i;
                uint64_t w = atomic_load_explicit(&e->state, memory_order_acquire);
                if (e->cold_users || !eligible(rh, w, gen, all_idle))
                    continue;
                /* Take DURABLE away first: from now on a writer goes to the
                 * cold path, which needs our lock, so it will mark the
                 * region again only after our clear reached the log. */
                if (!atomic_compare_exchange_strong_explicit(
                        &e->state, &w, w & ~(RH_F_MARKED | RH_F_DURABLE),
                        memory_order_acq_rel, memory_order_relaxed))
                    continue; /* a writer got in: it is hot after all */
                if (dl_log_clear_region(rh->log, region) < 0) {
                    atomic_fetch_or_explicit(&e->state, RH_F_MARKED | RH_F_DURABLE,
                                             memory_order_relaxed);
                    continue; /* the log is unchanged: still dirty there */
                }
                rh->stats.clears++;
                rh->clears_unflushed++;
                dl__rh_note_marked(rh, l, region, 0);
                cleared++;
            }
        }
    }
    return cleared;
}
