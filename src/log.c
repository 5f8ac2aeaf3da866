/* dl_log_*: create/destroy and one wrapper per op. Wrappers check the handle
 * and regions, normalise results and take the per-log lock only for
 * SERIALIZE_ALL types. The NULL rule (dirtylog.h): int results -EINVAL,
 * sizes 0, pointers NULL, setters and destroy ignore it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "log_internal.h"

uint64_t dl_region_count(uint64_t target_sectors, uint32_t region_size)
{
    if (region_size == 0)
        return 0;
    return target_sectors / region_size + (target_sectors % region_size != 0);
}

/* The checks every creation makes before a type is involved. */
static int check_create_args(const char *type_name, uint64_t target_sectors, unsigned argc,
                             const char *const *argv, dl_log **out)
{
    dl__clear_error();
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!type_name || (argc && !argv)) {
        dl__set_error("no log type or argument vector given");
        return -EINVAL;
    }
    if (argc > DL_MAX_ARGS) {
        dl__set_error("%u arguments is more than the limit of %d", argc, DL_MAX_ARGS);
        return -E2BIG;
    }
    for (unsigned i = 0; i < argc; i++)
        if (!argv[i]) {
            dl__set_error("argument %u is NULL", i);
            return -EINVAL;
        }
    if (target_sectors == 0) {
        dl__set_error("target length is 0 sectors");
        return -EINVAL;
    }
    return 0;
}

/* Run `ops`' ctr on a new log. `entry` pins a registered type (NULL for a
 * built-in type used directly); it is released on failure. */
static int construct(const struct dl_log_type *ops, struct dl_registry_entry *entry,
                     uint64_t target_sectors, unsigned argc, const char *const *argv,
                     void *create_arg, dl_log **out)
{
    dl_log *log = calloc(1, sizeof *log);
    if (!log) {
        if (entry)
            dl__registry_release(entry);
        return -ENOMEM;
    }
    log->view.struct_size = sizeof log->view; /* limits 0: no view until a ctr publishes */
    log->ops = ops;
    log->entry = entry;
    log->create_arg = create_arg;
    log->target_sectors = target_sectors;
    log->serialize = log->ops->thread_model == DL_THREAD_MODEL_SERIALIZE_ALL;
    if (log->serialize && pthread_mutex_init(&log->lock, NULL) != 0) {
        if (entry)
            dl__registry_release(entry);
        free(log);
        return -ENOMEM;
    }
    /* Types take char ** like the kernel's ctr; they must not write to it. */
    int r = log->ops->ctr(log, target_sectors, argc, (char **)argv);
    log->create_arg = NULL; /* the ctr's alone */
    if (r == 0) {
        uint32_t rs = log->ops->get_region_size(log);
        if (rs == 0) {
            log->ops->dtr(log);
            dl__set_error("log type %s reported region size 0", ops->name);
            r = -EINVAL;
        } else {
            log->region_size = rs;
            log->region_count = dl_region_count(target_sectors, rs);
        }
    } else {
        if (r > 0)
            r = -EINVAL;
        if (dl_last_error()[0] == '\0')
            dl__set_error("%s: constructor failed: %s", ops->name, dl_strerror(r));
    }
    if (r < 0) {
        if (log->serialize)
            pthread_mutex_destroy(&log->lock);
        if (entry)
            dl__registry_release(entry);
        free(log);
        return r;
    }
    *out = log;
    return 0;
}

int dl_log_create(const char *type_name, uint64_t target_sectors, unsigned argc,
                  const char *const *argv, dl_log **out)
{
    int r = check_create_args(type_name, target_sectors, argc, argv, out);
    if (r < 0)
        return r;
    struct dl_registry_entry *entry;
    const struct dl_log_type *ops = dl__registry_acquire(type_name, &entry);
    if (!ops) {
        dl__set_error("unknown log type '%s'", type_name);
        return -ENOENT;
    }
    return construct(ops, entry, target_sectors, argc, argv, NULL, out);
}

int dl__log_create_with(const struct dl_log_type *type, uint64_t target_sectors, unsigned argc,
                        const char *const *argv, void *create_arg, dl_log **out)
{
    int r = check_create_args(type->name, target_sectors, argc, argv, out);
    if (r < 0)
        return r;
    return construct(type, NULL, target_sectors, argc, argv, create_arg, out);
}

