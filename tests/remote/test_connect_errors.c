/* The client's first error names what is wrong with the daemon's socket
 * (src/remote/client_conn.c, dl__rc_connect_reason), not a bare errno:
 * no socket there (ENOENT), nothing listening (ECONNREFUSED), not a socket
 * (ENOTSOCK), permission denied (EACCES), each with a hint. The same
 * reasons come from `dirtylogd --list` (its admin client; the daemon's
 * path is argv[1]). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h" /* daemon_exec */
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

static char dir[64];

/* Open a userspace log on `sock`; it must fail with `err` and a message
 * holding both `what` and `hint`. Returns 1 if all held. */
static int expect_failure(const char *sock, int err, const char *what, const char *hint)
{
    char table[256];
    snprintf(table, sizeof table, "userspace 4 ce socket=%s core 8", sock);
    dl_log *log = NULL;
    int r = dl_log_create_table(table, 1024, &log);
    const char *msg = dl_last_error();
    int ok = r == err && strstr(msg, "cannot reach dirtylogd at ") && strstr(msg, sock) &&
             strstr(msg, what) && strstr(msg, hint);
    if (!ok)
        fprintf(stderr, "%s: got %d (%s) '%s', expected %d with '%s' and '%s'\n", sock, r,
                dl_strerror(r), msg, err, what, hint);
    if (log)
        dl_log_destroy(log);
    return ok;
}

/* `dirtylogd --socket sock --list` fails (exit 1) and says `what` on stderr. */
static int list_says(const char *binary, const char *sock, const char *what)
{
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/list.err", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        daemon_exec(binary, (const char *const[]){binary, "--socket", sock, "--list", NULL});
        _exit(127);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    char err[1024] = "";
    FILE *f = fopen(errpath, "r");
    if (f) {
        err[fread(err, 1, sizeof err - 1, f)] = '\0';
        fclose(f);
    }
    unlink(errpath);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(err, "cannot reach dirtylogd at ") &&
             strstr(err, sock) && strstr(err, what);
    if (!ok)
        fprintf(stderr, "dirtylogd --list on %s: status %d, stderr '%s'\n", sock, st, err);
    return ok;
}

static int make_socket(const char *path, int do_listen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (do_listen && listen(fd, 4) < 0))
        return -1;
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    setenv("DIRTYLOG_RECONNECT_MS", "50", 1);
    snprintf(dir, sizeof dir, "/tmp/dl-connerr-XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    char path[128];

    /* ENOENT: no socket at all (the most common first error). */
    snprintf(path, sizeof path, "%s/missing.sock", dir);
    CHECK(expect_failure(path, -ENOENT, "no such socket", "is dirtylogd running?"));
    CHECK(list_says(argv[1], path, "no such socket (is dirtylogd running?"));

    /* ECONNREFUSED: a socket file nobody listens on (a daemon that died). */
    snprintf(path, sizeof path, "%s/stale.sock", dir);
    int fd = make_socket(path, 0);
    CHECK(fd >= 0);
    CHECK(expect_failure(path, -ECONNREFUSED, "nothing listens on this socket",
                         "is dirtylogd running?"));
    CHECK(list_says(argv[1], path, "nothing listens on this socket"));
    close(fd);

    /* ENOTSOCK: the path names a regular file. */
    snprintf(path, sizeof path, "%s/file", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK(expect_failure(path, -ENOTSOCK, "not a socket", "--socket"));
    CHECK(list_says(argv[1], path, "not a socket"));

    /* EACCES: a listening socket this user may not write to. As root (who
     * may write anywhere) the check runs in a child that drops to nobody. */
    snprintf(path, sizeof path, "%s/private.sock", dir);
    fd = make_socket(path, 1);
    CHECK(fd >= 0 && chmod(path, 0600) == 0);
    if (geteuid() != 0) {
        CHECK(chmod(path, 0) == 0);
        CHECK(expect_failure(path, -EACCES, "permission denied", "--group"));
    } else {
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) < 0 || setuid(65534) < 0)
                _exit(3);
            _exit(expect_failure(path, -EACCES, "permission denied", "--group") ? 0 : 1);
        }
        int st = -1;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    close(fd);

    unlink(path);
    snprintf(path, sizeof path, "%s/stale.sock", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/file", dir);
    unlink(path);
    rmdir(dir);
    return test_exit_status("test_connect_errors");
}
