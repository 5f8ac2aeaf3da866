/* dirtylogd's sessions and the bookkeeping of shared logs (see
 * server_internal.h): a session is one client of a log (uuid, luid); the
 * daemon counts, per region, the sessions that marked it (a region is
 * cleared in the log only when none has it marked any more), remembers who
 * recovers what, charges the memory marks cost, persists who the sessions
 * are (never per mark), attaches and detaches them to connections, and
 * lets an operator release the detached ones. All under L->lock. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "server_internal.h"
#include "state.h"

struct dld_session *dld__find_session(struct dld_log *L, uint64_t luid)
{
    for (struct dld_session *s = L->sessions; s; s = s->next)
        if (s->luid == luid)
            return s;
    return NULL;
}

struct dld_session *dld__new_session(uint64_t luid, uint32_t uid)
{
    struct dld_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->luid = luid;
    s->uid = uid;
    dl__u64map_init(&s->marks);
    dl__u64map_init(&s->recovering);
    return s;
}

void dld__free_session(struct dld_session *s)
{
    dl__u64map_free(&s->marks);
    dl__u64map_free(&s->recovering);
    free(s);
}

void dld__uncharge(struct dld_server *srv, struct dld_log *L, uint64_t bytes)
{
    bytes = bytes < L->charge ? bytes : L->charge;
    L->charge -= bytes;
    dld_quota_uncharge(&srv->quota, L->owner_uid, bytes);
}

/* Persist the sessions of L (when a session comes or goes, never per mark).
 * 0, or -errno with the reason in err. */
static int save_state(struct dld_server *srv, struct dld_log *L, char *err, size_t errlen)
{
    if (srv->state_dirfd < 0)
        return 0;
    struct dld_state st;
    memset(&st, 0, sizeof st);
    memcpy(st.uuid, L->uuid, sizeof st.uuid);
    st.ctr = L->ctr;
    st.owner_uid = L->owner_uid;
    st.sessions = calloc(L->nsessions ? L->nsessions : 1, sizeof *st.sessions);
    if (!st.sessions) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (struct dld_session *s = L->sessions; s; s = s->next) {
        st.sessions[st.nsessions].luid = s->luid;
        st.sessions[st.nsessions++].uid = s->uid;
    }
    int r = dld_state_save(srv->state_dirfd, &st, err, errlen);
    free(st.sessions);
    return r;
}

int dld__charge(struct dld_server *srv, struct dld_log *L, uint64_t bytes, struct dld_reply *rp)
{
    uint64_t used = 0;
    if (L->charge + bytes > srv->limits.max_log_memory)
        return fail(rp, -EDQUOT, "log %s: this would take its bookkeeping to %" PRIu64
                    " bytes, over the daemon's limit of %" PRIu64 " per log", L->uuid,
                    L->charge + bytes, srv->limits.max_log_memory);
    int r = dld_quota_charge(&srv->quota, L->owner_uid, bytes, &used);
    if (r == -EDQUOT)
        return fail(rp, r, "uid %lu: this would take its logs' bookkeeping to %" PRIu64
                    " bytes, over the daemon's limit of %" PRIu64 " per uid",
                    (unsigned long)L->owner_uid, used + bytes, srv->limits.max_uid_memory);
    if (r < 0)
        return fail(rp, r, "out of memory");
    L->charge += bytes;
    return 0;
}

/* New mark entries of s and new groups of L are charged against the log's
 * and the owner uid's quota. On success the new groups are recorded and
 * L->charge grows. */
