/* Compact containers (the format is in container.h). Pure functions of an
 * immutable byte string: nothing here synchronises, because a container is
 * fully written before it is published and never changes afterwards. */
#include "bitmap/container.h"
#include "bits.h"
#include "le_bytes.h"

#include <stdlib.h>
#include <string.h>

struct cont {
    uint32_t n; /* values (a RUN counts each pair twice) */
    uint8_t d[];
};

static inline const struct cont *cont_of(const void *p)
{
    return (const struct cont *)((uintptr_t)p & ~(uintptr_t)3);
}

static inline unsigned kind_of(const void *p)
{
    return (unsigned)((uintptr_t)p & 3u);
}

/* ---- packed values ------------------------------------------------------ */

/* Bytes after the last value's last byte, zeroed: value i is then always
 * one 8-byte load at its first byte, whatever i (7 more bytes cost nothing
 * to the smallest containers, which malloc rounds up to 24 usable bytes
 * anyway, and under 1 % to the largest). */
#define PAD 7

/* The 8 bytes at p, little-endian: one load where the compiler says the
 * byte order (gcc does not merge get_le64's byte loop into a load). */
static inline uint64_t load_le64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                      \
    defined(__ORDER_BIG_ENDIAN__)
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#elif __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    v = get_le64(p);
#endif
    return v;
#else
    return get_le64(p);
#endif
}

/* Value i (bit i*w of the data, LSB first): (bit & 7) + w <= 64. */
static inline uint64_t value_at(const struct cont *c, uint64_t i, unsigned w)
{
    uint64_t bit = i * w;
    return (load_le64(c->d + (bit >> 3)) >> (bit & 7)) & dl__low_bits(w);
}

/* The first index i in [0, n) (stepping by `step` from `first`: a RUN
 * searches its `last` values) whose value is >= x; n if none. */
