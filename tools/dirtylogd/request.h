/* The seam between dirtylogd's transports and its one request layer.
 *
 * A transport (the unix socket today: net.c reading bytes and conn.c
 * framing them; the kernel's netlink connector or corosync CPG later) is a
 * front end. It proves who sent a request (the peer's uid, pid and a
 * connection id unique for the life of the server), turns what it received
 * into a struct dld_request, calls dld_request_handle() and sends the
 * reply back in its own framing. Everything else (sessions, logs, quotas,
 * limits, persistence) happens behind this one call, identically for
 * every transport. When the transport loses a connection it calls
 * dld_sessions_detach() with the connection id: the sessions stay, with
 * their marks, until the client comes back or an operator releases them.
 *
 * The request layer trusts nothing in a request but the peer identity,
 * which is the transport's job to prove (SO_PEERCRED for unix sockets). */
#ifndef DLD_REQUEST_H
#define DLD_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dirtylog.h" /* DL_PRINTF */
#include "remote/wire.h"

struct dld_server;

#define DLD_REPLY_MAX 4096u /* largest reply payload (status strings) */

/* The peer uid of the kernel (the netlink front end, kernel.c): (uid_t)-1
 * is never a process's credential, so the kernel's logs and sessions stay
 * apart from every socket client's, root's included (docs/kernel.md). */
#define DLD_KERNEL_UID ((uid_t)-1)

/* Who sent a request, as the transport proved it. */
struct dld_peer {
    uint64_t conn_id; /* > 0; a session is attached to one connection */
    uid_t uid;
    pid_t pid;
};

/* One request: the decoded header (uuid, luid, request type; the transport
 * has checked the version and the payload size against max_payload), its
 * payload and who sent it. */
struct dld_request {
    const struct dlw_header *h;
    const uint8_t *payload;
    size_t len;
    struct dld_peer peer;
};

/* The answer: an error (0 or -errno) and a payload, which for an error is a
 * NUL-terminated human message (or empty). */
struct dld_reply {
    int32_t error;
    uint32_t len;
    uint8_t data[DLD_REPLY_MAX];
};

/* Handle one request; rp must start empty (error 0, len 0). Never fails as
 * a call: every outcome is in rp. */
void dld_request_handle(struct dld_server *srv, const struct dld_request *rq,
                        struct dld_reply *rp);

/* For a transport whose client cannot tell that the daemon restarted (the
 * kernel replays CTR + RESUME only while no daemon listens): take back the
 * peer's detached session (uuid, luid) and resume it, as the client's CTR +
 * RESUME would. 0; -ENOENT if there is no such session; or the error. */
int dld_request_reattach(struct dld_server *srv, const struct dld_peer *peer, const char *uuid,
                         uint64_t luid, struct dld_reply *rp);

/* A connection of the transport is gone: detach its sessions (they keep
 * their marks). */
void dld_sessions_detach(struct dld_server *srv, uint64_t conn_id);

/* Reply helpers for the request layer. dld_reply_fail() sets the error and
 * its message and returns err. */
void dld_reply_u64(struct dld_reply *rp, uint64_t v);
DL_PRINTF(3, 4)
int dld_reply_fail(struct dld_reply *rp, int err, const char *fmt, ...);

#endif
