#define _POSIX_C_SOURCE 200809L
/* The disk log's flush: mark rounds (group commit), the log sync, and clean
 * passes around the engine's data flush. The marking ops (disk_mark.c) take
 * no lock; they queue units on "changed" (a bit may turn 1) and "cleaning"
 * (a bit may turn 0). ondisk says, per region, "the device holds 1 or a
 * written 1 awaits its sync".
 *
 * A flush call does three things, in order:
 *   1. a mark round that started after the call arrived (one at a time,
 *      shared: group commit) takes the units on "changed", raises ondisk to
 *      dirty | out_of_sync and writes those units;
 *   2. a log sync that began after the last mark round's write completed
 *      (one at a time, shared; skipped when no round wrote a 1);
 *   3. a clean pass, unless another one is running (then the call does not
 *      wait: the clears stay queued for a later flush) or the call is a
 *      flush for marks only (log_internal.h: the write-intent layer's cold
 *      path, whose clear passes flush on their own). It lowers the clean
 *      bits in ondisk, calls the engine's data flush, then writes the units.
 *      It needs no log sync: a lost clean bit costs a resync at worst.
 * Only a clean pass calls the data flush, and no round or sync waits for a
 * clean pass: a mark never waits behind a data flush (unless its own call
 * runs the clean pass after its mark was made durable).
 *
 * Whatever changes ondisk or writes units holds the write section (one
 * holder at a time: a mark round's scan and write, or one of the two short
 * steps of a clean pass). A unit is always written as ondisk | lowering,
 * where "lowering" holds the bits a clean pass lowered whose data flush has
 * not returned yet; the pass removes them and writes the units only after
 * the data flush. Since those writes are ordered by the write section and
 * each carries the state at its time, the last write of a unit is the
 * newest state. Why no bit is written clean too early and no mark is lost:
 *
 *   - A bit is written 0 only when it is 0 in ondisk and not lowering: it
 *     was lowered by a pass whose data flush has returned (or never raised).
 *     The pass lowered it after the engine's clear, i.e. after the region's
 *     writes completed; so that data flush, which began later, covers them.
 *   - A region re-marked after its bit was lowered sees ondisk 0 and queues
 *     its unit; its flush raises the bit (written 1, also while lowering)
 *     and syncs before the engine may write. A unit written 0 meanwhile
 *     only held data the data flush covered.
 *   - The race between a mark and a pass lowering the same bit is closed
 *     Dekker-style: mark stores dirty then loads ondisk; the pass stores
 *     ondisk = 0 then reloads dirty (seq_cst fences between). Either the
 *     pass sees the mark and restores the bit (it was never written 0), or
 *     the mark sees ondisk 0 and queues the unit.
 *   - A mark that sees ondisk 1 needs no write: the device holds 1 (or a
 *     round wrote it; its flush waits for a round that started after it,
 *     hence after that write, and for a sync after that round's write).
 *   - A mark round clears a unit's "changed" bit and only then reads dirty
 *     (a fence between): a mark it misses re-queues the unit.
 *   - Acknowledgement: a flush returns only after a sync that began after
 *     every mark round written so far had completed its write. So round N+1
 *     may be written while round N's sync runs (a round whose leader found
 *     a sync running gathers flushers until it ends: its write could not be
 *     synced earlier anyway). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk/disk_hooks.h"
#include "disk/disk_internal.h"
#include "log_internal.h"

/* The error of a flush whose own round failed: the cause itself. */
static int failed_now(dl_log *log, struct disk_log *lc)
{
    dl_log_errorf(log, "flush of disk log %s failed: %s: %s (the log now treats every region "
                       "as dirty)", lc->path, lc->fail_what, dl_strerror(lc->fail_err));
    return lc->fail_err;
}

/* A failure found without gc_lock, reported under it (dl__disk_fail keeps
 * the first cause; concurrent reports must not interleave). */
struct failure {
    int letter, err;
    char what[160];
};

static int note_failure(struct failure *f, int letter, int err, const char *what)
{
    f->letter = letter;
    f->err = err;
    snprintf(f->what, sizeof f->what, "%s", what);
    return err;
}

/* ---- unit lists ----------------------------------------------------------- */

/* Append unit (units are added in increasing order); its words, zeroed, or
 * NULL without memory. */
