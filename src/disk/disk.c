#define _POSIX_C_SOURCE 200809L
/* Type "disk": the log persisted on a file or block device.
 *   disk <path> <region_size> [sync|nosync] [block_on_error] [format=dm|format=native] [grow]
 *        [max_bitmap=<bytes>]
 *
 * Memory: four sparse bitmaps over regions (dirty, out_of_sync, recovering,
 * and ondisk = what the device says, 1 = "may differ") plus one over the
 * bitmap's write units (4 KiB blocks native, 512-byte sectors dm): "changed",
 * the units whose on-disk bits may be stale.
 *
 * Hot paths take no lock. mark: set dirty; if ondisk is 0, set changed.
 * clear / set_region_sync: change the bit; if the on-disk bit could now
 * change, set changed. A flush round (one at a time, group commit) takes the
 * changed units, computes the wanted bits (dirty | out_of_sync), updates
 * ondisk, calls the engine's flush callback if any bit turns clean, writes
 * the units that differ (adjacent ones in one pwrite) and syncs the device
 * only if some bit turned dirty.
 *
 * The race between a mark and a round turning the same bit clean is closed
 * Dekker-style: mark stores dirty then loads ondisk; the round stores ondisk
 * = 0 then reloads dirty (seq_cst fences between). Either the round sees the
 * mark and keeps the bit, or the mark sees ondisk 0 and queues the unit. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bitmap/bitmap.h"
#include "bitmap/sync_state.h"
#include "dirtylog.h"
#include "log_internal.h"
#include "disk/disk_header.h"
#include "disk/disk_hooks.h"
#include "disk/io_posix.h"

#define MAX_OPTIONS 7
/* The largest bitmap a log may have unless its table says max_bitmap=:
 * 1 GiB, i.e. 2^33 regions. A typo in a target or region size must not
 * make the log write until the disk is full. */
#define DEFAULT_MAX_BITMAP (1ull << 30)

/* Is the optional operation `op` of io there (inside struct_size, set)? */
#define IO_HAS(io, op) \
    ((io)->struct_size >= offsetof(struct dl_io, op) + sizeof((io)->op) && (io)->op != NULL)
#define CHUNK_UNITS_NATIVE 64 /* 256 KiB per read/write when loading or filling */
#define CHUNK_UNITS_DM 512

struct disk_log {
    char *path;
    uint32_t region_size;
    uint64_t region_count;
    int sync_mode, block_on_error, format, grow;
    uint64_t max_bitmap;         /* bytes; the table's max_bitmap= or the default */
    unsigned noptions;
    char *options[MAX_OPTIONS]; /* the option words as given, echoed by status */

    struct dl_io *io;
    struct disk_header_info hdr; /* as read (or written) */
    uint64_t stored_regions;     /* region count the device holds before a grow */
    int fresh;                   /* formatted by this ctr: memory starts from the fill */
    int loaded;                  /* the first resume happened */

    /* write-unit geometry */
    uint64_t bitmap_offset;
    uint32_t unit_bytes;
    uint64_t nunits;
    uint64_t min_device_bytes; /* the device ends no earlier (the bitmap's end) */
    int invert; /* dm: on-disk 1 = clean */

    struct bitmap *dirty, *ondisk, *changed;
    struct sync_state sync; /* out_of_sync, recovering, the exact sync count */
    atomic_int failed; /* 0, 'D' (device) or 'F' (flush) */
    int fail_err;
    char fail_what[160]; /* what failed first, e.g. "writing the bitmap" */

    /* group commit */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;     /* a round ended */
    pthread_cond_t gather_cond; /* a flush arrived (the gathering leader waits) */
    uint64_t rounds_started, rounds_done;
    int round_running;            /* a leader is gathering or a round runs */
    unsigned waiters;             /* flushes waiting for a round (for tests) */
    unsigned arrivals;            /* flush calls so far (wraps) */
    unsigned last_round_callers;  /* flush calls the last round served */
    uint64_t last_round_ns;       /* how long the last round took */
};

/* An io handed over by dl_log_create_disk_io() for the ctr on this thread. */
static _Thread_local struct dl_io *pending_io;

static uint64_t words_per_unit(const struct disk_log *lc) { return lc->unit_bytes / 8; }
static uint64_t unit_of(const struct disk_log *lc, uint64_t region)
{
    return region / ((uint64_t)lc->unit_bytes * 8);
}

/* ---- failure ------------------------------------------------------------ */

/* The log fails (sticky). Failures happen only in a flush round or the
 * first resume, which never run at the same time, so the first failure's
 * cause is written once, before the letter is published. */
