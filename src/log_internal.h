/* What the generic layer knows about a log; types use the accessors in
 * dirtylog.h instead. */
#ifndef DL_LOG_INTERNAL_H
#define DL_LOG_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "dirtylog.h"

struct dl_registry_entry;

struct dl_log {
    const struct dl_log_type *ops; /* the registry's full-size copy */
    struct dl_registry_entry *entry;
    void *context;
    uint64_t target_sectors;
    uint64_t region_count;
    uint32_t region_size;
    int serialize; /* DL_THREAD_MODEL_SERIALIZE_ALL: hold `lock` around ops */
    pthread_mutex_t lock;
    dl_flush_fn flush_fn;
    void *flush_arg;
    void *create_arg; /* dl__log_create_with's argument, during the ctr only */
};

/* The context of a log, for the built-in types' hot paths: a field read
 * instead of a call to the exported accessor (types outside the library
 * use dl_log_get_context()). */
static inline void *dl__context(dl_log *log)
{
    return log->context;
}

/* Create a log of the built-in `type` itself (no registry lookup by name:
 * unregistering or replacing a type of that name does not change which ctr
 * runs), handing `create_arg` to its ctr (dl__create_arg). As dl_log_create
 * otherwise. */
int dl__log_create_with(const struct dl_log_type *type, uint64_t target_sectors, unsigned argc,
                        const char *const *argv, void *create_arg, dl_log **out);

/* In a ctr: the argument dl__log_create_with was given (NULL when the log
 * is created by name). */
static inline void *dl__create_arg(dl_log *log)
{
    return log->create_arg;
}

/* Registry (registry.c): look a type up and pin it while a log uses it. */
const struct dl_log_type *dl__registry_acquire(const char *name, struct dl_registry_entry **entry);
void dl__registry_release(struct dl_registry_entry *entry);

/* Error messages (errors.c): set/clear this thread's last message. The one
 * internal way to record a message: library code calls dl__set_error();
 * dl_log_errorf() is the same door for types built outside the library. */
void dl__set_error(const char *fmt, ...) DL_PRINTF(1, 2);
void dl__clear_error(void);

/* table.c: split s in place on white space (isspace) into at most `max`
 * words: 0 and *n, or -E2BIG if there are more (nothing to report yet). */
int dl__split_words(char *s, char **words, unsigned max, unsigned *n);

/* parse.c: an unsigned decimal with no sign, space or junk that fits uint64:
 * 0, -EINVAL (not a number) or -ERANGE (too large). *out is set only on 0. */
int dl__parse_u64(const char *s, uint64_t *out);

/* The built-in types (builtin_types.c lists them). */
extern const struct dl_log_type *const dl__builtin_types[];

#endif
