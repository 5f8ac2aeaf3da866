/* Start and stop a private dirtylogd for a test: a fresh mkdtemp directory,
 * the daemon binary given on the command line (ctest passes
 * $<TARGET_FILE:dirtylogd>), a socket inside that directory. */
#ifndef DL_TEST_DAEMON_FIXTURE_H
#define DL_TEST_DAEMON_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

struct daemon_fx {
    const char *binary;
    char dir[64];
    char socket[80];
    char state_dir[64]; /* --state-dir: kept across restarts, apart from dir */
    const char *stderr_path; /* if set, the daemon's stderr is appended there */
    pid_t pid;
    /* RLIMIT_NOFILE of the daemon (soft and hard), set before exec; 0: the
     * test's own. */
    unsigned long nofile;
};

/* Make the directory (once) and start the daemon with extra arguments
 * (NULL-terminated list, may be NULL); wait until its socket accepts.
 * 0 or -1. */
/* Make the test's directory (a fresh mkdtemp) and name the socket in it,
 * unless fx->dir is set already: 0 or -1. daemon_start calls it; a test
 * that needs the directory before the daemon starts calls it first. */
int daemon_make_dir(struct daemon_fx *fx);
int daemon_start(struct daemon_fx *fx, const char *binary, const char *const *extra);
/* SIGTERM and wait: returns the exit status (0 = clean), or -1. */
int daemon_stop(struct daemon_fx *fx);
/* SIGKILL and wait (no cleanup by the daemon). */
void daemon_kill9(struct daemon_fx *fx);
/* Remove the directories and what the tests left in them. */
void daemon_cleanup(struct daemon_fx *fx);
/* Run `dirtylogd --socket <ours> --release SPEC` (stdout silenced); its exit
 * status, or -1. */
int daemon_release(const struct daemon_fx *fx, const char *spec);
/* execv(binary, argv), through $DL_TEST_EMULATOR when it is set (words
 * separated by spaces, e.g. "qemu-s390x -L /usr/s390x-linux-gnu": .ci/cross
 * runs the tests of a cross build so). For a forked child; returns only if
 * the exec failed. */
void daemon_exec(const char *binary, const char *const *argv);
/* In a child: become uid (and gid uid) and run binary as daemon_exec does,
 * even where uid cannot reach the binary by its path (the file is opened
 * before the switch). Returns only on failure: -errno. */
int daemon_exec_as(uid_t uid, const char *binary, const char *const *argv);
/* A raw connection to the daemon's socket, or -1. */
int daemon_connect(const struct daemon_fx *fx);
/* Run `dirtylogd --socket S --list [--json]` (as uid when uid >= 0) with its
 * stdout into out[cap] (NUL-terminated) and into <dir>/list.out; its exit
 * status, or -1. */
int daemon_list(const struct daemon_fx *fx, int json, long uid, char *out, size_t cap);
/* Scale factor for heavy tests: DL_TEST_SCALE (percent, default 100). */
unsigned test_scale_percent(void);

#endif
