/* dirtylogd accepts a listening socket from a service manager (LISTEN_FDS /
 * LISTEN_PID, fd 3), serves on it, and exits 0 on SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct daemon_fx fx = {0};
    snprintf(fx.dir, sizeof fx.dir, "/tmp/dl-remote-XXXXXX");
    if (!mkdtemp(fx.dir))
        return 1;
    snprintf(fx.socket, sizeof fx.socket, "%s/act.sock", fx.dir);
    snprintf(fx.state_dir, sizeof fx.state_dir, "/tmp/dl-state-XXXXXX");
    if (!mkdtemp(fx.state_dir))
        return 1;
    const char *state_dir = fx.state_dir;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", fx.socket);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 8) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (l != 3) {
            dup2(l, 3);
            close(l);
        }
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", (long)getpid());
        setenv("LISTEN_PID", buf, 1);
        setenv("LISTEN_FDS", "1", 1);
        daemon_exec(argv[1], (const char *const[]){argv[1], "-f", "--log-dir", fx.dir, "--state-dir",
                                                 state_dir, NULL});
        _exit(127);
    }
    close(l);
    /* The socket already listens: no waiting needed before connecting. */
    int fd = daemon_connect(&fx);
    CHECK(fd >= 0);
    CHECK_EQ(raw_ctr(fd, "act", 1, "1024 core 8"), 0);
    uint64_t clean = 9;
    CHECK_EQ(raw_region(fd, DLW_IS_CLEAN, "act", 1, 3, &clean), 0);
    CHECK_U64(clean, 1);
    close(fd);
    kill(pid, SIGTERM);
    int st = -1;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(fx.socket);
    fx.pid = 0;
    daemon_cleanup(&fx); /* the socket directory and the state directory */
    return test_exit_status("test_socket_activation");
}