static int fail(dl_log *log, struct disk_log *lc, int letter, int err, const char *what)
{
    if (atomic_load(&lc->failed) == 0) {
        lc->fail_err = err < 0 ? err : -EIO;
        snprintf(lc->fail_what, sizeof lc->fail_what, "%s", what);
        atomic_store(&lc->failed, letter);
    }
    dl_log_errorf(log, "disk log %s failed: %s: %s (the log now treats every region as dirty)",
                  lc->path, what, dl_strerror(err));
    return lc->fail_err;
}

/* The error of a call that found the log failed: the first failure's cause. */
static int failed_error(dl_log *log, struct disk_log *lc)
{
    dl_log_errorf(log, "disk log %s has failed (%c) earlier: %s: %s; every region reads dirty",
                  lc->path, atomic_load(&lc->failed), lc->fail_what, dl_strerror(lc->fail_err));
    return lc->fail_err;
}

/* The error of a flush whose own round failed: the cause itself. */
static int failed_now(dl_log *log, struct disk_log *lc)
{
    dl_log_errorf(log, "flush of disk log %s failed: %s: %s (the log now treats every region "
                       "as dirty)", lc->path, lc->fail_what, dl_strerror(lc->fail_err));
    return lc->fail_err;
}

/* ---- encoding units ------------------------------------------------------ */

/* The bits of word `word` that belong to the first `limit` regions. */
static uint64_t valid_bits(uint64_t word, uint64_t limit)
{
    uint64_t base = word * 64;
    return base >= limit ? 0 : limit - base >= 64 ? ~0ull : (1ull << (limit - base)) - 1;
}

/* Words of "may differ" bits -> on-disk bytes of one or more units, for a
 * log of `limit` regions: bits at or past it are written 0 in both formats
 * (dm: 1 = clean). */
static void encode_words(const struct disk_log *lc, uint64_t limit, uint64_t first_word,
                         size_t nwords, const uint64_t *w, uint8_t *out)
{
    for (size_t i = 0; i < nwords; i++) {
        uint64_t valid = valid_bits(first_word + i, limit);
        uint64_t v = lc->invert ? ~w[i] & valid : w[i] & valid;
        for (int b = 0; b < 8; b++)
            out[i * 8 + b] = (uint8_t)(v >> (8 * b));
    }
}

/* On-disk bytes -> words of "may differ" bits, keeping only regions below
 * `limit` (the stored region count). */
static void decode_words(const struct disk_log *lc, uint64_t first_word, size_t nwords,
                         const uint8_t *in, uint64_t limit, uint64_t *w)
{
    for (size_t i = 0; i < nwords; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = (v << 8) | in[i * 8 + b];
        if (lc->invert)
            v = ~v;
        w[i] = v & valid_bits(first_word + i, limit);
    }
}

static uint64_t unit_offset(const struct disk_log *lc, uint64_t unit)
{
    return lc->bitmap_offset + unit * lc->unit_bytes;
}

/* Write a fill (every region "may differ" or none) to the first `nunits`
 * units of the bitmap of a log of `limit` regions. */
static int write_fill(struct disk_log *lc, int value, uint64_t nunits, uint64_t limit)
{
    uint64_t chunk = lc->invert ? CHUNK_UNITS_DM : CHUNK_UNITS_NATIVE;
    size_t wpu = words_per_unit(lc);
    if (chunk > nunits)
        chunk = nunits ? nunits : 1;
    uint64_t *w = malloc(chunk * wpu * 8);
    uint8_t *buf = malloc(chunk * lc->unit_bytes);
    int r = w && buf ? 0 : -ENOMEM;
    for (uint64_t u = 0; r == 0 && u < nunits; u += chunk) {
        uint64_t n = nunits - u < chunk ? nunits - u : chunk;
        for (uint64_t i = 0; i < n * wpu; i++)
            w[i] = value ? ~0ull : 0;
        encode_words(lc, limit, u * wpu, n * wpu, w, buf);
        r = dl__disk_write_full(lc->io, buf, n * lc->unit_bytes, unit_offset(lc, u));
    }
    free(w);
    free(buf);
    return r;
}

/* Write units [first, last) from the ondisk bitmap, as a log of `limit`
 * regions holds them, a chunk of units per write. */
