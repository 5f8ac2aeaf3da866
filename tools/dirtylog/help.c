/* The manual of dirtylog(1), printed by `dirtylog --help`; the same text,
 * with more background, is man/dirtylog.1.scd and docs/dirtylog-tool.md. */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const struct {
    const char *name, *synopsis, *text;
} sections[] = {
    {"create",
     "dirtylog create [--format native|dm] [--sync|--nosync] [--force] [--max-bitmap <bytes>] "
     "<path> <target_size> <region_size>",
     "    Make a new log for a target of <target_size> cut into regions of\n"
     "    <region_size>. Sizes are sectors (512 bytes) unless they carry a unit:\n"
     "    s (sectors) or K, M, G, T, P (KiB ... PiB); the region size must be a\n"
     "    power of two of at least 2 sectors. The log is formatted by the\n"
     "    library's disk type, built under a temporary name next to <path> and\n"
     "    then published, so no half-made log is ever left at <path>. Its room is\n"
     "    allocated first (a full disk fails at once) and an all-zero bitmap is\n"
     "    not written. A bitmap larger than 1 GiB (2^33 regions) is refused.\n"
     "      --format F   native (default: checksummed, two superblock copies) or dm\n"
     "                   (byte-compatible with the Linux dm disk log, version 2)\n"
     "      --sync       every region out of sync (the default for a new log:\n"
     "                   the copies must be resynchronised)\n"
     "      --nosync     every region clean and in sync (the copies are known equal)\n"
     "      --force      overwrite an existing non-empty file or a block device\n"
     "                   holding a log or data (an empty file needs no --force)\n"
     "      --max-bitmap B  the largest bitmap allowed, in bytes (units K, M, G,\n"
     "                   T, P accepted; default 1G); more is refused\n"},
    {"inspect", "dirtylog inspect [--json] [--region-size <size>] <path>",
     "    Print the header (format, version, magic, uuid, generation, feature\n"
     "    flags), the region size and count, the target size covered, and how many\n"
     "    regions are dirty / out of sync, with a percentage (like mdadm -X). Both\n"
     "    formats store ONE bit per region meaning \"may differ\" (dirty or out of\n"
     "    sync), so the two counts are equal. The dm format does not store the\n"
     "    region size: --region-size supplies it for the sizes shown. --json\n"
     "    prints the same as one JSON object (the header fields of dump --json,\n"
     "    then the sizes and counts).\n"},
    {"dump", "dirtylog dump [--json] <path>",
     "    Print the regions that may differ as ranges, one per line (\"0-5\",\n"
     "    \"17\"), in ascending order; nothing for a clean log. --json prints one\n"
     "    object: the header fields, \"ranges\": [[first,last], ...], \"may_differ\"\n"
     "    and \"range_count\". The bitmap is read in one pass; the output has one\n"
     "    line (or pair) per range, never one per region.\n"},
    {"check", "dirtylog check [--json] <path>",
     "    Validate the log: the header or both superblock copies (magic,\n"
     "    version, checksums, fields, agreement of the copies), the file or device\n"
     "    size against the layout, and that bits past region_count are 0.\n"
     "    Exit status 0: valid, every region clean and in sync; 1: valid, some\n"
     "    regions may differ (dirty or out of sync); 2: invalid, corrupt or\n"
     "    unreadable (or a usage error). Problems are printed on stderr. --json\n"
     "    prints one JSON object: the verdict, the exit status, the counts and\n"
     "    every finding (level ok, warning or error, and its message).\n"},
    {"convert",
     "dirtylog convert [--force] [--region-size <size>] <in> <out> --to native|dm",
     "    Write <out> in the format given by --to with the same region count and\n"
     "    the same regions that may differ (region size too: a dm input needs\n"
     "    --region-size, since the dm format does not store it). <out> is read\n"
     "    back and compared before it is published; an existing <out> is refused\n"
     "    without --force; <in> is opened read-only and never modified.\n"},
};

#define NSECTIONS (sizeof sections / sizeof sections[0])

const char *command_synopsis(const char *cmd)
{
    for (size_t i = 0; i < NSECTIONS; i++)
        if (strcmp(sections[i].name, cmd) == 0)
            return sections[i].synopsis;
    return "dirtylog <command> ...";
}

void print_command_help(const char *cmd)
{
    for (size_t i = 0; i < NSECTIONS; i++)
        if (strcmp(sections[i].name, cmd) == 0)
            printf("usage: %s\n\n%s", sections[i].synopsis, sections[i].text);
}

void print_manual(void)
{
    printf("NAME\n"
           "    dirtylog - create, inspect, dump, check and convert disk dirty logs\n\n"
           "SYNOPSIS\n");
    for (size_t i = 0; i < NSECTIONS; i++)
        printf("    %s\n", sections[i].synopsis);
    printf("    dirtylog help <command> | --help | --version\n\n"
           "DESCRIPTION\n"
           "    dirtylog works on the logs of the \"disk\" log type of libdirtylog\n"
           "    (dirtylog(3)), on a regular file or a block device, in either on-disk\n"
           "    format: native, or dm (the Linux dm-mirror disk log, version 2).\n"
           "    inspect, dump and check detect the format, open the log read-only and\n"
           "    never write; create and convert write only their output.\n"
           "    Options may come before or after the operands; -- ends the options.\n"
           "    JSON output is valid JSON whatever the bytes of a path: bytes that are\n"
           "    not UTF-8 are written as \\u00XX of the byte.\n\n"
           "COMMANDS\n");
    for (size_t i = 0; i < NSECTIONS; i++)
        printf("  %s\n%s\n", sections[i].synopsis, sections[i].text);
    printf("EXIT STATUS\n"
           "    0  success (check: valid, all regions clean and in sync)\n"
           "    1  check only: valid, but some regions may differ\n"
           "    2  usage error, or the log is missing, invalid, corrupt or unreadable,\n"
           "       or the output could not be written\n\n"
           "EXAMPLES\n"
           "    dirtylog create --nosync /var/lib/engine/log 1T 128\n"
           "    dirtylog inspect /var/lib/engine/log\n"
           "    dirtylog dump --json /var/lib/engine/log\n"
           "    dirtylog check /dev/vg/mirror_mlog; echo $?\n"
           "    dirtylog convert --region-size 1024 /dev/vg/mirror_mlog copy.log --to native\n\n"
           "SEE ALSO\n"
           "    man dirtylog (this manual), dirtylog(3), dirtylogd(8), dlmirror(1),\n"
           "    mdadm(8) -X, dmsetup(8)\n");
}
