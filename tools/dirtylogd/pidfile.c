/* dirtylogd --pidfile (see pidfile.h). The lock is the truth: a pid in a
 * file nobody holds is stale (its daemon died; pids are reused), so it is
 * overwritten, never trusted. */
#define _GNU_SOURCE /* F_OFD_SETLK (POSIX.1-2024) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

/* A write lock of the open file description (not of the process): it is
 * inherited by the child of daemon() and lasts while any descriptor of it
 * is open. 0, or -1 with errno (EAGAIN, EACCES or EWOULDBLOCK: held). */
static int lock_file(int fd)
{
#ifdef F_OFD_SETLK
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_OFD_SETLK, &fl);
#else
    return flock(fd, LOCK_EX | LOCK_NB);
#endif
}

/* 1 if fd is still the file at path (a daemon exiting unlinks the file it
 * held: a lock taken on that inode would claim nothing). */
static int still_linked(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static int claim_once(struct dld_pidfile *pf, const char *path, char *why, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(why, len, "cannot open pid file %s: %s", path, strerror(e));
        return -e;
    }
    if (lock_file(fd) < 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN || e == EWOULDBLOCK) {
            char buf[32] = "";
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            buf[n > 0 ? n : 0] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            snprintf(why, len, "pid file %s is held by a running dirtylogd (pid %s): refusing "
                     "to start a second one", path, *buf ? buf : "unknown");
            e = EEXIST;
        } else {
            snprintf(why, len, "cannot lock pid file %s: %s", path, strerror(e));
        }
        close(fd);
        return -e;
    }
    if (!still_linked(fd, path)) {
        close(fd);
        return -EAGAIN;
    }
    pf->fd = fd;
    return 0;
}

int dld_pidfile_claim(struct dld_pidfile *pf, const char *path, char *why, size_t len)
{
    pf->fd = -1;
    pf->path = path;
    int r = -EAGAIN;
    for (int i = 0; i < 100 && r == -EAGAIN; i++) /* each retry: a daemon just exited */
        r = claim_once(pf, path, why, len);
    if (r == -EAGAIN)
        snprintf(why, len, "pid file %s keeps being replaced", path);
    return r;
}

int dld_pidfile_write(struct dld_pidfile *pf)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(pf->fd, 0) < 0 || pwrite(pf->fd, buf, (size_t)n, 0) != n)
        return errno ? -errno : -EIO;
    return 0;
}

void dld_pidfile_release(struct dld_pidfile *pf)
{
    if (pf->fd < 0)
        return;
    unlink(pf->path); /* while still locked: no other daemon has claimed it */
    close(pf->fd);
    pf->fd = -1;
}
