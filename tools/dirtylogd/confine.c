/* Where dirtylogd may put logs (see confine.h). Paths are resolved beneath
 * the log directory's descriptor, never by name from `/`: openat2() with
 * RESOLVE_BENEATH (the kernel refuses `..` and symlinks that would leave the
 * directory, atomically), or, where the kernel lacks openat2, a walk one
 * component at a time with O_NOFOLLOW that follows no symlink at all. */
#define _GNU_SOURCE
#include "confine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "disk/claim.h"
#include "disk/io_posix.h"

/* A log file being created, before it has its name (see create_beneath). */
#define TMP_PREFIX ".dirtylogd-new-"

/* A new log file starts as one zero sector: the disk type formats a device
 * whose header is all zeros, but refuses an empty one ("not a log"). */
#define BLANK_BYTES 512

DL_PRINTF(4, 5)
static int failf(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- setup -------------------------------------------------------------- */

/* mkdir -p, new directories mode 0700. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -ENOMEM;
    int r = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            r = -errno;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return r;
}

static int add_device(struct dld_confine *cfg, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (path[0] != '/')
        return failf(err, errlen, -EINVAL, "--allow-device %s: not an absolute path", path);
    if (stat(path, &st) != 0) {
        int e = errno;
        return failf(err, errlen, -e, "--allow-device %s: %s", path, strerror(e));
    }
    if (!S_ISBLK(st.st_mode))
        return failf(err, errlen, -EINVAL, "--allow-device %s: not a block device", path);
    size_t i = cfg->nblock;
    char **names = realloc(cfg->block_allow, (i + 1) * sizeof *names);
    if (names)
        cfg->block_allow = names;
    uint64_t *rdevs = realloc(cfg->block_rdev, (i + 1) * sizeof *rdevs);
    if (rdevs)
        cfg->block_rdev = rdevs;
    if (!names || !rdevs || !(names[i] = strdup(path)))
        return failf(err, errlen, -ENOMEM, "out of memory");
    rdevs[i] = (uint64_t)st.st_rdev;
    cfg->nblock++;
    return 0;
}

/* Remove what a daemon killed while creating a log left at the top of the
 * log directory: files that never got their name. */
static void sweep_leftovers(int dir_fd)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
            fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            unlinkat(fd, e->d_name, 0);
    closedir(d);
}

int dld_confine_init(struct dld_confine *cfg, const char *log_dir, char *const *devices,
                     size_t ndevices, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_dir_fd = -1;
    if (!log_dir || !log_dir[0])
        return failf(err, errlen, -EINVAL, "the log directory is empty");
    int r = make_dirs(log_dir);
    if (r < 0)
        return failf(err, errlen, r, "cannot create log directory %s: %s", log_dir,
                     strerror(-r));
    cfg->log_dir_fd = open(log_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (cfg->log_dir_fd < 0 || fstat(cfg->log_dir_fd, &st) != 0) {
        int e = errno;
        r = failf(err, errlen, -e, "cannot open log directory %s: %s", log_dir, strerror(e));
    } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        /* Anyone else who can write there could plant links for the daemon. */
        r = failf(err, errlen, -EACCES,
                  "log directory %s is writable by group or others (mode %03o): it must be "
                  "the daemon's own",
                  log_dir, (unsigned)(st.st_mode & 07777));
    } else if (!(cfg->log_dir = strdup(log_dir)) ||
               !(cfg->log_dir_real = realpath(log_dir, NULL))) {
        r = failf(err, errlen, -ENOMEM, "cannot resolve log directory %s", log_dir);
    }
    for (size_t i = 0; r == 0 && i < ndevices; i++)
        r = add_device(cfg, devices[i], err, errlen);
    if (r < 0) {
        dld_confine_fini(cfg);
        return r;
    }
    size_t n = strlen(cfg->log_dir);
    while (n > 1 && cfg->log_dir[n - 1] == '/')
        cfg->log_dir[--n] = '\0';
    sweep_leftovers(cfg->log_dir_fd);
    return 0;
}

