/* The inline read path (dl_log_is_clean_fast / dl_log_in_sync_fast) against
 * the calls: the same answers for core and disk logs with a view (after
 * marks, clears, range calls, set_region_sync, resync hand-out, a disk load
 * and a disk failure), from several threads at once, and for logs without a
 * view (above DL_LOG_VIEW_MAX_REGIONS, past the process's flat budget, or a
 * type that publishes none); and the range calls from several threads. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

/* Both paths agree for every region of [0, n) (and past the end). */
static void check_same(dl_log *log, uint64_t n)
{
    for (uint64_t r = 0; r < n; r++) {
        int c = dl_log_is_clean(log, r), s = dl_log_in_sync(log, r, 1);
        CHECK(c == 0 || c == 1);
        CHECK(s == 0 || s == 1);
        CHECK_EQ(dl_log_is_clean_fast(log, r), c);
        CHECK_EQ(dl_log_in_sync_fast(log, r, 1), s);
    }
    CHECK_EQ(dl_log_is_clean_fast(log, n), -ERANGE);
    CHECK_EQ(dl_log_in_sync_fast(log, n, 1), -ERANGE);
    CHECK_EQ(dl_log_is_clean_fast(log, UINT64_MAX), -ERANGE);
}

static dl_log *create(const char *table, uint64_t target)
{
    dl_log *log = NULL;
    int r = dl_log_create_table(table, target, &log);
    if (r != 0)
        fprintf(stderr, "create '%s': %s: %s\n", table, dl_strerror(r), dl_last_error());
    CHECK_EQ(r, 0);
    return log;
}

static int test_core(void)
{
    /* 1001 regions, the last one partial; out of sync (no flag). */
    dl_log *log = create("core 1 1024", 1000 * 1024 + 5);
    REQUIRE(log);
    const struct dl_log_view *v = dl_log_view(log);
    CHECK(v->struct_size >= DL_LOG_VIEW_SIZE_V1);
    CHECK_U64(v->clean_limit, 1001);
    CHECK_U64(v->sync_limit, 1001);
    CHECK(v->dirty && v->out_of_sync);
    check_same(log, 1001);
    CHECK_EQ(dl_log_in_sync_fast(log, 0, 1), 0);
    const uint64_t marks[] = {0, 63, 64, 127, 500, 1000};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        CHECK_EQ(dl_log_mark_region(log, marks[i]), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 63), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 62), 1);
    CHECK_EQ(dl_log_is_clean_fast(log, 1000), 0);
    check_same(log, 1001);
    CHECK_EQ(dl_log_clear_region(log, 63), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 63), 1);
    CHECK_EQ(dl_log_mark_range(log, 200, 150), 0);
    CHECK_EQ(dl_log_clear_range(log, 250, 10), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 249), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 255), 1);
    check_same(log, 1001);
    /* Sync state: a recovery result, then a hand-out (in_sync unchanged). */
    CHECK_EQ(dl_log_set_region_sync(log, 5, 1), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, 5, 1), 1);
    uint64_t w = UINT64_MAX;
    CHECK_EQ(dl_log_get_resync_work(log, &w), 1);
    CHECK(w != 5 && w < 1001);
    CHECK_EQ(dl_log_in_sync_fast(log, w, 0), 0);
    CHECK_EQ(dl_log_set_region_sync(log, w, 1), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, w, 0), 1);
    CHECK_EQ(dl_log_set_region_sync(log, 5, 0), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, 5, 1), 0);
    check_same(log, 1001);
    dl_log_destroy(log);
    CHECK_EQ(dl_log_is_clean_fast(NULL, 0), -EINVAL);
    CHECK_EQ(dl_log_in_sync_fast(NULL, 0, 1), -EINVAL);
    return 0;
}

/* The threshold: exactly DL_LOG_VIEW_MAX_REGIONS has a view, one more has
 * none and still answers (through the call). */
