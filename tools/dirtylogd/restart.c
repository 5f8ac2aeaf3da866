/* dirtylogd after a restart (docs/protocol.md "Restarts"): the logs its
 * state files list are hosted again, each in grace until every session
 * listed has reattached and re-sent its marks (or was released); during the
 * grace no region goes from dirty to clean, the clears wait in L->held and
 * are applied when it ends. A state file that cannot be honoured makes its
 * log refused, never forgotten. The files themselves: state.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "log_internal.h" /* dl__split_words */
#include "server_internal.h"
#include "state.h"

/* Every session known before the restart is back (or released): the clears
 * held meanwhile are applied where no session has the region marked. */
static void end_grace(struct dld_server *srv, struct dld_log *L)
{
    size_t applied = 0;
    for (size_t i = 0; i < L->held.cap; i++) {
        if (!L->held.used[i] || dl__u64map_get(&L->marks, L->held.keys[i]))
            continue;
        if (dl_log_clear_region(L->log, L->held.keys[i]) == 0)
            applied++;
    }
    SAY(srv, LOG_NOTICE, "log %s: every client known before the restart is back or released; "
        "%zu held clear(s) applied", L->uuid, applied);
    dld__uncharge(srv, L, (uint64_t)L->held.len * ENTRY_COST);
    dl__u64map_clear(&L->held);
}

/* A pending session finished reattaching (its RESUME or FLUSH after CTR:
 * its marks have been re-sent), or was dropped. */
void dld__session_back(struct dld_server *srv, struct dld_log *L, struct dld_session *s)
{
    if (!s->pending)
        return;
    s->pending = 0;
    if (--L->pending == 0)
        end_grace(srv, L);
}

/* Clear a region in the log, unless a grace period holds it (then it is
 * re-evaluated when the grace ends). held has room (reserve_clears). */
int dld__log_clear(struct dld_log *L, uint64_t r)
{
    if (L->pending) {
        int added;
        dl__u64map_put(&L->held, r, &added);
        return 0;
    }
    return dl_log_clear_region(L->log, r);
}

/* Room (and quota) for the clears of a request that a grace period may
 * hold: each new held region is charged like a mark entry. */
int dld__reserve_clears(struct dld_server *srv, struct dld_log *L, const uint8_t *p, size_t len,
                        struct dld_reply *rp)
{
    if (!L->pending)
        return 0;
    struct u64map fresh;
    dl__u64map_init(&fresh);
    int r = dl__u64map_reserve(&L->held, len / 8), added;
    for (size_t i = 0; r == 0 && i < len; i += 8) {
        uint64_t region = get_le64(p + i);
        if (!dl__u64map_get(&L->held, region) && !dl__u64map_put(&fresh, region, &added))
            r = -ENOMEM;
    }
    r = r < 0 ? dld_reply_fail(rp, -ENOMEM, "out of memory")
              : dld__charge(srv, L, (uint64_t)fresh.len * ENTRY_COST, rp);
    dl__u64map_free(&fresh);
    return r;
}

/* The constructor a log is hosted again with after a restart: the one its
 * clients sent, less the `sync`/`nosync` flag (words after the first
 * argument), which applies at first activation only: at load it rewrites
 * the whole bitmap, so a re-host with it would wipe every mark acknowledged
 * before the restart. The clients' replayed CTR still matches L->ctr.
 * Malloc'ed, or NULL (out of memory). */
static char *rehost_ctr(const char *ctr)
{
    char *work = strdup(ctr), *out = malloc(strlen(ctr) + 1);
    char *words[DL_MAX_ARGS + 2];
    unsigned n = 0;
    if (!work || !out || dl__split_words(work, words, DL_MAX_ARGS + 2, &n) < 0) {
        free(work);
        free(out);
        return work && out ? strdup(ctr) : NULL; /* too many words: CTR refuses it anyway */
    }
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i >= 3 && (strcmp(words[i], "sync") == 0 || strcmp(words[i], "nosync") == 0))
            continue;
        o += (size_t)sprintf(out + o, "%s%s", o ? " " : "", words[i]);
    }
    out[o] = '\0';
    free(work);
    return out;
}

/* One state file found at start: host its log again, in grace. */
static void load_one(void *arg, const char *uuid, const struct dld_state *st, int error,
                     const char *err)
{
    struct dld_server *srv = arg;
    struct dld_log *L = dld__new_log(uuid);
    if (!L) {
        SAY(srv, LOG_ERR, "log %s: out of memory loading its state", uuid);
        return; /* the file stays: the next start retries */
    }
    struct dld_reply *rp = calloc(1, sizeof *rp);
    if (error == 0 && st->nsessions == 0) { /* the last client left before the file went */
        char e2[256];
        if (dld_state_remove(srv->state_dirfd, uuid, e2, sizeof e2) < 0)
            SAY(srv, LOG_ERR, "log %s: %s", uuid, e2);
        free(rp);
        dld__destroy_log(L);
        return;
    }
    char *rehost = error == 0 ? rehost_ctr(st->ctr) : NULL;
    if (error == 0 && rp && rehost && (L->ctr = strdup(st->ctr)) != NULL) {
        L->owner_uid = st->owner_uid;
        error = dld__create_hosted_log(srv, rehost, &L->log, rp);
        err = rp->len ? (const char *)rp->data : "cannot create the log";
    } else if (error == 0) {
        error = -ENOMEM;
        err = "out of memory";
    }
    free(rehost);
    for (uint32_t i = 0; error == 0 && i < st->nsessions; i++) {
        struct dld_session *s = dld__new_session(st->sessions[i].luid, st->sessions[i].uid);
        if (!s) {
            error = -ENOMEM;
            err = "out of memory";
            break;
        }
        s->pending = 1;
        s->next = L->sessions;
        L->sessions = s;
        L->nsessions++;
        L->pending++;
    }
    if (error < 0) {
        /* Never forget clients silently: the log is refused until the
         * operator repairs (or removes) the state file and restarts. */
        L->refusal = strdup(err && *err ? err : "unreadable state file");
        SAY(srv, LOG_ERR, "log %s: cannot be hosted again after the restart, refused "
            "(its clients are not forgotten): %s", uuid, err);
        if (!L->refusal) {
            free(rp);
            dld__destroy_log(L);
            return;
        }
        while (L->sessions) {
            struct dld_session *s = L->sessions;
            L->sessions = s->next;
            dld__free_session(s);
        }
        L->nsessions = L->pending = 0;
    } else {
        SAY(srv, LOG_NOTICE, "log %s: hosted again, clears held until its %u client(s) "
            "reattach or are released", uuid, L->pending);
    }
    free(rp);
    dld__publish_log(srv, L);
}

int dld_server_open_state(struct dld_server *srv, const char *dir)
{
    /* mkdir -p, mode 0700: the state is the daemon's alone. */
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            int r = -errno;
            SAY(srv, LOG_ERR, "cannot create state directory %s: %s", path, strerror(errno));
            return r;
        }
        *p = c;
        if (!c)
            break;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        SAY(srv, LOG_ERR, "cannot open state directory %s: %s", dir, strerror(errno));
        return r;
    }
    srv->state_dirfd = fd;
    int r = dld_state_scan(fd, load_one, srv);
    if (r < 0)
        SAY(srv, LOG_ERR, "cannot read state directory %s: %s", dir, strerror(-r));
    return r;
}
