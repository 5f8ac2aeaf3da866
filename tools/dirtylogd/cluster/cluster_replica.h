/* Changes to a clustered log's replica (struct cls_replica in
 * cluster_state.h) and its decoding from a checkpoint. Internal to the
 * cluster engine. */
#ifndef DLD_CLUSTER_REPLICA_H
#define DLD_CLUSTER_REPLICA_H

#include "cluster_state.h"

int clr_init(struct cls_replica *rep, uint64_t region_count, int all_out_of_sync);
void clr_fini(struct cls_replica *rep);
struct cls_node *clr_node(const struct cls_replica *rep, uint32_t id);
/* 0 or -ENOMEM (nothing changed). */
int clr_mark(struct cls_replica *rep, uint32_t id, uint64_t region);
void clr_clear(struct cls_replica *rep, uint32_t id, uint64_t region);
/* Dirty without a live marker, and out of sync. */
int clr_orphan(struct cls_replica *rep, uint64_t region);
void clr_unorphan(struct cls_replica *rep, uint64_t region);
/* Member id left: marks to orphans (each region added to touched, if
 * given), hand-outs returned. */
int clr_node_left(struct cls_replica *rep, uint32_t id, struct u64map *touched);
/* Set bits [from, to) of a bitmap: 0 or -ENOMEM. */
int clr_set_range(struct bitmap *bm, uint64_t from, uint64_t to);
/* A checkpoint blob: 0 and *rep (initialised here), or -EBADMSG/-ENOMEM. */
int clr_decode(const uint8_t *p, size_t len, uint64_t region_count, struct cls_replica *rep,
               unsigned *flags);

#endif