static uint64_t *list_add(struct disk_log *lc, struct unit_list *l, uint64_t unit)
{
    size_t wpu = words_per_unit(lc);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *u = realloc(l->units, cap * sizeof *u);
        if (!u)
            return NULL;
        l->units = u;
        uint64_t *w = realloc(l->words, cap * wpu * sizeof *w);
        if (!w)
            return NULL;
        l->words = w;
        l->cap = cap;
    }
    l->units[l->n] = unit;
    uint64_t *w = l->words + l->n++ * wpu;
    memset(w, 0, wpu * sizeof *w);
    return w;
}

static const uint64_t *list_find(const struct disk_log *lc, const struct unit_list *l,
                                 uint64_t unit)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->units[mid] < unit)
            lo = mid + 1;
        else if (l->units[mid] > unit)
            hi = mid;
        else
            return l->words + mid * words_per_unit(lc);
    }
    return NULL;
}

static void list_free(struct unit_list *l)
{
    free(l->units);
    free(l->words);
    memset(l, 0, sizeof *l);
}

void dl__disk_flush_free(struct disk_log *lc)
{
    list_free(&lc->lowering);
}

/* ---- the write section (see the top comment); gc_lock held ---------------- */

static void enter_write_section(struct disk_log *lc)
{
    while (lc->writing)
        pthread_cond_wait(&lc->gc_cond, &lc->gc_lock);
    lc->writing = 1;
}

static void leave_write_section(struct disk_log *lc)
{
    lc->writing = 0;
    pthread_cond_broadcast(&lc->gc_cond);
}

/* ---- writing units ---------------------------------------------------------- */

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

/* Before writing: is the device still as long as the log? Someone
 * truncating the file under the open log would otherwise make every later
 * write land in a file that no longer holds the log (one fstat). */
static int check_device_size(struct disk_log *lc, struct failure *f)
{
    uint64_t have = 0;
    uint32_t lbs;
    int r = lc->io->size(lc->io, &have, &lbs);
    if (r < 0)
        return note_failure(f, 'D', r, "getting the size of the log device");
    if (have >= lc->min_device_bytes)
        return 0;
    char what[160];
    snprintf(what, sizeof what, "the log device was truncated under the open log (%" PRIu64
             " bytes left, the log needs %" PRIu64 ")", have, lc->min_device_bytes);
    return note_failure(f, 'D', -EIO, what);
}

/* Write the listed units with their words (adjacent units in one write).
 * Holds the write section. */
static int write_units(struct disk_log *lc, const struct unit_list *l, struct failure *f)
{
    if (l->n == 0)
        return 0;
    int r = check_device_size(lc, f);
    if (r < 0)
        return r;
    size_t wpu = words_per_unit(lc);
    uint8_t *buf = malloc(l->n * lc->unit_bytes);
    if (!buf)
        return note_failure(f, 'F', -ENOMEM, "out of memory while flushing");
    for (size_t i = 0; r == 0 && i < l->n;) {
        size_t j = i + 1;
        while (j < l->n && l->units[j] == l->units[j - 1] + 1)
            j++;
        /* units i..j-1 are adjacent: one write */
        for (size_t k = i; k < j; k++)
            dl__disk_encode_words(lc, lc->region_count, l->units[k] * wpu, wpu,
                                  l->words + k * wpu, buf + (k - i) * lc->unit_bytes);
        r = dl__disk_write_full(lc->io, buf, (j - i) * lc->unit_bytes, unit_offset(lc, l->units[i]));
        i = j;
    }
    free(buf);
    return r < 0 ? note_failure(f, 'D', r, "writing the bitmap") : 0;
}

/* ---- mark rounds -------------------------------------------------------------- */

/* Raise one unit's ondisk bits to dirty | out_of_sync; *out = the words to
 * write (ondisk | lowering). 1 if some bit turned 1, 0 if none, or -errno. */
static int raise_unit(struct disk_log *lc, uint64_t unit, uint64_t *out)
{
    size_t wpu = words_per_unit(lc);
    uint64_t fw = unit * wpu;
    uint64_t d[512], o[512]; /* wpu <= 512 */
    dl__bitmap_read_words(lc->dirty, fw, wpu, d);
    dl__bitmap_read_words(lc->sync.out_of_sync, fw, wpu, o);
    dl__bitmap_read_words(lc->ondisk, fw, wpu, out);
    const uint64_t *low = list_find(lc, &lc->lowering, unit);
    int raised = 0;
    for (size_t i = 0; i < wpu; i++) {
        uint64_t up = (d[i] | o[i]) & ~out[i];
        if (up && set_bits_of(lc->ondisk, fw + i, up, 1) < 0)
            return -ENOMEM;
        out[i] |= up | (low ? low[i] : 0);
        raised |= up != 0;
    }
    return raised;
}

