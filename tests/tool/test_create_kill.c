/* An interrupted creation leaves nothing behind (issue 8 §4): start
 * `dirtylog create` of a log whose bitmap must be written in full (512 MiB
 * of ones), wait until it has written a few MiB (its write counter in
 * /proc/<pid>/io, polled with a deadline) while the new file is open, kill it
 * with SIGKILL, and check that its directory is empty: no log, no temporary
 * file. Both formats.
 *   test_create_kill <dirtylog binary>
 * Exits 77 (skipped) where /proc/<pid>/io cannot be read. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h" /* daemon_exec: through $DL_TEST_EMULATOR */

TEST_MAIN_DEFINITIONS

#define PROGRESS_BYTES (4u << 20)
#define DEADLINE_S 60

/* The write counter of pid (bytes passed to write calls), or -1. */
static long long written_by(pid_t pid)
{
    char p[64], line[128];
    snprintf(p, sizeof p, "/proc/%ld/io", (long)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* Entries of dir other than . and .. (their names printed). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            fprintf(stderr, "left behind: %s/%s\n", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1: killed mid-creation and checked; 0: failed; 77: cannot observe. */
static int kill_one(const char *dirtylog, const char *format, const char *sync)
{
    char dir[] = "/tmp/dl-kill-XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 0;
    }
    snprintf(path, sizeof path, "%s/big.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        /* 2^32 regions: 512 MiB of bitmap, all ones (must be written). */
        daemon_exec(dirtylog, (const char *const[]){dirtylog, "create", "--format", format, sync,
                                                    "--max-bitmap", "1G", path, "16T", "8", NULL});
        _exit(127);
    }
    if (pid < 0)
        return 0;
    int result = 0;
    double deadline = now_s() + DEADLINE_S;
    long long w = 0;
    int status = 0, exited = 0;
    /* Poll its progress: no sleep decides anything, the counter does. */
    while (now_s() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        w = written_by(pid);
        if (w < 0 || w >= PROGRESS_BYTES)
            break;
        struct timespec pause = {0, 200000}; /* 0.2 ms between looks */
        nanosleep(&pause, NULL);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (w < 0 && !exited) {
        printf("SKIP: cannot read /proc/%ld/io\n", (long)pid);
        result = 77;
    } else if (exited || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "%s: dirtylog create ended before it could be killed (status 0x%x)\n",
                format, status);
    } else {
        printf("%s %s: killed after %lld bytes written\n", format, sync, w);
        CHECK(w >= PROGRESS_BYTES);
        CHECK_EQ(entries(dir), 0);
        result = 1;
    }
    unlink(path);
    if (rmdir(dir) != 0)
        fprintf(stderr, "cannot remove %s: %s\n", dir, strerror(errno));
    return result;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_create_kill <dirtylog>\n");
        return 2;
    }
    int a = kill_one(argv[1], "native", "--sync");
    int b = a == 77 ? 77 : kill_one(argv[1], "dm", "--nosync");
    if (a == 77 || b == 77)
        return test_failures ? 1 : 77;
    CHECK_EQ(a, 1);
    CHECK_EQ(b, 1);
    return test_exit_status("test_create_kill");
}
