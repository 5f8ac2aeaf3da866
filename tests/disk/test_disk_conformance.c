/* The generic conformance suite against the disk log, in both formats. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/check.h"
#include "conformance.h"

TEST_MAIN_DEFINITIONS

struct disk_fx {
    char path[256];
    const char *extra; /* "" or " format=dm" */
};

static int disk_table(void *arg, unsigned tail_argc, const char *tail, char *buf, size_t len)
{
    struct disk_fx *f = arg;
    unsigned extra = f->extra[0] ? 1 : 0;
    int n = snprintf(buf, len, "disk %u %s%s%s%s", tail_argc + 1 + extra, f->path, *tail ? " " : "",
                     tail, f->extra);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void disk_reset(void *arg)
{
    unlink(((struct disk_fx *)arg)->path);
}

int main(void)
{
    char dir[] = "/tmp/dl-disk-conf-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct disk_fx native = {.extra = ""}, dm = {.extra = " format=dm"};
    snprintf(native.path, sizeof native.path, "%s/log", dir);
    snprintf(dm.path, sizeof dm.path, "%s/dmlog", dir);
    /* 2^24 + 5 regions: a 2 MiB bitmap; bigger logs are not practical on disk. */
    const struct conf_fixture fx[2] = {
        {.name = "disk", .make_table = disk_table, .reset = disk_reset, .arg = &native,
         .persistent = 1, .huge_regions = (1ull << 24) + 5},
        {.name = "disk(dm format)", .make_table = disk_table, .reset = disk_reset, .arg = &dm,
         .persistent = 1, .huge_regions = (1ull << 24) + 5},
    };
    for (int i = 0; i < 2; i++) {
        conformance_run(&fx[i]);
        disk_reset(fx[i].arg);
    }
    rmdir(dir);
    return test_exit_status("conformance_disk");
}
