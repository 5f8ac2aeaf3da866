/* The live status of a running mirror, like /proc/mdstat: a small text file
 * that the process serving the mirror (the nbdkit plugin's status=FILE,
 * `dlmirror resync --status FILE`) rewrites while it runs, and that
 * `dlmirror status --status FILE` reads. Written whole to FILE.tmp and
 * renamed over FILE, so a reader sees one complete version; never synced
 * (it describes a running process, not the mirror's durable state: the log
 * is that). The format, line by line, is in docs/mirror.md. */
#ifndef DLMIRROR_STATUS_H
#define DLMIRROR_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "mirror.h"
#include "progress.h"

#define MIRROR_STATUS_MAGIC "dlmirror-status"
#define MIRROR_STATUS_VERSION 1
#define MIRROR_STATUS_MAX_BYTES 4096 /* a longer file is refused */

struct mirror_status {
    char writer[32];         /* "nbdkit-dlmirror-plugin" or "dlmirror-resync" */
    uint64_t pid;            /* of the writer */
    uint64_t updated_ms;     /* wall clock (ms since 1970) of this version */
    char state[16];          /* "resyncing", "serving", "stopped", "failed" */
    uint64_t size;           /* bytes */
    uint64_t region_bytes, region_count;
    uint64_t in_sync;        /* regions the log has in sync */
    uint64_t dirty;          /* regions marked by writes and not cleared yet */
    uint64_t resync_total;   /* regions out of sync when the resync began */
    uint64_t resync_regions; /* copied so far */
    uint64_t resync_bytes;
    int64_t resync_rate;     /* bytes/s over the last seconds; -1 unknown */
    int64_t resync_eta;      /* seconds; -1 unknown */
    uint64_t writes, write_bytes, reads;
};

/* Write `s` to path (via path.tmp and rename). 0 or -errno. */
int mirror_status_write(const char *path, const struct mirror_status *s);
/* Read and check a status file: the first line must be "dlmirror-status 1",
 * every number must parse, writer/pid/updated_ms/state must be there;
 * unknown keys are ignored (a newer writer may add some). 0 or -errno with
 * the reason in err. */
int mirror_status_read(const char *path, struct mirror_status *s, char *err, size_t len);
/* Wall-clock milliseconds now (for updated_ms). */
uint64_t mirror_status_now_ms(void);

/* A writer of the status file that rewrites it at most every interval_ms
 * (the caller serializes calls). */
struct status_publisher {
    const char *path; /* NULL: publish nothing */
    const char *writer;
    unsigned interval_ms;
    double last;      /* monotonic seconds of the last write; 0: none yet */
    struct rate_window window; /* resync bytes over time, for rate and ETA */
    unsigned failed;  /* writes that failed (1 after the first: report it once) */
};

void status_publisher_init(struct status_publisher *p, const char *path, const char *writer,
                           unsigned interval_ms);
/* The caller fills s's state, dirty, resync_total/regions/bytes and I/O
 * counters; this adds writer, pid, time, the mirror's geometry, the log's
 * in-sync count, the resync rate and ETA, and writes the file if `force`
 * or interval_ms have passed since the last write. 1 written, 0 not due,
 * -errno (p->failed counts it). */
int status_publish(struct status_publisher *p, struct mirror *m, struct mirror_status *s,
                   int force);

#endif
