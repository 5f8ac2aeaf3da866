/* Native format codec: superblock records and the two-slot choice. */
#define _POSIX_C_SOURCE 200809L
#include "disk/format_native.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disk/crc32c.h"
#include "le_bytes.h"

/* Record layout (byte offsets). */
enum {
    O_MAGIC = 0,
    O_VERSION = 4,
    O_INCOMPAT = 8,
    O_COMPAT = 12,
    O_UUID = 16,
    O_REGION_SIZE = 32,
    O_BLOCK_SIZE = 36,
    O_REGION_COUNT = 40,
    O_GENERATION = 48,
    O_BITMAP_OFFSET = 56,
    O_RESERVED = 64, /* zero up to the CRC */
    O_CRC = 508,
};

void dl__native_encode(const struct dln_super *sb, uint8_t rec[DLN_RECORD_BYTES])
{
    memset(rec, 0, DLN_RECORD_BYTES);
    put_le32(rec + O_MAGIC, DLN_MAGIC);
    put_le32(rec + O_VERSION, sb->version);
    put_le32(rec + O_INCOMPAT, sb->incompat);
    put_le32(rec + O_COMPAT, sb->compat);
    memcpy(rec + O_UUID, sb->uuid, 16);
    put_le32(rec + O_REGION_SIZE, sb->region_size);
    put_le32(rec + O_BLOCK_SIZE, sb->block_size);
    put_le64(rec + O_REGION_COUNT, sb->region_count);
    put_le64(rec + O_GENERATION, sb->generation);
    put_le64(rec + O_BITMAP_OFFSET, sb->bitmap_offset);
    put_le32(rec + O_CRC, dl__crc32c(0, rec, O_CRC));
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int dl__native_decode(const uint8_t rec[DLN_RECORD_BYTES], struct dln_super *sb, char *err, size_t errlen)
{
    if (all_zero(rec, DLN_RECORD_BYTES))
        return 1;
    uint32_t magic = get_le32(rec + O_MAGIC);
    if (magic != DLN_MAGIC) {
        snprintf(err, errlen, "bad magic 0x%08" PRIx32 " (a dirtylog log starts with 0x%08x, \"DLOG\")",
                 magic, DLN_MAGIC);
        return -EINVAL;
    }
    uint32_t stored = get_le32(rec + O_CRC), crc = dl__crc32c(0, rec, O_CRC);
    if (stored != crc) {
        snprintf(err, errlen, "superblock checksum mismatch (stored CRC32C 0x%08" PRIx32
                 ", computed 0x%08" PRIx32 ")", stored, crc);
        return -EINVAL;
    }
    struct dln_super s;
    s.version = get_le32(rec + O_VERSION);
    s.incompat = get_le32(rec + O_INCOMPAT);
    s.compat = get_le32(rec + O_COMPAT);
    memcpy(s.uuid, rec + O_UUID, 16);
    s.region_size = get_le32(rec + O_REGION_SIZE);
    s.block_size = get_le32(rec + O_BLOCK_SIZE);
    s.region_count = get_le64(rec + O_REGION_COUNT);
    s.generation = get_le64(rec + O_GENERATION);
    s.bitmap_offset = get_le64(rec + O_BITMAP_OFFSET);
    if (s.version != DLN_VERSION)
        snprintf(err, errlen, "unsupported format version %" PRIu32 " (this library reads version %u)",
                 s.version, DLN_VERSION);
    else if (s.incompat & ~DLN_INCOMPAT_KNOWN)
        snprintf(err, errlen, "unknown incompatible feature flags 0x%08" PRIx32,
                 s.incompat & ~DLN_INCOMPAT_KNOWN);
    else if (all_zero(s.uuid, 16))
        snprintf(err, errlen, "uuid is all zero");
    else if (s.region_size < 2 || (s.region_size & (s.region_size - 1)))
        snprintf(err, errlen, "stored region_size %" PRIu32 " is not a power of 2 >= 2", s.region_size);
    else if (s.block_size != DLN_BLOCK_BYTES)
        snprintf(err, errlen, "stored bitmap block size %" PRIu32 " is not %u", s.block_size,
                 DLN_BLOCK_BYTES);
    else if (s.region_count == 0 || s.region_count > ((uint64_t)1 << 60))
        snprintf(err, errlen, "stored region_count %" PRIu64 " is out of range", s.region_count);
    else if (s.generation == 0)
        snprintf(err, errlen, "stored generation is 0 (generations start at 1)");
    else if (s.bitmap_offset != DLN_BITMAP_OFFSET)
        snprintf(err, errlen, "stored bitmap offset %" PRIu64 " is not %u", s.bitmap_offset,
                 DLN_BITMAP_OFFSET);
    else if (!all_zero(rec + O_RESERVED, O_CRC - O_RESERVED))
        snprintf(err, errlen, "reserved superblock bytes %d..%d are not zero", O_RESERVED, O_CRC - 1);
    else {
        *sb = s;
        return 0;
    }
    return -EINVAL;
}

uint64_t dl__native_bitmap_bytes(uint64_t region_count)
{
    uint64_t bytes = (region_count + 7) / 8;
    return (bytes + DLN_BLOCK_BYTES - 1) / DLN_BLOCK_BYTES * DLN_BLOCK_BYTES;
}

uint64_t dl__native_layout_bytes(uint64_t region_count)
{
    return DLN_BITMAP_OFFSET + dl__native_bitmap_bytes(region_count);
}

/* Read exactly len bytes; bytes past the end of the device read as zero.
 * Returns the number of bytes the device really had, or -errno. */
static int64_t read_full(struct dl_io *io, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        int64_t n = io->pread(io, buf + done, len - done, off + done);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    memset(buf + done, 0, len - done);
    return (int64_t)done;
}

int dl__native_read(struct dl_io *io, struct dln_super *sb, int *slot, char *err, size_t errlen)
{
    uint8_t rec[2][DLN_RECORD_BYTES];
    struct dln_super s[2];
    char why[2][200];
    int st[2];
    for (int i = 0; i < 2; i++) {
        int64_t n = read_full(io, rec[i], DLN_RECORD_BYTES, (uint64_t)i * DLN_SLOT_BYTES);
        if (n < 0) {
            snprintf(err, errlen, "cannot read superblock slot %d: %s", i, strerror((int)-n));
            return (int)n;
        }
        st[i] = dl__native_decode(rec[i], &s[i], why[i], sizeof why[i]);
    }
    if (st[0] == 1 && st[1] == 1)
        return 1;
    if (st[0] < 0 && st[1] != 0) {
        /* No valid copy: report slot 0's problem (or slot 1's if 0 is blank). */
        snprintf(err, errlen, "superblock: %s", why[0]);
        return -EINVAL;
    }
    if (st[0] != 0 && st[1] < 0) {
        snprintf(err, errlen, "superblock (slot 1): %s", why[1]);
        return -EINVAL;
    }
    int pick;
    if (st[0] == 0 && st[1] == 0) {
        if (memcmp(s[0].uuid, s[1].uuid, 16) != 0) {
            snprintf(err, errlen, "the two superblock copies belong to different logs (uuids differ)");
            return -EINVAL;
        }
        if (s[0].generation == s[1].generation) {
            snprintf(err, errlen, "both superblock copies claim generation %" PRIu64, s[0].generation);
            return -EINVAL;
        }
        pick = s[1].generation > s[0].generation;
    } else {
        pick = st[1] == 0;
    }
    if ((s[pick].generation - 1) % 2 != (uint64_t)pick) {
        snprintf(err, errlen, "superblock generation %" PRIu64 " is stored in the wrong slot (%d)",
                 s[pick].generation, pick);
        return -EINVAL;
    }
    *sb = s[pick];
    *slot = pick;
    return 0;
}

int dl__native_write(struct dl_io *io, const struct dln_super *sb)
{
    uint8_t rec[DLN_RECORD_BYTES];
    dl__native_encode(sb, rec);
    uint64_t off = ((sb->generation - 1) % 2) * DLN_SLOT_BYTES;
    size_t done = 0;
    while (done < sizeof rec) {
        int64_t n = io->pwrite(io, rec + done, sizeof rec - done, off + done);
        if (n <= 0)
            return n < 0 ? (int)n : -EIO;
        done += (size_t)n;
    }
    return 0;
}

void dl__native_init(struct dln_super *sb, uint32_t region_size, uint64_t region_count)
{
    memset(sb, 0, sizeof *sb);
    sb->version = DLN_VERSION;
    sb->region_size = region_size;
    sb->block_size = DLN_BLOCK_BYTES;
    sb->region_count = region_count;
    sb->generation = 1;
    sb->bitmap_offset = DLN_BITMAP_OFFSET;
    /* A random (version 4) uuid; without /dev/urandom, mix time and address. */
    int ok = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ok = read(fd, sb->uuid, 16) == 16;
        close(fd);
    }
    if (!ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                     (uint64_t)(uintptr_t)sb ^ ((uint64_t)getpid() << 32);
        for (int i = 0; i < 16; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            sb->uuid[i] = (uint8_t)x;
        }
    }
    sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0F) | 0x40);
    sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3F) | 0x80);
}
