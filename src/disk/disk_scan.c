/* Read-only bitmap walk for tools (see disk_scan.h). */
#include "disk/disk_scan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "le_bytes.h"

#define SCAN_CHUNK_BYTES (1u << 20) /* a multiple of 8 */

uint64_t dl__disk_bitmap_area_bytes(const struct disk_header_info *info)
{
    return info->format == DISK_FORMAT_NATIVE ? dl__native_bitmap_bytes(info->region_count)
                                              : dl__dm_bitmap_bytes(info->region_count);
}

struct run {
    int open;
    uint64_t first, last;
};

static int run_add(struct run *run, uint64_t first, uint64_t last, disk_range_fn fn, void *arg,
                   struct disk_scan_result *res)
{
    if (run->open && first == run->last + 1) {
        run->last = last;
        return 0;
    }
    int r = 0;
    if (run->open && fn)
        r = fn(run->first, run->last, arg);
    run->open = 1;
    run->first = first;
    run->last = last;
    res->ranges++;
    return r;
}

static unsigned ctz64(uint64_t v)
{
    unsigned n = 0;
#if defined(__GNUC__) || defined(__clang__)
    n = (unsigned)__builtin_ctzll(v);
#else
    while (!(v & 1)) {
        v >>= 1;
        n++;
    }
#endif
    return n;
}

/* Regions base..base+63, `v` has bit i set when region base+i may differ. */
static int word_runs(uint64_t base, uint64_t v, struct run *run, disk_range_fn fn, void *arg,
                     struct disk_scan_result *res)
{
    while (v) {
        unsigned s = ctz64(v);
        uint64_t rest = ~(v >> s);
        unsigned len = rest ? ctz64(rest) : 64 - s;
        int r = run_add(run, base + s, base + s + len - 1, fn, arg, res);
        if (r)
            return r;
        res->may_differ += len;
        v = s + len >= 64 ? 0 : v & ~(dl__low_bits(len) << s);
    }
    return 0;
}

static unsigned popcount64(uint64_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

int dl__disk_scan_bitmap(struct dl_io *io, const struct disk_header_info *info, disk_range_fn fn,
                     void *arg, struct disk_scan_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    uint64_t area = dl__disk_bitmap_area_bytes(info), n = info->region_count;
    res->area_bytes = area;
    size_t cap = area < SCAN_CHUNK_BYTES ? (size_t)((area + 7) / 8 * 8) : SCAN_CHUNK_BYTES;
    uint8_t *buf = malloc(cap ? cap : 8);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct run run = {0, 0, 0};
    int r = 0;
    for (uint64_t off = 0; r == 0 && off < area; off += cap) {
        size_t len = area - off < cap ? (size_t)(area - off) : cap;
        int64_t got = dl__disk_read_full(io, buf, len, info->bitmap_offset + off);
        if (got < 0) {
            snprintf(err, errlen, "cannot read the bitmap at byte %" PRIu64 ": %s",
                     info->bitmap_offset + off, strerror((int)-got));
            r = (int)got;
            break;
        }
        if ((uint64_t)got < len) {
            snprintf(err, errlen, "bitmap is truncated: the device ends at byte %" PRIu64
                     " but the bitmap runs to byte %" PRIu64,
                     info->bitmap_offset + off + (uint64_t)got, info->bitmap_offset + area);
            r = -EINVAL;
            break;
        }
        memset(buf + len, 0, (len + 7) / 8 * 8 - len); /* area is whole words anyway */
        for (size_t i = 0; r == 0 && i < len; i += 8) {
            uint64_t base = (off + i) * 8; /* first region of this word */
            uint64_t stored = get_le64(buf + i);
            uint64_t valid = base >= n ? 0 : dl__low_bits(n - base);
            res->stray_bits += popcount64(stored & ~valid);
            uint64_t v = (info->one_means_clean ? ~stored : stored) & valid;
            if (v)
                r = word_runs(base, v, &run, fn, arg, res);
        }
    }
    if (r == 0 && run.open && fn)
        r = fn(run.first, run.last, arg);
    free(buf);
    return r;
}
