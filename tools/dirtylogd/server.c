/* dirtylogd's logs, sessions and request dispatch (see server.h). The daemon
 * holds no log logic of its own: it creates logs through the registry and
 * calls the dl_log_* ops; what it adds is the per-client bookkeeping of shared
 * logs (who marked what, who recovers what). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h" /* dl__parse_u64 */
#include "server.h"
#include "state.h"

#define DLD_REPLY_MAX 4096u /* largest reply payload (status strings) */
#define DLD_CTR_MAX DLD_STATE_MAX_CTR /* largest constructor string */
#define DLD_CREATE_WAIT_S 10 /* a CTR waits this long for a log another CTR creates */

/* What marks cost the daemon (charged per log and per owner uid, checked
 * before a request is applied). A hosted core log keeps a 4 KiB bitmap leaf
 * per 32 Ki-region group a mark ever touched, plus interior nodes on its
 * path (576 bytes each, a few levels): 8 KiB per group covers both. Each
 * session mark is an entry in the session's and the log's hash maps
 * (17 bytes a slot, at most half full, in two maps): 96 bytes. */
#define GROUP_SHIFT 15
#define GROUP_COST 8192u
#define ENTRY_COST 96u

struct reply {
    int32_t error;
    uint32_t len;
    uint8_t data[DLD_REPLY_MAX];
};

#define SAY(srv, level, ...)                      \
    do {                                          \
        if ((srv)->logf)                          \
            (srv)->logf((level), __VA_ARGS__);    \
    } while (0)

static void reply_u64(struct reply *rp, uint64_t v)
{
    dlw_put_le64(rp->data + rp->len, v);
    rp->len += 8;
}

/* An error reply may carry a human message (NUL-terminated). */
DL_PRINTF(3, 4)
static int fail(struct reply *rp, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf((char *)rp->data, DLD_REPLY_MAX, fmt, ap);
    va_end(ap);
    rp->len = n < 0 ? 0 : (size_t)n < DLD_REPLY_MAX ? (uint32_t)n + 1 : DLD_REPLY_MAX;
    rp->error = err;
    return err;
}

/* ---- the log table ---------------------------------------------------- */

static unsigned bucket_of(const char *uuid)
{
    uint32_t h = 2166136261u;
    for (; *uuid; uuid++)
        h = (h ^ (uint8_t)*uuid) * 16777619u;
    return h % DLD_LOG_BUCKETS;
}

static struct dld_log *find_log(struct dld_server *srv, const char *uuid)
{
    for (struct dld_log *L = srv->buckets[bucket_of(uuid)]; L; L = L->next)
        if (strcmp(L->uuid, uuid) == 0)
            return L;
    return NULL;
}

/* Find a log and pin it (busy) so it outlives the request. */
static struct dld_log *acquire_log(struct dld_server *srv, const char *uuid)
{
    pthread_mutex_lock(&srv->lock);
    struct dld_log *L = find_log(srv, uuid);
    if (L)
        L->busy++;
    pthread_mutex_unlock(&srv->lock);
    return L;
}

static void free_session(struct dld_session *s)
{
    dl__u64map_free(&s->marks);
    dl__u64map_free(&s->recovering);
    free(s);
}

/* A new table entry (not yet published), or NULL. */
static struct dld_log *new_log(const char *uuid)
{
    struct dld_log *L = calloc(1, sizeof *L);
    if (!L)
        return NULL;
    if (pthread_mutex_init(&L->lock, NULL) != 0) {
        free(L);
        return NULL;
    }
    snprintf(L->uuid, sizeof L->uuid, "%s", uuid);
    dl__u64map_init(&L->marks);
    dl__u64map_init(&L->recovering);
    dl__u64map_init(&L->held);
    dl__u64map_init(&L->groups);
    return L;
}

static void publish_log(struct dld_server *srv, struct dld_log *L)
{
    unsigned b = bucket_of(L->uuid);
    L->next = srv->buckets[b];
    srv->buckets[b] = L;
    srv->nlogs++;
}

static void unpublish_log(struct dld_server *srv, struct dld_log *L)
{
    struct dld_log **pp = &srv->buckets[bucket_of(L->uuid)];
    while (*pp != L)
        pp = &(*pp)->next;
    *pp = L->next;
    srv->nlogs--;
}

static void destroy_log(struct dld_log *L)
{
    while (L->sessions) {
        struct dld_session *s = L->sessions;
        L->sessions = s->next;
        free_session(s);
    }
    if (L->log)
        dl_log_destroy(L->log);
    dl__u64map_free(&L->marks);
    dl__u64map_free(&L->recovering);
    dl__u64map_free(&L->held);
    dl__u64map_free(&L->groups);
    pthread_mutex_destroy(&L->lock);
    free(L->ctr);
    free(L->refusal);
    free(L);
}

/* Unpin; the last user of a log without sessions destroys it, and its state
 * file goes (under the server lock, so that a new log of the same uuid can
 * only write its state after). A refused log stays until the operator acts. */
