/* Defects of issue 8 §5, each reproduced on the memory device (and a real
 * file where it matters):
 *  - a grow that runs out of space changes nothing: same length, same bytes,
 *    the resume fails with the cause, and the log opens as before;
 *  - a log file truncated under an open log fails the log ('D') at the next
 *    flush that writes, instead of flushes returning 0 into nowhere;
 *  - the first failing flush names its cause; later ones say it failed
 *    earlier (and why). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "memio.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

static void expect_status(dl_log *log, char letter)
{
    char buf[256], want[64];
    snprintf(want, sizeof want, "3 disk x %c", letter);
    CHECK(dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf) > 0);
    CHECK_STR(buf, want);
}

/* ---- a failed grow changes nothing ---------------------------------------- */

enum ops { BOTH_OPS, SET_SIZE_ONLY };

static void test_failed_grow(int dm, const char *flag, enum ops ops)
{
    const char *fmt = dm ? " format=dm" : "";
    char t[128];
    struct memio m;
    memio_init(&m, 4096, 0);
    memio_init_ops(&m, 1, ops == BOTH_OPS);
    dl_log *log;
    snprintf(t, sizeof t, "x 1024 nosync%s", fmt);
    CHECK_EQ(memio_open_words(&m, t, 100 * 1024, &log), 0);
    if (!log) {
        memio_destroy(&m);
        return;
    }
    CHECK_EQ(dl_log_mark_region(log, 7), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    dl_log_destroy(log);
    uint64_t old_size = m.size;
    uint8_t *old = malloc(old_size);
    memcpy(old, m.buf, old_size);

    /* 100 -> 100000 regions: native needs 24576 bytes, dm 13824. The disk
     * holds 16384 (native) or 4096 (dm): the first new units fit, the rest
     * do not. */
    m.space_cap = dm ? 4096 : 16384;
    memio_reset_counters(&m);
    snprintf(t, sizeof t, "x 1024 grow%s%s", flag, fmt);
    int r = memio_open_words(&m, t, 100000 * 1024ull, &log);
    CHECK_EQ(r, -ENOSPC);
    CHECK(log == NULL);
    CHECK(strstr(dl_last_error(), dl_strerror(-ENOSPC)) != NULL);
    CHECK(strstr(dl_last_error(), "unchanged") != NULL);
    if (ops == BOTH_OPS)
        CHECK_U64(m.writes, 0); /* the reservation failed before any write */
    CHECK_U64(m.size, old_size);
    CHECK(m.size == old_size && memcmp(m.buf, old, old_size) == 0);

    /* The log opens as before, region 7 still dirty; then the grow works. */
    m.space_cap = 0;
    snprintf(t, sizeof t, "x 1024%s", fmt);
    CHECK_EQ(memio_open_words(&m, t, 100 * 1024, &log), 0);
    if (log) {
        CHECK_EQ(dl_log_is_clean(log, 7), 0);
        CHECK_EQ(dl_log_is_clean(log, 8), 1);
        dl_log_destroy(log);
    }
    snprintf(t, sizeof t, "x 1024 grow%s", fmt);
    CHECK_EQ(memio_open_words(&m, t, 100000 * 1024ull, &log), 0);
    if (log) {
        CHECK_EQ(dl_log_is_clean(log, 7), 0);
        CHECK_EQ(dl_log_is_clean(log, 8), 1);
        CHECK_EQ(dl_log_is_clean(log, 99999), 0);
        dl_log_destroy(log);
    }
    free(old);
    memio_destroy(&m);
}

/* ---- a log truncated under the open log ------------------------------------ */

static void test_truncated_memio(int dm)
{
    struct memio m;
    memio_init(&m, 4096, 0);
    dl_log *log;
    const char *table = dm ? "x 1024 nosync format=dm" : "x 1024 nosync";
    CHECK_EQ(memio_open_words(&m, table, 100 * 1024, &log), 0);
    if (!log) {
        memio_destroy(&m);
        return;
    }
    CHECK_EQ(dl_log_mark_region(log, 1), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    pthread_mutex_lock(&m.lock);
    m.size = 512; /* someone truncated the file */
    pthread_mutex_unlock(&m.lock);
    CHECK_EQ(dl_log_mark_region(log, 2), 0);
    CHECK_EQ(dl_log_flush(log), -EIO);
    CHECK(strstr(dl_last_error(), "truncated") != NULL);
    expect_status(log, 'D');
    CHECK_EQ(dl_log_is_clean(log, 50), 0); /* a failed log reads all dirty */
    CHECK_EQ(dl_log_flush(log), -EIO);     /* sticky */
    CHECK(strstr(dl_last_error(), "earlier") != NULL);
    dl_log_destroy(log);
    memio_destroy(&m);
}

static void test_truncated_file(void)
{
    char dir[] = "/tmp/dl-trunc-XXXXXX", path[64], t[128];
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/x.log", dir);
    snprintf(t, sizeof t, "disk 3 %s 1024 nosync", path);
    dl_log *log = open_table(t, 100 * 1024);
    CHECK(log != NULL);
    if (log) {
        CHECK_EQ(dl_log_mark_region(log, 1), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        CHECK_EQ(truncate(path, 0), 0);
        CHECK_EQ(dl_log_mark_region(log, 2), 0);
        CHECK_EQ(dl_log_flush(log), -EIO);
        CHECK(strstr(dl_last_error(), path) != NULL);
        CHECK(strstr(dl_last_error(), "truncated") != NULL);
        char buf[256], want[128];
        snprintf(want, sizeof want, "3 disk %s D", path);
        CHECK(dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf) > 0);
        CHECK_STR(buf, want);
        dl_log_destroy(log);
    }
    unlink(path);
    rmdir(dir);
}

/* ---- the first failing flush names its cause -------------------------------- */

static void test_first_failure_message(int err, const char *cause)
{
    struct memio m;
    memio_init(&m, 4096, 0);
    dl_log *log;
    CHECK_EQ(memio_open_words(&m, "x 1024 nosync", 100 * 1024, &log), 0);
    if (!log) {
        memio_destroy(&m);
        return;
    }
    CHECK_EQ(dl_log_mark_region(log, 1), 0);
    memio_reset_counters(&m);
    m.fail_at = 0; /* the bitmap write */
    m.fail_errno = err;
    CHECK_EQ(dl_log_flush(log), -err);
    const char *e = dl_last_error();
    CHECK(strstr(e, "flush of disk log x failed") != NULL);
    CHECK(strstr(e, cause) != NULL);
    CHECK(strstr(e, "earlier") == NULL);
    if (strstr(e, cause) == NULL || strstr(e, "earlier") != NULL)
        fprintf(stderr, "first failure said: %s\n", e);
    CHECK_EQ(dl_log_mark_region(log, 2), 0);
    CHECK_EQ(dl_log_flush(log), -err);
    e = dl_last_error();
    CHECK(strstr(e, "earlier") != NULL);
    CHECK(strstr(e, cause) != NULL);
    expect_status(log, 'D');
    dl_log_destroy(log);
    memio_destroy(&m);
}

int main(void)
{
    for (int dm = 0; dm < 2; dm++) {
        test_failed_grow(dm, "", BOTH_OPS);
        test_failed_grow(dm, "", SET_SIZE_ONLY);
        test_failed_grow(dm, " sync", SET_SIZE_ONLY);
        test_failed_grow(dm, " nosync", SET_SIZE_ONLY);
        test_truncated_memio(dm);
    }
    test_truncated_file();
    test_first_failure_message(ENOSPC, dl_strerror(-ENOSPC));
    test_first_failure_message(EIO, dl_strerror(-EIO));
    return test_exit_status("test_disk_defects");
}
