/* The shared RAID1 core of dlmirror and the nbdkit plugin: legs, the log,
 * region-sized copy and compare. See mirror.h. */
#define _POSIX_C_SOURCE 200809L
#include "mirror.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/claim.h"
#include "legsync.h"
#include "log_internal.h" /* dl__parse_u64 */
#include "sparse.h"

/* Offsets past 2 GiB: CMakeLists.txt defines _FILE_OFFSET_BITS=64 for all. */
_Static_assert(sizeof(off_t) == 8, "off_t must be 64 bits: build with -D_FILE_OFFSET_BITS=64");

static int fail(struct mirror *m, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return err;
}

/* Open one leg: claimed read-write, or plain read-only. fd or -errno. */
static int open_leg(struct mirror *m, unsigned i, const char *path, unsigned flags, uint64_t size)
{
    if (flags & MIRROR_READ_ONLY) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fail(m, -errno, "cannot open leg %u %s: %s", i, path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
            close(fd);
            return fail(m, -EINVAL, "leg %s is neither a regular file nor a block device", path);
        }
        return fd;
    }
    int create = (flags & MIRROR_CREATE) && size;
    int fd = dl__open_claimed(path, O_RDWR | (create ? O_CREAT : 0), 0600, "leg");
    if (fd < 0)
        return fail(m, fd, "%s", dl_last_error()); /* "leg /x is in use by another process" */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && create && (uint64_t)st.st_size < size &&
        ftruncate(fd, (off_t)size) != 0) {
        int e = -errno;
        close(fd);
        return fail(m, e, "cannot size leg %s: %s", path, strerror(-e));
    }
    return fd;
}

int mirror_open_legs(struct mirror *m, unsigned nlegs, char *const *paths, uint64_t size,
                     unsigned flags)
{
    memset(m, 0, sizeof *m);
    for (unsigned i = 0; i < MIRROR_MAX_LEGS; i++)
        m->fd[i] = -1;
    if (pthread_mutex_init(&m->flush_lock, NULL) != 0)
        return fail(m, -ENOMEM, "out of memory");
    m->flush_lock_ready = 1;
    if (nlegs < 2 || nlegs > MIRROR_MAX_LEGS)
        return fail(m, -EINVAL, "a mirror needs 2 to %d legs, not %u", MIRROR_MAX_LEGS, nlegs);
    if (size % DL_SECTOR_SIZE)
        return fail(m, -EINVAL, "size %" PRIu64 " is not a multiple of 512", size);
    if (size > INT64_MAX)
        return fail(m, -EINVAL, "size %" PRIu64 " is too large (at most 2^63 - 1)", size);
    if ((flags & MIRROR_CREATE) && (flags & MIRROR_READ_ONLY))
        return fail(m, -EINVAL, "creating legs needs them opened for writing");
    m->read_only = (flags & MIRROR_READ_ONLY) != 0;
    uint64_t smallest = UINT64_MAX;
    for (unsigned i = 0; i < nlegs; i++) {
        int fd = open_leg(m, i, paths[i], flags, size);
        if (fd < 0) {
            mirror_close(m, 0);
            return fd;
        }
        m->fd[i] = fd;
        m->path[i] = paths[i];
        m->nlegs = i + 1;
        off_t end = lseek(fd, 0, SEEK_END); /* files and block devices alike */
        if (end < 0) {
            int e = -errno;
            mirror_close(m, 0);
            return fail(m, e, "cannot size leg %s: %s", paths[i], strerror(-e));
        }
        if ((uint64_t)end < smallest)
            smallest = (uint64_t)end;
    }
    if (size == 0)
        size = smallest / DL_SECTOR_SIZE * DL_SECTOR_SIZE;
    if (size == 0) {
        mirror_close(m, 0);
        return fail(m, -EINVAL, "the legs are empty: give --size");
    }
    if (smallest < size) {
        mirror_close(m, 0);
        return fail(m, -ENOSPC, "a leg has %" PRIu64 " bytes, less than the size %" PRIu64,
                    smallest, size);
    }
    m->size = size;
    return 0;
}

