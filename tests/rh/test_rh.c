/* Tests of the write-intent layer (src/rh) over the counting wrapper log
 * (counting_log.h), which models what a persistent log has on stable storage
 * and counts every log call. No sleeps: threads meet on condition variables
 * and on the layer's test hooks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/check.h"
#include "counting_log.h"
#include "rh/rh_hooks.h"

TEST_MAIN_DEFINITIONS

#define RS 8u                        /* region size in sectors */
#define RB ((uint64_t)RS * 512u)     /* region size in bytes */

struct fixture {
    dl_log *log;
    struct counting_log *cl;
    dl_rh *rh;
};

static void setup(struct fixture *f, uint64_t regions, const char *sync, uint32_t flags,
                  uint32_t hot_periods, uint32_t threshold)
{
    char rs[16];
    snprintf(rs, sizeof rs, "%u", RS);
    const char *argv[] = {rs, sync};
    int r = dl_log_create("rh_count", regions * RS, sync ? 2 : 1, argv, &f->log);
    CHECK_EQ(r, 0);
    if (r < 0)
        exit(1);
    f->cl = counting_log_of(f->log);
    struct dl_rh_options o = {.struct_size = sizeof o, .flags = flags,
                              .hot_periods = hot_periods, .clear_threshold = threshold};
    r = dl_rh_create(f->log, &o, &f->rh);
    CHECK_EQ(r, 0);
    if (r < 0)
        exit(1);
}

static void teardown(struct fixture *f)
{
    dl_rh_destroy(f->rh);
    dl_log_destroy(f->log);
}

static uint64_t flushes(struct fixture *f) { return atomic_load(&f->cl->flushes); }
static int durable(struct fixture *f, uint64_t r) { return atomic_load(&f->cl->durable[r]); }

static struct dl_rh_stats stats(dl_rh *rh)
{
    struct dl_rh_stats s = {.struct_size = sizeof s};
    CHECK_EQ(dl_rh_get_stats(rh, &s), 0);
    return s;
}

static _Atomic int data_flushes;
static int count_data_flush(void *arg)
{
    (void)arg;
    atomic_fetch_add(&data_flushes, 1);
    return 0;
}

