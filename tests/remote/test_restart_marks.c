/* Every client's acknowledged marks survive a daemon restart (kill -9), even
 * when another client clears the same region (docs/protocol.md "Restarts"):
 * - A and B share a disk log; A marks 5 and flushes; the daemon is killed
 *   and restarted; A reattaches; B clears 5 and flushes: 5 stays dirty.
 * - Only B comes back: its clears are held (no region turns clean) until
 *   the operator releases A; then the held clears are applied.
 * - A corrupt state file: the log is refused with a clear error, not
 *   silently hosted without its clients.
 * Skipped (77) while no "disk" log type is registered. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "dirtylog.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

static struct daemon_fx fx;
static const char *binary;

static dl_log *open_disk(const char *uuid)
{
    char table[512];
    snprintf(table, sizeof table, "userspace 5 %s socket=%s disk %s/%s.log 8", uuid, fx.socket,
             fx.dir, uuid);
    dl_log *log = NULL;
    int r = dl_log_create_table(table, 1024, &log);
    if (r < 0)
        fprintf(stderr, "create '%s': %s (%s)\n", table, dl_strerror(r), dl_last_error());
    else if (dl_log_resume(log) < 0)
        fprintf(stderr, "resume: %s\n", dl_last_error());
    return log;
}

static void restart_daemon(void)
{
    daemon_kill9(&fx);
    CHECK_EQ(daemon_start(&fx, binary, NULL), 0);
}

/* The reproduction of issue 8 §2. */
static void test_both_return(void)
{
    dl_log *a = open_disk("both"), *b = open_disk("both");
    CHECK(a && b);
    if (!a || !b)
        return;
    CHECK_EQ(dl_log_mark_region(a, 5), 0);
    CHECK_EQ(dl_log_flush(a), 0);
    restart_daemon();
    uint64_t n;
    CHECK_EQ(dl_log_get_sync_count(a, &n), 0); /* A reattaches: CTR, its marks, RESUME */
    CHECK_EQ(dl_log_clear_region(b, 5), 0);
    CHECK_EQ(dl_log_flush(b), 0);
    CHECK_EQ(dl_log_is_clean(b, 5), 0); /* A's write is still covered */
    /* A's own clear does clean it. */
    CHECK_EQ(dl_log_clear_region(a, 5), 0);
    CHECK_EQ(dl_log_flush(a), 0);
    CHECK_EQ(dl_log_is_clean(b, 5), 1);
    dl_log_destroy(a);
    dl_log_destroy(b);
}

/* A (a raw client, luid 1001) never comes back after the restart. */
static void test_one_never_returns(void)
{
    int x = daemon_connect(&fx);
    CHECK(x >= 0);
    char path[200], ctr[300];
    snprintf(path, sizeof path, "%s/alone.log", fx.dir);
    snprintf(ctr, sizeof ctr, "1024 disk %s 8", path);
    CHECK_EQ(raw_ctr(x, "alone", 1001, ctr), 0);
    uint8_t p[8], rep[256];
    struct dlw_header h;
    CHECK_EQ(raw_send(x, DLW_RESUME, "alone", 1001, 2, NULL, 0), 0);
    CHECK_EQ(raw_recv(x, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);
    put_le64(p, 5);
    CHECK_EQ(raw_send(x, DLW_FLUSH, "alone", 1001, 3, p, 8), 0); /* mark 5 + flush */
    CHECK_EQ(raw_recv(x, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);

    char table[512];
    snprintf(table, sizeof table, "userspace 5 alone socket=%s disk %s 8", fx.socket, path);
    dl_log *b = NULL;
    CHECK_EQ(dl_log_create_table(table, 1024, &b), 0);
    if (!b) {
        close(x);
        return;
    }
    CHECK_EQ(dl_log_resume(b), 0);
    CHECK_EQ(dl_log_mark_region(b, 7), 0);
    CHECK_EQ(dl_log_flush(b), 0);

    restart_daemon();
    close(x); /* A is gone for good */
    CHECK_EQ(dl_log_clear_region(b, 5), 0); /* not B's mark: held */
    CHECK_EQ(dl_log_clear_region(b, 7), 0); /* B's own: held too (no region turns clean) */
    CHECK_EQ(dl_log_flush(b), 0);
    CHECK_EQ(dl_log_is_clean(b, 5), 0);
    CHECK_EQ(dl_log_is_clean(b, 7), 0);
    /* A wrong tag names nobody. */
    char spec[64];
    snprintf(spec, sizeof spec, "alone:%08x", (unsigned)(dl__wire_client_tag(1001) ^ 1u));
    CHECK(daemon_release(&fx, spec) != 0);
    CHECK_EQ(dl_log_is_clean(b, 5), 0);
    /* The operator releases A by its tag: the grace ends, the held clears
     * apply (neither region is marked by anyone now). */
    snprintf(spec, sizeof spec, "alone:%08x", (unsigned)dl__wire_client_tag(1001));
    CHECK_EQ(daemon_release(&fx, spec), 0);
    CHECK_EQ(dl_log_is_clean(b, 5), 1);
    CHECK_EQ(dl_log_is_clean(b, 7), 1);
    /* After the grace, clears apply at once again. */
    CHECK_EQ(dl_log_mark_region(b, 9), 0);
    CHECK_EQ(dl_log_flush(b), 0);
    CHECK_EQ(dl_log_clear_region(b, 9), 0);
    CHECK_EQ(dl_log_flush(b), 0);
    CHECK_EQ(dl_log_is_clean(b, 9), 1);
    dl_log_destroy(b);
}

/* A state file that does not check out: its log is refused, loudly. */
static void test_corrupt_state(void)
{
    dl_log *a = open_disk("corrupt");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_EQ(dl_log_mark_region(a, 3), 0);
    CHECK_EQ(dl_log_flush(a), 0);
    daemon_kill9(&fx);
    /* "corrupt" is Y29ycnVwdA in base64url: flip one byte of its file. */
    char path[256];
    snprintf(path, sizeof path, "%s/log-Y29ycnVwdA.state", fx.state_dir);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t byte = 0;
    CHECK_EQ(pread(fd, &byte, 1, 20), 1);
    byte ^= 0x40;
    CHECK_EQ(pwrite(fd, &byte, 1, 20), 1);
    close(fd);
    CHECK_EQ(daemon_start(&fx, binary, NULL), 0);
    uint64_t n;
    CHECK_EQ(dl_log_get_sync_count(a, &n), -EIO); /* its re-CTR is refused */
    CHECK(strstr(dl_last_error(), "checksum") != NULL);
    int x = daemon_connect(&fx);
    char ctr[300];
    snprintf(ctr, sizeof ctr, "1024 disk %s/corrupt.log 8", fx.dir);
    CHECK_EQ(raw_ctr(x, "corrupt", 5, ctr), -EIO); /* nor hosted for anyone else */
    close(x);
    dl_log_destroy(a);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!dl_find_type("disk")) {
        printf("SKIP: no \"disk\" log type registered yet\n");
        return 77;
    }
    binary = argv[1];
    setenv("DIRTYLOG_RECONNECT_MS", "10000", 1);
    if (daemon_start(&fx, binary, NULL) < 0)
        return 1;
    test_both_return();
    test_one_never_returns();
    test_corrupt_state();
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_restart_marks");
}
