/* The order of a disk log's flush while the engine's data flush is slow
 * (disk_flush.c): with a clean pass blocked inside the data-flush callback,
 *   - a mark (a cold region, in the same write unit as the bits being
 *     cleaned) is flushed and acknowledged without waiting for it, and its
 *     bit was synced before the acknowledgement;
 *   - no bit being cleaned is written 0 before the callback returned, not
 *     even by that mark's write of the shared unit;
 *   - a region re-marked during the data flush stays dirty on disk, and the
 *     others are written clean after it.
 * Driven through the public API on the recording memory device. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/check.h"
#include "log_internal.h" /* dl__log_flush_for_marks */
#include "memio.h"

TEST_MAIN_DEFINITIONS

#define BITMAP_OFFSET 8192 /* native format: the bitmap's first byte */
#define WAIT_SECONDS 10    /* bounded waits: a stuck flush fails the test */

/* The data-flush callback: blocks until the test opens the gate. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, open, returned;
    struct memio *m;
    int bit_seen_inside; /* the on-disk bit of `watch` inside the callback */
    uint64_t watch;
};

static int disk_bit(struct memio *m, uint64_t region)
{
    pthread_mutex_lock(&m->lock);
    int b = (m->buf[BITMAP_OFFSET + region / 8] >> (region % 8)) & 1;
    pthread_mutex_unlock(&m->lock);
    return b;
}