/* ---- single thread: marks, hot path, lazy clear, hot set, errors ---- */
static void test_basic(void)
{
    struct fixture f;
    setup(&f, 64, "nosync", 0, 0, 0);
    dl_log_set_flush_callback(f.log, count_data_flush, NULL);
    atomic_store(&data_flushes, 0);

    CHECK_EQ(dl_rh_begin_write(f.rh, 0, RB, 0), 0);
    CHECK_U64(atomic_load(&f.cl->marks), 1);
    CHECK_U64(flushes(&f), 1);
    CHECK_EQ(durable(&f, 0), 1); /* durable before begin returned */
    CHECK_EQ(dl_rh_region_state(f.rh, 0), DL_RH_DIRTY);

    /* Hot: no log call at all. */
    uint64_t ops = counting_log_ops(f.cl);
    CHECK_EQ(dl_rh_begin_write(f.rh, 100, 200, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 100, 200, 0), 0);
    CHECK_EQ(dl_rh_begin_sectors(f.rh, 1, 2, 0), 0);
    CHECK_EQ(dl_rh_end_sectors(f.rh, 1, 2, 0), 0);
    CHECK_U64(counting_log_ops(f.cl), ops);

    /* Spanning regions 0 (hot) and 1 (cold): one mark, one flush. */
    CHECK_EQ(dl_rh_begin_write(f.rh, RB / 2, RB, 0), 0);
    CHECK_U64(atomic_load(&f.cl->marks), 2);
    CHECK_U64(flushes(&f), 2);
    CHECK_EQ(durable(&f, 1), 1);
    CHECK_EQ(dl_rh_end_write(f.rh, RB / 2, RB, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, RB, 0), 0);
    CHECK_EQ(dl_rh_region_state(f.rh, 0), DL_RH_DIRTY); /* idle, not yet cleared */

    /* Default hot set: idle for less than a whole period -> kept. */
    CHECK_EQ(dl_rh_flush(f.rh), 0);
    CHECK_U64(atomic_load(&f.cl->clears), 0);
    CHECK_U64(flushes(&f), 2); /* nothing to clear: no flush */
    CHECK_EQ(dl_rh_flush(f.rh), 2);
    CHECK_U64(atomic_load(&f.cl->clears), 2);
    CHECK_U64(flushes(&f), 3);
    CHECK_EQ(durable(&f, 0), 0);
    CHECK_EQ(durable(&f, 1), 0);
    CHECK_EQ(atomic_load(&data_flushes), 1); /* the log ran it before clean bits */
    CHECK_EQ(dl_rh_region_state(f.rh, 0), DL_RH_CLEAN);
    CHECK_U64(stats(f.rh).dirty_regions, 0);

    /* A region written again before its clear costs nothing. */
    CHECK_EQ(dl_rh_begin_write(f.rh, 2 * RB, 1, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 2 * RB, 1, 0), 0);
    CHECK_EQ(dl_rh_flush(f.rh), 0);
    ops = counting_log_ops(f.cl);
    CHECK_EQ(dl_rh_begin_write(f.rh, 2 * RB, 1, 0), 0); /* hot again */
    CHECK_EQ(dl_rh_end_write(f.rh, 2 * RB, 1, 0), 0);
    CHECK_EQ(dl_rh_flush(f.rh), 0); /* re-idled during this period: kept */
    CHECK_U64(counting_log_ops(f.cl), ops);
    CHECK_EQ(dl_rh_flush(f.rh), 1);
    CHECK_EQ(durable(&f, 2), 0);

    /* Clean shutdown clears everything idle at once. */
    CHECK_EQ(dl_rh_begin_write(f.rh, 5 * RB, 3 * RB, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 5 * RB, 3 * RB, 0), 0);
    CHECK_EQ(dl_rh_clear_idle(f.rh), 3);
    CHECK_U64(stats(f.rh).dirty_regions, 0);

    /* Errors touch nothing. */
    ops = counting_log_ops(f.cl);
    CHECK_EQ(dl_rh_begin_write(f.rh, 64 * RB - 1, 2, 0), -ERANGE);
    CHECK_EQ(dl_rh_begin_write(f.rh, UINT64_MAX, 2, 0), -ERANGE);
    CHECK_EQ(dl_rh_begin_sectors(f.rh, 64 * RS, 1, 0), -ERANGE);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 0, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, RB, 0), -EINVAL);  /* nothing in flight */
    CHECK_EQ(dl_rh_end_write(f.rh, 40 * RB, 1, 0), -EINVAL); /* never touched */
    CHECK_EQ(dl_rh_region_state(f.rh, 64), -ERANGE);
    CHECK_U64(counting_log_ops(f.cl), ops);
    /* The last byte of the target is fine. */
    CHECK_EQ(dl_rh_begin_write(f.rh, 64 * RB - 1, 1, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 64 * RB - 1, 1, 0), 0);

    struct dl_rh_options bad = {.struct_size = sizeof bad, .flags = 0x80};
    dl_rh *rh2 = NULL;
    CHECK_EQ(dl_rh_create(f.log, &bad, &rh2), -EINVAL);
    CHECK(rh2 == NULL);
    /* An older, smaller options struct is accepted. */
    struct dl_rh_options old = {.struct_size = 8, .flags = DL_RH_EAGER_CLEAR};
    CHECK_EQ(dl_rh_create(f.log, &old, &rh2), 0);
    dl_rh_destroy(rh2);
    teardown(&f);
}

/* DL_RH_EAGER_CLEAR: cleared at the first flush after going idle. */
static void test_eager(void)
{
    struct fixture f;
    setup(&f, 16, "nosync", DL_RH_EAGER_CLEAR, 0, 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 4 * RB, 0), 0);
    CHECK_U64(flushes(&f), 1); /* four marks, one flush */
    CHECK_EQ(dl_rh_flush(f.rh), 0); /* writes in flight: nothing to clear */
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 4 * RB, 0), 0);
    CHECK_EQ(dl_rh_flush(f.rh), 4);
    for (uint64_t r = 0; r < 4; r++)
        CHECK_EQ(durable(&f, r), 0);
    teardown(&f);
}

/* ---- group commit: N cold begins, the first flush blocked until all N
 * threads have marked -> exactly 2 flushes. ---- */
