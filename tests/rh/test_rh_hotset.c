/* Tests of the adaptive hot set (src/rh/rh_heat.c, rh_clear.c). No sleeps
 * and no wall clock: the layer's clock is a test hook that moves only when
 * a test moves it, a "period" is one dl_rh_flush() call, and the random
 * workload is seeded. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/check.h"
#include "counting_log.h"
#include "rh/rh_hooks.h"

TEST_MAIN_DEFINITIONS

#define RS 8u                    /* region size in sectors */
#define RB ((uint64_t)RS * 512u) /* region size in bytes */

struct fixture {
    dl_log *log;
    struct counting_log *cl; /* NULL over a plain core log */
    dl_rh *rh;
    uint64_t now_ns;       /* the layer's clock */
    uint64_t flush_cost_ns; /* added to the clock by every log flush */
};

static uint64_t fake_now(void *arg) { return ((struct fixture *)arg)->now_ns; }

static void slow_flush(void *arg, uint64_t flush_no)
{
    (void)flush_no;
    struct fixture *f = arg;
    f->now_ns += f->flush_cost_ns; /* under the layer's lock: its leader waits */
}

/* type "rh_count" (counting wrapper) or "core". */
static int setup(struct fixture *f, const char *type, uint64_t regions, uint32_t flags,
                 uint64_t hot_cap)
{
    *f = (struct fixture){.now_ns = 1000000000ull};
    char rs[16];
    snprintf(rs, sizeof rs, "%u", RS);
    const char *argv[] = {rs, "nosync"};
    int r = dl_log_create(type, regions * RS, 2, argv, &f->log);
    CHECK_EQ(r, 0);
    if (r < 0)
        exit(1);
    f->cl = strcmp(type, "rh_count") == 0 ? counting_log_of(f->log) : NULL;
    if (f->cl) {
        f->cl->before_flush = slow_flush;
        f->cl->hook_arg = f;
    }
    struct dl_rh_options o = {.struct_size = sizeof o, .flags = flags, .hot_periods = 1,
                              .hot_cap = hot_cap};
    r = dl_rh_create(f->log, &o, &f->rh);
    CHECK_EQ(r, 0);
    if (r < 0)
        exit(1);
    const struct dl_rh_test_hooks hooks = {.now_ns = fake_now, .arg = f};
    dl__rh_set_test_hooks(f->rh, &hooks);
    return 0;
}

static void teardown(struct fixture *f)
{
    dl_rh_destroy(f->rh);
    dl_log_destroy(f->log);
}

static struct dl_rh_stats stats(dl_rh *rh)
{
    struct dl_rh_stats s = {.struct_size = sizeof s};
    CHECK_EQ(dl_rh_get_stats(rh, &s), 0);
    return s;
}

static void write_region(struct fixture *f, uint64_t r)
{
    CHECK_EQ(dl_rh_begin_write(f->rh, r * RB, 1, 0), 0);
    CHECK_EQ(dl_rh_end_write(f->rh, r * RB, 1, 0), 0);
}

/* One period: the clock moves by a second, then a clear pass. */
static int64_t period(struct fixture *f)
{
    f->now_ns += 1000000000ull;
    return dl_rh_flush(f->rh);
}

/* Periods until region r is clean (at most `limit`; limit + 1 if never). */
static unsigned periods_until_clean(struct fixture *f, uint64_t r, unsigned limit)
{
    for (unsigned n = 1; n <= limit; n++) {
        CHECK(period(f) >= 0);
        if (dl_rh_region_state(f->rh, r) == DL_RH_CLEAN)
            return n;
    }
    return limit + 1;
}

/* A region written again right after each clear keeps twice as long each
 * time (hot_periods 1: cleared once idle for 1, 2, 4 ... whole periods, up
 * to 32), and the fixed hot set stays at 1. */
