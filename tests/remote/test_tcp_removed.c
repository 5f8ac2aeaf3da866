/* No unauthenticated network path: `dirtylogd --tcp` is refused with a
 * reason (exit status 2), and so is a TCP socket handed over by a service
 * manager (LISTEN_FDS): only unix sockets, whose peers SO_PEERCRED names,
 * are served. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "hostile_client.h"

TEST_MAIN_DEFINITIONS

/* Run the daemon with argv (listen_fd >= 0: passed as fd 3 with
 * LISTEN_FDS=1); wait (bounded) for it to exit. Returns its exit status, or
 * -1 if it was still running after 10 s (then it is killed); its stderr in
 * err. */
static int run_daemon(char *const *argv, int listen_fd, char *err, size_t cap)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        if (listen_fd >= 0) {
            dup2(listen_fd, 3);
            char pidstr[32];
            snprintf(pidstr, sizeof pidstr, "%ld", (long)getpid());
            setenv("LISTEN_PID", pidstr, 1);
            setenv("LISTEN_FDS", "1", 1);
        }
        daemon_exec(argv[0], (const char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t got = 0;
    int status = -1;
    int64_t end = mono_ms() + 10000;
    for (;;) {
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        if (poll(&p, 1, (int)left) > 0) {
            ssize_t k = read(pipefd[0], err + got, cap - 1 - got);
            if (k > 0) {
                got += (size_t)k;
                continue;
            }
            break; /* EOF: the daemon exited (or closed stderr) */
        }
    }
    err[got] = '\0';
    int st;
    pid_t w = 0;
    while (mono_ms() < end && (w = waitpid(pid, &st, WNOHANG)) == 0) {
        struct pollfd none = {.fd = -1};
        poll(&none, 1, 10); /* a child's exit has no descriptor to wait on */
    }
    if (w == pid && WIFEXITED(st)) {
        status = WEXITSTATUS(st);
    } else if (w != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    close(pipefd[0]);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char err[4096];
    /* (a socket path that cannot be created: the option must be refused first) */
    char *tcp_argv[] = {argv[1], "-f", "--socket", "/nonexistent/d.sock", "--tcp", "127.0.0.1:0",
                        NULL};
    CHECK_EQ(run_daemon(tcp_argv, -1, err, sizeof err), 2);
    CHECK(strstr(err, "raw TCP was removed: it had no authentication; share logs across "
                      "machines with the cluster mode (corosync)") != NULL);
    fprintf(stderr, "(expected) %s", err);

    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(t >= 0 && bind(t, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(t, 4) == 0);
    char *act_argv[] = {argv[1], "-f", NULL};
    int st = run_daemon(act_argv, t, err, sizeof err);
    CHECK(st > 0); /* exited, with a failure */
    CHECK(strstr(err, "not a unix socket") != NULL);
    fprintf(stderr, "(expected) %s", err);
    close(t);
    return test_exit_status("test_tcp_removed");
}
