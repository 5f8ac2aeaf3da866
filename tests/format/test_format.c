/* The on-disk formats are the same bytes on every architecture: this test
 * writes the same logs (native and dm format) through the library and
 * compares every byte with expected values checked in below, which were
 * taken from x86_64 and are the same on s390x (big-endian), armhf and i386
 * (32-bit) and musl (.ci/cross runs it on each).
 *
 * What is compared: a 64-bit FNV-1a hash of the whole file, and its size.
 * The native format's uuid is random at creation (the library has no way to
 * fix it), so the hash skips the 16 uuid bytes and the crc32c of each
 * written superblock record (offsets 16..31 and 508..511 of slot 0 and 1);
 * those are checked instead: the uuid is an RFC 4122 version 4 one and the
 * crc32c covers the record with it. The dm format has no uuid: all bytes.
 *
 * After an intended format change, DL_FORMAT_PRINT=1 prints the new values
 * (and each file's non-zero bytes, to review against docs/disk-format.md). */
#define _POSIX_C_SOURCE 200809L
#include <dirtylog.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "disk/crc32c.h"

TEST_MAIN_DEFINITIONS

#define REGION_SECTORS 8
#define TARGET_SECTORS (999 * REGION_SECTORS + 3) /* 1000 regions, the last one partial */
#define REGIONS 1000
#define NATIVE_SLOT_BYTES 4096
#define NATIVE_RECORD_BYTES 512

struct expected {
    const char *name;
    const char *flags; /* table words after the region size */
    int native;
    int reopen; /* then opened again without a flag, region 777 marked */
    uint64_t size;
    uint64_t hash;
};

/* Per format: a new log in sync (nosync) and out of sync (sync), after the
 * same marks, clears and resync results; and the first one opened again
 * (what it says on disk is loaded) with one more mark. */
static const struct expected logs[] = {
    {"native-nosync", "nosync", 1, 0, 12288, UINT64_C(0x5e7d8f5fad592ba0)},
    {"native-sync", "sync", 1, 0, 12288, UINT64_C(0xfae4862a101d4285)},
    {"native-reopened", "nosync", 1, 1, 12288, UINT64_C(0xefa66f5b7f955496)},
    {"dm-nosync", "format=dm nosync", 0, 0, 1536, UINT64_C(0x10e9a63691d27c09)},
    {"dm-sync", "format=dm sync", 0, 0, 1536, UINT64_C(0x7e899465cfdeebe0)},
    {"dm-reopened", "format=dm nosync", 0, 1, 1536, UINT64_C(0x95f92fe8aef3ef13)},
};

static const uint64_t marked[] = {0, 1, 7, 8, 63, 64, 65, 500, 998, 999};
static const uint64_t marked_then_cleared[] = {2, 9, 640};
static const uint64_t resync_failed[] = {3, 511, 512}; /* set_region_sync(r, 0) */
static const uint64_t resync_done[] = {4, 100}; /* set_region_sync(r, 1) */

static char dir[] = "/tmp/dl-format-XXXXXX";

#define COUNT(a) (sizeof(a) / sizeof *(a))

static dl_log *open_log(const char *path, const char *flags)
{
    char table[256];
    unsigned argc = 2 + (flags[0] ? 1 : 0) + (strchr(flags, ' ') ? 1 : 0);
    snprintf(table, sizeof table, "disk %u %s %d %s", argc, path, REGION_SECTORS, flags);
    dl_log *log = NULL;
    if (dl_log_create_table(table, TARGET_SECTORS, &log) < 0) {
        fprintf(stderr, "%s: %s\n", table, dl_last_error());
        return NULL;
    }
    CHECK_EQ(dl_log_resume(log), 0);
    return log;
}

