/* dirtylogd: hosts dirty logs for `userspace` clients over a unix socket.
 * Options, logging, signals and the admin client; the work is in the
 * request layer (request.h) and the transport (net.h): docs/dirtylogd.md,
 * "Code map". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "admin.h"
#include "confine.h"
#include "kernel.h"
#include "log_internal.h" /* dl__parse_u64 */
#include "net.h"
#include "pidfile.h"
#include "state.h" /* dld_state_dirs_overlap */
#ifdef DLD_HAVE_CLUSTER
#include "cluster_type.h"
#endif

#define DLD_DEFAULT_STATE_DIR "/var/lib/dirtylogd/state"

static int foreground, verbose;
static int stop_pipe[2] = {-1, -1};

static void say(int level, const char *fmt, ...) DL_PRINTF(2, 3);
static void say(int level, const char *fmt, ...)
{
    if (level >= LOG_INFO && !verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (foreground) {
        flockfile(stderr);
        fputs("dirtylogd: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        funlockfile(stderr);
    } else {
        vsyslog(level, fmt, ap);
    }
    va_end(ap);
}

static void on_signal(int sig)
{
    (void)sig;
    int e = errno;
    (void)!write(stop_pipe[1], "x", 1);
    errno = e;
}

static void usage(FILE *f)
{
    fprintf(f,
"Usage: dirtylogd [options]\n"
"Hosts dirty-region logs for dirtylog's `userspace` log type.\n"
"\n"
"  -s, --socket PATH       unix socket to listen on (default: $" DLW_SOCKET_ENV " or\n"
"                          " DLW_DEFAULT_SOCKET "), created mode 0600\n"
"  -g, --group NAME        make the socket mode 0660, owned by this group\n"
"  -u, --allow-uid LIST    comma-separated users or uids allowed on the unix\n"
"                          socket (default: the daemon's own uid and root)\n"
"  -f, --foreground        stay in the foreground and log to stderr\n"
"                          (otherwise detach and log to syslog)\n"
"  -v, --verbose           log connections, logs and failed requests\n"
"  -j, --threads N         worker threads (default 4)\n"
"      --max-clients N     connections at once (default 1024)\n"
"      --max-logs N        logs at once (default 1024)\n"
"      --max-payload BYTES largest request payload (default and maximum %u)\n"
"      --log-dir DIR       disk logs live beneath DIR (default " DLD_DEFAULT_LOG_DIR ")\n"
"      --allow-device PATH also allow this block device as a disk log (repeatable)\n"
"      --max-clients-per-uid N\n"
"                          connections at once per uid (default max-clients/4;\n"
"                          root and the daemon's own uid are exempt)\n"
"      --idle-timeout SECS close connections idle this long (default 600)\n"
"      --io-timeout SECS   close a connection whose request is not complete, or\n"
"                          whose replies it does not read, this long (default 30)\n"
"      --max-logs-per-uid N     logs one uid may own (default %u)\n"
"      --max-clients-per-log N  clients of one log (default %u)\n"
"      --max-regions N     largest log, in regions (default %llu)\n"
"      --max-log-memory BYTES   mark bookkeeping per log (default %llu)\n"
"      --max-uid-memory BYTES   mark bookkeeping per uid, all its logs (default %llu)\n"
"                          (a mark over either gets -EDQUOT)\n"
"      --state-dir DIR     where the daemon persists who uses each log, so that a\n"
"                          restart keeps every client's marks (default\n"
"                          " DLD_DEFAULT_STATE_DIR ", created mode 0700)\n"
"  -r, --release UUID[:TAG]\n"
"                          do not serve: ask the running daemon to drop the marks\n"
"                          of disconnected clients of log UUID (all of them, or\n"
"                          only the client whose tag -v or --list printed) and exit\n"
"  -l, --list [--json]     do not serve: list the running daemon's logs and their\n"
"                          clients (root sees all; others their own) and exit\n"
"      --pidfile PATH      write the daemon's pid there once it listens (locked;\n"
"                          refuses to start if a running daemon holds it)\n"
"      --kernel            also serve Linux device-mapper's `userspace` log\n"
"                          (dm-mirror) over the kernel connector (root, in the\n"
"                          initial network namespace)\n"
"      --cluster           join corosync and host clustered_core and clustered_disk\n"
"                          logs shared by several hosts (see dirtylogd(8))\n"
"  -h, --help              this text\n"
"\n"
"Unix sockets passed by a service manager (LISTEN_PID/LISTEN_FDS) are used too;\n"
"when some are passed, no socket is created unless --socket is given.\n"
"SIGTERM or SIGINT: flush and postsuspend every log, then exit (0 on success).\n"
"Manual: man dirtylogd (dirtylogd(8)); the library: man 3 dirtylog.\n",
            DLW_MAX_PAYLOAD, DLD_DEFAULT_MAX_LOGS_PER_UID, DLD_DEFAULT_MAX_SESSIONS_PER_LOG,
            (unsigned long long)DLD_DEFAULT_MAX_REGIONS, (unsigned long long)DLD_DEFAULT_MAX_LOG_MEMORY,
            (unsigned long long)DLD_DEFAULT_MAX_UID_MEMORY);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_allow(char *list, uid_t **out, size_t *n)
{
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        uid_t uid;
        char *end;
        unsigned long v = strtoul(tok, &end, 10);
        if (*tok && !*end) {
            uid = (uid_t)v;
        } else {
            struct passwd *pw = getpwnam(tok);
            if (!pw) {
                fprintf(stderr, "dirtylogd: unknown user '%s'\n", tok);
                return -1;
            }
            uid = pw->pw_uid;
        }
        uid_t *nu = realloc(*out, (*n + 1) * sizeof *nu);
        if (!nu)
            return -1;
        *out = nu;
        nu[(*n)++] = uid;
    }
    return 0;
}

/* The listeners are up (net.h, ready): now the pid file names us. */
static int write_pidfile(void *arg)
{
    struct dld_pidfile *pf = arg;
    int r = dld_pidfile_write(pf);
    if (r < 0)
        say(LOG_ERR, "cannot write pid file %s: %s", pf->path, strerror(-r));
    return r;
}

/* A start that fails after the log directory was opened: give back what was
 * taken (pidfile may be NULL, kernel_fd -1), so no exit path leaks. */
static int start_failed(struct dld_confine *confine, uid_t *allow, int kernel_fd,
                        struct dld_pidfile *pidfile)
{
    if (kernel_fd >= 0)
        close(kernel_fd);
    if (pidfile)
        dld_pidfile_release(pidfile);
    dld_confine_fini(confine);
    free(allow);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"group", required_argument, NULL, 'g'},
        {"tcp", required_argument, NULL, 't'}, /* removed: refused with a reason */
        {"max-clients-per-uid", required_argument, NULL, 20},
        {"idle-timeout", required_argument, NULL, 21},
        {"io-timeout", required_argument, NULL, 22},
        {"allow-uid", required_argument, NULL, 'u'},
        {"foreground", no_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'},
        {"threads", required_argument, NULL, 'j'},
        {"max-clients", required_argument, NULL, 1},
        {"max-logs", required_argument, NULL, 2},
        {"max-payload", required_argument, NULL, 3},
        {"release", required_argument, NULL, 'r'},
        {"log-dir", required_argument, NULL, 10},
        {"allow-device", required_argument, NULL, 11},
        {"state-dir", required_argument, NULL, 4},
        {"max-logs-per-uid", required_argument, NULL, 5},
        {"max-clients-per-log", required_argument, NULL, 6},
        {"max-regions", required_argument, NULL, 7},
        {"max-log-memory", required_argument, NULL, 8},
        {"max-uid-memory", required_argument, NULL, 9},
        {"kernel", no_argument, NULL, 30},
        {"pidfile", required_argument, NULL, 12},
        {"list", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 13},
        {"cluster", no_argument, NULL, 31},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dld_net_config cfg = {.threads = 4, .max_clients = 1024};
    struct dld_limits limits = {.max_logs = 1024, .max_payload = DLW_MAX_PAYLOAD};
    uid_t *allow = NULL;
    size_t nallow = 0;
    const char *release = NULL;
    const char *log_dir = DLD_DEFAULT_LOG_DIR;
    char **devices = NULL;
    size_t ndevices = 0;
    const char *state_dir = DLD_DEFAULT_STATE_DIR;
    const char *pidfile_path = NULL;
    int list = 0, json = 0;
    int socket_given = 0, kernel = 0, cluster = 0;
    unsigned long v;
    int c;
    while ((c = getopt_long(argc, argv, "s:g:t:u:fvj:r:lh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            cfg.socket_path = optarg;
            socket_given = 1;
            break;
        case 'g':
            cfg.group = optarg;
            break;
        case 't':
            fprintf(stderr, "dirtylogd: raw TCP was removed: it had no authentication; share logs "
                            "across machines with the cluster mode (corosync)\n");
            return 2;
        case 20:
        case 21:
        case 22:
            if (parse_uint(optarg, 1000000, &v) < 0) {
                fprintf(stderr, "dirtylogd: bad number '%s'\n", optarg);
                return 2;
            }
            *(c == 20 ? &cfg.max_clients_per_uid : c == 21 ? &cfg.idle_timeout : &cfg.io_timeout) =
                (unsigned)v;
            break;
        case 'u':
            if (parse_allow(optarg, &allow, &nallow) < 0)
                return 2;
            break;
        case 'f':
            foreground = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'r':
            release = optarg;
            break;
        case 4:
            if (optarg[0] != '/') {
                fprintf(stderr, "dirtylogd: --state-dir needs an absolute path\n");
                return 2;
            }
            state_dir = optarg;
            break;
        case 5:
        case 6:
            if (parse_uint(optarg, 1000000, &v) < 0) {
                fprintf(stderr, "dirtylogd: bad number '%s'\n", optarg);
                return 2;
            }
            *(c == 5 ? &limits.max_logs_per_uid : &limits.max_sessions_per_log) = (unsigned)v;
            break;
        case 7:
        case 8:
        case 9: {
            uint64_t *to = c == 7 ? &limits.max_regions
                           : c == 8 ? &limits.max_log_memory : &limits.max_uid_memory;
            if (dl__parse_u64(optarg, to) < 0 || *to == 0) {
                fprintf(stderr, "dirtylogd: bad number '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 10:
            log_dir = optarg;
            break;
        case 12:
            pidfile_path = optarg;
            break;
        case 'l':
        case 13:
            *(c == 'l' ? &list : &json) = 1;
            break;
        case 11: {
            char **nd = realloc(devices, (ndevices + 1) * sizeof *nd);
            if (!nd)
                return 1;
            devices = nd;
            devices[ndevices++] = optarg;
            break;
        }
        case 'j':
        case 1:
        case 2:
        case 3:
            if (parse_uint(optarg, c == 3 ? DLW_MAX_PAYLOAD : c == 'j' ? 256 : 1000000, &v) < 0) {
                fprintf(stderr, "dirtylogd: bad number '%s'\n", optarg);
                return 2;
            }
            if (c == 'j')
                cfg.threads = (unsigned)v;
            else if (c == 1)
                cfg.max_clients = (unsigned)v;
            else if (c == 2)
                limits.max_logs = (unsigned)v;
            else
                limits.max_payload = (uint32_t)v;
            break;
        case 30:
            kernel = 1;
            break;
        case 31:
#ifndef DLD_HAVE_CLUSTER
            fprintf(stderr, "dirtylogd: --cluster: this dirtylogd was built without corosync "
                            "(libcpg, libquorum)\n");
            return 2;
#endif
            cluster = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dirtylogd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (release && list) {
        fprintf(stderr, "dirtylogd: --release and --list are separate commands\n");
        return 2;
    }
    if (release || list) {
        free(allow);
        const char *path = socket_given ? cfg.socket_path : dl__wire_default_socket_path();
        return release ? dld_admin_release(path, release) : dld_admin_list(path, json);
    }
    if (json) {
        fprintf(stderr, "dirtylogd: --json goes with --list\n");
        return 2;
    }
    if (kernel && geteuid() != 0) {
        fprintf(stderr, "dirtylogd: --kernel needs root: the kernel ignores replies from "
                        "senders without CAP_SYS_ADMIN\n");
        return 1;
    }
    if (!socket_given && !getenv("LISTEN_FDS"))
        cfg.socket_path = dl__wire_default_socket_path();
    if (!nallow) {
        allow = malloc(2 * sizeof *allow);
        if (!allow)
            return 1;
        allow[nallow++] = geteuid();
        allow[nallow++] = 0;
    }
    cfg.allow = allow;
    cfg.nallow = nallow;
    if (dld_state_dirs_overlap(log_dir, state_dir)) {
        /* A client must never be able to name a state file as its log device. */
        fprintf(stderr, "dirtylogd: --log-dir %s and --state-dir %s overlap: they must be apart\n",
                log_dir, state_dir);
        return 2;
    }
    struct dld_confine confine;
    char why[512];
    if (dld_confine_init(&confine, log_dir, devices, ndevices, why, sizeof why) < 0) {
        fprintf(stderr, "dirtylogd: %s\n", why);
        free(devices);
        free(allow);
        return 1;
    }
    free(devices);
    int kernel_fd = -1;
    if (kernel && (kernel_fd = dld_kernel_open(why, sizeof why)) < 0) {
        fprintf(stderr, "dirtylogd: --kernel: %s\n", why);
        return start_failed(&confine, allow, -1, NULL);
    }

    if (pipe(stop_pipe) < 0) {
        perror("dirtylogd: pipe");
        return start_failed(&confine, allow, kernel_fd, NULL);
    }
    fcntl(stop_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(stop_pipe[1], F_SETFD, FD_CLOEXEC);
    fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);

    /* Before daemon() (its child inherits the lock): a refusal is seen. */
    struct dld_pidfile pidfile = {.fd = -1};
    if (pidfile_path && dld_pidfile_claim(&pidfile, pidfile_path, why, sizeof why) < 0) {
        fprintf(stderr, "dirtylogd: %s\n", why);
        return start_failed(&confine, allow, kernel_fd, NULL);
    }
    if (pidfile_path) {
        cfg.ready = write_pidfile;
        cfg.ready_arg = &pidfile;
    }
    if (!foreground) {
        openlog("dirtylogd", LOG_PID, LOG_DAEMON);
        if (daemon(0, 0) < 0) {
            perror("dirtylogd: daemon");
            return start_failed(&confine, allow, kernel_fd, &pidfile);
        }
    }

    struct dld_server srv;
    if (dld_server_init(&srv, &limits) < 0)
        return start_failed(&confine, allow, kernel_fd, &pidfile);
    srv.verbose = verbose;
    srv.confine = &confine;
    srv.logf = say;
#ifdef DLD_HAVE_CLUSTER
    if (cluster) {
        if (dld_cluster_register() < 0) {
            say(LOG_ERR, "cannot register the clustered log types");
            dld_server_destroy(&srv);
            return start_failed(&confine, allow, kernel_fd, &pidfile);
        }
        srv.create_cluster_log = dld_cluster_create_log;
    }
#endif
    (void)cluster;
    char boot[DLD_BOOT_ID_MAX] = ""; /* kernel sessions end with their boot */
    if (kernel_fd >= 0 && dld_kernel_boot_id(boot) < 0)
        boot[0] = '\0';
    if (boot[0] && dld_kernel_forget_old_boot(state_dir, boot, say) < 0)
        say(LOG_ERR, "kernel: cannot check the state directory for a previous boot");
    if (dld_server_open_state(&srv, state_dir) < 0) {
        dld_server_destroy(&srv);
        return start_failed(&confine, allow, kernel_fd, &pidfile);
    }
    if (boot[0])
        dld_kernel_record_boot(&srv, boot); /* a failure is logged */
    /* The kernel channel runs in a thread of its own (kernel.h) and stops
     * with the socket transport, before the logs are flushed. */
    struct dld_kernel_thread *kt = NULL;
    int r = kernel_fd >= 0 ? dld_kernel_start(&kt, &srv, kernel_fd, 1, stop_pipe[0],
                                                    stop_pipe[1]) : 0;
    if (r == 0)
        r = dld_net_run(&srv, &cfg, stop_pipe[0]);
    if (kt) {
        (void)!write(stop_pipe[1], "x", 1); /* the transport may have failed alone */
        int kr = dld_kernel_join(kt);
        r = r < 0 ? r : kr;
    }
    if (kernel_fd >= 0)
        close(kernel_fd);
    int failed = dld_server_flush_all(&srv);
    dld_server_destroy(&srv);
    dld_confine_fini(&confine);
    dld_pidfile_release(&pidfile);
    free(allow);
    if (r < 0)
        say(LOG_ERR, "stopped: %s", strerror(-r));
    else
        say(LOG_INFO, "stopped");
    return r < 0 || failed ? 1 : 0;
}
