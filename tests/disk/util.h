/* Helpers shared by the disk tests. */
#ifndef DL_TEST_DISK_UTIL_H
#define DL_TEST_DISK_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirtylog.h"

/* Read a whole file (NULL if missing); *len its size. */
static inline uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL; /* missing, or a directory */
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)(n > 0 ? n : 0), f);
    fclose(f);
    return b;
}

static inline int spit(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len ? 0 : -1;
}

/* FNV-1a 64 of a file, 0 if missing. */
static inline uint64_t file_hash(const char *path)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (!b)
        return 0;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    free(b);
    return h ^ n;
}

/* Create from a table line; prints the error and returns NULL on failure. */
static inline dl_log *open_table(const char *table, uint64_t target)
{
    dl_log *log = NULL;
    int r = dl_log_create_table(table, target, &log);
    if (r != 0) {
        fprintf(stderr, "create '%s' failed: %s: %s\n", table, dl_strerror(r), dl_last_error());
        return NULL;
    }
    if (dl_log_resume(log) != 0) {
        fprintf(stderr, "resume '%s' failed: %s\n", table, dl_last_error());
        dl_log_destroy(log);
        return NULL;
    }
    return log;
}

#endif
