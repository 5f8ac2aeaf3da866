/* Writing a new log for create and convert. The disk type of the library
 * formats it (nothing is encoded here); a regular file is built under a
 * temporary name in the same directory and published with link() (no
 * replacement) or rename() (--force), so a crash or an error never leaves a
 * half-made log at the requested path. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/claim.h"
#include "tool.h"

#define HEADER_AREA_BYTES 8192u /* both native slots; covers the dm header too */

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* What path holds, for a refusal: "a native dirtylog log", "data (N bytes)". */
static void describe(const char *path, uint64_t bytes, char *out, size_t len)
{
    struct dl_io *io;
    struct disk_header_info info;
    char err[256];
    if (dl_io_open_posix(path, 1, 0, &io) == 0) {
        int r = dl__disk_read_header(io, DISK_FORMAT_AUTO, &info, err, sizeof err);
        io->close(io);
        if (r == 0) {
            snprintf(out, len, "a %s log of %" PRIu64 " regions",
                     info.format == DISK_FORMAT_NATIVE ? "native dirtylog" : "dm",
                     info.region_count);
            return;
        }
    }
    if (bytes)
        snprintf(out, len, "%" PRIu64 " bytes of data that are not a log", bytes);
    else
        snprintf(out, len, "data that are not a log");
}

/* Zero the header area of a block device so the library formats it. The
 * device is claimed (O_EXCL) while we write. */
static int blank_blockdev(const char *path)
{
    int fd = dl__open_claimed(path, O_RDWR, 0, "log");
    if (fd < 0) {
        tool_error("cannot open %s for writing: %s", path, dl_last_error());
        return EXIT_FAIL;
    }
    static const uint8_t zero[HEADER_AREA_BYTES];
    int ok = pwrite(fd, zero, sizeof zero, 0) == (ssize_t)sizeof zero && fdatasync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        tool_error("cannot clear the header of %s: %s", path, strerror(e));
        return EXIT_FAIL;
    }
    return 0;
}

static int blockdev_is_blank(const char *path, int *blank)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t buf[HEADER_AREA_BYTES];
    ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof buf, 0);
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        tool_error("cannot read %s: %s", path, strerror(e));
        return EXIT_FAIL;
    }
    *blank = all_zero(buf, (size_t)n);
    return 0;
}