int dld__charge_marks(struct dld_server *srv, struct dld_log *L, struct dld_session *s,
                      const uint8_t *p, size_t len, struct dld_reply *rp)
{
    struct u64map fresh, groups; /* this request's new entries and new groups */
    dl__u64map_init(&fresh);
    dl__u64map_init(&groups);
    int r = 0, added;
    for (size_t i = 0; r == 0 && i < len; i += 8) {
        uint64_t region = get_le64(p + i), g = region >> GROUP_SHIFT;
        if (!dl__u64map_get(&s->marks, region) && !dl__u64map_put(&fresh, region, &added))
            r = -ENOMEM;
        if (r == 0 && !dl__u64map_get(&L->groups, g) && !dl__u64map_put(&groups, g, &added))
            r = -ENOMEM;
    }
    uint64_t cost = (uint64_t)fresh.len * ENTRY_COST + (uint64_t)groups.len * GROUP_COST;
    if (r == 0 && dl__u64map_reserve(&L->groups, groups.len) < 0)
        r = -ENOMEM;
    if (r < 0)
        fail(rp, r, "out of memory");
    else if ((r = dld__charge(srv, L, cost, rp)) == 0)
        for (size_t i = 0; i < groups.cap; i++)
            if (groups.used[i])
                dl__u64map_put(&L->groups, groups.keys[i], &added); /* reserved */
    dl__u64map_free(&fresh);
    dl__u64map_free(&groups);
    return r;
}

int dld__reserve_marks(struct dld_log *L, struct dld_session *s, size_t n)
{
    if (dl__u64map_reserve(&s->marks, n) < 0 || dl__u64map_reserve(&L->marks, n) < 0)
        return -ENOMEM;
    return 0;
}

int dld__session_mark(struct dld_log *L, struct dld_session *s, uint64_t r)
{
    int added;
    if (!dl__u64map_put(&s->marks, r, &added))
        return -ENOMEM;
    if (!added)
        return 0;
    uint64_t *count = dl__u64map_put(&L->marks, r, &added);
    if (!count) {
        dl__u64map_del(&s->marks, r);
        return -ENOMEM;
    }
    if ((*count)++ == 0)
        return dl_log_mark_region(L->log, r);
    return 0;
}

int dld__session_clear(struct dld_server *srv, struct dld_log *L, struct dld_session *s,
                       uint64_t r)
{
    if (dl__u64map_del(&s->marks, r)) {
        dld__uncharge(srv, L, ENTRY_COST); /* the entry is gone */
        uint64_t *count = dl__u64map_get(&L->marks, r);
        if (count && --*count > 0)
            return 0;
        dl__u64map_del(&L->marks, r);
        return dld__log_clear(L, r);
    }
    if (dl__u64map_get(&L->marks, r))
        return 0; /* someone else's writes may be in flight */
    /* Nobody has it marked: once every client known before a restart has
     * re-sent its marks (grace over), the client's word is enough. */
    return dld__log_clear(L, r);
}

void dld__drop_session(struct dld_server *srv, struct dld_log *L, struct dld_session *s)
{
    dld__session_back(srv, L, s); /* released: no longer awaited */
    dld__uncharge(srv, L, (uint64_t)s->marks.len * ENTRY_COST);
    for (size_t i = 0; i < s->marks.cap; i++) {
        if (!s->marks.used[i])
            continue;
        uint64_t *count = dl__u64map_get(&L->marks, s->marks.keys[i]);
        if (count && --*count == 0)
            dl__u64map_del(&L->marks, s->marks.keys[i]);
    }
    for (size_t i = 0; i < s->recovering.cap; i++) {
        if (!s->recovering.used[i])
            continue;
        uint64_t r = s->recovering.keys[i];
        uint64_t *owner = dl__u64map_get(&L->recovering, r);
        if (owner && *owner == s->luid) {
            dl__u64map_del(&L->recovering, r);
            dl_log_set_region_sync(L->log, r, 0); /* not recovered: back to the pool */
        }
    }
    struct dld_session **pp = &L->sessions;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    L->nsessions--;
    dld__free_session(s);
    char err[256];
    if (save_state(srv, L, err, sizeof err) < 0) /* it stays listed: the safe side */
        SAY(srv, LOG_ERR, "log %s: %s", L->uuid, err);
}

