/* Device-mapper table syntax shared by every type: "<type> <argc> <args...>",
 * region sizes and the trailing sync flags. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_internal.h"

int dl_parse_region_size(dl_log *log, const char *arg, uint64_t target_sectors,
                         uint32_t *region_size)
{
    (void)log; /* messages belong to the calling thread, not the log */
    uint64_t v;
    int r = dl__parse_u64(arg, &v);
    if (r == -ERANGE || (r == 0 && v > 0x80000000u)) {
        dl__set_error("region_size %s is too large (the largest is 2147483648 sectors)", arg);
        return -EINVAL;
    }
    if (r < 0) {
        dl__set_error("region_size '%s' is not an unsigned decimal number", arg);
        return -EINVAL;
    }
    if (v < 2) {
        dl__set_error("region_size %" PRIu64 " is too small (at least 2 sectors)", v);
        return -EINVAL;
    }
    if (v & (v - 1)) {
        dl__set_error("region_size %" PRIu64 " is not a power of 2", v);
        return -EINVAL;
    }
    if (v > target_sectors) {
        dl__set_error("region_size %" PRIu64 " is larger than the target (%" PRIu64 " sectors)",
                      v, target_sectors);
        return -EINVAL;
    }
    *region_size = (uint32_t)v;
    return 0;
}

int dl_parse_flags(dl_log *log, unsigned argc, char **argv, enum dl_sync_mode *sync_mode, int *block_on_error,
                   char **rest, unsigned *nrest)
{
    int mode = DL_SYNC_DEFAULT, boe = 0;
    unsigned n = 0;
    if (rest && !nrest)
        return -EINVAL;
    for (unsigned i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "sync") == 0 || strcmp(a, "nosync") == 0) {
            if (mode != DL_SYNC_DEFAULT) {
                dl_log_errorf(log, "'%s' conflicts with an earlier sync/nosync", a);
                return -EINVAL;
            }
            mode = a[0] == 's' ? DL_SYNC_FORCE : DL_SYNC_NONE;
        } else if (strcmp(a, "block_on_error") == 0) {
            if (boe) {
                dl_log_errorf(log, "'%s' given twice", a);
                return -EINVAL;
            }
            boe = 1;
        } else if (rest) {
            rest[n++] = argv[i];
        } else {
            dl_log_errorf(log, "unknown argument '%s' (expected sync, nosync or block_on_error)", a);
            return -EINVAL;
        }
    }
    *sync_mode = mode;
    *block_on_error = boe;
    if (nrest)
        *nrest = n;
    return 0;
}

int dl__split_words(char *s, char **words, unsigned max, unsigned *n)
{
    unsigned k = 0;
    for (char *p = s;;) {
        while (isspace((unsigned char)*p))
            *p++ = '\0';
        if (!*p)
            break;
        if (k == max)
            return -E2BIG;
        words[k++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
    }
    *n = k;
    return 0;
}

/* Split a table line on white space into a fresh buffer. */
int dl_log_create_table(const char *table, uint64_t target_sectors, dl_log **out)
{
    dl__clear_error();
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!table) {
        dl__set_error("no table line given");
        return -EINVAL;
    }
    char *copy = strdup(table);
    if (!copy)
        return -ENOMEM;
    char *words[DL_MAX_ARGS + 2];
    unsigned n = 0;
    int r = dl__split_words(copy, words, DL_MAX_ARGS + 2, &n);
    if (r < 0) {
        dl__set_error("table line has more than %d arguments", DL_MAX_ARGS);
        goto out;
    }
    if (n < 2) {
        dl__set_error(n ? "table line '%s' has no argument count" : "table line '%s' is empty",
                      table);
        r = -EINVAL;
        goto out;
    }
    uint64_t argc;
    if (dl__parse_u64(words[1], &argc) < 0) {
        dl__set_error("argument count '%s' is not an unsigned decimal number", words[1]);
        r = -EINVAL;
        goto out;
    }
    if (argc != n - 2) {
        unsigned follow = n - 2;
        char what[32] = "none follows"; /* the words after the count, in English */
        if (follow)
            snprintf(what, sizeof what, "%u follow%s", follow, follow == 1 ? "s" : "");
        dl__set_error("table line says %s argument%s but %s", words[1], argc == 1 ? "" : "s",
                      what);
        r = -EINVAL;
        goto out;
    }
    r = dl_log_create(words[0], target_sectors, (unsigned)argc, (const char *const *)&words[2], out);
out:
    free(copy);
    return r;
}