#define GC_THREADS 8
struct gc_ctx {
    struct fixture *f;
    pthread_mutex_t m;
    pthread_cond_t c;
    unsigned marks;
};

static void gc_on_mark(void *arg, uint64_t region)
{
    (void)region;
    struct gc_ctx *g = arg;
    pthread_mutex_lock(&g->m);
    g->marks++;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

static void gc_before_flush(void *arg, uint64_t n)
{
    struct gc_ctx *g = arg;
    if (n != 1)
        return;
    pthread_mutex_lock(&g->m);
    while (g->marks < GC_THREADS)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

struct gc_arg {
    struct gc_ctx *g;
    uint64_t region;
};

static void *gc_thread(void *p)
{
    struct gc_arg *a = p;
    struct fixture *f = a->g->f;
    CHECK(dl_rh_begin_write(f->rh, a->region * RB, RB, 0) == 0);
    CHECK(durable(f, a->region) == 1);
    CHECK(dl_rh_end_write(f->rh, a->region * RB, RB, 0) == 0);
    return NULL;
}

static void test_group_commit(void)
{
    struct fixture f;
    setup(&f, 64, "nosync", 0, 0, 0);
    struct gc_ctx g = {.f = &f};
    pthread_mutex_init(&g.m, NULL);
    pthread_cond_init(&g.c, NULL);
    f.cl->hook_arg = &g;
    f.cl->on_mark = gc_on_mark;
    f.cl->before_flush = gc_before_flush;
    pthread_t t[GC_THREADS];
    struct gc_arg a[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        a[i] = (struct gc_arg){&g, (uint64_t)i * 3};
        pthread_create(&t[i], NULL, gc_thread, &a[i]);
    }
    for (int i = 0; i < GC_THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_U64(atomic_load(&f.cl->marks), GC_THREADS);
    /* The first flush covers what was marked when it started; the second,
     * led by one of the others, covers all the rest. */
    CHECK_U64(flushes(&f), 2);
    CHECK_U64(stats(f.rh).log_flushes, 2);
    f.cl->on_mark = NULL;
    f.cl->before_flush = NULL;
    teardown(&f);
    pthread_cond_destroy(&g.c);
    pthread_mutex_destroy(&g.m);
}

/* ---- hot path under threads: no log call, no cold begin ---- */
struct hot_arg {
    struct fixture *f;
    unsigned seed;
};

static void *hot_thread(void *p)
{
    struct hot_arg *a = p;
    for (int i = 0; i < 5000; i++) {
        uint64_t off = (uint64_t)rand_r(&a->seed) % (8 * RB);
        uint64_t len = 1 + (uint64_t)rand_r(&a->seed) % (8 * RB - off);
        CHECK(dl_rh_begin_write(a->f->rh, off, len, 0) == 0);
        CHECK(dl_rh_end_write(a->f->rh, off, len, 0) == 0);
    }
    return NULL;
}

static void test_hot_path_threads(void)
{
    struct fixture f;
    setup(&f, 64, "nosync", 0, 0, 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 8 * RB, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 8 * RB, 0), 0);
    uint64_t ops = counting_log_ops(f.cl);
    uint64_t cold = stats(f.rh).cold_begins;
    pthread_t t[8];
    struct hot_arg a[8];
    for (unsigned i = 0; i < 8; i++) {
        a[i] = (struct hot_arg){&f, i + 1};
        pthread_create(&t[i], NULL, hot_thread, &a[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    CHECK_U64(counting_log_ops(f.cl), ops);
    CHECK_U64(stats(f.rh).cold_begins, cold);
    teardown(&f);
}

/* ---- stress: writers on overlapping ranges, a flusher, failed writes and a
 * resync thread, with the wrapper checking every persisted clean bit. ---- */
#define ST_REGIONS 32
#define ST_WRITERS 8
struct stress {
    struct fixture f;
    _Atomic uint64_t data[ST_REGIONS];   /* "written" versions of each region */
    _Atomic uint64_t stable[ST_REGIONS]; /* what the last data flush made stable */
    _Atomic int inflight[ST_REGIONS];
    _Atomic int writers_left;
    _Atomic uint64_t begins, persisted_clears;
    pthread_mutex_t m;
    pthread_cond_t c;
    uint64_t failures; /* under m: failed writes, wakes the resync thread */
};

static int stress_data_flush(void *arg)
{
    struct stress *s = arg;
    for (int r = 0; r < ST_REGIONS; r++)
        atomic_store(&s->stable[r], atomic_load(&s->data[r]));
    return 0;
}

/* The wrapper persists a clean bit: the data flush ran first, no write is in
 * flight there, every write to it is stable, and it is in sync. */
static void stress_on_clear(void *arg, uint64_t r, int callback_ran)
{
    struct stress *s = arg;
    CHECK(callback_ran);
    CHECK(atomic_load(&s->inflight[r]) == 0);
    CHECK(atomic_load(&s->stable[r]) == atomic_load(&s->data[r]));
    CHECK(dl_log_in_sync(s->f.cl->inner, r, 1) == 1); /* never NOSYNC -> CLEAN */
    atomic_fetch_add(&s->persisted_clears, 1);
}

struct st_writer {
    struct stress *s;
    unsigned seed;
    int iterations;
};

static void *stress_writer(void *p)
{
    struct st_writer *w = p;
    struct stress *s = w->s;
    for (int i = 0; i < w->iterations; i++) {
        uint64_t first = (uint64_t)rand_r(&w->seed) % ST_REGIONS;
        uint64_t n = 1 + (uint64_t)rand_r(&w->seed) % 3;
        if (first + n > ST_REGIONS)
            n = ST_REGIONS - first;
        int sectors = rand_r(&w->seed) & 1;
        uint64_t off = first * RB + (uint64_t)rand_r(&w->seed) % 512;
        uint64_t len = n * RB - (off - first * RB);
        int e = sectors ? dl_rh_begin_sectors(s->f.rh, first * RS, n * RS, 0)
                        : dl_rh_begin_write(s->f.rh, off, len, 0);
        CHECK(e == 0);
        if (e < 0)
            continue;
        atomic_fetch_add(&s->begins, 1);
        for (uint64_t r = first; r < first + n; r++) {
            CHECK(atomic_load(&s->f.cl->durable[r]) == 1); /* the invariant */
            atomic_fetch_add(&s->inflight[r], 1);
            atomic_fetch_add(&s->data[r], 1);
        }
        int fail = rand_r(&w->seed) % 64 == 0;
        for (uint64_t r = first; r < first + n; r++) {
            CHECK(atomic_load(&s->f.cl->durable[r]) == 1); /* still, at the end */
            atomic_fetch_sub(&s->inflight[r], 1);
        }
        e = sectors ? dl_rh_end_sectors(s->f.rh, first * RS, n * RS, fail ? -EIO : 0)
                    : dl_rh_end_write(s->f.rh, off, len, fail ? -EIO : 0);
        CHECK(e == 0);
        if (fail) {
            pthread_mutex_lock(&s->m);
            s->failures++;
            pthread_cond_broadcast(&s->c);
            pthread_mutex_unlock(&s->m);
        }
    }
    pthread_mutex_lock(&s->m);
    atomic_fetch_sub(&s->writers_left, 1);
    pthread_cond_broadcast(&s->c);
    pthread_mutex_unlock(&s->m);
    return NULL;
}

static void *stress_flusher(void *p)
{
    struct stress *s = p;
    while (atomic_load(&s->writers_left) > 0)
        CHECK(dl_rh_flush(s->f.rh) >= 0);
    return NULL;
}

static void *stress_resync(void *p)
{
    struct stress *s = p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t r;
        int found = dl_rh_recovery_next(s->f.rh, &r);
        CHECK(found >= 0);
        if (found == 1) {
            CHECK(dl_rh_region_state(s->f.rh, r) == DL_RH_RECOVERING);
            CHECK(dl_rh_recovery_wait_idle(s->f.rh, r) == 0);
            CHECK(atomic_load(&s->inflight[r]) == 0); /* drained, and no newcomer */
            CHECK(dl_rh_recovery_end(s->f.rh, r, 1) == 0);
            continue;
        }
        /* Nothing to do: sleep until a write fails or the writers are done. */
        pthread_mutex_lock(&s->m);
        while (s->failures == seen && atomic_load(&s->writers_left) > 0)
            pthread_cond_wait(&s->c, &s->m);
        int done = s->failures == seen && atomic_load(&s->writers_left) == 0;
        seen = s->failures;
        pthread_mutex_unlock(&s->m);
        if (done)
            return NULL;
    }
}

static void run_stress(uint32_t flags, uint32_t hot_periods, uint32_t threshold, int iterations)
{
    struct stress *s = calloc(1, sizeof *s);
    setup(&s->f, ST_REGIONS, "nosync", flags, hot_periods, threshold);
    pthread_mutex_init(&s->m, NULL);
    pthread_cond_init(&s->c, NULL);
    dl_log_set_flush_callback(s->f.log, stress_data_flush, s);
    s->f.cl->hook_arg = s;
    s->f.cl->on_clear_persist = stress_on_clear;
    atomic_store(&s->writers_left, ST_WRITERS);
    pthread_t w[ST_WRITERS], fl, rs;
    struct st_writer wa[ST_WRITERS];
    pthread_create(&fl, NULL, stress_flusher, s);
    pthread_create(&rs, NULL, stress_resync, s);
    for (unsigned i = 0; i < ST_WRITERS; i++) {
        wa[i] = (struct st_writer){s, 1000 + i, iterations};
        pthread_create(&w[i], NULL, stress_writer, &wa[i]);
    }
    for (int i = 0; i < ST_WRITERS; i++)
        pthread_join(w[i], NULL);
    pthread_join(fl, NULL);
    pthread_join(rs, NULL);

    /* Everything failed was recovered; a clean shutdown clears it all. */
    uint64_t count = 0;
    CHECK_EQ(dl_log_get_sync_count(s->f.log, &count), 0);
    CHECK_U64(count, ST_REGIONS);
    CHECK(dl_rh_clear_idle(s->f.rh) >= 0);
    struct dl_rh_stats st = stats(s->f.rh);
    CHECK_U64(st.dirty_regions, 0);
    for (int r = 0; r < ST_REGIONS; r++)
        CHECK_EQ(durable(&s->f, (uint64_t)r), 0);
    uint64_t b = atomic_load(&s->begins);
    CHECK_U64(b, (uint64_t)ST_WRITERS * (uint64_t)iterations);
    CHECK(atomic_load(&s->persisted_clears) > 0);
    /* Far fewer log flushes than writes (the exact bound is test_group_commit's). */
    CHECK(st.log_flushes < b);
    printf("stress(flags %u, hot %u, threshold %u): %" PRIu64 " writes, %" PRIu64
           " cold begins, %" PRIu64 " marks, %" PRIu64 " log flushes (%.1f per 1000 writes), %"
           PRIu64 " clears persisted, %" PRIu64 " recovery waits\n",
           flags, hot_periods, threshold, b, st.cold_begins, st.marks, st.log_flushes,
           1000.0 * (double)st.log_flushes / (double)b, atomic_load(&s->persisted_clears),
           st.recovery_waits);
    s->f.cl->on_clear_persist = NULL;
    teardown(&s->f);
    pthread_cond_destroy(&s->c);
    pthread_mutex_destroy(&s->m);
    free(s);
}

/* ---- a failed write makes the region NOSYNC; it never turns CLEAN, even
 * when another write to it ends well afterwards (the kernel bug) ---- */
static void test_nosync(void)
{
    struct fixture f;
    setup(&f, 16, "nosync", DL_RH_EAGER_CLEAR, 0, 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 3 * RB, 10, 0), 0); /* A */
    CHECK_EQ(dl_rh_begin_write(f.rh, 3 * RB, 10, 0), 0); /* B */
    CHECK_EQ(dl_rh_end_write(f.rh, 3 * RB, 10, -EIO), 0); /* A failed */
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_NOSYNC);
    CHECK_EQ(dl_log_in_sync(f.log, 3, 1), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 3 * RB, 10, 0), 0); /* B succeeded */
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_NOSYNC); /* not CLEAN */
    CHECK_EQ(dl_rh_range_in_sync(f.rh, 3 * RB, 1), 0);
    CHECK_EQ(dl_rh_range_in_sync(f.rh, 4 * RB, RB), 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(dl_rh_flush(f.rh), 0);
        CHECK_EQ(dl_rh_clear_idle(f.rh), 0);
    }
    /* More good writes change nothing. */
    CHECK_EQ(dl_rh_begin_write(f.rh, 3 * RB, 10, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 3 * RB, 10, 0), 0);
    CHECK_EQ(dl_rh_clear_idle(f.rh), 0);
    CHECK_U64(atomic_load(&f.cl->clears), 0);
    CHECK_EQ(durable(&f, 3), 1);
    CHECK_EQ(dl_log_is_clean(f.log, 3), 0);

    /* A failed recovery keeps it NOSYNC; it is handed out again. */
    uint64_t r = 99;
    CHECK_EQ(dl_rh_recovery_next(f.rh, &r), 1);
    CHECK_U64(r, 3);
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_RECOVERING);
    CHECK_EQ(dl_rh_recovery_wait_idle(f.rh, 3), 0);
    CHECK_EQ(dl_rh_recovery_end(f.rh, 3, 0), 0);
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_NOSYNC);
    CHECK_EQ(dl_rh_clear_idle(f.rh), 0);
    CHECK_EQ(durable(&f, 3), 1);
    CHECK_EQ(dl_rh_recovery_end(f.rh, 3, 1), -EINVAL); /* not recovering */
    CHECK_EQ(dl_rh_recovery_wait_idle(f.rh, 3), -EINVAL);

    /* A successful one: in sync, and cleared by the next flush. */
    CHECK_EQ(dl_rh_recovery_next(f.rh, &r), 1);
    CHECK_U64(r, 3);
    CHECK_EQ(dl_rh_recovery_end(f.rh, 3, 1), 0);
    CHECK_EQ(dl_log_in_sync(f.log, 3, 1), 1);
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_DIRTY);
    CHECK_EQ(dl_rh_flush(f.rh), 1);
    CHECK_EQ(durable(&f, 3), 0);
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_CLEAN);
    CHECK_EQ(dl_rh_recovery_next(f.rh, &r), 0);
    teardown(&f);
}

