/* The generic conformance suite through `userspace`, backed by core and (once
 * the type exists) by disk, against a private dirtylogd. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "conformance.h"
#include "daemon_fixture.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

static struct daemon_fx fx;

struct backing {
    const char *inner; /* "core" or "disk <file>" */
    unsigned inner_words;
    unsigned generation; /* a fresh uuid per reset */
    char file[128];
};

static int make_table(void *arg, unsigned tail_argc, const char *tail, char *buf, size_t len)
{
    struct backing *b = arg;
    int n = snprintf(buf, len, "userspace %u conf-%s-%u socket=%s %s %s",
                     2 + b->inner_words + tail_argc, b->inner[0] == 'c' ? "core" : "disk",
                     b->generation, fx.socket, b->inner, tail);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void reset(void *arg)
{
    struct backing *b = arg;
    b->generation++;
    if (b->file[0])
        unlink(b->file);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    /* The huge-log case asks for 2^33 + 5 regions: over the default cap. */
    const char *extra[] = {"--max-regions", "17179869184", NULL};
    if (daemon_start(&fx, argv[1], extra) < 0)
        return 1;
    int failed = 0;

    struct backing core = {.inner = "core", .inner_words = 1};
    struct conf_fixture fc = {.name = "userspace(core)", .make_table = make_table,
                              .reset = reset, .arg = &core, .persistent = 0};
    failed += conformance_run(&fc);

    if (dl_find_type("disk")) {
        static char inner[200];
        struct backing disk = {.inner = inner, .inner_words = 2};
        snprintf(disk.file, sizeof disk.file, "%s/disk.log", fx.dir);
        snprintf(inner, sizeof inner, "disk %s", disk.file);
        struct conf_fixture fd = {.name = "userspace(disk)", .make_table = make_table,
                                  .reset = reset, .arg = &disk, .persistent = 1,
                                  .huge_regions = 1ull << 20};
        failed += conformance_run(&fd);
    } else {
        printf("SKIP: userspace(disk): no \"disk\" log type registered yet\n");
    }
    if (daemon_stop(&fx) != 0) {
        fprintf(stderr, "dirtylogd did not exit cleanly\n");
        failed++;
    }
    daemon_cleanup(&fx);
    printf("userspace conformance: %d failure(s)\n", failed);
    return failed ? 1 : 0;
}
