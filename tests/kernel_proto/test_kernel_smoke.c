/* `dirtylogd --kernel` on this machine's kernel, which has the connector but
 * no device-mapper: the daemon opens the real NETLINK_CONNECTOR socket,
 * joins device-mapper's group (seen in /proc/net/netlink), serves its unix
 * socket beside it, and stops cleanly on SIGTERM (exit 0, the socket
 * gone); without root it refuses with a reason. Needs root and the initial
 * network namespace: skipped (77) otherwise. The real dm-mirror scenarios
 * run in a VM (tests/kernel). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "kernel.h"

TEST_MAIN_DEFINITIONS

#define NETLINK_CONNECTOR_PROTO 11
#define CN_IDX_DM_BIT (1u << (7 - 1)) /* group 7 in the Groups mask */

/* Does /proc/net/netlink list a connector socket of port `port` in
 * device-mapper's group? 1, 0, or -1 if unreadable. */
static int joined(pid_t port)
{
    FILE *f = fopen("/proc/net/netlink", "r");
    if (!f)
        return -1;
    char line[512];
    int found = 0;
    if (!fgets(line, sizeof line, f)) { /* the column names */
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned long long sk;
        int proto;
        unsigned long pid;
        unsigned groups;
        if (sscanf(line, "%llx %d %lu %x", &sk, &proto, &pid, &groups) == 4 &&
            proto == NETLINK_CONNECTOR_PROTO && pid == (unsigned long)port &&
            (groups & CN_IDX_DM_BIT))
            found = 1;
    }
    fclose(f);
    return found;
}

/* As uid/gid 65534: `dirtylogd --kernel` must refuse, saying why. */
static void refuses_without_root(const char *binary, const char *dir)
{
    char err_path[128], sock[128], state[128];
    snprintf(err_path, sizeof err_path, "%s/nonroot.err", dir);
    snprintf(sock, sizeof sock, "%s/nonroot.sock", dir);
    snprintf(state, sizeof state, "%s/nonroot-state", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(126);
        daemon_exec_as(65534, binary,
                       (const char *const[]){binary, "--kernel", "-f", "--socket", sock,
                                             "--log-dir", dir, "--state-dir", state, NULL});
        _exit(127);
    }
    int st = -1;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    char msg[512] = "";
    FILE *f = fopen(err_path, "r");
    if (f) {
        size_t n = fread(msg, 1, sizeof msg - 1, f);
        msg[n] = '\0';
        fclose(f);
    }
    CHECK(strstr(msg, "--kernel needs root") != NULL);
    CHECK(access(sock, F_OK) != 0); /* it refused before serving anything */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIRTYLOGD\n", argv[0]);
        return 2;
    }
    if (geteuid() != 0) {
        printf("SKIP: dirtylogd --kernel needs root\n");
        return 77;
    }
    if (getenv("DL_TEST_EMULATOR") && *getenv("DL_TEST_EMULATOR")) {
        printf("SKIP: netlink under a user-mode emulator is not the kernel's\n");
        return 77;
    }
    char why[512];
    int fd = dld_kernel_open(why, sizeof why);
    if (fd < 0) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    close(fd);

    struct daemon_fx fx;
    memset(&fx, 0, sizeof fx);
    REQUIRE_EQ(daemon_start(&fx, argv[1], (const char *const[]){"--kernel", NULL}), 0);
    /* The channel thread joins the group before the daemon serves (the
     * socket is opened before the daemon starts), so this holds at once. */
    int j = joined(fx.pid);
    if (j < 0)
        printf("note: /proc/net/netlink unreadable, membership not checked\n");
    else
        CHECK_EQ(j, 1);
    int fdc = daemon_connect(&fx); /* the unix socket serves beside it */
    CHECK(fdc >= 0);
    if (fdc >= 0)
        close(fdc);
    pid_t port = fx.pid;
    CHECK_EQ(daemon_stop(&fx), 0);
    if (j >= 0)
        CHECK_EQ(joined(port), 0);
    CHECK(access(fx.socket, F_OK) != 0);

    refuses_without_root(argv[1], fx.dir);
    daemon_cleanup(&fx);
    return test_exit_status("test_kernel_smoke");
}
