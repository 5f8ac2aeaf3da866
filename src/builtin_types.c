/* The log types registered automatically. A new built-in type adds one line. */
#include "log_internal.h"

extern const struct dl_log_type dl__core_type;
extern const struct dl_log_type dl__disk_type;
extern const struct dl_log_type dl__userspace_type;

const struct dl_log_type *const dl__builtin_types[] = {
    &dl__core_type,
    &dl__disk_type,
    &dl__userspace_type,
    NULL,
};
