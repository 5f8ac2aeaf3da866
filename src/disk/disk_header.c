/* Header probing for both formats (see disk_header.h). */
#include "disk/disk_header.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int64_t dl__disk_read_full(struct dl_io *io, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        int64_t n = io->pread(io, (char *)buf + done, len - done, off + done);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    memset((char *)buf + done, 0, len - done);
    return (int64_t)done;
}

int dl__disk_write_full(struct dl_io *io, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        int64_t n = io->pwrite(io, (const char *)buf + done, len - done, off + done);
        if (n < 0)
            return (int)n;
        if (n == 0 || (uint64_t)n > len - done)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

static int check_size(struct disk_header_info *info, const char *what, char *err, size_t errlen)
{
    if (info->device_bytes < info->layout_bytes) {
        snprintf(err, errlen,
                 "log is truncated: its %s bitmap for %" PRIu64 " regions needs %" PRIu64
                 " bytes but the device has only %" PRIu64,
                 what, info->region_count, info->layout_bytes, info->device_bytes);
        return -EINVAL;
    }
    return 0;
}

static int read_native(struct dl_io *io, struct disk_header_info *info, char *err, size_t errlen)
{
    int r = dl__native_read(io, &info->native, &info->native_slot, err, errlen);
    if (r != 0)
        return r;
    info->format = DISK_FORMAT_NATIVE;
    info->region_count = info->native.region_count;
    info->region_size = info->native.region_size;
    info->bitmap_offset = info->native.bitmap_offset;
    info->bitmap_bytes = (info->region_count + 7) / 8;
    info->layout_bytes = dl__native_layout_bytes(info->region_count);
    info->one_means_clean = 0;
    return check_size(info, "native", err, errlen);
}

static int read_dm(struct dl_io *io, struct disk_header_info *info, char *err, size_t errlen)
{
    int64_t n = dl__disk_read_full(io, info->dm_sector0, DLM_SECTOR, 0);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the dm log header: %s", strerror((int)-n));
        return (int)n;
    }
    int r = dl__dm_decode(info->dm_sector0, &info->dm, err, errlen);
    if (r != 0)
        return r;
    info->format = DISK_FORMAT_DM;
    info->region_count = info->dm.nr_regions;
    info->region_size = 0;
    info->bitmap_offset = DLM_BITMAP_OFFSET;
    info->bitmap_bytes = dl__dm_bitmap_bytes(info->region_count);
    info->layout_bytes = DLM_BITMAP_OFFSET + info->bitmap_bytes;
    info->one_means_clean = 1;
    return check_size(info, "dm", err, errlen);
}

int dl__disk_read_header(struct dl_io *io, int format, struct disk_header_info *info, char *err,
                     size_t errlen)
{
    memset(info, 0, sizeof *info);
    int r = io->size(io, &info->device_bytes, &info->logical_block_size);
    if (r < 0) {
        snprintf(err, errlen, "cannot get the size of the log device: %s", strerror(-r));
        return r;
    }
    if (info->logical_block_size < 512 || (info->logical_block_size & (info->logical_block_size - 1)))
        info->logical_block_size = 512;
    if (info->device_bytes == 0) {
        snprintf(err, errlen, "log device is empty (0 bytes): not a log");
        return -EINVAL;
    }
    if (format == DISK_FORMAT_NATIVE)
        r = read_native(io, info, err, errlen);
    else if (format == DISK_FORMAT_DM)
        r = read_dm(io, info, err, errlen);
    else {
        r = read_native(io, info, err, errlen);
        if (r < 0 && r != -EINVAL)
            return r;
        if (r != 0) {
            char err2[256];
            int r2 = read_dm(io, info, err2, sizeof err2);
            if (r2 == 0 || (r2 < 0 && r == 1))
                snprintf(err, errlen, "%s", err2);
            if (r2 <= 0)
                r = r2;
        }
    }
    if (r == 1)
        info->format = format;
    return r;
}