static void release_log(struct dld_server *srv, struct dld_log *L)
{
    pthread_mutex_lock(&srv->lock);
    pthread_mutex_lock(&L->lock);
    int released = L->released;
    pthread_mutex_unlock(&L->lock);
    int gone = --L->busy == 0 && L->nsessions == 0 && !L->creating && !L->refusal && !released;
    if (gone) {
        unpublish_log(srv, L);
        char err[256];
        if (srv->state_dirfd >= 0 && dld_state_remove(srv->state_dirfd, L->uuid, err, sizeof err) < 0)
            SAY(srv, LOG_ERR, "log %s: %s", L->uuid, err);
    }
    pthread_mutex_unlock(&srv->lock);
    if (gone) {
        SAY(srv, LOG_INFO, "log %s: last client gone, log closed", L->uuid);
        dld_quota_uncharge(&srv->quota, L->owner_uid, L->charge);
        destroy_log(L);
    }
}

static struct dld_session *find_session(struct dld_log *L, uint64_t luid)
{
    for (struct dld_session *s = L->sessions; s; s = s->next)
        if (s->luid == luid)
            return s;
    return NULL;
}

/* ---- shared-log bookkeeping (under L->lock) --------------------------- */

/* Give back bytes an earlier charge (below) took from L and its owner. */
static void uncharge(struct dld_server *srv, struct dld_log *L, uint64_t bytes)
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
    uncharge(srv, L, (uint64_t)L->held.len * ENTRY_COST);
    dl__u64map_clear(&L->held);
}

/* A pending session finished reattaching (its RESUME or FLUSH after CTR:
 * its marks have been re-sent), or was dropped. */
static void session_back(struct dld_server *srv, struct dld_log *L, struct dld_session *s)
{
    if (!s->pending)
        return;
    s->pending = 0;
    if (--L->pending == 0)
        end_grace(srv, L);
}

/* Clear a region in the log, unless a grace period holds it (then it is
 * re-evaluated when the grace ends). held has room (reserve_clears). */
static int log_clear(struct dld_log *L, uint64_t r)
{
    if (L->pending) {
        int added;
        dl__u64map_put(&L->held, r, &added);
        return 0;
    }
    return dl_log_clear_region(L->log, r);
}

/* Charge bytes to L and its owner: 0, or -EDQUOT/-ENOMEM with a message. */
static int charge(struct dld_server *srv, struct dld_log *L, uint64_t bytes, struct reply *rp)
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

/* Room (and quota) for the clears of a request that a grace period may
 * hold: each new held region is charged like a mark entry. */
static int reserve_clears(struct dld_server *srv, struct dld_log *L, const uint8_t *p,
                          size_t len, struct reply *rp)
{
    if (!L->pending)
        return 0;
    struct u64map fresh;
    dl__u64map_init(&fresh);
    int r = dl__u64map_reserve(&L->held, len / 8), added;
    for (size_t i = 0; r == 0 && i < len; i += 8) {
        uint64_t region = dlw_get_le64(p + i);
        if (!dl__u64map_get(&L->held, region) && !dl__u64map_put(&fresh, region, &added))
            r = -ENOMEM;
    }
    r = r < 0 ? fail(rp, -ENOMEM, "out of memory")
              : charge(srv, L, (uint64_t)fresh.len * ENTRY_COST, rp);
    dl__u64map_free(&fresh);
    return r;
}

/* Charge a MARK batch before applying it: new mark entries of s and new
 * groups of L, against the log's and the owner uid's quota. On success the
 * new groups are recorded and L->charge grows; -EDQUOT/-ENOMEM otherwise,
 * with nothing changed. */