void dld_confine_fini(struct dld_confine *cfg)
{
    if (cfg->log_dir_fd >= 0)
        close(cfg->log_dir_fd);
    free(cfg->log_dir);
    free(cfg->log_dir_real);
    for (size_t i = 0; i < cfg->nblock; i++)
        free(cfg->block_allow[i]);
    free(cfg->block_allow);
    free(cfg->block_rdev);
    memset(cfg, 0, sizeof *cfg);
    cfg->log_dir_fd = -1;
}

/* The part of `path` after the directory `dir`, or NULL if path is not
 * beneath it (textually: "dir/..."). */
static const char *after_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0)
        return NULL;
    if (n > 0 && dir[n - 1] == '/') /* dir is "/" */
        return path + n;
    return path[n] == '/' ? path + n + 1 : NULL;
}

/* ---- resolving beneath the log directory ---------------------------------- */

static int has_dotdot(const char *rel)
{
    for (const char *s = rel; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 1;
        s += n;
        s += strspn(s, "/");
    }
    return 0;
}

static int is_symlink_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* The kernel's way: -errno as openat2 says it, -ENOSYS without openat2.
 * EAGAIN means a rename or mount raced the lookup: tried again, a few times. */
static int open_beneath_kernel(int root, const char *rel, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd;
    int tries = 0;
    do
        fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
    while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++tries < 8)));
    return fd < 0 ? -errno : (int)fd;
}

/* The portable way: one component at a time, no symlink followed (-EXDEV
 * for one, as openat2 says for one that leaves). `..` was refused before. */
static int open_beneath_walk(int root, const char *rel, int flags)
{
    char *copy = strdup(rel);
    if (!copy)
        return -ENOMEM;
    int cur = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int r = cur < 0 ? -errno : 0;
    char *save = NULL;
    char *name = strtok_r(copy, "/", &save);
    while (r == 0 && name) {
        char *next = strtok_r(NULL, "/", &save);
        if (strcmp(name, ".") == 0 && next) {
            name = next;
            continue;
        }
        int f = next ? O_PATH | O_DIRECTORY : flags;
        int fd = openat(cur, name, f | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            r = (e == ELOOP || e == ENOTDIR) && is_symlink_at(cur, name) ? -EXDEV : -e;
        }
        close(cur);
        cur = fd;
        name = next;
    }
    free(copy);
    return r < 0 ? r : cur;
}

/* Open `rel` beneath the log directory: a descriptor, or -errno with a
 * message naming `shown` (the path as the client gave it) and the rule. */
static int open_beneath(const struct dld_confine *cfg, const char *rel, int flags,
                        const char *shown, char *err, size_t errlen)
{
    int fd = cfg->walk_only ? -ENOSYS : open_beneath_kernel(cfg->log_dir_fd, rel, flags);
    int walked = fd == -ENOSYS;
    if (walked)
        fd = open_beneath_walk(cfg->log_dir_fd, rel, flags);
    if (fd >= 0)
        return fd;
    const char *dir = cfg->log_dir;
    switch (fd) {
    case -EXDEV:
        return failf(err, errlen, -EACCES,
                     walked ? "log device %s: symlinks are not followed beneath the log "
                              "directory %s (this kernel has no openat2)"
                            : "log device %s leads out of the log directory %s (through a "
                              "symlink): refused",
                     shown, dir);
    case -ELOOP:
        return failf(err, errlen, -EACCES,
                     "log device %s: a symlink loop or a /proc magic link beneath the log "
                     "directory %s is not followed",
                     shown, dir);
    case -EISDIR:
        return failf(err, errlen, -EINVAL, "log device %s is a directory", shown);
    case -ENXIO: /* a socket */
        return failf(err, errlen, -EINVAL, "log device %s is not a regular file", shown);
    default:
        return failf(err, errlen, fd, "cannot open log device %s beneath the log directory %s: %s",
                     shown, dir, strerror(-fd));
    }
}