static void test_reheat(void)
{
    static const unsigned adaptive[] = {2, 3, 5, 9, 17, 33, 33};
    for (int fixed = 0; fixed <= 1; fixed++) {
        struct fixture f;
        setup(&f, "rh_count", 64, fixed ? DL_RH_FIXED_HOT_SET : 0, 0);
        for (unsigned i = 0; i < sizeof adaptive / sizeof adaptive[0]; i++) {
            write_region(&f, 5); /* first mark, then right after each clear */
            unsigned n = periods_until_clean(&f, 5, 40);
            CHECK_EQ(n, fixed ? 2 : adaptive[i]);
        }
        /* Stays idle long (100 periods) after its last clear: comes back
         * cold, keeps only the minimum again. */
        for (int i = 0; i < 100; i++)
            period(&f);
        write_region(&f, 5);
        CHECK_EQ(periods_until_clean(&f, 5, 40), 2);
        /* The crash rule is unchanged: a write in flight is never cleared,
         * however long; a failed one keeps its region NOSYNC. */
        CHECK_EQ(dl_rh_begin_write(f.rh, 6 * RB, 1, 0), 0);
        for (int i = 0; i < 40; i++)
            period(&f);
        CHECK_EQ(dl_rh_region_state(f.rh, 6), DL_RH_DIRTY);
        CHECK_EQ(atomic_load(&f.cl->durable[6]), 1);
        CHECK_EQ(dl_rh_end_write(f.rh, 6 * RB, 1, -5), 0);
        for (int i = 0; i < 40; i++)
            period(&f);
        CHECK_EQ(dl_rh_region_state(f.rh, 6), DL_RH_NOSYNC);
        CHECK_EQ(atomic_load(&f.cl->durable[6]), 1);
        CHECK_U64(stats(f.rh).cap_clears, 0);
        teardown(&f);
    }
}

/* Heat regions 0..n-1: write all, wait until all are clean (the cap
 * clears most of them early, which heats them the same), write all again
 * right away; three rounds. hot_kept stays <= cap all along. */
static void heat_all(struct fixture *f, uint64_t n, uint64_t cap)
{
    for (int round = 0; round < 3; round++) {
        for (uint64_t r = 0; r < n; r++)
            write_region(f, r);
        for (int i = 0; i < 40 && stats(f->rh).dirty_regions; i++) {
            period(f);
            CHECK(stats(f->rh).hot_kept <= cap);
        }
        CHECK_U64(stats(f->rh).dirty_regions, 0);
    }
}

/* Regions idle past hot_periods are at most hot_cap after every pass; the
 * pass clears the longest idle first; all are cleared within the bound. */
static void test_cap(void)
{
    struct fixture f;
    enum { N = 64, CAP = 8 };
    setup(&f, "rh_count", N, 0, CAP);
    heat_all(&f, N, CAP);
    uint64_t cap_clears = stats(f.rh).cap_clears;
    CHECK(cap_clears > 0);

    /* A = regions 0..31 written, two periods later B = 32..63. */
    for (uint64_t r = 0; r < N / 2; r++)
        write_region(&f, r);
    period(&f);
    period(&f); /* A idle 2: kept hot, but only CAP of them */
    CHECK_U64(stats(f.rh).dirty_regions, CAP);
    CHECK_U64(stats(f.rh).hot_kept, CAP);
    for (uint64_t r = N / 2; r < N; r++)
        write_region(&f, r);
    period(&f);
    period(&f); /* A idle 4, B idle 2: the A ones go first */
    CHECK_U64(stats(f.rh).dirty_regions, CAP);
    CHECK_U64(stats(f.rh).hot_kept, CAP);
    for (uint64_t r = 0; r < N; r++)
        CHECK_EQ(dl_rh_region_state(f.rh, r) == DL_RH_DIRTY ? r >= N / 2 : 1, 1);
    CHECK_U64(stats(f.rh).cap_clears, cap_clears + (N / 2 - CAP) + (N / 2 - CAP) + CAP);
    /* B (hot period at most 8, idle 2 already) stays idle: all cleared
     * within 7 more periods. */
    unsigned n = 0;
    while (stats(f.rh).dirty_regions && n < 40) {
        period(&f);
        n++;
    }
    CHECK(n <= 7);
    CHECK_U64(stats(f.rh).dirty_regions, 0);
    teardown(&f);

    /* Default cap: half the regions. */
    setup(&f, "rh_count", 2 * CAP + 1, 0, 0);
    heat_all(&f, 2 * CAP + 1, CAP + 1);
    CHECK(stats(f.rh).cap_clears > 0);
    teardown(&f);
}

/* Cold begins that wait for slow log flushes a significant part of the
 * time make every hot period longer; when the load goes, it returns. */
