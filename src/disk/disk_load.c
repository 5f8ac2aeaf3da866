#define _POSIX_C_SOURCE 200809L
/* The disk log's device: open it (or create and format a new file), check
 * what it holds against the table, and the first resume's load of its
 * bitmap, with a grow when the target got larger. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bits.h"
#include "disk/disk_internal.h"
#include "disk/io_posix.h"
#include "log_internal.h"
#include "versioned.h"

/* The log's whole length on the device for `regions` regions. */
static uint64_t layout_bytes(const struct disk_log *lc, uint64_t regions)
{
    return lc->format == DISK_FORMAT_NATIVE
               ? dl__native_layout_bytes(regions)
               : dl__dm_layout_bytes(regions, lc->hdr.logical_block_size);
}

/* The log's device is `io`: keep its operations full-size (a struct from
 * an older header lacks the optional ones). dl_log_create_disk_io and
 * io_posix have checked it, so this cannot fail on their ios. */
static int use_io(struct disk_log *lc, struct dl_io *io)
{
    lc->io = io;
    return dl__import_versioned(&lc->io_ops, sizeof lc->io_ops, io, DL_IO_V1_SIZE);
}

/* Make room for a log of `bytes` on a device now `have` bytes long, before
 * anything is written: allocate the blocks (reserve) and extend the length
 * (set_size) where the io can, so that a full disk fails here with nothing
 * written rather than halfway through, and a later flush cannot meet
 * ENOSPC. *extended says whether the length changed (for an undo). A device
 * whose length is fixed (set_size says -ENOTSUP) and too short: -ENOSPC. An
 * io without these operations grows as it is written. 0 or -errno. */
static int make_room(struct disk_log *lc, uint64_t have, uint64_t bytes, int *extended)
{
    struct dl_io *io = lc->io;
    *extended = 0;
    if (have >= bytes)
        return 0;
    if (lc->io_ops.reserve) {
        int r = lc->io_ops.reserve(io, bytes);
        if (r < 0 && r != -EOPNOTSUPP)
            return r;
    }
    if (lc->io_ops.set_size) {
        int r = lc->io_ops.set_size(io, bytes);
        if (r == -ENOTSUP || r == -EOPNOTSUPP)
            return -ENOSPC; /* e.g. a block device: too small */
        if (r < 0)
            return r;
        *extended = 1;
    }
    return 0;
}

/* ---- formatting and headers ---------------------------------------------- */

static int write_header(struct disk_log *lc)
{
    if (lc->format == DISK_FORMAT_NATIVE)
        return dl__native_write(lc->io, &lc->hdr.native);
    /* dm: sector 0 with our 16 header bytes; bytes 16..511 as found. */
    dl__dm_encode(&lc->hdr.dm, lc->hdr.dm_sector0);
    return dl__disk_write_full(lc->io, lc->hdr.dm_sector0, DLM_SECTOR, 0);
}

/* Format a new log: room for it (make_room), the bitmap (the fill the
 * table's flag asks for), sync, then the header, sync. A crash before the
 * header leaves an unformatted device. A bitmap whose bytes are all zero
 * (native nosync, dm sync) on a device that ended before it is not
 * written: extending the device made it read as zeros, so the work is
 * proportional to what must be written. A failure takes back the length. */
static int format_new(struct disk_log *lc)
{
    if (lc->format == DISK_FORMAT_NATIVE) {
        dl__native_init(&lc->hdr.native, lc->region_size, lc->region_count);
    } else {
        lc->hdr.dm.magic = DLM_MAGIC;
        lc->hdr.dm.version = DLM_VERSION;
        lc->hdr.dm.nr_regions = lc->region_count;
    }
    int fill = lc->sync_mode != DL_SYNC_NONE;
    int zero_bytes = lc->invert ? fill : !fill;
    uint64_t have;
    uint32_t lbs;
    int extended = 0;
    int r = lc->io->size(lc->io, &have, &lbs);
    if (r == 0)
        r = make_room(lc, have, layout_bytes(lc, lc->region_count), &extended);
    int write_bitmap = !(zero_bytes && extended && have <= lc->bitmap_offset);
    if (r == 0 && write_bitmap)
        r = dl__disk_write_fill(lc, fill, lc->nunits, lc->region_count);
    if (r == 0 && write_bitmap && lc->format == DISK_FORMAT_DM) {
        /* Pad the area to the logical block size, as the kernel sizes it. */
        uint64_t end = unit_offset(lc, lc->nunits);
        uint64_t area = dl__dm_layout_bytes(lc->region_count, lc->hdr.logical_block_size);
        static const uint8_t zero[DLM_SECTOR];
        for (; r == 0 && end < area; end += DLM_SECTOR)
            r = dl__disk_write_full(lc->io, zero, DLM_SECTOR, end);
    }
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r == 0)
        r = write_header(lc);
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r < 0 && extended)
        lc->io_ops.set_size(lc->io, have);
    return r;
}

