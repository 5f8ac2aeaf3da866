/* The clustered log types of `dirtylogd --cluster` (docs/cluster.md):
 * clustered_core and clustered_disk (also spelled clustered-core,
 * clustered-disk), struct dl_log_types living in the daemon. Their logs are
 * created only through dld_cluster_create_log(), which knows the log's
 * uuid (its CPG group) and the daemon's confinement rules. */
#ifndef DLD_CLUSTER_TYPE_H
#define DLD_CLUSTER_TYPE_H

#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"

struct dld_server;

/* Register the four type names. 0 or -errno. */
int dld_cluster_register(void);
/* Create a clustered log for the log table (the server's
 * create_cluster_log hook): joins the log's group and returns once this
 * node holds the cluster's state. 0 and *log, or -errno with err. */
int dld_cluster_create_log(const struct dld_server *srv, const char *uuid, const char *type,
                           uint64_t target, unsigned argc, char **argv, dl_log **log, char *err,
                           size_t errlen);

#endif
