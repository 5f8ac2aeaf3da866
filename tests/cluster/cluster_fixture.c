/* The cluster fixture: see cluster_fixture.h. Linux only (network and mount
 * namespaces); the network is configured with `ip`, the namespaces entered
 * with setns() in the forked child. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster_fixture.h"

#define NETNS_DIR "/run/netns"
#define MAX_PROCS 64
#define SUBNET "10.213.0" /* inside the run's namespaces only */

struct node {
    char ns[40];        /* namespace name */
    char ns_path[64];   /* NETNS_DIR/<ns> */
    char dir[96];       /* <run dir>/n<i> */
    char conf[128];     /* corosync.conf */
    char log[128];      /* corosync's log file */
    char out[128];      /* corosync's stdout and stderr */
    char sock[128];     /* dirtylogd's socket */
    char dstate[128];   /* dirtylogd's --state-dir */
    char dlog[128];     /* dirtylogd's stderr */
    pid_t corosync;
    pid_t daemon;
};

static struct {
    unsigned n;
    int set_up;
    char tag[24];       /* dlc<pid>: names of the run's namespaces */
    char dir[64];
    char shared[80];
    char hub[40];
    char hub_path[64];
    struct node node[CLU_MAX_NODES + 1]; /* [1..n] */
    pid_t parent;
} clu;

/* Every child started, for the cleanup paths (the signal handler included). */
static volatile pid_t procs[MAX_PROCS];

unsigned long long clu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

unsigned clu_deadline_ms(unsigned ms)
{
    return getenv("DL_CI") || getenv("DL_SANITIZER") ? 2 * ms : ms;
}

/* The pause between two polls of a condition. */
static void poll_pause(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

unsigned clu_nodes(void) { return clu.n; }
const char *clu_dir(void) { return clu.dir; }
const char *clu_shared_dir(void) { return clu.shared; }
const char *clu_node_dir(unsigned node) { return clu.node[node].dir; }
const char *clu_node_ns(unsigned node) { return clu.node[node].ns; }
const char *clu_daemon_socket(unsigned node) { return clu.node[node].sock; }
pid_t clu_daemon_pid(unsigned node) { return clu.node[node].daemon; }
pid_t clu_corosync_pid(unsigned node) { return clu.node[node].corosync; }

static int valid_node(unsigned node)
{
    if (node >= 1 && node <= clu.n)
        return 1;
    fprintf(stderr, "cluster fixture: no node %u (cluster of %u)\n", node, clu.n);
    return 0;
}

const char *clu_which(const char *name)
{
    /* Found paths stay valid for the program's life (one entry per name). */
    static struct {
        char name[32];
        char path[256];
    } found[16];
    unsigned i = 0;
    for (; i < 16 && found[i].name[0]; i++)
        if (strcmp(found[i].name, name) == 0)
            return found[i].path;
    if (i == 16 || strlen(name) >= sizeof found[0].name)
        return NULL;
    const char *path = getenv("PATH");
    char dirs[1024];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(found[i].path, sizeof found[i].path, "%s/%s", d, name);
        if (access(found[i].path, X_OK) == 0) {
            snprintf(found[i].name, sizeof found[i].name, "%s", name);
            return found[i].path;
        }
    }
    return NULL;
}

/* ---- processes --------------------------------------------------------------- */

static void remember(pid_t pid)
{
    for (unsigned i = 0; i < MAX_PROCS; i++)
        if (procs[i] == 0) {
            procs[i] = pid;
            return;
        }
    fprintf(stderr, "cluster fixture: more than %d processes\n", MAX_PROCS);
}

static void forget(pid_t pid)
{
    for (unsigned i = 0; i < MAX_PROCS; i++)
        if (procs[i] == pid)
            procs[i] = 0;
}

/* Fork and exec argv inside a namespace (path ns_path), with a private /run
 * if asked, output to out_fd (-1: out_path, or /dev/null). Everything the
 * child does before exec is a system call (the test may have threads). */