static int format_cb(struct dl_io *io, void *arg)
{
    struct disk_log *lc = arg;
    int r = use_io(lc, io);
    if (r == 0)
        r = format_new(lc);
    lc->io = NULL;
    if (r < 0)
        dl__set_error("cannot format new log %s: %s", lc->path, dl_strerror(r));
    return r;
}

/* Open the device: a given io, an existing path (claimed: one writer per
 * device), or a new file created atomically (formatted while it has no
 * name, then linked; see dl__io_posix_create). */
int dl__disk_open_device(dl_log *log, struct disk_log *lc, struct dl_io *given)
{
    if (given)
        return use_io(lc, given);
    struct stat st;
    if (stat(lc->path, &st) != 0) {
        if (errno != ENOENT) {
            dl_log_errorf(log, "cannot use log device %s: %s", lc->path, strerror(errno));
            return -errno;
        }
        /* Learn the logical block size the new file will report (512). */
        lc->hdr.logical_block_size = 512;
        int r = dl__io_posix_create(lc->path, format_cb, lc, &lc->io);
        if (r == 0) {
            lc->fresh = 1;
            return use_io(lc, lc->io);
        }
        if (r != -EEXIST)
            return r; /* message set */
    } else if (S_ISDIR(st.st_mode)) {
        dl_log_errorf(log, "log device %s is a directory", lc->path);
        return -EISDIR;
    }
    int r = dl_io_open_posix(lc->path, 0, 0, &lc->io);
    return r < 0 ? r : use_io(lc, lc->io);
}

/* Check what the device holds against the table; format it if blank. */
int dl__disk_check_device(dl_log *log, struct disk_log *lc)
{
    if (lc->fresh) {
        lc->stored_regions = lc->region_count;
        return 0;
    }
    char err[256];
    struct disk_header_info info;
    int r = dl__disk_read_header(lc->io, lc->format, &info, err, sizeof err);
    if (r < 0) {
        dl_log_errorf(log, "log device %s: %s", lc->path, err);
        return r;
    }
    if (r == 1) {
        /* All-zero header (a blank device or zeroed file): a new log. */
        lc->hdr.logical_block_size = info.logical_block_size;
        lc->hdr.device_bytes = info.device_bytes;
        memcpy(lc->hdr.dm_sector0, info.dm_sector0, DLM_SECTOR);
        r = format_new(lc);
        if (r < 0) {
            dl_log_errorf(log, "cannot format new log on %s: %s", lc->path, dl_strerror(r));
            return r;
        }
        lc->fresh = 1;
        lc->stored_regions = lc->region_count;
        return 0;
    }
    if (info.format == DISK_FORMAT_NATIVE && info.region_size != lc->region_size) {
        dl_log_errorf(log, "log device %s has region_size %" PRIu32 " but the table says %" PRIu32,
                      lc->path, info.region_size, lc->region_size);
        return -EINVAL;
    }
    if (info.region_count > lc->region_count) {
        dl_log_errorf(log, "log device %s holds %" PRIu64 " regions but the target has only %" PRIu64
                           " (shrinking a log is not supported)",
                      lc->path, info.region_count, lc->region_count);
        return -EINVAL;
    }
    if (info.region_count < lc->region_count && !lc->grow) {
        dl_log_errorf(log, "log device %s holds %" PRIu64 " regions but the target has %" PRIu64
                           " (region_count mismatch; add 'grow' to extend it, new regions dirty)",
                      lc->path, info.region_count, lc->region_count);
        return -EINVAL;
    }
    lc->hdr = info;
    lc->stored_regions = info.region_count;
    return 0;
}

/* ---- loading at resume --------------------------------------------------- */

/* Set bits [from, to), 64 words per call (resume has exclusive access). */
static int set_bits_range(struct bitmap *bm, uint64_t from, uint64_t to)
{
    uint64_t w[64];
    while (from < to) {
        uint64_t first = from / 64, last = (to - 1) / 64;
        size_t n = last - first + 1 > 64 ? 64 : (size_t)(last - first + 1);
        dl__bitmap_read_words(bm, first, n, w);
        for (size_t i = 0; i < n; i++) {
            uint64_t base = (first + i) * 64;
            uint64_t lo = from > base ? from - base : 0;
            uint64_t hi = to - base >= 64 ? 64 : to - base;
            w[i] |= dl__low_bits(hi) & (~0ull << lo);
        }
        if (dl__bitmap_write_words(bm, first, n, w) < 0)
            return -ENOMEM;
        from = (first + n) * 64;
    }
    return 0;
}