static void test_backoff(void)
{
    struct fixture f;
    setup(&f, "rh_count", 4096, 0, 0);
    f.flush_cost_ns = 5000000; /* 5 ms a log flush */
    uint64_t next = 0;
    /* 40 cold begins a period, each waiting 5 ms: 0.2 s of a 1 s period. */
    for (int i = 0; i < 40; i++)
        write_region(&f, next++);
    CHECK(stats(f.rh).cold_wait_ns >= 40 * f.flush_cost_ns);
    period(&f);
    CHECK_U64(stats(f.rh).backoff, 1);
    write_region(&f, 4000); /* idle from now on */
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < 40; i++)
            write_region(&f, next++);
        period(&f);
    }
    /* Idle 3 > hot_periods, yet kept: the load doubled its hot period. */
    CHECK_EQ(dl_rh_region_state(f.rh, 4000), DL_RH_DIRTY);
    CHECK(stats(f.rh).backoff >= 2);
    CHECK(stats(f.rh).hot_kept > 0);
    /* No more cold begins: the back-off comes down one level a period and
     * the region is cleared within the bound (32 periods). */
    unsigned n = periods_until_clean(&f, 4000, 40);
    CHECK(n <= 32);
    for (int i = 0; i < 8; i++)
        period(&f);
    CHECK_U64(stats(f.rh).backoff, 0);
    CHECK_U64(stats(f.rh).dirty_regions, 0);
    teardown(&f);

    /* A few cold begins however slow are no load. */
    setup(&f, "rh_count", 64, 0, 0);
    f.flush_cost_ns = 500000000;
    for (int i = 0; i < 8; i++)
        write_region(&f, (uint64_t)i);
    period(&f);
    CHECK_U64(stats(f.rh).backoff, 0);
    teardown(&f);
}

/* Under load (cold begins waiting for slow log flushes) the default cap is
 * lifted: more than half the regions stay kept hot while the back-off is
 * up, and writes to kept-hot regions (cold begins saved) keep it up
 * although cold begins have stopped; once the writes stop, the back-off
 * comes down and the cap holds again. An explicit hot_cap holds always. */
static void load_then_idle(uint64_t cap, uint64_t *max_kept, unsigned *backoff_held)
{
    enum { N = 256, POOL = 200, COLD_PER_PERIOD = 40 };
    struct fixture f;
    setup(&f, "rh_count", N, 0, cap);
    f.flush_cost_ns = 5000000; /* 5 ms a log flush */
    uint64_t limit = cap ? cap : N / 2;
    *max_kept = 0;
    /* Load: 40 cold begins a period (0.2 s of waits a 1 s period) until
     * the pool is all dirty. */
    for (uint64_t next = 0; next < POOL;) {
        for (int i = 0; i < COLD_PER_PERIOD && next < POOL; i++)
            write_region(&f, next++);
        CHECK(period(&f) >= 0);
        struct dl_rh_stats st = stats(f.rh);
        if (st.hot_kept > *max_kept)
            *max_kept = st.hot_kept;
        if (cap)
            CHECK(st.hot_kept <= cap);
    }
    CHECK(stats(f.rh).backoff >= 1);
    /* Writes to the dirty pool only, 160 a period: nearly all of them
     * find their region dirty (most of those kept hot), nearly none is
     * cold. The back-off holds as long as they come (from the second
     * period: a pass counts the saved cold begins after it set the level,
     * so the first period of no cold begins may take one level off). */
    uint64_t b0 = 0;
    *backoff_held = 1;
    uint64_t seed = 12345;
    for (int p = 0; p < 6; p++) {
        for (int i = 0; i < 160; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            write_region(&f, (seed >> 33) % POOL);
        }
        CHECK(period(&f) >= 0);
        struct dl_rh_stats st = stats(f.rh);
        if (st.hot_kept > *max_kept)
            *max_kept = st.hot_kept;
        if (cap)
            CHECK(st.hot_kept <= cap);
        if (p == 0)
            b0 = st.backoff;
        else if (st.backoff < b0)
            *backoff_held = 0;
    }
    if (!cap) /* nearly no cold begin after the load (the cap clears some otherwise) */
        CHECK(stats(f.rh).cold_begins < POOL + 32);
    /* Idle: the back-off comes down a level a window, then the cap holds. */
    for (int p = 0; p < 8; p++) /* the level is at most 5 */
        CHECK(period(&f) >= 0);
    CHECK_U64(stats(f.rh).backoff, 0);
    CHECK(stats(f.rh).hot_kept <= limit);
    teardown(&f);
}