/* Regions out of sync from the start (a core log without nosync): written
 * regions stay dirty until recovered; recovering an untouched one clears it. */
static void test_initially_out_of_sync(void)
{
    struct fixture f;
    setup(&f, 4, NULL, DL_RH_EAGER_CLEAR, 0, 0);
    CHECK_EQ(dl_rh_region_state(f.rh, 0), DL_RH_NOSYNC);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 1, 0), 0);
    CHECK_EQ(durable(&f, 0), 1);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_clear_idle(f.rh), 0);
    CHECK_EQ(durable(&f, 0), 1);
    uint64_t r, done = 0;
    while (dl_rh_recovery_next(f.rh, &r) == 1) {
        CHECK_EQ(dl_rh_recovery_wait_idle(f.rh, r), 0);
        CHECK_EQ(dl_rh_recovery_end(f.rh, r, 1), 0);
        done++;
    }
    CHECK_U64(done, 4);
    CHECK_EQ(dl_rh_clear_idle(f.rh), 1); /* region 0, the one we marked */
    CHECK_U64(atomic_load(&f.cl->clears), 4); /* + 3 cleared at recovery end */
    uint64_t count;
    dl_log_get_sync_count(f.log, &count);
    CHECK_U64(count, 4);
    for (uint64_t i = 0; i < 4; i++)
        CHECK_EQ(dl_log_is_clean(f.log, i), 1);
    teardown(&f);
}