static int all_zero_words(const uint64_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i])
            return 0;
    return 1;
}

/* Read the stored bitmap into ondisk, dirty and out_of_sync. */
static int load_bitmap(dl_log *log, struct disk_log *lc)
{
    uint64_t chunk = lc->invert ? CHUNK_UNITS_DM : CHUNK_UNITS_NATIVE;
    size_t wpu = words_per_unit(lc);
    uint64_t stored_units = lc->invert
        ? (dl__dm_bitmap_bytes(lc->stored_regions) + DLM_SECTOR - 1) / DLM_SECTOR
        : dl__native_bitmap_bytes(lc->stored_regions) / DLN_BLOCK_BYTES;
    uint64_t stored_bytes = lc->invert ? dl__dm_bitmap_bytes(lc->stored_regions)
                                       : dl__native_bitmap_bytes(lc->stored_regions);
    if (chunk > stored_units)
        chunk = stored_units ? stored_units : 1; /* small logs: small buffers */
    uint64_t *w = malloc(chunk * wpu * 8);
    uint8_t *buf = malloc(chunk * lc->unit_bytes);
    int r = w && buf ? 0 : -ENOMEM;
    for (uint64_t u = 0; r == 0 && u < stored_units; u += chunk) {
        uint64_t n = stored_units - u < chunk ? stored_units - u : chunk;
        uint64_t off = u * lc->unit_bytes;
        size_t len = (size_t)(n * lc->unit_bytes);
        if (off + len > stored_bytes)
            len = (size_t)(stored_bytes - off); /* dm: the bitmap may end mid-sector */
        int64_t got = dl__disk_read_full(lc->io, buf, len, lc->bitmap_offset + off);
        if (got < 0) {
            r = dl__disk_fail(log, lc, 'D', (int)got, "reading the bitmap");
            break;
        }
        if ((size_t)got < len) {
            dl_log_errorf(log, "log device %s is truncated: the bitmap ends early", lc->path);
            r = -EINVAL;
            break;
        }
        memset(buf + len, 0, n * lc->unit_bytes - len);
        dl__disk_decode_words(lc, u * wpu, n * wpu, buf, lc->stored_regions, w);
        /* Store runs of units that hold a 1; all-zero units are skipped, so
         * a mostly clean log stays sparse in memory. */
        for (uint64_t i = 0; r == 0 && i < n;) {
            uint64_t j = i;
            while (j < n && !all_zero_words(w + j * wpu, wpu))
                j++;
            if (j > i) {
                uint64_t fw = (u + i) * wpu;
                size_t nw = (size_t)((j - i) * wpu);
                if (dl__bitmap_write_words(lc->ondisk, fw, nw, w + i * wpu) < 0 ||
                    dl__bitmap_write_words(lc->dirty, fw, nw, w + i * wpu) < 0 ||
                    dl__bitmap_write_words(lc->sync.out_of_sync, fw, nw, w + i * wpu) < 0)
                    r = -ENOMEM;
            }
            i = j + 1;
        }
    }
    free(w);
    free(buf);
    return r;
}

static uint64_t units_for(const struct disk_log *lc, uint64_t regions)
{
    return regions == 0 ? 0 : unit_of(lc, regions - 1) + 1;
}

/* Grow the device to region_count; ondisk holds every bit it must get.
 * Nothing the old log says changes before the new header lands, and a
 * failure before it (a full disk) is undone, so the resume fails with the
 * log as it was:
 *   1. make room (reserve, extend): a full disk fails here, nothing written;
 *   2. write the units wholly past the old log area (past its end: the old
 *      log does not see them), sync;
 *   3. write the units of the old log area that change: the one holding
 *      the first new regions, or all of them when `rewrite_old` (a sync or
 *      nosync table rewrites the whole bitmap), sync;
 *   4. the header, sync.
 * A failure in 2 or 3 puts back the old area's units (as a log of the old
 * size: bits past it 0) and the length; one at or after 4 fails the log. */
