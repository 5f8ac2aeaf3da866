/* dirtylog check: validate a log read-only. Exit 0 = valid and every region
 * clean and in sync; 1 = valid, some regions may differ; 2 = invalid,
 * corrupt, unreadable or a usage error. Findings that are fine go to stdout,
 * problems to stderr. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "tool.h"

/* Both native superblock copies: each must be valid or never written, and
 * they must agree (same uuid, consecutive generations). Errors counted. */
static int check_slots(struct logread *lr)
{
    int errors = 0;
    uint8_t rec[2][DLN_RECORD_BYTES];
    struct dln_super s[2];
    int st[2];
    for (int i = 0; i < 2; i++) {
        char why[200] = "";
        int64_t n = dl__disk_read_full(lr->io, rec[i], DLN_RECORD_BYTES, (uint64_t)i * DLN_SLOT_BYTES);
        if (n < 0) {
            tool_error("superblock slot %d: cannot read: %s", i, strerror((int)-n));
            errors++;
            st[i] = -1;
            continue;
        }
        st[i] = dl__native_decode(rec[i], &s[i], why, sizeof why);
        if (st[i] == 0)
            tool_ok("superblock slot %d: valid, generation %" PRIu64 ", %" PRIu64
                    " regions of %" PRIu32 " sectors",
                    i, s[i].generation, s[i].region_count, s[i].region_size);
        else if (st[i] == 1)
            tool_ok("superblock slot %d: never written (all zero)", i);
        else {
            tool_error("superblock slot %d is corrupt: %s (the other copy is in use; the "
                       "redundancy against a torn write is lost)", i, why);
            errors++;
        }
    }
    int cur = lr->info.native_slot, other = 1 - cur;
    uint64_t gen = lr->info.native.generation;
    if (st[other] == 1 && gen >= 2) {
        tool_error("superblock slot %d is blank although generation %" PRIu64 " in slot %d "
                   "implies it was written", other, gen, cur);
        errors++;
    }
    if (st[other] == 0 && s[other].generation + 1 != gen)
        tool_warning("superblock slot %d has generation %" PRIu64 ", expected %" PRIu64
                     " (one less than slot %d's)", other, s[other].generation, gen - 1, cur);
    return errors;
}

/* --json: one object on one line; the exit status is the same. */
static int json_verdict(const char *path, const struct logread *lr, int status, int errors,
                        const struct disk_scan_result *res)
{
    printf("{\"path\":");
    dl__json_cstring(stdout, path);
    printf(",\"verdict\":\"%s\",\"exit_status\":%d,\"problems\":%d",
           status == EXIT_FAIL ? "invalid" : status == EXIT_DIFFERS ? "valid_may_differ" : "valid",
           status, errors);
    if (lr)
        printf(",\"format\":\"%s\",\"region_count\":%" PRIu64, format_name(lr->info.format),
               lr->info.region_count);
    else
        printf(",\"format\":null,\"region_count\":null");
    if (res)
        printf(",\"may_differ\":%" PRIu64 ",\"range_count\":%" PRIu64, res->may_differ,
               res->ranges);
    else
        printf(",\"may_differ\":null,\"range_count\":null");
    putchar(',');
    tool_findings_json();
    printf("}\n");
    return tool_finish_stdout(status);
}

int cmd_check(int argc, char **argv)
{
    static const struct opt_spec specs[] = {{"json", 0}};
    struct parsed_args pa;
    int status;
    if (parse_command("check", argc, argv, specs, 1, 1, "missing the log path", &pa, &status))
        return status;
    int json = pa.values[0] != NULL;
    if (json)
        tool_findings_start();
    struct logread lr;
    if (logread_open(&lr, pa.operands[0]) != 0) {
        if (json)
            return json_verdict(pa.operands[0], NULL, EXIT_FAIL, 1, NULL);
        printf("%s: INVALID\n", pa.operands[0]);
        return tool_finish_stdout(EXIT_FAIL);
    }
    const struct disk_header_info *in = &lr.info;
    int errors = 0;
    if (in->format == DISK_FORMAT_NATIVE) {
        tool_ok("native format version %" PRIu32 ", superblock checksums verified",
                in->native.version);
        errors += check_slots(&lr);
    } else {
        tool_ok("dm format version %" PRIu32 ", %" PRIu64 " regions (the dm format has no "
                "checksum)", in->dm.version, in->region_count);
        if (in->dm.version == 1)
            tool_warning("dm log version 1: readable, rewritten as version 2 at the next resume");
    }

    /* Size of the file or device against the layout. */
    uint64_t need = in->format == DISK_FORMAT_NATIVE
                        ? dl__native_layout_bytes(in->region_count)
                        : dl__dm_layout_bytes(in->region_count, in->logical_block_size);
    tool_ok("layout needs %" PRIu64 " bytes, the %s has %" PRIu64, need,
            lr.is_blockdev ? "device" : "file", in->device_bytes);
    if (in->device_bytes < need)
        tool_warning("the %s ends %" PRIu64 " bytes before the end of the padded log area "
                     "(the bitmap itself is complete)", lr.is_blockdev ? "device" : "file",
                     need - in->device_bytes);
    else if (!lr.is_blockdev && in->device_bytes > need)
        tool_warning("the file has %" PRIu64 " bytes past the end of the log (ignored)",
                     in->device_bytes - need);

    struct disk_scan_result res;
    int scanned = logread_scan(&lr, NULL, NULL, &res) == 0;
    if (!scanned) {
        errors++;
    } else {
        tool_ok("bitmap read: %" PRIu64 " bytes at byte %" PRIu64, res.area_bytes,
                in->bitmap_offset);
        if (res.stray_bits) {
            tool_error("%" PRIu64 " bits at or past region_count (%" PRIu64 ") are set in the "
                       "bitmap; they must be 0", res.stray_bits, in->region_count);
            errors++;
        }
    }
    logread_close(&lr);
    if (json)
        return json_verdict(lr.path, &lr, errors ? EXIT_FAIL : res.may_differ ? EXIT_DIFFERS : EXIT_OK,
                            errors, scanned ? &res : NULL);
    if (errors) {
        printf("%s: INVALID (%d problem%s)\n", lr.path, errors, errors == 1 ? "" : "s");
        return tool_finish_stdout(EXIT_FAIL);
    }
    if (res.may_differ) {
        printf("%s: valid; %" PRIu64 " of %" PRIu64 " regions may differ (dirty or out of sync) "
               "in %" PRIu64 " range%s\n", lr.path, res.may_differ, in->region_count, res.ranges,
               res.ranges == 1 ? "" : "s");
        return tool_finish_stdout(EXIT_DIFFERS);
    }
    printf("%s: valid; all %" PRIu64 " regions clean and in sync\n", lr.path, in->region_count);
    return tool_finish_stdout(EXIT_OK);
}
