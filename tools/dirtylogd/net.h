/* dirtylogd's sockets and threads: one acceptor (the calling thread) and a
 * small fixed pool of workers, each running its own poll() loop over the
 * connections it was given. A request is read, handled and answered by the
 * same worker (no hand-off, so one round trip costs little more than a raw
 * socket ping-pong); a slow disk flush delays only the clients that share
 * that worker, never the others.
 *
 * Only unix sockets: the peer's uid comes from SO_PEERCRED. (Raw TCP was
 * removed: it had no authentication.) No client can block a worker: replies
 * go out without blocking through a bounded per-connection buffer, and
 * every connection is bounded in time and in number (docs/dirtylogd.md,
 * "Limits"). */
#ifndef DLD_NET_H
#define DLD_NET_H

#include <sys/types.h>

#include "server.h"

struct dld_net_config {
    const char *socket_path; /* NULL: none (e.g. only LISTEN_FDS) */
    const char *group;       /* socket mode 0660 and this group; NULL: 0600 */
    unsigned threads;
    unsigned max_clients;
    /* Connections at once per peer uid; 0: max_clients / 4 (at least 1).
     * Root and the daemon's own uid are exempt. */
    unsigned max_clients_per_uid;
    /* Seconds. A connection with no request in progress and no reply
     * queued for idle_timeout is closed (its sessions keep their marks; the
     * client reconnects on its next request). A request that has not
     * arrived whole io_timeout after its first byte, or queued replies the
     * client has not read any of for io_timeout, close the connection.
     * 0: the defaults (600 and 30). */
    unsigned idle_timeout;
    unsigned io_timeout;
    const uid_t *allow;      /* peers allowed on unix sockets */
    size_t nallow;
    /* If set: called once every listener listens, before the first accept
     * (main.c writes --pidfile then); < 0 (-errno) stops the daemon. */
    int (*ready)(void *arg);
    void *ready_arg;
};

/* Serve until stop_fd becomes readable; then close every connection (their
 * sessions are detached) and the listeners. 0, or -errno if the listeners
 * could not be set up (a socket from the service manager that is not a unix
 * socket is refused: -EPROTONOSUPPORT). */
int dld_net_run(struct dld_server *srv, const struct dld_net_config *cfg, int stop_fd);

#endif