/* ---- recovery: writers wait (no spinning) until it ends; the resync
 * thread waits for writes in flight to drain ---- */
struct rec_ctx {
    struct fixture *f;
    pthread_mutex_t m;
    pthread_cond_t c;
    int writer_waiting, drain_waiting;
    _Atomic int recovery_ended, writer_returned, drain_returned;
};

static void rec_on_recovery_wait(void *arg, uint64_t region)
{
    struct rec_ctx *x = arg;
    (void)region;
    pthread_mutex_lock(&x->m);
    x->writer_waiting++;
    pthread_cond_broadcast(&x->c);
    pthread_mutex_unlock(&x->m);
}

static void rec_on_drain_wait(void *arg, uint64_t region)
{
    struct rec_ctx *x = arg;
    (void)region;
    pthread_mutex_lock(&x->m);
    x->drain_waiting++;
    pthread_cond_broadcast(&x->c);
    pthread_mutex_unlock(&x->m);
}

static void *rec_writer(void *p)
{
    struct rec_ctx *x = p;
    CHECK(dl_rh_begin_write(x->f->rh, 3 * RB, RB, 0) == 0);
    CHECK(atomic_load(&x->recovery_ended) == 1); /* not before recovery ended */
    atomic_store(&x->writer_returned, 1);
    CHECK(dl_rh_end_write(x->f->rh, 3 * RB, RB, 0) == 0);
    return NULL;
}