/* ---- making the log ----------------------------------------------------- */

/* The disk log on an open, claimed device; the descriptor is consumed. */
static int disk_log_on_fd(int fd, uint64_t target, unsigned argc, char **argv, dl_log **log,
                          char *err, size_t errlen)
{
    struct dl_io *io = NULL;
    if (dl__io_posix_from_fd(fd, 0, &io) < 0) {
        close(fd);
        return failf(err, errlen, -ENOMEM, "out of memory");
    }
    int r = dl_log_create_disk_io(target, argc, (const char *const *)argv, io, log);
    if (r < 0) {
        failf(err, errlen, r, "%s", dl_last_error());
        io->close(io); /* still ours after a failure */
    }
    return r;
}

/* A regular file this daemon may use as a log: claimed for this log. The
 * descriptor is consumed on failure. */
static int claim_regular(int fd, const char *shown, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return failf(err, errlen, -EINVAL,
                     "log device %s is not a regular file (block devices must be allowed "
                     "by --allow-device)",
                     shown);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    int r = dl__claim_fd(fd, "log", shown);
    if (r < 0) {
        close(fd);
        return failf(err, errlen, r, "%s", dl_last_error());
    }
    return 0;
}

/* A new log file `rel`: formatted under a temporary name in its directory,
 * then linked to its name (never replacing one), so a failed or interrupted
 * creation leaves no file under the log's name. -EEXIST (no message) if the
 * name appeared meanwhile. */
static int create_beneath(const struct dld_confine *cfg, const char *rel, uint64_t target,
                          unsigned argc, char **argv, dl_log **log, char *err, size_t errlen)
{
    static _Atomic unsigned counter;
    const char *shown = argv[0];
    const char *slash = strrchr(rel, '/');
    const char *name = slash ? slash + 1 : rel;
    if (!*name || strcmp(name, ".") == 0)
        return failf(err, errlen, -EINVAL, "log device %s names a directory", shown);
    char *parent = slash ? strndup(rel, (size_t)(slash - rel) + 1) : strdup(".");
    if (!parent)
        return failf(err, errlen, -ENOMEM, "out of memory");
    int dir = open_beneath(cfg, parent, O_PATH | O_DIRECTORY, shown, err, errlen);
    free(parent);
    if (dir < 0)
        return dir;

    char tmp[64];
    snprintf(tmp, sizeof tmp, TMP_PREFIX "%ld-%u", (long)getpid(), counter++);
    int r = 0;
    int fd = openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        close(dir);
        return failf(err, errlen, -e, "cannot create log device %s: %s", shown, strerror(e));
    }
    if (ftruncate(fd, BLANK_BYTES) != 0) {
        int e = errno;
        r = failf(err, errlen, -e, "cannot create log device %s: %s", shown, strerror(e));
        close(fd);
    }
    if (r == 0)
        r = claim_regular(fd, shown, err, errlen);
    if (r == 0)
        r = disk_log_on_fd(fd, target, argc, argv, log, err, errlen);
    if (r == 0 && linkat(dir, tmp, dir, name, 0) != 0) {
        int e = errno;
        r = e == EEXIST ? -EEXIST
                        : failf(err, errlen, -e, "cannot create log device %s: %s", shown,
                                strerror(e));
    }
    unlinkat(dir, tmp, 0);
    if (r == 0) {
        /* The new name must be durable before a client relies on the log. */
        int d = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0 || fsync(d) != 0) {
            int e = errno;
            r = failf(err, errlen, -e, "cannot sync the directory of log device %s: %s", shown,
                      strerror(e));
            unlinkat(dir, name, 0);
        }
        if (d >= 0)
            close(d);
    }
    if (r < 0 && *log) {
        dl_log_destroy(*log);
        *log = NULL;
    }
    close(dir);
    return r;
}

