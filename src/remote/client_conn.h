/* The userspace client's connection to dirtylogd: one request at a time
 * (callers serialise on the mutex inside), timeouts with resend under a new
 * seq, and transparent reconnection (connect, saved CTR, the held marks,
 * RESUME if the log was resumed before, then the pending request).
 *
 * Held marks: the regions whose mark a FLUSH acknowledged and whose clear no
 * FLUSH has acknowledged yet. The daemon may have restarted and lost who
 * marked what (docs/protocol.md "Restarts"), so every reattachment re-sends
 * them before anything else; they change only together with a FLUSH's
 * acknowledgement, under the connection's lock.
 *
 * Across fork(): the connection belongs to the process that opened it. In a
 * child every request fails with -EBADF, and closing sends no DTR (the
 * parent's session is not the child's to end). */
#ifndef DL_REMOTE_CLIENT_CONN_H
#define DL_REMOTE_CLIENT_CONN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dirtylog.h"
#include "remote/u64map.h"
#include "remote/wire.h"

/* Values of a batch map (region -> op) given to dl__rc_flush. */
enum { RC_OP_NONE = 0, RC_OP_MARK = 1, RC_OP_CLEAR = 2 };

struct rc_conn {
    /* where */
    char *socket_path; /* the daemon's unix socket */
    /* who */
    char uuid[DLW_UUID_SIZE];
    uint64_t luid;
    char *ctr; /* "<target_sectors> <type> <args...>" */
    /* state, under lock */
    pthread_mutex_t lock;
    int fd;              /* -1 when disconnected */
    int connect_err;     /* -errno of the last failed connect(), 0 after a success */
    uint32_t seq;
    uint64_t generation; /* +1 at every successful (re)connection */
    int resumed;         /* RESUME succeeded once: re-send it after reconnecting */
    int timeout_ms;      /* per request before a resend */
    int reconnect_ms;    /* how long to keep trying to reach the daemon */
    struct u64map held;  /* acknowledged marks not yet cleared (see above) */
    pid_t pid;           /* the process that opened it (for messages) */
    unsigned fork_epoch; /* forks seen when it was opened (client_conn.c) */
    dl_log *log;         /* for error messages */
};

/* Parse the location ("socket=<path>" or NULL for the default socket) and connect + CTR once (no retry). 0 or -errno with a
 * message recorded on log. */
int dl__rc_open(struct rc_conn *c, dl_log *log, const char *where, const char *uuid,
            const char *ctr);
/* Send DTR if connected (and not in a forked child), close, free. */
void dl__rc_close(struct rc_conn *c);
/* 1 in a process forked after dl__rc_open (the connection is the parent's),
 * with a message recorded on the log; 0 otherwise. */
int dl__rc_forked(struct rc_conn *c);

/* Why connecting to the socket at path failed with err (-errno), in words
 * an operator can act on (no socket there, nothing listening, not a
 * socket, permission denied), with a hint, into buf. Returns err, made
 * -ENOTSOCK when the path exists but is not a socket. Also used by
 * dirtylogd's admin client. */
int dl__rc_connect_reason(const char *path, int err, char *buf, size_t len);

/* One request/reply, reconnecting as needed. Returns the reply's error (0 or
 * -errno from the daemon), or a connection error (-ENOTCONN, -ETIMEDOUT,
 * -EACCES ...) when the daemon could not be reached in reconnect_ms. The
 * reply payload goes to out (at most out_cap bytes; *out_len its length).
 * *generation (may be NULL) is the connection the reply came on. */
int dl__rc_request(struct rc_conn *c, uint32_t type, const void *payload, size_t len, void *out,
               size_t out_cap, size_t *out_len, uint64_t *generation);

/* The FLUSH that ends a batch (payload: regions to mark first, or none).
 * *generation is the connection the batch's earlier messages went on (0 if
 * none): if the FLUSH is acknowledged on it, the batch's RC_OP_MARK regions
 * become held and its RC_OP_CLEAR regions stop being held, atomically with
 * the acknowledgement; if the connection changed, -EAGAIN (send it all
 * again). */
int dl__rc_flush(struct rc_conn *c, const void *payload, size_t len, uint64_t *generation,
                 const struct u64map *batch);

#endif
