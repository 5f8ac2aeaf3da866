/* The registry of log types: a short list under a mutex. Lookups happen at
 * create time only, never on an op's path. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log_internal.h"

struct dl_registry_entry {
    struct dl_registry_entry *next;
    struct dl_log_type type; /* full-size copy; absent fields are NULL */
    char name[DL_TYPE_NAME_MAX];
    unsigned users; /* live logs of this type */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static struct dl_registry_entry *registry;

static struct dl_registry_entry *find_locked(const char *name)
{
    for (struct dl_registry_entry *e = registry; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* A field is present when the type's struct_size covers it. */
#define HAS_FIELD(t, f) ((t)->struct_size >= offsetof(struct dl_log_type, f) + sizeof((t)->f))

static int validate(const struct dl_log_type *t)
{
    if (!t) {
        dl__set_error("log type is NULL");
        return -EINVAL;
    }
    if (!HAS_FIELD(t, status) || t->struct_size > 1u << 16) {
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

static int register_locked(const struct dl_log_type *t)
{
    int r = validate(t);
    if (r < 0)
        return r;
    if (find_locked(t->name)) {
        dl__set_error("log type %s is already registered", t->name);
        return -EEXIST;
    }
    struct dl_registry_entry *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    size_t n = t->struct_size < sizeof e->type ? t->struct_size : sizeof e->type;
    memcpy(&e->type, t, n); /* fields the type does not know stay zero */
    e->type.struct_size = sizeof e->type;
    strcpy(e->name, t->name);
    e->type.name = e->name;
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
        free(e);
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
