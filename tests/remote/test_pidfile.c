/* dirtylogd --pidfile: the pid is there once the daemon listens; a second
 * daemon naming the same file refuses to start (and leaves it alone); a
 * clean exit removes it; a stale file (its daemon died) is taken over. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"

TEST_MAIN_DEFINITIONS

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The pid in the file, or -1 if missing or empty. */
static long pid_in(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = -1;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return pid;
}

/* Poll (bounded, 10 s) until the file names want. */
static int wait_pid_in(const char *path, long want)
{
    for (int i = 0; i < 2000; i++) {
        if (pid_in(path) == want)
            return 1;
        nap_ms(5);
    }
    return 0;
}

/* Run a second daemon on another socket with the same pid file; return its
 * exit status (-1 if it did not exit within 10 s) and its stderr in err. */
static int second_daemon(const struct daemon_fx *fx, const char *pidfile, char *err, size_t cap)
{
    char sock[128], errpath[128];
    snprintf(sock, sizeof sock, "%s/second.sock", fx->dir);
    snprintf(errpath, sizeof errpath, "%s/second.err", fx->dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        daemon_exec(fx->binary, (const char *const[]){fx->binary, "-f", "--socket", sock,
                                                      "--log-dir", fx->dir, "--state-dir",
                                                      fx->state_dir, "--pidfile", pidfile, NULL});
        _exit(127);
    }
    int st = -1, done = 0;
    for (int i = 0; i < 2000 && !done; i++) {
        done = waitpid(pid, &st, WNOHANG) == pid;
        if (!done)
            nap_ms(5);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    FILE *f = fopen(errpath, "r");
    size_t n = f ? fread(err, 1, cap - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    unlink(errpath);
    return done && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct daemon_fx fx = {0};
    REQUIRE(daemon_make_dir(&fx) == 0);
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/dirtylogd.pid", fx.dir);

    REQUIRE(daemon_start(&fx, argv[1], (const char *const[]){"--pidfile", pidfile, NULL}) == 0);
    CHECK(wait_pid_in(pidfile, (long)fx.pid));

    char err[1024];
    int st = second_daemon(&fx, pidfile, err, sizeof err);
    CHECK(st > 0);
    CHECK(strstr(err, "held by a running dirtylogd") != NULL);
    char want[64];
    snprintf(want, sizeof want, "pid %ld", (long)fx.pid);
    CHECK(strstr(err, want) != NULL);
    CHECK_EQ(pid_in(pidfile), (long)fx.pid); /* untouched */

    CHECK_EQ(daemon_stop(&fx), 0);
    CHECK(access(pidfile, F_OK) != 0); /* removed at the clean exit */

    /* A stale file: a pid of a process that is gone, no lock held. */
    FILE *f = fopen(pidfile, "w");
    REQUIRE(f != NULL);
    fprintf(f, "999999\n");
    fclose(f);
    REQUIRE(daemon_start(&fx, argv[1], (const char *const[]){"--pidfile", pidfile, NULL}) == 0);
    CHECK(wait_pid_in(pidfile, (long)fx.pid));
    CHECK_EQ(daemon_stop(&fx), 0);
    CHECK(access(pidfile, F_OK) != 0);

    /* Detached (no -f): the lock passes to daemon()'s child, which writes
     * its own pid; a second daemon is still refused; SIGTERM to that pid
     * removes the file. */
    pid_t parent = fork();
    if (parent == 0) {
        daemon_exec(fx.binary, (const char *const[]){fx.binary, "--socket", fx.socket, "--log-dir",
                                                     fx.dir, "--state-dir", fx.state_dir,
                                                     "--pidfile", pidfile, NULL});
        _exit(127);
    }
    st = -1;
    CHECK(waitpid(parent, &st, 0) == parent && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    long child = -1;
    for (int i = 0; i < 2000 && child <= 0; i++) {
        child = pid_in(pidfile);
        if (child <= 0)
            nap_ms(5);
    }
    CHECK(child > 0 && child != (long)parent);
    if (child > 0) {
        CHECK(second_daemon(&fx, pidfile, err, sizeof err) > 0);
        CHECK(strstr(err, "held by a running dirtylogd") != NULL);
        CHECK(kill((pid_t)child, SIGTERM) == 0);
        int gone = 0;
        for (int i = 0; i < 2000 && !gone; i++) {
            gone = access(pidfile, F_OK) != 0;
            if (!gone)
                nap_ms(5);
        }
        CHECK(gone);
    }

    daemon_cleanup(&fx);
    return test_exit_status("test_pidfile");
}
