#define _POSIX_C_SOURCE 200809L
/* The disk log's "changed" bitmap: both sides of its protocol.
 *
 * Hot paths take no lock. mark: set dirty; if ondisk is 0, set changed.
 * clear / set_region_sync: change the bit; if the on-disk bit could now
 * change, set changed. A flush round (one at a time, group commit) takes the
 * changed units, computes the wanted bits (dirty | out_of_sync), updates
 * ondisk, calls the engine's flush callback if any bit turns clean, writes
 * the units that differ (adjacent ones in one pwrite) and syncs the device
 * only if some bit turned dirty.
 *
 * The race between a mark and a round turning the same bit clean is closed
 * Dekker-style: mark stores dirty then loads ondisk; the round stores ondisk
 * = 0 then reloads dirty (seq_cst fences between). Either the round sees the
 * mark and keeps the bit, or the mark sees ondisk 0 and queues the unit. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "disk/disk_hooks.h"
#include "disk/disk_internal.h"
#include "log_internal.h"

/* ---- the marking side: queue units whose on-disk bits may change -------- */

/* The on-disk bit of region may need to become 1: queue its unit unless the
 * device already says (or a running round is writing) "may differ". */
static int queue_if_clean_on_disk(struct disk_log *lc, uint64_t region)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (dl__bitmap_test(lc->ondisk, region))
        return 0;
    int r = dl__bitmap_set(lc->changed, unit_of(lc, region));
    return r < 0 ? r : 0;
}

