/* A corosync cluster on one machine, for the cluster tests and benchmark.
 *
 * Each run makes a hub network namespace holding a bridge, and one namespace
 * per node (dlc<pid>-n<i>) joined to the bridge by a veth pair; the nodes'
 * addresses (10.213.0.<i>/24) exist only inside those namespaces. Each node
 * runs its own corosync (knet, no crypto, votequorum) with a private /run (a
 * tmpfs in a mount namespace of its own: corosync 3.1.7 keeps its pid lock
 * there), its state_dir and its log file in the run's temporary directory.
 * libqb's IPC sockets are abstract, so a program started in a node's namespace
 * (clu_spawn, clu_daemon_start) talks to that node's corosync.
 *
 * Everything started is recorded by pid and stopped by pid: clu_stop(), at
 * exit, on a fatal signal, and (PR_SET_PDEATHSIG) when the test itself is
 * killed. Namespaces and directories a killed run left behind are removed by
 * the next run (unless DL_CLUSTER_KEEP is set: then clu_stop keeps the run's
 * directory too, for its logs).
 * Waits poll a condition until a deadline; nothing sleeps to synchronise.
 *
 * Nodes are numbered from 1. Functions return 0 or -1 (after printing why). */
#ifndef DL_TEST_CLUSTER_FIXTURE_H
#define DL_TEST_CLUSTER_FIXTURE_H

#include <sys/types.h>

#define CLU_MAX_NODES 8

/* 0 if cluster tests can run here. Otherwise prints one line
 * "cluster tests skipped: <reason>" and returns 77 (the test's exit status):
 * not root, no `ip netns`, corosync not installed, libcpg not found at
 * configure time, or (with `dirtylogd` given) a daemon built without
 * --cluster. */
int clu_require(const char *dirtylogd);

/* Namespaces, bridge, links and corosync.conf for `nodes` nodes; no corosync
 * started yet. */
int clu_setup(unsigned nodes);
/* clu_setup, start every node's corosync, wait until each sees all nodes and
 * is quorate. */
int clu_start(unsigned nodes);
/* Start (again) the corosync of one node; does not wait. */
int clu_start_corosync(unsigned node);
/* SIGKILL one node's corosync and reap it. */
int clu_kill_corosync(unsigned node);
/* clu_kill_corosync (if it runs) and clu_start_corosync. */
int clu_restart_corosync(unsigned node);
/* The pid of a node's corosync, 0 if it does not run. */
pid_t clu_corosync_pid(unsigned node);
/* Poll until `node`'s corosync reports `members` nodes and the given quorum
 * state (1 quorate, 0 not), or the deadline passes (-1, with what it saw). */
int clu_wait_view(unsigned node, unsigned members, int quorate, unsigned timeout_ms);
/* Cut a node off the bridge (its veth down, the node's side loses carrier);
 * heal puts it back. Neither waits for corosync to notice. */
int clu_cut(unsigned node);
int clu_heal(unsigned node);

/* Start argv (argv[0] an absolute path) inside a node's network namespace,
 * stdout and stderr appended to out_path (NULL: /dev/null). The pid, or -1.
 * The fixture kills it at clu_stop unless clu_reap/clu_kill took it first. */
pid_t clu_spawn(unsigned node, const char *const *argv, const char *out_path);
/* Send sig (if not 0) and wait for the process, at most timeout_ms (then
 * SIGKILL). Its wait status, or -1. Forgets the pid. */
int clu_kill(pid_t pid, int sig, unsigned timeout_ms);

/* Run argv in a node's namespace and wait (bounded, 10 s); its stdout in out
 * (NUL-terminated, truncated to len - 1). The exit status, or -1. */
int clu_run(unsigned node, const char *const *argv, char *out, size_t len);

/* dirtylogd -f -v --cluster on a node: socket <node dir>/d.sock, state in
 * <node dir>/dstate, --log-dir the run's shared directory (clu_shared_dir:
 * where clustered_disk devices live), stderr to <node dir>/dirtylogd.log.
 * Waits (bounded) until its socket accepts. `extra`: more arguments, NULL-
 * terminated, may be NULL. */
int clu_daemon_start(unsigned node, const char *binary, const char *const *extra);
/* SIGKILL the node's daemon and reap it. */
void clu_daemon_kill9(unsigned node);
/* SIGTERM and wait (bounded); the exit status (0 clean), or -1. */
int clu_daemon_stop(unsigned node);
pid_t clu_daemon_pid(unsigned node);
const char *clu_daemon_socket(unsigned node);

/* Kill everything started (by pid), delete the namespaces and the run's
 * directory. Safe to call twice; also runs at exit. */
void clu_stop(void);
/* Print the tail of every node's corosync and dirtylogd log to stderr (for a
 * failing test). */
void clu_dump_logs(void);

unsigned clu_nodes(void);
const char *clu_dir(void);        /* the run's temporary directory */
const char *clu_shared_dir(void); /* <dir>/shared, every daemon's --log-dir */
const char *clu_node_dir(unsigned node);
const char *clu_node_ns(unsigned node);
/* Absolute path of a program found in PATH, /usr/sbin or /sbin, or NULL
 * (main thread only; the string stays valid). */
const char *clu_which(const char *name);

/* Milliseconds scaled for slow runs: DL_TEST_SCALE does not apply; under
 * DL_CI or DL_SANITIZER deadlines are doubled. */
unsigned clu_deadline_ms(unsigned ms);
/* A monotonic clock in milliseconds. */
unsigned long long clu_now_ms(void);

#endif
