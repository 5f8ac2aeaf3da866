/* The mirror's leg syncs (legsync.h, mirror_flush_legs): every leg synced
 * by the pool's threads, an error of any leg returned, the pool reused
 * across calls and made again in a forked child, and the early writeback's
 * counter reset once it started. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "legsync.h"
#include "mirror.h"

TEST_MAIN_DEFINITIONS

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

static char dir[] = "/tmp/dl_legsync_XXXXXX";

static void leg_path(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "%s/leg%u", dir, i);
}

static int test_flush_legs(void)
{
    enum { LEGS = 4 };
    char names[LEGS][64];
    char *paths[LEGS];
    for (unsigned i = 0; i < LEGS; i++) {
        leg_path(names[i], sizeof names[i], i);
        paths[i] = names[i];
    }
    struct mirror m;
    REQUIRE_EQ(mirror_open_legs(&m, LEGS, paths, 4u << 20, MIRROR_CREATE), 0);
    char *buf = malloc(LEGSYNC_KICK_BYTES);
    REQUIRE(buf);
    memset(buf, 0xab, LEGSYNC_KICK_BYTES);
    /* Enough for one writeback start per leg: the counters go back down. */
    for (unsigned i = 0; i < LEGS; i++) {
        CHECK_EQ(mirror_write_leg(&m, i, buf, LEGSYNC_KICK_BYTES / 2, 0), 0);
#if defined(__linux__) /* elsewhere nothing is counted */
        CHECK_U64(atomic_load(&m.unwritten[i]), LEGSYNC_KICK_BYTES / 2);
#endif
        CHECK_EQ(mirror_write_leg(&m, i, buf, LEGSYNC_KICK_BYTES / 2, LEGSYNC_KICK_BYTES), 0);
        CHECK_U64(atomic_load(&m.unwritten[i]), 0);
    }
    for (int round = 0; round < 3; round++)
        CHECK_EQ(mirror_flush_legs(&m), 0);
    struct legsync *pool = m.legsync;
    CHECK(pool != NULL);
    CHECK_EQ(mirror_flush_legs(&m), 0);
    CHECK(m.legsync == pool); /* made once, reused */

    /* A forked child (a server daemonizing after it opened the mirror)
     * gets a pool of its own. (Not under TSan: it does not support
     * threads started after a multi-threaded fork. Not under qemu-user
     * either: its emulation of fork in a threaded process asserts in its
     * own RCU code, seen for s390x and armhf.) */
#if !TSAN_BUILD
    const char *emu = getenv("DL_TEST_EMULATOR");
    if (emu && *emu) {
        printf("test_legsync: fork case skipped under the emulator %s\n", emu);
        goto after_fork;
    }
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int ok = mirror_flush_legs(&m) == 0 && m.legsync != NULL && mirror_flush_legs(&m) == 0;
        mirror_close(&m, 0);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
after_fork:
#endif
    CHECK_EQ(mirror_flush_legs(&m), 0);
    mirror_close(&m, 0);
    mirror_close(&m, 0); /* twice is harmless */
    free(buf);
    for (unsigned i = 0; i < LEGS; i++)
        unlink(names[i]);
    return 0;
}

/* A leg that cannot be synced (a pipe: EINVAL) fails the flush, whichever
 * thread syncs it; the others are still synced. */
static int test_error_of_any_leg(void)
{
    char a[64], b[64];
    leg_path(a, sizeof a, 10);
    leg_path(b, sizeof b, 11);
    int p[2];
    REQUIRE_EQ(pipe(p), 0);
    int fa = open(a, O_RDWR | O_CREAT, 0600), fb = open(b, O_RDWR | O_CREAT, 0600);
    CHECK(fa >= 0 && fb >= 0);
    struct legsync *pool = NULL;
    int ok[3] = {fa, fb, fa};
    CHECK_EQ(legsync_run(&pool, 3, ok), 0);
    for (unsigned bad = 0; bad < 3; bad++) {
        int fds[3] = {fa, fb, fa};
        fds[bad] = p[1];
        CHECK_EQ(legsync_run(&pool, 3, fds), -EINVAL);
    }
    CHECK_EQ(legsync_run(&pool, 3, ok), 0);
    legsync_destroy(pool);
    close(fa);
    close(fb);
    close(p[0]);
    close(p[1]);
    unlink(a);
    unlink(b);
    return 0;
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_flush_legs();
    test_error_of_any_leg();
    rmdir(dir);
    return test_exit_status("test_legsync");
}