static int test_threshold(void)
{
    dl_log *log = create("core 2 2 nosync", DL_LOG_VIEW_MAX_REGIONS * 2);
    REQUIRE(log);
    CHECK_U64(dl_log_view(log)->clean_limit, DL_LOG_VIEW_MAX_REGIONS);
    dl_log_destroy(log);
    log = create("core 2 2 nosync", DL_LOG_VIEW_MAX_REGIONS * 2 + 1);
    REQUIRE(log);
    uint64_t n = dl_log_get_region_count(log);
    CHECK_U64(n, DL_LOG_VIEW_MAX_REGIONS + 1);
    CHECK_U64(dl_log_view(log)->clean_limit, 0);
    CHECK_U64(dl_log_view(log)->sync_limit, 0);
    CHECK_EQ(dl_log_mark_region(log, n - 1), 0);
    CHECK_EQ(dl_log_mark_region(log, 5), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 7, 0), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, n - 1), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 5), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 6), 1);
    CHECK_EQ(dl_log_in_sync_fast(log, 7, 1), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, n - 1, 1), 1);
    CHECK_EQ(dl_log_is_clean_fast(log, n), -ERANGE);
    uint64_t fd = 0;
    CHECK_EQ(dl_log_is_clean_range(log, 0, n, &fd), 0);
    CHECK_U64(fd, 5);
    CHECK_EQ(dl_log_clear_range(log, 0, n), 0);
    CHECK_EQ(dl_log_is_clean_range(log, 0, n, &fd), 1);
    dl_log_destroy(log);
    return 0;
}

/* The process-wide budget of flat memory: past it logs are created sparse
 * (no view, same answers); destroying a flat log gives its memory back. */
static int test_budget(void)
{
    enum { MAX = 64 };
    dl_log *logs[MAX];
    int n = 0, sparse = -1;
    for (; n < MAX && sparse < 0; n++) {
        logs[n] = create("core 2 2 nosync", DL_LOG_VIEW_MAX_REGIONS * 2);
        REQUIRE(logs[n]);
        if (dl_log_view(logs[n])->sync_limit == 0)
            sparse = n;
    }
    REQUIRE(sparse > 0); /* at least one got a view, and the budget ran out */
    dl_log *last = logs[sparse];
    CHECK_U64(dl_log_view(last)->clean_limit, 0);
    CHECK_EQ(dl_log_mark_region(last, 77), 0);
    CHECK_EQ(dl_log_set_region_sync(last, 78, 0), 0);
    CHECK_EQ(dl_log_is_clean_fast(last, 77), 0);
    CHECK_EQ(dl_log_is_clean_fast(last, 78), 1);
    CHECK_EQ(dl_log_in_sync_fast(last, 78, 1), 0);
    CHECK_EQ(dl_log_in_sync_fast(last, 77, 1), 1);
    dl_log_destroy(logs[0]); /* gives back a whole log's worth */
    logs[0] = create("core 2 2 nosync", DL_LOG_VIEW_MAX_REGIONS * 2);
    REQUIRE(logs[0]);
    CHECK_U64(dl_log_view(logs[0])->clean_limit, DL_LOG_VIEW_MAX_REGIONS);
    CHECK_U64(dl_log_view(logs[0])->sync_limit, DL_LOG_VIEW_MAX_REGIONS);
    for (int i = 0; i < n; i++)
        dl_log_destroy(logs[i]);
    return 0;
}

/* ---- a type that publishes no view -------------------------------------- */

struct tiny {
    unsigned char dirty[64];
};

static int tiny_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    (void)target, (void)argc, (void)argv;
    struct tiny *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    dl_log_set_context(log, t);
    return 0;
}
static void tiny_dtr(dl_log *log) { free(dl_log_get_context(log)); }
static uint32_t tiny_region_size(dl_log *log) { (void)log; return 2; }
static int tiny_is_clean(dl_log *log, uint64_t r)
{
    return !((struct tiny *)dl_log_get_context(log))->dirty[r];
}
static int tiny_in_sync(dl_log *log, uint64_t r, int can_block)
{
    (void)log, (void)can_block;
    return r % 2; /* odd regions in sync */
}
static int tiny_flush(dl_log *log) { (void)log; return 0; }
static int tiny_mark(dl_log *log, uint64_t r)
{
    ((struct tiny *)dl_log_get_context(log))->dirty[r] = 1;
    return 0;
}
static int tiny_clear(dl_log *log, uint64_t r)
{
    ((struct tiny *)dl_log_get_context(log))->dirty[r] = 0;
    return 0;
}
static int tiny_work(dl_log *log, uint64_t *r) { (void)log, (void)r; return 0; }
static int tiny_set_sync(dl_log *log, uint64_t r, int s) { (void)log, (void)r, (void)s; return 0; }
static int tiny_count(dl_log *log, uint64_t *c) { (void)log; *c = 0; return 0; }
static int tiny_status(dl_log *log, enum dl_status_type t, char *buf, size_t len)
{
    (void)log, (void)t;
    return snprintf(buf, len, "tiny");
}