static int write_units(struct disk_log *lc, uint64_t first, uint64_t last, uint64_t limit)
{
    uint64_t chunk = lc->invert ? CHUNK_UNITS_DM : CHUNK_UNITS_NATIVE;
    size_t wpu = words_per_unit(lc);
    if (chunk > last - first)
        chunk = last > first ? last - first : 1;
    uint64_t *w = malloc(chunk * wpu * 8);
    uint8_t *buf = malloc(chunk * lc->unit_bytes);
    int r = w && buf ? 0 : -ENOMEM;
    for (uint64_t u = first; r == 0 && u < last; u += chunk) {
        uint64_t n = last - u < chunk ? last - u : chunk;
        dl__bitmap_read_words(lc->ondisk, u * wpu, n * wpu, w);
        encode_words(lc, limit, u * wpu, n * wpu, w, buf);
        r = dl__disk_write_full(lc->io, buf, n * lc->unit_bytes, unit_offset(lc, u));
    }
    free(w);
    free(buf);
    return r;
}

/* The log's whole length on the device for `regions` regions. */
static uint64_t layout_bytes(const struct disk_log *lc, uint64_t regions)
{
    return lc->format == DISK_FORMAT_NATIVE
               ? dl__native_layout_bytes(regions)
               : dl__dm_layout_bytes(regions, lc->hdr.logical_block_size);
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
    if (IO_HAS(io, reserve)) {
        int r = io->reserve(io, bytes);
        if (r < 0 && r != -EOPNOTSUPP)
            return r;
    }
    if (IO_HAS(io, set_size)) {
        int r = io->set_size(io, bytes);
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
        r = write_fill(lc, fill, lc->nunits, lc->region_count);
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
        lc->io->set_size(lc->io, have);
    return r;
}

static int format_cb(struct dl_io *io, void *arg)
{
    struct disk_log *lc = arg;
    lc->io = io;
    int r = format_new(lc);
    lc->io = NULL;
    if (r < 0)
        dl_log_errorf(NULL, "cannot format new log %s: %s", lc->path, dl_strerror(r));
    return r;
}

/* ---- constructor --------------------------------------------------------- */

static void disk_free(struct disk_log *lc)
{
    dl__bitmap_destroy(lc->dirty);
    dl__sync_state_destroy(&lc->sync);
    dl__bitmap_destroy(lc->ondisk);
    dl__bitmap_destroy(lc->changed);
    for (unsigned i = 0; i < lc->noptions; i++)
        free(lc->options[i]);
    free(lc->path);
    free(lc);
}

static int parse_options(dl_log *log, struct disk_log *lc, unsigned argc, char **argv)
{
    int have_format = 0;
    for (unsigned i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "sync") == 0 || strcmp(a, "nosync") == 0) {
            if (lc->sync_mode != DL_SYNC_DEFAULT) {
                dl_log_errorf(log, "'%s' conflicts with an earlier sync/nosync", a);
                return -EINVAL;
            }
            lc->sync_mode = a[0] == 's' ? DL_SYNC_FORCE : DL_SYNC_NONE;
        } else if (strcmp(a, "block_on_error") == 0 || strcmp(a, "grow") == 0) {
            int *flag = a[0] == 'b' ? &lc->block_on_error : &lc->grow;
            if (*flag) {
                dl_log_errorf(log, "'%s' given twice", a);
                return -EINVAL;
            }
            *flag = 1;
        } else if (strncmp(a, "max_bitmap=", 11) == 0) {
            if (lc->max_bitmap) {
                dl_log_errorf(log, "'%s' conflicts with an earlier max_bitmap=", a);
                return -EINVAL;
            }
            if (dl__parse_u64(a + 11, &lc->max_bitmap) != 0 || lc->max_bitmap == 0) {
                dl_log_errorf(log, "'%s': max_bitmap takes a number of bytes (1 to 2^64-1)", a);
                return -EINVAL;
            }
        } else if (strcmp(a, "format=dm") == 0 || strcmp(a, "format=native") == 0) {
            if (have_format++) {
                dl_log_errorf(log, "'%s' conflicts with an earlier format=", a);
                return -EINVAL;
            }
            lc->format = a[7] == 'd' ? DISK_FORMAT_DM : DISK_FORMAT_NATIVE;
        } else {
            dl_log_errorf(log, "unknown argument '%s' (expected sync, nosync, block_on_error, "
                               "format=dm, format=native, grow or max_bitmap=<bytes>)", a);
            return -EINVAL;
        }
        if (!(lc->options[lc->noptions++] = strdup(a)))
            return -ENOMEM;
    }
    return 0;
}

static void set_geometry(struct disk_log *lc)
{
    if (lc->format == DISK_FORMAT_NATIVE) {
        lc->bitmap_offset = DLN_BITMAP_OFFSET;
        lc->unit_bytes = DLN_BLOCK_BYTES;
        lc->nunits = dl__native_bitmap_bytes(lc->region_count) / DLN_BLOCK_BYTES;
        lc->min_device_bytes = DLN_BITMAP_OFFSET + dl__native_bitmap_bytes(lc->region_count);
        lc->invert = 0;
    } else {
        lc->bitmap_offset = DLM_BITMAP_OFFSET;
        lc->unit_bytes = DLM_SECTOR;
        lc->nunits = (dl__dm_bitmap_bytes(lc->region_count) + DLM_SECTOR - 1) / DLM_SECTOR;
        lc->min_device_bytes = DLM_BITMAP_OFFSET + dl__dm_bitmap_bytes(lc->region_count);
        lc->invert = 1;
    }
}

