#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "daemon_fixture.h"

extern char **environ;

int daemon_connect(const struct daemon_fx *fx)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", fx->socket);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void daemon_exec(const char *binary, const char *const *argv)
{
    const char *emulator = getenv("DL_TEST_EMULATOR");
    if (!emulator || !*emulator) {
        execv(binary, (char *const *)argv);
        return;
    }
    /* emulator words, the binary, then argv[1...] */
    static char words[512];
    const char *full[64];
    unsigned n = 0;
    snprintf(words, sizeof words, "%s", emulator);
    for (char *w = strtok(words, " "); w && n < 32; w = strtok(NULL, " "))
        full[n++] = w;
    full[n++] = binary;
    for (unsigned i = 1; argv[i] && n < 63; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    execvp(full[0], (char *const *)full);
}

int daemon_exec_as(uid_t uid, const char *binary, const char *const *argv)
{
    /* Opened while still root: the build tree may be in a directory that
     * uid cannot search (a CI clone under a private mktemp dir). fexecve of
     * the open file needs no path lookup. */
    int fd = open(binary, O_RDONLY | O_CLOEXEC);
    if (setgid((gid_t)uid) < 0 || setuid(uid) < 0)
        return -errno;
    const char *emulator = getenv("DL_TEST_EMULATOR");
    if (fd >= 0 && (!emulator || !*emulator))
        fexecve(fd, (char *const *)argv, environ);
    daemon_exec(binary, argv);
    return -errno;
}

int daemon_make_dir(struct daemon_fx *fx)
{
    if (fx->dir[0])
        return 0;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/dl-remote-XXXXXX");
    if (!mkdtemp(fx->dir)) {
        perror("mkdtemp");
        fx->dir[0] = '\0';
        return -1;
    }
    snprintf(fx->socket, sizeof fx->socket, "%s/d.sock", fx->dir);
    return 0;
}

int daemon_start(struct daemon_fx *fx, const char *binary, const char *const *extra)
{
    if (daemon_make_dir(fx) < 0)
        return -1;
    if (!fx->state_dir[0]) {
        snprintf(fx->state_dir, sizeof fx->state_dir, "/tmp/dl-state-XXXXXX");
        if (!mkdtemp(fx->state_dir)) {
            perror("mkdtemp");
            return -1;
        }
    }
    fx->binary = binary;
    /* Disk logs live in the test's directory (an extra --log-dir wins), the
     * daemon's state in a directory of its own. */
    const char *argv[32] = {binary, "-f", "--socket", fx->socket, "--log-dir", fx->dir,
                            "--state-dir", fx->state_dir};
    int n = 8;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    fx->pid = fork();
    if (fx->pid < 0)
        return -1;
    if (fx->pid == 0) {
        int log = fx->stderr_path ? open(fx->stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
        if (log >= 0)
            dup2(log, 2);
        struct rlimit rl = {.rlim_cur = fx->nofile, .rlim_max = fx->nofile};
        if (fx->nofile && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            perror("setrlimit");
            _exit(127);
        }
        daemon_exec(binary, argv);
        perror("execv dirtylogd");
        _exit(127);
    }
    /* Waiting for an external process: poll its socket, bounded (10 s). */
    for (int i = 0; i < 2000; i++) {
        int fd = daemon_connect(fx);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        int st;
        if (waitpid(fx->pid, &st, WNOHANG) == fx->pid) {
            fprintf(stderr, "dirtylogd exited at start (status %d)\n", st);
            fx->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "dirtylogd did not come up\n");
    daemon_kill9(fx);
    return -1;
}

int daemon_release(const struct daemon_fx *fx, const char *spec)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        daemon_exec(fx->binary, (const char *const[]){fx->binary, "--socket", fx->socket,
                                                      "--release", spec, NULL});
        _exit(127);
    }
    int st = -1;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int daemon_stop(struct daemon_fx *fx)
{
    if (fx->pid <= 0)
        return -1;
    kill(fx->pid, SIGTERM);
    int st;
    if (waitpid(fx->pid, &st, 0) != fx->pid)
        return -1;
    fx->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void daemon_kill9(struct daemon_fx *fx)
{
    if (fx->pid <= 0)
        return;
    kill(fx->pid, SIGKILL);
    waitpid(fx->pid, NULL, 0);
    fx->pid = 0;
}

static void remove_dir(char *dir)
{
    if (!dir[0])
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[600];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    dir[0] = '\0';
}

void daemon_cleanup(struct daemon_fx *fx)
{
    if (fx->pid > 0)
        daemon_kill9(fx);
    remove_dir(fx->dir);
    remove_dir(fx->state_dir);
}

unsigned test_scale_percent(void)
{
    const char *s = getenv("DL_TEST_SCALE");
    long v = s ? strtol(s, NULL, 10) : 100;
    return v < 1 ? 1 : v > 100 ? 100 : (unsigned)v;
}

int daemon_list(const struct daemon_fx *fx, int json, long uid, char *out, size_t cap)
{
    char path[sizeof fx->dir + 16];
    snprintf(path, sizeof path, "%s/list.out", fx->dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        const char *const args[] = {fx->binary, "--socket", fx->socket, "--list",
                                    json ? "--json" : NULL, NULL};
        if (uid >= 0)
            daemon_exec_as((uid_t)uid, fx->binary, args);
        else
            daemon_exec(fx->binary, args);
        _exit(127);
    }
    int st = -1;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
