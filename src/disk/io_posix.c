/* dl_io on POSIX descriptors: pread/pwrite/fdatasync, sizes by fstat or, for
 * block devices, the BLKGETSIZE64/BLKSSZGET ioctls. */
#define _GNU_SOURCE
#include "disk/io_posix.h"
#include "disk/claim.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/ioctl.h>
#include <sys/mount.h> /* BLKGETSIZE64, BLKSSZGET: glibc and musl alike */
/* ioctl's request is unsigned long in glibc, int in musl: convert explicitly
 * (the kernel reads only 32 bits of it). */
#ifdef __GLIBC__
#define IOCTL_REQUEST(r) ((unsigned long)(r))
#else
#define IOCTL_REQUEST(r) ((int)(r))
#endif
#endif

#include "log_internal.h"

struct posix_io {
    struct dl_io io;
    int fd;
    int read_only;
};

static struct posix_io *pio(struct dl_io *io) { return io->priv; }

static int64_t posix_pread(struct dl_io *io, void *buf, size_t len, uint64_t off)
{
    for (;;) {
        ssize_t n = pread(pio(io)->fd, buf, len, (off_t)off);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

static int64_t posix_pwrite(struct dl_io *io, const void *buf, size_t len, uint64_t off)
{
    if (pio(io)->read_only)
        return -EROFS;
    for (;;) {
        ssize_t n = pwrite(pio(io)->fd, buf, len, (off_t)off);
        if (n > 0)
            return n;
        if (n == 0)
            return -EIO;
        if (errno != EINTR)
            return -errno;
    }
}

static int posix_sync(struct dl_io *io)
{
    if (pio(io)->read_only)
        return 0;
    while (fdatasync(pio(io)->fd) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int posix_size(struct dl_io *io, uint64_t *bytes, uint32_t *lbs)
{
    struct stat st;
    if (fstat(pio(io)->fd, &st) != 0)
        return -errno;
    *lbs = 512;
    if (S_ISREG(st.st_mode)) {
        *bytes = (uint64_t)st.st_size;
        return 0;
    }
#ifdef __linux__
    if (S_ISBLK(st.st_mode)) {
        uint64_t sz;
        int ss;
        if (ioctl(pio(io)->fd, IOCTL_REQUEST(BLKGETSIZE64), &sz) != 0 ||
            ioctl(pio(io)->fd, IOCTL_REQUEST(BLKSSZGET), &ss) != 0)
            return -errno;
        *bytes = sz;
        *lbs = ss > 0 ? (uint32_t)ss : 512;
        return 0;
    }
#endif
    return -ENOTBLK;
}

/* Before changing a device's length or allocation: 1 for a writable
 * regular file, 0 for a block device, or -errno (-EROFS, -EFBIG). */
static int writable_regular(struct dl_io *io, uint64_t bytes)
{
    struct stat st;
    if (pio(io)->read_only)
        return -EROFS;
    if (fstat(pio(io)->fd, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return 0;
    return bytes > (uint64_t)INT64_MAX ? -EFBIG : 1;
}

static int posix_set_size(struct dl_io *io, uint64_t bytes)
{
    int r = writable_regular(io, bytes);
    if (r <= 0)
        return r < 0 ? r : -ENOTSUP; /* a block device's size is fixed */
    while (ftruncate(pio(io)->fd, (off_t)bytes) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int posix_reserve(struct dl_io *io, uint64_t bytes)
{
    int r = writable_regular(io, bytes);
    if (r <= 0)
        return r; /* 0: a block device has its blocks */
#ifdef FALLOC_FL_KEEP_SIZE
    while (fallocate(pio(io)->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes) != 0) {
        if (errno == EINTR)
            continue;
        /* A file system without fallocate: the writes allocate (and a
         * flush that meets a full disk fails the log, loudly). */
        return errno == EOPNOTSUPP || errno == ENOSYS ? -EOPNOTSUPP : -errno;
    }
    return 0;
#else
    return -EOPNOTSUPP;
#endif
}

static void posix_io_close(struct dl_io *io) /* posix_close is musl's */
{
    close(pio(io)->fd);
    free(pio(io));
}

int dl__io_posix_from_fd(int fd, int read_only, struct dl_io **out)
{
    struct posix_io *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->io.struct_size = sizeof(struct dl_io);
    p->io.pread = posix_pread;
    p->io.pwrite = posix_pwrite;
    p->io.sync = posix_sync;
    p->io.size = posix_size;
    p->io.close = posix_io_close;
    p->io.set_size = posix_set_size;
    p->io.reserve = posix_reserve;
    p->io.priv = p;
    p->fd = fd;
    p->read_only = read_only;
    *out = &p->io;
    return 0;
}

int dl_io_open_posix(const char *path, int read_only, int create, struct dl_io **out)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    int fd;
    if (read_only) {
        /* Inspection: no claim, so it works on a log a live engine holds. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            dl__set_error("cannot open log device %s: %s", path, strerror(e));
            return -e;
        }
        struct stat st;
        if (fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
            dl__set_error("log device %s is neither a regular file nor a block device", path);
            close(fd);
            return -EINVAL;
        }
    } else {
        /* A writer owns the device for as long as the io is open. */
        fd = dl__open_claimed(path, O_RDWR | (create ? O_CREAT : 0), 0644, "log");
        if (fd < 0)
            return fd; /* message set */
    }
    int r = dl__io_posix_from_fd(fd, read_only, out);
    if (r < 0)
        close(fd);
    return r;
}

/* fsync the directory holding path, so a new name is durable. */
static int sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return r;
}

/* A new file without a name in the directory of `path` (O_TMPFILE), so
 * that a creation killed halfway leaves nothing behind. -EOPNOTSUPP where
 * the system or the file system has none. */
static int open_anonymous(const char *path)
{
#ifdef O_TMPFILE
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    int e = errno;
    free(copy);
    if (fd >= 0)
        return fd;
    /* EISDIR: a kernel that predates O_TMPFILE sees O_DIRECTORY | O_RDWR. */
    return e == EOPNOTSUPP || e == EISDIR || e == EINVAL ? -EOPNOTSUPP : -e;
#else
    (void)path;
    return -EOPNOTSUPP;
#endif
}

/* Name the anonymous file fd `path`, never replacing a file: linkat through
 * /proc/self/fd, else AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH). */
static int link_anonymous(int fd, const char *path)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    int e = errno;
#ifdef AT_EMPTY_PATH
    if (e != EEXIST) {
        if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno == EEXIST)
            e = EEXIST;
    }
#endif
    return -e;
}

/* Claim the new file fd, format it with init, and give it the name path:
 * from tmp (a temporary name, then removed) or, if tmp is NULL, from no
 * name at all. 0 and *out; -EEXIST; -ENOLINK if an anonymous file could
 * not be named (the caller retries with a temporary name); -errno. The
 * descriptor is consumed either way. */
static int format_and_link(int fd, const char *path, const char *tmp,
                           int (*init)(struct dl_io *io, void *arg), void *arg, struct dl_io **out)
{
    /* Claimed before it has its name, so nobody can open it in between. */
    struct dl_io *io = NULL;
    int r = dl__claim_fd(fd, "log", tmp ? tmp : path);
    if (r == 0)
        r = dl__io_posix_from_fd(fd, 0, &io);
    if (r < 0) {
        close(fd);
        if (tmp)
            unlink(tmp);
        return r;
    }
    r = init(io, arg);
    if (r == 0) {
        r = tmp ? (link(tmp, path) == 0 ? 0 : -errno) : link_anonymous(fd, path);
        if (r < 0 && r != -EEXIST && !tmp)
            r = -ENOLINK;
        else if (r < 0 && r != -EEXIST)
            dl__set_error("cannot create log file %s: %s", path, strerror(-r));
    }
    if (tmp)
        unlink(tmp);
    if (r == 0)
        r = sync_parent(path);
    if (r < 0) {
        io->close(io);
        return r;
    }
    *out = io;
    return 0;
}

int dl__io_posix_create(const char *path, int (*init)(struct dl_io *io, void *arg), void *arg,
                        struct dl_io **out)
{
    int fd = open_anonymous(path);
    if (fd >= 0) {
        int r = format_and_link(fd, path, NULL, init, arg, out);
        if (r != -ENOLINK)
            return r;
    } else if (fd != -EOPNOTSUPP) {
        dl__set_error("cannot create log file %s: %s", path, strerror(-fd));
        return fd;
    }
    /* No anonymous files here: a temporary name, which a kill leaves. */
    static _Atomic unsigned counter;
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, n, "%s.new-%ld-%u", path, (long)getpid(), counter++);
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        dl__set_error("cannot create log file %s: %s", tmp, strerror(e));
        free(tmp);
        return -e;
    }
    int r = format_and_link(fd, path, tmp, init, arg, out);
    free(tmp);
    return r;
}
