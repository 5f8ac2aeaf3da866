/* A disk log read without writing it (see logview.h). */
#define _POSIX_C_SOURCE 200809L
#include "logview.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk_scan.h"
#include "log_internal.h" /* dl__parse_u64 */

static int fail(struct logview *v, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, sizeof v->err, fmt, ap);
    va_end(ap);
    return err;
}

/* Split `s` in place on white space, as table lines are: the word count, or
 * -E2BIG past `max` words. */
static int split_words(char *s, char **words, unsigned max)
{
    unsigned n = 0;
    for (char *p = s;;) {
        while (isspace((unsigned char)*p))
            *p++ = '\0';
        if (!*p)
            return (int)n;
        if (n == max)
            return -E2BIG;
        words[n++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
    }
}

/* Run the disk type's constructor on a read-only io: it checks the line and
 * the header the way a writer's open does, and cannot write. */
static int check_with_constructor(struct logview *v, unsigned argc, char **argv,
                                  uint64_t target_sectors)
{
    struct dl_io *io;
    int r = dl_io_open_posix(v->path, 1, 0, &io);
    if (r < 0)
        return fail(v, r, "%s", dl_last_error());
    dl_log *log;
    r = dl_log_create_disk_io(target_sectors, argc, (const char *const *)argv, io, &log);
    if (r < 0) {
        io->close(io); /* a failed create leaves a given io to its owner */
        return fail(v, r, "%s", dl_last_error()); /* names the log device */
    }
    v->region_size = dl_log_get_region_size(log);
    v->region_count = dl_log_get_region_count(log);
    dl_log_destroy(log); /* never resumed: nothing was loaded or written */
    return 0;
}

static int open_parsed(struct logview *v, char **words, unsigned n, uint64_t target_sectors)
{
    if (n == 0)
        return fail(v, -EINVAL, "the table line is empty");
    if (strcmp(words[0], "disk") != 0)
        return fail(v, -EOPNOTSUPP,
                    "a read-only status or verify needs a disk log; a \"%s\" log keeps its "
                    "state in the process or daemon that holds it (--write opens a new one "
                    "here, which claims the legs)",
                    words[0]);
    uint64_t argc;
    if (n < 3 || dl__parse_u64(words[1], &argc) < 0 || argc != n - 2)
        return fail(v, -EINVAL, "table line: \"disk <argc> <log device> <region size> ...\" "
                                "with argc counting the words after it");
    if (!(v->path = strdup(words[2])))
        return fail(v, -ENOMEM, "out of memory");
    for (unsigned i = 3; i < n; i++)
        if (!strcmp(words[i], "sync") || !strcmp(words[i], "nosync"))
            v->sync_flag = !strcmp(words[i], "sync") ? "sync" : "nosync";

    int r = dl_io_open_posix(v->path, 1, 0, &v->io);
    if (r < 0)
        return fail(v, r, "%s", dl_last_error());
    char err[256] = "";
    r = dl__disk_read_header(v->io, DISK_FORMAT_AUTO, &v->info, err, sizeof err);
    if (r == 1)
        return fail(v, -ENODATA, "log %s is not formatted (its header is all zero): no mirror "
                                 "has opened it for writing yet", v->path);
    if (r < 0)
        return fail(v, r, "log %s: %s", v->path, err);
    if ((r = check_with_constructor(v, (unsigned)argc, words + 2, target_sectors)) < 0)
        return r;
    if (v->info.region_count != v->region_count)
        return fail(v, -EINVAL, "log %s holds %" PRIu64 " regions but the mirror has %" PRIu64
                                ": open it for writing once (resync) so it grows",
                    v->path, v->info.region_count, v->region_count);
    return 0;
}

int logview_open(struct logview *v, const char *table, uint64_t target_sectors)
{
    memset(v, 0, sizeof *v);
    char *copy = strdup(table ? table : "");
    char *words[DL_MAX_ARGS + 2];
    if (!copy)
        return fail(v, -ENOMEM, "out of memory");
    int n = split_words(copy, words, DL_MAX_ARGS + 2);
    int r = n < 0 ? fail(v, n, "the table line has more than %d arguments", DL_MAX_ARGS)
                  : open_parsed(v, words, (unsigned)n, target_sectors);
    free(copy);
    if (r < 0)
        logview_close(v); /* keeps v->err */
    return r;
}

int logview_count(struct logview *v, uint64_t *may_differ)
{
    struct disk_scan_result res;
    char err[256] = "";
    int r = dl__disk_scan_bitmap(v->io, &v->info, NULL, NULL, &res, err, sizeof err);
    if (r < 0)
        return fail(v, r, "log %s: %s", v->path, err);
    *may_differ = res.may_differ;
    return 0;
}

int logview_may_differ(struct logview *v, uint64_t region)
{
    if (region >= v->region_count)
        return fail(v, -EINVAL, "region %" PRIu64 " is past the log's %" PRIu64, region,
                    v->region_count);
    uint8_t byte;
    int64_t got = dl__disk_read_full(v->io, &byte, 1, v->info.bitmap_offset + region / 8);
    if (got < 0)
        return fail(v, (int)got, "log %s: reading the bit of region %" PRIu64 ": %s", v->path,
                    region, strerror((int)-got));
    if (got == 0)
        return fail(v, -EIO, "log %s ends before the bit of region %" PRIu64 " (truncated?)",
                    v->path, region);
    return disk_bit_may_differ(&v->info, (byte >> (region % 8)) & 1);
}

const char *logview_format(const struct logview *v)
{
    return v->info.format == DISK_FORMAT_DM ? "dm" : "native";
}

void logview_close(struct logview *v)
{
    if (v->io && v->io->close)
        v->io->close(v->io);
    v->io = NULL;
    free(v->path);
    v->path = NULL;
}
