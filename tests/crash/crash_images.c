/* The crash-image generator of crash_images.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crash_images.h"

unsigned crash_rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

unsigned crash_seed(const char *what)
{
    const char *e = getenv("DL_CRASH_SEED");
    unsigned seed = DL_CRASH_SEED_DEFAULT;
    if (e && strcmp(e, "random") == 0) {
        seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    } else if (e && *e) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(e, &end, 10);
        if (errno || *end || e[0] == '-' || v > UINT_MAX) {
            fprintf(stderr, "%s: DL_CRASH_SEED=%s: expected a number or \"random\"\n", what, e);
            exit(2);
        }
        seed = (unsigned)v;
    }
    printf("%s seed %u (DL_CRASH_SEED=%u repeats it)\n", what, seed, seed);
    return seed;
}

uint64_t crash_states_target(uint64_t plain_default, uint64_t sanitizer_default)
{
    const char *e = getenv("DL_CRASH_STATES");
    long long v = e ? atoll(e) : 0;
    if (v > 0)
        return (uint64_t)v;
    const char *san = getenv("DL_SANITIZER");
    return san && san[0] == '1' ? sanitizer_default : plain_default;
}

/* Write record `w` into `img` (growing *len); if `torn`, each 512-byte
 * sector lands or not as `sector_seed` says. */
static void apply(uint8_t *img, uint64_t *len, const struct memio_rec *w, unsigned sector_seed,
                  int torn)
{
    unsigned s = sector_seed;
    for (size_t o = 0; o < w->len; o += 512) {
        size_t n = w->len - o < 512 ? w->len - o : 512;
        if (torn && crash_rnd(&s) % 2)
            continue;
        memcpy(img + w->off + o, w->data + o, n);
        if (w->off + o + n > *len)
            *len = w->off + o + n;
    }
}

/* Records [0, result) are durable at crash point c: through the last sync
 * before c. */
static size_t durable_prefix(const struct memio_rec *recs, size_t c)
{
    for (size_t i = c; i-- > 0;)
        if (recs[i].op == MEMIO_SYNC)
            return i + 1;
    return 0;
}

uint64_t crash_images(const struct memio_rec *recs, size_t nrecs, const uint8_t *base,
                      uint64_t base_len, uint64_t target, unsigned seed, crash_image_fn fn,
                      void *arg)
{
    uint64_t per_point = target / (nrecs + 1) + 1;
    uint64_t max_len = base_len; /* no image is longer than the base or a write's end */
    for (size_t i = 0; i < nrecs; i++)
        if (recs[i].op == MEMIO_WRITE && recs[i].off + recs[i].len > max_len)
            max_len = recs[i].off + recs[i].len;
    uint8_t *durable = calloc(1, max_len + 1), *img = calloc(1, max_len + 1);
    if (!durable || !img) {
        fprintf(stderr, "crash_images: out of memory for %llu-byte images\n",
                (unsigned long long)max_len);
        free(durable);
        free(img);
        return 0;
    }
    if (base)
        memcpy(durable, base, base_len);
    uint64_t durable_len = base_len, made = 0;
    size_t applied = 0; /* records [0, applied) are in `durable` */
    unsigned rs = seed ^ 0x9E3779B9u;
    for (size_t c = 0; c <= nrecs && made < target; c++) {
        size_t upto = durable_prefix(recs, c);
        for (; applied < upto; applied++)
            if (recs[applied].op == MEMIO_WRITE)
                apply(durable, &durable_len, &recs[applied], 0, 0);
        for (uint64_t k = 0; k < per_point && made < target; k++) {
            /* The whole buffer: past durable_len, durable holds zeros, which
             * is what a file reads in a gap a later write leaves. */
            memcpy(img, durable, max_len);
            uint64_t len = durable_len;
            for (size_t i = upto; i < c; i++) {
                const struct memio_rec *rec = &recs[i];
                if (rec->op != MEMIO_WRITE)
                    continue;
                /* k == 0: none of the pending writes; k == 1: all, whole. */
                unsigned pick = k == 0 ? 0 : k == 1 ? 1 : crash_rnd(&rs) % 2;
                if (pick)
                    apply(img, &len, rec, crash_rnd(&rs), k > 1 && crash_rnd(&rs) % 3 == 0);
            }
            made++;
            if (fn(arg, img, len, c) != 0)
                goto out;
        }
    }
out:
    free(durable);
    free(img);
    return made;
}

void crash_intervals_init(struct crash_intervals *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
}

void crash_intervals_free(struct crash_intervals *l)
{
    free(l->iv);
    pthread_mutex_destroy(&l->lock);
}

void crash_intervals_add(struct crash_intervals *l, uint64_t region, size_t from, size_t to)
{
    pthread_mutex_lock(&l->lock);
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        struct crash_interval *iv = realloc(l->iv, cap * sizeof *iv);
        if (!iv) { /* a test machine out of memory: fail loudly */
            fprintf(stderr, "crash_intervals_add: out of memory\n");
            exit(2);
        }
        l->iv = iv;
        l->cap = cap;
    }
    l->iv[l->n++] = (struct crash_interval){region, from, to};
    pthread_mutex_unlock(&l->lock);
}

void crash_intervals_end(struct crash_intervals *l, uint64_t region, size_t to)
{
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n; i++)
        if (l->iv[i].region == region && l->iv[i].to == SIZE_MAX)
            l->iv[i].to = to;
    pthread_mutex_unlock(&l->lock);
}

int crash_intervals_check(const struct crash_intervals *l, dl_log *log, size_t c,
                          const char *label, const char *event, uint64_t *checks)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct crash_interval *v = &l->iv[i];
        if (v->from > c || v->to < c)
            continue;
        (*checks)++;
        if (dl_log_is_clean(log, v->region) != 0 || dl_log_in_sync(log, v->region, 1) != 0) {
            fprintf(stderr, "%s crash point %zu: region %llu (%s at %zu) reads clean\n", label, c,
                    (unsigned long long)v->region, event, v->from);
            return 1;
        }
    }
    return 0;
}
