/* dirtylog create: a new log through the library's disk type. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

int cmd_create(int argc, char **argv)
{
    static const struct opt_spec specs[] = {
        {"format", 1}, {"sync", 0}, {"nosync", 0}, {"force", 0}, {"max-bitmap", 1},
    };
    struct parsed_args pa;
    int status;
    if (parse_command("create", argc, argv, specs, 5, 3, "missing arguments: need <path> <target_size> " "<region_size>", &pa, &status))
        return status;
    const char *format = pa.values[0] ? pa.values[0] : "native";
    if (strcmp(format, "native") != 0 && strcmp(format, "dm") != 0)
        return tool_usage_error("unknown format '%s' (expected native or dm)", format);
    if (pa.values[1] && pa.values[2])
        return tool_usage_error("--sync and --nosync exclude each other");
    const char *sync = pa.values[1] ? "sync" : pa.values[2] ? "nosync" : NULL;
    const char *path = pa.operands[0];
    char why[160];
    uint64_t target;
    if (parse_sectors(pa.operands[1], &target, why, sizeof why) != 0)
        return tool_usage_error("bad target size: %s", why);
    if (target == 0)
        return tool_usage_error("bad target size: '%s' is zero", pa.operands[1]);
    uint64_t rs;
    if (parse_sectors(pa.operands[2], &rs, why, sizeof why) != 0)
        return tool_usage_error("bad region size: %s", why);
    if (rs < 2 || rs > UINT32_MAX || (rs & (rs - 1)))
        return tool_usage_error("bad region size: '%s' is not a power of 2 between 2 and 2^31 "
                                "sectors", pa.operands[2]);
    if (rs > target)
        return tool_usage_error("bad region size: %" PRIu64 " sectors is larger than the target "
                                "(%" PRIu64 " sectors)", rs, target);
    if (path[0] == '\0')
        return tool_usage_error("the path is empty");
    uint64_t max_bitmap = 0;
    if (pa.values[4] && parse_bytes(pa.values[4], &max_bitmap, why, sizeof why) != 0)
        return tool_usage_error("bad --max-bitmap: %s", why);
    if (pa.values[4] && max_bitmap == 0)
        return tool_usage_error("bad --max-bitmap: '%s' is zero", pa.values[4]);

    struct newlog nl;
    if (newlog_open(&nl, path, pa.values[3] != NULL, target, (uint32_t)rs, format, sync,
                    max_bitmap) != 0)
        return EXIT_FAIL;
    uint64_t count = dl_log_get_region_count(nl.log), in_sync = 0;
    dl_log_get_sync_count(nl.log, &in_sync);
    if (newlog_commit(&nl) != 0)
        return EXIT_FAIL;
    char sz[32];
    human_bytes(rs * DL_SECTOR_SIZE, sz, sizeof sz);
    printf("created %s: %s format, %" PRIu64 " regions of %" PRIu64 " sectors (%s), %s\n", path,
           format, count, rs, sz,
           in_sync == count ? "all in sync (--nosync)"
                            : "all out of sync (a new log must resync; --nosync declares it "
                              "in sync)");
    return tool_finish_stdout(EXIT_OK);
}
