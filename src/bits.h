/* Small bit and branch helpers shared by the library's hot paths. */
#ifndef DL_BITS_H
#define DL_BITS_H

#include <stdint.h>

/* A mask of the n low bits, n from 0 to 64 (a plain shift by 64 would be
 * undefined). */
static inline uint64_t dl__low_bits(uint64_t n)
{
    return n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

/* A branch the hot path almost never takes. */
#if defined(__GNUC__) || defined(__clang__)
#define DL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define DL_UNLIKELY(x) (x)
#endif

#endif
