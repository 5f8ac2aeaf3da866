/* A tiny RAID1 over 2+ legs (files or block devices) with a dirty log: the
 * part dlmirror and the nbdkit plugin share. Leg 0 is the primary: resync
 * copies it to the other legs, and out-of-sync regions are read from it.
 * Every function returns 0 (or a count) or -errno; on failure m->err says
 * why in words. */
#ifndef DLMIRROR_MIRROR_H
#define DLMIRROR_MIRROR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <dirtylog.h>

#include "logview.h"

#define MIRROR_MAX_LEGS 8
#define MIRROR_IO_CHUNK (1u << 20) /* copy and compare in pieces of this size */

struct mirror {
    unsigned nlegs;
    int fd[MIRROR_MAX_LEGS];
    const char *path[MIRROR_MAX_LEGS]; /* borrowed from the caller */
    uint64_t size;                     /* bytes, a multiple of 512 */
    int read_only;                     /* legs opened O_RDONLY and unclaimed */
    dl_log *log;                       /* opened for writing, or ... */
    struct logview *view;              /* ... a disk log read read-only */
    uint32_t region_bytes;
    uint64_t region_count;
    /* mirror_flush_legs: one at a time, legs in parallel (legsync.h) */
    pthread_mutex_t flush_lock;
    int flush_lock_ready;
    struct legsync *legsync;
    atomic_size_t unwritten[MIRROR_MAX_LEGS]; /* bytes since writeback started */
    char err[512];
};

/* mirror_open_legs() flags */
#define MIRROR_CREATE 0x1u    /* create missing legs as sparse files of `size` bytes */
#define MIRROR_READ_ONLY 0x2u /* O_RDONLY, no claim: inspection of a possibly live mirror */

/* Open the legs. Read-write (the default), each leg is claimed for this
 * opener (regular files: an OFD lock; block devices: O_EXCL): a leg another
 * process holds is -EBUSY, "leg /x is in use by another process", and no leg
 * is changed. size 0: the smallest leg's size (rounded down to 512). With
 * MIRROR_CREATE a leg that does not exist is created (size must be given).
 * Legs smaller than size are refused. */
int mirror_open_legs(struct mirror *m, unsigned nlegs, char *const *paths, uint64_t size,
                     unsigned flags);
/* Create the log from a table line ("disk 2 /path 128", "core 2 128 nosync",
 * "userspace …") over the mirror's size, resume it, and install the
 * data-device flush (fdatasync of every leg) as its flush callback. A disk
 * log is claimed by the library (-EBUSY if another process holds it). */
int mirror_open_log(struct mirror *m, const char *table);
/* Read-only instead: a disk log's state as on its device (logview.h); any
 * other type is -EOPNOTSUPP. Nothing is written or claimed. */
int mirror_open_log_read_only(struct mirror *m, const char *table);
/* Does another process hold (claim) a leg or the read-only log? Writes the
 * held paths into `held`, space separated ("" if none), without claiming or
 * writing anything. 1 if one is held, 0 if none, -errno if it cannot be
 * told (m->err says why). */
int mirror_probe_live(struct mirror *m, char *held, size_t len);
/* Close: with persist != 0 the log is suspended (written) first. */
void mirror_close(struct mirror *m, int persist);

/* fdatasync every leg, in parallel (the log's flush callback; arg is the
 * mirror). Writes through mirror_write_leg start their writeback early. */
int mirror_flush_legs(void *m);
/* Write the whole buffer to every leg. Returns 0 or the first -errno. */
int mirror_write_all(struct mirror *m, const void *buf, size_t len, uint64_t off);
/* Write / read the whole buffer on one leg (short transfers are retried;
 * reading past the end of a leg is -EIO). */
int mirror_write_leg(struct mirror *m, unsigned leg, const void *buf, size_t len, uint64_t off);
int mirror_read_leg(struct mirror *m, unsigned leg, void *buf, size_t len, uint64_t off);

/* Byte range of a region (the last one may be short). */
uint64_t mirror_region_offset(const struct mirror *m, uint64_t region);
uint64_t mirror_region_length(const struct mirror *m, uint64_t region);
/* Copy a region from leg 0 to every other leg; holes of leg 0 become holes
 * (sparse.h), not written zeros. Returns the bytes resynced (the region's
 * length) or -errno. */
int64_t mirror_copy_region(struct mirror *m, uint64_t region);
/* 1 if some leg differs from leg 0 anywhere in the region, 0 if all agree,
 * or -errno. */
int mirror_region_differs(struct mirror *m, uint64_t region);
/* 1 if the log says the region may differ (dirty or not in sync), 0 if it
 * is clean and in sync, or -errno. Read-only: the bit as on the device now. */
int mirror_region_dirty(struct mirror *m, uint64_t region);

/* Parse a byte count with an optional K/M/G/T suffix (powers of 1024; "1M",
 * "1MiB", "1MB" alike): digits only (dl__parse_u64), no sign, space or junk,
 * and the result must fit in 63 bits. 0 or -EINVAL / -ERANGE. */
int mirror_parse_size(const char *s, uint64_t *out);
/* "64 MiB"-style text for a byte count. */
const char *mirror_human(uint64_t bytes, char *buf, size_t len);

#endif