static int charge_marks(struct dld_server *srv, struct dld_log *L, struct dld_session *s,
                        const uint8_t *p, size_t len, struct reply *rp)
{
    struct u64map fresh, groups; /* this request's new entries and new groups */
    dl__u64map_init(&fresh);
    dl__u64map_init(&groups);
    int r = 0, added;
    for (size_t i = 0; r == 0 && i < len; i += 8) {
        uint64_t region = dlw_get_le64(p + i), g = region >> GROUP_SHIFT;
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
    else if ((r = charge(srv, L, cost, rp)) == 0)
        for (size_t i = 0; i < groups.cap; i++)
            if (groups.used[i])
                dl__u64map_put(&L->groups, groups.keys[i], &added); /* reserved */
    dl__u64map_free(&fresh);
    dl__u64map_free(&groups);
    return r;
}

/* Make room so that marking n regions cannot fail half-way. */
static int reserve_marks(struct dld_log *L, struct dld_session *s, size_t n)
{
    if (dl__u64map_reserve(&s->marks, n) < 0 || dl__u64map_reserve(&L->marks, n) < 0)
        return -ENOMEM;
    return 0;
}

static int session_mark(struct dld_log *L, struct dld_session *s, uint64_t r)
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

/* A region is cleared in the log only when no client still has it marked. */
static int session_clear(struct dld_server *srv, struct dld_log *L, struct dld_session *s,
                         uint64_t r)
{
    if (dl__u64map_del(&s->marks, r)) {
        uncharge(srv, L, ENTRY_COST); /* the entry is gone */
        uint64_t *count = dl__u64map_get(&L->marks, r);
        if (count && --*count > 0)
            return 0;
        dl__u64map_del(&L->marks, r);
        return log_clear(L, r);
    }
    if (dl__u64map_get(&L->marks, r))
        return 0; /* someone else's writes may be in flight */
    /* Nobody has it marked: once every client known before a restart has
     * re-sent its marks (grace over), the client's word is enough. */
    return log_clear(L, r);
}

/* Forget a session: its marks stop counting (the regions stay dirty in the
 * log until a clear, the safe side) and its recoveries are handed back. */
static void drop_session(struct dld_server *srv, struct dld_log *L, struct dld_session *s)
{
    session_back(srv, L, s); /* released: no longer awaited */
    uncharge(srv, L, (uint64_t)s->marks.len * ENTRY_COST);
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
    free_session(s);
    char err[256];
    if (save_state(srv, L, err, sizeof err) < 0) /* it stays listed: the safe side */
        SAY(srv, LOG_ERR, "log %s: %s", L->uuid, err);
}

/* ---- requests --------------------------------------------------------- */

/* Split a constructor string "<target> <type> <args...>" in place. */
static int parse_ctr(char *s, uint64_t *target, char **type, unsigned *argc, char **argv,
                     struct reply *rp)
{
    char *words[DL_MAX_ARGS + 2];
    unsigned n = 0;
    if (dl__split_words(s, words, DL_MAX_ARGS + 2, &n) < 0)
        return fail(rp, -E2BIG, "constructor has more than %d arguments", DL_MAX_ARGS);
    if (n < 2)
        return fail(rp, -EINVAL, "constructor must be '<target_sectors> <log type> <args...>'");
    int e = dl__parse_u64(words[0], target);
    if (e == -ERANGE)
        return fail(rp, -EINVAL, "target length '%s' does not fit 64 bits", words[0]);
    if (e < 0)
        return fail(rp, -EINVAL, "target length '%s' is not a decimal number", words[0]);
    *type = words[1];
    *argc = n - 2;
    for (unsigned i = 2; i < n; i++)
        argv[i - 2] = words[i];
    return 0;
}

/* The region count a core or disk constructor asks for, or 0 if unknown
 * (dm syntax: "core <region_size> ...", "disk <device> <region_size> ..."). */
static uint64_t regions_asked(uint64_t target, const char *type, unsigned argc, char **argv)
{
    unsigned at = strcmp(type, "core") == 0 ? 0 : strcmp(type, "disk") == 0 ? 1 : argc;
    uint64_t size;
    if (at >= argc || dl__parse_u64(argv[at], &size) < 0 || size == 0)
        return 0;
    return target / size + (target % size != 0);
}

/* Create the log a constructor string names, at most max_regions regions.
 * The one place the daemon creates a log (slow for a large disk log: called
 * without any lock). */
static int create_hosted_log(const struct dld_server *srv, const char *ctr, dl_log **log,
                             struct reply *rp)
{
    char *work = strdup(ctr);
    if (!work)
        return fail(rp, -ENOMEM, "out of memory");
    uint64_t target = 0;
    char *type = NULL, *argv[DL_MAX_ARGS];
    unsigned argc = 0;
    int r = parse_ctr(work, &target, &type, &argc, argv, rp);
    if (r == 0 && strcmp(type, "userspace") == 0)
        r = fail(rp, -EINVAL, "a daemon log cannot itself be of type userspace");
    uint64_t max_regions = srv->limits.max_regions;
    uint64_t asked = r == 0 ? regions_asked(target, type, argc, argv) : 0;
    if (asked > max_regions)
        r = fail(rp, -EFBIG, "a log of %" PRIu64 " regions is over this daemon's limit of %"
                 PRIu64 " (--max-regions)", asked, max_regions);
    if (r == 0) {
        char why[512]; /* only beneath --log-dir or on --allow-device (confine.c) */
        r = dld_confine_create_log(srv->confine, type, target, argc, argv, log, why, sizeof why);
        if (r < 0)
            fail(rp, r, "%s", why);
    }
    if (r == 0 && dl_log_get_region_count(*log) > max_regions) { /* other types */
        r = fail(rp, -EFBIG, "a log of %" PRIu64 " regions is over this daemon's limit of %"
                 PRIu64 " (--max-regions)", dl_log_get_region_count(*log), max_regions);
        dl_log_destroy(*log);
        *log = NULL;
    }
    free(work);
    return r;
}

/* The number of logs uid owns. Under srv->lock. */
static unsigned logs_of(struct dld_server *srv, uint32_t uid)
{
    unsigned n = 0;
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next)
            n += L->owner_uid == uid;
    return n;
}

/* Find the log of a CTR, or publish a placeholder for it (*created = 1).
 * Called and returns with srv->lock held; L pinned on success. */
