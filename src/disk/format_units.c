/* The disk log's write units (4 KiB blocks native, 512-byte sectors dm):
 * words of "may differ" bits to and from their on-disk bytes, and writing
 * whole units (docs/disk-format.md). */
#include <errno.h>
#include <stdlib.h>

#include "bits.h"
#include "disk/disk_internal.h"

/* The bits of word `word` that belong to the first `limit` regions. */
static uint64_t valid_bits(uint64_t word, uint64_t limit)
{
    uint64_t base = word * 64;
    return base >= limit ? 0 : dl__low_bits(limit - base);
}

/* Words of "may differ" bits -> on-disk bytes of one or more units, for a
 * log of `limit` regions: bits at or past it are written 0 in both formats
 * (dm: 1 = clean). */
void dl__disk_encode_words(const struct disk_log *lc, uint64_t limit, uint64_t first_word,
                         size_t nwords, const uint64_t *w, uint8_t *out)
{
    for (size_t i = 0; i < nwords; i++) {
        uint64_t valid = valid_bits(first_word + i, limit);
        uint64_t v = lc->invert ? ~w[i] & valid : w[i] & valid;
        for (int b = 0; b < 8; b++)
            out[i * 8 + b] = (uint8_t)(v >> (8 * b));
    }
}

/* On-disk bytes -> words of "may differ" bits, keeping only regions below
 * `limit` (the stored region count). */
void dl__disk_decode_words(const struct disk_log *lc, uint64_t first_word, size_t nwords,
                         const uint8_t *in, uint64_t limit, uint64_t *w)
{
    for (size_t i = 0; i < nwords; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = (v << 8) | in[i * 8 + b];
        if (lc->invert)
            v = ~v;
        w[i] = v & valid_bits(first_word + i, limit);
    }
}

/* Write a fill (every region "may differ" or none) to the first `nunits`
 * units of the bitmap of a log of `limit` regions. */
int dl__disk_write_fill(struct disk_log *lc, int value, uint64_t nunits, uint64_t limit)
{
    uint64_t chunk = lc->invert ? CHUNK_UNITS_DM : CHUNK_UNITS_NATIVE;
    size_t wpu = words_per_unit(lc);
    if (chunk > nunits)
        chunk = nunits ? nunits : 1;
    uint64_t *w = malloc(chunk * wpu * 8);
    uint8_t *buf = malloc(chunk * lc->unit_bytes);
    int r = w && buf ? 0 : -ENOMEM;
    for (uint64_t u = 0; r == 0 && u < nunits; u += chunk) {
        uint64_t n = nunits - u < chunk ? nunits - u : chunk;
        for (uint64_t i = 0; i < n * wpu; i++)
            w[i] = value ? ~0ull : 0;
        dl__disk_encode_words(lc, limit, u * wpu, n * wpu, w, buf);
        r = dl__disk_write_full(lc->io, buf, n * lc->unit_bytes, unit_offset(lc, u));
    }
    free(w);
    free(buf);
    return r;
}

/* Write units [first, last) from the ondisk bitmap, as a log of `limit`
 * regions holds them, a chunk of units per write. */
int dl__disk_write_units(struct disk_log *lc, uint64_t first, uint64_t last, uint64_t limit)
{
    uint64_t chunk = lc->invert ? CHUNK_UNITS_DM : CHUNK_UNITS_NATIVE;
    size_t wpu = words_per_unit(lc);
    if (chunk > last - first)
        chunk = last > first ? last - first : 1;
    uint64_t *w = malloc(chunk * wpu * 8);
    uint8_t *buf = malloc(chunk * lc->unit_bytes);
    int r = w && buf ? 0 : -ENOMEM;
    for (uint64_t u = first; r == 0 && u < last; u += chunk) {
        uint64_t n = last - u < chunk ? last - u : chunk;
        dl__bitmap_read_words(lc->ondisk, u * wpu, n * wpu, w);
        dl__disk_encode_words(lc, limit, u * wpu, n * wpu, w, buf);
        r = dl__disk_write_full(lc->io, buf, n * lc->unit_bytes, unit_offset(lc, u));
    }
    free(w);
    free(buf);
    return r;
}
