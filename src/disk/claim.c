/* Exclusive ownership of devices (see claim.h). */
#define _GNU_SOURCE /* F_OFD_SETLK, F_OFD_GETLK */
#include "disk/claim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_internal.h"

/* Offsets past 2 GiB: CMakeLists.txt defines _FILE_OFFSET_BITS=64 for all. */
_Static_assert(sizeof(off_t) == 8, "off_t must be 64 bits: build with -D_FILE_OFFSET_BITS=64");

static int busy(const char *what, const char *path)
{
    dl__set_error("%s %s is in use by another process", what, path);
    return -EBUSY;
}

static void whole_file_write_lock(struct flock *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->l_type = F_WRLCK;
    fl->l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file, however long */
    fl->l_pid = 0;           /* required for OFD locks */
}

int dl__claim_fd(int fd, const char *what, const char *path)
{
    struct flock fl;
    whole_file_write_lock(&fl);
    while (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EACCES)
            return busy(what, path);
        int e = errno;
        dl__set_error("cannot lock %s %s: %s", what, path, strerror(e));
        return -e;
    }
    return 0;
}

int dl__open_claimed(const char *path, int flags, mode_t mode, const char *what)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        dl__set_error("cannot open %s %s: %s", what, path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        dl__set_error("cannot stat %s %s: %s", what, path, strerror(e));
        return -e;
    }
    if (S_ISREG(st.st_mode)) {
        int r = dl__claim_fd(fd, what, path);
        if (r < 0) {
            close(fd);
            return r;
        }
        return fd;
    }
    close(fd);
    if (!S_ISBLK(st.st_mode)) {
        dl__set_error("%s %s is neither a regular file nor a block device", what, path);
        return -EINVAL;
    }
    /* Reopen exclusively; check it is still the device we looked at. */
    fd = open(path, (flags & ~O_CREAT) | O_EXCL | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EBUSY)
            return busy(what, path);
        dl__set_error("cannot open %s %s: %s", what, path, strerror(e));
        return -e;
    }
    struct stat st2;
    if (fstat(fd, &st2) != 0 || !S_ISBLK(st2.st_mode) || st2.st_rdev != st.st_rdev) {
        close(fd);
        dl__set_error("%s %s changed while it was being opened", what, path);
        return -EAGAIN;
    }
    return fd;
}

int dl__claim_probe(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r;
    if (fstat(fd, &st) != 0) {
        r = -errno;
    } else if (S_ISREG(st.st_mode)) {
        struct flock fl;
        whole_file_write_lock(&fl);
        r = fcntl(fd, F_OFD_GETLK, &fl) != 0 ? -errno : fl.l_type != F_UNLCK;
    } else if (S_ISBLK(st.st_mode)) {
        /* An O_EXCL open that succeeds claims nothing once closed again. */
        int x = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
        if (x >= 0) {
            close(x);
            r = 0;
        } else {
            r = errno == EBUSY ? 1 : -errno;
        }
    } else {
        r = -EINVAL;
    }
    close(fd);
    return r;
}
