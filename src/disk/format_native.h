/* The native dirtylog on-disk format (docs/disk-format.md), as a codec that
 * needs no dl_log: a tool can validate and describe a log with these calls.
 *
 *   bytes 0..4095      superblock slot 0 (a 512-byte record, rest zero)
 *   bytes 4096..8191   superblock slot 1
 *   bytes 8192..       the bitmap, in 4 KiB blocks; bit i = byte i/8, bit
 *                      i%8; 1 = region may differ (dirty or out of sync)
 *
 * The two slots alternate by generation (slot = (generation - 1) % 2), so a
 * torn superblock write leaves the other copy valid. Flushes never write the
 * superblock; it changes only when a log is formatted or grown.
 *
 * Use: dl__native_read() picks the valid superblock of a device, dl__native_layout_bytes()
 * says how big the log must be, dl__native_write() writes the next copy.
 */
#ifndef DL_DISK_FORMAT_NATIVE_H
#define DL_DISK_FORMAT_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"

#define DLN_MAGIC 0x474F4C44u /* bytes "DLOG" */
#define DLN_VERSION 1u
#define DLN_RECORD_BYTES 512u
#define DLN_SLOT_BYTES 4096u
#define DLN_BLOCK_BYTES 4096u
#define DLN_BITMAP_OFFSET 8192u
#define DLN_INCOMPAT_KNOWN 0u /* no incompatible feature is defined yet */

struct dln_super {
    uint32_t version;
    uint32_t incompat; /* features a reader must understand */
    uint32_t compat;   /* features a reader may ignore */
    uint8_t uuid[16];
    uint32_t region_size; /* sectors */
    uint32_t block_size;  /* bitmap block size: 4096 */
    uint64_t region_count;
    uint64_t generation; /* >= 1, +1 per superblock write */
    uint64_t bitmap_offset; /* 8192 */
};

/* Encode into a 512-byte record (CRC32C in the last 4 bytes). */
void dl__native_encode(const struct dln_super *sb, uint8_t rec[DLN_RECORD_BYTES]);
/* Decode and validate one record: 0, 1 if it is all zero (never written),
 * or -EINVAL with the reason in err. */
int dl__native_decode(const uint8_t rec[DLN_RECORD_BYTES], struct dln_super *sb, char *err, size_t errlen);
/* Bitmap bytes for region_count (rounded up to whole 4 KiB blocks). */
uint64_t dl__native_bitmap_bytes(uint64_t region_count);
/* Whole log size: bitmap offset + bitmap bytes. */
uint64_t dl__native_layout_bytes(uint64_t region_count);
/* Read both slots and choose the newest valid superblock: 0 and *sb (*slot
 * says which), 1 if both slots are all zero (unformatted), or -errno with
 * the reason in err. Reads only. */
int dl__native_read(struct dl_io *io, struct dln_super *sb, int *slot, char *err, size_t errlen);
/* Write sb (its generation chooses the slot) as one 512-byte write. */
int dl__native_write(struct dl_io *io, const struct dln_super *sb);
/* A new superblock for this geometry: generation 1, a random uuid. */
void dl__native_init(struct dln_super *sb, uint32_t region_size, uint64_t region_count);

#endif