static int ctr_find_or_reserve(struct dld_server *srv, struct dld_conn *c, const char *uuid,
                               char **ctr, struct dld_log **out, int *created, struct reply *rp)
{
    /* Another CTR is creating this log: wait for it, bounded. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DLD_CREATE_WAIT_S;
    struct dld_log *L;
    while ((L = find_log(srv, uuid)) != NULL && L->creating)
        if (pthread_cond_timedwait(&srv->created, &srv->lock, &until) == ETIMEDOUT)
            break;
    L = find_log(srv, uuid);
    if (L && L->creating)
        return fail(rp, -EAGAIN, "log %s is still being created by another client: retry", uuid);
    if (L && L->refusal)
        return fail(rp, -EIO, "log %s is not hosted: %s", uuid, L->refusal);
    if (L && c->peer_uid != 0 && c->peer_uid != L->owner_uid)
        return fail(rp, -EACCES, "log %s belongs to another user", uuid);
    if (L && strcmp(L->ctr, *ctr) != 0)
        return fail(rp, -EINVAL, "log %s already exists with constructor '%s'", uuid, L->ctr);
    if (!L && srv->nlogs >= srv->limits.max_logs)
        return fail(rp, -EMFILE, "too many logs (limit %u)", srv->limits.max_logs);
    if (!L && logs_of(srv, (uint32_t)c->peer_uid) >= srv->limits.max_logs_per_uid)
        return fail(rp, -EMFILE, "uid %lu already owns %u logs (limit per uid)",
                    (unsigned long)c->peer_uid, srv->limits.max_logs_per_uid);
    if (!L) {
        if (!(L = new_log(uuid)))
            return fail(rp, -ENOMEM, "out of memory");
        L->creating = 1;
        L->owner_uid = (uint32_t)c->peer_uid;
        L->ctr = *ctr;
        *ctr = NULL;
        publish_log(srv, L);
        *created = 1;
    }
    L->busy++;
    *out = L;
    return 0;
}

/* Attach the CTR's connection to its session of L, creating (and
 * persisting) the session if new. Under L->lock. */
static int ctr_attach(struct dld_server *srv, struct dld_log *L, struct dld_conn *c,
                      uint64_t luid, struct reply *rp)
{
    struct dld_session *s = find_session(L, luid);
    if (s && s->uid != (uint32_t)c->peer_uid)
        return fail(rp, -EACCES, "this client session of log %s belongs to another user",
                    L->uuid);
    if (s && s->conn_id && s->conn_id != c->id)
        return fail(rp, -EBUSY, "this client session of log %s is attached to another "
                    "connection (retry once the daemon has seen that one close)", L->uuid);
    if (s) {
        /* The same client again (reconnected): it takes its marks back. */
        s->conn_id = c->id;
        s->pid = c->peer_pid;
        if (srv->verbose)
            SAY(srv, LOG_INFO, "log %s: client %08" PRIx32 " (pid %ld, uid %lu) reattached%s",
                L->uuid, dl__wire_client_tag(luid), (long)c->peer_pid, (unsigned long)c->peer_uid,
                s->pending ? ", awaiting its marks" : "");
        return 0;
    }
    if (L->nsessions >= srv->limits.max_sessions_per_log)
        return fail(rp, -EMFILE, "log %s already has %u clients (limit per log)", L->uuid,
                    srv->limits.max_sessions_per_log);
    if (!(s = calloc(1, sizeof *s)))
        return fail(rp, -ENOMEM, "out of memory");
    s->luid = luid;
    s->conn_id = c->id;
    s->uid = (uint32_t)c->peer_uid;
    s->pid = c->peer_pid;
    dl__u64map_init(&s->marks);
    dl__u64map_init(&s->recovering);
    s->next = L->sessions;
    L->sessions = s;
    L->nsessions++;
    L->released = 0; /* from now on the last DTR ends the log again */
    char err[256];
    int r = save_state(srv, L, err, sizeof err);
    if (r < 0) { /* a session the daemon could forget is no session */
        L->sessions = s->next;
        L->nsessions--;
        free_session(s);
        SAY(srv, LOG_ERR, "log %s: %s", L->uuid, err);
        return fail(rp, r, "log %s: %s", L->uuid, err);
    }
    if (srv->verbose)
        SAY(srv, LOG_INFO, "log %s: new client %08" PRIx32 " (pid %ld, uid %lu)", L->uuid,
            dl__wire_client_tag(luid), (long)c->peer_pid, (unsigned long)c->peer_uid);
    return 0;
}

static int do_ctr(struct dld_server *srv, struct dld_conn *c, const struct dlw_header *h,
                  const uint8_t *p, size_t len, struct reply *rp)
{
    if (len && p[len - 1] == '\0')
        len--; /* a terminating NUL is allowed, not required */
    if (len == 0 || len > DLD_CTR_MAX)
        return fail(rp, -EINVAL, "constructor string of %zu bytes (1..%u allowed)", len,
                    DLD_CTR_MAX);
    if (memchr(p, '\0', len))
        return fail(rp, -EINVAL, "constructor string contains a NUL byte");
    char *ctr = malloc(len + 1);
    if (!ctr)
        return fail(rp, -ENOMEM, "out of memory");
    memcpy(ctr, p, len);
    ctr[len] = '\0';

    struct dld_log *L = NULL;
    int created = 0;
    pthread_mutex_lock(&srv->lock);
    int r = ctr_find_or_reserve(srv, c, h->uuid, &ctr, &L, &created, rp);
    pthread_mutex_unlock(&srv->lock);
    free(ctr);
    if (r < 0)
        return r;
    if (created) {
        /* Without the server lock: other logs are served meanwhile, and a
         * CTR of this uuid waits for the placeholder (bounded). */
        dl_log *log = NULL;
        r = create_hosted_log(srv, L->ctr, &log, rp);
        pthread_mutex_lock(&srv->lock);
        L->log = log;
        L->creating = 0;
        pthread_cond_broadcast(&srv->created);
        pthread_mutex_unlock(&srv->lock);
        if (r < 0) {
            release_log(srv, L); /* no session: the placeholder goes */
            return r;
        }
        SAY(srv, LOG_INFO, "log %s created: %s", L->uuid, L->ctr);
    }
    pthread_mutex_lock(&L->lock);
    r = ctr_attach(srv, L, c, h->luid, rp);
    pthread_mutex_unlock(&L->lock);
    release_log(srv, L);
    return r;
}

/* Regions of a payload: a whole number of u64, each in range. */
static int check_regions(struct dld_log *L, const uint8_t *p, size_t len, struct reply *rp)
{
    if (len % 8)
        return fail(rp, -EINVAL, "region list of %zu bytes is not a multiple of 8", len);
    uint64_t count = dl_log_get_region_count(L->log);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = dlw_get_le64(p + i);
        if (r >= count)
            return fail(rp, -ERANGE, "region %" PRIu64 " out of range (region count %" PRIu64 ")",
                        r, count);
    }
    return 0;
}