int mirror_open_log(struct mirror *m, const char *table)
{
    dl_log *log;
    int r = dl_log_create_table(table, m->size / DL_SECTOR_SIZE, &log);
    if (r < 0)
        return fail(m, r, "log \"%s\": %s: %s", table, dl_strerror(r), dl_last_error());
    if ((r = dl_log_set_flush_callback(log, mirror_flush_legs, m)) < 0 ||
        (r = dl_log_resume(log)) < 0) {
        fail(m, r, "log \"%s\": %s: %s", table, dl_strerror(r), dl_last_error());
        dl_log_destroy(log);
        return r;
    }
    m->log = log;
    m->region_bytes = dl_log_get_region_size(log) * DL_SECTOR_SIZE;
    m->region_count = dl_log_get_region_count(log);
    return 0;
}

int mirror_open_log_read_only(struct mirror *m, const char *table)
{
    struct logview *v = calloc(1, sizeof *v);
    if (!v)
        return fail(m, -ENOMEM, "out of memory");
    int r = logview_open(v, table, m->size / DL_SECTOR_SIZE);
    if (r < 0) {
        fail(m, r, "%s", v->err);
        free(v);
        return r;
    }
    m->view = v;
    m->region_bytes = v->region_size * DL_SECTOR_SIZE;
    m->region_count = v->region_count;
    return 0;
}

/* Append " path" to `held` (truncated rather than overrun). */
static void add_held(char *held, size_t len, const char *path)
{
    size_t used = strlen(held);
    if (used + 1 < len)
        snprintf(held + used, len - used, "%s%s", used ? " " : "", path);
}

int mirror_probe_live(struct mirror *m, char *held, size_t len)
{
    const char *paths[MIRROR_MAX_LEGS + 1];
    unsigned n = 0;
    if (m->view)
        paths[n++] = m->view->path;
    for (unsigned i = 0; i < m->nlegs; i++)
        paths[n++] = m->path[i];
    held[0] = '\0';
    int live = 0;
    for (unsigned i = 0; i < n; i++) {
        int r = dl__claim_probe(paths[i]);
        if (r < 0)
            return fail(m, r, "cannot tell whether %s is in use: %s", paths[i], strerror(-r));
        if (r) {
            live = 1;
            add_held(held, len, paths[i]);
        }
    }
    return live;
}

void mirror_close(struct mirror *m, int persist)
{
    if (m->view) {
        logview_close(m->view);
        free(m->view);
        m->view = NULL;
    }
    if (m->log) {
        if (persist)
            dl_log_postsuspend(m->log);
        dl_log_destroy(m->log);
        m->log = NULL;
    }
    legsync_destroy(m->legsync);
    m->legsync = NULL;
    if (m->flush_lock_ready)
        pthread_mutex_destroy(&m->flush_lock);
    m->flush_lock_ready = 0;
    for (unsigned i = 0; i < MIRROR_MAX_LEGS; i++) {
        if (m->fd[i] >= 0)
            close(m->fd[i]);
        m->fd[i] = -1;
    }
    m->nlegs = 0;
}

int mirror_flush_legs(void *arg)
{
    struct mirror *m = arg;
    pthread_mutex_lock(&m->flush_lock);
    int r = legsync_run(&m->legsync, m->nlegs, m->fd);
    pthread_mutex_unlock(&m->flush_lock);
    return r;
}

