/* Per-uid memory accounting (see quota.h). */
#include <errno.h>

#include "quota.h"

int dld_quota_init(struct dld_quota *q, uint64_t max_bytes_per_uid)
{
    dl__u64map_init(&q->used);
    q->max_bytes = max_bytes_per_uid;
    return pthread_mutex_init(&q->lock, NULL) ? -ENOMEM : 0;
}

void dld_quota_destroy(struct dld_quota *q)
{
    dl__u64map_free(&q->used);
    pthread_mutex_destroy(&q->lock);
}

int dld_quota_charge(struct dld_quota *q, uint32_t uid, uint64_t bytes, uint64_t *used)
{
    int added, r = 0;
    pthread_mutex_lock(&q->lock);
    uint64_t *v = dl__u64map_put(&q->used, uid, &added);
    if (!v)
        r = -ENOMEM;
    else if (bytes > q->max_bytes || *v > q->max_bytes - bytes)
        r = -EDQUOT;
    else
        *v += bytes;
    if (used)
        *used = v ? *v : 0;
    if (v && *v == 0)
        dl__u64map_del(&q->used, uid);
    pthread_mutex_unlock(&q->lock);
    return r;
}

void dld_quota_uncharge(struct dld_quota *q, uint32_t uid, uint64_t bytes)
{
    pthread_mutex_lock(&q->lock);
    uint64_t *v = dl__u64map_get(&q->used, uid);
    if (v) {
        *v = *v > bytes ? *v - bytes : 0;
        if (*v == 0)
            dl__u64map_del(&q->used, uid);
    }
    pthread_mutex_unlock(&q->lock);
}
