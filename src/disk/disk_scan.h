/* Walking the on-disk bitmap of a disk log read-only, without a dl_log: for
 * tools that describe, dump, check or convert a log (tools/dirtylog). It
 * reads the bitmap in bounded chunks and reports maximal runs of regions
 * that "may differ" (dirty or out of sync), so a huge sparse log costs one
 * pass over its bytes and one callback per run. Nothing here writes.
 *
 *   struct disk_header_info info;       // from dl__disk_read_header()
 *   struct disk_scan_result res;
 *   int r = dl__disk_scan_bitmap(io, &info, on_range, arg, &res, err, sizeof err);
 */
#ifndef DL_DISK_SCAN_H
#define DL_DISK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "disk/disk_header.h"

struct disk_scan_result {
    uint64_t may_differ;   /* regions whose bit says "may differ" */
    uint64_t ranges;       /* maximal runs of such regions */
    uint64_t stray_bits;   /* bits at or past region_count that are not 0 */
    uint64_t area_bytes;   /* on-disk bitmap area scanned (whole blocks/words) */
};

/* Called for each maximal run [first, last] of regions that may differ, in
 * ascending order. A non-zero return stops the scan and is returned. */
typedef int (*disk_range_fn)(uint64_t first, uint64_t last, void *arg);

/* Bytes of the bitmap area as laid out on disk: native whole 4 KiB blocks,
 * dm whole 64-bit words. Bits at or past region_count in it must be 0. */
uint64_t dl__disk_bitmap_area_bytes(const struct disk_header_info *info);

/* Scan the bitmap of a log whose header info describes (fn may be NULL to
 * only count). 0, fn's non-zero return, or -errno with the reason in err. */
int dl__disk_scan_bitmap(struct dl_io *io, const struct disk_header_info *info, disk_range_fn fn,
                     void *arg, struct disk_scan_result *res, char *err, size_t errlen);

#endif
