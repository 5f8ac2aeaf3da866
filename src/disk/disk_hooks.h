/* Internal hooks of the disk type for the tests (not exported). */
#ifndef DL_DISK_HOOKS_H
#define DL_DISK_HOOKS_H

#include "dirtylog.h"

/* How many flush calls are waiting for a running round to finish. */
unsigned dl__disk_flush_waiters(dl_log *log);

#endif