/* One mark round (the caller holds the write section): take the units on
 * "changed", raise them, write those that changed. 1 if it wrote, 0 if
 * there was nothing to write, or -errno (*f says why). */
static int mark_round(struct disk_log *lc, struct failure *f)
{
    struct unit_list rd = {0};
    int r = 0;
    uint64_t u = 0, found;
    while (u < lc->nunits && dl__bitmap_find_next_set(lc->changed, u, &found)) {
        dl__bitmap_clear(lc->changed, found);
        /* Pairs with the fence in mark: clear "changed", then read dirty. */
        atomic_thread_fence(memory_order_seq_cst);
        uint64_t *w = list_add(lc, &rd, found);
        r = w ? raise_unit(lc, found, w) : -ENOMEM;
        if (r < 0) {
            note_failure(f, 'F', r, "out of memory while flushing");
            break;
        }
        if (r == 0)
            rd.n--; /* nothing turned 1: not written */
        u = found + 1;
    }
    if (r >= 0)
        r = write_units(lc, &rd, f);
    int wrote = rd.n > 0;
    list_free(&rd);
    return r < 0 ? r : wrote;
}

/* ---- clean passes ---------------------------------------------------------- */

/* Lower one unit's ondisk bits that are neither dirty nor out of sync;
 * *lowered = the bits lowered. 1 if some, 0 if none, or -errno. */
static int lower_unit(struct disk_log *lc, uint64_t unit, uint64_t *lowered)
{
    size_t wpu = words_per_unit(lc);
    uint64_t fw = unit * wpu;
    uint64_t d[512], o[512], old[512]; /* wpu <= 512 */
    dl__bitmap_read_words(lc->dirty, fw, wpu, d);
    dl__bitmap_read_words(lc->sync.out_of_sync, fw, wpu, o);
    dl__bitmap_read_words(lc->ondisk, fw, wpu, old);
    int any = 0;
    for (size_t i = 0; i < wpu; i++) {
        uint64_t down = old[i] & ~(d[i] | o[i]);
        if (!down)
            continue;
        lowered[i] = down; /* until the reload: kept 1 in writes even on failure */
        if (set_bits_of(lc->ondisk, fw + i, down, 0) < 0)
            return -ENOMEM;
        /* A mark may have seen the old ondisk 1 and skipped queueing the
         * unit: reload after lowering, and keep what came back (Dekker). */
        atomic_thread_fence(memory_order_seq_cst);
        uint64_t d2, o2;
        dl__bitmap_read_words(lc->dirty, fw + i, 1, &d2);
        dl__bitmap_read_words(lc->sync.out_of_sync, fw + i, 1, &o2);
        uint64_t again = (d2 | o2) & down;
        if (again && set_bits_of(lc->ondisk, fw + i, again, 1) < 0)
            return -ENOMEM;
        lowered[i] = down & ~again;
        any |= lowered[i] != 0;
    }
    return any;
}

/* Step 1 (write section held): take the units on "cleaning" into
 * lc->lowering with the bits lowered. 0 or -errno. */
static int lower_queued(struct disk_log *lc, struct failure *f)
{
    uint64_t u = 0, found;
    while (u < lc->nunits && dl__bitmap_find_next_set(lc->cleaning, u, &found)) {
        dl__bitmap_clear(lc->cleaning, found);
        /* Pairs with clear: it changes dirty, then queues the unit. */
        atomic_thread_fence(memory_order_seq_cst);
        uint64_t *w = list_add(lc, &lc->lowering, found);
        int r = w ? lower_unit(lc, found, w) : -ENOMEM;
        if (r < 0)
            return note_failure(f, 'F', r, "out of memory while flushing");
        if (r == 0)
            lc->lowering.n--;
        u = found + 1;
    }
    return 0;
}

/* Step 3 (write section held): the data flush returned; write the lowered
 * units as ondisk now says, and forget them. */
static int write_lowered(struct disk_log *lc, struct failure *f)
{
    struct unit_list *l = &lc->lowering;
    size_t wpu = words_per_unit(lc);
    for (size_t i = 0; i < l->n; i++)
        dl__bitmap_read_words(lc->ondisk, l->units[i] * wpu, wpu, l->words + i * wpu);
    int r = write_units(lc, l, f);
    list_free(l);
    return r;
}

/* A clean pass (see the top comment). Called with gc_lock held, returns
 * with it held; runs without it. */
