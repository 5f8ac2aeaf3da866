/* A `userspace` log across fork(): the connection belongs to the process
 * that opened the log. In the child every op fails with -EBADF (is_clean,
 * which cannot fail, answers "dirty"), and destroying the log closes the
 * child's descriptor without a DTR; the parent's session is unaffected. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

static struct daemon_fx fx;

/* In the child: a bit per expectation that did not hold (exit status). */
static int child(dl_log *log)
{
    int bad = 0;
    uint64_t n = 0, r = 0;
    bad |= (dl_log_mark_region(log, 9) != -EBADF) << 0;
    bad |= (dl_log_clear_region(log, 3) != -EBADF) << 1;
    bad |= (dl_log_flush(log) != -EBADF) << 2;
    bad |= (dl_log_get_sync_count(log, &n) != -EBADF) << 3;
    bad |= (dl_log_get_resync_work(log, &r) != -EBADF) << 4;
    bad |= (dl_log_is_clean(log, 7) != 0) << 5; /* clean in the log, but no answer here */
    bad |= (strstr(dl_last_error(), "forked child") == NULL) << 6;
    dl_log_destroy(log); /* no DTR: the session is the parent's */
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    setenv("DIRTYLOG_RECONNECT_MS", "5000", 1);
    if (daemon_start(&fx, argv[1], NULL) < 0)
        return 1;
    char table[512];
    snprintf(table, sizeof table, "userspace 4 forked socket=%s core 8", fx.socket);
    dl_log *log = NULL;
    CHECK_EQ(dl_log_create_table(table, 1024, &log), 0);
    if (!log)
        return 1;
    CHECK_EQ(dl_log_resume(log), 0);
    CHECK_EQ(dl_log_mark_region(log, 3), 0);
    CHECK_EQ(dl_log_flush(log), 0);

    pid_t pid = fork();
    if (pid == 0)
        _exit(child(log));
    int st = -1;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);

    /* The parent carries on with the same session. */
    CHECK_EQ(dl_log_is_clean(log, 3), 0);
    CHECK_EQ(dl_log_is_clean(log, 7), 1);
    CHECK_EQ(dl_log_mark_region(log, 4), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 4), 0);
    uint64_t n = 99;
    CHECK_EQ(dl_log_get_sync_count(log, &n), 0);
    dl_log_destroy(log);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_fork");
}
