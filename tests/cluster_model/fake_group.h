/* A deterministic in-process stand-in for a corosync process group: several
 * members of one clustered log in one process, each with its own replica
 * (struct cls_state). The test decides when each message is delivered and
 * when members crash, join, partition and merge; delivery keeps CPG's
 * guarantees (one agreed order per partition, every message sent in a view
 * delivered to that whole view before the next membership change, or, for a
 * crashed sender's last messages, to none). */
#ifndef FAKE_GROUP_H
#define FAKE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "cluster_state.h"

#define FG_MAX 16
#define FG_LOG 4096

struct fg_member {
    uint32_t id;
    int alive;
    int part;             /* partition the member is in */
    struct cls_state st;
    struct fake_group *g;
    /* What the state machine told this member about its own messages. */
    struct fg_applied {
        uint64_t seq, index, region;
        int found;
    } log[FG_LOG];
    size_t nlog; /* entries in log (the oldest are overwritten) */
    uint64_t durable;
    unsigned persists;
    int ready;
};

struct fg_msg {
    uint32_t from;
    int part;
    uint8_t *data;
    size_t len;
};

struct fake_group {
    struct fg_member m[FG_MAX];
    unsigned n;
    struct fg_msg *q;
    size_t nq, cap;
    uint64_t region_count;
    int disk;
    size_t max_msg;
    uint64_t sent, delivered;
    /* Non-zero: the agreed order interleaves the senders at random (each
     * sender's own messages stay in order), seeded by this. */
    uint64_t shuffle;
};

/* Called between a joining member's cls_init and its first confchg (to set
 * what it loaded from a device), if set. */
extern void (*fg_before_join)(struct fg_member *m);

void fg_init(struct fake_group *g, uint64_t region_count, int disk, size_t max_msg);
void fg_fini(struct fake_group *g);
/* A new member (fresh replica; all_out_of_sync as a new core log) joins
 * partition part: 0 or -errno. */
int fg_join(struct fake_group *g, uint32_t id, int part, int all_out_of_sync);
/* The member crashes; drop_last: its undelivered messages are lost. */
void fg_crash(struct fake_group *g, uint32_t id, int drop_last);
/* Members with ids in `ids` move to partition `to` (both sides see the
 * others leave); fg_merge joins partition `from` into `to`. */
void fg_split(struct fake_group *g, const uint32_t *ids, size_t n, int to);
void fg_merge(struct fake_group *g, int from, int to);
/* Deliver the next message of partition part: 1, or 0 if none is queued. */
int fg_step(struct fake_group *g, int part);
/* Deliver everything (every partition) until nothing is queued. */
void fg_drain(struct fake_group *g);
struct fg_member *fg_member(struct fake_group *g, uint32_t id);
/* The queued messages of partition part. */
size_t fg_queued(const struct fake_group *g, int part);
/* The record of member m's own message seq having been applied, or NULL. */
const struct fg_applied *fg_applied_of(const struct fg_member *m, uint64_t seq);

#endif