void dl_log_destroy(dl_log *log)
{
    if (!log)
        return;
    log->ops->dtr(log);
    if (log->serialize)
        pthread_mutex_destroy(&log->lock);
    if (log->entry)
        dl__registry_release(log->entry);
    free(log);
}

int dl_log_set_flush_callback(dl_log *log, dl_flush_fn fn, void *arg)
{
    if (!log)
        return -EINVAL;
    log->flush_fn = fn;
    log->flush_arg = fn ? arg : NULL;
    return 0;
}

int dl_log_call_flush_callback(dl_log *log)
{
    if (!log)
        return -EINVAL;
    if (!log->flush_fn)
        return 0;
    int r = log->flush_fn(log->flush_arg);
    return r > 0 ? -EIO : r;
}

void dl_log_set_context(dl_log *log, void *context)
{
    if (log)
        log->context = context;
}

void *dl_log_get_context(dl_log *log) { return log ? log->context : NULL; }
const struct dl_log_type *dl_log_get_type(dl_log *log) { return log ? log->ops : NULL; }
uint32_t dl_log_get_region_size(dl_log *log) { return log ? log->region_size : 0; }
uint64_t dl_log_get_region_count(dl_log *log) { return log ? log->region_count : 0; }
uint64_t dl_log_get_target_sectors(dl_log *log) { return log ? log->target_sectors : 0; }

/* (kept out of line so that the fast paths of the hot wrappers need no stack frame) */
#if defined(__GNUC__) || defined(__clang__)
#define SLOW_PATH __attribute__((noinline))
#else
#define SLOW_PATH
#endif

/* The NULL rule for every wrapper that returns an int. */
#define CHECK_LOG(log)             \
    do {                           \
        if (DL_UNLIKELY(!(log)))   \
            return -EINVAL;        \
    } while (0)

/* Call an op under the log's lock if (and only if) its type asked for it. */
#define CALL(log, expr)                           \
    do {                                          \
        if (DL_UNLIKELY((log)->serialize)) { \
            pthread_mutex_lock(&(log)->lock);     \
            int r_ = (expr);                      \
            pthread_mutex_unlock(&(log)->lock);   \
            return r_;                            \
        }                                         \
        return (expr);                            \
    } while (0)

static int out_of_range(dl_log *log, uint64_t region)
{
    dl__set_error("region %" PRIu64 " is out of range (region count %" PRIu64 ")", region,
                  log->region_count);
    return -ERANGE;
}

/* The handle, then the region (a NULL log has no region count). */
#define CHECK_REGION(log, region)                                  \
    do {                                                           \
        CHECK_LOG(log);                                            \
        if (DL_UNLIKELY((region) >= (log)->region_count))          \
            return out_of_range(log, region);                      \
    } while (0)

/* Predicates answer exactly 0 or 1, whatever positive value a type returns. */
static inline int as_bool(int r) { return r > 0 ? 1 : r; }

static int call_optional(dl_log *log, int (*op)(dl_log *))
{
    if (!op)
        return 0;
    CALL(log, op(log));
}

int dl_log_presuspend(dl_log *log)
{
    CHECK_LOG(log);
    return call_optional(log, log->ops->presuspend);
}

int dl_log_postsuspend(dl_log *log)
{
    CHECK_LOG(log);
    return call_optional(log, log->ops->postsuspend);
}

int dl_log_resume(dl_log *log)
{
    CHECK_LOG(log);
    return call_optional(log, log->ops->resume);
}

int dl_log_flush(dl_log *log)
{
    CHECK_LOG(log);
    CALL(log, log->ops->flush(log));
}

static _Thread_local int flushing_for_marks;

int dl__log_flush_for_marks(dl_log *log)
{
    flushing_for_marks = 1;
    int r = dl_log_flush(log);
    flushing_for_marks = 0;
    return r;
}

int dl__log_flushing_for_marks(void)
{
    return flushing_for_marks;
}

static SLOW_PATH int mark_region(dl_log *log, uint64_t region)
{
    CHECK_REGION(log, region);
    CALL(log, log->ops->mark_region(log, region));
}

