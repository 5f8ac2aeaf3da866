/* Kernel sessions live as long as the boot that made them (see kernel.h).
 * The kernel names a session by a pointer (luid) that means nothing after a
 * reboot: a session of a previous boot never reattaches, and left pending it
 * would hold every clear of its log for ever (the grace after a restart,
 * docs/protocol.md "Restarts") and take a slot per reboot. So at start the
 * kernel front end compares the boot the state directory was last served in
 * (file "kernel-boot-id") with the running one and, if they differ,
 * releases the detached kernel sessions: their marks stay dirty in the log
 * (the new boot's mirror resyncs them), only the bookkeeping goes.
 * Within one boot nothing is released: the kernel replays CTR + RESUME and
 * takes its sessions back. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "kernel.h"

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

/* The uuids of the kernel's logs (a malloc'ed array of *n), or NULL. */
static char (*kernel_logs(struct dld_server *srv, size_t *n))[DLW_UUID_SIZE]
{
    char (*uuids)[DLW_UUID_SIZE] = NULL;
    size_t cap = 0;
    *n = 0;
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            if (L->owner_uid != (uint32_t)DLD_KERNEL_UID || L->refusal)
                continue;
            if (*n == cap) {
                size_t nc = cap ? 2 * cap : 8;
                void *nu = realloc(uuids, nc * sizeof *uuids);
                if (!nu)
                    goto out;
                uuids = nu;
                cap = nc;
            }
            memcpy(uuids[(*n)++], L->uuid, DLW_UUID_SIZE);
        }
out:
    pthread_mutex_unlock(&srv->lock);
    return uuids;
}

int dld_kernel_forget_old_boot(struct dld_server *srv, const char *boot_id)
{
    if (srv->state_dirfd < 0)
        return 0;
    char stored[DLD_BOOT_ID_MAX];
    read_stored(srv->state_dirfd, stored);
    int released = 0;
    if (strcmp(stored, boot_id) != 0) {
        size_t n = 0;
        char (*uuids)[DLW_UUID_SIZE] = kernel_logs(srv, &n);
        for (size_t i = 0; i < n; i++) {
            int r = dld_release(srv, 0, uuids[i], 1, 0);
            if (r > 0)
                released += r;
        }
        free(uuids);
        if (released && srv->logf)
            srv->logf(LOG_NOTICE, "kernel: released %d kernel session(s) of a previous boot "
                      "(their regions stay dirty until the new mirror clears them)", released);
    }
    int r = strcmp(stored, boot_id) ? store(srv->state_dirfd, boot_id) : 0;
    if (r < 0 && srv->logf)
        srv->logf(LOG_ERR, "kernel: cannot record the boot id in the state directory: %s",
                  strerror(-r));
    return r < 0 ? r : released;
}
