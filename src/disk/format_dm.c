/* Linux dm disk log v2 header codec. */
#include "disk/format_dm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "le_bytes.h"

void dl__dm_encode(const struct dlm_header *h, uint8_t out[DLM_HEADER_BYTES])
{
    put_le32(out, h->magic);
    put_le32(out + 4, h->version);
    put_le64(out + 8, h->nr_regions);
}

int dl__dm_decode(const uint8_t in[DLM_HEADER_BYTES], struct dlm_header *h, char *err, size_t errlen)
{
    int zero = 1;
    for (unsigned i = 0; i < DLM_HEADER_BYTES; i++)
        zero &= in[i] == 0;
    if (zero)
        return 1;
    struct dlm_header x = {get_le32(in), get_le32(in + 4), get_le64(in + 8)};
    if (x.magic != DLM_MAGIC) {
        snprintf(err, errlen, "bad magic 0x%08" PRIx32 " (a dm disk log starts with 0x%08x, \"MiRr\")",
                 x.magic, DLM_MAGIC);
        return -EINVAL;
    }
    if (x.version != 1 && x.version != 2) {
        snprintf(err, errlen, "unsupported dm log version %" PRIu32 " (versions 1 and 2 are read)",
                 x.version);
        return -EINVAL;
    }
    *h = x;
    return 0;
}

uint64_t dl__dm_bitmap_bytes(uint64_t region_count)
{
    return (region_count + 63) / 64 * 8;
}

uint64_t dl__dm_layout_bytes(uint64_t region_count, uint32_t lbs)
{
    uint64_t b = DLM_BITMAP_OFFSET + dl__dm_bitmap_bytes(region_count);
    if (lbs < DLM_SECTOR)
        lbs = DLM_SECTOR;
    return (b + lbs - 1) / lbs * lbs;
}
