/* The live status file (status.h): write it atomically, read it strictly. */
#define _POSIX_C_SOURCE 200809L
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h" /* dl__parse_u64 */

uint64_t mirror_status_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The unsigned figures, by key, in file order: one table for the writer
 * and the reader. */
#define FIELD(name) {#name, offsetof(struct mirror_status, name)}
static const struct {
    const char *key;
    size_t offset;
} u64_fields[] = {
    FIELD(pid),          FIELD(updated_ms),     FIELD(size),         FIELD(region_bytes),
    FIELD(region_count), FIELD(in_sync),        FIELD(dirty),        FIELD(resync_total),
    FIELD(resync_regions), FIELD(resync_bytes), FIELD(writes),       FIELD(write_bytes),
    FIELD(reads),
};
#define N_U64_FIELDS (sizeof u64_fields / sizeof u64_fields[0])

static uint64_t *u64_field(struct mirror_status *s, size_t i)
{
    return (uint64_t *)((char *)s + u64_fields[i].offset);
}

/* Text appended to a buffer; `full` once something did not fit. */
struct text {
    char *buf;
    size_t len, used;
    int full;
};

static void put(struct text *t, const char *fmt, ...)
{
    if (t->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= t->len - t->used)
        t->full = 1;
    else
        t->used += (size_t)k;
}

/* The file's text in buf; its length, or -ENOSPC. */
static int format_status(const struct mirror_status *s, char *buf, size_t len)
{
    struct text t = {.buf = buf, .len = len};
    put(&t, "%s %d\nwriter %s\nstate %s\n", MIRROR_STATUS_MAGIC, MIRROR_STATUS_VERSION,
        s->writer, s->state);
    for (size_t i = 0; i < N_U64_FIELDS; i++)
        put(&t, "%s %" PRIu64 "\n", u64_fields[i].key,
            *(const uint64_t *)((const char *)s + u64_fields[i].offset));
    put(&t, "resync_rate %" PRId64 "\nresync_eta %" PRId64 "\n", s->resync_rate, s->resync_eta);
    return t.full ? -ENOSPC : (int)t.used;
}

int mirror_status_write(const char *path, const struct mirror_status *s)
{
    char buf[MIRROR_STATUS_MAX_BYTES], tmp[4096 + 8];
    int n = format_status(s, buf, sizeof buf);
    if (n < 0)
        return n;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, buf, (size_t)n);
    int r = w == n ? 0 : w < 0 ? -errno : -EIO;
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

static int bad(char *err, size_t len, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return e;
}

/* A signed figure: digits, or "-1" for unknown. */
static int parse_i64(const char *v, int64_t *out)
{
    uint64_t u;
    if (strcmp(v, "-1") == 0) {
        *out = -1;
        return 0;
    }
    if (dl__parse_u64(v, &u) < 0 || u > INT64_MAX)
        return -EINVAL;
    *out = (int64_t)u;
    return 0;
}

static int copy_word(char *dst, size_t len, const char *v)
{
    if (strlen(v) >= len || v[0] == '\0')
        return -EINVAL;
    strcpy(dst, v);
    return 0;
}

/* One "key value" line into s. 0, or -EINVAL for a value that does not parse. */
static int parse_line(struct mirror_status *s, const char *key, const char *v)
{
    for (size_t i = 0; i < N_U64_FIELDS; i++)
        if (strcmp(key, u64_fields[i].key) == 0)
            return dl__parse_u64(v, u64_field(s, i)) < 0 ? -EINVAL : 0;
    if (strcmp(key, "writer") == 0)
        return copy_word(s->writer, sizeof s->writer, v);
    if (strcmp(key, "state") == 0)
        return copy_word(s->state, sizeof s->state, v);
    if (strcmp(key, "resync_rate") == 0)
        return parse_i64(v, &s->resync_rate);
    if (strcmp(key, "resync_eta") == 0)
        return parse_i64(v, &s->resync_eta);
    return 0; /* a key of a newer writer */
}

int mirror_status_read(const char *path, struct mirror_status *s, char *err, size_t len)
{
    memset(s, 0, sizeof *s);
    s->resync_rate = s->resync_eta = -1;
    char buf[MIRROR_STATUS_MAX_BYTES + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bad(err, len, -errno, "cannot open status file %s: %s", path, strerror(errno));
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf && (k = read(fd, buf + n, sizeof buf - n)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = -errno;
            close(fd);
            return bad(err, len, e, "cannot read status file %s: %s", path, strerror(-e));
        }
        n += (size_t)k;
    }
    close(fd);
    if (n > MIRROR_STATUS_MAX_BYTES)
        return bad(err, len, -EFBIG, "status file %s is longer than %d bytes", path,
                   MIRROR_STATUS_MAX_BYTES);
    buf[n] = '\0';
    char head[64];
    snprintf(head, sizeof head, "%s %d\n", MIRROR_STATUS_MAGIC, MIRROR_STATUS_VERSION);
    if (strncmp(buf, head, strlen(head)) != 0)
        return bad(err, len, -EINVAL, "%s is not a version %d dlmirror status file", path,
                   MIRROR_STATUS_VERSION);
    unsigned line = 1;
    for (char *p = buf + strlen(head), *nl; *p; p = nl + 1) {
        line++;
        if (!(nl = strchr(p, '\n')))
            return bad(err, len, -EINVAL, "%s: line %u is cut short", path, line);
        *nl = '\0';
        char *sp = strchr(p, ' ');
        if (sp)
            *sp = '\0';
        if (!sp || parse_line(s, p, sp + 1) < 0)
            return bad(err, len, -EINVAL, "%s: line %u is not \"key value\"", path, line);
    }
    if (!s->writer[0] || !s->state[0] || !s->pid || !s->updated_ms)
        return bad(err, len, -EINVAL, "%s lacks writer, state, pid or updated_ms", path);
    return 0;
}

void status_publisher_init(struct status_publisher *p, const char *path, const char *writer,
                           unsigned interval_ms)
{
    memset(p, 0, sizeof *p);
    p->path = path;
    p->writer = writer;
    p->interval_ms = interval_ms;
    rate_window_init(&p->window);
}

int status_publish(struct status_publisher *p, struct mirror *m, struct mirror_status *s,
                   int force)
{
    if (!p->path)
        return 0;
    double now = progress_now();
    if (!force && p->last > 0 && (now - p->last) * 1000 < p->interval_ms)
        return 0;
    p->last = now;
    snprintf(s->writer, sizeof s->writer, "%s", p->writer);
    s->pid = (uint64_t)getpid();
    s->updated_ms = mirror_status_now_ms();
    s->size = m->size;
    s->region_bytes = m->region_bytes;
    s->region_count = m->region_count;
    if (m->log && dl_log_get_sync_count(m->log, &s->in_sync) < 0)
        s->in_sync = 0;
    rate_window_add(&p->window, now, s->resync_bytes);
    double rate = rate_window_rate(&p->window);
    uint64_t left = s->resync_total > s->resync_regions ? s->resync_total - s->resync_regions : 0;
    s->resync_rate = rate < 0 ? -1 : (int64_t)rate;
    s->resync_eta = rate_eta_seconds(rate, left * m->region_bytes);
    int r = mirror_status_write(p->path, s);
    if (r < 0)
        p->failed++;
    return r < 0 ? r : 1;
}
