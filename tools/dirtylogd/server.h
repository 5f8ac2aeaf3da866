/* dirtylogd's state and request handling, independent of sockets and
 * threads: the event loops (net.c) feed received bytes to dld_conn_input()
 * (conn.c), which frames messages with the shared codec, hands each to the
 * request layer (request.h, the one entry point for every transport) and
 * every reply to a send callback. The fuzz target drives the same functions
 * without any socket. Code map: docs/dirtylogd.md. */
#ifndef DLD_SERVER_H
#define DLD_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "confine.h"
#include "dirtylog.h"
#include "remote/wire.h"
#include "remote/u64map.h"
#include "quota.h"
#include "request.h"

#define DLD_LOG_BUCKETS 256

struct dld_session;

/* A hosted log, shared by every session that CTRed its uuid. */
struct dld_log {
    struct dld_log *next; /* hash chain, under srv->lock */
    char uuid[DLW_UUID_SIZE];
    char *ctr;            /* "<target> <type> <args...>" as received */
    dl_log *log;          /* NULL while creating, or when refused */
    uint32_t owner_uid;   /* the uid that created it; others (but root) get -EACCES */
    /* Under srv->lock: the entry is a placeholder while its log is being
     * created without the server lock; a CTR of the same uuid waits. */
    int creating;
    /* Not hosted: its state file was unreadable or its log could not be
     * recreated after a restart. Every CTR gets -EIO with this reason; the
     * entry stays until the operator repairs the state and restarts. */
    char *refusal;
    unsigned busy;        /* requests inside the log, under srv->lock */
    /* An operator released sessions: the log stays (its released marks stay
     * dirty, and a released client that was only reconnecting finds it
     * again) until a session created later ends with DTR. Under L->lock. */
    int released;
    pthread_mutex_t lock; /* sessions, marks, recovering, pending, held */
    struct dld_session *sessions;
    unsigned nsessions;
    struct u64map marks;      /* region -> number of sessions that marked it */
    struct u64map recovering; /* region -> luid of the session recovering it */
    /* Grace after a restart (docs/protocol.md "Restarts"): while sessions
     * listed in the state file have not reattached, no region goes from
     * dirty to clean; such clears wait in `held`. */
    unsigned pending;
    struct u64map held;
    /* Memory the clients' marks cost the daemon, charged to owner_uid (see
     * GROUP_COST in server_internal.h): every 32 Ki-region group the marks touched
     * (the hosted log keeps that memory for its lifetime) and every mark
     * entry. Under L->lock. */
    struct u64map groups;
    uint64_t charge;
};

/* One client of a log: (uuid, luid). conn_id 0 = disconnected, marks kept. */
struct dld_session {
    struct dld_session *next;
    uint64_t luid;
    uint64_t conn_id;
    uint32_t uid; /* the peer uid that created it: only it may CTR it again */
    pid_t pid;    /* the last peer pid attached (for the operator's eyes) */
    int pending;  /* listed before a restart, not yet reattached */
    struct u64map marks;      /* regions this client has marked */
    struct u64map recovering; /* regions this client was handed */
};

/* Every limit explicit; 0 in a field means its default. */
#define DLD_DEFAULT_MAX_LOGS_PER_UID 256u
#define DLD_DEFAULT_MAX_SESSIONS_PER_LOG 256u
#define DLD_DEFAULT_MAX_REGIONS (1ull << 32)        /* a 512 MiB bitmap */
#define DLD_DEFAULT_MAX_LOG_MEMORY (64ull << 20)    /* per log */
#define DLD_DEFAULT_MAX_UID_MEMORY (256ull << 20)   /* per uid, all its logs */
/* Regions in one MARK_REGION/CLEAR_REGION/FLUSH request (what the client
 * sends at most): bounds the work done under a log's lock per request. */
#define DLD_MAX_REGIONS_PER_REQUEST DLW_REGIONS_PER_MSG