static int need_len(size_t len, size_t want, struct reply *rp)
{
    if (len != want)
        return fail(rp, -EINVAL, "payload of %zu bytes, expected %zu", len, want);
    return 0;
}

/* Every request of an existing session. Called with L pinned, not locked. */
static int do_session_request(struct dld_server *srv, struct dld_log *L, struct dld_conn *c,
                              const struct dlw_header *h, unsigned req, const uint8_t *p,
                              size_t len, struct reply *rp)
{
    pthread_mutex_lock(&L->lock);
    struct dld_session *s = find_session(L, h->luid);
    if (!s || s->conn_id != c->id) {
        pthread_mutex_unlock(&L->lock);
        return fail(rp, -ENOENT, "no CTR for log %s, client %08" PRIx32 " on this connection",
                    h->uuid, dl__wire_client_tag(h->luid));
    }
    int r = 0;
    uint64_t region = 0;
    if (req == DLW_IS_CLEAN || req == DLW_IN_SYNC || req == DLW_IS_REMOTE_RECOVERING) {
        if ((r = need_len(len, 8, rp)) < 0)
            goto out;
        region = dlw_get_le64(p);
        if (region >= dl_log_get_region_count(L->log)) {
            r = fail(rp, -ERANGE, "region %" PRIu64 " out of range", region);
            goto out;
        }
    } else if (req != DLW_MARK_REGION && req != DLW_CLEAR_REGION && req != DLW_FLUSH &&
               req != DLW_SET_REGION_SYNC && (r = need_len(len, 0, rp)) < 0) {
        goto out;
    }

    switch (req) {
    case DLW_DTR:
        drop_session(srv, L, s);
        break;
    case DLW_PRESUSPEND:
        r = dl_log_presuspend(L->log);
        break;
    case DLW_POSTSUSPEND:
        r = dl_log_postsuspend(L->log);
        break;
    case DLW_RESUME:
        r = dl_log_resume(L->log);
        /* A reload may have dropped unflushed marks of other clients: their
         * writes are still in flight, so mark them again. */
        for (size_t i = 0; r == 0 && i < L->marks.cap; i++)
            if (L->marks.used[i])
                r = dl_log_mark_region(L->log, L->marks.keys[i]);
        if (r == 0)
            session_back(srv, L, s); /* its marks came before: reattached */
        break;
    case DLW_GET_REGION_SIZE:
        reply_u64(rp, dl_log_get_region_size(L->log));
        break;
    case DLW_IS_CLEAN:
        r = dl_log_is_clean(L->log, region);
        if (r >= 0) {
            reply_u64(rp, (uint64_t)(int64_t)r);
            r = 0;
        }
        break;
    case DLW_IN_SYNC:
        r = dl_log_in_sync(L->log, region, 1);
        if (r >= 0) {
            reply_u64(rp, (uint64_t)(int64_t)r);
            r = 0;
        }
        break;
    case DLW_IS_REMOTE_RECOVERING: {
        uint64_t *owner = dl__u64map_get(&L->recovering, region);
        int rec = owner && *owner != s->luid;
        if (!rec && (r = dl_log_is_remote_recovering(L->log, region)) > 0)
            rec = 1;
        if (r >= 0) {
            reply_u64(rp, (uint64_t)rec);
            reply_u64(rp, (uint64_t)(dl_log_in_sync(L->log, region, 0) == 1));
            r = 0;
        }
        break;
    }
    case DLW_MARK_REGION:
    case DLW_CLEAR_REGION:
    case DLW_FLUSH:
        if ((r = check_regions(L, p, len, rp)) < 0)
            break;
        if (len / 8 > DLD_MAX_REGIONS_PER_REQUEST) {
            r = fail(rp, -E2BIG, "%zu regions in one request, at most %u", len / 8,
                     DLD_MAX_REGIONS_PER_REQUEST);
            break;
        }
        if (req == DLW_CLEAR_REGION) {
            if ((r = reserve_clears(srv, L, p, len, rp)) < 0)
                break;
        } else if ((r = reserve_marks(L, s, len / 8)) < 0) {
            fail(rp, r, "out of memory");
            break;
        } else if ((r = charge_marks(srv, L, s, p, len, rp)) < 0) {
            break;
        }
        for (size_t i = 0; r == 0 && i < len; i += 8)
            r = req == DLW_CLEAR_REGION ? session_clear(srv, L, s, dlw_get_le64(p + i))
                                        : session_mark(L, s, dlw_get_le64(p + i));
        if (r == 0 && req == DLW_FLUSH) {
            session_back(srv, L, s); /* its marks came before: reattached */
            /* Persist without holding the log's lock: other clients of this
             * log keep marking while the disk works. L is pinned. */
            pthread_mutex_unlock(&L->lock);
            return dl_log_flush(L->log);
        }
        break;
    case DLW_GET_RESYNC_WORK: {
        int added;
        if (dl__u64map_reserve(&s->recovering, 1) < 0 || dl__u64map_reserve(&L->recovering, 1) < 0) {
            r = -ENOMEM;
            break;
        }
        r = dl_log_get_resync_work(L->log, &region);
        if (r < 0)
            break;
        if (r == 1) {
            *dl__u64map_put(&L->recovering, region, &added) = s->luid;
            dl__u64map_put(&s->recovering, region, &added);
        }
        reply_u64(rp, (uint64_t)(int64_t)r);
        reply_u64(rp, r == 1 ? region : 0);
        r = 0;
        break;
    }
    case DLW_SET_REGION_SYNC: {
        if ((r = need_len(len, 16, rp)) < 0)
            break;
        region = dlw_get_le64(p);
        int64_t in_sync = (int64_t)dlw_get_le64(p + 8);
        r = dl_log_set_region_sync(L->log, region, in_sync != 0);
        if (r < 0)
            break;
        uint64_t *owner = dl__u64map_get(&L->recovering, region);
        if (owner) {
            struct dld_session *o = *owner == s->luid ? s : find_session(L, *owner);
            if (o)
                dl__u64map_del(&o->recovering, region);
            dl__u64map_del(&L->recovering, region);
        }
        break;
    }
    case DLW_GET_SYNC_COUNT: {
        uint64_t n = 0;
        r = dl_log_get_sync_count(L->log, &n);
        if (r == 0)
            reply_u64(rp, n);
        break;
    }
    case DLW_STATUS_INFO:
    case DLW_STATUS_TABLE:
        r = dl_log_status(L->log, req == DLW_STATUS_INFO ? DL_STATUS_INFO : DL_STATUS_TABLE,
                          (char *)rp->data, DLD_REPLY_MAX);
        if (r >= 0) {
            rp->len = (uint32_t)r + 1;
            r = 0;
        }
        break;
    default:
        r = fail(rp, -EOPNOTSUPP, "unknown request %u", req);
        break;
    }
out:
    pthread_mutex_unlock(&L->lock);
    return r;
}

