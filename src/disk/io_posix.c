/* dl_io on POSIX descriptors: pread/pwrite/fdatasync, sizes by fstat or, for
 * block devices, the BLKGETSIZE64/BLKSSZGET ioctls. */
#define _GNU_SOURCE
#include "disk/io_posix.h"
#include "disk/claim.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
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

int dl__io_posix_create(const char *path, int (*init)(struct dl_io *io, void *arg), void *arg,
                        struct dl_io **out)
{
    static _Atomic unsigned counter;
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, n, "%s.new-%ld-%u", path, (long)getpid(), counter++);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        dl__set_error("cannot create log file %s: %s", tmp, strerror(e));
        free(tmp);
        return -e;
    }
    /* Claimed before it has its name, so nobody can open it in between. */
    struct dl_io *io = NULL;
    int r = dl__claim_fd(fd, "log", tmp);
    if (r == 0)
        r = dl__io_posix_from_fd(fd, 0, &io);
    if (r < 0) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return r;
    }
    r = init(io, arg);
    if (r == 0 && link(tmp, path) != 0) {
        r = -errno;
        if (r != -EEXIST)
            dl__set_error("cannot create log file %s: %s", path, strerror(-r));
    }
    unlink(tmp);
    free(tmp);
    if (r == 0)
        r = sync_parent(path);
    if (r < 0) {
        io->close(io);
        return r;
    }
    *out = io;
    return 0;
}