static void *rec_resync(void *p)
{
    struct rec_ctx *x = p;
    CHECK(dl_rh_recovery_wait_idle(x->f->rh, 3) == 0);
    atomic_store(&x->drain_returned, 1);
    return NULL;
}

static void wait_count(struct rec_ctx *x, int *counter)
{
    pthread_mutex_lock(&x->m);
    while (*counter == 0)
        pthread_cond_wait(&x->c, &x->m);
    pthread_mutex_unlock(&x->m);
}

static void test_recovery_blocks_writers(void)
{
    struct fixture f;
    setup(&f, 16, "nosync", 0, 0, 0);
    struct rec_ctx x = {.f = &f};
    pthread_mutex_init(&x.m, NULL);
    pthread_cond_init(&x.c, NULL);
    const struct dl_rh_test_hooks hooks = {.on_recovery_wait = rec_on_recovery_wait,
                                           .on_drain_wait = rec_on_drain_wait,
                                           .arg = &x};
    dl__rh_set_test_hooks(f.rh, &hooks);

    /* Region 3 out of sync (a failed write), and a write B in flight on it. */
    CHECK_EQ(dl_rh_begin_write(f.rh, 3 * RB, 1, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 3 * RB, 1, -EIO), 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 3 * RB + 100, 1, 0), 0); /* B */
    uint64_t r;
    CHECK_EQ(dl_rh_recovery_next(f.rh, &r), 1);
    CHECK_U64(r, 3);

    /* -EBUSY on request, with nothing begun. */
    CHECK_EQ(dl_rh_begin_write(f.rh, 3 * RB, 1, DL_RH_NOWAIT), -EBUSY);
    CHECK_EQ(dl_rh_begin_write(f.rh, 2 * RB, 2 * RB, DL_RH_NOWAIT), -EBUSY);
    CHECK_EQ(dl_rh_end_write(f.rh, 2 * RB, 1, 0), -EINVAL); /* region 2 not begun */

    pthread_t w, rs;
    pthread_create(&w, NULL, rec_writer, &x);
    wait_count(&x, &x.writer_waiting); /* the writer sleeps on region 3 */
    pthread_create(&rs, NULL, rec_resync, &x);
    wait_count(&x, &x.drain_waiting); /* the resync thread sleeps: B in flight */
    CHECK_EQ(atomic_load(&x.drain_returned), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 3 * RB + 100, 1, 0), 0); /* B ends: drained */
    pthread_join(rs, NULL);
    CHECK_EQ(atomic_load(&x.drain_returned), 1);
    CHECK_EQ(atomic_load(&x.writer_returned), 0); /* still waiting for recovery */
    atomic_store(&x.recovery_ended, 1);
    CHECK_EQ(dl_rh_recovery_end(f.rh, 3, 1), 0);
    pthread_join(w, NULL);
    CHECK_EQ(atomic_load(&x.writer_returned), 1);
    CHECK_EQ(dl_rh_region_state(f.rh, 3), DL_RH_DIRTY);
    CHECK(stats(f.rh).recovery_waits >= 1);
    teardown(&f);
    pthread_cond_destroy(&x.c);
    pthread_mutex_destroy(&x.m);

    /* The option form: every begin on a recovering region is -EBUSY. */
    setup(&f, 16, "nosync", DL_RH_BUSY_ON_RECOVERY, 0, 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 1, -EIO), 0);
    CHECK_EQ(dl_rh_recovery_next(f.rh, &r), 1);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 1, 0), -EBUSY);
    CHECK_EQ(dl_rh_recovery_end(f.rh, 0, 1), 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 1, 0), 0);
    teardown(&f);
}

