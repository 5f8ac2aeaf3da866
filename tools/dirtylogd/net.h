/* dirtylogd's sockets and threads: one acceptor (the calling thread) and a
 * small fixed pool of workers, each running its own poll() loop over the
 * connections it was given. A request is read, handled and answered by the
 * same worker (no hand-off, so one round trip costs little more than a raw
 * socket ping-pong); a slow disk flush delays only the clients that share
 * that worker, never the others. */
#ifndef DLD_NET_H
#define DLD_NET_H

#include <sys/types.h>

#include "server.h"

struct dld_net_config {
    const char *socket_path; /* NULL: none (e.g. only LISTEN_FDS or TCP) */
    const char *group;       /* socket mode 0660 and this group; NULL: 0600 */
    const char *tcp;         /* "[ADDR:]PORT" or NULL */
    unsigned threads;
    unsigned max_clients;
    const uid_t *allow;      /* peers allowed on unix sockets */
    size_t nallow;
};

/* Serve until stop_fd becomes readable; then close every connection (their
 * sessions are detached) and the listeners. 0, or -errno if the listeners
 * could not be set up. */
int dld_net_run(struct dld_server *srv, const struct dld_net_config *cfg, int stop_fd);

#endif
