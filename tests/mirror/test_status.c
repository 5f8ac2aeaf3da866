/* Unit test of the live status file (examples/mirror/status.h): every field
 * round-trips, unknown keys are ignored, anything malformed is refused with
 * a reason, the publisher throttles and writes atomically. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "status.h"

TEST_MAIN_DEFINITIONS

static char dir[512], path[600];

static void write_text(const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int read_err(const char *text, const char *why)
{
    struct mirror_status s;
    char err[700];
    write_text(text);
    int r = mirror_status_read(path, &s, err, sizeof err);
    if (!strstr(err, why)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, why);
        test_failures++;
    }
    return r;
}

static void test_round_trip(void)
{
    struct mirror_status w = {
        .pid = 4242, .updated_ms = 1796072626824, .size = 1ull << 40, .region_bytes = 65536,
        .region_count = 16777216, .in_sync = 100, .dirty = 8, .resync_total = 16777216,
        .resync_regions = 100, .resync_bytes = 6553600, .resync_rate = 123456789,
        .resync_eta = 3600, .writes = UINT64_MAX, .write_bytes = 7, .reads = 9,
    };
    strcpy(w.writer, "nbdkit-dlmirror-plugin");
    strcpy(w.state, "resyncing");
    CHECK_EQ(mirror_status_write(path, &w), 0);
    struct mirror_status r;
    char err[700] = "";
    CHECK_EQ(mirror_status_read(path, &r, err, sizeof err), 0);
    CHECK(memcmp(&w, &r, sizeof w) == 0); /* no padding: members are 8 bytes or multiples */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0); /* renamed away */
    w.resync_rate = w.resync_eta = -1;
    CHECK_EQ(mirror_status_write(path, &w), 0);
    CHECK_EQ(mirror_status_read(path, &r, err, sizeof err), 0);
    CHECK_EQ(r.resync_rate, -1);
    CHECK_EQ(r.resync_eta, -1);
}

static void test_malformed(void)
{
    const char *ok = "dlmirror-status 1\nwriter w\nstate serving\npid 1\nupdated_ms 2\n";
    struct mirror_status s;
    char err[700], text[8192];
    write_text(ok);
    CHECK_EQ(mirror_status_read(path, &s, err, sizeof err), 0);
    CHECK_EQ(s.resync_rate, -1); /* absent: unknown */
    snprintf(text, sizeof text, "%sa_newer_key 12 and words\n", ok);
    write_text(text);
    CHECK_EQ(mirror_status_read(path, &s, err, sizeof err), 0);
    CHECK_EQ(read_err("dlmirror-status 2\n", "not a version 1"), -EINVAL);
    CHECK_EQ(read_err("", "not a version 1"), -EINVAL);
    CHECK_EQ(read_err("dlmirror-status 1\nwriter w\nstate s\npid 1\n", "lacks"), -EINVAL);
    snprintf(text, sizeof text, "%spid -1\n", ok);
    CHECK_EQ(read_err(text, "line 6 is not"), -EINVAL);
    snprintf(text, sizeof text, "%sdirty 18446744073709551616\n", ok);
    CHECK_EQ(read_err(text, "line 6 is not"), -EINVAL);
    snprintf(text, sizeof text, "%sresync_eta -2\n", ok);
    CHECK_EQ(read_err(text, "line 6 is not"), -EINVAL);
    snprintf(text, sizeof text, "%sreads 5", ok); /* no newline: a cut file */
    CHECK_EQ(read_err(text, "cut short"), -EINVAL);
    snprintf(text, sizeof text, "%snospace\n", ok);
    CHECK_EQ(read_err(text, "line 6 is not"), -EINVAL);
    snprintf(text, sizeof text, "%swriter 0123456789012345678901234567890123456789\n", ok);
    CHECK_EQ(read_err(text, "line 6 is not"), -EINVAL); /* longer than the field */
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    memcpy(text, ok, strlen(ok));
    CHECK_EQ(read_err(text, "longer than 4096 bytes"), -EFBIG);
    unlink(path);
    CHECK_EQ(mirror_status_read(path, &s, err, sizeof err), -ENOENT);
}

static void test_publisher(void)
{
    struct mirror m = {.size = 1 << 20, .region_bytes = 65536, .region_count = 16};
    struct status_publisher p;
    status_publisher_init(&p, path, "dlmirror-resync", 3600000); /* an hour */
    struct mirror_status s = {.resync_total = 16, .resync_regions = 4, .resync_bytes = 262144};
    strcpy(s.state, "resyncing");
    CHECK_EQ(status_publish(&p, &m, &s, 0), 1); /* the first is always due */
    s.resync_regions = 5;
    CHECK_EQ(status_publish(&p, &m, &s, 0), 0); /* throttled */
    struct mirror_status r;
    char err[700];
    CHECK_EQ(mirror_status_read(path, &r, err, sizeof err), 0);
    CHECK_U64(r.resync_regions, 4);
    CHECK_U64(r.pid, (uint64_t)getpid());
    CHECK_U64(r.region_count, 16);
    CHECK_STR(r.writer, "dlmirror-resync");
    strcpy(s.state, "stopped");
    CHECK_EQ(status_publish(&p, &m, &s, 1), 1); /* forced */
    CHECK_EQ(mirror_status_read(path, &r, err, sizeof err), 0);
    CHECK_STR(r.state, "stopped");
    CHECK_U64(r.resync_regions, 5);
    status_publisher_init(&p, "/nonexistent-dir/status", "x", 1);
    CHECK(status_publish(&p, &m, &s, 1) < 0);
    CHECK_EQ(p.failed, 1);
    status_publisher_init(&p, NULL, "x", 1); /* no file: nothing to do */
    CHECK_EQ(status_publish(&p, &m, &s, 1), 0);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dlmirror-status-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/status", dir);
    test_round_trip();
    test_malformed();
    test_publisher();
    unlink(path);
    rmdir(dir);
    return test_exit_status("test_status");
}
