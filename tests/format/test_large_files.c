/* Large files (> 4 GiB) through the library on every architecture, 32-bit
 * ones included (the library must be built with a 64-bit off_t):
 *  1. dl_io_open_posix on a sparse 5 GiB file: open and size work, a write
 *     at 4 GiB + 4 KiB reads back there and did not land 4 GiB lower (a
 *     32-bit offset would wrap);
 *  2. a dm-format disk log on a blank sparse 5 GiB file: formatted in place,
 *     the last region marked and flushed, read back after a reopen.
 * The test sets a 64-bit off_t itself, so its own setup works whatever the
 * build does: what is checked is the library. */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L
#include <dirtylog.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define GIB (UINT64_C(1) << 30)
#define BIG_FILE (5 * GIB)

static char dir[] = "/tmp/dl-large-XXXXXX";

/* A sparse file of `bytes` zeros (no block allocated). */
static int make_sparse(const char *path, uint64_t bytes)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int r = ftruncate(fd, (off_t)bytes);
    close(fd);
    return r;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void test_io_past_4g(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/raw.img", dir);
    CHECK_EQ(make_sparse(path, BIG_FILE), 0);

    struct dl_io *io = NULL;
    int r = dl_io_open_posix(path, 0, 0, &io);
    CHECK_EQ(r, 0);
    if (r < 0) {
        fprintf(stderr, "dl_io_open_posix: %s\n", dl_last_error());
        return;
    }
    uint64_t bytes = 0;
    uint32_t lbs = 0;
    CHECK_EQ(io->size(io, &bytes, &lbs), 0);
    CHECK_U64(bytes, BIG_FILE);

    const uint64_t off = 4 * GIB + 4096;
    char out[512], in[512];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 7 + 1);
    CHECK_EQ(io->pwrite(io, out, sizeof out, off), (int64_t)sizeof out);
    CHECK_EQ(io->sync(io), 0);
    memset(in, 0, sizeof in);
    CHECK_EQ(io->pread(io, in, sizeof in, off), (int64_t)sizeof in);
    CHECK(memcmp(in, out, sizeof in) == 0);
    io->close(io);

    /* Independently of the library: the bytes are at 4 GiB + 4 KiB, and the
     * place a wrapped 32-bit offset would have hit is still zero. */
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    memset(in, 0, sizeof in);
    CHECK_EQ(pread(fd, in, sizeof in, (off_t)off), (ssize_t)sizeof in);
    CHECK(memcmp(in, out, sizeof in) == 0);
    static const char zeros[512];
    CHECK_EQ(pread(fd, in, sizeof in, (off_t)(off - 4 * GIB)), (ssize_t)sizeof in);
    CHECK(memcmp(in, zeros, sizeof in) == 0);
    close(fd);
    CHECK_U64(file_size(path), BIG_FILE);
    unlink(path);
}

static void test_disk_log_on_big_file(void)
{
    char path[64], table[128];
    snprintf(path, sizeof path, "%s/dm.log", dir);
    CHECK_EQ(make_sparse(path, BIG_FILE), 0);
    /* 2^20 regions of 8 sectors: a 128 KiB bitmap at the start of the file. */
    const uint64_t regions = UINT64_C(1) << 20, target = regions * 8;
    /* nosync: everything in sync, so after the reopen only the mark is dirty */
    snprintf(table, sizeof table, "disk 4 %s 8 format=dm nosync", path);

    dl_log *log = NULL;
    int r = dl_log_create_table(table, target, &log);
    CHECK_EQ(r, 0);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", table, dl_last_error());
        return;
    }
    CHECK_EQ(dl_log_resume(log), 0);
    CHECK_EQ(dl_log_mark_region(log, regions - 1), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    dl_log_destroy(log);
    CHECK_U64(file_size(path), BIG_FILE);

    log = NULL;
    snprintf(table, sizeof table, "disk 3 %s 8 format=dm", path); /* keep what it says */
    CHECK_EQ(dl_log_create_table(table, target, &log), 0);
    if (!log)
        return;
    CHECK_EQ(dl_log_resume(log), 0);
    CHECK_EQ(dl_log_is_clean(log, regions - 1), 0);
    CHECK_EQ(dl_log_is_clean(log, regions - 2), 1);
    dl_log_destroy(log);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_io_past_4g();
    test_disk_log_on_big_file();
    /* what a failed check left behind */
    const char *files[] = {"raw.img", "dm.log"};
    for (unsigned i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_exit_status("test_large_files");
}