static int gate_callback(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->entered++;
    g->bit_seen_inside = disk_bit(g->m, g->watch);
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->returned++;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

static struct timespec deadline_in(int seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += seconds;
    return t;
}

/* Wait (bounded) until *flag != 0; flag is guarded by g->lock. */
static int wait_flag(struct gate *g, const int *flag)
{
    struct timespec until = deadline_in(WAIT_SECONDS);
    pthread_mutex_lock(&g->lock);
    int rc = 0;
    while (!*flag && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cond, &g->lock, &until);
    int ok = *flag != 0;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

static void open_gate(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* A flushing thread: its calls, its result, and when it finished. */
struct flusher {
    dl_log *log;
    struct gate *g;
    uint64_t mark[2];
    unsigned nmark;
    int result;
    int done; /* under g->lock */
    size_t position_at_return; /* memio records when the flush returned */
    struct memio *m;
};

static void *flusher_main(void *arg)
{
    struct flusher *f = arg;
    int r = 0;
    for (unsigned i = 0; r == 0 && i < f->nmark; i++)
        r = dl_log_mark_region(f->log, f->mark[i]);
    if (r == 0)
        r = dl_log_flush(f->log);
    size_t pos = memio_position(f->m);
    pthread_mutex_lock(&f->g->lock);
    f->result = r;
    f->position_at_return = pos;
    f->done = 1;
    pthread_cond_broadcast(&f->g->cond);
    pthread_mutex_unlock(&f->g->lock);
    return NULL;
}

/* Is there, among the first `end` records, a write that set region's bit
 * followed by a sync? */
static int synced_before(struct memio *m, uint64_t region, size_t end)
{
    uint64_t byte = BITMAP_OFFSET + region / 8;
    pthread_mutex_lock(&m->lock);
    int written = 0, synced = 0;
    for (size_t i = 0; i < end && i < m->nrecs; i++) {
        const struct memio_rec *r = &m->recs[i];
        if (r->op == MEMIO_WRITE && r->off <= byte && byte < r->off + r->len &&
            ((r->data[byte - r->off] >> (region % 8)) & 1))
            written = 1;
        else if (r->op == MEMIO_SYNC && written)
            synced = 1;
    }
    pthread_mutex_unlock(&m->lock);
    return synced;
}

static void test_mark_does_not_wait_for_data_flush(void)
{
    /* Regions 5, 6, 7 share the first write unit; 40000 is in the second. */
    const uint64_t cleaned = 5, cold = 6, remarked = 7, other = 40000;
    struct memio m;
    memio_init(&m, 4096, 0);
    dl_log *log = NULL;
    CHECK_EQ(memio_open_words(&m, "x 2 nosync", (1u << 20) * 2, &log), 0);
    if (!log) {
        memio_destroy(&m);
        return;
    }
    struct gate g = {.m = &m, .watch = cleaned};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    CHECK_EQ(dl_log_set_flush_callback(log, gate_callback, &g), 0);

    /* cleaned and remarked dirty on disk, then cleared: a clean pass. */
    CHECK_EQ(dl_log_mark_region(log, cleaned), 0);
    CHECK_EQ(dl_log_mark_region(log, remarked), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(disk_bit(&m, cleaned), 1);
    CHECK_EQ(dl_log_clear_region(log, cleaned), 0);
    CHECK_EQ(dl_log_clear_region(log, remarked), 0);
    m.record = 1;

    struct flusher clean = {.log = log, .g = &g, .m = &m};
    pthread_t tc, tm;
    CHECK_EQ(pthread_create(&tc, NULL, flusher_main, &clean), 0);
    CHECK(wait_flag(&g, &g.entered)); /* the data flush is running, blocked */

    /* Meanwhile: a cold mark in the same unit, a re-mark of a region being
     * cleaned, and a cold mark elsewhere; their flush must return. */
    struct flusher mark = {.log = log, .g = &g, .m = &m, .mark = {cold, remarked}, .nmark = 2};
    CHECK_EQ(pthread_create(&tm, NULL, flusher_main, &mark), 0);
    int acked = wait_flag(&g, &mark.done);
    CHECK(acked); /* fails if the mark waited behind the data flush */
    pthread_mutex_lock(&g.lock);
    CHECK_EQ(g.returned, 0); /* ... which is still blocked */
    pthread_mutex_unlock(&g.lock);
    if (acked) {
        CHECK_EQ(mark.result, 0);
        CHECK(synced_before(&m, cold, mark.position_at_return));
        CHECK(synced_before(&m, remarked, mark.position_at_return));
    }
    /* No clean bit before the data flush returned, though the unit holding
     * it was written for the marks. */
    CHECK_EQ(g.bit_seen_inside, 1);
    CHECK_EQ(disk_bit(&m, cleaned), 1);
    CHECK_EQ(disk_bit(&m, cold), 1);
    CHECK_EQ(disk_bit(&m, remarked), 1);

    /* A flush of another cold mark while the pass is still blocked. */
    struct flusher more = {.log = log, .g = &g, .m = &m, .mark = {other}, .nmark = 1};
    pthread_t to;
    CHECK_EQ(pthread_create(&to, NULL, flusher_main, &more), 0);
    CHECK(wait_flag(&g, &more.done));
    CHECK_EQ(disk_bit(&m, other), 1);
    CHECK_EQ(disk_bit(&m, cleaned), 1);

    open_gate(&g);
    pthread_join(tc, NULL);
    pthread_join(tm, NULL);
    pthread_join(to, NULL);
    CHECK_EQ(clean.result, 0);
    CHECK_EQ(more.result, 0);
    CHECK_EQ(g.entered, 1);
    /* After the data flush: the cleared region is written clean, the
     * re-marked one stayed dirty. */
    CHECK_EQ(disk_bit(&m, cleaned), 0);
    CHECK_EQ(disk_bit(&m, remarked), 1);
    CHECK_EQ(disk_bit(&m, cold), 1);
    CHECK_EQ(dl_log_is_clean(log, remarked), 0);
    dl_log_destroy(log);

    /* What the device holds, read back by a new log. */
    log = NULL;
    CHECK_EQ(memio_open_words(&m, "x 2", (1u << 20) * 2, &log), 0);
    if (log) {
        CHECK_EQ(dl_log_in_sync(log, cleaned, 1), 1);
        CHECK_EQ(dl_log_in_sync(log, remarked, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, cold, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, other, 1), 0);
        dl_log_destroy(log);
    }
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
    memio_destroy(&m);
}

/* A single thread sees the old order: clear + flush runs the data flush
 * and writes the clean bit before it returns; a mark + clear of another
 * region in one flush makes the mark durable before the data flush. */
static int syncs_at_callback;
static int count_callback(void *arg)
{
    struct memio *m = arg;
    pthread_mutex_lock(&m->lock);
    syncs_at_callback = (int)m->syncs;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* The common start of the single-thread tests: a log on m with the counting
 * callback, region 1 dirty on disk, then region 1 cleared and region 2
 * marked (neither flushed yet). NULL if the log could not be opened. */
static dl_log *open_clear_1_mark_2(struct memio *m)
{
    memio_init(m, 4096, 0);
    dl_log *log = NULL;
    CHECK_EQ(memio_open_words(m, "x 2 nosync", (1u << 20) * 2, &log), 0);
    if (!log) {
        memio_destroy(m);
        return NULL;
    }
    CHECK_EQ(dl_log_set_flush_callback(log, count_callback, m), 0);
    CHECK_EQ(dl_log_mark_region(log, 1), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    memio_reset_counters(m);
    syncs_at_callback = -1;
    CHECK_EQ(dl_log_clear_region(log, 1), 0);
    CHECK_EQ(dl_log_mark_region(log, 2), 0);
    return log;
}

static void test_single_thread_order(void)
{
    struct memio m;
    dl_log *log = open_clear_1_mark_2(&m);
    if (!log)
        return;
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(syncs_at_callback, 1); /* the mark was synced before the data flush */
    CHECK_EQ(disk_bit(&m, 1), 0);
    CHECK_EQ(disk_bit(&m, 2), 1);
    CHECK_U64(m.syncs, 1);
    dl_log_destroy(log);
    memio_destroy(&m);
}

/* A flush for marks only (the write-intent layer's cold path) makes the
 * mark durable and leaves the clean work, with its data flush, to the next
 * plain flush. */
static void test_flush_for_marks(void)
{
    struct memio m;
    dl_log *log = open_clear_1_mark_2(&m);
    if (!log)
        return;
    CHECK_EQ(dl__log_flush_for_marks(log), 0);
    CHECK_EQ(syncs_at_callback, -1); /* no data flush */
    CHECK_EQ(disk_bit(&m, 2), 1);    /* the mark is on disk */
    CHECK_EQ(disk_bit(&m, 1), 1);    /* the clear waits */
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK(syncs_at_callback >= 0); /* the plain flush ran the data flush */
    CHECK_EQ(disk_bit(&m, 1), 0);
    CHECK_EQ(disk_bit(&m, 2), 1);
    dl_log_destroy(log);
    memio_destroy(&m);
}

int main(void)
{
    test_mark_does_not_wait_for_data_flush();
    test_single_thread_order();
    test_flush_for_marks();
    return test_exit_status("test_disk_flushpipe");
}
