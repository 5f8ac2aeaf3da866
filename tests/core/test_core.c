/* Core-specific behaviour: exact status strings and memory that follows what
 * is touched, not the region count. */
#define _GNU_SOURCE /* mallinfo2 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

static void check_status(const char *table, const char *info, const char *expect_table)
{
    dl_log *log;
    char buf[128];
    CHECK_EQ(dl_log_create_table(table, 1 << 20, &log), 0);
    if (!log)
        return;
    CHECK_EQ(dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf), (int)strlen(info));
    CHECK_STR(buf, info);
    CHECK_EQ(dl_log_status(log, DL_STATUS_TABLE, buf, sizeof buf), (int)strlen(expect_table));
    CHECK_STR(buf, expect_table);
    dl_log_destroy(log);
}

static void test_status(void)
{
    check_status("core 1 1024", "1 core", "core 1 1024");
    check_status("core 2 1024 sync", "1 core", "core 2 1024 sync");
    check_status("core 2 1024 nosync", "1 core", "core 2 1024 nosync");
    check_status("core 2 8 block_on_error", "1 core", "core 2 8 block_on_error");
    /* Canonical order on output, whatever the order on input. */
    check_status("core 3 8 block_on_error nosync", "1 core", "core 3 8 nosync block_on_error");
}

#ifdef __GLIBC__
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

/* 2^40 regions, 1,000 dirty: memory is what is touched (< 64 MiB), and the
 * searches skip the empty space. Sanitizer builds replace malloc, so the
 * measurement is only made with glibc's allocator. */
static void test_sparse_2_40(void)
{
    const uint64_t regions = (uint64_t)1 << 40;
#ifdef __GLIBC__
    size_t before = heap_in_use();
#endif
    dl_log *log;
    CHECK_EQ(dl_log_create_table("core 1 2", regions * 2, &log), 0);
    if (!log)
        return;
    CHECK_U64(dl_log_get_region_count(log), regions);
    uint64_t x = 88172645463325252ull, first = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t r = x % regions;
        first = r < first ? r : first;
        CHECK_EQ(dl_log_mark_region(log, r), 0);
        CHECK_EQ(dl_log_set_region_sync(log, r, 1), 0); /* carve holes in the all-ones set */
    }
    CHECK_EQ(dl_log_mark_region(log, regions - 1), 0);
    CHECK_EQ(dl_log_is_clean(log, regions - 1), 0);
    CHECK_EQ(dl_log_is_clean(log, regions - 2), 1);
#ifdef __GLIBC__
    size_t used = heap_in_use() - before;
    const char *san = getenv("DL_SANITIZER");
    if (!san || !*san) {
        printf("core: 2^40 regions, 1,000 dirty: %zu KiB of heap\n", used >> 10);
        CHECK(used < (size_t)64 << 20);
    }
#endif
    /* The first out-of-sync region is 0 (all are, but for the 1,000). */
    uint64_t r;
    CHECK_EQ(dl_log_get_resync_work(log, &r), 1);
    CHECK(r <= 1000);
    uint64_t n;
    CHECK_EQ(dl_log_get_sync_count(log, &n), 0);
    CHECK(n <= 1000 && n > 900); /* duplicates in the random draw are possible */
    dl_log_destroy(log);
}

/* An all-in-sync log of 2^40 regions: find the few out-of-sync ones. */
static void test_sparse_resync(void)
{
    const uint64_t regions = (uint64_t)1 << 40;
    dl_log *log;
    CHECK_EQ(dl_log_create_table("core 2 2 nosync", regions * 2, &log), 0);
    if (!log)
        return;
    const uint64_t bad[] = {5, (uint64_t)1 << 32, ((uint64_t)1 << 39) + 77, regions - 1};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(dl_log_set_region_sync(log, bad[i], 0), 0);
    uint64_t n;
    CHECK_EQ(dl_log_get_sync_count(log, &n), 0);
    CHECK_U64(n, regions - 4);
    for (int i = 0; i < 4; i++) {
        uint64_t r = 0;
        CHECK_EQ(dl_log_get_resync_work(log, &r), 1);
        CHECK_U64(r, bad[i]);
    }
    uint64_t r;
    CHECK_EQ(dl_log_get_resync_work(log, &r), 0);
    dl_log_destroy(log);
}

int main(void)
{
    test_status();
    test_sparse_2_40();
    test_sparse_resync();
    return test_exit_status("core");
}