static SLOW_PATH int clear_region(dl_log *log, uint64_t region)
{
    CHECK_REGION(log, region);
    CALL(log, log->ops->clear_region(log, region));
}

static SLOW_PATH int is_clean(dl_log *log, uint64_t region)
{
    CHECK_REGION(log, region);
    CALL(log, as_bool(log->ops->is_clean(log, region)));
}

static SLOW_PATH int in_sync(dl_log *log, uint64_t region, int can_block)
{
    CHECK_REGION(log, region);
    CALL(log, as_bool(log->ops->in_sync(log, region, can_block)));
}

/* The view first (the type's own answer, without a call: it published the
 * view and withdraws it before the two could differ); a limit is never above
 * region_count, so a region it answers is in range. */
int dl_log_is_clean(dl_log *log, uint64_t region)
{
    int dirty = log ? dl_view_test(&log->view.clean_limit, &log->view.dirty, region) : -1;
    return dirty >= 0 ? !dirty : is_clean(log, region);
}

int dl_log_in_sync(dl_log *log, uint64_t region, int can_block)
{
    int out = log ? dl_view_test(&log->view.sync_limit, &log->view.out_of_sync, region) : -1;
    return out >= 0 ? !out : in_sync(log, region, can_block);
}

/* Devirtualised: a log that gave its flat dirty set (dl__log_set_fast_dirty)
 * gets the type's op inlined here, in a leaf function (the checks and the
 * lock live in the tail-called general path). */
int dl_log_mark_region(dl_log *log, uint64_t region)
{
    if (log && region < log->region_count && log->fast_dirty.words) {
        dl__flat_set(&log->fast_dirty, region);
        return 0;
    }
    return mark_region(log, region);
}

int dl_log_clear_region(dl_log *log, uint64_t region)
{
    if (log && region < log->region_count && log->fast_dirty.words) {
        dl__flat_clear(&log->fast_dirty, region);
        return 0;
    }
    return clear_region(log, region);
}

static int resync_work(dl_log *log, uint64_t *region)
{
    uint64_t r = 0;
    int found = log->ops->get_resync_work(log, &r);
    if (found > 0) {
        if (r >= log->region_count) {
            dl__set_error("log type %s handed out region %" PRIu64 " beyond the end",
                          log->ops->name, r);
            return -EIO;
        }
        *region = r;
        return 1;
    }
    return found;
}

int dl_log_get_resync_work(dl_log *log, uint64_t *region)
{
    CHECK_LOG(log);
    if (!region)
        return -EINVAL;
    CALL(log, resync_work(log, region));
}

int dl_log_set_region_sync(dl_log *log, uint64_t region, int in_sync)
{
    CHECK_REGION(log, region);
    CALL(log, log->ops->set_region_sync(log, region, in_sync != 0));
}

int dl_log_get_sync_count(dl_log *log, uint64_t *count)
{
    CHECK_LOG(log);
    if (!count)
        return -EINVAL;
    CALL(log, log->ops->get_sync_count(log, count));
}

static int status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    int r = log->ops->status(log, type, buf, len);
    if (r >= 0 && (size_t)r >= len)
        r = -ENOSPC; /* a type that reported truncation as a length */
    if (r < 0)
        buf[0] = '\0';
    return r;
}

int dl_log_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    if (!log) { /* before buf: a NULL log is not a short buffer */
        if (buf && len)
            buf[0] = '\0';
        return -EINVAL;
    }
    if (!buf || len == 0)
        return -ENOSPC;
    if (type != DL_STATUS_INFO && type != DL_STATUS_TABLE) {
        buf[0] = '\0';
        return -EINVAL;
    }
    CALL(log, status(log, type, buf, len));
}

int dl_log_is_remote_recovering(dl_log *log, uint64_t region)
{
    CHECK_REGION(log, region);
    if (!log->ops->is_remote_recovering)
        return 0;
    CALL(log, as_bool(log->ops->is_remote_recovering(log, region)));
}