static void test_cap_under_load(void)
{
    uint64_t max_kept;
    unsigned held;
    load_then_idle(0, &max_kept, &held);
    printf("default cap (128 of 256) under load: up to %llu kept hot; back-off %s\n",
           (unsigned long long)max_kept, held ? "held by the saved cold begins" : "fell");
    CHECK(max_kept > 128);
    CHECK_EQ(held, 1);
    load_then_idle(64, &max_kept, &held);
    printf("hot_cap 64 under load: up to %llu kept hot\n", (unsigned long long)max_kept);
    CHECK(max_kept <= 64);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Seeded uniform random single-region writes against a core log, each
 * region revisited every ~2 periods on average: the fraction of cold
 * begins in steady state, and the crash bound checked at every pass. */
static double random_workload(uint32_t flags, uint64_t *worst_beyond)
{
    enum { N = 1024, PER_PERIOD = 512, PERIODS = 120, WARM = 40 };
    struct fixture f;
    setup(&f, "core", N, flags, 0);
    static uint64_t last_end[N]; /* period of the region's last write + 1; 0: never */
    for (int r = 0; r < N; r++)
        last_end[r] = 0;
    uint64_t seed = 0x9e3779b97f4a7c15ull, cold_at_warm = 0, writes = 0;
    *worst_beyond = 0;
    for (uint64_t p = 1; p <= PERIODS; p++) {
        if (p == WARM + 1)
            cold_at_warm = stats(f.rh).cold_begins;
        for (int i = 0; i < PER_PERIOD; i++) {
            uint64_t r = xorshift(&seed) % N;
            write_region(&f, r);
            last_end[r] = p;
            writes += p > WARM;
        }
        CHECK(period(&f) >= 0);
        /* Dirty regions not written in the period just ended (what
         * hot_periods 1 keeps) are what a crash costs beyond the fixed hot
         * set: <= hot_cap (default: half). */
        uint64_t beyond = 0;
        for (int r = 0; r < N; r++)
            if (dl_rh_region_state(f.rh, (uint64_t)r) == DL_RH_DIRTY && last_end[r] < p)
                beyond++;
        CHECK(beyond <= N / 2);
        if (beyond > *worst_beyond)
            *worst_beyond = beyond;
    }
    double cold = (double)(stats(f.rh).cold_begins - cold_at_warm) / (double)writes;
    teardown(&f);
    return cold;
}

static void test_random_workload(void)
{
    uint64_t beyond_fixed, beyond_adaptive;
    double fixed = random_workload(DL_RH_FIXED_HOT_SET, &beyond_fixed);
    double adaptive = random_workload(0, &beyond_adaptive);
    printf("random workload: cold begins %.3f fixed, %.3f adaptive; dirty beyond the fixed "
           "hot set at most %llu, %llu (cap 512)\n",
           fixed, adaptive, (unsigned long long)beyond_fixed,
           (unsigned long long)beyond_adaptive);
    CHECK(fixed > 0.30);   /* the workload does re-dirty cleared regions */
    CHECK(adaptive < 0.15); /* the adaptive hot set keeps them */
    CHECK_U64(beyond_fixed, 0);
}

/* An older caller: options without hot_cap get the default cap; stats of
 * the first version are filled no further than their size. */
static void test_older_structs(void)
{
    dl_log *log;
    const char *argv[] = {"8", "nosync"};
    CHECK_EQ(dl_log_create("core", 16 * 8, 2, argv, &log), 0);
    struct dl_rh_options o;
    memset(&o, 0xff, sizeof o); /* what lies past the old size must not be read */
    o.struct_size = (uint32_t)offsetof(struct dl_rh_options, hot_cap);
    o.flags = 0;
    o.hot_periods = 1;
    o.clear_threshold = 0;
    dl_rh *rh;
    CHECK_EQ(dl_rh_create(log, &o, &rh), 0);
    struct fixture f = {.log = log, .rh = rh, .now_ns = 1};
    const struct dl_rh_test_hooks hooks = {.now_ns = fake_now, .arg = &f};
    dl__rh_set_test_hooks(rh, &hooks);
    heat_all(&f, 16, 8); /* the default cap, half of 16, holds */
    CHECK(stats(rh).cap_clears > 0);
    unsigned char buf[sizeof(struct dl_rh_stats) + 8];
    memset(buf, 0xab, sizeof buf);
    struct dl_rh_stats *st = (struct dl_rh_stats *)(void *)buf;
    st->struct_size = DL_RH_STATS_SIZE_V1;
    CHECK_EQ(dl_rh_get_stats(rh, st), 0);
    CHECK(st->clear_passes > 0);
    for (size_t i = DL_RH_STATS_SIZE_V1; i < sizeof buf; i++)
        CHECK_EQ(buf[i], 0xab);
    dl_rh_destroy(rh);
    dl_log_destroy(log);
}

int main(void)
{
    counting_log_register();
    test_reheat();
    test_cap();
    test_backoff();
    test_cap_under_load();
    test_random_workload();
    test_older_structs();
    return test_exit_status("test_rh_hotset");
}
