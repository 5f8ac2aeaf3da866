/* In-memory dl_io for the tests (see memio.h). */
#define _POSIX_C_SOURCE 200809L
#include "memio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct memio *M(struct dl_io *io) { return io->priv; }

/* Count an I/O and decide its fate: 0 go, <0 fail, 1 short write. */
static int fate(struct memio *m)
{
    long n = (long)m->ops++;
    if (m->fail_at >= 0 && (n == m->fail_at || (m->fail_all_after && n > m->fail_at)))
        return -m->fail_errno;
    if (m->short_at >= 0 && n == m->short_at)
        return 1;
    return 0;
}

/* Make room for `bytes`, zero-filled past the current size. */
static void grow_buffer(struct memio *m, uint64_t bytes)
{
    if (bytes > m->cap) {
        m->buf = realloc(m->buf, bytes);
        memset(m->buf + m->cap, 0, bytes - m->cap);
        m->cap = bytes;
    }
}

static int64_t mem_pread(struct dl_io *io, void *buf, size_t len, uint64_t off)
{
    struct memio *m = M(io);
    pthread_mutex_lock(&m->lock);
    m->reads++;
    int f = m->read_errno ? -m->read_errno : fate(m);
    int64_t r;
    if (f < 0) {
        r = f;
    } else if (off >= m->size) {
        r = 0;
    } else {
        size_t n = off + len > m->size ? (size_t)(m->size - off) : len;
        memcpy(buf, m->buf + off, n);
        r = (int64_t)n;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static void record(struct memio *m, int op, uint64_t off, const void *data, size_t len)
{
    if (!m->record)
        return;
    if (m->nrecs == m->caprecs) {
        m->caprecs = m->caprecs ? m->caprecs * 2 : 64;
        m->recs = realloc(m->recs, m->caprecs * sizeof *m->recs);
    }
    struct memio_rec *r = &m->recs[m->nrecs++];
    r->op = op;
    r->off = off;
    r->len = len;
    r->data = NULL;
    if (len) {
        r->data = malloc(len);
        memcpy(r->data, data, len);
    }
}

static int64_t mem_pwrite(struct dl_io *io, const void *buf, size_t len, uint64_t off)
{
    struct memio *m = M(io);
    pthread_mutex_lock(&m->lock);
    m->writes++;
    int f = fate(m);
    int64_t r;
    if (f < 0) {
        r = f;
    } else if ((m->fixed_size && off + len > m->size) ||
               (m->space_cap && off + len > m->space_cap)) {
        r = -ENOSPC;
    } else {
        if (f == 1 && len > 1)
            len /= 2;
        if (off + len > m->cap)
            grow_buffer(m, (off + len) * 2);
        memcpy(m->buf + off, buf, len);
        if (off + len > m->size)
            m->size = off + len;
        m->bytes_written += len;
        record(m, MEMIO_WRITE, off, buf, len);
        r = (int64_t)len;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int mem_sync(struct dl_io *io)
{
    struct memio *m = M(io);
    if (m->on_sync)
        m->on_sync(m);
    pthread_mutex_lock(&m->lock);
    m->syncs++;
    int r = fate(m);
    if (r == 1)
        r = 0;
    if (r == 0)
        record(m, MEMIO_SYNC, 0, NULL, 0);
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int mem_size(struct dl_io *io, uint64_t *bytes, uint32_t *lbs)
{
    struct memio *m = M(io);
    pthread_mutex_lock(&m->lock);
    *bytes = m->size;
    *lbs = m->lbs;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mem_set_size(struct dl_io *io, uint64_t bytes)
{
    struct memio *m = M(io);
    pthread_mutex_lock(&m->lock);
    m->set_sizes++;
    int r = 0;
    if (m->fixed_size) {
        r = -ENOTSUP;
    } else {
        grow_buffer(m, bytes);
        if (bytes < m->size) /* what a later extension reads must be zero */
            memset(m->buf + bytes, 0, m->size - bytes);
        m->size = bytes;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int mem_reserve(struct dl_io *io, uint64_t bytes)
{
    struct memio *m = M(io);
    pthread_mutex_lock(&m->lock);
    m->reserves++;
    int r = m->space_cap && bytes > m->space_cap ? -ENOSPC : 0;
    pthread_mutex_unlock(&m->lock);
    return r;
}

static void mem_close(struct dl_io *io)
{
    M(io)->closed++;
}

void memio_init(struct memio *m, uint64_t size, int fixed)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->io.struct_size = sizeof(struct dl_io);
    m->io.pread = mem_pread;
    m->io.pwrite = mem_pwrite;
    m->io.sync = mem_sync;
    m->io.size = mem_size;
    m->io.close = mem_close;
    m->io.set_size = mem_set_size;
    m->io.reserve = mem_reserve;
    m->io.priv = m;
    m->lbs = 512;
    m->fail_at = m->short_at = -1;
    m->fail_errno = EIO;
    m->fixed_size = fixed;
    m->cap = size ? size : 4096;
    m->buf = calloc(1, m->cap);
    m->size = size;
}

void memio_init_ops(struct memio *m, int set_size, int reserve)
{
    m->io.set_size = set_size ? mem_set_size : NULL;
    m->io.reserve = reserve ? mem_reserve : NULL;
}

void memio_clear_records(struct memio *m)
{
    for (size_t i = 0; i < m->nrecs; i++)
        free(m->recs[i].data);
    m->nrecs = 0;
}

void memio_destroy(struct memio *m)
{
    memio_clear_records(m);
    free(m->recs);
    free(m->buf);
    pthread_mutex_destroy(&m->lock);
}

void memio_load(struct memio *m, const uint8_t *data, uint64_t size)
{
    if (size > m->cap) {
        m->buf = realloc(m->buf, size);
        m->cap = size;
    }
    memset(m->buf, 0, m->cap);
    memcpy(m->buf, data, size);
    m->size = size;
}

void memio_reset_counters(struct memio *m)
{
    m->reads = m->writes = m->syncs = m->bytes_written = m->ops = 0;
}

size_t memio_position(struct memio *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->nrecs;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int memio_open_log(struct memio *m, uint64_t target_sectors, unsigned argc,
                   const char *const *argv, dl_log **log)
{
    int r = dl_log_create_disk_io(target_sectors, argc, argv, &m->io, log);
    if (r == 0 && (r = dl_log_resume(*log)) != 0) {
        dl_log_destroy(*log);
        *log = NULL;
    }
    return r;
}

int memio_open_words(struct memio *m, const char *args, uint64_t target_sectors, dl_log **log)
{
    const char *argv[16];
    char copy[256];
    snprintf(copy, sizeof copy, "%s", args);
    unsigned argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t && argc < 16; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    *log = NULL;
    return memio_open_log(m, target_sectors, argc, argv, log);
}
