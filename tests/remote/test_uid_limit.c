/* One uid cannot hold all of --max-clients: past --max-clients-per-uid its
 * new connections are refused (-EAGAIN) until one of its own closes. Root
 * (and the daemon's own uid) are exempt. Needs root to run a client under
 * another uid; skipped visibly otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "hostile_client.h"

TEST_MAIN_DEFINITIONS

#define OTHER_UID 65534
#define PER_UID 2

static struct daemon_fx fx;

/* As OTHER_UID: PER_UID connections served, the next refused, and served
 * again once one of the first closed. Exit status: 0, or the failed step. */
static int other_uid_client(void)
{
    if (setgid(OTHER_UID) < 0 || setuid(OTHER_UID) < 0)
        return 100;
    int fds[PER_UID], refused = 0;
    for (int i = 0; i < PER_UID; i++) {
        fds[i] = daemon_connect(&fx);
        if (ctr_or_refusal(fds[i], "uid", 10 + (uint64_t)i, &refused) != 0 || refused)
            return 1 + i;
    }
    int extra = daemon_connect(&fx);
    int r = ctr_or_refusal(extra, "uid", 20, &refused);
    fprintf(stderr, "connection %d of uid %d: %d%s\n", PER_UID + 1, OTHER_UID, r,
            refused ? " (refused)" : "");
    if (r != -EAGAIN || !refused)
        return 10;
    close(extra);
    /* Once the daemon has seen one of ours go, a new one is served. */
    close(fds[0]);
    int64_t end = mono_ms() + 5000;
    for (uint64_t luid = 30;; luid++) {
        int fd = daemon_connect(&fx);
        r = ctr_or_refusal(fd, "uid", luid, &refused);
        close(fd);
        if (r == 0 && !refused)
            return 0;
        if (r != -EAGAIN || mono_ms() > end)
            return 11;
        struct pollfd none = {.fd = -1};
        poll(&none, 1, 20); /* retry: the daemon handles the close asynchronously */
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (geteuid() != 0) {
        printf("SKIP: needs root to run a client under another uid\n");
        return 77;
    }
    const char *extra[] = {"--max-clients", "16", "--max-clients-per-uid", "2",
                           "--allow-uid", "0,65534", NULL};
    if (daemon_start(&fx, argv[1], extra) < 0)
        return 1;
    chmod(fx.dir, 0711);
    chmod(fx.socket, 0666);

    pid_t pid = fork();
    if (pid == 0)
        _exit(other_uid_client());
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);

    /* Root is exempt: more than PER_UID connections at once. */
    int fds[2 * PER_UID + 1];
    for (int i = 0; i < 2 * PER_UID + 1; i++) {
        int refused = 1;
        fds[i] = daemon_connect(&fx);
        CHECK_EQ(ctr_or_refusal(fds[i], "root", 100 + (uint64_t)i, &refused), 0);
        CHECK_EQ(refused, 0);
    }
    for (int i = 0; i < 2 * PER_UID + 1; i++)
        close(fds[i]);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_uid_limit");
}