/* The bitmap's size against the cap (max_bitmap=, default 1 GiB). */
static int check_bitmap_cap(dl_log *log, struct disk_log *lc)
{
    uint64_t cap = lc->max_bitmap ? lc->max_bitmap : DEFAULT_MAX_BITMAP;
    uint64_t bytes = lc->format == DISK_FORMAT_NATIVE ? dl__native_bitmap_bytes(lc->region_count)
                                                      : dl__dm_bitmap_bytes(lc->region_count);
    if (bytes <= cap)
        return 0;
    dl_log_errorf(log, "log %s: %" PRIu64 " regions need a bitmap of %" PRIu64 " bytes, more than "
                       "the cap of %" PRIu64 " bytes%s (a larger region_size makes it smaller; "
                       "max_bitmap=<bytes> raises the cap)",
                  lc->path, lc->region_count, bytes, cap, lc->max_bitmap ? "" : " (the default)");
    return -EFBIG;
}

/* Open the device: a given io, an existing path (claimed: one writer per
 * device), or a new file created atomically (formatted while it has no
 * name, then linked; see dl__io_posix_create). */
static int open_device(dl_log *log, struct disk_log *lc, struct dl_io *given)
{
    if (given) {
        lc->io = given;
        return 0;
    }
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
            return 0;
        }
        if (r != -EEXIST)
            return r; /* message set */
    } else if (S_ISDIR(st.st_mode)) {
        dl_log_errorf(log, "log device %s is a directory", lc->path);
        return -EISDIR;
    }
    return dl_io_open_posix(lc->path, 0, 0, &lc->io);
}

/* Check what the device holds against the table; format it if blank. */
static int check_device(dl_log *log, struct disk_log *lc)
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

static int disk_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    struct dl_io *given = pending_io;
    pending_io = NULL;
    if (argc < 2 || argc > 2 + MAX_OPTIONS) {
        dl_log_errorf(log, "disk takes 2 to %d arguments (<log_device> <region_size> "
                           "[sync|nosync] [block_on_error] [format=dm] [grow] "
                           "[max_bitmap=<bytes>]), got %u",
                      2 + MAX_OPTIONS, argc);
        return -EINVAL;
    }
    struct disk_log *lc = calloc(1, sizeof *lc);
    if (!lc)
        return -ENOMEM;
    lc->format = DISK_FORMAT_NATIVE;
    int r = dl_parse_region_size(log, argv[1], target, &lc->region_size);
    if (r == 0)
        r = parse_options(log, lc, argc - 2, argv + 2);
    if (r == 0 && !(lc->path = strdup(argv[0])))
        r = -ENOMEM;
    if (r == 0 && argv[0][0] == '\0') {
        dl_log_errorf(log, "log device path is empty");
        r = -EINVAL;
    }
    if (r < 0) {
        disk_free(lc);
        return r;
    }
    lc->region_count = dl_region_count(target, lc->region_size);
    set_geometry(lc);
    r = check_bitmap_cap(log, lc);
    if (r == 0)
        r = open_device(log, lc, given);
    if (r == 0)
        r = check_device(log, lc);
    if (r == 0 &&
        (dl__bitmap_create(&lc->dirty, lc->region_count, 0) < 0 ||
         /* Until the first resume loads the bitmap, answer conservatively. */
         dl__sync_state_init(&lc->sync, lc->region_count, 0) < 0 ||
         dl__bitmap_create(&lc->ondisk, lc->region_count, 0) < 0 ||
         dl__bitmap_create(&lc->changed, lc->nunits, 0) < 0))
        r = -ENOMEM;
    if (r == 0 && pthread_mutex_init(&lc->gc_lock, NULL) != 0)
        r = -ENOMEM;
    if (r == 0 && pthread_cond_init(&lc->gc_cond, NULL) != 0) {
        pthread_mutex_destroy(&lc->gc_lock);
        r = -ENOMEM;
    }
    if (r == 0) {
        pthread_condattr_t ca;
        int ok = pthread_condattr_init(&ca) == 0;
        ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&lc->gather_cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
        if (!ok) {
            pthread_cond_destroy(&lc->gc_cond);
            pthread_mutex_destroy(&lc->gc_lock);
            r = -ENOMEM;
        }
    }
    if (r < 0) {
        if (lc->io && lc->io != given && lc->io->close)
            lc->io->close(lc->io);
        disk_free(lc);
        return r;
    }
    dl_log_set_context(log, lc);
    return 0;
}