static uint64_t lower_bound(const struct cont *c, unsigned w, uint64_t first, uint64_t step,
                            uint64_t x)
{
    uint64_t lo = 0, hi = (c->n - first + step - 1) / step; /* in steps */
    if (x == 0)
        return 0; /* every value is >= 0 (a search from a span's start) */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (value_at(c, first + mid * step, w) < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first run of a RUN container whose last offset is >= x: its index
 * (in pairs), nruns if none. */
static inline uint64_t run_at_or_after(const struct cont *c, unsigned w, uint64_t x)
{
    return lower_bound(c, w, 1, 2, x);
}

/* ---- queries -------------------------------------------------------------- */

bool dl__cont_test(const void *p, unsigned w, uint64_t off)
{
    const struct cont *c = cont_of(p);
    if (kind_of(p) == CONT_ARRAY) {
        uint64_t i = lower_bound(c, w, 0, 1, off);
        return i < c->n && value_at(c, i, w) == off;
    }
    uint64_t r = run_at_or_after(c, w, off);
    return r < c->n / 2 && value_at(c, 2 * r, w) <= off;
}

bool dl__cont_find_set(const void *p, unsigned w, uint64_t from, uint64_t *found)
{
    const struct cont *c = cont_of(p);
    if (kind_of(p) == CONT_ARRAY) {
        uint64_t i = lower_bound(c, w, 0, 1, from);
        if (i == c->n)
            return false;
        *found = value_at(c, i, w);
        return true;
    }
    uint64_t r = run_at_or_after(c, w, from);
    if (r == c->n / 2)
        return false;
    uint64_t first = value_at(c, 2 * r, w);
    *found = first > from ? first : from;
    return true;
}

bool dl__cont_find_clear(const void *p, unsigned w, uint64_t from, uint64_t span,
                         uint64_t *found)
{
    const struct cont *c = cont_of(p);
    uint64_t x = from;
    if (kind_of(p) == CONT_ARRAY) {
        for (uint64_t i = lower_bound(c, w, 0, 1, from); i < c->n && value_at(c, i, w) == x; i++)
            x++;
    } else {
        uint64_t r = run_at_or_after(c, w, from);
        /* Runs are maximal: the offset after one is clear. */
        if (r < c->n / 2 && value_at(c, 2 * r, w) <= from)
            x = value_at(c, 2 * r + 1, w) + 1;
    }
    if (x >= span)
        return false;
    *found = x;
    return true;
}

uint64_t dl__cont_count(const void *p, unsigned w)
{
    const struct cont *c = cont_of(p);
    if (kind_of(p) == CONT_ARRAY)
        return c->n;
    uint64_t total = 0;
    for (uint64_t r = 0; r < c->n / 2; r++)
        total += value_at(c, 2 * r + 1, w) - value_at(c, 2 * r, w) + 1;
    return total;
}

/* The maximal runs [first, end) of a container clipped to [lo, hi),
 * ascending (an ARRAY's consecutive values merge into one run). */
struct run_cursor {
    const struct cont *c;
    unsigned w;
    uint64_t i, lo, hi;
    uint64_t first, end; /* the pending run, when `pending` */
    bool array, pending, done;
};

static void runs_begin(struct run_cursor *rc, const void *p, unsigned w, uint64_t lo,
                       uint64_t hi)
{
    rc->c = cont_of(p);
    rc->array = kind_of(p) == CONT_ARRAY;
    rc->i = rc->array ? lower_bound(rc->c, w, 0, 1, lo) : 2 * run_at_or_after(rc->c, w, lo);
    rc->lo = lo;
    rc->hi = hi;
    rc->pending = false;
    rc->done = false;
    rc->w = w;
}

/* The next stored value or pair, clipped; false at the end. */
static bool raw_next(struct run_cursor *rc, uint64_t *first, uint64_t *end)
{
    if (rc->done || rc->i >= rc->c->n)
        return false;
    uint64_t f = value_at(rc->c, rc->i, rc->w);
    uint64_t e = (rc->array ? f : value_at(rc->c, rc->i + 1, rc->w)) + 1;
    rc->i += rc->array ? 1 : 2;
    f = f < rc->lo ? rc->lo : f;
    if (f >= rc->hi) {
        rc->done = true;
        return false;
    }
    *first = f;
    *end = e > rc->hi ? rc->hi : e;
    return true;
}

static bool runs_next(struct run_cursor *rc, uint64_t *first, uint64_t *end)
{
    if (!rc->pending && !raw_next(rc, &rc->first, &rc->end))
        return false;
    uint64_t f, e;
    rc->pending = false;
    while (raw_next(rc, &f, &e)) {
        if (f != rc->end) { /* a gap: hand out the pending run, keep this one */
            *first = rc->first;
            *end = rc->end;
            rc->first = f;
            rc->end = e;
            rc->pending = true;
            return true;
        }
        rc->end = e;
    }
    *first = rc->first;
    *end = rc->end;
    return true;
}

void dl__cont_or_words(const void *p, unsigned w, uint64_t first_word, size_t nwords,
                       uint64_t *words)
{
    uint64_t lo = 64 * first_word, hi = lo + 64 * (uint64_t)nwords, first, end;
    struct run_cursor rc;
    runs_begin(&rc, p, w, lo, hi);
    while (runs_next(&rc, &first, &end))
        for (uint64_t b = first; b < end;) {
            uint64_t k = (b - lo) / 64, in = b % 64;
            uint64_t len = end - b < 64 - in ? end - b : 64 - in;
            words[k] |= dl__low_bits(len) << in;
            b += len;
        }
}

size_t dl__cont_runs(const void *p, unsigned w, uint64_t lo, uint64_t hi, struct run *runs)
{
    size_t n = 0;
    uint64_t first, end;
    struct run_cursor rc;
    runs_begin(&rc, p, w, lo, hi);
    while (runs_next(&rc, &first, &end)) {
        runs[n].first = first - lo;
        runs[n].end = end - lo;
        n++;
    }
    return n;
}

size_t dl__cont_max_runs(const void *p)
{
    const struct cont *c = cont_of(p);
    return kind_of(p) == CONT_ARRAY ? c->n : c->n / 2;
}

/* Is i the first index whose value (step 1) or run's last (step 2) is
 * >= x? */
static bool is_lower_bound(const struct cont *c, unsigned w, uint64_t first, uint64_t step,
                           uint64_t i, uint64_t x)
{
    uint64_t steps = (c->n - first + step - 1) / step; /* as in lower_bound */
    if (i > steps || (i < steps && value_at(c, first + i * step, w) < x))
        return false;
    return i == 0 || value_at(c, first + (i - 1) * step, w) < x;
}

size_t dl__cont_batch(const void *p, unsigned w, uint64_t base, uint64_t from, uint64_t *index,
                      uint64_t *out, size_t n, size_t max, uint64_t *next)
{
    const struct cont *c = cont_of(p);
    bool array = kind_of(p) == CONT_ARRAY;
    uint64_t start = from ? *index : 0; /* from 0: every value */
    if (from && !is_lower_bound(c, w, array ? 0 : 1, array ? 1 : 2, start, from))
        start = array ? lower_bound(c, w, 0, 1, from) : run_at_or_after(c, w, from);
    if (array) {
        uint64_t i = start, stop = c->n - i < max - n ? c->n : i + (max - n);
        /* Ask for every line at once: a container is a fresh stream for
         * the hardware prefetcher, whose first misses would come one by one. */
        for (uint64_t at = (i * w / 8 + 64) & ~(uint64_t)63; at < (stop * w + 7) / 8; at += 64)
            dl__cont_prefetch(c->d + at); /* (the first line is being read already) */
        for (; i < stop; i++)
            out[n++] = base + value_at(c, i, w);
        *index = i;
    } else {
        uint64_t r = start;
        for (; r < c->n / 2 && n < max; r++) {
            uint64_t first = value_at(c, 2 * r, w), end = value_at(c, 2 * r + 1, w) + 1;
            uint64_t b = first > from ? first : from;
            if (end - b > max - n) {
                end = b + (max - n);
                r--; /* full inside this run: resume in it */
            }
            for (uint64_t x = base + b, e = base + end; x < e; x++)
                out[n++] = x;
        }
        *index = r;
    }
    /* Full: resume past the last one emitted (it is >= base + from). */
    *next = n == max ? out[n - 1] - base + 1 : (uint64_t)1 << w;
    return n;
}

/* ---- building --------------------------------------------------------- */

static inline size_t packed_bytes(uint64_t nvalues, unsigned w)
{
    return sizeof(struct cont) + (size_t)((nvalues * w + 7) / 8) + PAD;
}

size_t dl__cont_size_for(size_t nruns, uint64_t card, unsigned w)
{
    uint64_t nvalues = card <= 2 * (uint64_t)nruns ? card : 2 * (uint64_t)nruns;
    return packed_bytes(nvalues, w);
}

size_t dl__cont_bytes(const void *p, unsigned w)
{
    return packed_bytes(cont_of(p)->n, w);
}

struct packer {
    uint8_t *p;
    uint64_t buf;
    unsigned have, w;
};

static inline void pack(struct packer *k, uint64_t v)
{
    k->buf |= v << k->have; /* have < 8 and v < 2^57 */
    k->have += k->w;
    while (k->have >= 8) {
        *k->p++ = (uint8_t)k->buf;
        k->buf >>= 8;
        k->have -= 8;
    }
}

void *dl__cont_build(const struct run *runs, size_t nruns, uint64_t card, unsigned w,
                     size_t *bytes)
{
    bool array = card <= 2 * (uint64_t)nruns;
    uint64_t nvalues = array ? card : 2 * (uint64_t)nruns;
    size_t size = packed_bytes(nvalues, w);
    struct cont *c = malloc(size); /* aligned to 4 at least: room for the tag */
    if (!c)
        return NULL;
    c->n = (uint32_t)nvalues;
    memset(c->d, 0, size - sizeof *c); /* the padding, and the last byte's spare bits */
    struct packer k = {c->d, 0, 0, w};
    for (size_t r = 0; r < nruns; r++) {
        if (!array) {
            pack(&k, runs[r].first);
            pack(&k, runs[r].end - 1);
            continue;
        }
        for (uint64_t b = runs[r].first; b < runs[r].end; b++)
            pack(&k, b);
    }
    if (k.have)
        *k.p = (uint8_t)k.buf;
    *bytes = size;
    return (void *)((uintptr_t)c | (array ? CONT_ARRAY : CONT_RUN));
}

void dl__cont_free(void *p)
{
    free((void *)cont_of(p));
}
