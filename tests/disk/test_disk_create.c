/* Bounded creation (issue 8 §4):
 *  - the bitmap's size has a cap (max_bitmap=, default 1 GiB) with an error
 *    that says the size and the cap, and nothing is written when it is hit;
 *  - a new log whose bitmap bytes are all zero (native nosync, dm sync) is
 *    not written: the device gets its length and its room (set_size,
 *    reserve) and only the header is written, yet the bytes are the same as
 *    when every zero is written (an io without set_size);
 *  - a bitmap that holds ones is written in full (native sync, dm nosync);
 *  - on a real file the room is allocated (fallocate) where supported. */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "memio.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

/* ---- the cap ------------------------------------------------------------- */

static void test_cap(void)
{
    struct memio m;
    memio_init(&m, 4096, 0);
    dl_log *log;
    /* 65536 regions = 8192 bytes of native bitmap: at the cap, fine. */
    CHECK_EQ(memio_open_words(&m, "x 8 nosync max_bitmap=8192", 65536 * 8, &log), 0);
    if (log) {
        char buf[128];
        CHECK(dl_log_status(log, DL_STATUS_TABLE, buf, sizeof buf) > 0);
        CHECK_STR(buf, "disk 4 x 8 nosync max_bitmap=8192");
        dl_log_destroy(log);
    }
    /* One region more needs another 4 KiB block: refused, nothing written. */
    memio_destroy(&m);
    memio_init(&m, 4096, 0);
    CHECK_EQ(memio_open_words(&m, "x 8 nosync max_bitmap=8192", 65537 * 8, &log), -EFBIG);
    CHECK(log == NULL);
    CHECK(strstr(dl_last_error(), "12288 bytes") != NULL);
    CHECK(strstr(dl_last_error(), "cap of 8192 bytes") != NULL);
    CHECK_U64(m.writes, 0);
    CHECK_U64(m.ops, 0);
    /* dm counts whole 64-region words: 65600 regions = 8200 bytes. */
    CHECK_EQ(memio_open_words(&m, "x 8 format=dm max_bitmap=8199", 65600 * 8, &log), -EFBIG);
    CHECK(strstr(dl_last_error(), "8200 bytes") != NULL);
    /* The default cap, 1 GiB: 2^33 + 1 regions are one too many. */
    CHECK_EQ(memio_open_words(&m, "x 8 nosync", ((1ull << 33) + 1) * 8, &log), -EFBIG);
    CHECK(strstr(dl_last_error(), "cap of 1073741824 bytes (the default)") != NULL);
    /* The example: 2^60 sectors in regions of 8. */
    CHECK_EQ(memio_open_words(&m, "x 8", 1152921504606846976ull, &log), -EFBIG);
    CHECK_U64(m.writes, 0);
    /* Bad values. */
    CHECK_EQ(memio_open_words(&m, "x 8 max_bitmap=0", 800, &log), -EINVAL);
    CHECK_EQ(memio_open_words(&m, "x 8 max_bitmap=12k", 800, &log), -EINVAL);
    CHECK(strstr(dl_last_error(), "max_bitmap=12k") != NULL);
    CHECK_EQ(memio_open_words(&m, "x 8 max_bitmap=1 max_bitmap=2", 800, &log), -EINVAL);
    memio_destroy(&m);

    /* On a path: the refused log leaves no file. */
    char dir[] = "/tmp/dl-cap-XXXXXX", path[64], t[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/y.log", dir);
    snprintf(t, sizeof t, "disk 2 %s 8", path);
    log = (dl_log *)1;
    CHECK_EQ(dl_log_create_table(t, 1152921504606846976ull, &log), -EFBIG);
    CHECK(log == NULL);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ(rmdir(dir), 0); /* empty: no temporary file either */
}

/* ---- work proportional to what must be written ------------------------------- */

/* A new log of `regions` on a blank memory device; its image in *img. */
static void make_log(const char *args, uint64_t regions, int ops, uint8_t **img, uint64_t *size,
                     unsigned long *bytes_written)
{
    struct memio m;
    memio_init(&m, 512, 0); /* blank: ends before any bitmap */
    memio_init_ops(&m, ops, ops);
    dl_log *log;
    CHECK_EQ(memio_open_words(&m, args, regions * 8, &log), 0);
    if (log) {
        CHECK_EQ(dl_log_flush(log), 0);
        dl_log_destroy(log);
    }
    *bytes_written = m.bytes_written;
    *size = m.size;
    *img = malloc(m.size);
    memcpy(*img, m.buf, m.size);
    if (ops)
        CHECK(m.reserves >= 1 && m.set_sizes >= 1);
    memio_destroy(&m);
}

static void test_sparse(const char *args, int all_zero, uint64_t header_bytes)
{
    uint64_t regions = 1ull << 24; /* 2 MiB of bitmap */
    uint8_t *a, *b;
    uint64_t na, nb;
    unsigned long wa, wb;
    make_log(args, regions, 1, &a, &na, &wa);
    make_log(args, regions, 0, &b, &nb, &wb);
    CHECK_U64(na, nb);
    /* Same bytes past the header (native's uuid differs from log to log). */
    CHECK(na == nb && memcmp(a + header_bytes, b + header_bytes, na - header_bytes) == 0);
    CHECK(wb >= regions / 8); /* without set_size every byte is written */
    if (all_zero)
        CHECK(wa <= 8192); /* the header only */
    else
        CHECK(wa >= regions / 8);
    if (all_zero ? wa > 8192 : wa < regions / 8)
        fprintf(stderr, "'%s': %lu bytes written\n", args, wa);
    free(a);
    free(b);
}

/* ---- a real file gets its room ---------------------------------------------- */

static int fallocate_works(const char *dir)
{
    char p[128];
    snprintf(p, sizeof p, "%s/probe", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    int ok = fd >= 0 && fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
    if (fd >= 0)
        close(fd);
    unlink(p);
    return ok;
}

static void test_file_room(void)
{
    char dir[] = "/tmp/dl-room-XXXXXX", path[64], t[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/r.log", dir);
    snprintf(t, sizeof t, "disk 3 %s 8 nosync", path);
    dl_log *log = open_table(t, (1ull << 27) * 8); /* 16 MiB of bitmap */
    CHECK(log != NULL);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_U64(st.st_size, 8192 + (1u << 24));
    if (fallocate_works(dir))
        CHECK((uint64_t)st.st_blocks * 512 >= 8192 + (1u << 24));
    else
        printf("note: no fallocate on %s; room not checked\n", dir);
    if (log) {
        CHECK_EQ(dl_log_mark_region(log, (1ull << 27) - 1), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        dl_log_destroy(log);
    }
    snprintf(t, sizeof t, "disk 2 %s 8", path);
    log = open_table(t, (1ull << 27) * 8);
    CHECK(log != NULL);
    if (log) {
        CHECK_EQ(dl_log_is_clean(log, (1ull << 27) - 1), 0);
        CHECK_EQ(dl_log_is_clean(log, 0), 1);
        dl_log_destroy(log);
    }
    unlink(path);
    CHECK_EQ(rmdir(dir), 0);
}

int main(void)
{
    test_cap();
    test_sparse("x 8 nosync", 1, 8192);
    test_sparse("x 8 sync format=dm", 1, 0);
    test_sparse("x 8 format=dm", 1, 0); /* a new log defaults to out of sync */
    test_sparse("x 8 sync", 0, 8192);
    test_sparse("x 8 nosync format=dm", 0, 0);
    test_file_room();
    return test_exit_status("test_disk_create");
}