static void disk_dtr(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    if (lc->io && lc->io->close)
        lc->io->close(lc->io);
    pthread_cond_destroy(&lc->gc_cond);
    pthread_cond_destroy(&lc->gather_cond);
    pthread_mutex_destroy(&lc->gc_lock);
    disk_free(lc);
}

int dl_log_create_disk_io(uint64_t target_sectors, unsigned argc, const char *const *argv,
                          struct dl_io *io, dl_log **log)
{
    /* The operations up to priv are required; later ones are optional. */
    if (!io || io->struct_size < offsetof(struct dl_io, priv) + sizeof(void *) || !io->pread ||
        !io->pwrite || !io->sync || !io->size) {
        if (log)
            *log = NULL;
        dl_log_errorf(NULL, "dl_log_create_disk_io: io is NULL or lacks an operation");
        return -EINVAL;
    }
    pending_io = io;
    int r = dl_log_create("disk", target_sectors, argc, argv, log);
    pending_io = NULL; /* the ctr took it, or never ran */
    return r;
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
            w[i] |= (hi == 64 ? ~0ull : (1ull << hi) - 1) & (~0ull << lo);
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
            r = fail(log, lc, 'D', (int)got, "reading the bitmap");
            break;
        }
        if ((size_t)got < len) {
            dl_log_errorf(log, "log device %s is truncated: the bitmap ends early", lc->path);
            r = -EINVAL;
            break;
        }
        memset(buf + len, 0, n * lc->unit_bytes - len);
        decode_words(lc, u * wpu, n * wpu, buf, lc->stored_regions, w);
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
    r = write_units(lc, past_old, last, lc->region_count);
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r == 0) {
        what = "rewriting the old bitmap";
        touched_old = 1;
        r = write_units(lc, first, past_old, lc->region_count);
    }
    if (r == 0)
        r = lc->io->sync(lc->io);
    if (r < 0) {
        int err = r;
        r = touched_old ? write_units(lc, first, past_old, lc->stored_regions) : 0;
        if (r == 0 && extended)
            r = lc->io->set_size(lc->io, have);
        if (r == 0)
            r = lc->io->sync(lc->io);
        if (r < 0)
            return fail(log, lc, 'D', r, "undoing a failed grow");
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
        return fail(log, lc, 'D', r, "growing the log");
    lc->stored_regions = lc->region_count;
    return 0;
}

/* The first resume: apply the table's flag to what the device holds. */
static int load(dl_log *log, struct disk_log *lc)
{
    dl__bitmap_fill(lc->changed, 0);
    dl__bitmap_fill(lc->dirty, 0);
    int r = 0, growing = lc->stored_regions < lc->region_count;
    if (lc->fresh || lc->sync_mode != DL_SYNC_DEFAULT) {
        /* A new log, or sync/nosync: every region out of sync, or none.
         * Nothing is dirty (no write can be in flight on a new log). */
        int fill = lc->sync_mode != DL_SYNC_NONE;
        dl__bitmap_fill(lc->sync.out_of_sync, fill);
        dl__bitmap_fill(lc->ondisk, fill);
        if (!lc->fresh && !growing) { /* a grow (below) writes it all */
            r = write_fill(lc, fill, lc->nunits, lc->region_count);
            if (r == 0)
                r = lc->io->sync(lc->io);
            if (r < 0)
                return fail(log, lc, 'D', r, "rewriting the bitmap");
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
            return fail(log, lc, 'D', r, "writing the header");
    }
    dl__sync_state_recount(&lc->sync);
    lc->loaded = 1;
    return 0;
}

/* ---- flush: one round, and group commit ------------------------------------ */

static int set_bits_of(struct bitmap *bm, uint64_t word, uint64_t bits, int value)
{
    while (bits) {
        uint64_t b = word * 64 + (uint64_t)__builtin_ctzll(bits);
        int r = value ? dl__bitmap_set(bm, b) : dl__bitmap_clear(bm, b);
        if (r < 0)
            return r;
        bits &= bits - 1;
    }
    return 0;
}

struct round {
    uint64_t *units; /* changed units whose bits differ from the device */
    uint64_t *words; /* their new words, words_per_unit each */
    size_t n, cap;
};

static int round_add(struct disk_log *lc, struct round *rd, uint64_t unit)
{
    size_t wpu = words_per_unit(lc);
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 16;
        uint64_t *u = realloc(rd->units, cap * sizeof *u);
        if (!u)
            return -ENOMEM;
        rd->units = u;
        uint64_t *w = realloc(rd->words, cap * wpu * sizeof *w);
        if (!w)
            return -ENOMEM;
        rd->words = w;
        rd->cap = cap;
    }
    rd->units[rd->n++] = unit;
    return 0;
}

