/* dirtylogd's persisted state: per hosted log, the sessions it knows (so that
 * after a restart it can hold every clear until each of them has reattached
 * and re-sent its marks, docs/protocol.md "Restarts"). One file per log in
 * the state directory, named "log-<base64url(uuid)>.state", written
 * atomically (temp file, fsync, rename, fsync of the directory) when a
 * session is created or dropped, never per mark. Format: docs/protocol.md
 * "State files" (little-endian, versioned, CRC32C). */
#ifndef DLD_STATE_H
#define DLD_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "remote/wire.h"

#define DLD_STATE_VERSION 1u
#define DLD_STATE_MAX_SESSIONS 65536u /* sessions per log a state file may list */
#define DLD_STATE_MAX_CTR 4096u       /* = the daemon's constructor limit */

struct dld_state_session {
    uint64_t luid;
    uint32_t uid;
};

struct dld_state {
    char uuid[DLW_UUID_SIZE];
    char *ctr; /* "<target> <type> <args...>" */
    uint32_t owner_uid;
    uint32_t nsessions;
    struct dld_state_session *sessions;
};

/* Encode into a malloc'ed buffer. 0 or -ENOMEM/-E2BIG. */
int dld_state_encode(const struct dld_state *st, uint8_t **buf, size_t *len);
/* Decode and check everything (magic, version, lengths, CRC, the uuid and
 * constructor strings). 0 or -EBADMSG/-ENOMEM with a reason in err. On
 * success st owns its allocations (dld_state_free). */
int dld_state_decode(const uint8_t *buf, size_t len, struct dld_state *st, char *err,
                     size_t errlen);
void dld_state_free(struct dld_state *st);

/* Write a log's state atomically beneath dirfd. 0 or -errno (err says why). */
int dld_state_save(int dirfd, const struct dld_state *st, char *err, size_t errlen);
/* Remove a log's state file (and fsync the directory); a missing file is 0. */
int dld_state_remove(int dirfd, const char *uuid, char *err, size_t errlen);

/* Every state file beneath dirfd: fn(arg, uuid, st, error, err) once per file,
 * with error 0 and st decoded, or error < 0 and st NULL when the file is
 * unreadable or corrupt (uuid is then taken from the file's name). Leftover
 * temp files are removed. Returns 0 or -errno if the directory cannot be read. */
typedef void (*dld_state_fn)(void *arg, const char *uuid, const struct dld_state *st,
                             int error, const char *err);
int dld_state_scan(int dirfd, dld_state_fn fn, void *arg);

/* 1 if the two directories are the same or one is inside the other (after
 * resolving symlinks; a directory that does not exist yet is compared by
 * its path), else 0. The daemon refuses to start when its state directory
 * and its log directory overlap: no client may name a state file as a log. */
int dld_state_dirs_overlap(const char *a, const char *b);

/* The file name of a log's state ("log-<base64url>.state"), into name[]. */
#define DLD_STATE_NAME_MAX 192
void dld_state_file_name(const char *uuid, char name[DLD_STATE_NAME_MAX]);

#endif
