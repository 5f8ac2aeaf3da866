/* The Linux dm "disk" log format, version 2 (reference §2), as a codec that
 * needs no dl_log:
 *
 *   bytes 0..15      header: u32 magic 0x4D695272 ("MiRr" read as LE u32,
 *                    bytes 72 52 69 4D), u32 version (2), u64 nr_regions
 *   bytes 16..1023   unused by the kernel; preserved as found
 *   bytes 1024..     bitmap: bit i = byte i/8, bit i%8; 1 = clean and in
 *                    sync, 0 = may differ; round_up(nr_regions, 64)/8 bytes
 *   the whole area is rounded up to the logical block size.
 */
#ifndef DL_DISK_FORMAT_DM_H
#define DL_DISK_FORMAT_DM_H

#include <stddef.h>
#include <stdint.h>

#define DLM_MAGIC 0x4D695272u
#define DLM_VERSION 2u
#define DLM_HEADER_BYTES 16u
#define DLM_BITMAP_OFFSET 1024u
#define DLM_SECTOR 512u

struct dlm_header {
    uint32_t magic;
    uint32_t version;
    uint64_t nr_regions;
};

/* Write the 16 header bytes (bytes after them are the caller's). */
void dl__dm_encode(const struct dlm_header *h, uint8_t out[DLM_HEADER_BYTES]);
/* Decode: 0 (version 1 or 2), 1 if the 16 bytes are all zero (never
 * written), -EINVAL with the reason in err. */
int dl__dm_decode(const uint8_t in[DLM_HEADER_BYTES], struct dlm_header *h, char *err, size_t errlen);
/* round_up(region_count, 64) / 8. */
uint64_t dl__dm_bitmap_bytes(uint64_t region_count);
/* 1024 + bitmap bytes, rounded up to the logical block size. */
uint64_t dl__dm_layout_bytes(uint64_t region_count, uint32_t logical_block_size);

#endif