/* ---- the inline read path's view ------------------------------------------
 *
 * Why a reader never sees a torn or freed view (the contract is in
 * dirtylog.h):
 * - the view is the first member of struct dl_log, so it lives exactly as
 *   long as the log; every field a reader loads is naturally aligned and
 *   loaded whole (the limits atomically);
 * - a set's words pointer is stored once, in the ctr, before its limit (a
 *   release store, paired with the reader's acquire load of the limit), and
 *   never changes afterwards: a reader that sees a limit > 0 sees the
 *   pointer;
 * - the pointer is the flat array of a flat-mode bitmap, which stays at that
 *   address until dl__bitmap_destroy (fill and write_words overwrite it in
 *   place), and the type destroys its bitmaps only in its dtr, which runs in
 *   dl_log_destroy(): after that the log itself is gone, and no call of any
 *   kind is allowed on it;
 * - a limit goes from 0 to region_count once (publish) and, perhaps, back to
 *   0 for good (withdraw): any value a reader sees either answers from valid
 *   words or sends it to the call. */
static void store_limit(dl_view_word *limit, uint64_t value)
{
    __atomic_store_n(limit, value, __ATOMIC_SEQ_CST);
}

void dl__log_publish_view(dl_log *log, const _Atomic uint64_t *dirty,
                          const _Atomic uint64_t *out_of_sync, uint64_t limit)
{
    /* (the library's words are _Atomic uint64_t; a reader loads them with
     * __atomic_load_n on the same addresses) */
    if (dirty) {
        log->view.dirty = (const dl_view_word *)(const void *)dirty;
        store_limit(&log->view.clean_limit, limit);
    }
    if (out_of_sync) {
        log->view.out_of_sync = (const dl_view_word *)(const void *)out_of_sync;
        store_limit(&log->view.sync_limit, limit);
    }
}

void dl__log_withdraw_view(dl_log *log)
{
    store_limit(&log->view.clean_limit, 0);
    store_limit(&log->view.sync_limit, 0);
}

/* ---- batch calls ----------------------------------------------------------- */

static int range_error(dl_log *log, uint64_t first, uint64_t count)
{
    dl__set_error("regions [%" PRIu64 ", +%" PRIu64 ") are out of range (region count %" PRIu64
                  ")", first, count, log->region_count);
    return -ERANGE;
}

/* The handle, then the whole range (no wrap-around). */
#define CHECK_RANGE(log, first, count)                                            \
    do {                                                                          \
        CHECK_LOG(log);                                                           \
        if (DL_UNLIKELY((first) > (log)->region_count ||                          \
                        (count) > (log)->region_count - (first)))                 \
            return range_error(log, first, count);                                \
    } while (0)

/* One region through the type's op, as the single-region wrappers do. */
static int is_clean_one(dl_log *log, uint64_t r) { CALL(log, as_bool(log->ops->is_clean(log, r))); }
static int mark_one(dl_log *log, uint64_t r) { CALL(log, log->ops->mark_region(log, r)); }
static int clear_one(dl_log *log, uint64_t r) { CALL(log, log->ops->clear_region(log, r)); }

int dl_log_is_clean_range(dl_log *log, uint64_t first, uint64_t count, uint64_t *first_dirty)
{
    CHECK_RANGE(log, first, count);
    if (log->range_ops)
        return log->range_ops->is_clean_range(log, first, count, first_dirty);
    for (uint64_t r = first; r < first + count; r++) {
        int c = is_clean_one(log, r);
        if (c <= 0) {
            if (c == 0 && first_dirty)
                *first_dirty = r;
            return c;
        }
    }
    return 1;
}

/* The generic loop: stop at the first failure (see dirtylog.h: what was
 * done before it stays done). */
static int each_region(dl_log *log, uint64_t first, uint64_t count,
                       int (*one)(dl_log *, uint64_t))
{
    for (uint64_t r = first; r < first + count; r++) {
        int e = one(log, r);
        if (e < 0)
            return e;
    }
    return 0;
}

int dl_log_mark_range(dl_log *log, uint64_t first, uint64_t count)
{
    CHECK_RANGE(log, first, count);
    if (log->range_ops)
        return log->range_ops->mark_range(log, first, count);
    return each_region(log, first, count, mark_one);
}

int dl_log_clear_range(dl_log *log, uint64_t first, uint64_t count)
{
    CHECK_RANGE(log, first, count);
    if (log->range_ops)
        return log->range_ops->clear_range(log, first, count);
    return each_region(log, first, count, clear_one);
}