static int test_custom_type(void)
{
    static const struct dl_log_type tiny = {
        DL_LOG_TYPE_INIT("inline_view_tiny"),
        .thread_model = DL_THREAD_MODEL_SERIALIZE_ALL,
        .ctr = tiny_ctr, .dtr = tiny_dtr, .get_region_size = tiny_region_size,
        .is_clean = tiny_is_clean, .in_sync = tiny_in_sync, .flush = tiny_flush,
        .mark_region = tiny_mark, .clear_region = tiny_clear, .get_resync_work = tiny_work,
        .set_region_sync = tiny_set_sync, .get_sync_count = tiny_count, .status = tiny_status,
    };
    REQUIRE_EQ(dl_register_type(&tiny), 0);
    dl_log *log = create("inline_view_tiny 0", 128);
    REQUIRE(log);
    CHECK_U64(dl_log_view(log)->clean_limit, 0);
    CHECK_EQ(dl_log_mark_range(log, 3, 4), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 2), 1);
    CHECK_EQ(dl_log_is_clean_fast(log, 3), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, 3, 1), 1);
    CHECK_EQ(dl_log_in_sync_fast(log, 4, 1), 0);
    uint64_t fd = 0;
    CHECK_EQ(dl_log_is_clean_range(log, 0, 64, &fd), 0);
    CHECK_U64(fd, 3);
    CHECK_EQ(dl_log_clear_range(log, 0, 5), 0);
    CHECK_EQ(dl_log_is_clean_range(log, 0, 64, &fd), 0);
    CHECK_U64(fd, 5);
    check_same(log, 64);
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("inline_view_tiny"), 0);
    return 0;
}

/* ---- disk: a memory device that can fail its syncs ---------------------- */

struct memdev {
    struct dl_io io;
    uint8_t *buf;
    uint64_t size, cap;
    int fail_sync;
};

static int64_t md_pread(struct dl_io *io, void *b, size_t len, uint64_t off)
{
    struct memdev *m = io->priv;
    if (off >= m->size)
        return 0;
    size_t n = m->size - off < len ? (size_t)(m->size - off) : len;
    memcpy(b, m->buf + off, n);
    return (int64_t)n;
}
static int64_t md_pwrite(struct dl_io *io, const void *b, size_t len, uint64_t off)
{
    struct memdev *m = io->priv;
    if (off + len > m->cap)
        return -ENOSPC;
    memcpy(m->buf + off, b, len);
    if (off + len > m->size)
        m->size = off + len;
    return (int64_t)len;
}
static int md_sync(struct dl_io *io) { return ((struct memdev *)io->priv)->fail_sync ? -EIO : 0; }
static int md_size(struct dl_io *io, uint64_t *bytes, uint32_t *lbs)
{
    *bytes = ((struct memdev *)io->priv)->size;
    *lbs = 512;
    return 0;
}
static int md_set_size(struct dl_io *io, uint64_t bytes)
{
    struct memdev *m = io->priv;
    if (bytes > m->cap)
        return -ENOSPC;
    if (bytes > m->size)
        memset(m->buf + m->size, 0, bytes - m->size);
    m->size = bytes;
    return 0;
}

/* nosync: a new log, every region in sync (a reopen must not say it: the
 * table's flag would rewrite the device). */
static dl_log *open_disk(struct memdev *m, uint64_t target, int nosync)
{
    m->io = (struct dl_io){DL_IO_INIT, .pread = md_pread, .pwrite = md_pwrite, .sync = md_sync,
                           .size = md_size, .set_size = md_set_size, .priv = m};
    const char *argv[] = {"memdev", "1024", "nosync"};
    dl_log *log = NULL;
    int r = dl_log_create_disk_io(target, nosync ? 3 : 2, argv, &m->io, &log);
    if (r != 0)
        fprintf(stderr, "disk create: %s: %s\n", dl_strerror(r), dl_last_error());
    CHECK_EQ(r, 0);
    return log;
}

