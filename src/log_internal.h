/* What the generic layer knows about a log; types use the accessors in
 * dirtylog.h instead. */
#ifndef DL_LOG_INTERNAL_H
#define DL_LOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bitmap/bitmap.h"
#include "dirtylog.h"

struct dl_registry_entry;

/* A built-in type's native range calls (NULL: the wrappers loop over the
 * single-region ops). The range is checked by the wrapper. */
struct dl__range_ops {
    int (*is_clean_range)(dl_log *log, uint64_t first, uint64_t count, uint64_t *first_dirty);
    int (*mark_range)(dl_log *log, uint64_t first, uint64_t count);
    int (*clear_range)(dl_log *log, uint64_t first, uint64_t count);
};

struct dl_log {
    /* FIRST, always: the inline read path of dirtylog.h reads it (ABI). */
    struct dl_log_view view;
    const struct dl_log_type *ops; /* the registry's full-size copy */
    const struct dl__range_ops *range_ops; /* built-in types only, or NULL */
    /* Devirtualised marks: when words is set, mark_region / clear_region are
     * exactly a set / clear of this flat bitmap, and the wrappers do them
     * inline (core logs with a view). */
    struct dl__flat_bits fast_dirty;
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

/* In a ctr (before the log is visible to any other thread): publish flat
 * words (dl__bitmap_flat_words) for regions [0, limit) as the view of the
 * dirty set and/or of the out-of-sync set (NULL: that set has none). The
 * words must stay at that address until the dtr. */
void dl__log_publish_view(dl_log *log, const _Atomic uint64_t *dirty,
                          const _Atomic uint64_t *out_of_sync, uint64_t limit);
/* Withdraw the view (both sets) for good, from any thread: readers that see
 * it gone make the call, which must then answer for the log's new state
 * (e.g. a failed disk log reads every region dirty). The words stay valid,
 * so a reader that loaded a limit just before still reads valid memory. */
void dl__log_withdraw_view(dl_log *log);

/* In a ctr: the type's mark_region / clear_region do nothing but
 * dl__bitmap_set / dl__bitmap_clear on the bitmap `dirty` (and their result
 * is 0 whatever the previous value): if it is flat, let the wrappers do it
 * inline (a sparse one changes nothing). */
static inline void dl__log_set_fast_dirty(dl_log *log, struct bitmap *dirty)
{
    dl__bitmap_get_flat_bits(dirty, &log->fast_dirty);
}

static inline void dl__log_set_range_ops(dl_log *log, const struct dl__range_ops *ops)
{
    log->range_ops = ops;
}

/* Create a log of the built-in `type` itself (no registry lookup by name:
 * unregistering or replacing a type of that name does not change which ctr
 * runs), handing `create_arg` to its ctr (dl__create_arg). As dl_log_create
 * otherwise. */
int dl__log_create_with(const struct dl_log_type *type, uint64_t target_sectors, unsigned argc,
                        const char *const *argv, void *create_arg, dl_log **out);

/* dl_log_flush for the marks of the write-intent layer's cold path, whose
 * clear passes flush on their own (rh_commit.c): a log may leave queued
 * clean work to that other flush, so that a mark's flush never runs the
 * engine's data flush (the disk log does; disk_flush.c). Same result
 * otherwise. dl__log_flushing_for_marks() says, inside a type's flush,
 * whether the calling thread's flush is such a one. */
int dl__log_flush_for_marks(dl_log *log);
int dl__log_flushing_for_marks(void);

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
