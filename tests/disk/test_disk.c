/* The disk log: byte-exact formats (hand-built vectors), cheap flushes,
 * group commit, sticky failures, grow and geometry checks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "disk/crc32c.h"
#include "disk/disk_hooks.h"
#include "memio.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

static char dir[64];

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static dl_log *open_io(struct memio *m, const char *args, uint64_t target)
{
    dl_log *log = NULL;
    if (memio_open_words(m, args, target, &log) != 0) {
        fprintf(stderr, "opening '%s' failed: %s\n", args, dl_last_error());
        test_failures++;
    }
    return log;
}

/* A log on a new file `name` in dir (removed first), over a 100 KiB target,
 * from the table line "<head> <path> <tail>": its path in p, the file's
 * bytes in *b (*n long). NULL, the failure counted, if it does not open. */
static dl_log *open_new_file(char *p, size_t plen, const char *name, const char *head,
                             const char *tail, uint8_t **b, size_t *n)
{
    char t[256];
    path_of(p, plen, name);
    unlink(p);
    snprintf(t, sizeof t, "%s %s %s", head, p, tail);
    dl_log *log = open_table(t, 100 * 1024);
    CHECK(log != NULL);
    *b = log ? slurp(p, n) : NULL;
    return log;
}

static void test_crc32c(void)
{
    CHECK_U64(dl__crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_U64(dl__crc32c(0, "", 0), 0);
    /* Continuing a CRC gives the same as one pass. */
    CHECK_U64(dl__crc32c(dl__crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

/* ---- the dm format, from the spec ------------------------------------------ */

static void test_dm_new_file(void)
{
    char p[128], t[256];
    size_t n;
    uint8_t *b;
    dl_log *log = open_new_file(p, sizeof p, "dm-new", "disk 4", "1024 nosync format=dm", &b, &n);
    if (!log)
        return;
    /* 1024 + round_up(100, 64)/8 = 1040, rounded up to 512: 1536 bytes. */
    CHECK_U64(n, 1536);
    static const uint8_t hdr[16] = {0x72, 0x52, 0x69, 0x4D, 2, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0};
    CHECK(memcmp(b, hdr, 16) == 0);
    for (int i = 0; i < 12; i++)
        CHECK_EQ(b[1024 + i], 0xFF); /* nosync: 1 = clean/in sync */
    CHECK_EQ(b[1024 + 12], 0x0F);    /* regions 96..99; bits past 100 are 0 */
    CHECK_EQ(b[1024 + 13], 0);
    free(b);
    CHECK_EQ(dl_log_mark_region(log, 3), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    b = slurp(p, &n);
    CHECK_EQ(b[1024], 0xF7); /* region 3 written 0: may differ */
    free(b);
    CHECK_EQ(dl_log_clear_region(log, 3), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    b = slurp(p, &n);
    CHECK_EQ(b[1024], 0xFF);
    free(b);
    dl_log_destroy(log);

    /* A new log with no flag is out of sync: all bits 0. */
    unlink(p);
    snprintf(t, sizeof t, "disk 3 %s 1024 format=dm", p);
    log = open_table(t, 100 * 1024);
    CHECK(log != NULL);
    b = slurp(p, &n);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(b[1024 + i], 0);
    free(b);
    dl_log_destroy(log);
    unlink(p);
}

/* A dm log built byte by byte: 130 regions, regions 5 and 70 not clean, a
 * pattern in the unused bytes 16..1023 that must survive. */
static void build_dm_image(uint8_t *img, uint32_t version)
{
    memset(img, 0, 1536);
    const uint8_t hdr[16] = {0x72, 0x52, 0x69, 0x4D, (uint8_t)version, 0, 0, 0, 130, 0, 0, 0, 0, 0, 0, 0};
    memcpy(img, hdr, 16);
    for (int i = 16; i < 1024; i++)
        img[i] = (uint8_t)(i * 7);
    /* round_up(130, 64)/8 = 24 bytes; bits 130..191 are 0. */
    memset(img + 1024, 0xFF, 16);
    img[1024 + 16] = 0x03;
    img[1024 + 0] = 0xDF; /* region 5 */
    img[1024 + 8] = 0xBF; /* region 70 */
}

static void test_dm_vectors(void)
{
    uint8_t img[1536];
    build_dm_image(img, 2);
    struct memio m;
    memio_init(&m, 0, 0);
    memio_load(&m, img, sizeof img);
    dl_log *log = open_io(&m, "dmimg 1024 format=dm", 130 * 1024);
    if (log) {
        CHECK_EQ(dl_log_in_sync(log, 5, 1), 0);
        CHECK_EQ(dl_log_is_clean(log, 5), 0);
        CHECK_EQ(dl_log_in_sync(log, 70, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 0, 1), 1);
        CHECK_EQ(dl_log_in_sync(log, 129, 1), 1);
        CHECK_EQ(dl_log_is_clean(log, 129), 1);
        uint64_t c = 0;
        CHECK_EQ(dl_log_get_sync_count(log, &c), 0);
        CHECK_U64(c, 128);
        CHECK_U64(m.writes, 0); /* opening an existing log writes nothing */
        memio_reset_counters(&m);
        CHECK_EQ(dl_log_mark_region(log, 100), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        CHECK_U64(m.writes, 1);
        CHECK_U64(m.bytes_written, 512); /* one sector, not the whole area */
        CHECK_U64(m.syncs, 1);
        CHECK_EQ(m.buf[1024 + 12], 0xEF); /* region 100: byte 12, bit 4 */
        CHECK(memcmp(m.buf, img, 1024) == 0); /* header and bytes 16..1023 kept */
        /* Recovery of 5, then clear: its bit becomes 1 again. */
        CHECK_EQ(dl_log_set_region_sync(log, 5, 1), 0);
        CHECK_EQ(dl_log_clear_region(log, 5), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        CHECK_EQ(m.buf[1024], 0xFF);
        CHECK_EQ(m.buf[1024 + 16], 0x03);
        dl_log_destroy(log);
        CHECK_EQ(m.closed, 1);
    }
    memio_destroy(&m);

    /* Version 1 is promoted to 2 at resume. */
    build_dm_image(img, 1);
    memio_init(&m, 0, 0);
    memio_load(&m, img, sizeof img);
    log = open_io(&m, "dmimg 1024 format=dm", 130 * 1024);
    if (log) {
        CHECK_EQ(m.buf[4], 2);
        CHECK(memcmp(m.buf + 16, img + 16, 1008) == 0);
        CHECK_EQ(dl_log_in_sync(log, 70, 1), 0);
        dl_log_destroy(log);
    }
    memio_destroy(&m);
}

/* ---- the native format ---------------------------------------------------- */

static void test_native_vectors(void)
{
    char p[128], t[256];
    size_t n;
    uint8_t *b;
    dl_log *log = open_new_file(p, sizeof p, "native-new", "disk 3", "1024 nosync", &b, &n);
    if (!log)
        return;
    CHECK_U64(n, 8192 + 4096);
    static const uint8_t magic[4] = {0x44, 0x4C, 0x4F, 0x47}; /* "DLOG" */
    CHECK(memcmp(b, magic, 4) == 0);
    CHECK_U64(le32(b + 4), 1);       /* version */
    CHECK_U64(le32(b + 8), 0);       /* incompatible features */
    CHECK_U64(le32(b + 12), 0);      /* compatible features */
    CHECK_EQ(b[16 + 6] >> 4, 4);     /* uuid version 4 */
    CHECK_U64(le32(b + 32), 1024);   /* region_size */
    CHECK_U64(le32(b + 36), 4096);   /* block size */
    CHECK_U64(le64(b + 40), 100);    /* region_count */
    CHECK_U64(le64(b + 48), 1);      /* generation */
    CHECK_U64(le64(b + 56), 8192);   /* bitmap offset */
    CHECK_U64(le32(b + 508), dl__crc32c(0, b, 508));
    int zero = 1;
    for (int i = 64; i < 508; i++)
        zero &= b[i] == 0;
    for (int i = 4096; i < 4096 + 512; i++)
        zero &= b[i] == 0; /* slot 1 unused until generation 2 */
    for (size_t i = 8192; i < n; i++)
        zero &= b[i] == 0; /* nosync: nothing may differ */
    CHECK(zero);
    free(b);
    CHECK_EQ(dl_log_mark_region(log, 9), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    b = slurp(p, &n);
    CHECK_EQ(b[8192 + 1], 0x02); /* region 9: byte 1, bit 1; 1 = may differ */
    free(b);
    dl_log_destroy(log);

    unlink(p);
    snprintf(t, sizeof t, "disk 2 %s 1024", p); /* new, no flag: out of sync */
    log = open_table(t, 100 * 1024);
    CHECK(log != NULL);
    b = slurp(p, &n);
    for (int i = 0; i < 12; i++)
        CHECK_EQ(b[8192 + i], 0xFF);
    CHECK_EQ(b[8192 + 12], 0x0F);
    CHECK_EQ(b[8192 + 13], 0);
    free(b);
    dl_log_destroy(log);
    unlink(p);
}

/* ---- cheap flushes ---------------------------------------------------------- */

static atomic_ulong writes_at_callback;
static atomic_int callbacks;
static int callback_result;

static int record_callback(void *arg)
{
    struct memio *m = arg;
    atomic_store(&writes_at_callback, m->writes);
    atomic_fetch_add(&callbacks, 1);
    return callback_result;
}

static void test_cheap_flushes(int dm)
{
    const uint32_t unit = dm ? 512 : 4096;
    const uint64_t per_unit = unit * 8ull;
    struct memio m;
    memio_init(&m, 4096, 0); /* all zero: a blank device */
    dl_log *log = open_io(&m, dm ? "x 2 nosync format=dm" : "x 2 nosync", (1u << 20) * 2);
    if (!log) {
        memio_destroy(&m);
        return;
    }
    dl_log_set_flush_callback(log, record_callback, &m);
    atomic_store(&callbacks, 0);
    memio_reset_counters(&m);
    CHECK_EQ(dl_log_mark_region(log, 5), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_U64(m.writes, 1);
    CHECK_U64(m.bytes_written, unit);
    CHECK_U64(m.syncs, 1);
    CHECK_EQ(atomic_load(&callbacks), 0); /* no clean bit: no data flush */

    memio_reset_counters(&m);
    CHECK_EQ(dl_log_mark_region(log, 5), 0); /* already dirty on disk */
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_flush(log), 0); /* nothing changed */
    CHECK_U64(m.ops, 0);

    /* Two adjacent units: one write. */
    memio_reset_counters(&m);
    CHECK_EQ(dl_log_mark_region(log, 3 * per_unit + 1), 0);
    CHECK_EQ(dl_log_mark_region(log, 4 * per_unit), 0);
    CHECK_EQ(dl_log_mark_region(log, 4 * per_unit + 7), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_U64(m.writes, 1);
    CHECK_U64(m.bytes_written, 2 * unit);
    CHECK_U64(m.syncs, 1);

    /* Only clean bits: the callback first, then the write, and no sync. */
    memio_reset_counters(&m);
    CHECK_EQ(dl_log_clear_region(log, 5), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(atomic_load(&callbacks), 1);
    CHECK_U64(atomic_load(&writes_at_callback), 0);
    CHECK_U64(m.writes, 1);
    CHECK_U64(m.syncs, 0);

    /* Mark then clear before a flush: nothing to write. */
    memio_reset_counters(&m);
    CHECK_EQ(dl_log_mark_region(log, 9 * per_unit), 0);
    CHECK_EQ(dl_log_clear_region(log, 9 * per_unit), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_U64(m.ops, 0);

    /* Out of sync is persisted like a mark (set_region_sync(r, 0)). */
    memio_reset_counters(&m);
    CHECK_EQ(dl_log_set_region_sync(log, 77, 0), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_U64(m.writes, 1);
    CHECK_U64(m.syncs, 1);
    dl_log_destroy(log);

    /* Reopen: 77 is out of sync, 5 clean, the others dirty. */
    log = open_io(&m, dm ? "x 2 format=dm" : "x 2", (1u << 20) * 2);
    if (log) {
        CHECK_EQ(dl_log_in_sync(log, 77, 1), 0);
        CHECK_EQ(dl_log_is_clean(log, 5), 1);
        CHECK_EQ(dl_log_is_clean(log, 4 * per_unit + 7), 0);
        CHECK_EQ(dl_log_in_sync(log, 4 * per_unit + 7, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 4 * per_unit + 8, 1), 1);
        dl_log_destroy(log);
    }
    memio_destroy(&m);
}

/* ---- group commit ------------------------------------------------------------ */

enum { GC_THREADS = 8 };
static dl_log *gc_log;
static atomic_int gc_block_first;
static atomic_int gc_bad;

/* The first sync waits until every other flusher is queued behind it. */
static void gc_on_sync(struct memio *m)
{
    (void)m;
    if (!atomic_exchange(&gc_block_first, 0))
        return;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (dl__disk_flush_waiters(gc_log) < GC_THREADS) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 20) {
            fprintf(stderr, "group commit: flushers never queued\n");
            atomic_fetch_add(&gc_bad, 1);
            return;
        }
        sched_yield();
    }
}

static void *gc_thread(void *arg)
{
    uint64_t r = (uint64_t)(uintptr_t)arg;
    if (dl_log_mark_region(gc_log, r * 40000) != 0 || dl_log_flush(gc_log) != 0)
        atomic_fetch_add(&gc_bad, 1);
    return NULL;
}

static void test_group_commit(void)
{
    struct memio m;
    memio_init(&m, 4096, 0);
    gc_log = open_io(&m, "x 2 nosync", (1u << 20) * 2);
    if (!gc_log) {
        memio_destroy(&m);
        return;
    }
    m.on_sync = gc_on_sync;
    atomic_store(&gc_block_first, 1);
    memio_reset_counters(&m);
    pthread_t first, th[GC_THREADS];
    CHECK_EQ(pthread_create(&first, NULL, gc_thread, (void *)(uintptr_t)(GC_THREADS + 1)), 0);
    /* The others start once the first flush's round is running: its sync
     * blocks until all of them wait. */
    for (unsigned long w = 0; w == 0 && !atomic_load(&gc_bad);) {
        sched_yield();
        pthread_mutex_lock(&m.lock);
        w = m.writes;
        pthread_mutex_unlock(&m.lock);
    }
    for (int i = 0; i < GC_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, gc_thread, (void *)(uintptr_t)(i + 1)), 0);
    pthread_join(first, NULL);
    for (int i = 0; i < GC_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&gc_bad), 0);
    /* 9 flush calls, 2 rounds: the first one's, and one shared by 8. */
    CHECK_U64(m.syncs, 2);
    /* Round 1: unit 10. Round 2: units 1-4 and 6-9, coalesced: 2 writes. */
    CHECK_U64(m.writes, 3);
    for (uint64_t i = 1; i <= GC_THREADS + 1; i++)
        CHECK_EQ((m.buf[8192 + i * 40000 / 8] >> (i * 40000 % 8)) & 1, 1);
    dl_log_destroy(gc_log);
    memio_destroy(&m);
}

/* ---- sticky failures ------------------------------------------------------ */

static void expect_failed(dl_log *log, char letter)
{
    char buf[256], want[64];
    snprintf(want, sizeof want, "3 disk x %c", letter);
    CHECK(dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf) > 0);
    CHECK_STR(buf, want);
    for (uint64_t r = 0; r < 64; r++) {
        CHECK_EQ(dl_log_is_clean(log, r), 0);
        CHECK_EQ(dl_log_in_sync(log, r, 1), 0);
    }
    uint64_t c = 1;
    CHECK_EQ(dl_log_get_sync_count(log, &c), 0);
    CHECK_U64(c, 0);
}

static void test_sticky(void)
{
    static const struct {
        int what; /* 0 write fails, 1 sync fails, 2 callback fails */
        int err;
        char letter;
    } cases[] = {{0, EIO, 'D'}, {0, ENOSPC, 'D'}, {1, EIO, 'F'}, {2, EIO, 'F'}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct memio m;
        memio_init(&m, 4096, 0);
        dl_log *log = open_io(&m, "x 1024 nosync", 64 * 1024);
        if (!log) {
            memio_destroy(&m);
            continue;
        }
        char buf[64];
        dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf);
        CHECK_STR(buf, "3 disk x A");
        dl_log_set_flush_callback(log, record_callback, &m);
        callback_result = 0;
        CHECK_EQ(dl_log_mark_region(log, 1), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        memio_reset_counters(&m);
        m.fail_errno = cases[i].err;
        if (cases[i].what == 2) {
            callback_result = -EIO;
            CHECK_EQ(dl_log_clear_region(log, 1), 0);
        } else {
            CHECK_EQ(dl_log_mark_region(log, 2), 0);
            m.fail_at = cases[i].what == 0 ? 0 : 1; /* the write, or the sync after it */
        }
        CHECK_EQ(dl_log_flush(log), -cases[i].err);
        CHECK(strstr(dl_last_error(), "failed") != NULL);
        if (cases[i].what == 2)
            CHECK_U64(m.writes, 0); /* the clean bit was never written */
        expect_failed(log, cases[i].letter);
        /* Sticky: later flushes fail at once, without I/O. */
        unsigned long ops = m.ops;
        CHECK_EQ(dl_log_mark_region(log, 3), 0);
        CHECK_EQ(dl_log_flush(log), -cases[i].err);
        CHECK_U64(m.ops, ops);
        CHECK_EQ(dl_log_postsuspend(log), -cases[i].err);
        expect_failed(log, cases[i].letter);
        callback_result = 0;
        dl_log_destroy(log);
        memio_destroy(&m);
    }
}

/* ---- geometry: mismatch, grow ------------------------------------------------ */

static void test_geometry_checks(int dm)
{
    char p[128], t[256];
    const char *fmt = dm ? " format=dm" : "";
    int extra = dm ? 1 : 0;
    path_of(p, sizeof p, dm ? "grow-dm" : "grow");
    unlink(p);
    snprintf(t, sizeof t, "disk %d %s 1024 nosync%s", 3 + extra, p, fmt);
    dl_log *log = open_table(t, 100 * 1024);
    CHECK(log != NULL);
    if (!log)
        return;
    CHECK_EQ(dl_log_mark_region(log, 7), 0);
    CHECK_EQ(dl_log_mark_region(log, 99), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    dl_log_destroy(log);
    uint64_t h = file_hash(p);

    /* More regions without 'grow': refused, file untouched. */
    snprintf(t, sizeof t, "disk %d %s 1024%s", 2 + extra, p, fmt);
    log = (dl_log *)1;
    CHECK_EQ(dl_log_create_table(t, 200 * 1024, &log), -EINVAL);
    CHECK(log == NULL);
    CHECK(strstr(dl_last_error(), "grow") != NULL);
    CHECK(strstr(dl_last_error(), "100") != NULL);
    /* Fewer regions: refused. */
    CHECK_EQ(dl_log_create_table(t, 50 * 1024, &log), -EINVAL);
    CHECK(strstr(dl_last_error(), "shrink") != NULL);
    if (!dm) {
        snprintf(t, sizeof t, "disk 2 %s 2048", p);
        CHECK_EQ(dl_log_create_table(t, 50 * 2048, &log), -EINVAL);
        CHECK(strstr(dl_last_error(), "region_size 1024") != NULL);
    }
    CHECK_U64(file_hash(p), h);

    snprintf(t, sizeof t, "disk %d %s 1024 grow%s", 3 + extra, p, fmt);
    log = open_table(t, 1000 * 1024);
    CHECK(log != NULL);
    if (log) {
        char buf[256];
        CHECK(dl_log_status(log, DL_STATUS_TABLE, buf, sizeof buf) > 0);
        CHECK_STR(buf, t);
        CHECK_EQ(dl_log_in_sync(log, 7, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 8, 1), 1);
        CHECK_EQ(dl_log_in_sync(log, 99, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 100, 1), 0); /* new regions are dirty */
        CHECK_EQ(dl_log_is_clean(log, 999), 0);
        uint64_t c;
        CHECK_EQ(dl_log_get_sync_count(log, &c), 0);
        CHECK_U64(c, 98);
        dl_log_destroy(log);
    }
    /* Now it holds 1000 regions: opens without grow. */
    snprintf(t, sizeof t, "disk %d %s 1024%s", 2 + extra, p, fmt);
    log = open_table(t, 1000 * 1024);
    CHECK(log != NULL);
    if (log) {
        CHECK_EQ(dl_log_in_sync(log, 500, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 50, 1), 1);
        dl_log_destroy(log);
    }
    unlink(p);
}

/* Arguments: options are echoed; a wrong format is named. */
static void test_args(void)
{
    char p[128], t[256], buf[256];
    path_of(p, sizeof p, "args");
    unlink(p);
    snprintf(t, sizeof t, "disk 5 %s 1024 block_on_error format=native nosync", p);
    dl_log *log = open_table(t, 64 * 1024);
    CHECK(log != NULL);
    if (log) {
        CHECK(dl_log_status(log, DL_STATUS_TABLE, buf, sizeof buf) > 0);
        CHECK_STR(buf, t);
        dl_log_destroy(log);
    }
    snprintf(t, sizeof t, "disk 3 %s 1024 format=dm", p); /* a native file opened as dm */
    CHECK(dl_log_create_table(t, 64 * 1024, &log) == -EINVAL);
    CHECK(strstr(dl_last_error(), "magic") != NULL);
    snprintf(t, sizeof t, "disk 4 %s 1024 format=dm format=native", p);
    CHECK(dl_log_create_table(t, 64 * 1024, &log) == -EINVAL);
    snprintf(t, sizeof t, "disk 4 %s 1024 grow grow", p);
    CHECK(dl_log_create_table(t, 64 * 1024, &log) == -EINVAL);
    snprintf(t, sizeof t, "disk 3 %s 1024 format=xfs", p);
    CHECK(dl_log_create_table(t, 64 * 1024, &log) == -EINVAL);
    CHECK(strstr(dl_last_error(), "format=xfs") != NULL);
    unlink(p);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/dl-disk-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc32c();
    test_dm_new_file();
    test_dm_vectors();
    test_native_vectors();
    test_cheap_flushes(0);
    test_cheap_flushes(1);
    test_group_commit();
    test_sticky();
    test_geometry_checks(0);
    test_geometry_checks(1);
    test_args();
    rmdir(dir);
    return test_exit_status("test_disk");
}