/* Compute one unit's new words and update ondisk. Sets *dirtied / *cleaned
 * when some bit turns dirty / clean on disk; 0 if the unit is unchanged. */
static int compute_unit(struct disk_log *lc, uint64_t unit, uint64_t *want, int *dirtied,
                        int *cleaned)
{
    size_t wpu = words_per_unit(lc);
    uint64_t fw = unit * wpu;
    uint64_t d[512], o[512], old[512]; /* wpu <= 512 */
    dl__bitmap_read_words(lc->dirty, fw, wpu, d);
    dl__bitmap_read_words(lc->sync.out_of_sync, fw, wpu, o);
    dl__bitmap_read_words(lc->ondisk, fw, wpu, old);
    int differs = 0;
    for (size_t i = 0; i < wpu; i++) {
        want[i] = d[i] | o[i];
        uint64_t up = want[i] & ~old[i], down = old[i] & ~want[i];
        if (!(up | down))
            continue;
        if (set_bits_of(lc->ondisk, fw + i, up, 1) < 0 || set_bits_of(lc->ondisk, fw + i, down, 0) < 0)
            return -ENOMEM;
        if (down) {
            /* A mark may have seen the old ondisk 1 and skipped queueing the
             * unit: reload after clearing, and keep what came back. */
            atomic_thread_fence(memory_order_seq_cst);
            uint64_t again;
            uint64_t d2, o2;
            dl__bitmap_read_words(lc->dirty, fw + i, 1, &d2);
            dl__bitmap_read_words(lc->sync.out_of_sync, fw + i, 1, &o2);
            again = (d2 | o2) & down;
            if (again) {
                if (set_bits_of(lc->ondisk, fw + i, again, 1) < 0)
                    return -ENOMEM;
                want[i] |= again;
                down &= ~again;
            }
        }
        *dirtied |= up != 0;
        *cleaned |= down != 0;
        differs |= (up | down) != 0;
    }
    return differs;
}

static int write_round(struct disk_log *lc, const struct round *rd)
{
    size_t wpu = words_per_unit(lc);
    uint8_t *buf = malloc(rd->n * lc->unit_bytes);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    for (size_t i = 0; r == 0 && i < rd->n;) {
        size_t j = i + 1;
        while (j < rd->n && rd->units[j] == rd->units[j - 1] + 1)
            j++;
        /* units i..j-1 are adjacent: one write */
        for (size_t k = i; k < j; k++)
            encode_words(lc, lc->region_count, rd->units[k] * wpu, wpu, rd->words + k * wpu,
                         buf + (k - i) * lc->unit_bytes);
        r = dl__disk_write_full(lc->io, buf, (j - i) * lc->unit_bytes, unit_offset(lc, rd->units[i]));
        i = j;
    }
    free(buf);
    return r;
}

/* Before a round writes: is the device still as long as the log? Someone
 * truncating the file under the open log would otherwise make every later
 * write land in a file that no longer holds the log (one fstat). */
static int check_device_size(struct disk_log *lc, uint64_t *have)
{
    uint32_t lbs;
    int r = lc->io->size(lc->io, have, &lbs);
    if (r < 0)
        return r;
    return *have < lc->min_device_bytes ? -EIO : 0;
}

