/* Sessions belong to their connection and peer uid, logs to the uid that
 * created them (issue 8 §3):
 * - a CTR from another connection for an attached session: -EBUSY;
 * - a CTR from another uid for a session, attached or detached: -EACCES;
 * - a CTR from another uid (not root) for a log: -EACCES;
 * - ADMIN_RELEASE from neither root nor the log's owner: -EACCES;
 * - -v shows a client's pid, uid and tag, never its luid.
 * The uid cases need root (a setuid child, as test_peer_uid); without root
 * they are skipped visibly and the -EBUSY case still runs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

#define OTHER_UID 65534
#define CTR "1024 core 8"

static struct daemon_fx fx;

/* ADMIN_RELEASE of every detached session of uuid; the reply's error. */
static int raw_release_all(int fd, const char *uuid)
{
    struct dlw_header h;
    char rep[256];
    if (raw_send(fd, DLW_ADMIN_RELEASE, uuid, 0, 9, NULL, 0) < 0 ||
        raw_recv(fd, &h, rep, sizeof rep) != 1)
        return -1000;
    return h.error;
}

/* Run fn() in a child under OTHER_UID; its result (an errno value >= 0, or
 * 200+ for a setup failure). */
static int as_other(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(OTHER_UID) < 0 || setuid(OTHER_UID) < 0)
            _exit(200);
        _exit(fn());
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 201;
}

/* A result as an exit code: -e for -errno, 0 for 0, 202 for anything else. */
static int code(int e) { return e <= 0 && e > -200 ? -e : 202; }

static int other_ctr_root_log(void)
{
    int fd = daemon_connect(&fx);
    return fd < 0 ? 203 : code(raw_ctr(fd, "rootlog", 42, CTR));
}

static int other_release_root_log(void)
{
    int fd = daemon_connect(&fx);
    return fd < 0 ? 203 : code(raw_release_all(fd, "rootlog"));
}

/* The other uid creates its own log (session 7, attached) and, as its
 * owner, may release its detached sessions (0 or 1 of them here: when the
 * daemon notices the hang-up of session 8 is its own business). */
static int other_own_log(void)
{
    int fd = daemon_connect(&fx), x = daemon_connect(&fx);
    if (fd < 0 || x < 0 || raw_ctr(fd, "theirs", 7, CTR) != 0 || raw_ctr(x, "theirs", 8, CTR) != 0)
        return 204;
    close(x);
    return code(raw_release_all(fd, "theirs"));
}

/* -v names clients by pid, uid and tag, never by luid (the session key). */
#define SECRET_LUID 0x5eed5eed5eed5eedull

static void test_verbose_hides_luids(const char *log_path)
{
    int a = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(a, "quiet", SECRET_LUID, CTR), 0);
    close(a);
    a = daemon_connect(&fx);
    CHECK_EQ(raw_ctr_reattach(a, "quiet", SECRET_LUID, CTR), 0);
    close(a);
    CHECK_EQ(daemon_stop(&fx), 0); /* everything it had to say is in the file */
    char buf[65536], hex[32], dec[32], tag[16];
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    snprintf(hex, sizeof hex, "%llx", SECRET_LUID);
    snprintf(dec, sizeof dec, "%llu", SECRET_LUID);
    snprintf(tag, sizeof tag, "%08x", (unsigned)dl__wire_client_tag(SECRET_LUID));
    CHECK(strstr(buf, "new client") != NULL); /* it did log the client */
    CHECK(strstr(buf, tag) != NULL);
    CHECK(strstr(buf, hex) == NULL);
    CHECK(strstr(buf, dec) == NULL);
}

static void test_busy(void)
{
    int a = daemon_connect(&fx), b = daemon_connect(&fx);
    CHECK(a >= 0 && b >= 0);
    CHECK_EQ(raw_ctr(a, "busy", 11, CTR), 0);
    CHECK_EQ(raw_ctr(b, "busy", 11, CTR), -EBUSY); /* a's session, a is alive */
    CHECK_EQ(raw_ctr(a, "busy", 11, CTR), 0);      /* its own connection again: fine */
    uint64_t clean = 9;
    CHECK_EQ(raw_region(b, DLW_IS_CLEAN, "busy", 11, 1, &clean), -ENOENT); /* not b's */
    CHECK_EQ(raw_region(a, DLW_IS_CLEAN, "busy", 11, 1, &clean), 0);
    close(a);
    close(b);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *extra[] = {"--allow-uid", "0,65534", NULL};
    char log_path[] = "/tmp/dl-verbose-XXXXXX";
    int lfd = mkstemp(log_path);
    if (lfd < 0)
        return 1;
    close(lfd);
    const char *verbose[] = {"-v", NULL};
    fx.stderr_path = log_path;
    if (daemon_start(&fx, argv[1], verbose) < 0)
        return 1;
    test_verbose_hides_luids(log_path);
    unlink(log_path);
    fx.stderr_path = NULL;
    if (daemon_start(&fx, argv[1], extra) < 0)
        return 1;
    test_busy();
    if (geteuid() != 0) {
        printf("SKIP (partly): the uid cases need root to run a client under another uid\n");
    } else {
        chmod(fx.dir, 0711);
        chmod(fx.socket, 0666);
        int root = daemon_connect(&fx);
        CHECK_EQ(raw_ctr(root, "rootlog", 42, CTR), 0);
        /* another uid: not on root's log, not as root's session (attached or not) */
        CHECK_EQ(as_other(other_ctr_root_log), EACCES);
        CHECK_EQ(as_other(other_release_root_log), EACCES);
        close(root);
        CHECK_EQ(as_other(other_ctr_root_log), EACCES); /* now detached */

        /* its own log is its own: it may release there */
        CHECK_EQ(as_other(other_own_log), 0);
        /* root may join any log, but not take over another uid's session */
        int r2 = daemon_connect(&fx);
        CHECK_EQ(raw_ctr(r2, "theirs", 7, CTR), -EACCES);
        CHECK_EQ(raw_ctr(r2, "theirs", 99, CTR), 0);
        CHECK_EQ(raw_release_all(r2, "theirs"), 0); /* root may release */
        close(r2);
    }
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_ownership");
}
