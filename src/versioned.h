/* The one rule for the API's versioned structs (struct dl_log_type, dl_io,
 * dl_rh_options, dl_rh_stats): each begins with uint32_t struct_size, the
 * size the caller was compiled with. The library accepts any size from the
 * struct's first published version (its v1 size) up to a sanity bound, copies
 * what the caller has into a full-size struct of its own and zeroes the rest
 * (fields the caller does not know about are absent: 0/NULL). Structs the
 * library fills for the caller are written up to the caller's size only. */
#ifndef DL_VERSIONED_H
#define DL_VERSIONED_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DL__STRUCT_SIZE_MAX (1u << 16) /* larger is not a struct_size at all */

/* The caller's struct_size (read without assuming the struct's type). */
static inline uint32_t dl__struct_size(const void *s)
{
    uint32_t n;
    memcpy(&n, s, sizeof n);
    return n;
}

/* Copy the caller's struct `src` into the library's full-size `dst`:
 * 0, or -EINVAL if src's struct_size is below v1_size or absurd (dst is then
 * untouched). dst->struct_size becomes dst_size. */
static inline int dl__import_versioned(void *dst, size_t dst_size, const void *src,
                                       size_t v1_size)
{
    uint32_t n = dl__struct_size(src);
    if (n < v1_size || n > DL__STRUCT_SIZE_MAX)
        return -EINVAL;
    memset(dst, 0, dst_size);
    memcpy(dst, src, n < dst_size ? n : dst_size);
    uint32_t full = (uint32_t)dst_size;
    memcpy(dst, &full, sizeof full);
    return 0;
}

/* Fill the caller's struct `dst` (its own struct_size says how much it has
 * room for) from the library's full-size `src`: 0, or -EINVAL as above. The
 * caller's struct_size is left as the caller set it. */
static inline int dl__export_versioned(void *dst, const void *src, size_t src_size,
                                       size_t v1_size)
{
    uint32_t n = dl__struct_size(dst);
    if (n < v1_size || n > DL__STRUCT_SIZE_MAX)
        return -EINVAL;
    size_t k = n < src_size ? n : src_size;
    memcpy((char *)dst + sizeof n, (const char *)src + sizeof n, k - sizeof n);
    return 0;
}

#endif
