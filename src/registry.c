/* The registry of log types: a short list under a mutex. Lookups happen at
 * create time only, never on an op's path.
 *
 * An entry is never freed: dl_find_type() hands out a pointer to its type
 * copy with no way to give it back, so an unregistered entry moves to the
 * `retired` list, where that pointer stays readable and unchanged. A later
 * registration of an identical type takes its retired entry back, so a
 * register/unregister cycle of the same type does not grow memory. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log_internal.h"
#include "versioned.h"

struct dl_registry_entry {
    struct dl_registry_entry *next;
    struct dl_log_type type; /* full-size copy; absent fields are NULL */
    char name[DL_TYPE_NAME_MAX];
    unsigned users; /* live logs of this type */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static struct dl_registry_entry *registry;
static struct dl_registry_entry *retired; /* unregistered: kept, never freed */

static struct dl_registry_entry *find_locked(const char *name)
{
    for (struct dl_registry_entry *e = registry; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static int validate(const struct dl_log_type *t)
{
    if (!t) {
        dl__set_error("log type is NULL");
        return -EINVAL;
    }
    if (t->struct_size < DL_LOG_TYPE_SIZE_V1 || t->struct_size > DL__STRUCT_SIZE_MAX) {
        dl__set_error("log type struct_size %u is not a struct dl_log_type", t->struct_size);
        return -EINVAL;
    }
    if (t->api_version == 0 || t->api_version > DL_LOG_TYPE_API_VERSION) {
        dl__set_error("log type api_version %u is not supported (this library: %u)",
                      t->api_version, DL_LOG_TYPE_API_VERSION);
        return -EINVAL;
    }
    size_t n = t->name ? strnlen(t->name, DL_TYPE_NAME_MAX) : 0;
    if (n == 0 || n == DL_TYPE_NAME_MAX || strpbrk(t->name, " \t\r\n\v\f")) {
        dl__set_error("log type name is empty, too long or contains white space");
        return -EINVAL;
    }
    if (t->thread_model != DL_THREAD_MODEL_SERIALIZE_ALL &&
        t->thread_model != DL_THREAD_MODEL_PARALLEL) {
        dl__set_error("log type %s: unknown thread model %d", t->name, t->thread_model);
        return -EINVAL;
    }
    const char *missing = !t->ctr               ? "ctr"
                          : !t->dtr             ? "dtr"
                          : !t->get_region_size ? "get_region_size"
                          : !t->is_clean        ? "is_clean"
                          : !t->in_sync         ? "in_sync"
                          : !t->flush           ? "flush"
                          : !t->mark_region     ? "mark_region"
                          : !t->clear_region    ? "clear_region"
                          : !t->get_resync_work ? "get_resync_work"
                          : !t->set_region_sync ? "set_region_sync"
                          : !t->get_sync_count  ? "get_sync_count"
                          : !t->status          ? "status"
                                                : NULL;
    if (missing) {
        dl__set_error("log type %s has no %s operation", t->name, missing);
        return -EINVAL;
    }
    return 0;
}

/* Take back a retired entry byte-identical to `copy` (so a pointer handed
 * out for it reads the same again), or NULL. (A caller whose struct padding
 * differs between calls only misses the reuse.) */
static struct dl_registry_entry *unretire_locked(const struct dl_log_type *copy, const char *name)
{
    for (struct dl_registry_entry **pp = &retired; *pp; pp = &(*pp)->next) {
        struct dl_registry_entry *e = *pp;
        struct dl_log_type same; /* memcpy, not =: padding bytes compare too */
        memcpy(&same, copy, sizeof same);
        same.name = e->name;
        if (strcmp(e->name, name) == 0 && memcmp(&e->type, &same, sizeof same) == 0) {
            *pp = e->next;
            return e;
        }
    }
    return NULL;
}

static int register_locked(const struct dl_log_type *t)
{
    int r = validate(t);
    if (r < 0)
        return r;
    if (find_locked(t->name)) {
        dl__set_error("log type %s is already registered", t->name);
        return -EEXIST;
    }
    struct dl_log_type copy; /* fields the type does not know are zero */
    if (dl__import_versioned(&copy, sizeof copy, t, DL_LOG_TYPE_SIZE_V1) < 0)
        return -EINVAL; /* validate() said why */
    struct dl_registry_entry *e = unretire_locked(&copy, t->name);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return -ENOMEM;
        memcpy(&e->type, &copy, sizeof copy);
        strcpy(e->name, t->name);
        e->type.name = e->name;
    }
    e->next = registry;
    registry = e;
    return 0;
}

static void register_builtins(void)
{
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; dl__builtin_types[i]; i++)
        register_locked(dl__builtin_types[i]); /* cannot fail but for ENOMEM */
    pthread_mutex_unlock(&registry_lock);
}

int dl_register_type(const struct dl_log_type *type)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    int r = register_locked(type);
    pthread_mutex_unlock(&registry_lock);
    return r;
}

int dl_unregister_type(const char *name)
{
    if (!name)
        return -EINVAL;
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    int r = 0;
    struct dl_registry_entry **pp = &registry;
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    if (!*pp) {
        dl__set_error("log type %s is not registered", name);
        r = -ENOENT;
    } else if ((*pp)->users) {
        dl__set_error("log type %s still has %u logs", name, (*pp)->users);
        r = -EBUSY;
    } else {
        struct dl_registry_entry *e = *pp;
        *pp = e->next;
        e->next = retired; /* dl_find_type() may have handed out &e->type */
        retired = e;
    }
    pthread_mutex_unlock(&registry_lock);
    return r;
}

const struct dl_log_type *dl_find_type(const char *name)
{
    if (!name)
        return NULL;
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    struct dl_registry_entry *e = find_locked(name);
    pthread_mutex_unlock(&registry_lock);
    return e ? &e->type : NULL;
}

const struct dl_log_type *dl__registry_acquire(const char *name, struct dl_registry_entry **entry)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    struct dl_registry_entry *e = find_locked(name);
    if (e)
        e->users++;
    pthread_mutex_unlock(&registry_lock);
    *entry = e;
    return e ? &e->type : NULL;
}

void dl__registry_release(struct dl_registry_entry *entry)
{
    pthread_mutex_lock(&registry_lock);
    entry->users--;
    pthread_mutex_unlock(&registry_lock);
}
