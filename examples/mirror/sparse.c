/* Sparse-aware copy of leg 0 to the other legs (sparse.h). The unit test
 * also builds it with MIRROR_TEST_NO_SEEK_DATA and MIRROR_TEST_NO_PUNCH_HOLE
 * to run the ways taken where those are not supported. */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE, fallocate(), FALLOC_FL_* */
#include "sparse.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int all_zero(const char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* The next data extent of fd at or after pos, clamped to end: [*data,
 * *hole). Without SEEK_DATA (or where the file system refuses it) the rest
 * counts as data: the caller's zero check still finds zeros by reading. */
static void next_extent(int fd, uint64_t pos, uint64_t end, uint64_t *data, uint64_t *hole)
{
    (void)fd; /* unused where SEEK_DATA is not */
    *data = pos;
    *hole = end;
#if defined(SEEK_DATA) && !defined(MIRROR_TEST_NO_SEEK_DATA)
    off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
    if (d < 0 && errno == ENXIO) { /* nothing but a hole up to the end of the file */
        *data = end;
        return;
    }
    if (d < 0)
        return;
    off_t h = lseek(fd, d, SEEK_HOLE);
    *data = min_u64((uint64_t)d, end);
    if (h > d)
        *hole = min_u64((uint64_t)h, end);
#endif
}

/* Make [off, off + len) of one leg read as zeros without allocating it. */
static int zero_leg(struct mirror *m, unsigned leg, uint64_t off, uint64_t len, char *buf,
                    size_t chunk)
{
#if defined(FALLOC_FL_PUNCH_HOLE) && !defined(MIRROR_TEST_NO_PUNCH_HOLE)
    if (fallocate(m->fd[leg], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) == 0)
        return 0;
    /* Not supported here (file system, device, kernel): the way below. */
#endif
    /* Read, and write zeros only where the leg is not zero: a hole stays one. */
    for (uint64_t done = 0; done < len;) {
        size_t n = (size_t)min_u64(chunk, len - done);
        int r = mirror_read_leg(m, leg, buf, n, off + done);
        if (r == 0 && !all_zero(buf, n)) {
            memset(buf, 0, n);
            r = mirror_write_leg(m, leg, buf, n, off + done);
        }
        if (r < 0)
            return r;
        done += n;
    }
    return 0;
}

static int zero_others(struct mirror *m, uint64_t off, uint64_t len, char *buf, size_t chunk)
{
    for (unsigned i = 1; i < m->nlegs; i++) {
        int r = zero_leg(m, i, off, len, buf, chunk);
        if (r < 0)
            return r;
    }
    return 0;
}

int mirror_copy_range(struct mirror *m, uint64_t off, uint64_t len, char *buf, size_t chunk)
{
    uint64_t pos = off, end = off + len;
    int r = 0;
    while (r == 0 && pos < end) {
        uint64_t data, hole;
        next_extent(m->fd[0], pos, end, &data, &hole);
        if (data > pos)
            r = zero_others(m, pos, data - pos, buf, chunk);
        for (pos = data; r == 0 && pos < hole;) {
            size_t n = (size_t)min_u64(chunk, hole - pos);
            r = mirror_read_leg(m, 0, buf, n, pos);
            if (r == 0 && all_zero(buf, n))
                r = zero_others(m, pos, n, buf, chunk); /* allocated zeros: no need to copy */
            else
                for (unsigned i = 1; r == 0 && i < m->nlegs; i++)
                    r = mirror_write_leg(m, i, buf, n, pos);
            pos += n;
        }
    }
    return r;
}
