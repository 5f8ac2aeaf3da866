/* A mirror's disk log seen read-only: what `dlmirror status` and `verify`
 * read by default. The log device is opened O_RDONLY and never claimed, so
 * this works while a live mirror (another dlmirror, nbdkit) owns the log and
 * writes it; nothing here can write (the dl_io refuses writes).
 *
 * The table line is checked by the disk type's own constructor (region size,
 * options, format, region count against the header) on a read-only dl_io,
 * so it accepts exactly what opening the mirror for writing would. The
 * state read is the one on the device: a region "may differ" when its bit
 * says dirty or out of sync, which is what a writer's resume would load.
 * `sync`/`nosync` are not applied (they act when a writer resumes). */
#ifndef DLMIRROR_LOGVIEW_H
#define DLMIRROR_LOGVIEW_H

#include <stddef.h>
#include <stdint.h>

#include <dirtylog.h>

#include "disk/disk_header.h"

struct logview {
    struct dl_io *io;              /* read-only */
    struct disk_header_info info;  /* the header as read at open */
    char *path;                    /* the log device */
    const char *sync_flag;         /* "sync" or "nosync" if the line has one, else NULL */
    uint32_t region_size;          /* sectors */
    uint64_t region_count;
    char err[512];
};

/* Open the log a table line names, read-only, for a mirror of
 * target_sectors. 0, or -errno with v->err saying why: -EOPNOTSUPP when the
 * line is not a `disk` log (core and userspace logs keep their state in the
 * process or daemon that holds them), -ENOENT / -ENODATA for a log that
 * does not exist / was never formatted. */
int logview_open(struct logview *v, const char *table, uint64_t target_sectors);
/* Regions whose on-disk bit says "may differ", counted in one pass over the
 * bitmap. 0 or -errno. */
int logview_count(struct logview *v, uint64_t *may_differ);
/* One region's bit as it is on the device now: 1 may differ, 0 clean and in
 * sync, or -errno. */
int logview_may_differ(struct logview *v, uint64_t region);
/* "native" or "dm". */
const char *logview_format(const struct logview *v);
void logview_close(struct logview *v);

#endif
