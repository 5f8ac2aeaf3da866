/* Internal hooks of the bitmap for the tests (not exported): a count of the
 * leaves find_next_set searched, so tests/bitmap checks that pruning works
 * (a second search skips the leaves a first one found empty) by the
 * mechanism, not by the clock. Off unless a test turns it on: the search
 * then pays one predictable branch per leaf. */
#ifndef DIRTYLOG_BITMAP_HOOKS_H
#define DIRTYLOG_BITMAP_HOOKS_H

#include <stdint.h>

struct bitmap;

/* Start counting (from 0). Exclusive: no other call on bm at the same time. */
void dl__bitmap_count_leaf_visits(struct bitmap *bm);
/* Leaves dl__bitmap_find_next_set searched since counting started. */
uint64_t dl__bitmap_leaf_visits(const struct bitmap *bm);
/* Searches an iterator started from the root since counting started. */
uint64_t dl__bitmap_root_searches(const struct bitmap *bm);
/* Leaf words a search loaded (sparse leaves: only those their summary
 * names) since counting started. */
uint64_t dl__bitmap_word_visits(const struct bitmap *bm);

#endif