int dld_release(struct dld_server *srv, uid_t who, const char *uuid, int all, uint32_t tag)
{
    struct dld_log *L = acquire_log(srv, uuid);
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
            drop_session(srv, L, s);
            L->released = 1;
            n++;
        }
    }
    if (n == 0 && !all)
        n = -ENOENT;
    pthread_mutex_unlock(&L->lock);
    if (n > 0)
        SAY(srv, LOG_NOTICE, "log %s: released %d disconnected client(s)", uuid, n);
    release_log(srv, L);
    return n;
}

static void dispatch(struct dld_server *srv, struct dld_conn *c, const struct dlw_header *h,
                     const uint8_t *p, size_t len, struct reply *rp)
{
    unsigned req = dlw_request_number(h->request_type);
    int r;
    if (req == DLW_CTR) {
        r = do_ctr(srv, c, h, p, len, rp);
    } else if (req == DLW_ADMIN_RELEASE) {
        if (len != 0 && len != 8) {
            r = fail(rp, -EINVAL, "ADMIN_RELEASE takes no payload or one u64 client tag");
        } else if (len == 8 && dlw_get_le64(p) > UINT32_MAX) {
            r = fail(rp, -EINVAL, "a client tag has 32 bits");
        } else {
            r = dld_release(srv, c->peer_uid, h->uuid, len == 0, len ? (uint32_t)dlw_get_le64(p) : 0);
            if (r >= 0) {
                reply_u64(rp, (uint64_t)r);
                r = 0;
            } else {
                fail(rp, r, "cannot release clients of log %s%s", h->uuid,
                     r == -EACCES ? ": only root and the log's owner may"
                     : r == -EBUSY ? ": that client is connected" : "");
            }
        }
    } else if (req < DLW_DTR || req > DLW_IS_REMOTE_RECOVERING) {
        r = fail(rp, -EOPNOTSUPP, "unknown request type %" PRIu32, h->request_type);
    } else {
        struct dld_log *L = acquire_log(srv, h->uuid);
        if (!L) {
            r = fail(rp, -ENOENT, "no log %s: CTR first", h->uuid);
        } else {
            r = do_session_request(srv, L, c, h, req, p, len, rp);
            release_log(srv, L);
        }
    }
    if (r < 0) {
        rp->error = r;
        if (srv->verbose)
            SAY(srv, LOG_DEBUG, "conn %" PRIu64 ": %s on %s: %s", c->id,
                dl__wire_request_name(req) ? dl__wire_request_name(req) : "?", h->uuid,
                rp->len ? (const char *)rp->data : "error");
    }
}