static int flush_round(dl_log *log, struct disk_log *lc)
{
    struct round rd = {0};
    size_t wpu = words_per_unit(lc);
    int dirtied = 0, cleaned = 0, r = 0;
    uint64_t u = 0, found;
    while (u < lc->nunits && dl__bitmap_find_next_set(lc->changed, u, &found)) {
        dl__bitmap_clear(lc->changed, found);
        /* Pairs with the fence in mark: clear "changed", then read dirty. */
        atomic_thread_fence(memory_order_seq_cst);
        r = round_add(lc, &rd, found);
        if (r < 0)
            break;
        int differs = compute_unit(lc, found, rd.words + (rd.n - 1) * wpu, &dirtied, &cleaned);
        if (differs < 0) {
            r = differs;
            break;
        }
        if (!differs)
            rd.n--;
        u = found + 1;
    }
    if (r < 0) {
        r = fail(log, lc, 'F', r, "out of memory while flushing");
    } else if (rd.n > 0) {
        /* The data devices must be stable before any bit turns clean. */
        uint64_t have = 0;
        int size_err = check_device_size(lc, &have);
        if (size_err == -EIO) {
            char what[160];
            snprintf(what, sizeof what, "the log device was truncated under the open log (%" PRIu64
                     " bytes left, the log needs %" PRIu64 ")", have, lc->min_device_bytes);
            r = fail(log, lc, 'D', -EIO, what);
        } else if (size_err < 0) {
            r = fail(log, lc, 'D', size_err, "getting the size of the log device");
        }
        if (r == 0 && cleaned && (r = dl_log_call_flush_callback(log)) < 0)
            r = fail(log, lc, 'F', r, "the data-device flush callback failed");
        if (r == 0 && (r = write_round(lc, &rd)) < 0)
            r = fail(log, lc, 'D', r, "writing the bitmap");
        /* Only dirty bits need the device sync; a lost clean bit costs an
         * extra resync at worst. */
        if (r == 0 && dirtied && (r = lc->io->sync(lc->io)) < 0)
            r = fail(log, lc, 'F', r, "syncing the log device");
    }
    free(rd.units);
    free(rd.words);
    return r;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long a leader gathers: half the last round, at most 2 ms; it stops
 * early once no flush arrived for 50 us. */
#define GATHER_MAX_NS 2000000u
#define GATHER_QUIET_NS 50000u

/* Under contention (the last round served several flushes), the threads
 * that round released are about to flush again: wait a moment so that one
 * round serves them and the ones already waiting, instead of alternating
 * two half-full rounds (the batching of Linux's jbd2). A lone flusher never
 * waits. Called with gc_lock held. */
static void gather(struct disk_log *lc)
{
    if (lc->last_round_callers < 2)
        return;
    uint64_t start = now_ns(), window = lc->last_round_ns / 2;
    uint64_t deadline = start + (window < GATHER_MAX_NS ? window : GATHER_MAX_NS);
    unsigned seen = lc->arrivals;
    for (uint64_t t = start; t < deadline; t = now_ns()) {
        uint64_t wake = t + GATHER_QUIET_NS < deadline ? t + GATHER_QUIET_NS : deadline;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        int rc = pthread_cond_timedwait(&lc->gather_cond, &lc->gc_lock, &ts);
        if (rc == ETIMEDOUT && lc->arrivals == seen)
            break; /* quiet: nobody else is coming */
        seen = lc->arrivals;
    }
}

/* Group commit: a flush needs one round that starts after it arrived. If a
 * round is running, wait for it and then share the next one; whoever finds
 * no round running gathers the others (see gather) and runs the round for
 * everybody waiting. */
static int disk_flush(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    pthread_mutex_lock(&lc->gc_lock);
    int failed_before = atomic_load(&lc->failed) != 0;
    lc->arrivals++;
    pthread_cond_signal(&lc->gather_cond);
    /* A leader still gathering has not started its round: this flush is
     * covered by it, since the round's snapshot comes after this arrival. */
    uint64_t need = lc->rounds_started + 1;
    while (lc->rounds_done < need && !atomic_load(&lc->failed)) {
        if (lc->round_running) {
            lc->waiters++;
            pthread_cond_wait(&lc->gc_cond, &lc->gc_lock);
            lc->waiters--;
            continue;
        }
        lc->round_running = 1;
        gather(lc);
        uint64_t mine = ++lc->rounds_started;
        lc->last_round_callers = lc->waiters + 1;
        pthread_mutex_unlock(&lc->gc_lock);
        uint64_t t0 = now_ns();
        flush_round(log, lc);
        uint64_t took = now_ns() - t0;
        pthread_mutex_lock(&lc->gc_lock);
        lc->last_round_ns = took;
        lc->round_running = 0;
        lc->rounds_done = mine;
        pthread_cond_broadcast(&lc->gc_cond);
    }
    int failed = atomic_load(&lc->failed) != 0;
    pthread_mutex_unlock(&lc->gc_lock);
    if (!failed)
        return 0;
    /* The flush whose round failed says why; later ones that it failed. */
    return failed_before ? failed_error(log, lc) : failed_now(log, lc);
}

unsigned dl__disk_flush_waiters(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    pthread_mutex_lock(&lc->gc_lock);
    unsigned n = lc->waiters;
    pthread_mutex_unlock(&lc->gc_lock);
    return n;
}

static int disk_postsuspend(dl_log *log)
{
    return disk_flush(log);
}

/* The first resume loads the device; later ones (after a postsuspend) keep
 * the memory state, which is authoritative, and persist it. */
static int disk_resume(dl_log *log)
{
    struct disk_log *lc = dl__context(log);
    if (lc->loaded)
        return disk_flush(log);
    pthread_mutex_lock(&lc->gc_lock);
    int r = atomic_load(&lc->failed) ? failed_error(log, lc) : load(log, lc);
    pthread_mutex_unlock(&lc->gc_lock);
    return r;
}

/* ---- the lock-free ops ----------------------------------------------------- */

static int disk_is_clean(dl_log *log, uint64_t region)
{
    struct disk_log *lc = dl__context(log);
    if (atomic_load_explicit(&lc->failed, memory_order_relaxed))
        return 0;
    return !dl__bitmap_test(lc->dirty, region);
}

static int disk_in_sync(dl_log *log, uint64_t region, int can_block)
{
    (void)can_block;
    struct disk_log *lc = dl__context(log);
    if (atomic_load_explicit(&lc->failed, memory_order_relaxed))
        return 0;
    return !dl__bitmap_test(lc->sync.out_of_sync, region);
}

/* The on-disk bit of region may need to become 1: queue its unit unless the
 * device already says (or a running round is writing) "may differ". */
static int queue_if_clean_on_disk(struct disk_log *lc, uint64_t region)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (dl__bitmap_test(lc->ondisk, region))
        return 0;
    int r = dl__bitmap_set(lc->changed, unit_of(lc, region));
    return r < 0 ? r : 0;
}