static pid_t spawn_in(const char *ns_path, const char *const *argv, const char *out_path,
                      int out_fd, int private_run)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("cluster fixture: fork");
        return -1;
    }
    if (pid > 0) {
        remember(pid);
        return pid;
    }
    /* The child: dies with the test, whatever kills it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int fd = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
        _exit(126);
    if (private_run) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("none", "/run", "tmpfs", 0, "mode=0755") < 0)
            _exit(125);
    }
    if (out_fd < 0)
        out_fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                      0600);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out_fd < 0 || devnull < 0)
        _exit(124);
    dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(out_path ? out_fd : devnull, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

pid_t clu_spawn(unsigned node, const char *const *argv, const char *out_path)
{
    if (!valid_node(node))
        return -1;
    return spawn_in(clu.node[node].ns_path, argv, out_path, -1, 0);
}

/* Wait for pid until the deadline; its status, or -1 if it still runs. */
static int reap_until(pid_t pid, unsigned long long deadline)
{
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            forget(pid);
            return st;
        }
        if (r < 0 && errno != EINTR) {
            forget(pid);
            return -1;
        }
        if (clu_now_ms() >= deadline)
            return -1;
        poll_pause(5);
    }
}

int clu_kill(pid_t pid, int sig, unsigned timeout_ms)
{
    if (pid <= 0)
        return -1;
    if (sig)
        kill(pid, sig);
    int st = reap_until(pid, clu_now_ms() + timeout_ms);
    if (st != -1)
        return st;
    fprintf(stderr, "cluster fixture: pid %d still runs after %u ms: SIGKILL\n", (int)pid,
            timeout_ms);
    kill(pid, SIGKILL);
    if (waitpid(pid, &st, 0) != pid)
        st = -1;
    forget(pid);
    return st;
}

/* Run argv (in a node's namespace, or here if ns_path is NULL), its stdout
 * into out; bounded. */
