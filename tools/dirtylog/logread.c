/* Opening a log read-only and detecting its format, with messages that name
 * the problem. Every read goes through a dl_io opened O_RDONLY: nothing in
 * this file can write. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "le_bytes.h"
#include "tool.h"

const char *format_name(int format)
{
    return format == DISK_FORMAT_NATIVE ? "native" : format == DISK_FORMAT_DM ? "dm" : "unknown";
}

void uuid_text(const uint8_t u[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[u[i] >> 4];
        *p++ = hex[u[i] & 15];
    }
    *p = '\0';
}

/* Which format's magic is where it belongs: native at slot 0 or 1, dm at 0. */
static int magic_says(struct dl_io *io)
{
    uint8_t b[4];
    if (dl__disk_read_full(io, b, 4, 0) == 4 && get_le32(b) == DLM_MAGIC)
        return DISK_FORMAT_DM;
    for (int slot = 0; slot < 2; slot++)
        if (dl__disk_read_full(io, b, 4, (uint64_t)slot * DLN_SLOT_BYTES) == 4 &&
            get_le32(b) == DLN_MAGIC)
            return DISK_FORMAT_NATIVE;
    return DISK_FORMAT_AUTO;
}

int logread_open(struct logread *lr, const char *path)
{
    memset(lr, 0, sizeof *lr);
    lr->path = path;
    struct stat st;
    if (stat(path, &st) != 0) {
        tool_error("cannot open %s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    if (S_ISDIR(st.st_mode)) {
        tool_error("%s is a directory, not a log", path);
        return EXIT_FAIL;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        tool_error("%s is neither a regular file nor a block device", path);
        return EXIT_FAIL;
    }
    lr->is_blockdev = S_ISBLK(st.st_mode);
    int r = dl_io_open_posix(path, 1 /* read-only: O_RDONLY */, 0, &lr->io);
    if (r < 0) {
        tool_error("%s", dl_last_error());
        return EXIT_FAIL;
    }
    char err[256] = "";
    r = dl__disk_read_header(lr->io, DISK_FORMAT_AUTO, &lr->info, err, sizeof err);
    if (r == 0)
        return 0;
    if (r == 1) {
        tool_error("%s is not a log: its header is all zero (unformatted; 'dirtylog create' "
                   "formats it)", path);
    } else if (r != -EINVAL) {
        tool_error("%s: %s", path, err);
    } else {
        /* Say which format it looked like, or that it looks like neither. */
        int f = magic_says(lr->io);
        if (f != DISK_FORMAT_AUTO &&
            dl__disk_read_header(lr->io, f, &lr->info, err, sizeof err) < 0)
            tool_error("%s: corrupt %s log: %s", path, format_name(f), err);
        else if (strstr(err, "empty"))
            tool_error("%s: %s", path, err);
        else
            tool_error("%s is not a dirtylog log: no native superblock (magic \"DLOG\" at byte 0 "
                       "or 4096) and no dm log header (magic \"MiRr\" at byte 0)", path);
    }
    logread_close(lr);
    return EXIT_FAIL;
}

void logread_close(struct logread *lr)
{
    if (lr->io && lr->io->close)
        lr->io->close(lr->io);
    lr->io = NULL;
}

int logread_scan(struct logread *lr, disk_range_fn fn, void *arg, struct disk_scan_result *res)
{
    char err[256] = "";
    int r = dl__disk_scan_bitmap(lr->io, &lr->info, fn, arg, res, err, sizeof err);
    if (r < 0) {
        tool_error("%s: %s", lr->path, err);
        return EXIT_FAIL;
    }
    return r ? EXIT_FAIL : 0;
}
