/* A small open-addressing hash map from u64 keys to u64 values: the
 * userspace client's queue of pending marks/clears, and the daemon's
 * per-client mark sets and per-log mark counts. Not thread-safe:
 * the owner's lock protects it. Capacity is kept when entries go away, so a
 * steady workload stops allocating. */
#ifndef DLD_U64MAP_H
#define DLD_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
    uint64_t *keys;
    uint64_t *vals;
    uint8_t *used;
    size_t cap; /* power of two, or 0 */
    size_t len;
};

void dl__u64map_init(struct u64map *m);
void dl__u64map_free(struct u64map *m);
/* Pointer to the value of key, or NULL. */
uint64_t *dl__u64map_get(const struct u64map *m, uint64_t key);
/* Insert key (value 0) if absent; pointer to its value, or NULL (-ENOMEM).
 * *added says whether it was new. */
uint64_t *dl__u64map_put(struct u64map *m, uint64_t key, int *added);
/* Remove key; 1 if it was there. */
int dl__u64map_del(struct u64map *m, uint64_t key);
/* Make room for `extra` more keys without allocating later: 0 or -ENOMEM. */
int dl__u64map_reserve(struct u64map *m, size_t extra);
/* Remove every key, keeping the capacity. */
void dl__u64map_clear(struct u64map *m);
/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->used[i]) ... */

#endif