static int grow_device(dl_log *log, struct disk_log *lc, int rewrite_old)
{
    uint64_t have, old_end = layout_bytes(lc, lc->stored_regions);
    uint64_t first = rewrite_old ? 0 : unit_of(lc, lc->stored_regions);
    uint64_t last = units_for(lc, lc->region_count), past_old = first;
    while (past_old < last && unit_offset(lc, past_old) < old_end)
        past_old++;
    uint32_t lbs;
    int extended = 0;
    int r = lc->io->size(lc->io, &have, &lbs);
    if (r == 0)
        r = make_room(lc, have, layout_bytes(lc, lc->region_count), &extended);
    if (r < 0) {
        dl_log_errorf(log, "cannot grow log %s from %" PRIu64 " to %" PRIu64 " regions: no room "
                           "for its %" PRIu64 " bytes: %s; the log is unchanged",
                      lc->path, lc->stored_regions, lc->region_count,
                      layout_bytes(lc, lc->region_count), dl_strerror(r));
        return r;
    }
    const char *what = "writing the new regions";
    int touched_old = 0;
    r = dl__disk_write_units(lc, past_old, last, lc->region_count);
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r == 0) {
        what = "rewriting the old bitmap";
        touched_old = 1;
        r = dl__disk_write_units(lc, first, past_old, lc->region_count);
    }
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r < 0) {
        int err = r;
        r = touched_old ? dl__disk_write_units(lc, first, past_old, lc->stored_regions) : 0;
        if (r == 0 && extended)
            r = lc->io_ops.set_size(lc->io, have);
        if (r == 0)
            r = lc->io->sync(lc->io);
        if (r < 0)
            return dl__disk_fail(log, lc, 'D', r, "undoing a failed grow");
        dl_log_errorf(log, "cannot grow log %s from %" PRIu64 " to %" PRIu64 " regions: %s: %s; "
                           "the log is unchanged",
                      lc->path, lc->stored_regions, lc->region_count, what, dl_strerror(err));
        return err;
    }
    /* The header last: until it lands, the log still says the old size. */
    if (lc->format == DISK_FORMAT_NATIVE) {
        lc->hdr.native.region_count = lc->region_count;
        lc->hdr.native.generation++;
    } else {
        lc->hdr.dm.nr_regions = lc->region_count;
    }
    r = write_header(lc);
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r < 0)
        return dl__disk_fail(log, lc, 'D', r, "growing the log");
    lc->stored_regions = lc->region_count;
    return 0;
}

/* The first resume: apply the table's flag to what the device holds. */
int dl__disk_load(dl_log *log, struct disk_log *lc)
{
    dl__bitmap_fill(lc->changed, 0);
    dl__bitmap_fill(lc->cleaning, 0);
    dl__bitmap_fill(lc->dirty, 0);
    int r = 0, growing = lc->stored_regions < lc->region_count;
    if (lc->fresh || lc->sync_mode != DL_SYNC_DEFAULT) {
        /* A new log, or sync/nosync: every region out of sync, or none.
         * Nothing is dirty (no write can be in flight on a new log). */
        int fill = lc->sync_mode != DL_SYNC_NONE;
        dl__bitmap_fill(lc->sync.out_of_sync, fill);
        dl__bitmap_fill(lc->ondisk, fill);
        if (!lc->fresh && !growing) { /* a grow (below) writes it all */
            r = dl__disk_write_fill(lc, fill, lc->nunits, lc->region_count);
            if (r == 0)
                r = lc->io->sync(lc->io);
            if (r < 0)
                return dl__disk_fail(log, lc, 'D', r, "rewriting the bitmap");
        }
    } else {
        dl__bitmap_fill(lc->sync.out_of_sync, 0);
        dl__bitmap_fill(lc->ondisk, 0);
        r = load_bitmap(log, lc);
        if (r < 0)
            return r;
    }
    if (growing) {
        /* grow: the new regions are dirty and out of sync. */
        if (set_bits_range(lc->ondisk, lc->stored_regions, lc->region_count) < 0 ||
            set_bits_range(lc->sync.out_of_sync, lc->stored_regions, lc->region_count) < 0 ||
            (lc->sync_mode == DL_SYNC_DEFAULT &&
             set_bits_range(lc->dirty, lc->stored_regions, lc->region_count) < 0))
            return -ENOMEM;
        if (lc->sync_mode == DL_SYNC_NONE) {
            dl__bitmap_fill(lc->sync.out_of_sync, 0);
            dl__bitmap_fill(lc->ondisk, 0);
        }
        r = grow_device(log, lc, !lc->fresh && lc->sync_mode != DL_SYNC_DEFAULT);
        if (r < 0)
            return r;
    }
    if (lc->format == DISK_FORMAT_DM && lc->hdr.dm.version == 1) {
        lc->hdr.dm.version = DLM_VERSION; /* promote, as the kernel does */
        r = write_header(lc);
        if (r == 0)
            r = lc->io->sync(lc->io);
        if (r < 0)
            return dl__disk_fail(log, lc, 'D', r, "writing the header");
    }
    dl__sync_state_recount(&lc->sync);
    lc->loaded = 1;
    return 0;
}