/* ---- connections ------------------------------------------------------ */

void dld_conn_init(struct dld_conn *c, uint64_t id)
{
    memset(c, 0, sizeof *c);
    c->id = id;
}

static int send_reply(const struct dlw_header *req, const struct reply *rp, dld_send_fn send,
                      void *arg)
{
    uint8_t msg[DLW_HEADER_SIZE + DLD_REPLY_MAX];
    struct dlw_header h;
    dl__wire_reply_header(req, rp->error, rp->len, &h);
    dl__wire_encode_header(&h, msg);
    memcpy(msg + DLW_HEADER_SIZE, rp->data, rp->len);
    return send(arg, msg, DLW_HEADER_SIZE + rp->len);
}

int dld_conn_input(struct dld_server *srv, struct dld_conn *c, const uint8_t *data, size_t n,
                   dld_send_fn send, void *arg)
{
    for (;;) {
        if (c->hdr_len < DLW_HEADER_SIZE) {
            if (n == 0)
                return 0;
            size_t k = DLW_HEADER_SIZE - c->hdr_len;
            if (k > n)
                k = n;
            memcpy(c->hdr + c->hdr_len, data, k);
            c->hdr_len += k;
            data += k;
            n -= k;
            if (c->hdr_len < DLW_HEADER_SIZE)
                return 0;
            int e = dl__wire_decode_header(c->hdr, srv->limits.max_payload, &c->h);
            if (e == -EPROTO || e == -EMSGSIZE) {
                /* The length cannot be trusted: answer, then hang up. */
                struct reply *rp = calloc(1, sizeof *rp);
                if (rp) {
                    fail(rp, e, e == -EPROTO ? "protocol version %" PRIu32 ", expected %u"
                                             : "payload of %" PRIu32 " bytes is over the limit",
                         e == -EPROTO ? c->h.version : c->h.data_size,
                         e == -EPROTO ? DLW_VERSION : srv->limits.max_payload);
                    send_reply(&c->h, rp, send, arg);
                    free(rp);
                }
                if (srv->verbose)
                    SAY(srv, LOG_DEBUG, "conn %" PRIu64 ": bad header (%s), closing", c->id,
                        e == -EPROTO ? "version" : "size");
                return e;
            }
            c->hdr_err = e;
            c->payload_len = 0;
            if (c->h.data_size > c->payload_cap) {
                uint8_t *np = realloc(c->payload, c->h.data_size);
                if (!np)
                    return -ENOMEM;
                c->payload = np;
                c->payload_cap = c->h.data_size;
            }
        }
        size_t want = c->h.data_size - c->payload_len;
        size_t k = want < n ? want : n;
        if (k) {
            memcpy(c->payload + c->payload_len, data, k);
            c->payload_len += k;
            data += k;
            n -= k;
        }
        if (c->payload_len < c->h.data_size)
            return 0;

        struct reply *rp = malloc(sizeof *rp);
        if (!rp)
            return -ENOMEM;
        rp->error = 0;
        rp->len = 0;
        if (c->hdr_err)
            fail(rp, c->hdr_err, "uuid field is not NUL-terminated");
        else
            dispatch(srv, c, &c->h, c->payload, c->payload_len, rp);
        int r = send_reply(&c->h, rp, send, arg);
        free(rp);
        c->hdr_len = 0;
        if (c->payload_cap > 65536) { /* do not keep a huge buffer per client */
            free(c->payload);
            c->payload = NULL;
            c->payload_cap = 0;
        }
        if (r < 0)
            return r;
    }
}

