/* Reading and validating the header of a disk log of either format, without
 * a dl_log: what the "disk" type does at open, and what a tool needs to
 * describe a log read-only. Nothing here writes.
 *
 *   struct disk_header_info info;
 *   char err[256];
 *   int r = dl__disk_read_header(io, DISK_FORMAT_AUTO, &info, err, sizeof err);
 *   // r == 0: info.format, info.region_count, info.bitmap_offset ... valid
 *   // r == 1: the header area is all zero (an unformatted device)
 *   // r < 0:  -errno, err names the problem
 *
 * Then the bitmap is at info.bitmap_offset, info.bitmap_bytes long, bit i
 * at byte i/8, bit i%8; disk_bit_may_differ() interprets one bit.
 */
#ifndef DL_DISK_HEADER_H
#define DL_DISK_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"
#include "disk/format_dm.h"
#include "disk/format_native.h"

enum disk_format { DISK_FORMAT_AUTO = 0, DISK_FORMAT_NATIVE = 1, DISK_FORMAT_DM = 2 };

struct disk_header_info {
    int format;            /* DISK_FORMAT_NATIVE or DISK_FORMAT_DM */
    uint64_t device_bytes; /* size of the device */
    uint32_t logical_block_size;
    uint64_t region_count; /* as stored */
    uint32_t region_size;  /* sectors (native only; 0 for dm, which does not store it) */
    uint64_t bitmap_offset;
    uint64_t bitmap_bytes;  /* bytes of bitmap that hold region bits */
    uint64_t layout_bytes;  /* the whole log area */
    int one_means_clean;    /* dm: 1 = clean/in sync; native: 1 = may differ */
    struct dln_super native; /* native: the chosen superblock */
    int native_slot;
    struct dlm_header dm;          /* dm: the header */
    uint8_t dm_sector0[DLM_SECTOR]; /* dm: sector 0 as found (bytes 16.. preserved) */
};

/* Read and validate the header. format AUTO tries native then dm. 0, 1
 * (all-zero header: unformatted; info->format and device size are set), or
 * -errno with the reason in err. */
int dl__disk_read_header(struct dl_io *io, int format, struct disk_header_info *info, char *err,
                     size_t errlen);

/* Read exactly len bytes at off: bytes past the end of the device read as
 * zero; returns how many bytes the device had (<= len) or -errno. */
int64_t dl__disk_read_full(struct dl_io *io, void *buf, size_t len, uint64_t off);
/* Write all len bytes (retrying short writes): 0 or -errno. */
int dl__disk_write_full(struct dl_io *io, const void *buf, size_t len, uint64_t off);

/* Does the stored bit value mean "this region may differ" in this format? */
static inline int disk_bit_may_differ(const struct disk_header_info *info, int bit)
{
    return info->one_means_clean ? !bit : bit;
}

#endif
