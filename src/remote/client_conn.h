/* The userspace client's connection to dirtylogd: one request at a time
 * (callers serialise on the mutex inside), timeouts with resend under a new
 * seq, and transparent reconnection (connect, saved CTR, RESUME if the log
 * was resumed before, then the pending request). */
#ifndef DL_REMOTE_CLIENT_CONN_H
#define DL_REMOTE_CLIENT_CONN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"
#include "remote/wire.h"

struct rc_conn {
    /* where */
    char *socket_path; /* unix socket, or NULL for TCP */
    char *tcp_host, *tcp_port;
    /* who */
    char uuid[DLW_UUID_SIZE];
    uint64_t luid;
    char *ctr; /* "<target_sectors> <type> <args...>" */
    /* state, under lock */
    pthread_mutex_t lock;
    int fd;              /* -1 when disconnected */
    uint32_t seq;
    uint64_t generation; /* +1 at every successful (re)connection */
    int resumed;         /* RESUME succeeded once: re-send it after reconnecting */
    int timeout_ms;      /* per request before a resend */
    int reconnect_ms;    /* how long to keep trying to reach the daemon */
    dl_log *log;         /* for error messages */
};

/* Parse the location ("socket=<path>", "tcp=<host>:<port>" or NULL for the
 * default socket) and connect + CTR once (no retry). 0 or -errno with a
 * message recorded on log. */
int dl__rc_open(struct rc_conn *c, dl_log *log, const char *where, const char *uuid,
            const char *ctr);
/* Send DTR if connected, close, free. */
void dl__rc_close(struct rc_conn *c);

/* One request/reply, reconnecting as needed. Returns the reply's error (0 or
 * -errno from the daemon), or a connection error (-ENOTCONN, -ETIMEDOUT,
 * -EACCES ...) when the daemon could not be reached in reconnect_ms. The
 * reply payload goes to out (at most out_cap bytes; *out_len its length).
 * *generation (may be NULL) is the connection the reply came on. */
int dl__rc_request(struct rc_conn *c, uint32_t type, const void *payload, size_t len, void *out,
               size_t out_cap, size_t *out_len, uint64_t *generation);

#endif