/* ---- a failing log flush fails the begin and admits nothing ---- */
static void test_flush_failure(void)
{
    struct fixture f;
    setup(&f, 16, "nosync", 0, 0, 0);
    atomic_store(&f.cl->fail_flushes, 1);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 2 * RB, 0), -EIO);
    CHECK_EQ(durable(&f, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 1, 0), -EINVAL); /* nothing begun */
    CHECK_U64(stats(f.rh).log_flush_errors, 1);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 2 * RB, 0), 0); /* the next flush works */
    CHECK_EQ(durable(&f, 0), 1);
    CHECK_EQ(durable(&f, 1), 1);
    CHECK_U64(atomic_load(&f.cl->marks), 2); /* marks were kept, not repeated */
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 2 * RB, 0), 0);
    teardown(&f);
}

/* ---- clear_threshold: a cold begin's flush also clears idle regions ---- */
static void test_threshold(void)
{
    struct fixture f;
    setup(&f, 32, "nosync", DL_RH_EAGER_CLEAR, 0, 4);
    dl_log_set_flush_callback(f.log, count_data_flush, NULL);
    atomic_store(&data_flushes, 0);
    CHECK_EQ(dl_rh_begin_write(f.rh, 0, 8 * RB, 0), 0);
    CHECK_EQ(dl_rh_end_write(f.rh, 0, 8 * RB, 0), 0);
    CHECK_U64(stats(f.rh).dirty_regions, 8);
    CHECK_EQ(dl_rh_begin_write(f.rh, 20 * RB, 1, 0), 0);
    CHECK_U64(stats(f.rh).dirty_regions, 1);
    CHECK_U64(atomic_load(&f.cl->clears), 8);
    for (uint64_t r = 0; r < 8; r++)
        CHECK_EQ(durable(&f, r), 0);
    CHECK_EQ(durable(&f, 20), 1);
    CHECK_EQ(atomic_load(&data_flushes), 1);
    CHECK_EQ(dl_rh_end_write(f.rh, 20 * RB, 1, 0), 0);
    teardown(&f);
}