static void clean_pass(dl_log *log, struct disk_log *lc)
{
    struct failure f = {0};
    enter_write_section(lc);
    pthread_mutex_unlock(&lc->gc_lock);
    int r = lower_queued(lc, &f);
    int any = lc->lowering.n > 0;
    pthread_mutex_lock(&lc->gc_lock);
    /* A failure is reported before any mark round could write: the log
     * fails, and the lowered bits stay in lowering (never written 0). */
    if (r < 0)
        dl__disk_fail(log, lc, f.letter, f.err, f.what);
    leave_write_section(lc);
    if (r < 0 || !any)
        return;
    pthread_mutex_unlock(&lc->gc_lock);
    /* The data devices must be stable before any bit turns clean. */
    r = dl_log_call_flush_callback(log);
    pthread_mutex_lock(&lc->gc_lock);
    if (r < 0) {
        dl__disk_fail(log, lc, 'F', r, "the data-device flush callback failed");
        return;
    }
    enter_write_section(lc);
    pthread_mutex_unlock(&lc->gc_lock);
    r = atomic_load(&lc->failed) ? 0 : write_lowered(lc, &f);
    pthread_mutex_lock(&lc->gc_lock);
    if (r < 0)
        dl__disk_fail(log, lc, f.letter, f.err, f.what);
    leave_write_section(lc);
}

/* ---- group commit ----------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long a leader gathers: half the last sync, at most 2 ms; it stops
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

/* Wait (gc_lock held) for a round, a sync or a write section to end. */
static void wait_as_waiter(struct disk_log *lc)
{
    lc->waiters++;
    pthread_cond_wait(&lc->gc_cond, &lc->gc_lock);
    lc->waiters--;
}

/* Lead one mark round (gc_lock held, as on return). */
static void lead_round(dl_log *log, struct disk_log *lc)
{
    lc->round_running = 1;
    /* The round's write could only be synced after the running sync:
     * gather flushers until it ends, for free; then as usual (the flushers
     * that sync released are about to come back). */
    while (lc->sync_running && !atomic_load(&lc->failed))
        wait_as_waiter(lc);
    gather(lc);
    uint64_t mine = ++lc->rounds_started;
    lc->last_round_callers = lc->waiters + 1;
    enter_write_section(lc);
    pthread_mutex_unlock(&lc->gc_lock);
    struct failure f = {0};
    int wrote = atomic_load(&lc->failed) ? 0 : mark_round(lc, &f);
    pthread_mutex_lock(&lc->gc_lock);
    if (wrote < 0) /* before anybody else may write */
        dl__disk_fail(log, lc, f.letter, f.err, f.what);
    else if (wrote)
        lc->rounds_written++;
    leave_write_section(lc);
    lc->round_running = 0;
    lc->rounds_done = mine;
    pthread_cond_broadcast(&lc->gc_cond);
}

/* Run one log sync covering every mark round written so far (gc_lock held,
 * as on return). */
static void run_sync(dl_log *log, struct disk_log *lc)
{
    lc->sync_running = 1;
    uint64_t covers = lc->rounds_written;
    pthread_mutex_unlock(&lc->gc_lock);
    uint64_t t0 = now_ns();
    int r = lc->io->sync(lc->io);
    uint64_t took = now_ns() - t0;
    pthread_mutex_lock(&lc->gc_lock);
    lc->sync_running = 0;
    lc->last_round_ns = took;
    if (r < 0)
        dl__disk_fail(log, lc, 'F', r, "syncing the log device");
    else if (covers > lc->rounds_synced)
        lc->rounds_synced = covers;
    pthread_cond_broadcast(&lc->gc_cond);
}

/* A flush needs a mark round that starts after it arrived, then a sync that
 * covers it, then a clean pass if one is queued and none runs (see the top
 * comment). Whoever finds no round running gathers the others (see gather)
 * and runs the round for everybody waiting; the sync likewise. */
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
        if (lc->round_running)
            wait_as_waiter(lc);
        else
            lead_round(log, lc);
    }
    uint64_t target = lc->rounds_written;
    while (lc->rounds_synced < target && !atomic_load(&lc->failed)) {
        if (lc->sync_running)
            wait_as_waiter(lc);
        else
            run_sync(log, lc);
    }
    uint64_t queued;
    /* A flush for marks only leaves the clean work to the flush the
     * write-intent layer runs after its clears (log_internal.h). */
    if (!atomic_load(&lc->failed) && !lc->clean_running && !dl__log_flushing_for_marks() &&
        dl__bitmap_find_next_set(lc->cleaning, 0, &queued)) {
        lc->clean_running = 1;
        clean_pass(log, lc);
        lc->clean_running = 0;
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
