/* Linear probing with backward-shift deletion (no tombstones). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote/u64map.h"

static size_t slot_of(const struct u64map *m, uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (m->cap - 1);
}

void dl__u64map_init(struct u64map *m)
{
    m->keys = m->vals = NULL;
    m->used = NULL;
    m->cap = m->len = 0;
}

void dl__u64map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    dl__u64map_init(m);
}

uint64_t *dl__u64map_get(const struct u64map *m, uint64_t key)
{
    if (m->len == 0)
        return NULL;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i])
            return NULL;
        if (m->keys[i] == key)
            return &m->vals[i];
    }
}

static int grow(struct u64map *m, size_t want_cap)
{
    struct u64map n;
    n.cap = want_cap;
    n.len = 0;
    n.keys = malloc(want_cap * sizeof *n.keys);
    n.vals = malloc(want_cap * sizeof *n.vals);
    n.used = calloc(want_cap, 1);
    if (!n.keys || !n.vals || !n.used) {
        dl__u64map_free(&n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i])
            continue;
        size_t j = slot_of(&n, m->keys[i]);
        while (n.used[j])
            j = (j + 1) & (n.cap - 1);
        n.used[j] = 1;
        n.keys[j] = m->keys[i];
        n.vals[j] = m->vals[i];
        n.len++;
    }
    dl__u64map_free(m);
    *m = n;
    return 0;
}

int dl__u64map_reserve(struct u64map *m, size_t extra)
{
    size_t need = m->len + extra;
    if (need > (SIZE_MAX / 4) / sizeof(uint64_t))
        return -ENOMEM;
    size_t cap = m->cap ? m->cap : 16;
    while (need * 4 > cap * 3) /* keep the load factor under 3/4 */
        cap *= 2;
    return cap == m->cap ? 0 : grow(m, cap);
}

uint64_t *dl__u64map_put(struct u64map *m, uint64_t key, int *added)
{
    uint64_t *v = dl__u64map_get(m, key);
    if (v) {
        *added = 0;
        return v;
    }
    if (dl__u64map_reserve(m, 1) < 0)
        return NULL;
    size_t i = slot_of(m, key);
    while (m->used[i])
        i = (i + 1) & (m->cap - 1);
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = 0;
    m->len++;
    *added = 1;
    return &m->vals[i];
}

int dl__u64map_del(struct u64map *m, uint64_t key)
{
    if (m->len == 0)
        return 0;
    size_t mask = m->cap - 1, i = slot_of(m, key);
    for (;; i = (i + 1) & mask) {
        if (!m->used[i])
            return 0;
        if (m->keys[i] == key)
            break;
    }
    /* Shift later members of the probe run back into the hole. */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; m->used[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->keys[j]);
        /* Move j to the hole unless its home lies cyclically in (hole, j]. */
        int home_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!home_between) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->used[hole] = 0;
    m->len--;
    return 1;
}

void dl__u64map_clear(struct u64map *m)
{
    if (m->cap)
        memset(m->used, 0, m->cap);
    m->len = 0;
}