/* ---- 2^40 regions: memory follows the regions touched ---- */
static void test_huge(void)
{
    counting_log_register();
    uint64_t regions = 1ull << 40;
    const char *argv[] = {"8"};
    dl_log *log;
    CHECK_EQ(dl_log_create("rh_null", regions * 8, 1, argv, &log), 0);
    dl_rh *rh;
    CHECK_EQ(dl_rh_create(log, NULL, &rh), 0);
    struct dl_rh_stats s = stats(rh);
    CHECK(s.table_bytes <= 8192);
    uint64_t last = (regions - 1) * 4096;
    CHECK_EQ(dl_rh_begin_write(rh, last, 4096, 0), 0);
    CHECK_EQ(dl_rh_begin_write(rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_begin_sectors(rh, (regions / 2) * 8 - 1, 2, 0), 0); /* straddles */
    CHECK_EQ(dl_rh_begin_write(rh, last, 4097, 0), -ERANGE);
    s = stats(rh);
    CHECK_U64(s.touched_regions, 4);
    CHECK_U64(s.dirty_regions, 4);
    CHECK(s.table_bytes < (1u << 20));
    CHECK_EQ(dl_rh_region_state(rh, regions - 1), DL_RH_DIRTY);
    CHECK_EQ(dl_rh_region_state(rh, regions - 2), DL_RH_CLEAN);
    CHECK_EQ(dl_rh_end_write(rh, last, 4096, 0), 0);
    CHECK_EQ(dl_rh_end_write(rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_end_sectors(rh, (regions / 2) * 8 - 1, 2, 0), 0);
    CHECK_EQ(dl_rh_clear_idle(rh), 4);
    dl_rh_destroy(rh);
    dl_log_destroy(log);
}

int main(void)
{
    counting_log_register();
    test_basic();
    test_eager();
    test_group_commit();
    test_hot_path_threads();
    test_nosync();
    test_initially_out_of_sync();
    test_recovery_blocks_writers();
    test_flush_failure();
    test_threshold();
    test_huge();
    run_stress(0, 0, 0, 20000);
    run_stress(DL_RH_EAGER_CLEAR, 0, 0, 20000);
    run_stress(0, 2, 6, 10000);
    return test_exit_status("test_rh");
}