static int write_log(const struct expected *e, const char *path)
{
    dl_log *log = open_log(path, e->flags);
    if (!log)
        return -1;
    for (size_t i = 0; i < COUNT(marked); i++)
        CHECK_EQ(dl_log_mark_region(log, marked[i]), 0);
    for (size_t i = 0; i < COUNT(marked_then_cleared); i++)
        CHECK_EQ(dl_log_mark_region(log, marked_then_cleared[i]), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    for (size_t i = 0; i < COUNT(marked_then_cleared); i++)
        CHECK_EQ(dl_log_clear_region(log, marked_then_cleared[i]), 0);
    for (size_t i = 0; i < COUNT(resync_failed); i++)
        CHECK_EQ(dl_log_set_region_sync(log, resync_failed[i], 0), 0);
    for (size_t i = 0; i < COUNT(resync_done); i++)
        CHECK_EQ(dl_log_set_region_sync(log, resync_done[i], 1), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    dl_log_destroy(log);
    if (e->reopen) {
        log = open_log(path, e->native ? "" : "format=dm");
        if (!log)
            return -1;
        CHECK_EQ(dl_log_mark_region(log, 777), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        dl_log_destroy(log);
    }
    return 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    *len = (size_t)st.st_size;
    unsigned char *buf = malloc(*len ? *len : 1);
    if (buf && pread(fd, buf, *len, 0) != (ssize_t)*len) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    return buf;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* The native superblock slots: a written record has a valid version 4 uuid
 * and a crc32c over it; then both are zeroed for the hash. */
static void check_and_mask_native(const char *name, unsigned char *buf, size_t len)
{
    unsigned written = 0;
    for (unsigned slot = 0; slot < 2; slot++) {
        unsigned char *rec = buf + slot * NATIVE_SLOT_BYTES;
        if ((size_t)(slot + 1) * NATIVE_SLOT_BYTES > len || all_zero(rec, NATIVE_RECORD_BYTES))
            continue;
        written++;
        unsigned char *uuid = rec + 16, *crc = rec + 508;
        CHECK(!all_zero(uuid, 16));
        CHECK_EQ(uuid[6] >> 4, 4);      /* version 4 */
        CHECK_EQ(uuid[8] & 0xC0, 0x80); /* RFC 4122 variant */
        uint32_t want = dl__crc32c(0, rec, 508);
        uint32_t got = (uint32_t)crc[0] | (uint32_t)crc[1] << 8 | (uint32_t)crc[2] << 16 |
                       (uint32_t)crc[3] << 24; /* little-endian */
        if (got != want)
            fprintf(stderr, "%s: slot %u crc32c %08" PRIx32 ", computed %08" PRIx32 "\n", name,
                    slot, got, want);
        CHECK(got == want);
        memset(uuid, 0, 16);
        memset(crc, 0, 4);
    }
    CHECK(written >= 1);
}

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void print_nonzero(const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i])
            printf("    %6zu: %02x\n", i, buf[i]);
}

static void check_log(const struct expected *e, int print)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s.log", dir, e->name);
    CHECK_EQ(write_log(e, path), 0);
    size_t len = 0;
    unsigned char *buf = read_all(path, &len);
    CHECK(buf != NULL);
    if (!buf)
        return;
    if (e->native)
        check_and_mask_native(e->name, buf, len);
    uint64_t h = fnv1a64(buf, len);
    if (print || h != e->hash || len != e->size) {
        printf("%s: size %zu (expected %" PRIu64 "), hash 0x%016" PRIx64 " (expected 0x%016" PRIx64
               ")\n",
               e->name, len, e->size, h, e->hash);
        if (print)
            print_nonzero(buf, len);
    }
    CHECK_U64(len, e->size);
    CHECK_U64(h, e->hash);
    free(buf);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *p = getenv("DL_FORMAT_PRINT");
    int print = p && strcmp(p, "1") == 0;
    for (size_t i = 0; i < COUNT(logs); i++)
        check_log(&logs[i], print);
    rmdir(dir);
    return test_exit_status("test_format");
}
