/* Per-uid accounting of the daemon memory that clients' marks cost. The
 * request layer estimates a request's cost up front (server.c:
 * mark_cost) and charges it here before applying it, so a client over its
 * quota gets -EDQUOT and nothing changes. Thread-safe; its lock is a leaf
 * (taken under a log's lock or the server lock, never the other way). */
#ifndef DLD_QUOTA_H
#define DLD_QUOTA_H

#include <pthread.h>
#include <stdint.h>

#include "remote/u64map.h"

struct dld_quota {
    pthread_mutex_t lock;
    struct u64map used; /* uid -> bytes charged */
    uint64_t max_bytes; /* per uid */
};

int dld_quota_init(struct dld_quota *q, uint64_t max_bytes_per_uid);
void dld_quota_destroy(struct dld_quota *q);
/* Charge bytes to uid: 0, or -EDQUOT (nothing charged; *used says how much
 * the uid already has) or -ENOMEM. */
int dld_quota_charge(struct dld_quota *q, uint32_t uid, uint64_t bytes, uint64_t *used);
/* Give back what an earlier charge took (never below 0). */
void dld_quota_uncharge(struct dld_quota *q, uint32_t uid, uint64_t bytes);

#endif