void dld_conn_closed(struct dld_server *srv, struct dld_conn *c)
{
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            pthread_mutex_lock(&L->lock);
            for (struct dld_session *s = L->sessions; s; s = s->next)
                if (s->conn_id == c->id) {
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
    free(c->payload);
    c->payload = NULL;
    c->payload_cap = 0;
}

/* ---- the server ------------------------------------------------------- */

int dld_server_init(struct dld_server *srv, const struct dld_limits *limits)
{
    memset(srv, 0, sizeof *srv);
    srv->limits = *limits;
    srv->state_dirfd = -1;
    struct dld_limits *l = &srv->limits;
    if (l->max_payload == 0 || l->max_payload > DLW_MAX_PAYLOAD)
        l->max_payload = DLW_MAX_PAYLOAD;
    l->max_logs_per_uid = l->max_logs_per_uid ? l->max_logs_per_uid : DLD_DEFAULT_MAX_LOGS_PER_UID;
    l->max_sessions_per_log =
        l->max_sessions_per_log ? l->max_sessions_per_log : DLD_DEFAULT_MAX_SESSIONS_PER_LOG;
    l->max_regions = l->max_regions ? l->max_regions : DLD_DEFAULT_MAX_REGIONS;
    l->max_log_memory = l->max_log_memory ? l->max_log_memory : DLD_DEFAULT_MAX_LOG_MEMORY;
    l->max_uid_memory = l->max_uid_memory ? l->max_uid_memory : DLD_DEFAULT_MAX_UID_MEMORY;
    if (pthread_mutex_init(&srv->lock, NULL) != 0)
        return -ENOMEM;
    if (pthread_cond_init(&srv->created, NULL) != 0) {
        pthread_mutex_destroy(&srv->lock);
        return -ENOMEM;
    }
    if (dld_quota_init(&srv->quota, l->max_uid_memory) < 0) {
        pthread_cond_destroy(&srv->created);
        pthread_mutex_destroy(&srv->lock);
        return -ENOMEM;
    }
    return 0;
}

/* One state file found at start: host its log again, in grace. */
static void load_one(void *arg, const char *uuid, const struct dld_state *st, int error,
                     const char *err)
{
    struct dld_server *srv = arg;
    struct dld_log *L = new_log(uuid);
    if (!L) {
        SAY(srv, LOG_ERR, "log %s: out of memory loading its state", uuid);
        return; /* the file stays: the next start retries */
    }
    struct reply *rp = calloc(1, sizeof *rp);
    if (error == 0 && st->nsessions == 0) { /* the last client left before the file went */
        char e2[256];
        if (dld_state_remove(srv->state_dirfd, uuid, e2, sizeof e2) < 0)
            SAY(srv, LOG_ERR, "log %s: %s", uuid, e2);
        free(rp);
        destroy_log(L);
        return;
    }
    if (error == 0 && rp && (L->ctr = strdup(st->ctr)) != NULL) {
        L->owner_uid = st->owner_uid;
        error = create_hosted_log(srv, L->ctr, &L->log, rp);
        err = rp->len ? (const char *)rp->data : "cannot create the log";
    } else if (error == 0) {
        error = -ENOMEM;
        err = "out of memory";
    }
    for (uint32_t i = 0; error == 0 && i < st->nsessions; i++) {
        struct dld_session *s = calloc(1, sizeof *s);
        if (!s) {
            error = -ENOMEM;
            err = "out of memory";
            break;
        }
        s->luid = st->sessions[i].luid;
        s->uid = st->sessions[i].uid;
        s->pending = 1;
        dl__u64map_init(&s->marks);
        dl__u64map_init(&s->recovering);
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
            destroy_log(L);
            return;
        }
        while (L->sessions) {
            struct dld_session *s = L->sessions;
            L->sessions = s->next;
            free_session(s);
        }
        L->nsessions = L->pending = 0;
    } else {
        SAY(srv, LOG_NOTICE, "log %s: hosted again, clears held until its %u client(s) "
            "reattach or are released", uuid, L->pending);
    }
    free(rp);
    publish_log(srv, L);
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

int dld_server_flush_all(struct dld_server *srv)
{
    int failed = 0;
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            if (!L->log)
                continue; /* refused */
            int r = dl_log_flush(L->log);
            if (r == 0)
                r = dl_log_postsuspend(L->log);
            if (r < 0) {
                failed++;
                SAY(srv, LOG_ERR, "log %s: flush/postsuspend failed: %s", L->uuid,
                    dl_strerror(r));
            }
        }
    pthread_mutex_unlock(&srv->lock);
    return failed;
}

void dld_server_destroy(struct dld_server *srv)
{
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        while (srv->buckets[b]) {
            struct dld_log *L = srv->buckets[b];
            srv->buckets[b] = L->next;
            destroy_log(L);
        }
    srv->nlogs = 0;
    if (srv->state_dirfd >= 0)
        close(srv->state_dirfd);
    srv->state_dirfd = -1;
    pthread_cond_destroy(&srv->created);
    dld_quota_destroy(&srv->quota);
    pthread_mutex_destroy(&srv->lock);
}