int newlog_open(struct newlog *nl, const char *path, int force, uint64_t target_sectors,
                uint32_t region_size, const char *format, const char *sync, uint64_t max_bitmap)
{
    memset(nl, 0, sizeof *nl);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists && errno != ENOENT) {
        tool_error("cannot use %s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    if (!exists) {
        char *copy = strdup(path);
        struct stat dst;
        int e = !copy ? ENOMEM : stat(dirname(copy), &dst) != 0 ? errno
                                 : S_ISDIR(dst.st_mode)            ? 0
                                                                   : ENOTDIR;
        if (e)
            tool_error("cannot create %s: directory %s: %s", path, copy ? copy : "", strerror(e));
        free(copy);
        if (e)
            return EXIT_FAIL;
    }
    /* A live log (a writer owns it) is never replaced or overwritten: its
     * owner would go on writing its marks to the old file or over ours. */
    if (exists && !S_ISDIR(st.st_mode) && dl__claim_probe(path) == 1) {
        tool_error("log %s is in use by another process; nothing was written", path);
        return EXIT_FAIL;
    }
    mode_t keep_mode = 0;
    if (exists && S_ISDIR(st.st_mode)) {
        tool_error("%s is a directory", path);
        return EXIT_FAIL;
    } else if (exists && S_ISREG(st.st_mode)) {
        if (st.st_size > 0 && !force) {
            char what[128];
            describe(path, (uint64_t)st.st_size, what, sizeof what);
            tool_error("%s already exists and holds %s; use --force to overwrite it", path, what);
            return EXIT_FAIL;
        }
        nl->replace = 1;
        keep_mode = st.st_mode & 07777;
        /* Replace the file a symbolic link points to, not the link. */
        nl->final = realpath(path, NULL);
    } else if (exists && S_ISBLK(st.st_mode)) {
        int blank;
        if (blockdev_is_blank(path, &blank) != 0)
            return EXIT_FAIL;
        if (!blank && !force) {
            char what[128];
            describe(path, 0, what, sizeof what);
            tool_error("block device %s is not blank (it holds %s); use --force to overwrite it",
                       path, what);
            return EXIT_FAIL;
        }
        if (!blank && blank_blockdev(path) != 0)
            return EXIT_FAIL;
    } else if (exists) {
        tool_error("%s is neither a regular file nor a block device", path);
        return EXIT_FAIL;
    }
    if (!nl->final)
        nl->final = strdup(path);
    if (!nl->final) {
        tool_error("out of memory");
        return EXIT_FAIL;
    }
    const char *where = nl->final;
    if (!exists || S_ISREG(st.st_mode)) {
        size_t n = strlen(nl->final) + 48;
        if (!(nl->tmp = malloc(n))) {
            tool_error("out of memory");
            newlog_abort(nl);
            return EXIT_FAIL;
        }
        snprintf(nl->tmp, n, "%s.dirtylog-tmp-%ld", nl->final, (long)getpid());
        struct stat tst;
        if (lstat(nl->tmp, &tst) == 0) {
            tool_error("temporary file %s already exists; remove it and retry", nl->tmp);
            free(nl->tmp);
            nl->tmp = NULL; /* not ours: never remove it */
            newlog_abort(nl);
            return EXIT_FAIL;
        }
        where = nl->tmp;
    }
    char rs[16];
    snprintf(rs, sizeof rs, "%" PRIu32, region_size);
    char fmt[32];
    snprintf(fmt, sizeof fmt, "format=%s", format);
    char cap[40];
    snprintf(cap, sizeof cap, "max_bitmap=%" PRIu64, max_bitmap);
    const char *argv[5] = {where, rs, fmt};
    unsigned argc = 3;
    if (sync)
        argv[argc++] = sync;
    if (max_bitmap)
        argv[argc++] = cap;
    int r = dl_log_create("disk", target_sectors, argc, argv, &nl->log);
    if (r < 0) {
        const char *why = dl_last_error();
        tool_error("cannot create %s: %s", path, *why ? why : strerror(-r));
        newlog_abort(nl);
        return EXIT_FAIL;
    }
    if (keep_mode && chmod(where, keep_mode) != 0)
        tool_warning("cannot keep the mode of %s: %s", path, strerror(errno));
    if ((r = dl_log_resume(nl->log)) < 0) {
        tool_error("cannot load the new log %s: %s", where, dl_last_error());
        newlog_abort(nl);
        return EXIT_FAIL;
    }
    return 0;
}

static void sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_CLOEXEC);
    free(copy);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int newlog_commit(struct newlog *nl)
{
    int r = dl_log_flush(nl->log);
    if (r < 0) {
        tool_error("cannot write %s: %s", nl->tmp ? nl->tmp : nl->final, dl_last_error());
        newlog_abort(nl);
        return EXIT_FAIL;
    }
    dl_log_destroy(nl->log);
    nl->log = NULL;
    if (nl->tmp) {
        if (nl->replace ? rename(nl->tmp, nl->final) != 0 : link(nl->tmp, nl->final) != 0) {
            int e = errno;
            if (e == EEXIST)
                tool_error("%s appeared while the log was being made; nothing was written to it "
                           "(use --force to overwrite)", nl->final);
            else
                tool_error("cannot publish the new log as %s: %s", nl->final, strerror(e));
            newlog_abort(nl);
            return EXIT_FAIL;
        }
        if (!nl->replace)
            unlink(nl->tmp);
        sync_dir_of(nl->final);
        free(nl->tmp);
        nl->tmp = NULL;
    }
    free(nl->final);
    nl->final = NULL;
    return 0;
}

void newlog_abort(struct newlog *nl)
{
    dl_log_destroy(nl->log);
    nl->log = NULL;
    if (nl->tmp)
        unlink(nl->tmp);
    free(nl->tmp);
    free(nl->final);
    nl->tmp = nl->final = NULL;
}