/* Whole-buffer pread/pwrite on a leg: short transfers and EINTR retried. */
static int leg_io(int fd, char *p, size_t len, uint64_t off, int write)
{
    while (len > 0) {
        ssize_t n = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int mirror_write_leg(struct mirror *m, unsigned leg, const void *buf, size_t len, uint64_t off)
{
    int r = leg_io(m->fd[leg], (char *)buf, len, off, 1); /* pwrite only reads it */
    if (r == 0)
        legsync_wrote(&m->unwritten[leg], m->fd[leg], len);
    return r;
}

int mirror_read_leg(struct mirror *m, unsigned leg, void *buf, size_t len, uint64_t off)
{
    return leg_io(m->fd[leg], buf, len, off, 0);
}

int mirror_write_all(struct mirror *m, const void *buf, size_t len, uint64_t off)
{
    int r = 0;
    for (unsigned i = 0; i < m->nlegs; i++) {
        int e = mirror_write_leg(m, i, buf, len, off);
        if (e < 0 && r == 0)
            r = e;
    }
    return r;
}

uint64_t mirror_region_offset(const struct mirror *m, uint64_t region)
{
    return region * m->region_bytes;
}

uint64_t mirror_region_length(const struct mirror *m, uint64_t region)
{
    uint64_t off = mirror_region_offset(m, region);
    if (off >= m->size)
        return 0;
    return m->size - off < m->region_bytes ? m->size - off : m->region_bytes;
}

int64_t mirror_copy_region(struct mirror *m, uint64_t region)
{
    uint64_t off = mirror_region_offset(m, region), len = mirror_region_length(m, region);
    size_t chunk = len < MIRROR_IO_CHUNK ? (size_t)len : MIRROR_IO_CHUNK;
    char *buf = malloc(chunk ? chunk : 1);
    if (!buf)
        return fail(m, -ENOMEM, "out of memory");
    int r = len ? mirror_copy_range(m, off, len, buf, chunk) : 0; /* holes stay holes */
    free(buf);
    if (r < 0)
        return fail(m, r, "copying region %" PRIu64 ": %s", region, strerror(-r));
    return (int64_t)len;
}

int mirror_region_differs(struct mirror *m, uint64_t region)
{
    uint64_t off = mirror_region_offset(m, region), len = mirror_region_length(m, region);
    size_t chunk = len < MIRROR_IO_CHUNK ? (size_t)len : MIRROR_IO_CHUNK;
    char *a = malloc(chunk ? chunk : 1), *b = malloc(chunk ? chunk : 1);
    int r = (a && b) ? 0 : -ENOMEM;
    for (uint64_t done = 0; r == 0 && done < len; done += chunk) {
        size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
        r = mirror_read_leg(m, 0, a, n, off + done);
        for (unsigned i = 1; r == 0 && i < m->nlegs; i++) {
            r = mirror_read_leg(m, i, b, n, off + done);
            if (r == 0 && memcmp(a, b, n) != 0)
                r = 1;
        }
    }
    free(a);
    free(b);
    if (r < 0)
        return fail(m, r, "reading region %" PRIu64 ": %s", region, strerror(-r));
    return r;
}

int mirror_region_dirty(struct mirror *m, uint64_t region)
{
    if (m->view) {
        int d = logview_may_differ(m->view, region);
        return d < 0 ? fail(m, d, "%s", m->view->err) : d;
    }
    int clean = dl_log_is_clean(m->log, region);
    if (clean < 0)
        return fail(m, clean, "is_clean(%" PRIu64 "): %s", region, dl_strerror(clean));
    int in_sync = dl_log_in_sync(m->log, region, 1);
    if (in_sync < 0)
        return fail(m, in_sync, "in_sync(%" PRIu64 "): %s", region, dl_strerror(in_sync));
    return !(clean && in_sync);
}

int mirror_parse_size(const char *s, uint64_t *out)
{
    char digits[24];
    size_t n = s ? strspn(s, "0123456789") : 0;
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof digits)
        return -ERANGE; /* more than 20 digits cannot fit anyway */
    memcpy(digits, s, n);
    digits[n] = '\0';
    uint64_t v;
    int r = dl__parse_u64(digits, &v);
    if (r < 0)
        return r;
    const char *end = s + n;
    static const char units[] = "KMGT"; /* 2^10, 2^20, 2^30, 2^40 */
    unsigned shift = 0;
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u) {
        shift = 10 * (unsigned)(u - units + 1);
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (*end != '\0')
        return -EINVAL;
    if (v > ((uint64_t)INT64_MAX >> shift))
        return -ERANGE;
    *out = v << shift;
    return 0;
}

const char *mirror_human(uint64_t bytes, char *buf, size_t len)
{
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned u = 0;
    double v = (double)bytes;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " bytes", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
    return buf;
}
