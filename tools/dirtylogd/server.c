/* dirtylogd's log table and log creation (see server_internal.h): the hash
 * table of hosted logs, pinning a log for a request, the placeholder a CTR
 * publishes while it creates its log outside the lock, and the server's
 * life (init, flush, destroy). The daemon holds no log logic of its own: it
 * creates logs through the registry and calls the dl_log_* ops. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h" /* dl__parse_u64 */
#include "server_internal.h"
#include "state.h"

#define DLD_CREATE_WAIT_S 10 /* a CTR waits this long for a log another CTR creates */

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
struct dld_log *dld__acquire_log(struct dld_server *srv, const char *uuid)
{
    pthread_mutex_lock(&srv->lock);
    struct dld_log *L = find_log(srv, uuid);
    if (L)
        L->busy++;
    pthread_mutex_unlock(&srv->lock);
    return L;
}

/* A new table entry (not yet published), or NULL. */
struct dld_log *dld__new_log(const char *uuid)
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

void dld__publish_log(struct dld_server *srv, struct dld_log *L)
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

void dld__destroy_log(struct dld_log *L)
{
    while (L->sessions) {
        struct dld_session *s = L->sessions;
        L->sessions = s->next;
        dld__free_session(s);
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
void dld__release_log(struct dld_server *srv, struct dld_log *L)
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
        dld__destroy_log(L);
    }
}

/* ---- log creation ----------------------------------------------------- */

/* Split a constructor string "<target> <type> <args...>" in place. */
static int parse_ctr(char *s, uint64_t *target, char **type, unsigned *argc, char **argv,
                     struct dld_reply *rp)
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
int dld__create_hosted_log(const struct dld_server *srv, const char *uuid, const char *ctr,
                           dl_log **log, struct dld_reply *rp)
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
    /* The cluster types (clustered_core, clustered-disk, ...): --cluster only. */
    int clustered = r == 0 && strncmp(type, "clustered", 9) == 0 &&
                    (type[9] == '_' || type[9] == '-') &&
                    (strcmp(type + 10, "core") == 0 || strcmp(type + 10, "disk") == 0);
    if (clustered && !srv->create_cluster_log)
        r = fail(rp, -EACCES, "log type %s needs dirtylogd --cluster (built with corosync)", type);
    if (r == 0) {
        char why[512]; /* only beneath --log-dir or on --allow-device (confine.c) */
        r = clustered ? srv->create_cluster_log(srv, uuid, type, target, argc, argv, log, why,
                                                sizeof why)
                      : dld_confine_create_log(srv->confine, type, target, argc, argv, log, why,
                                               sizeof why);
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
static int ctr_find_or_reserve(struct dld_server *srv, const struct dld_peer *peer,
                               const char *uuid, char **ctr, struct dld_log **out, int *created,
                               struct dld_reply *rp)
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
    if (L && peer->uid != 0 && peer->uid != L->owner_uid)
        return fail(rp, -EACCES, "log %s belongs to another user", uuid);
    if (L && strcmp(L->ctr, *ctr) != 0)
        return fail(rp, -EINVAL, "log %s already exists with constructor '%s'", uuid, L->ctr);
    if (!L && srv->nlogs >= srv->limits.max_logs)
        return fail(rp, -EMFILE, "too many logs (limit %u)", srv->limits.max_logs);
    if (!L && logs_of(srv, (uint32_t)peer->uid) >= srv->limits.max_logs_per_uid)
        return fail(rp, -EMFILE, "uid %lu already owns %u logs (limit per uid)",
                    (unsigned long)peer->uid, srv->limits.max_logs_per_uid);
    if (!L) {
        if (!(L = dld__new_log(uuid)))
            return fail(rp, -ENOMEM, "out of memory");
        L->creating = 1;
        L->owner_uid = (uint32_t)peer->uid;
        L->ctr = *ctr;
        *ctr = NULL;
        dld__publish_log(srv, L);
        *created = 1;
    }
    L->busy++;
    *out = L;
    return 0;
}

int dld__open_log(struct dld_server *srv, const struct dld_peer *peer, const char *uuid,
                  char **ctr, struct dld_log **out, struct dld_reply *rp)
{
    struct dld_log *L = NULL;
    int created = 0;
    pthread_mutex_lock(&srv->lock);
    int r = ctr_find_or_reserve(srv, peer, uuid, ctr, &L, &created, rp);
    pthread_mutex_unlock(&srv->lock);
    if (r < 0)
        return r;
    if (created) {
        /* Without the server lock: other logs are served meanwhile, and a
         * CTR of this uuid waits for the placeholder (bounded). */
        dl_log *log = NULL;
        r = dld__create_hosted_log(srv, L->uuid, L->ctr, &log, rp);
        pthread_mutex_lock(&srv->lock);
        L->log = log;
        L->creating = 0;
        pthread_cond_broadcast(&srv->created);
        pthread_mutex_unlock(&srv->lock);
        if (r < 0) {
            dld__release_log(srv, L); /* no session: the placeholder goes */
            return r;
        }
        SAY(srv, LOG_INFO, "log %s created: %s", L->uuid, L->ctr);
    }
    *out = L;
    return 0;
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
            dld__destroy_log(L);
        }
    srv->nlogs = 0;
    if (srv->state_dirfd >= 0)
        close(srv->state_dirfd);
    srv->state_dirfd = -1;
    pthread_cond_destroy(&srv->created);
    dld_quota_destroy(&srv->quota);
    pthread_mutex_destroy(&srv->lock);
}