/* The on-disk bit of region may become 0: queue its unit if it is 1. */
static int queue_if_dirty_on_disk(struct disk_log *lc, uint64_t region)
{
    if (!dl__bitmap_test(lc->ondisk, region) || dl__bitmap_test(lc->dirty, region) ||
        dl__bitmap_test(lc->sync.out_of_sync, region))
        return 0;
    int r = dl__bitmap_set(lc->changed, unit_of(lc, region));
    return r < 0 ? r : 0;
}

static int disk_mark_region(dl_log *log, uint64_t region)
{
    struct disk_log *lc = dl__context(log);
    int r = dl__bitmap_set(lc->dirty, region);
    if (r < 0)
        return r;
    return queue_if_clean_on_disk(lc, region);
}

static int disk_clear_region(dl_log *log, uint64_t region)
{
    struct disk_log *lc = dl__context(log);
    int r = dl__bitmap_clear(lc->dirty, region);
    if (r < 0)
        return r;
    return queue_if_dirty_on_disk(lc, region);
}

static int disk_get_resync_work(dl_log *log, uint64_t *region)
{
    return dl__sync_state_get_work(&((struct disk_log *)dl__context(log))->sync, region);
}

static int disk_set_region_sync(dl_log *log, uint64_t region, int in_sync)
{
    struct disk_log *lc = dl__context(log);
    int r = dl__sync_state_set(&lc->sync, region, in_sync);
    if (r < 0)
        return r;
    return in_sync ? queue_if_dirty_on_disk(lc, region) : queue_if_clean_on_disk(lc, region);
}

static int disk_get_sync_count(dl_log *log, uint64_t *count)
{
    struct disk_log *lc = dl__context(log);
    /* A failed log reads every region out of sync. */
    *count = atomic_load(&lc->failed) ? 0 : atomic_load(&lc->sync.sync_count);
    return 0;
}

static uint32_t disk_get_region_size(dl_log *log)
{
    return ((struct disk_log *)dl__context(log))->region_size;
}

static int disk_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct disk_log *lc = dl__context(log);
    int n;
    if (type == DL_STATUS_INFO) {
        int f = atomic_load(&lc->failed);
        n = snprintf(buf, len, "3 disk %s %c", lc->path, f ? f : 'A');
    } else {
        n = snprintf(buf, len, "disk %u %s %" PRIu32, 2 + lc->noptions, lc->path, lc->region_size);
        for (unsigned i = 0; i < lc->noptions && n >= 0 && (size_t)n < len; i++) {
            int m = snprintf(buf + n, len - (size_t)n, " %s", lc->options[i]);
            n = m < 0 ? m : n + m;
        }
    }
    if (n < 0)
        return -EINVAL;
    return (size_t)n < len ? n : -ENOSPC;
}

const struct dl_log_type dl__disk_type = {
    DL_LOG_TYPE_INIT("disk"),
    .thread_model = DL_THREAD_MODEL_PARALLEL,
    .ctr = disk_ctr,
    .dtr = disk_dtr,
    .postsuspend = disk_postsuspend,
    .resume = disk_resume,
    .get_region_size = disk_get_region_size,
    .is_clean = disk_is_clean,
    .in_sync = disk_in_sync,
    .flush = disk_flush,
    .mark_region = disk_mark_region,
    .clear_region = disk_clear_region,
    .get_resync_work = disk_get_resync_work,
    .set_region_sync = disk_set_region_sync,
    .get_sync_count = disk_get_sync_count,
    .status = disk_status,
};