static int test_disk(void)
{
    struct memdev m = {.cap = 1 << 20, .size = 1 << 20}; /* blank: formatted at create */
    m.buf = calloc(1, m.cap);
    REQUIRE(m.buf);
    uint64_t n = 1000, target = n * 1024;
    dl_log *log = open_disk(&m, target, 1);
    REQUIRE(log);
    CHECK_U64(dl_log_view(log)->clean_limit, n);
    check_same(log, n); /* before the first resume: conservative, both alike */
    REQUIRE_EQ(dl_log_resume(log), 0);
    check_same(log, n);
    CHECK_EQ(dl_log_mark_region(log, 3), 0);
    CHECK_EQ(dl_log_mark_range(log, 600, 130), 0);
    CHECK_EQ(dl_log_clear_region(log, 650), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 9, 0), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 3), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 650), 1);
    CHECK_EQ(dl_log_in_sync_fast(log, 9, 1), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, 10, 1), 1);
    check_same(log, n);
    CHECK_EQ(dl_log_postsuspend(log), 0);
    dl_log_destroy(log);

    /* The load: the flat sets are rewritten in place from the device, which
     * keeps one bit per region (dirty or out of sync: both, after a load). */
    log = open_disk(&m, target, 0);
    REQUIRE(log);
    REQUIRE_EQ(dl_log_resume(log), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 3), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, 3, 1), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 4), 1);
    CHECK_EQ(dl_log_in_sync_fast(log, 4, 1), 1);
    CHECK_EQ(dl_log_is_clean_fast(log, 700), 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 650), 1);
    CHECK_EQ(dl_log_is_clean_fast(log, 9), 0);
    check_same(log, n);

    /* A failed log reads every region dirty and out of sync: the view goes. */
    m.fail_sync = 1;
    CHECK_EQ(dl_log_mark_region(log, 100), 0); /* cold: the flush must sync */
    CHECK(dl_log_flush(log) < 0);
    CHECK_U64(dl_log_view(log)->clean_limit, 0);
    CHECK_U64(dl_log_view(log)->sync_limit, 0);
    CHECK_EQ(dl_log_is_clean_fast(log, 4), 0);
    CHECK_EQ(dl_log_in_sync_fast(log, 10, 1), 0);
    uint64_t fd = UINT64_MAX;
    CHECK_EQ(dl_log_is_clean_range(log, 4, 1, &fd), 0);
    CHECK_U64(fd, 4);
    check_same(log, n);
    dl_log_destroy(log);
    free(m.buf);
    return 0;
}

/* ---- several threads ------------------------------------------------------
 * Each worker owns the regions r with r % WORKERS == its index (so owners
 * share words), does random marks, clears, range-free sync changes on them,
 * and checks after each op that both paths give the state it knows. A
 * reader thread meanwhile reads random regions through both paths. */
#define WORKERS 3
#define REGIONS 4096

struct worker {
    dl_log *log;
    unsigned idx;
    unsigned iterations;
    _Atomic int *stop;
};

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static void *worker(void *p)
{
    struct worker *w = p;
    unsigned char dirty[REGIONS / WORKERS + 1] = {0}, out[REGIONS / WORKERS + 1] = {0};
    uint64_t x = 0x9E3779B97F4A7C15ull * (w->idx + 1);
    for (unsigned i = 0; i < w->iterations; i++) {
        uint64_t k = xorshift(&x) % (REGIONS / WORKERS), r = k * WORKERS + w->idx;
        switch (xorshift(&x) % 4) {
        case 0: CHECK_EQ(dl_log_mark_region(w->log, r), 0); dirty[k] = 1; break;
        case 1: CHECK_EQ(dl_log_clear_region(w->log, r), 0); dirty[k] = 0; break;
        case 2: CHECK_EQ(dl_log_set_region_sync(w->log, r, 0), 0); out[k] = 1; break;
        default: CHECK_EQ(dl_log_set_region_sync(w->log, r, 1), 0); out[k] = 0; break;
        }
        CHECK_EQ(dl_log_is_clean_fast(w->log, r), !dirty[k]);
        CHECK_EQ(dl_log_is_clean(w->log, r), !dirty[k]);
        CHECK_EQ(dl_log_in_sync_fast(w->log, r, 1), !out[k]);
        CHECK_EQ(dl_log_in_sync(w->log, r, 1), !out[k]);
    }
    for (uint64_t k = 0; k < REGIONS / WORKERS; k++) { /* the final state */
        uint64_t r = k * WORKERS + w->idx;
        CHECK_EQ(dl_log_is_clean_fast(w->log, r), !dirty[k]);
        CHECK_EQ(dl_log_in_sync_fast(w->log, r, 1), !out[k]);
    }
    return NULL;
}

