/* The daemon's state files (tools/dirtylogd/state.c, docs/protocol.md
 * "State files"): a round trip, every byte covered by the checks (a flipped
 * bit anywhere is refused), truncation and extension refused, names that
 * encode any uuid reversibly, atomic saves found again by a scan, and the
 * overlap test of the state and log directories. No daemon needed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/check.h"
#include "state.h"

TEST_MAIN_DEFINITIONS

static void sample(struct dld_state *st, const char *uuid, uint32_t n)
{
    memset(st, 0, sizeof *st);
    snprintf(st->uuid, sizeof st->uuid, "%s", uuid);
    st->ctr = "2097152 disk /var/lib/app/m.log 1024";
    st->owner_uid = 1000;
    st->nsessions = n;
    st->sessions = calloc(n ? n : 1, sizeof *st->sessions);
    for (uint32_t i = 0; i < n; i++) {
        st->sessions[i].luid = 0x0123456789abcdefull * (i + 1);
        st->sessions[i].uid = 1000 + i;
    }
}

static void test_round_trip_and_corruption(void)
{
    struct dld_state st, back;
    sample(&st, "db1", 3);
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    CHECK_EQ(dld_state_encode(&st, &buf, &len), 0);
    CHECK_U64(len, 16 + 12 + 3 + strlen(st.ctr) + 3 * 16 + 4);
    CHECK(memcmp(buf, "DLDSTATE", 8) == 0);
    CHECK_EQ(dld_state_decode(buf, len, &back, err, sizeof err), 0);
    CHECK_STR(back.uuid, "db1");
    CHECK_STR(back.ctr, st.ctr);
    CHECK_EQ(back.owner_uid, 1000);
    CHECK_EQ(back.nsessions, 3);
    for (uint32_t i = 0; i < 3 && back.sessions; i++) {
        CHECK_U64(back.sessions[i].luid, st.sessions[i].luid);
        CHECK_EQ(back.sessions[i].uid, st.sessions[i].uid);
    }
    dld_state_free(&back);
    /* one flipped bit anywhere is refused */
    unsigned refused = 0;
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x10;
        if (dld_state_decode(buf, len, &back, err, sizeof err) == -EBADMSG)
            refused++;
        else
            dld_state_free(&back);
        buf[i] ^= 0x10;
    }
    CHECK_U64(refused, len);
    CHECK_EQ(dld_state_decode(buf, len - 1, &back, err, sizeof err), -EBADMSG);
    uint8_t *longer = calloc(1, len + 1);
    memcpy(longer, buf, len);
    CHECK_EQ(dld_state_decode(longer, len + 1, &back, err, sizeof err), -EBADMSG);
    free(longer);
    free(buf);
    free(st.sessions);
}

static void test_names(void)
{
    char name[DLD_STATE_NAME_MAX];
    dld_state_file_name("corrupt", name);
    CHECK_STR(name, "log-Y29ycnVwdA.state");
    char uuid[DLW_UUID_SIZE];
    memset(uuid, 0xff, sizeof uuid - 1); /* the longest uuid, every byte 0xff */
    uuid[sizeof uuid - 1] = '\0';
    dld_state_file_name(uuid, name);
    CHECK(strlen(name) < 255);
    CHECK(strchr(name, '/') == NULL);
}

/* Saves land in the directory, a scan finds them again (a leftover temp
 * file is removed, a corrupt file is reported with its uuid). */
struct seen {
    unsigned good, bad;
    char bad_uuid[DLW_UUID_SIZE];
};

static void on_file(void *arg, const char *uuid, const struct dld_state *st, int error,
                    const char *err)
{
    struct seen *s = arg;
    (void)err;
    if (error == 0 && st && strcmp(st->uuid, uuid) == 0)
        s->good++;
    else if (error < 0) {
        s->bad++;
        snprintf(s->bad_uuid, sizeof s->bad_uuid, "%s", uuid);
    }
}

static void test_save_scan(void)
{
    char dir[] = "/tmp/dl-state-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    struct dld_state a, b;
    sample(&a, "a/with slash", 1);
    sample(&b, "b", 2);
    char err[256];
    CHECK_EQ(dld_state_save(dfd, &a, err, sizeof err), 0);
    CHECK_EQ(dld_state_save(dfd, &b, err, sizeof err), 0);
    CHECK_EQ(dld_state_save(dfd, &b, err, sizeof err), 0); /* replaced, not added */
    /* a crash between temp file and rename leaves a .tmp: ignored, removed */
    int t = openat(dfd, "log-Yg.state.tmp", O_WRONLY | O_CREAT, 0600);
    CHECK(t >= 0);
    close(t);
    /* a torn file for uuid "c" */
    t = openat(dfd, "log-Yw.state", O_WRONLY | O_CREAT, 0600);
    CHECK_EQ(write(t, "DLDSTATE", 8), 8);
    close(t);
    struct seen s = {0};
    CHECK_EQ(dld_state_scan(dfd, on_file, &s), 0);
    CHECK_EQ(s.good, 2);
    CHECK_EQ(s.bad, 1);
    CHECK_STR(s.bad_uuid, "c");
    CHECK(faccessat(dfd, "log-Yg.state.tmp", F_OK, 0) != 0);
    CHECK_EQ(dld_state_remove(dfd, "a/with slash", err, sizeof err), 0);
    CHECK_EQ(dld_state_remove(dfd, "b", err, sizeof err), 0);
    CHECK_EQ(dld_state_remove(dfd, "b", err, sizeof err), 0); /* already gone: fine */
    CHECK_EQ(dld_state_remove(dfd, "c", err, sizeof err), 0);
    close(dfd);
    CHECK_EQ(rmdir(dir), 0); /* nothing left behind */
    free(a.sessions);
    free(b.sessions);
}

static void test_overlap(void)
{
    CHECK_EQ(dld_state_dirs_overlap("/var/lib/dirtylogd/state", "/var/lib/dirtylogd/logs"), 0);
    CHECK_EQ(dld_state_dirs_overlap("/var/lib/x", "/var/lib/x"), 1);
    CHECK_EQ(dld_state_dirs_overlap("/var/lib/x/", "/var/lib/x/state"), 1);
    CHECK_EQ(dld_state_dirs_overlap("/var/lib/x/state", "/var/lib/x"), 1);
    CHECK_EQ(dld_state_dirs_overlap("/var/lib/xy", "/var/lib/x"), 0);
    CHECK_EQ(dld_state_dirs_overlap("/", "/srv/logs"), 1);
    /* through a symlink */
    char dir[] = "/tmp/dl-overlap-XXXXXX", sub[64], link[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof sub, "%s/logs", dir);
    snprintf(link, sizeof link, "%s/alias", dir);
    CHECK_EQ(mkdir(sub, 0700), 0);
    CHECK_EQ(symlink(sub, link), 0);
    CHECK_EQ(dld_state_dirs_overlap(link, sub), 1);
    unlink(link);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    test_round_trip_and_corruption();
    test_names();
    test_save_scan();
    test_overlap();
    return test_exit_status("test_state");
}
