/* dirtylog convert: the same regions in the other format. The output is
 * made by the library's disk type (nosync, then every region that may
 * differ in the input is marked and set out of sync, then flushed), checked
 * by reading it back, and only then published. The input is opened
 * read-only. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tool.h"

/* A fingerprint of a dirty set: count, runs and an FNV-1a hash of them. */
struct fingerprint {
    uint64_t hash;
    dl_log *mark_into; /* if set, mark every region of each run here */
    int err;
};

static int visit(uint64_t first, uint64_t last, void *arg)
{
    struct fingerprint *fp = arg;
    uint64_t v[2] = {first, last};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 8; b++)
            fp->hash = (fp->hash ^ ((v[i] >> (8 * b)) & 0xff)) * 0x100000001b3ull;
    for (uint64_t r = first; fp->mark_into && r <= last; r++) {
        int e = dl_log_mark_region(fp->mark_into, r);
        if (e == 0)
            e = dl_log_set_region_sync(fp->mark_into, r, 0);
        if (e < 0) {
            fp->err = e;
            return 1;
        }
        if (r == UINT64_MAX)
            break;
    }
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    static const struct opt_spec specs[] = {{"to", 1}, {"force", 0}, {"region-size", 1}};
    struct parsed_args pa;
    int status, r;
    if (parse_command("convert", argc, argv, specs, 3, 2, "missing arguments: need <in> <out>", &pa, &status))
        return status;
    const char *to = pa.values[0];
    if (!to)
        return tool_usage_error("missing --to native|dm");
    if (strcmp(to, "native") != 0 && strcmp(to, "dm") != 0)
        return tool_usage_error("unknown format '%s' for --to (expected native or dm)", to);
    const char *inpath = pa.operands[0], *outpath = pa.operands[1];

    struct logread lr;
    if (logread_open(&lr, inpath) != 0)
        return EXIT_FAIL;
    uint32_t rs;
    if ((r = region_size_option(pa.values[2], &lr, &rs)) != 0)
        goto out;
    r = EXIT_FAIL;
    if (rs == 0) {
        tool_error("%s is a dm log, which does not store its region size: give --region-size "
                   "<sectors>", inpath);
        goto out;
    }
    uint64_t count = lr.info.region_count, target = count * rs;
    if (target / rs != count) {
        tool_error("%" PRIu64 " regions of %" PRIu32 " sectors overflow 64 bits", count, rs);
        goto out;
    }
    struct stat sin, sout;
    if (stat(outpath, &sout) == 0 && stat(inpath, &sin) == 0 && sin.st_dev == sout.st_dev &&
        sin.st_ino == sout.st_ino) {
        tool_error("%s and %s are the same file; convert never modifies its input", inpath,
                   outpath);
        goto out;
    }
    struct disk_scan_result in_res, out_res;
    struct fingerprint in_fp = {0xcbf29ce484222325ull, NULL, 0};
    struct newlog nl;
    if (newlog_open(&nl, outpath, pa.values[1] != NULL, target, rs, to, "nosync", 0) != 0)
        goto out;
    in_fp.mark_into = nl.log;
    if (logread_scan(&lr, visit, &in_fp, &in_res) != 0 || in_fp.err) {
        if (in_fp.err)
            tool_error("cannot mark the output log: %s", dl_last_error());
        newlog_abort(&nl);
        goto out;
    }
    if (dl_log_flush(nl.log) < 0) {
        tool_error("cannot write %s: %s", outpath, dl_last_error());
        newlog_abort(&nl);
        goto out;
    }
    /* Read the written log back before publishing it. */
    struct logread check;
    struct fingerprint out_fp = {0xcbf29ce484222325ull, NULL, 0};
    if (logread_open(&check, nl.tmp ? nl.tmp : nl.final) != 0) {
        newlog_abort(&nl);
        goto out;
    }
    int same = logread_scan(&check, visit, &out_fp, &out_res) == 0 &&
               check.info.region_count == count && out_res.may_differ == in_res.may_differ &&
               out_res.ranges == in_res.ranges && out_fp.hash == in_fp.hash;
    logread_close(&check);
    if (!same) {
        tool_error("the written log does not read back with the same regions; nothing published");
        newlog_abort(&nl);
        goto out;
    }
    if (newlog_commit(&nl) != 0)
        goto out;
    printf("converted %s (%s) to %s (%s): %" PRIu64 " regions of %" PRIu32 " sectors, %" PRIu64
           " may differ in %" PRIu64 " range%s (verified)\n",
           inpath, format_name(lr.info.format), outpath, to, count, rs, in_res.may_differ,
           in_res.ranges, in_res.ranges == 1 ? "" : "s");
    if (strcmp(to, "dm") == 0)
        printf("note: the dm format does not store the region size (%" PRIu32 " sectors); give "
               "it again when you use or convert %s\n", rs, outpath);
    r = tool_finish_stdout(EXIT_OK);
out:
    logread_close(&lr);
    return r;
}