/* The on-disk bit of region may become 0: queue its unit if it is 1. */
static int queue_if_dirty_on_disk(struct disk_log *lc, uint64_t region)
{
    if (!dl__bitmap_test(lc->ondisk, region) || dl__bitmap_test(lc->dirty, region) ||
        dl__bitmap_test(lc->sync.out_of_sync, region))
        return 0;
    int r = dl__bitmap_set(lc->changed, unit_of(lc, region));
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
 * ops do. Every allocation happens first (the range's units in changed,
 * then the bits of dirty: all or nothing), so nothing fails after a bit
 * changed. */
static int change_range(struct disk_log *lc, uint64_t first, uint64_t count, int mark)
{
    if (count == 0)
        return 0;
    uint64_t u0 = unit_of(lc, first), u1 = unit_of(lc, first + count - 1);
    int r = dl__bitmap_reserve(lc->changed, u0, u1 - u0 + 1, 1);
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

/* The error of a flush whose own round failed: the cause itself. */
static int failed_now(dl_log *log, struct disk_log *lc)
{
    dl_log_errorf(log, "flush of disk log %s failed: %s: %s (the log now treats every region "
                       "as dirty)", lc->path, lc->fail_what, dl_strerror(lc->fail_err));
    return lc->fail_err;
}

/* ---- flush: one round, and group commit ------------------------------------ */

static int set_bits_of(struct bitmap *bm, uint64_t word, uint64_t bits, int value)
{
    while (bits) {
        uint64_t b = word * 64 + (uint64_t)__builtin_ctzll(bits);
        int r = value ? dl__bitmap_set(bm, b) : dl__bitmap_clear(bm, b);
        if (r < 0)
            return r;
        bits &= bits - 1;
    }
    return 0;
}

struct round {
    uint64_t *units; /* changed units whose bits differ from the device */
    uint64_t *words; /* their new words, words_per_unit each */
    size_t n, cap;
};

static int round_add(struct disk_log *lc, struct round *rd, uint64_t unit)
{
    size_t wpu = words_per_unit(lc);
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 16;
        uint64_t *u = realloc(rd->units, cap * sizeof *u);
        if (!u)
            return -ENOMEM;
        rd->units = u;
        uint64_t *w = realloc(rd->words, cap * wpu * sizeof *w);
        if (!w)
            return -ENOMEM;
        rd->words = w;
        rd->cap = cap;
    }
    rd->units[rd->n++] = unit;
    return 0;
}

/* Compute one unit's new words and update ondisk. Sets *dirtied / *cleaned
 * when some bit turns dirty / clean on disk; 0 if the unit is unchanged. */
static int compute_unit(struct disk_log *lc, uint64_t unit, uint64_t *want, int *dirtied,
                        int *cleaned)
{
    size_t wpu = words_per_unit(lc);
    uint64_t fw = unit * wpu;
    uint64_t d[512], o[512], old[512]; /* wpu <= 512 */
    dl__bitmap_read_words(lc->dirty, fw, wpu, d);
    dl__bitmap_read_words(lc->sync.out_of_sync, fw, wpu, o);
    dl__bitmap_read_words(lc->ondisk, fw, wpu, old);
    int differs = 0;
    for (size_t i = 0; i < wpu; i++) {
        want[i] = d[i] | o[i];
        uint64_t up = want[i] & ~old[i], down = old[i] & ~want[i];
        if (!(up | down))
            continue;
        if (set_bits_of(lc->ondisk, fw + i, up, 1) < 0 || set_bits_of(lc->ondisk, fw + i, down, 0) < 0)
            return -ENOMEM;
        if (down) {
            /* A mark may have seen the old ondisk 1 and skipped queueing the
             * unit: reload after clearing, and keep what came back. */
            atomic_thread_fence(memory_order_seq_cst);
            uint64_t again;
            uint64_t d2, o2;
            dl__bitmap_read_words(lc->dirty, fw + i, 1, &d2);
            dl__bitmap_read_words(lc->sync.out_of_sync, fw + i, 1, &o2);
            again = (d2 | o2) & down;
            if (again) {
                if (set_bits_of(lc->ondisk, fw + i, again, 1) < 0)
                    return -ENOMEM;
                want[i] |= again;
                down &= ~again;
            }
        }
        *dirtied |= up != 0;
        *cleaned |= down != 0;
        differs |= (up | down) != 0;
    }
    return differs;
}

static int write_round(struct disk_log *lc, const struct round *rd)
{
    size_t wpu = words_per_unit(lc);
    uint8_t *buf = malloc(rd->n * lc->unit_bytes);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    for (size_t i = 0; r == 0 && i < rd->n;) {
        size_t j = i + 1;
        while (j < rd->n && rd->units[j] == rd->units[j - 1] + 1)
            j++;
        /* units i..j-1 are adjacent: one write */
        for (size_t k = i; k < j; k++)
            dl__disk_encode_words(lc, lc->region_count, rd->units[k] * wpu, wpu, rd->words + k * wpu,
                         buf + (k - i) * lc->unit_bytes);
        r = dl__disk_write_full(lc->io, buf, (j - i) * lc->unit_bytes, unit_offset(lc, rd->units[i]));
        i = j;
    }
    free(buf);
    return r;
}

/* Before a round writes: is the device still as long as the log? Someone
 * truncating the file under the open log would otherwise make every later
 * write land in a file that no longer holds the log (one fstat). */
static int check_device_size(struct disk_log *lc, uint64_t *have)
{
    uint32_t lbs;
    int r = lc->io->size(lc->io, have, &lbs);
    if (r < 0)
        return r;
    return *have < lc->min_device_bytes ? -EIO : 0;
}

static int flush_round(dl_log *log, struct disk_log *lc)
{
    struct round rd = {0};
    size_t wpu = words_per_unit(lc);
    int dirtied = 0, cleaned = 0, r = 0;
    uint64_t u = 0, found;
    while (u < lc->nunits && dl__bitmap_find_next_set(lc->changed, u, &found)) {
        dl__bitmap_clear(lc->changed, found);
        /* Pairs with the fence in mark: clear "changed", then read dirty. */
        atomic_thread_fence(memory_order_seq_cst);
        r = round_add(lc, &rd, found);
        if (r < 0)
            break;
        int differs = compute_unit(lc, found, rd.words + (rd.n - 1) * wpu, &dirtied, &cleaned);
        if (differs < 0) {
            r = differs;
            break;
        }
        if (!differs)
            rd.n--;
        u = found + 1;
    }
    if (r < 0) {
        r = dl__disk_fail(log, lc, 'F', r, "out of memory while flushing");
    } else if (rd.n > 0) {
        /* The data devices must be stable before any bit turns clean. */
        uint64_t have = 0;
        int size_err = check_device_size(lc, &have);
        if (size_err == -EIO) {
            char what[160];
            snprintf(what, sizeof what, "the log device was truncated under the open log (%" PRIu64
                     " bytes left, the log needs %" PRIu64 ")", have, lc->min_device_bytes);
            r = dl__disk_fail(log, lc, 'D', -EIO, what);
        } else if (size_err < 0) {
            r = dl__disk_fail(log, lc, 'D', size_err, "getting the size of the log device");
        }
        if (r == 0 && cleaned && (r = dl_log_call_flush_callback(log)) < 0)
            r = dl__disk_fail(log, lc, 'F', r, "the data-device flush callback failed");
        if (r == 0 && (r = write_round(lc, &rd)) < 0)
            r = dl__disk_fail(log, lc, 'D', r, "writing the bitmap");
        /* Only dirty bits need the device sync; a lost clean bit costs an
         * extra resync at worst. */
        if (r == 0 && dirtied && (r = lc->io->sync(lc->io)) < 0)
            r = dl__disk_fail(log, lc, 'F', r, "syncing the log device");
    }
    free(rd.units);
    free(rd.words);
    return r;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long a leader gathers: half the last round, at most 2 ms; it stops
 * early once no flush arrived for 50 us. */
#define GATHER_MAX_NS 2000000u
#define GATHER_QUIET_NS 50000u

/* Under contention (the last round served several flushes), the threads
 * that round released are about to flush again: wait a moment so that one
 * round serves them and the ones already waiting, instead of alternating
 * two half-full rounds (the batching of Linux's jbd2). A lone flusher never
 * waits. Called with gc_lock held. */
static void gather(struct disk_log *lc)
{
    if (lc->last_round_callers < 2)
        return;
    uint64_t start = now_ns(), window = lc->last_round_ns / 2;
    uint64_t deadline = start + (window < GATHER_MAX_NS ? window : GATHER_MAX_NS);
    unsigned seen = lc->arrivals;
    for (uint64_t t = start; t < deadline; t = now_ns()) {
        uint64_t wake = t + GATHER_QUIET_NS < deadline ? t + GATHER_QUIET_NS : deadline;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        int rc = pthread_cond_timedwait(&lc->gather_cond, &lc->gc_lock, &ts);
        if (rc == ETIMEDOUT && lc->arrivals == seen)
            break; /* quiet: nobody else is coming */
        seen = lc->arrivals;
    }
}

/* Group commit: a flush needs one round that starts after it arrived. If a
 * round is running, wait for it and then share the next one; whoever finds
 * no round running gathers the others (see gather) and runs the round for
 * everybody waiting. */
int dl__disk_flush(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    pthread_mutex_lock(&lc->gc_lock);
    int failed_before = atomic_load(&lc->failed) != 0;
    lc->arrivals++;
    pthread_cond_signal(&lc->gather_cond);
    /* A leader still gathering has not started its round: this flush is
     * covered by it, since the round's snapshot comes after this arrival. */
    uint64_t need = lc->rounds_started + 1;
    while (lc->rounds_done < need && !atomic_load(&lc->failed)) {
        if (lc->round_running) {
            lc->waiters++;
            pthread_cond_wait(&lc->gc_cond, &lc->gc_lock);
            lc->waiters--;
            continue;
        }
        lc->round_running = 1;
        gather(lc);
        uint64_t mine = ++lc->rounds_started;
        lc->last_round_callers = lc->waiters + 1;
        pthread_mutex_unlock(&lc->gc_lock);
        uint64_t t0 = now_ns();
        flush_round(log, lc);
        uint64_t took = now_ns() - t0;
        pthread_mutex_lock(&lc->gc_lock);
        lc->last_round_ns = took;
        lc->round_running = 0;
        lc->rounds_done = mine;
        pthread_cond_broadcast(&lc->gc_cond);
    }
    int failed = atomic_load(&lc->failed) != 0;
    pthread_mutex_unlock(&lc->gc_lock);
    if (!failed)
        return 0;
    /* The flush whose round failed says why; later ones that it failed. */
    return failed_before ? dl__disk_failed_error(log, lc) : failed_now(log, lc);
}

unsigned dl__disk_flush_waiters(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    pthread_mutex_lock(&lc->gc_lock);
    unsigned n = lc->waiters;
    pthread_mutex_unlock(&lc->gc_lock);
    return n;
}
