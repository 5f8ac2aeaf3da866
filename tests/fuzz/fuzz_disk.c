/* libFuzzer target: the "disk" type reading an arbitrary device. The input's
 * first bytes choose a table (format, sync flag, grow, region size, target)
 * and a few operations; the rest is the log device's contents, served by the
 * memory dl_io of the tests (tests/disk/memio). Each input runs the ctr, the
 * first resume (which loads, grows or rewrites the bitmap), the operations,
 * a flush, a suspend/resume cycle and the destroy. Any crash, sanitizer
 * report or broken invariant (a trap below) is a finding.
 *
 * Input layout:
 *   byte 0  bit 0 format=dm, bits 1-2 sync flag (none, sync, nosync, none),
 *           bit 3 grow, bit 4 block_on_error, bits 5-7 region_size 2^(1..8)
 *   byte 1  target: 1 + byte1 * 97 regions, times 2^k with k = byte2 & 3,
 *           or k = 7 when byte2 & 7 == 7 (at most 3.2 million regions: more
 *           than one 256 KiB chunk, yet rare, so that most inputs run fast)
 *   byte 2  high nibble: number of operations (0..15); bit 3: seal the
 *           native superblock records (store their correct CRC32C), so that
 *           the fuzzer gets past the checksum to the fields and the bitmap
 *   bytes 3.. two bytes per operation: (kind, region seed)
 *   the rest: the device image */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dirtylog.h"
#include "disk/crc32c.h"
#include "disk/format_native.h"
#include "memio.h"

/* Store the right CRC32C in both native superblock records (the last 4
 * bytes of each 512-byte record, little-endian). */
static void seal_native(uint8_t *img, size_t len)
{
    for (size_t slot = 0; slot < 2; slot++) {
        uint8_t *rec = img + slot * DLN_SLOT_BYTES;
        if ((slot + 1) * DLN_SLOT_BYTES > len)
            return;
        uint32_t crc = dl__crc32c(0, rec, DLN_RECORD_BYTES - 4);
        for (int b = 0; b < 4; b++)
            rec[DLN_RECORD_BYTES - 4 + b] = (uint8_t)(crc >> (8 * b));
    }
}

static void run_ops(dl_log *log, uint64_t regions, const uint8_t *ops, unsigned nops)
{
    for (unsigned i = 0; i < nops; i++) {
        uint64_t region = (uint64_t)ops[2 * i + 1] * 131 % regions;
        uint64_t work;
        switch (ops[2 * i] % 6) {
        case 0:
            dl_log_mark_region(log, region);
            if (dl_log_is_clean(log, region) == 1)
                __builtin_trap(); /* a marked region reads clean */
            break;
        case 1:
            dl_log_clear_region(log, region);
            break;
        case 2:
            dl_log_flush(log);
            break;
        case 3:
            if (dl_log_get_resync_work(log, &work) == 1 && work >= regions)
                __builtin_trap();
            break;
        case 4:
            dl_log_set_region_sync(log, region, ops[2 * i] & 8);
            break;
        default: {
            uint64_t count;
            if (dl_log_get_sync_count(log, &count) == 0 && count > regions)
                __builtin_trap();
            break;
        }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t flags = data[0];
    unsigned nops = data[2] >> 4;
    size_t head = 3 + 2 * (size_t)nops;
    if (size < head)
        return 0;
    uint32_t region_size = 2u << (flags >> 5);
    unsigned shift = (data[2] & 7) == 7 ? 7 : data[2] & 3;
    uint64_t regions = (1 + (uint64_t)data[1] * 97) << shift;
    static const char *const sync_words[] = {NULL, "sync", "nosync", NULL};

    const char *argv[6];
    unsigned argc = 0;
    char rs[16];
    snprintf(rs, sizeof rs, "%u", region_size);
    argv[argc++] = "fuzz";
    argv[argc++] = rs;
    if (sync_words[(flags >> 1) & 3])
        argv[argc++] = sync_words[(flags >> 1) & 3];
    if (flags & 1)
        argv[argc++] = "format=dm";
    if (flags & 8)
        argv[argc++] = "grow";
    if (flags & 16)
        argv[argc++] = "block_on_error";

    struct memio m;
    memio_init(&m, 0, 0);
    memio_load(&m, data + head, size - head);
    if (data[2] & 8)
        seal_native(m.buf, (size_t)m.size);
    dl_log *log = NULL;
    if (memio_open_log(&m, regions * region_size, argc, argv, &log) == 0) {
        if (dl_log_get_region_count(log) != regions)
            __builtin_trap();
        run_ops(log, regions, data + 3, nops);
        dl_log_flush(log);
        if (dl_log_postsuspend(log) == 0)
            dl_log_resume(log);
        char buf[256];
        dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf);
        dl_log_destroy(log);
    }
    memio_destroy(&m);
    return 0;
}
