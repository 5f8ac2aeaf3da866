/* Lazy clearing: a region whose writes have all ended stays marked until a
 * clear pass finds it idle for its hot period (hot_periods whole periods, or
 * longer when rh_heat.c says so; a period = the time between two passes).
 * Its clear then reaches the log, and the log's flush runs the engine's
 * data-device flush before it persists any clean bit
 * (dl_log_call_flush_callback): every write that ended before our
 * dl_log_clear_region() call is therefore on stable storage on every copy
 * before the log may say "clean". A region written again before its pass
 * costs nothing: no mark, no clear, no flush (the hot set).
 *
 * The cap: regions idle past hot_periods but kept for their longer adaptive
 * hot period ("kept hot") are at most rh->hot_cap after every pass. A pass
 * first counts them by how long they have been idle (a histogram of
 * power-of-two buckets: bounded memory), then clears the longest idle of
 * them beyond the cap along with the regions whose hot period is over. */
#include "rh/rh_internal.h"

enum verdict { KEEP, CLEAR, KEPT_HOT };

static enum verdict judge(const struct dl_rh *rh, const struct rh_entry *e, uint64_t w,
                          uint64_t gen, int all_idle, uint64_t *idle_for)
{
    /* NOSYNC is never cleared before recovery (the kernel once turned a
     * NOSYNC region CLEAN: silent corruption). Not-yet-durable marks belong
     * to a writer in the middle of its begin; pinned regions to a cold
     * writer. */
    if (e->cold_users ||
        (w & (RH_F_DURABLE | RH_F_NOSYNC | RH_F_RECOVERING | RH_F_WAITERS)) != RH_F_DURABLE ||
        rh_pending(w) != 0)
        return KEEP;
    if (all_idle)
        return CLEAR;
    uint64_t idle = (gen - rh_stamp(w)) & RH_STAMP_MASK; /* periods started since */
    if (idle <= rh->hot_periods)
        return KEEP;
    if (idle > dl__rh_hot_period(rh, e))
        return CLEAR;
    *idle_for = idle;
    return KEPT_HOT;
}

#define IDLE_BUCKETS 24 /* idle_for < 2^24: bucket = floor(log2(idle_for)) */

static unsigned bucket_of(uint64_t idle_for) { return 63u - (unsigned)__builtin_clzll(idle_for); }

/* What a pass does beyond clearing the regions whose hot period is over:
 * clear the kept-hot regions in buckets above `bucket`, and `quota` of
 * those in `bucket` (no cap excess: bucket = IDLE_BUCKETS). */
struct pass {
    uint64_t gen;
    int all_idle;
    unsigned bucket;
    uint64_t quota;
    uint64_t counts[IDLE_BUCKETS]; /* kept-hot regions per bucket (counting visit) */
    uint64_t kept, cleared;
};

static void clear_one(struct dl_rh *rh, struct rh_leaf *l, unsigned i, uint64_t w, struct pass *p)
{
    struct rh_entry *e = &l->e[i];
    uint64_t region = l->base + i;
    /* Take DURABLE away first: from now on a writer goes to the cold path,
     * which needs our lock, so it will mark the region again only after
     * our clear reached the log. */
    if (!atomic_compare_exchange_strong_explicit(&e->state, &w, w & ~(RH_F_MARKED | RH_F_DURABLE),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return; /* a writer got in: it is hot after all */
    if (dl_log_clear_region(rh->log, region) < 0) {
        atomic_fetch_or_explicit(&e->state, RH_F_MARKED | RH_F_DURABLE, memory_order_relaxed);
        return; /* the log is unchanged: still dirty there */
    }
    rh->stats.clears++;
    rh->clears_unflushed++;
    dl__rh_note_marked(rh, l, region, 0);
    dl__rh_heat_on_clear(e, p->gen);
    p->cleared++;
}

/* Visit every marked region; count (clearing nothing) or clear. */
static void visit(struct dl_rh *rh, struct pass *p, int counting)
{
    for (struct rh_leaf *l = rh->leaves; l; l = l->next) {
        if (l->nmarked == 0)
            continue;
        for (unsigned wi = 0; wi < RH_LEAF / 64; wi++) {
            uint64_t bits = l->marked[wi]; /* a copy: clearing changes the original */
            while (bits) {
                unsigned i = wi * 64 + (unsigned)__builtin_ctzll(bits);
                bits &= bits - 1;
                uint64_t w = atomic_load_explicit(&l->e[i].state, memory_order_acquire);
                uint64_t idle_for = 0;
                enum verdict v = judge(rh, &l->e[i], w, p->gen, p->all_idle, &idle_for);
                if (counting) {
                    if (v == KEPT_HOT)
                        p->counts[bucket_of(idle_for)]++;
                    continue;
                }
                /* Kept hot by the last pass and written since (a region
                 * only leaves KEPT_HOT for KEEP by a write): a cold begin
                 * the hot set saved (rh_heat.c's back-off counts them). */
                if (l->e[i].kept && v == KEEP)
                    rh->window_saved++;
                l->e[i].kept = 0;
                if (v == KEPT_HOT) {
                    unsigned b = bucket_of(idle_for);
                    if (b > p->bucket || (b == p->bucket && p->quota > 0)) {
                        if (b == p->bucket)
                            p->quota--;
                        uint64_t before = p->cleared;
                        clear_one(rh, l, i, w, p);
                        rh->stats.cap_clears += p->cleared - before;
                    } else {
                        p->kept++;
                        l->e[i].kept = 1;
                    }
                } else if (v == CLEAR) {
                    clear_one(rh, l, i, w, p);
                }
            }
        }
    }
}

/* From the counts, which kept-hot regions the cap makes the pass clear. */
static void apply_cap(const struct dl_rh *rh, struct pass *p)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < IDLE_BUCKETS; b++)
        total += p->counts[b];
    p->bucket = IDLE_BUCKETS;
    p->quota = 0;
    uint64_t cap = dl__rh_hot_cap(rh);
    if (total <= cap)
        return;
    uint64_t excess = total - cap, above = 0;
    for (unsigned b = IDLE_BUCKETS; b-- > 0;) {
        if (above + p->counts[b] >= excess) {
            p->bucket = b;
            p->quota = excess - above;
            return;
        }
        above += p->counts[b];
    }
}

uint64_t dl__rh_clear_pass(struct dl_rh *rh, int all_idle)
{
    dl__rh_update_backoff(rh);
    struct pass p = {.gen = atomic_fetch_add_explicit(&rh->gen, 1, memory_order_relaxed) + 1,
                     .all_idle = all_idle};
    rh->stats.clear_passes++;
    p.bucket = IDLE_BUCKETS; /* nothing to clear for the cap... */
    if (!all_idle && rh->dirty_regions > dl__rh_hot_cap(rh)) {
        /* ...unless more regions are marked than the cap allows kept-hot.
         * Under the lock nothing becomes kept-hot between the two visits
         * (only writers move, and a region they touch is no longer idle). */
        visit(rh, &p, 1);
        apply_cap(rh, &p);
    }
    visit(rh, &p, 0);
    rh->stats.hot_kept = p.kept;
    return p.cleared;
}
