/* Unit test of mirror_copy_range (examples/mirror/sparse.c): leg 0 with
 * data extents, allocated zeros and holes, copied to a leg full of old data
 * and to a sparse leg with a little old data. Both must end up equal to leg
 * 0, and the sparse leg must not be allocated where leg 0 has holes. Built
 * twice: as is, and with SEEK_DATA and hole punching compiled out (the ways
 * taken where they are not supported), where the sparse leg gets zeros
 * written only over its old data. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "mirror.h"
#include "sparse.h"

TEST_MAIN_DEFINITIONS

#define SIZE (4u << 20)
#define KIB 1024u

static void fill(int fd, unsigned char byte, off_t off, size_t len, int pattern)
{
    unsigned char *b = malloc(len);
    for (size_t i = 0; i < len; i++)
        b[i] = pattern ? (unsigned char)(i * 7 + (size_t)off / 512 + 1) | 1u : byte;
    CHECK_EQ(pwrite(fd, b, len, off), (long long)len);
    free(b);
}

static long long blocks(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_blocks : -1;
}

static int same(const char *p, const char *q)
{
    int a = open(p, O_RDONLY), b = open(q, O_RDONLY), ok = a >= 0 && b >= 0;
    static char x[64 * KIB], y[64 * KIB];
    for (off_t off = 0; ok && off < (off_t)SIZE; off += (off_t)sizeof x)
        ok = pread(a, x, sizeof x, off) == (ssize_t)sizeof x &&
             pread(b, y, sizeof y, off) == (ssize_t)sizeof y && memcmp(x, y, sizeof x) == 0;
    close(a);
    close(b);
    return ok;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char d[512], a[600], b[600], c[600];
    snprintf(d, sizeof d, "%s/dlmirror-sparse-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    REQUIRE(mkdtemp(d) != NULL);
    snprintf(a, sizeof a, "%s/a", d);
    snprintf(b, sizeof b, "%s/b", d);
    snprintf(c, sizeof c, "%s/c", d);
    int fa = open(a, O_RDWR | O_CREAT, 0600), fb = open(b, O_RDWR | O_CREAT, 0600),
        fc = open(c, O_RDWR | O_CREAT, 0600);
    REQUIRE(fa >= 0 && fb >= 0 && fc >= 0);
    REQUIRE(ftruncate(fa, SIZE) == 0 && ftruncate(fc, SIZE) == 0);
    fill(fa, 0, 64 * KIB, 128 * KIB, 1);          /* data */
    fill(fa, 0, 1024 * KIB + 512, 3 * KIB, 1);     /* data, not block aligned */
    fill(fa, 0, 2048 * KIB, 256 * KIB, 0);         /* allocated zeros */
    fill(fb, 0xEE, 0, SIZE, 0);                    /* old data everywhere */
    fill(fc, 0xCC, 3072 * KIB, 64 * KIB, 0);       /* old data in a hole of leg 0 */
    fill(fc, 0xCC, 96 * KIB, 8 * KIB, 0);          /* and over leg 0's data */
    close(fa);
    close(fb);
    close(fc);
    long long a_blocks = blocks(a);

    struct mirror m;
    char *paths[] = {a, b, c};
    REQUIRE(mirror_open_legs(&m, 3, paths, SIZE, 0) == 0);
    static char buf[64 * KIB];
    /* In two pieces that do not fall on chunk or block boundaries. */
    CHECK_EQ(mirror_copy_range(&m, 0, 1000 * KIB + 100, buf, sizeof buf), 0);
    CHECK_EQ(mirror_copy_range(&m, 1000 * KIB + 100, SIZE - (1000 * KIB + 100), buf, sizeof buf),
             0);
    mirror_close(&m, 0);

    CHECK(same(a, b));
    CHECK(same(a, c));
#if defined(MIRROR_TEST_NO_PUNCH_HOLE)
    /* Without SEEK_DATA or punching the work goes by 64 KiB chunks (counted
     * from the start of each copied range): the 3 KiB extent and c's 64 KiB
     * of old data each take at most two whole chunks, the 128 KiB extent
     * (chunk aligned) its own size. Nothing else of c gets allocated: a
     * copy that wrote zeros would allocate all 4 MiB (8192 blocks). */
    CHECK(blocks(c) <= (128 + 2 * 64 + 2 * 64 + 8) * 2);
#else
    /* Leg 0 holds 128 + 4 KiB of data (plus 256 KiB of zeros, which need
     * not be copied); 8 KiB of slack for block rounding. */
    long long data_blocks = (128 + 4 + 8) * 2;
    CHECK(blocks(b) <= data_blocks); /* its old data punched out */
    CHECK(blocks(c) <= data_blocks);
#endif
    CHECK(a_blocks >= (128 + 256) * 2); /* the test made what it meant to */
    printf("blocks: a %lld, b %lld, c %lld\n", a_blocks, blocks(b), blocks(c));
    unlink(a);
    unlink(b);
    unlink(c);
    rmdir(d);
    return test_exit_status("test_sparse");
}
