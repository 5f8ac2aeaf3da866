/* Crash consistency of the write-intent layer over a persistent log.
 *
 * A child process creates the layer over a log, begins writes and reports
 * over a pipe every write whose begin RETURNED (acknowledged), every end,
 * and every flush pass; then it is killed with SIGKILL (no postsuspend, no
 * destroy). The parent reopens the same log and checks:
 *   every region with a write begun-and-acknowledged and not cleared by a
 *   completed flush pass reads not clean (and not in sync);
 *   regions whose clear a completed pass persisted read clean (we resync
 *   only what is needed).
 *
 * Persistent log types are listed in `persistent_logs` below: "rh_file" (a
 * minimal file-backed test type, counting_log.c) and "disk" (checked when
 * registered). To add one, add a row. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "counting_log.h"

TEST_MAIN_DEFINITIONS

#define REGIONS 64
#define RS 8
#define RB (RS * 512)

struct persistent_log {
    const char *type;
    /* Table arguments after the type, for a log kept in directory `dir`. */
    unsigned (*args)(const char *dir, char bufs[4][256], const char *argv[4]);
};

static unsigned disk_args(const char *dir, char bufs[4][256], const char *argv[4])
{
    snprintf(bufs[0], sizeof bufs[0], "%s/log", dir);
    snprintf(bufs[1], sizeof bufs[1], "%d", RS);
    argv[0] = bufs[0];
    argv[1] = bufs[1];
    return 2;
}

static unsigned file_args(const char *dir, char bufs[4][256], const char *argv[4])
{
    return disk_args(dir, bufs, argv); /* same shape: <path> <region_size> */
}

static const struct persistent_log persistent_logs[] = {
    {"rh_file", file_args},
    {"disk", disk_args},
};

static int open_log(const struct persistent_log *pl, const char *dir, dl_log **log)
{
    char bufs[4][256];
    const char *argv[4];
    unsigned argc = pl->args(dir, bufs, argv);
    int r = dl_log_create(pl->type, (uint64_t)REGIONS * RS, argc, argv, log);
    if (r < 0) {
        fprintf(stderr, "%s: create failed: %s (%s)\n", pl->type, dl_strerror(r), dl_last_error());
        return r;
    }
    r = dl_log_resume(*log);
    if (r < 0) {
        fprintf(stderr, "%s: resume failed: %s (%s)\n", pl->type, dl_strerror(r), dl_last_error());
        dl_log_destroy(*log);
    }
    return r;
}

/* Child: one line per event on fd; never returns (waits to be killed). */
static void child(const struct persistent_log *pl, const char *dir, int fd)
{
    dl_log *log;
    if (open_log(pl, dir, &log) < 0)
        _exit(2);
    /* The whole target is in sync: nothing is NOSYNC, clears can happen. */
    for (uint64_t r = 0; r < REGIONS; r++)
        dl_log_set_region_sync(log, r, 1);
    struct dl_rh_options o = {.struct_size = sizeof o, .flags = DL_RH_EAGER_CLEAR};
    dl_rh *rh;
    if (dl_rh_create(log, &o, &rh) < 0)
        _exit(2);
    FILE *out = fdopen(fd, "w");
    setvbuf(out, NULL, _IONBF, 0);
    /* Round 1: regions 0..23 begun; those with r % 3 == 0 ended; a flush
     * pass persists their clears. Round 2: regions 24..47 begun, r % 4 == 0
     * ended but never flushed. Then the crash. */
    for (uint64_t r = 0; r < 24; r++) {
        if (dl_rh_begin_write(rh, r * RB + 7, 100, 0) == 0)
            fprintf(out, "B %llu\n", (unsigned long long)r);
        if (r % 3 == 0 && dl_rh_end_write(rh, r * RB + 7, 100, 0) == 0)
            fprintf(out, "E %llu\n", (unsigned long long)r);
    }
    if (dl_rh_flush(rh) >= 0)
        fprintf(out, "F\n");
    for (uint64_t r = 24; r < 48; r++) {
        if (dl_rh_begin_write(rh, r * RB, RB, 0) == 0)
            fprintf(out, "B %llu\n", (unsigned long long)r);
        if (r % 4 == 0 && dl_rh_end_write(rh, r * RB, RB, 0) == 0)
            fprintf(out, "E %llu\n", (unsigned long long)r);
    }
    fprintf(out, "K\n");
    for (;;)
        pause();
}

static void crash_check(const struct persistent_log *pl)
{
    char dir[] = "/tmp/dl-rh-crash-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(pl, dir, p[1]);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    /* state: 0 untouched, 1 begun (acknowledged), 2 ended, 3 cleared by a
     * completed flush pass. */
    int state[REGIONS] = {0};
    char line[64];
    int killed = 0;
    while (fgets(line, sizeof line, in)) {
        unsigned long long r;
        if (sscanf(line, "B %llu", &r) == 1 && r < REGIONS)
            state[r] = 1;
        else if (sscanf(line, "E %llu", &r) == 1 && r < REGIONS)
            state[r] = 2;
        else if (line[0] == 'F') {
            for (int i = 0; i < REGIONS; i++)
                if (state[i] == 2)
                    state[i] = 3;
        } else if (line[0] == 'K') {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
    }
    fclose(in);
    int status;
    waitpid(pid, &status, 0);
    CHECK(killed);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    dl_log *log;
    CHECK_EQ(open_log(pl, dir, &log), 0);
    if (killed && log) {
        int begun = 0;
        for (int r = 0; r < REGIONS; r++) {
            int clean = dl_log_is_clean(log, (uint64_t)r);
            if (state[r] == 1 || state[r] == 2) {
                begun++;
                if (clean != 0 || dl_log_in_sync(log, (uint64_t)r, 1) != 0)
                    fprintf(stderr, "region %d (state %d) lost its dirty bit\n", r, state[r]);
                CHECK_EQ(clean, 0);
            } else if (state[r] == 3) {
                CHECK_EQ(clean, 1);
            }
        }
        CHECK(begun >= 40);
        dl_log_destroy(log);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    counting_log_register();
    int ran = 0;
    for (size_t i = 0; i < sizeof persistent_logs / sizeof persistent_logs[0]; i++) {
        if (!dl_find_type(persistent_logs[i].type)) {
            printf("test_rh_crash: SKIP %s: type not registered\n", persistent_logs[i].type);
            continue;
        }
        crash_check(&persistent_logs[i]);
        ran++;
    }
    if (!ran) {
        printf("test_rh_crash: SKIPPED (no persistent log type registered yet)\n");
        return 77;
    }
    return test_exit_status("test_rh_crash");
}