/* A file log beneath the log directory: open it, or create it. */
static int file_log(const struct dld_confine *cfg, const char *rel, uint64_t target,
                    unsigned argc, char **argv, dl_log **log, char *err, size_t errlen)
{
    const char *shown = argv[0];
    if (!*rel || rel[strlen(rel) - 1] == '/')
        return failf(err, errlen, -EINVAL, "log device %s names a directory", shown);
    if (has_dotdot(rel))
        return failf(err, errlen, -EACCES,
                     "log device %s: '..' is not allowed (logs stay beneath the log "
                     "directory %s)",
                     shown, cfg->log_dir);
    /* Twice at most: a file created by another CTR between our open and
     * our create is opened (and then found busy, or taken). */
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open_beneath(cfg, rel, O_RDWR | O_NONBLOCK | O_NOCTTY, shown, err, errlen);
        if (fd >= 0) {
            int r = claim_regular(fd, shown, err, errlen);
            return r < 0 ? r : disk_log_on_fd(fd, target, argc, argv, log, err, errlen);
        }
        if (fd != -ENOENT)
            return fd;
        int r = create_beneath(cfg, rel, target, argc, argv, log, err, errlen);
        if (r != -EEXIST)
            return r;
    }
    return failf(err, errlen, -EAGAIN,
                 "log device %s can be neither opened nor created (a dangling symlink, or a "
                 "file that keeps changing)",
                 shown);
}

/* A block device on the allow-list, opened exclusively. */
static int block_log(const struct dld_confine *cfg, size_t i, uint64_t target, unsigned argc,
                     char **argv, dl_log **log, char *err, size_t errlen)
{
    const char *shown = argv[0];
    int fd = dl__open_claimed(cfg->block_allow[i], O_RDWR, 0, "log");
    if (fd < 0)
        return failf(err, errlen, fd, "%s", dl_last_error());
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISBLK(st.st_mode) || (uint64_t)st.st_rdev != cfg->block_rdev[i]) {
        close(fd);
        return failf(err, errlen, -EACCES,
                     "log device %s is no longer the block device allowed when dirtylogd "
                     "started",
                     shown);
    }
    return disk_log_on_fd(fd, target, argc, argv, log, err, errlen);
}

int dld_confine_create_log(const struct dld_confine *cfg, const char *type, uint64_t target,
                           unsigned argc, char **argv, dl_log **log, char *err, size_t errlen)
{
    *log = NULL;
    if (strcmp(type, "core") == 0) {
        int r = dl_log_create(type, target, argc, (const char *const *)argv, log);
        return r < 0 ? failf(err, errlen, r, "%s", dl_last_error()) : 0;
    }
    if (strcmp(type, "disk") != 0)
        return dl_find_type(type)
                   ? failf(err, errlen, -EACCES,
                           "log type '%s' is not served by dirtylogd: only core and disk", type)
                   : failf(err, errlen, -ENOENT, "unknown log type '%s'", type);
    if (!cfg)
        return failf(err, errlen, -EACCES, "disk logs need a log directory (--log-dir)");
    if (argc < 1)
        return failf(err, errlen, -EINVAL, "disk takes <log_device> <region_size> [options]");
    const char *path = argv[0];
    if (path[0] != '/')
        return file_log(cfg, path, target, argc, argv, log, err, errlen);
    for (size_t i = 0; i < cfg->nblock; i++)
        if (strcmp(path, cfg->block_allow[i]) == 0)
            return block_log(cfg, i, target, argc, argv, log, err, errlen);
    const char *rel = after_dir(path, cfg->log_dir);
    if (!rel)
        rel = after_dir(path, cfg->log_dir_real);
    if (!rel)
        return failf(err, errlen, -EACCES,
                     "log device %s is outside the log directory %s and not an allowed block "
                     "device (--allow-device): refused",
                     path, cfg->log_dir);
    return file_log(cfg, rel + strspn(rel, "/"), target, argc, argv, log, err, errlen);
}