struct dld_limits {
    unsigned max_logs;
    uint32_t max_payload;
    unsigned max_logs_per_uid;     /* logs one uid may own (root too) */
    unsigned max_sessions_per_log; /* clients of one log */
    uint64_t max_regions;          /* region count of a hosted log */
    uint64_t max_log_memory;       /* bytes of mark bookkeeping per log */
    uint64_t max_uid_memory;       /* the same, per uid over all its logs */
};

struct dld_server {
    pthread_mutex_t lock; /* the log table */
    pthread_cond_t created; /* a placeholder entry got its log (or went away) */
    int state_dirfd;      /* --state-dir, or -1: nothing persisted (fuzz target) */
    struct dld_log *buckets[DLD_LOG_BUCKETS];
    unsigned nlogs;
    struct dld_limits limits;
    const struct dld_confine *confine; /* where logs may live; NULL: no disk logs */
    struct dld_quota quota; /* per-uid memory (limits.max_uid_memory) */
    int verbose;
    /* --cluster (tools/dirtylogd/cluster): creates clustered_core and
     * clustered_disk logs (joining the log's group, named by its uuid);
     * NULL: those types are refused. 0 or -errno with a message in err. */
    int (*create_cluster_log)(const struct dld_server *srv, const char *uuid, const char *type,
                              uint64_t target, unsigned argc, char **argv, dl_log **log,
                              char *err, size_t errlen);
    /* Where diagnostics go (stderr or syslog); may be NULL. */
    void (*logf)(int level, const char *fmt, ...) DL_PRINTF(2, 3);
};

/* The protocol state of one connection of a stream transport (conn.c). */
struct dld_conn {
    uint64_t id; /* > 0, unique for the life of the server */
    /* Who is on the other end, as the transport proved it (SO_PEERCRED on a
     * unix socket); set by the transport right after dld_conn_init(). */
    uid_t peer_uid;
    pid_t peer_pid;
    uint8_t hdr[DLW_HEADER_SIZE];
    size_t hdr_len;
    struct dlw_header h; /* decoded once hdr_len == DLW_HEADER_SIZE */
    uint8_t *payload;
    size_t payload_len, payload_cap;
    int discard; /* skip the payload (header was invalid but sized) */
    int hdr_err; /* error to answer once the payload has been skipped */
};

/* Send one whole message (header + payload); 0 or -errno (the caller then
 * closes the connection). */
typedef int (*dld_send_fn)(void *arg, const uint8_t *msg, size_t len);

int dld_server_init(struct dld_server *srv, const struct dld_limits *limits);
/* Persist sessions beneath dir (created mode 0700 if missing) and host again
 * every log its state files list, each in grace until its sessions are back
 * (a file that cannot be read makes its log refused, never forgotten).
 * Before serving; 0 or -errno (the reason is logged). */
int dld_server_open_state(struct dld_server *srv, const char *dir);
/* Flush and postsuspend every log (what SIGTERM does); returns the number of
 * logs that failed. */
int dld_server_flush_all(struct dld_server *srv);
/* Destroy every log and session. */
void dld_server_destroy(struct dld_server *srv);

void dld_conn_init(struct dld_conn *c, uint64_t id);
/* Consume n received bytes; dispatch every complete message. Returns 0 to
 * keep the connection, <0 to close it (protocol violation or send failure). */
int dld_conn_input(struct dld_server *srv, struct dld_conn *c, const uint8_t *data, size_t n,
                   dld_send_fn send, void *arg);
/* The connection is gone: its sessions keep their marks, detached. A client
 * vanishing mid-message is not an error. Frees the connection's buffers. */
void dld_conn_closed(struct dld_server *srv, struct dld_conn *c);

/* Release detached sessions of a log on behalf of uid `who` (root or the
 * log's owner): with all = 1 every detached session, else the detached
 * sessions whose tag (dl__wire_client_tag) is `tag`. Returns the number released or -errno
 * (-EACCES, -ENOENT, -EBUSY if that client is attached). The ADMIN_RELEASE
 * request. */
int dld_release(struct dld_server *srv, uid_t who, const char *uuid, int all, uint32_t tag);

#endif
