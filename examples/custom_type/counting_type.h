/* "counting": a log type that wraps a core log and counts the marks and
 * clears it sees (counting_type.c). Table line:
 * "counting <argc> <region_size> [sync|nosync]"; status INFO
 * "3 counting <marks> <clears>". Register it with
 * dl_register_type(&counting_type). */
#ifndef COUNTING_TYPE_H
#define COUNTING_TYPE_H

#include <dirtylog.h>

extern const struct dl_log_type counting_type;

#endif
