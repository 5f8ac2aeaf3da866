/* dirtylogd --pidfile: a file naming the running daemon's pid, claimed with
 * a write lock of its open file description (F_OFD_SETLK, else flock) for
 * the daemon's lifetime, so two daemons never both claim it and a daemon
 * that died (kill -9, a crash) leaves a file whose lock is free: the next
 * one takes it over. The lock survives daemon()'s fork, so the claim comes
 * first and a refusal is seen on the terminal. */
#ifndef DLD_PIDFILE_H
#define DLD_PIDFILE_H

#include <stddef.h>

struct dld_pidfile {
    int fd; /* -1: none */
    const char *path;
};

/* Open and lock path (created 0644 if missing; a symlink is refused). 0, or
 * -errno with the reason in why: -EEXIST when a running daemon holds it
 * (its pid in why). */
int dld_pidfile_claim(struct dld_pidfile *pf, const char *path, char *why, size_t len);
/* Write our pid into the claimed file (once the sockets listen). 0 or -errno. */
int dld_pidfile_write(struct dld_pidfile *pf);
/* At a clean exit: remove the file and drop the lock. */
void dld_pidfile_release(struct dld_pidfile *pf);

#endif