static int run_in(const char *ns_path, const char *const *argv, char *out, size_t len)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid;
    if (ns_path) {
        pid = spawn_in(ns_path, argv, NULL, p[1], 0);
    } else {
        pid = fork();
        if (pid == 0) {
            dup2(p[1], 1);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        if (pid > 0)
            remember(pid);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    size_t used = 0;
    unsigned long long deadline = clu_now_ms() + 10000;
    for (;;) {
        long long left = (long long)(deadline - clu_now_ms());
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        char buf[1024];
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n <= 0)
            break;
        if (out && used + 1 < len) {
            size_t take = (size_t)n < len - 1 - used ? (size_t)n : len - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
        }
    }
    if (out && len)
        out[used] = '\0';
    close(p[0]);
    int st = clu_kill(pid, 0, (unsigned)(deadline > clu_now_ms() ? deadline - clu_now_ms() : 1));
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int clu_run(unsigned node, const char *const *argv, char *out, size_t len)
{
    if (!valid_node(node))
        return -1;
    return run_in(clu.node[node].ns_path, argv, out, len);
}

/* `ip ARGS...` (NULL-terminated); 0 or -1 with the command printed. */
static int ip(const char *first, ...)
{
    const char *argv[24] = {clu_which("ip"), first};
    unsigned n = 2;
    va_list ap;
    va_start(ap, first);
    for (const char *a; n < 23 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char out[256];
    if (argv[0] && run_in(NULL, argv, out, sizeof out) == 0)
        return 0;
    fprintf(stderr, "cluster fixture: failed: ip");
    for (unsigned i = 1; i < n; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    return -1;
}

/* ---- cleanup ----------------------------------------------------------------- */

/* What `ip netns delete` does: the namespace goes away with its last process. */
static void delete_ns(const char *path)
{
    if (path[0]) {
        umount2(path, MNT_DETACH);
        unlink(path);
    }
}

static void emergency_cleanup(int sig)
{
    for (unsigned i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0)
            kill(procs[i], SIGKILL);
    if (clu.set_up && getpid() == clu.parent) {
        for (unsigned i = 1; i <= clu.n; i++)
            delete_ns(clu.node[i].ns_path);
        delete_ns(clu.hub_path);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void clu_stop(void)
{
    if (getpid() != clu.parent && clu.parent)
        return; /* a forked child exiting */
    for (unsigned i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0)
            clu_kill(procs[i], SIGKILL, 5000);
    for (unsigned i = 1; i <= clu.n; i++)
        clu.node[i].corosync = clu.node[i].daemon = 0;
    if (!clu.set_up)
        return;
    for (unsigned i = 1; i <= clu.n; i++)
        delete_ns(clu.node[i].ns_path);
    delete_ns(clu.hub_path);
    if (getenv("DL_CLUSTER_KEEP"))
        fprintf(stderr, "cluster fixture: kept %s\n", clu.dir);
    else if (clu.dir[0])
        nftw(clu.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    clu.set_up = 0;
}

/* The pid in a name of a run's (dlc<pid>-...), if its process is gone. */
static int stale_run(const char *name)
{
    int pid, end = 0;
    if (sscanf(name, "dlc%d-%n", &pid, &end) != 1 || end == 0 || pid <= 0)
        return 0;
    return kill(pid, 0) != 0 && errno == ESRCH;
}

/* What runs killed before their cleanup (ctest's timeout) left behind:
 * namespaces dlc<pid>-... and directories /tmp/dlc<pid>-... of a dead <pid>. */
static void sweep_stale_runs(void)
{
    DIR *d = opendir(NETNS_DIR);
    struct dirent *e;
    char path[300];
    while (d && (e = readdir(d)) != NULL)
        if (stale_run(e->d_name)) {
            snprintf(path, sizeof path, "%s/%s", NETNS_DIR, e->d_name);
            delete_ns(path);
        }
    if (d)
        closedir(d);
    if (getenv("DL_CLUSTER_KEEP") || !(d = opendir("/tmp")))
        return;
    while ((e = readdir(d)) != NULL)
        if (stale_run(e->d_name)) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    closedir(d);
}

static void install_cleanup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    atexit(clu_stop);
    struct sigaction sa = {.sa_handler = emergency_cleanup, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- can we run? ------------------------------------------------------------- */

static int skip(const char *why)
{
    printf("cluster tests skipped: %s\n", why);
    fflush(stdout);
    return 77;
}

int clu_require(const char *dirtylogd)
{
#ifndef DL_HAVE_CPG
    (void)dirtylogd;
    return skip("libcpg (corosync's libcpg-dev) was not found at configure time");
#else
    if (geteuid() != 0)
        return skip("not root (network namespaces need CAP_SYS_ADMIN)");
    if (!clu_which("ip"))
        return skip("no `ip` (iproute2) found");
    if (!clu_which("corosync") || !clu_which("corosync-quorumtool"))
        return skip("corosync is not installed (corosync, corosync-quorumtool)");
    /* A namespace, entered, with a private /run: what every node needs. */
    char name[40], path[80];
    snprintf(name, sizeof name, "dlc%d-probe", (int)getpid());
    snprintf(path, sizeof path, NETNS_DIR "/%s", name);
    if (ip("netns", "add", name, NULL) < 0)
        return skip("cannot create a network namespace (`ip netns add` failed)");
    const char *probe[] = {clu_which("true"), NULL};
    pid_t pid = probe[0] ? spawn_in(path, probe, NULL, -1, 1) : -1;
    int st = pid > 0 ? clu_kill(pid, 0, 10000) : -1;
    delete_ns(path);
    if (st != 0)
        return skip("cannot enter a network namespace with a private /run (setns, unshare -m)");
    if (dirtylogd) {
        char help[8192];
        const char *argv[] = {dirtylogd, "--help", NULL};
        run_in(NULL, argv, help, sizeof help);
        if (!strstr(help, "--cluster"))
            return skip("this dirtylogd was built without --cluster");
    }
    return 0;
#endif
}

/* ---- the cluster --------------------------------------------------------------- */

static int write_conf(unsigned node)
{
    struct node *nd = &clu.node[node];
    FILE *f = fopen(nd->conf, "w");
    if (!f) {
        perror(nd->conf);
        return -1;
    }
    fprintf(f,
            "# written by the dirtylog cluster test fixture\n"
            "totem {\n"
            "  version: 2\n"
            "  cluster_name: %s\n"
            "  transport: knet\n"
            "  crypto_cipher: none\n"
            "  crypto_hash: none\n"
            "}\n"
            "nodelist {\n",
            clu.tag);
    for (unsigned i = 1; i <= clu.n; i++)
        fprintf(f, "  node {\n    ring0_addr: " SUBNET ".%u\n    nodeid: %u\n    name: n%u\n  }\n",
                i, i, i);
    fprintf(f,
            "}\n"
            "quorum {\n"
            "  provider: corosync_votequorum\n"
            "}\n"
            "logging {\n"
            "  to_logfile: yes\n"
            "  logfile: %s\n"
            "  to_stderr: no\n"
            "  to_syslog: no\n"
            "  timestamp: hires\n"
            "}\n"
            "system {\n"
            "  state_dir: %s\n"
            "}\n",
            nd->log, nd->dir);
    return fclose(f) == 0 ? 0 : -1;
}

int clu_setup(unsigned nodes)
{
    if (clu.set_up || nodes < 1 || nodes > CLU_MAX_NODES) {
        fprintf(stderr, "cluster fixture: cannot set up %u nodes\n", nodes);
        return -1;
    }
    install_cleanup();
    sweep_stale_runs();
    memset(&clu, 0, sizeof clu);
    clu.parent = getpid();
    clu.n = nodes;
    snprintf(clu.tag, sizeof clu.tag, "dlc%d", (int)getpid());
    snprintf(clu.dir, sizeof clu.dir, "/tmp/%s-XXXXXX", clu.tag);
    if (!mkdtemp(clu.dir)) {
        perror("cluster fixture: mkdtemp");
        return -1;
    }
    snprintf(clu.shared, sizeof clu.shared, "%s/shared", clu.dir);
    mkdir(clu.shared, 0700);
    snprintf(clu.hub, sizeof clu.hub, "%s-hub", clu.tag);
    clu.set_up = 1; /* from here on clu_stop cleans up */
    if (ip("netns", "add", clu.hub, NULL) < 0)
        return -1;
    snprintf(clu.hub_path, sizeof clu.hub_path, NETNS_DIR "/%s", clu.hub);
    if (ip("-n", clu.hub, "link", "add", "br0", "type", "bridge", NULL) < 0 ||
        ip("-n", clu.hub, "link", "set", "br0", "up", NULL) < 0)
        return -1;
    for (unsigned i = 1; i <= nodes; i++) {
        struct node *nd = &clu.node[i];
        char veth[16], addr[32];
        snprintf(nd->ns, sizeof nd->ns, "%s-n%u", clu.tag, i);
        snprintf(nd->dir, sizeof nd->dir, "%s/n%u", clu.dir, i);
        snprintf(nd->conf, sizeof nd->conf, "%s/corosync.conf", nd->dir);
        snprintf(nd->log, sizeof nd->log, "%s/corosync.log", nd->dir);
        snprintf(nd->out, sizeof nd->out, "%s/corosync.out", nd->dir);
        snprintf(nd->sock, sizeof nd->sock, "%s/d.sock", nd->dir);
        snprintf(nd->dstate, sizeof nd->dstate, "%s/dstate", nd->dir);
        snprintf(nd->dlog, sizeof nd->dlog, "%s/dirtylogd.log", nd->dir);
        snprintf(veth, sizeof veth, "v%u", i);
        snprintf(addr, sizeof addr, SUBNET ".%u/24", i);
        if (mkdir(nd->dir, 0700) < 0 || mkdir(nd->dstate, 0700) < 0) {
            perror(nd->dir);
            return -1;
        }
        if (ip("netns", "add", nd->ns, NULL) < 0)
            return -1;
        snprintf(nd->ns_path, sizeof nd->ns_path, NETNS_DIR "/%s", nd->ns);
        if (ip("-n", clu.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
               "netns", nd->ns, NULL) < 0 ||
            ip("-n", clu.hub, "link", "set", veth, "master", "br0", "up", NULL) < 0 ||
            ip("-n", nd->ns, "addr", "add", addr, "dev", "eth0", NULL) < 0 ||
            ip("-n", nd->ns, "link", "set", "eth0", "up", NULL) < 0 ||
            ip("-n", nd->ns, "link", "set", "lo", "up", NULL) < 0)
            return -1;
        if (write_conf(i) < 0)
            return -1;
    }
    return 0;
}

int clu_start_corosync(unsigned node)
{
    if (!valid_node(node))
        return -1;
    struct node *nd = &clu.node[node];
    if (nd->corosync > 0) {
        fprintf(stderr, "cluster fixture: corosync of node %u already runs\n", node);
        return -1;
    }
    const char *argv[] = {clu_which("corosync"), "-f", "-c", nd->conf, NULL};
    nd->corosync = spawn_in(nd->ns_path, argv, nd->out, -1, 1);
    return nd->corosync > 0 ? 0 : -1;
}

int clu_kill_corosync(unsigned node)
{
    if (!valid_node(node) || clu.node[node].corosync <= 0)
        return -1;
    clu_kill(clu.node[node].corosync, SIGKILL, 5000);
    clu.node[node].corosync = 0;
    return 0;
}

int clu_restart_corosync(unsigned node)
{
    if (!valid_node(node))
        return -1;
    if (clu.node[node].corosync > 0)
        clu_kill_corosync(node);
    return clu_start_corosync(node);
}

/* "Nodes:" and "Quorate:" of `corosync-quorumtool -s` on a node; -1 if it
 * did not answer (corosync not up yet). */
static int quorum_view(unsigned node, unsigned *members, int *quorate)
{
    char out[4096];
    const char *argv[] = {clu_which("corosync-quorumtool"), "-s", NULL};
    run_in(clu.node[node].ns_path, argv, out, sizeof out);
    const char *m = strstr(out, "\nNodes:");
    const char *q = strstr(out, "\nQuorate:");
    if (!m || !q)
        return -1;
    *members = (unsigned)strtoul(m + strlen("\nNodes:"), NULL, 10);
    q += strlen("\nQuorate:");
    q += strspn(q, " \t");
    *quorate = strncmp(q, "Yes", 3) == 0;
    return 0;
}

int clu_wait_view(unsigned node, unsigned members, int quorate, unsigned timeout_ms)
{
    if (!valid_node(node))
        return -1;
    unsigned long long deadline = clu_now_ms() + clu_deadline_ms(timeout_ms);
    unsigned seen_m = 0;
    int seen_q = -1, answered = 0;
    for (;;) {
        if (quorum_view(node, &seen_m, &seen_q) == 0) {
            answered = 1;
            if (seen_m == members && seen_q == !!quorate)
                return 0;
        }
        if (clu_now_ms() >= deadline)
            break;
        poll_pause(100);
    }
    if (answered)
        fprintf(stderr, "cluster fixture: node %u sees %u node(s), %squorate; expected %u, %s\n",
                node, seen_m, seen_q ? "" : "not ", members, quorate ? "quorate" : "not quorate");
    else
        fprintf(stderr, "cluster fixture: corosync of node %u does not answer\n", node);
    return -1;
}

int clu_start(unsigned nodes)
{
    if (clu_setup(nodes) < 0)
        return -1;
    for (unsigned i = 1; i <= nodes; i++)
        if (clu_start_corosync(i) < 0)
            return -1;
    for (unsigned i = 1; i <= nodes; i++)
        if (clu_wait_view(i, nodes, 1, 30000) < 0) {
            clu_dump_logs();
            return -1;
        }
    return 0;
}

static int set_link(unsigned node, const char *state)
{
    if (!valid_node(node))
        return -1;
    char veth[16];
    snprintf(veth, sizeof veth, "v%u", node);
    return ip("-n", clu.hub, "link", "set", veth, state, NULL);
}

int clu_cut(unsigned node) { return set_link(node, "down"); }
int clu_heal(unsigned node) { return set_link(node, "up"); }

/* ---- dirtylogd on a node --------------------------------------------------------- */

static int socket_accepts(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int clu_daemon_start(unsigned node, const char *binary, const char *const *extra)
{
    if (!valid_node(node))
        return -1;
    struct node *nd = &clu.node[node];
    if (nd->daemon > 0) {
        fprintf(stderr, "cluster fixture: dirtylogd of node %u already runs\n", node);
        return -1;
    }
    /* -v: connections, logs and failed requests in its log, for a failing
     * test's dump. */
    const char *argv[40] = {binary,    "-f",         "-v",        "--cluster",
                            "--socket", nd->sock,    "--state-dir", nd->dstate,
                            "--log-dir", clu.shared};
    unsigned n = 10;
    for (unsigned i = 0; extra && extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    unlink(nd->sock);
    nd->daemon = spawn_in(nd->ns_path, argv, nd->dlog, -1, 0);
    if (nd->daemon < 0)
        return -1;
    unsigned long long deadline = clu_now_ms() + clu_deadline_ms(20000);
    while (!socket_accepts(nd->sock)) {
        int st;
        if (waitpid(nd->daemon, &st, WNOHANG) == nd->daemon) {
            forget(nd->daemon);
            nd->daemon = 0;
            fprintf(stderr, "cluster fixture: dirtylogd of node %u exited at start (status %d)\n",
                    node, st);
            clu_dump_logs();
            return -1;
        }
        if (clu_now_ms() >= deadline) {
            fprintf(stderr, "cluster fixture: dirtylogd of node %u did not come up\n", node);
            clu_daemon_kill9(node);
            clu_dump_logs();
            return -1;
        }
        poll_pause(10);
    }
    return 0;
}

void clu_daemon_kill9(unsigned node)
{
    if (!valid_node(node) || clu.node[node].daemon <= 0)
        return;
    clu_kill(clu.node[node].daemon, SIGKILL, 5000);
    clu.node[node].daemon = 0;
}

int clu_daemon_stop(unsigned node)
{
    if (!valid_node(node) || clu.node[node].daemon <= 0)
        return -1;
    int st = clu_kill(clu.node[node].daemon, SIGTERM, clu_deadline_ms(10000));
    clu.node[node].daemon = 0;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void dump_tail(const char *path, unsigned lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* The last `lines` lines: remember where each line starts. */
    long starts[64] = {0};
    unsigned count = 0;
    char buf[1024];
    long pos = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (lines > 64)
            lines = 64;
        starts[count++ % lines] = pos;
        pos = ftell(f);
    }
    fprintf(stderr, "---- %s (last %u lines) ----\n", path, count < lines ? count : lines);
    fseek(f, count < lines ? 0 : starts[count % lines], SEEK_SET);
    while (fgets(buf, sizeof buf, f))
        fputs(buf, stderr);
    fclose(f);
}

void clu_dump_logs(void)
{
    for (unsigned i = 1; i <= clu.n; i++) {
        dump_tail(clu.node[i].out, 10);
        dump_tail(clu.node[i].log, 15);
        dump_tail(clu.node[i].dlog, 20);
    }
}
