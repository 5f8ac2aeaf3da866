/* The replica of one clustered log and the deterministic state machine that
 * keeps every member's replica identical (docs/cluster.md, "Model"). It is
 * fed, in corosync's agreed order, the messages of the group (cls_deliver)
 * and its membership changes (cls_confchg), and talks back through struct
 * cls_ops: multicast a message, tell the local node that one of its own
 * messages was applied or made durable, persist (the writer of a
 * clustered_disk log). No threads, no clock, no I/O of its own: the same
 * input gives the same replica on every member, which is what the model
 * tests (tests/cluster_model) check. Not thread-safe: the caller locks. */
#ifndef DLD_CLUSTER_STATE_H
#define DLD_CLUSTER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster_msg.h"
#include "remote/u64map.h"

struct bitmap;

/* Every limit explicit. */
#define CLS_MAX_BLOB (256u << 20)  /* largest checkpoint (a replica) in bytes */
#define CLS_MAX_QUEUE (64u << 20)  /* messages queued during a checkpoint round */

/* One member's marks: regions with writes possibly in flight there. */
struct cls_node {
    uint32_t id;
    struct u64map marks;
};

struct cls_replica {
    uint64_t region_count;
    struct bitmap *oos;         /* 1 = out of sync */
    struct u64map orphan;       /* dirty without a live marker: a departed
                                   member's marks, or dirty on disk at load */
    struct cls_node *nodes;     /* nnodes of CLM_MAX_MEMBERS */
    unsigned nnodes;
    struct u64map dirty;        /* region -> markers (nodes + orphan) */
    struct u64map recovering;   /* region -> node id it was handed to */
    uint64_t applied;           /* state messages applied (FLUSH, REQUEST_WORK, SET_SYNC) */
};

struct cls_state;

struct cls_ops {
    /* Multicast msg to the group in agreed order: 0 or -errno. */
    int (*send)(void *arg, const uint8_t *msg, size_t len);
    /* One of this member's own messages (seq) was applied as the index-th
     * state change; for REQUEST_WORK found (0/1) and the region handed out. */
    void (*applied)(void *arg, uint64_t seq, uint64_t index, int found, uint64_t region);
    /* The writer persisted every state change up to index (clustered_disk). */
    void (*durable)(void *arg, uint64_t index);
    /* This member is the writer: persist the replica (full = every region,
     * else the regions cls_state_touched() lists). 0 or -errno. */
    int (*persist)(void *arg, struct cls_state *st, int full);
    /* The replica is valid (a checkpoint round finished). */
    void (*ready)(void *arg);
    void (*say)(void *arg, const char *msg);
};

struct cls_blob; /* a checkpoint being reassembled */
struct cls_queued;

struct cls_state {
    uint32_t me;
    int disk;                   /* clustered_disk: a writer persists, DURABLE acks */
    size_t max_msg;             /* largest message to multicast */
    struct cls_ops ops;
    void *arg;
    struct cls_replica rep;     /* valid once have_state */
    struct cls_replica initial; /* what this member brings when fresh */
    int have_state;
    int initial_unknown;        /* see cls_initial_unknown */
    int failed;                 /* out of memory or a corrupt checkpoint: give up */
    uint32_t view[CLM_MAX_MEMBERS];
    unsigned nview;
    uint32_t peers[CLM_MAX_MEMBERS]; /* members that share this replica */
    unsigned npeers;
    int in_round;               /* a checkpoint round runs: messages queue */
    struct cls_blob *blobs;     /* CLM_MAX_MEMBERS */
    unsigned nblobs;
    struct cls_queued *queue;
    size_t nqueue, queue_cap, queue_bytes;
    uint64_t seq;               /* this member's messages sent */
    uint64_t durable;           /* highest index the writer reported durable */
    uint64_t durable_sent;      /* the last index this member (as writer) reported */
    uint32_t writer;            /* the writer the last persist decision saw */
    struct u64map touched;      /* regions changed since the last persist (writer) */
    uint64_t rounds;            /* checkpoint rounds finished (status, tests) */
};

/* me: this member's node id (> 0). region_count > 0. The initial replica
 * starts with every region out of sync if all_out_of_sync, else in sync.
 * 0 or -ENOMEM. */
int cls_init(struct cls_state *st, uint32_t me, uint64_t region_count, int all_out_of_sync,
             int disk, size_t max_msg, const struct cls_ops *ops, void *arg);
void cls_fini(struct cls_state *st);
/* Before joining: a region found dirty on the device (clustered_disk load):
 * it stays dirty and out of sync until resynced. in_sync sets its sync bit. */
int cls_initial_dirty(struct cls_state *st, uint64_t region);
int cls_initial_sync(struct cls_state *st, uint64_t region, int in_sync);
/* Before joining: this member could not read the shared device (another
 * member holds it): its initial replica must never count. */
void cls_initial_unknown(struct cls_state *st);

/* Membership changed (sorted or not; CPG's order). */
void cls_confchg(struct cls_state *st, const uint32_t *members, size_t n, const uint32_t *left,
                 size_t nleft, const uint32_t *joined, size_t njoined);
/* A message from node `from`, in agreed order. 0, or -errno if it was
 * malformed (then ignored). */
int cls_deliver(struct cls_state *st, uint32_t from, const uint8_t *msg, size_t len);
/* This member's next message sequence number (for its own multicasts). */
uint64_t cls_next_seq(struct cls_state *st);

/* Queries of the replica (valid once have_state). */
int cls_ready(const struct cls_state *st);
int cls_is_clean(const struct cls_state *st, uint64_t region);
int cls_in_sync(const struct cls_state *st, uint64_t region);
uint64_t cls_sync_count(const struct cls_state *st);
/* The node recovering region, or 0. */
uint32_t cls_recovering(const struct cls_state *st, uint64_t region);
/* Regions marked by node id (0: the orphans). */
uint64_t cls_dirty_count(const struct cls_state *st, uint32_t id);
/* The writer: the lowest member id (0 while no view). */
uint32_t cls_writer(const struct cls_state *st);
/* The writer's list of regions to persist (clustered_disk). */
const struct u64map *cls_touched(const struct cls_state *st);

/* A canonical encoding of the replica (sorted), for comparing members and
 * for checkpoints: 0 and a malloc'ed buffer, or -ENOMEM. */
#define CLS_BLOB_FRESH 1u   /* a member's initial replica, not the cluster's */
#define CLS_BLOB_UNKNOWN 2u /* ...and it could not read the shared device */
int cls_replica_encode(const struct cls_replica *rep, unsigned flags, uint8_t **out, size_t *len);

#endif
