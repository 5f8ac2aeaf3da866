/* The bad-input matrix: malformed logs on files (and one unreadable io).
 * Each must be refused with -errno, a message naming the problem, and the
 * file byte-for-byte unchanged. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "disk/crc32c.h"
#include "memio.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

static char dir[64];
static uint8_t *native_img, *dm_img;
static size_t native_len, dm_len;
static int cases;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *slot)
{
    put32(slot + 508, dl__crc32c(0, slot, 508));
}

/* A valid log made by the library, read back as bytes. */
static uint8_t *make_valid(int dm, size_t *len)
{
    char p[128], t[256];
    snprintf(p, sizeof p, "%s/valid", dir);
    unlink(p);
    snprintf(t, sizeof t, "disk %d %s 1024 nosync%s", dm ? 4 : 3, p, dm ? " format=dm" : "");
    dl_log *log = open_table(t, 100 * 1024);
    CHECK(log != NULL);
    if (log) {
        dl_log_mark_region(log, 42);
        dl_log_flush(log);
        dl_log_destroy(log);
    }
    uint8_t *b = slurp(p, len);
    unlink(p);
    return b;
}

/* Write img to a file, open it with `table_tail`, expect refusal. */
static void expect_refused(const char *name, const uint8_t *img, size_t len, int dm,
                           const char *extra, uint64_t regions, const char *why)
{
    char p[128], t[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (img)
        CHECK_EQ(spit(p, img, len), 0);
    uint64_t before = file_hash(p);
    snprintf(t, sizeof t, "disk %d %s 1024%s%s", 2 + (dm ? 1 : 0) + (extra[0] ? 1 : 0), p,
             dm ? " format=dm" : "", extra);
    dl_log *log = (dl_log *)1;
    int r = dl_log_create_table(t, regions * 1024, &log);
    if (r == 0 && log && dl_log_resume(log) != 0)
        r = -EIO; /* refused late: still a refusal, but say so */
    cases++;
    if (r >= 0 || log != NULL) {
        fprintf(stderr, "%s: accepted (%d)\n", name, r);
        test_failures++;
        if (r == 0)
            dl_log_destroy(log);
    } else if (!strstr(dl_last_error(), why)) {
        fprintf(stderr, "%s: message '%s' does not mention '%s'\n", name, dl_last_error(), why);
        test_failures++;
    } else {
        printf("  %-22s refused: %s\n", name, dl_last_error());
    }
    if (file_hash(p) != before) {
        fprintf(stderr, "%s: the file changed\n", name);
        test_failures++;
    }
}

/* A native image with slot 0 changed by f, CRC fixed unless told not to. */
static void native_case(const char *name, void (*f)(uint8_t *img), int keep_crc, uint64_t regions,
                        const char *why)
{
    uint8_t *img = malloc(native_len);
    memcpy(img, native_img, native_len);
    f(img);
    if (!keep_crc)
        fix_crc(img);
    expect_refused(name, img, native_len, 0, "", regions, why);
    free(img);
}

static void c_magic(uint8_t *b) { b[0] ^= 0xFF; }
static void c_version(uint8_t *b) { put32(b + 4, 2); }
static void c_incompat(uint8_t *b) { put32(b + 8, 1); }
static void c_uuid(uint8_t *b) { memset(b + 16, 0, 16); }
static void c_rs_bad(uint8_t *b) { put32(b + 32, 1000); }
static void c_rs_other(uint8_t *b) { put32(b + 32, 2048); }
static void c_block(uint8_t *b) { put32(b + 36, 512); }
static void c_count0(uint8_t *b) { put64(b + 40, 0); }
static void c_count_more(uint8_t *b) { put64(b + 40, 200); }
static void c_count_less(uint8_t *b) { put64(b + 40, 50); }
static void c_count_huge(uint8_t *b) { put64(b + 40, 40000); }
static void c_gen0(uint8_t *b) { put64(b + 48, 0); }
static void c_gen2(uint8_t *b) { put64(b + 48, 2); }
static void c_offset(uint8_t *b) { put64(b + 56, 4096); }
static void c_reserved(uint8_t *b) { b[100] = 1; }
static void c_crc(uint8_t *b) { b[508] ^= 1; }
static void c_field_no_crc(uint8_t *b) { b[40] ^= 1; }
static void c_garbage(uint8_t *b)
{
    for (int i = 0; i < 8192; i++)
        b[i] = (uint8_t)(i * 131 + 7);
}
static void c_other_uuid(uint8_t *b)
{
    /* slot 1: the same superblock, generation 2, another uuid */
    memcpy(b + 4096, b, 512);
    put64(b + 4096 + 48, 2);
    b[4096 + 16] ^= 0x55;
    fix_crc(b + 4096);
}
static void c_same_gen(uint8_t *b)
{
    memcpy(b + 4096, b, 512); /* slot 1 = slot 0: both generation 1 */
}

static void dm_case(const char *name, uint32_t version, uint64_t nr, size_t cut, const char *extra,
                    uint64_t regions, const char *why)
{
    uint8_t *img = malloc(dm_len);
    memcpy(img, dm_img, dm_len);
    if (version)
        put32(img + 4, version);
    if (nr)
        put64(img + 8, nr);
    expect_refused(name, img, cut ? cut : dm_len, 1, extra, regions, why);
    free(img);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/dl-bad-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    native_img = make_valid(0, &native_len);
    dm_img = make_valid(1, &dm_len);
    if (!native_img || !dm_img)
        return 1;

    native_case("bad-magic", c_magic, 1, 100, "magic");
    native_case("bad-version", c_version, 0, 100, "version 2");
    native_case("unknown-incompat", c_incompat, 0, 100, "incompatible feature");
    native_case("zero-uuid", c_uuid, 0, 100, "uuid");
    native_case("rs-not-pow2", c_rs_bad, 0, 100, "region_size 1000");
    native_case("rs-mismatch", c_rs_other, 0, 100, "region_size 2048");
    native_case("bad-block-size", c_block, 0, 100, "block size 512");
    native_case("zero-count", c_count0, 0, 100, "region_count 0");
    native_case("count-larger", c_count_more, 0, 100, "200 regions");
    native_case("count-smaller", c_count_less, 0, 100, "grow");
    native_case("bitmap-too-short", c_count_huge, 0, 40000, "truncated");
    native_case("zero-generation", c_gen0, 0, 100, "generation is 0");
    native_case("wrong-slot", c_gen2, 0, 100, "wrong slot");
    native_case("bad-offset", c_offset, 0, 100, "bitmap offset 4096");
    native_case("reserved-set", c_reserved, 0, 100, "reserved");
    native_case("bad-crc", c_crc, 1, 100, "checksum");
    native_case("field-no-crc", c_field_no_crc, 1, 100, "checksum");
    native_case("garbage", c_garbage, 1, 100, "magic");
    native_case("two-uuids", c_other_uuid, 0, 100, "different logs");
    native_case("same-generation", c_same_gen, 1, 100, "both superblock copies");
    expect_refused("truncated", native_img, 8192 + 100, 0, "", 100, "truncated");
    expect_refused("truncated-super", native_img, 300, 0, "", 100, "checksum");
    expect_refused("empty", native_img, 0, 0, "", 100, "empty");
    expect_refused("native-as-dm", native_img, native_len, 1, "", 100, "magic");

    {
        uint8_t *img = malloc(dm_len);
        memcpy(img, dm_img, dm_len);
        img[3] = 0x4E;
        expect_refused("dm-bad-magic", img, dm_len, 1, "", 100, "magic");
        free(img);
    }
    dm_case("dm-version-3", 3, 0, 0, "", 100, "version 3");
    dm_case("dm-version-0", 0xFFFFFFFFu, 0, 0, "", 100, "version 4294967295");
    dm_case("dm-more-regions", 0, 200, 0, "", 100, "shrink");
    dm_case("dm-fewer-regions", 0, 50, 0, "", 100, "grow");
    dm_case("dm-truncated", 0, 0, 1030, "", 100, "truncated");
    dm_case("dm-bitmap-short", 0, 100000, 0, " grow", 100000, "truncated");
    dm_case("dm-one-byte", 0, 0, 1, "", 100, "magic");
    expect_refused("dm-zero-length", dm_img, 0, 1, "", 100, "empty");

    /* Not a file at all. */
    char p[128];
    snprintf(p, sizeof p, "%s/adir", dir);
    mkdir(p, 0755);
    expect_refused("adir", NULL, 0, 0, "", 100, "directory");
    rmdir(p);
    snprintf(p, sizeof p, "%s/afile", dir);
    CHECK_EQ(spit(p, (const uint8_t *)"x", 1), 0);
    expect_refused("afile/log", NULL, 0, 0, "", 100, "Not a directory");
    unlink(p);

    /* An io whose reads fail (the log cannot be read at all). */
    struct memio m;
    memio_init(&m, 0, 0);
    memio_load(&m, native_img, native_len);
    m.read_errno = EIO;
    const char *argv[] = {"unreadable", "1024"};
    dl_log *log = (dl_log *)1;
    CHECK_EQ(dl_log_create_disk_io(100 * 1024, 2, argv, &m.io, &log), -EIO);
    CHECK(log == NULL);
    CHECK(strstr(dl_last_error(), "cannot read") != NULL);
    CHECK_U64(m.writes, 0);
    CHECK(memcmp(m.buf, native_img, native_len) == 0);
    CHECK_EQ(m.closed, 0);
    printf("  %-22s refused: %s\n", "unreadable-io", dl_last_error());
    cases++;
    memio_destroy(&m);

    printf("%d malformed logs refused\n", cases);
    CHECK(cases >= 25);
    free(native_img);
    free(dm_img);
    /* leftovers of the cases */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return test_exit_status("test_disk_badinput");
}