int dld__session_attach(struct dld_server *srv, struct dld_log *L, const struct dld_peer *peer,
                        uint64_t luid, struct dld_reply *rp)
{
    /* The kernel shares its logs with no socket client (root included), and
     * the other way round: it trusts that nobody else recovers its regions
     * (docs/kernel.md, the sync hint). */
    if ((L->owner_uid == (uint32_t)DLD_KERNEL_UID) != (peer->uid == DLD_KERNEL_UID))
        return fail(rp, -EACCES, "log %s is %s", L->uuid, peer->uid == DLD_KERNEL_UID
                    ? "a socket client's: the kernel cannot share it"
                    : "hosted for the kernel's device-mapper: no other client may use it");
    struct dld_session *s = dld__find_session(L, luid);
    if (s && s->uid != (uint32_t)peer->uid)
        return fail(rp, -EACCES, "this client session of log %s belongs to another user",
                    L->uuid);
    if (s && s->conn_id && s->conn_id != peer->conn_id)
        return fail(rp, -EBUSY, "this client session of log %s is attached to another "
                    "connection (retry once the daemon has seen that one close)", L->uuid);
    if (s) {
        /* The same client again (reconnected): it takes its marks back. */
        s->conn_id = peer->conn_id;
        s->pid = peer->pid;
        if (srv->verbose)
            SAY(srv, LOG_INFO, "log %s: client %08" PRIx32 " (pid %ld, uid %lu) reattached%s",
                L->uuid, dl__wire_client_tag(luid), (long)peer->pid, (unsigned long)peer->uid,
                s->pending ? ", awaiting its marks" : "");
        return 0;
    }
    if (L->nsessions >= srv->limits.max_sessions_per_log)
        return fail(rp, -EMFILE, "log %s already has %u clients (limit per log)", L->uuid,
                    srv->limits.max_sessions_per_log);
    if (!(s = dld__new_session(luid, (uint32_t)peer->uid)))
        return fail(rp, -ENOMEM, "out of memory");
    s->conn_id = peer->conn_id;
    s->pid = peer->pid;
    s->next = L->sessions;
    L->sessions = s;
    L->nsessions++;
    L->released = 0; /* from now on the last DTR ends the log again */
    char err[256];
    int r = save_state(srv, L, err, sizeof err);
    if (r < 0) { /* a session the daemon could forget is no session */
        L->sessions = s->next;
        L->nsessions--;
        dld__free_session(s);
        SAY(srv, LOG_ERR, "log %s: %s", L->uuid, err);
        return fail(rp, r, "log %s: %s", L->uuid, err);
    }
    if (srv->verbose)
        SAY(srv, LOG_INFO, "log %s: new client %08" PRIx32 " (pid %ld, uid %lu)", L->uuid,
            dl__wire_client_tag(luid), (long)peer->pid, (unsigned long)peer->uid);
    return 0;
}

int dld_release(struct dld_server *srv, uid_t who, const char *uuid, int all, uint32_t tag)
{
    struct dld_log *L = dld__acquire_log(srv, uuid);
    if (!L)
        return -ENOENT;
    int n = 0;
    if (who != 0 && who != L->owner_uid)
        n = -EACCES; /* owner_uid is fixed once the entry is published */
    pthread_mutex_lock(&L->lock);
    for (struct dld_session *s = L->sessions, *next; n >= 0 && s; s = next) {
        next = s->next;
        if (!all && dl__wire_client_tag(s->luid) != tag)
            continue;
        if (s->conn_id && !all) {
            n = -EBUSY;
        } else if (!s->conn_id) {
            dld__drop_session(srv, L, s);
            L->released = 1;
            n++;
        }
    }
    if (n == 0 && !all)
        n = -ENOENT;
    pthread_mutex_unlock(&L->lock);
    if (n > 0)
        SAY(srv, LOG_NOTICE, "log %s: released %d disconnected client(s)", uuid, n);
    dld__release_log(srv, L);
    return n;
}

void dld_sessions_detach(struct dld_server *srv, uint64_t conn_id)
{
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            pthread_mutex_lock(&L->lock);
            for (struct dld_session *s = L->sessions; s; s = s->next)
                if (s->conn_id == conn_id) {
                    s->conn_id = 0;
                    if (srv->verbose)
                        SAY(srv, LOG_INFO,
                            "log %s: client %08" PRIx32 " (pid %ld, uid %lu) disconnected, "
                            "keeping %zu mark(s)", L->uuid, dl__wire_client_tag(s->luid),
                            (long)s->pid, (unsigned long)s->uid, s->marks.len);
                }
            pthread_mutex_unlock(&L->lock);
        }
    pthread_mutex_unlock(&srv->lock);
}
