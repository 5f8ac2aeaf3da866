/* A closed process group as the cluster engine needs it: join a named
 * group, multicast in agreed order, have every message and membership
 * change delivered (in one order, the same on every member) to callbacks,
 * know the local node id and whether the node has quorum. cluster_cpg.c
 * implements it on corosync (CPG + quorum, a dispatch thread per group);
 * tests/cluster_model drives the state machine with a fake of its own. */
#ifndef DLD_CLUSTER_GROUP_H
#define DLD_CLUSTER_GROUP_H

#include <stddef.h>
#include <stdint.h>

struct clg_callbacks {
    /* A message, in agreed order (from the dispatch thread). */
    void (*deliver)(void *arg, uint32_t nodeid, const uint8_t *msg, size_t len);
    /* The membership changed: node ids of the members now, and of those
     * that left and joined. */
    void (*confchg)(void *arg, const uint32_t *members, size_t n, const uint32_t *left,
                    size_t nleft, const uint32_t *joined, size_t njoined);
    /* The group is lost (corosync went away): nothing more will come. */
    void (*lost)(void *arg);
};

struct clg_group;

/* Join group `name` (at most 127 bytes). 0 and *out, or -errno with a
 * message in err. The callbacks may run before this returns. */
int clg_join(const char *name, const struct clg_callbacks *cb, void *arg, struct clg_group **out,
             char *err, size_t errlen);
/* Leave the group, stop its thread, free it. Not from a callback. */
void clg_leave(struct clg_group *g);
/* Multicast (agreed order): 0, or -errno (-EIO: corosync unreachable). */
int clg_mcast(struct clg_group *g, const uint8_t *msg, size_t len);
uint32_t clg_local_id(const struct clg_group *g);
/* Largest message clg_mcast takes. */
size_t clg_max_msg(const struct clg_group *g);
/* 1 if this node has quorum (or corosync runs without a quorum provider). */
int clg_quorate(const struct clg_group *g);

/* The CPG group name of a log: "dirtylog:<uuid>", a long uuid cut and
 * completed by a hash of the whole so that names stay distinct. */
void clg_group_name(const char *uuid, char *name, size_t len);

#endif
