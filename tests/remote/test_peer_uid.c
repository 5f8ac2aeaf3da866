/* A client from another uid is refused (SO_PEERCRED allow-list), and
 * admitted once --allow-uid names it. Needs root (setuid in a child);
 * skipped visibly otherwise. */
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
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

#define OTHER_UID 65534

static struct daemon_fx fx;

/* In a child running as OTHER_UID: the result of creating a log. */
static int create_as_other(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(OTHER_UID) < 0 || setuid(OTHER_UID) < 0)
            _exit(100);
        char table[256];
        snprintf(table, sizeof table, "userspace 4 uid socket=%s core 8", fx.socket);
        dl_log *log = NULL;
        int r = dl_log_create_table(table, 1024, &log);
        if (r < 0)
            fprintf(stderr, "(expected when refused) %s\n", dl_last_error());
        dl_log_destroy(log);
        _exit(r == 0 ? 0 : r == -EACCES ? 1 : 2);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (geteuid() != 0) {
        printf("SKIP: needs root to run a client under another uid\n");
        return 77;
    }
    if (daemon_start(&fx, argv[1], NULL) < 0)
        return 1;
    /* Let the other uid reach the socket file: the daemon must refuse it. */
    chmod(fx.dir, 0711);
    chmod(fx.socket, 0666);
    CHECK_EQ(create_as_other(), 1);
    /* our own uid is still served */
    char table[256];
    snprintf(table, sizeof table, "userspace 4 uid socket=%s core 8", fx.socket);
    dl_log *log = NULL;
    CHECK_EQ(dl_log_create_table(table, 1024, &log), 0);
    dl_log_destroy(log);
    CHECK_EQ(daemon_stop(&fx), 0);

    const char *extra[] = {"--allow-uid", "0,65534", NULL};
    CHECK_EQ(daemon_start(&fx, argv[1], extra), 0);
    chmod(fx.socket, 0666);
    CHECK_EQ(create_as_other(), 0);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_peer_uid");
}