static void *reader(void *p)
{
    struct worker *w = p;
    uint64_t x = 12345;
    while (!atomic_load(w->stop)) {
        uint64_t r = xorshift(&x) % REGIONS;
        int a = dl_log_is_clean_fast(w->log, r), b = dl_log_in_sync_fast(w->log, r, 1);
        CHECK(a == 0 || a == 1);
        CHECK(b == 0 || b == 1);
    }
    return NULL;
}

/* Range calls from several threads: each owns a block of BLOCK regions (not
 * word-aligned, so neighbours share words) and checks its own block. */
#define BLOCK 100

static void *range_worker(void *p)
{
    struct worker *w = p;
    unsigned char dirty[BLOCK] = {0};
    uint64_t x = 0x2545F4914F6CDD1Dull * (w->idx + 1), base = (uint64_t)w->idx * BLOCK;
    for (unsigned i = 0; i < w->iterations / 10; i++) {
        uint64_t f = xorshift(&x) % BLOCK, n = xorshift(&x) % (BLOCK - f + 1), fd = 0;
        int mark = (int)(xorshift(&x) % 2);
        CHECK_EQ(mark ? dl_log_mark_range(w->log, base + f, n)
                      : dl_log_clear_range(w->log, base + f, n), 0);
        memset(dirty + f, mark, n);
        uint64_t want = UINT64_MAX;
        for (uint64_t k = 0; k < BLOCK && want == UINT64_MAX; k++)
            if (dirty[k])
                want = base + k;
        int r = dl_log_is_clean_range(w->log, base, BLOCK, &fd);
        CHECK_EQ(r, want == UINT64_MAX);
        if (r == 0)
            CHECK_U64(fd, want);
        uint64_t k = xorshift(&x) % BLOCK;
        CHECK_EQ(dl_log_is_clean_fast(w->log, base + k), !dirty[k]);
    }
    return NULL;
}

static int test_range_threads(const char *table, uint64_t target)
{
    const char *san = getenv("DL_SANITIZER");
    unsigned iterations = san && *san ? 3000 : 30000;
    dl_log *log = create(table, target);
    REQUIRE(log);
    pthread_t th[WORKERS];
    struct worker ws[WORKERS];
    for (unsigned t = 0; t < WORKERS; t++) {
        ws[t] = (struct worker){.log = log, .idx = t, .iterations = iterations};
        REQUIRE_EQ(pthread_create(&th[t], NULL, range_worker, &ws[t]), 0);
    }
    for (unsigned t = 0; t < WORKERS; t++)
        pthread_join(th[t], NULL);
    dl_log_destroy(log);
    return 0;
}

static int test_threads(void)
{
    const char *san = getenv("DL_SANITIZER");
    unsigned iterations = san && *san ? 3000 : 30000;
    dl_log *log = create("core 2 2 nosync", REGIONS * 2);
    REQUIRE(log);
    REQUIRE(dl_log_view(log)->clean_limit == REGIONS);
    _Atomic int stop = 0;
    pthread_t th[WORKERS + 1];
    struct worker ws[WORKERS + 1];
    for (unsigned t = 0; t <= WORKERS; t++) {
        ws[t] = (struct worker){.log = log, .idx = t, .iterations = iterations, .stop = &stop};
        REQUIRE_EQ(pthread_create(&th[t], NULL, t < WORKERS ? worker : reader, &ws[t]), 0);
    }
    for (unsigned t = 0; t < WORKERS; t++)
        pthread_join(th[t], NULL);
    atomic_store(&stop, 1);
    pthread_join(th[WORKERS], NULL);
    check_same(log, REGIONS);
    dl_log_destroy(log);
    return 0;
}

int main(void)
{
    test_core();
    test_threshold();
    test_budget();
    test_custom_type();
    test_disk();
    test_threads();
    test_range_threads("core 2 2 nosync", WORKERS * BLOCK * 2);         /* flat */
    test_range_threads("core 2 2 nosync", (DL_LOG_VIEW_MAX_REGIONS + 1) * 2); /* sparse */
    return test_exit_status("test_inline_view");
}
