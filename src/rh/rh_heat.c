/* The adaptive hot set: how long an idle region stays dirty before a clear
 * pass clears it, so that nobody has to tune hot_periods.
 *
 * A clear is worth it only if the region stays idle long enough: a region
 * written again soon after its clear costs a cold begin (a mark and a wait
 * for a log round) that keeping it dirty would have saved. Two measures,
 * both kept under rh->lock and costing nothing on the hot path:
 *
 *  Heat, per region (in rh_entry's former padding). Its hot period is
 *  hot_periods << heat. When a cold begin marks a region again `gap` periods
 *  after the pass that cleared it: gap < its hot period means keeping it
 *  twice as long would have kept it hot, so heat + 1; gap >= twice its hot
 *  period means it came back late, so heat goes down until the gap fits
 *  (to 0 for a region that was idle long). A region never cleared has no
 *  heat.
 *
 *  Back-off, for the whole layer. Every cold begin adds the time it waited
 *  for its log flush to a window; at a clear pass, once the window is at
 *  least RH_WINDOW_NS long with RH_WINDOW_WAITS waits in it, waited time /
 *  window length is the mean number of writes stalled on the log (Little's
 *  law: cold-begin rate × the wait for a log round). At 1/8 or more the log
 *  rounds are the bottleneck: every hot period doubles once more (the level
 *  goes up by one per window, up to RH_MAX_SHIFT); under 1/32 it goes down
 *  by one. A handful of cold begins is never load (RH_WINDOW_WAITS).
 *  Once the hot set works, cold begins become rare, and that alone must not
 *  look like "no load": a write that finds its region kept hot (idle past
 *  hot_periods, kept by the last pass) is a cold begin saved, and it counts
 *  as the wait it saved (the smoothed wait of recent cold begins). The level
 *  comes down only when the waits saved are under 1/32 as well.
 *
 * Bounds: a region's hot period is at most hot_periods << RH_MAX_SHIFT
 * (and the stamp limit), so an idle region is cleared within that many
 * periods; and the clear pass (rh_clear.c) keeps at most dl__rh_hot_cap()
 * regions idle past hot_periods, clearing the longest idle first. That is
 * hot_cap when the caller gave one: the crash cost of the longer hot set is
 * then bounded by hot_cap more regions to resync than with the fixed hot
 * set (every region idle past hot_periods and not cleared is one of them).
 * The default cap (half the regions) is lifted while the back-off is up:
 * when cold begins are what limits the writers, the hot set grows to what
 * the workload revisits, as md's write-intent bitmap keeps bits set under
 * load; once the load is gone the level comes down and the cap returns.
 *
 * Nothing here touches the crash rule: a region with writes in flight, not
 * yet durable, NOSYNC, recovering or pinned is never cleared (rh_clear.c). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "rh/rh_internal.h"

#define RH_WINDOW_NS 100000000ull /* 100 ms */
#define RH_WINDOW_WAITS 32
#define RH_LOAD_HIGH 8 /* back off at waited time >= window / 8 */
#define RH_LOAD_LOW 32 /* recover under window / 32 */

uint64_t dl__rh_now_ns(struct dl_rh *rh)
{
    if (rh->hooks.now_ns)
        return rh->hooks.now_ns(rh->hooks.arg);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int adaptive(const struct dl_rh *rh)
{
    return rh->hot_periods && !(rh->flags & DL_RH_FIXED_HOT_SET);
}

/* hot_periods << shift, kept within what 24-bit idle stamps can compare. */
static uint64_t shifted(const struct dl_rh *rh, unsigned shift)
{
    uint64_t p = (uint64_t)rh->hot_periods << (shift < RH_MAX_SHIFT ? shift : RH_MAX_SHIFT);
    return p < RH_MAX_HOT_PERIODS ? p : RH_MAX_HOT_PERIODS;
}

uint64_t dl__rh_hot_period(const struct dl_rh *rh, const struct rh_entry *e)
{
    if (!adaptive(rh))
        return rh->hot_periods;
    return shifted(rh, e->heat + rh->backoff);
}

void dl__rh_heat_on_mark(struct dl_rh *rh, struct rh_entry *e)
{
    if (!adaptive(rh) || !e->was_cleared)
        return;
    uint64_t gen = atomic_load_explicit(&rh->gen, memory_order_relaxed);
    uint64_t gap = (gen - e->cleared_at) & RH_STAMP_MASK;
    if (gap < shifted(rh, e->heat)) {
        if (e->heat < RH_MAX_SHIFT)
            e->heat++;
        return;
    }
    while (e->heat && gap >= 2 * shifted(rh, e->heat))
        e->heat--;
}

void dl__rh_heat_on_clear(struct rh_entry *e, uint64_t gen)
{
    e->cleared_at = (unsigned)(gen & RH_STAMP_MASK);
    e->was_cleared = 1;
}

void dl__rh_note_cold_wait(struct dl_rh *rh, uint64_t wait_ns)
{
    rh->window_wait_ns += wait_ns;
    rh->window_waits++;
    rh->stats.cold_wait_ns += wait_ns;
    /* 7/8 old + 1/8 new; the first wait sets it. */
    rh->mean_wait_ns = rh->mean_wait_ns ? rh->mean_wait_ns - rh->mean_wait_ns / 8 + wait_ns / 8
                                        : wait_ns;
}

uint64_t dl__rh_hot_cap(const struct dl_rh *rh)
{
    return rh->hot_cap_explicit || rh->backoff == 0 ? rh->hot_cap : UINT64_MAX;
}

void dl__rh_update_backoff(struct dl_rh *rh)
{
    uint64_t now = dl__rh_now_ns(rh);
    uint64_t len = now - rh->window_start_ns;
    if (now < rh->window_start_ns) {
        rh->window_start_ns = now; /* a clock that went back: start afresh */
        rh->window_wait_ns = rh->window_waits = rh->window_saved = 0;
        return;
    }
    if (len < RH_WINDOW_NS)
        return; /* too short to say anything: keep collecting */
    int busy = rh->window_waits >= RH_WINDOW_WAITS;
    /* The waits the kept-hot regions saved, as if they had been cold. */
    int saving = rh->window_saved >= RH_WINDOW_WAITS &&
                 rh->window_saved * rh->mean_wait_ns >= len / RH_LOAD_LOW;
    /* waited / len >= 1/HIGH, without dividing (the waits may overlap, so
     * waited can exceed len). */
    if (busy && rh->window_wait_ns >= len / RH_LOAD_HIGH) {
        if (rh->backoff < RH_MAX_SHIFT)
            rh->backoff++;
    } else if (rh->backoff && !saving && (!busy || rh->window_wait_ns < len / RH_LOAD_LOW)) {
        rh->backoff--;
    }
    rh->stats.backoff = rh->backoff;
    rh->window_start_ns = now;
    rh->window_wait_ns = rh->window_waits = rh->window_saved = 0;
}
