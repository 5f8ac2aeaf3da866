/* dirtylog dump: the ranges of regions that may differ, as text or JSON.
 * One pass over the bitmap, one line per range (never one per region). */
#include <inttypes.h>
#include <stdio.h>

#include "tool.h"

static int text_range(uint64_t first, uint64_t last, void *arg)
{
    (void)arg;
    int n = first == last ? printf("%" PRIu64 "\n", first)
                          : printf("%" PRIu64 "-%" PRIu64 "\n", first, last);
    return n < 0; /* stop on an output error */
}

static int json_range(uint64_t first, uint64_t last, void *arg)
{
    int *count = arg;
    return printf("%s[%" PRIu64 ",%" PRIu64 "]", (*count)++ ? "," : "", first, last) < 0;
}

int cmd_dump(int argc, char **argv)
{
    static const struct opt_spec specs[] = {{"json", 0}};
    struct parsed_args pa;
    int status, r;
    if (parse_command("dump", argc, argv, specs, 1, 1, "missing the log path", &pa, &status))
        return status;
    struct logread lr;
    if (logread_open(&lr, pa.operands[0]) != 0)
        return EXIT_FAIL;
    struct disk_scan_result res;
    if (!pa.values[0]) {
        r = logread_scan(&lr, text_range, NULL, &res);
    } else {
        /* The header first, ranges streamed, counts (known at the end) last. */
        json_log_header(&lr, lr.info.region_size);
        printf(",\"ranges\":[");
        int count = 0;
        r = logread_scan(&lr, json_range, &count, &res);
        if (r == 0)
            printf("],\"may_differ\":%" PRIu64 ",\"range_count\":%" PRIu64 "}\n", res.may_differ,
                   res.ranges);
        else
            printf("]}\n"); /* keep the output well-formed; the error is on stderr */
    }
    if (r == 0 && res.stray_bits)
        tool_warning("%s: %" PRIu64 " bits past region_count are set (should be 0); run "
                     "'dirtylog check'", lr.path, res.stray_bits);
    logread_close(&lr);
    return tool_finish_stdout(r ? EXIT_FAIL : EXIT_OK);
}
