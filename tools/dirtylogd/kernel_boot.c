/* Kernel sessions live as long as the boot that made them (see kernel.h).
 * The kernel names a session by a pointer (luid) that means nothing after a
 * reboot: a session of a previous boot never reattaches, and left pending it
 * would hold every clear of its log for ever (the grace after a restart,
 * docs/protocol.md "Restarts"). So before hosting anything the kernel front
 * end compares the boot the state directory was last served in (file
 * "kernel-boot-id") with the running one and, if they differ, forgets the
 * kernel's logs (their state files: only kernel sessions are in them). The
 * marks stay dirty on the log devices, where the new boot's table finds
 * them (and its constructor may differ from the old one's). Within one boot
 * nothing is forgotten: the kernel replays CTR + RESUME and takes its
 * sessions back. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "kernel.h"
#include "state.h"

#define BOOT_FILE "kernel-boot-id"
#define BOOT_TMP "kernel-boot-id.tmp"

int dld_kernel_boot_id(char id[DLD_BOOT_ID_MAX])
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, id, DLD_BOOT_ID_MAX - 1);
    int e = errno;
    close(fd);
    if (n <= 0)
        return n < 0 ? -e : -EIO;
    id[n] = '\0';
    id[strcspn(id, "\n")] = '\0';
    return id[0] ? 0 : -EIO;
}

static void read_stored(int dirfd, char stored[DLD_BOOT_ID_MAX])
{
    stored[0] = '\0';
    int fd = openat(dirfd, BOOT_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, stored, DLD_BOOT_ID_MAX - 1);
    close(fd);
    stored[n > 0 ? n : 0] = '\0';
    stored[strcspn(stored, "\n")] = '\0';
}

/* Write the boot id atomically (temp file, fsync, rename, fsync the dir). */
static int store(int dirfd, const char *id)
{
    int fd = openat(dirfd, BOOT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t n = strlen(id);
    int r = write(fd, id, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0
                ? 0 : -(errno ? errno : EIO);
    close(fd);
    if (r == 0 && renameat(dirfd, BOOT_TMP, dirfd, BOOT_FILE) < 0)
        r = -errno;
    if (r == 0 && fsync(dirfd) < 0)
        r = -errno;
    if (r < 0)
        unlinkat(dirfd, BOOT_TMP, 0);
    return r;
}

struct forget {
    int dirfd, removed;
    void (*logf)(int level, const char *fmt, ...);
};

static void forget_one(void *arg, const char *uuid, const struct dld_state *st, int error,
                       const char *err)
{
    struct forget *f = arg;
    (void)err; /* an unreadable file stays: the daemon refuses its log, as always */
    if (error < 0 || st->owner_uid != (uint32_t)DLD_KERNEL_UID)
        return;
    char e[256];
    if (dld_state_remove(f->dirfd, uuid, e, sizeof e) == 0)
        f->removed++;
    else if (f->logf)
        f->logf(LOG_ERR, "kernel: log %s: %s", uuid, e);
}

int dld_kernel_forget_old_boot(const char *state_dir, const char *boot_id,
                               void (*logf)(int level, const char *fmt, ...))
{
    int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* nothing persisted yet */
    char stored[DLD_BOOT_ID_MAX];
    read_stored(fd, stored);
    struct forget f = {.dirfd = fd, .removed = 0, .logf = logf};
    int r = strcmp(stored, boot_id) != 0 ? dld_state_scan(fd, forget_one, &f) : 0;
    close(fd);
    if (f.removed && logf)
        logf(LOG_NOTICE, "kernel: forgot %d log(s) of the kernel's previous boot (their "
             "sessions cannot come back; the regions stay dirty on the log devices)",
             f.removed);
    return r < 0 ? r : f.removed;
}

int dld_kernel_record_boot(struct dld_server *srv, const char *boot_id)
{
    if (srv->state_dirfd < 0)
        return 0;
    char stored[DLD_BOOT_ID_MAX];
    read_stored(srv->state_dirfd, stored);
    int r = strcmp(stored, boot_id) ? store(srv->state_dirfd, boot_id) : 0;
    if (r < 0 && srv->logf)
        srv->logf(LOG_ERR, "kernel: cannot record the boot id in the state directory: %s",
                  strerror(-r));
    return r;
}
