/* The disk log on a real block device (a loop device over a sparse file):
 * size and logical block size come from the ioctls, a blank device is
 * formatted in place, marks persist. The writer owns the device (O_EXCL): a
 * second writer, in this process or another, gets -EBUSY and writes
 * nothing, while a read-only open still reads it. Without root or loop
 * support it prints SKIP and exits 77 (ctest reports the test as skipped). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "common/run_cmd.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

/* FNV-1a 64 of the whole device, read through a read-only (unclaimed) io;
 * 0 if it cannot be read. */
static uint64_t device_hash(const char *dev)
{
    struct dl_io *io;
    if (dl_io_open_posix(dev, 1, 0, &io) != 0)
        return 0;
    static uint8_t buf[1 << 16];
    uint64_t h = 1469598103934665603ull, off = 0;
    int64_t n;
    while ((n = io->pread(io, buf, sizeof buf, off)) > 0) {
        for (int64_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ull;
        off += (uint64_t)n;
    }
    io->close(io);
    return n < 0 ? 0 : h;
}

/* A second writer of the device, while `table` is open: refused with
 * -EBUSY and a message naming the device. 1 if so. */
static int second_writer_refused(const char *table, const char *dev)
{
    dl_log *log = NULL;
    char want[160];
    snprintf(want, sizeof want, "log %s is in use by another process", dev);
    int r = dl_log_create_table(table, 5000 * 1024, &log);
    if (r == 0) {
        /* as an engine would: this is what must never happen */
        if (dl_log_resume(log) == 0 && dl_log_mark_region(log, 17) == 0)
            dl_log_flush(log);
        dl_log_destroy(log);
    }
    if (r != -EBUSY || !strstr(dl_last_error(), want)) {
        fprintf(stderr, "second writer of %s: %d (%s)\n", dev, r, dl_last_error());
        return 0;
    }
    return 1;
}

static void check_one_owner(const char *table, const char *dev)
{
    uint64_t before = device_hash(dev);
    CHECK(before != 0);
    CHECK(second_writer_refused(table, dev));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(second_writer_refused(table, dev) ? 0 : 1);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_U64(device_hash(dev), before);
}

static void use_device(const char *dev, int dm)
{
    struct dl_io *io;
    CHECK_EQ(dl_io_open_posix(dev, 1, 0, &io), 0);
    uint64_t bytes = 0;
    uint32_t lbs = 0;
    CHECK_EQ(io->size(io, &bytes, &lbs), 0);
    CHECK_U64(bytes, 4u << 20);
    CHECK(lbs >= 512 && (lbs & (lbs - 1)) == 0);
    io->close(io);

    char t[256];
    snprintf(t, sizeof t, "disk %d %s 1024 nosync%s", dm ? 4 : 3, dev, dm ? " format=dm" : "");
    dl_log *log = open_table(t, 5000 * 1024);
    CHECK(log != NULL);
    if (!log)
        return;
    char buf[256], want[256];
    snprintf(want, sizeof want, "3 disk %s A", dev);
    CHECK(dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf) > 0);
    CHECK_STR(buf, want);
    CHECK_EQ(dl_log_mark_region(log, 4321), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    check_one_owner(t, dev);
    snprintf(t, sizeof t, "disk %d %s 1024%s", dm ? 3 : 2, dev, dm ? " format=dm" : "");
    check_one_owner(t, dev);
    dl_log_destroy(log);
    log = open_table(t, 5000 * 1024);
    CHECK(log != NULL);
    if (log) {
        CHECK_EQ(dl_log_is_clean(log, 4321), 0);
        CHECK_EQ(dl_log_in_sync(log, 4321, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 4320, 1), 1);
        CHECK_EQ(dl_log_in_sync(log, 17, 1), 1); /* no second writer marked it */
        dl_log_destroy(log);
    }
}

int main(void)
{
    char dir[] = "/tmp/dl-blk-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char file[128], cmd[256], dev[128] = "";
    int dm;
    int skipped = 0;
    for (dm = 0; dm < 2 && !skipped; dm++) {
        snprintf(file, sizeof file, "%s/backing%d", dir, dm);
        FILE *f = fopen(file, "w");
        if (!f || ftruncate(fileno(f), 4 << 20) != 0) {
            printf("SKIP: cannot make a backing file\n");
            skipped = 1;
            if (f)
                fclose(f);
            break;
        }
        fclose(f);
        snprintf(cmd, sizeof cmd, "losetup -f --show %s 2>/dev/null", file);
        struct stat st;
        if (run_cmd(cmd, dev, sizeof dev) != 0 || strncmp(dev, "/dev/", 5) != 0 ||
            stat(dev, &st) != 0 || !S_ISBLK(st.st_mode)) {
            printf("SKIP: no loop device (losetup failed: needs root and loop support)\n");
            skipped = 1;
            break;
        }
        printf("using %s (%s format)\n", dev, dm ? "dm" : "native");
        use_device(dev, dm);
        snprintf(cmd, sizeof cmd, "losetup -d %s", dev);
        CHECK_EQ(run_cmd(cmd, NULL, 0), 0);
        unlink(file);
    }
    unlink(file);
    rmdir(dir);
    if (skipped && test_failures == 0)
        return 77;
    return test_exit_status("test_disk_blockdev");
}
