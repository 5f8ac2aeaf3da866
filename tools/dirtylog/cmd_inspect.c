/* dirtylog inspect: the header and the counts, like `mdadm -X`. Read-only. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

static void row(const char *key, const char *fmt, ...) DL_PRINTF(2, 3);
static void row(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%16s : ", key);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* --region-size for dm logs (which do not store it): 0 if absent. */
int region_size_option(const char *value, const struct logread *lr, uint32_t *rs)
{
    *rs = lr->info.region_size;
    if (!value)
        return 0;
    uint64_t v;
    char why[160];
    if (parse_sectors(value, &v, why, sizeof why) != 0)
        return tool_usage_error("bad --region-size: %s", why);
    if (v < 2 || v > UINT32_MAX || (v & (v - 1)))
        return tool_usage_error("bad --region-size: '%s' is not a power of 2 between 2 and 2^31 "
                                "sectors", value);
    if (lr->info.format == DISK_FORMAT_NATIVE && v != lr->info.region_size) {
        tool_error("--region-size %" PRIu64 " contradicts the region size stored in %s (%" PRIu32
                   " sectors)", v, lr->path, lr->info.region_size);
        return EXIT_FAIL;
    }
    *rs = (uint32_t)v;
    return 0;
}

/* --json: the header fields of dump --json, then the sizes and counts of
 * the text rows (one object on one line). */
static void inspect_json(const struct logread *lr, uint32_t rs, const struct disk_scan_result *res,
                         uint64_t layout)
{
    const struct disk_header_info *in = &lr->info;
    json_log_header(lr, rs);
    if (in->format == DISK_FORMAT_NATIVE)
        printf(",\"superblock_slot\":%d", in->native_slot);
    uint64_t sectors = in->region_count * rs;
    if (rs && sectors / rs == in->region_count)
        printf(",\"target_sectors\":%" PRIu64, sectors);
    else
        printf(",\"target_sectors\":null");
    printf(",\"bitmap_bytes\":%" PRIu64 ",\"log_bytes\":%" PRIu64 ",\"device_bytes\":%" PRIu64
           ",\"block_device\":%s,\"may_differ\":%" PRIu64 ",\"range_count\":%" PRIu64
           ",\"dirty\":%" PRIu64 ",\"out_of_sync\":%" PRIu64 ",\"clean_and_in_sync\":%" PRIu64
           ",\"stray_bits\":%" PRIu64 "}\n",
           res->area_bytes, layout, in->device_bytes, lr->is_blockdev ? "true" : "false",
           res->may_differ, res->ranges, res->may_differ, res->may_differ,
           in->region_count - res->may_differ, res->stray_bits);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct opt_spec specs[] = {{"region-size", 1}, {"json", 0}};
    struct parsed_args pa;
    int status, r;
    if (parse_command("inspect", argc, argv, specs, 2, 1, "missing the log path", &pa, &status))
        return status;
    struct logread lr;
    if (logread_open(&lr, pa.operands[0]) != 0)
        return EXIT_FAIL;
    const struct disk_header_info *in = &lr.info;
    uint32_t rs;
    if ((r = region_size_option(pa.values[0], &lr, &rs)) != 0) {
        logread_close(&lr);
        return r;
    }
    struct disk_scan_result res;
    if (logread_scan(&lr, NULL, NULL, &res) != 0) {
        logread_close(&lr);
        return EXIT_FAIL;
    }
    uint64_t layout = in->format == DISK_FORMAT_DM
                          ? dl__dm_layout_bytes(in->region_count, in->logical_block_size)
                          : in->layout_bytes;
    if (pa.values[1]) {
        inspect_json(&lr, rs, &res, layout);
        if (res.stray_bits)
            tool_warning("%s: %" PRIu64 " bits past region_count are set (should be 0); run "
                         "'dirtylog check'", lr.path, res.stray_bits);
        logread_close(&lr);
        return tool_finish_stdout(EXIT_OK);
    }
    char b1[32], b2[32];
    row("Filename", "%s", lr.path);
    if (in->format == DISK_FORMAT_NATIVE) {
        const struct dln_super *s = &in->native;
        char uuid[37];
        uuid_text(s->uuid, uuid);
        row("Format", "native (dirtylog), version %" PRIu32, s->version);
        row("Magic", "0x%08x (\"DLOG\")", DLN_MAGIC);
        row("UUID", "%s", uuid);
        row("Generation", "%" PRIu64 " (superblock slot %d of 2)", s->generation, in->native_slot);
        row("Features", "incompat 0x%08" PRIx32 ", compat 0x%08" PRIx32 "%s", s->incompat,
            s->compat, s->incompat || s->compat ? "" : " (none)");
    } else {
        row("Format", "dm (Linux dm disk log), version %" PRIu32 "%s", in->dm.version,
            in->dm.version == 1 ? " (promoted to 2 when the log is next resumed)" : "");
        row("Magic", "0x%08x (\"MiRr\")", DLM_MAGIC);
        row("UUID", "(not stored by the dm format)");
        row("Generation", "(not stored by the dm format)");
        row("Features", "(none in the dm format)");
    }
    if (rs) {
        human_bytes((uint64_t)rs * DL_SECTOR_SIZE, b1, sizeof b1);
        row("Region Size", "%" PRIu32 " sectors (%s)%s", rs, b1,
            in->format == DISK_FORMAT_DM ? " (from --region-size)" : "");
    } else {
        row("Region Size", "(not stored by the dm format; give --region-size)");
    }
    row("Region Count", "%" PRIu64, in->region_count);
    if (rs) {
        uint64_t sectors = in->region_count * rs;
        if (sectors / rs != in->region_count) {
            row("Target Size", "(overflows 64 bits)");
        } else {
            human_bytes(sectors * DL_SECTOR_SIZE, b1, sizeof b1);
            row("Target Size", "%" PRIu64 " sectors (%s) covered; the target may end inside the "
                "last region", sectors, b1);
        }
    }
    row("Bitmap", "%" PRIu64 " bytes at byte %" PRIu64 ", bit set = %s", res.area_bytes,
        in->bitmap_offset, in->one_means_clean ? "clean and in sync" : "may differ");
    human_bytes(layout, b1, sizeof b1);
    human_bytes(in->device_bytes, b2, sizeof b2);
    row("Log Size", "%" PRIu64 " bytes (%s); %s holds %" PRIu64 " bytes (%s)", layout,
        b1, lr.is_blockdev ? "device" : "file", in->device_bytes, b2);
    double pct = (double)res.may_differ * 100.0 / (double)in->region_count;
    row("Bitmap Regions", "%" PRIu64 " regions, %" PRIu64 " may differ (%.2f%%) in %" PRIu64
        " range%s", in->region_count, res.may_differ, pct, res.ranges, res.ranges == 1 ? "" : "s");
    row("State", "%" PRIu64 " dirty, %" PRIu64 " out of sync, %" PRIu64 " clean and in sync",
        res.may_differ, res.may_differ, in->region_count - res.may_differ);
    row("Note", "the format keeps ONE bit per region meaning \"may differ\" (dirty or out");
    row("", "of sync); such a region loads as both dirty and out of sync, so the");
    row("", "dirty and out-of-sync counts are the same number.");
    if (res.stray_bits)
        tool_warning("%s: %" PRIu64 " bits past region_count are set (should be 0); run "
                     "'dirtylog check'", lr.path, res.stray_bits);
    logread_close(&lr);
    return tool_finish_stdout(EXIT_OK);
}
