/* The disk log on a real block device (a loop device over a sparse file):
 * size and logical block size come from the ioctls, a blank device is
 * formatted in place, marks persist. Without root or loop support it prints
 * SKIP and exits 77 (ctest reports the test as skipped). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/check.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

static int run_cmd(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = out ? fread(out, 1, len - 1, p) : 0;
    if (out) {
        out[n] = '\0';
        out[strcspn(out, "\n")] = '\0';
    }
    return pclose(p);
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
    dl_log_destroy(log);
    snprintf(t, sizeof t, "disk %d %s 1024%s", dm ? 3 : 2, dev, dm ? " format=dm" : "");
    log = open_table(t, 5000 * 1024);
    CHECK(log != NULL);
    if (log) {
        CHECK_EQ(dl_log_is_clean(log, 4321), 0);
        CHECK_EQ(dl_log_in_sync(log, 4321, 1), 0);
        CHECK_EQ(dl_log_in_sync(log, 4320, 1), 1);
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
