/* A clustered log's replica (cluster_state.h): the region sets, changes to
 * them, and its canonical encoding (the checkpoint blob, byte layout in
 * docs/cluster.md "Wire format"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap/bitmap.h"
#include "cluster_replica.h"
#include "le_bytes.h"

int clr_init(struct cls_replica *rep, uint64_t region_count, int all_out_of_sync)
{
    memset(rep, 0, sizeof *rep);
    rep->region_count = region_count;
    dl__u64map_init(&rep->orphan);
    dl__u64map_init(&rep->dirty);
    dl__u64map_init(&rep->recovering);
    rep->nodes = calloc(CLM_MAX_MEMBERS, sizeof *rep->nodes);
    if (!rep->nodes || dl__bitmap_create(&rep->oos, region_count, all_out_of_sync) < 0) {
        free(rep->nodes);
        rep->nodes = NULL;
        return -ENOMEM;
    }
    return 0;
}

void clr_fini(struct cls_replica *rep)
{
    for (unsigned i = 0; rep->nodes && i < rep->nnodes; i++)
        dl__u64map_free(&rep->nodes[i].marks);
    free(rep->nodes);
    dl__bitmap_destroy(rep->oos);
    dl__u64map_free(&rep->orphan);
    dl__u64map_free(&rep->dirty);
    dl__u64map_free(&rep->recovering);
    memset(rep, 0, sizeof *rep);
}

struct cls_node *clr_node(const struct cls_replica *rep, uint32_t id)
{
    for (unsigned i = 0; i < rep->nnodes; i++)
        if (rep->nodes[i].id == id)
            return &rep->nodes[i];
    return NULL;
}

static struct cls_node *node_add(struct cls_replica *rep, uint32_t id)
{
    struct cls_node *n = clr_node(rep, id);
    if (n || rep->nnodes == CLM_MAX_MEMBERS)
        return n;
    n = &rep->nodes[rep->nnodes++];
    n->id = id;
    dl__u64map_init(&n->marks);
    return n;
}

/* One more (delta 1) or one fewer (-1) marker of region. */
static int count_marker(struct cls_replica *rep, uint64_t region, int delta)
{
    int added;
    if (delta > 0) {
        uint64_t *c = dl__u64map_put(&rep->dirty, region, &added);
        if (!c)
            return -ENOMEM;
        ++*c;
        return 0;
    }
    uint64_t *c = dl__u64map_get(&rep->dirty, region);
    if (c && --*c == 0)
        dl__u64map_del(&rep->dirty, region);
    return 0;
}

int clr_mark(struct cls_replica *rep, uint32_t id, uint64_t region)
{
    struct cls_node *n = node_add(rep, id);
    int added;
    if (!n || !dl__u64map_put(&n->marks, region, &added))
        return -ENOMEM;
    if (added && count_marker(rep, region, 1) < 0) {
        dl__u64map_del(&n->marks, region);
        return -ENOMEM;
    }
    return 0;
}

void clr_clear(struct cls_replica *rep, uint32_t id, uint64_t region)
{
    struct cls_node *n = clr_node(rep, id);
    if (n && dl__u64map_del(&n->marks, region))
        count_marker(rep, region, -1);
}

int clr_orphan(struct cls_replica *rep, uint64_t region)
{
    int added;
    if (!dl__u64map_put(&rep->orphan, region, &added))
        return -ENOMEM;
    if (added && count_marker(rep, region, 1) < 0) {
        dl__u64map_del(&rep->orphan, region);
        return -ENOMEM;
    }
    return dl__bitmap_set(rep->oos, region) < 0 ? -ENOMEM : 0;
}

void clr_unorphan(struct cls_replica *rep, uint64_t region)
{
    if (dl__u64map_del(&rep->orphan, region))
        count_marker(rep, region, -1);
}

/* A member left: its marks become orphans (dirty and out of sync), its
 * resync hand-outs go back. */
int clr_node_left(struct cls_replica *rep, uint32_t id, struct u64map *touched)
{
    struct cls_node *n = clr_node(rep, id);
    int r = 0;
    if (n) {
        for (size_t i = 0; r == 0 && i < n->marks.cap; i++)
            if (n->marks.used[i]) {
                int added;
                r = clr_orphan(rep, n->marks.keys[i]);
                if (r == 0 && touched && !dl__u64map_put(touched, n->marks.keys[i], &added))
                    r = -ENOMEM;
            }
        /* Each of its marks is counted by the orphan set now, once. */
        for (size_t i = 0; r == 0 && i < n->marks.cap; i++)
            if (n->marks.used[i])
                count_marker(rep, n->marks.keys[i], -1);
        if (r < 0)
            return r;
        dl__u64map_free(&n->marks);
        *n = rep->nodes[--rep->nnodes];
    }
    for (size_t i = 0; i < rep->recovering.cap; i++)
        if (rep->recovering.used[i] && rep->recovering.vals[i] == id) {
            dl__u64map_del(&rep->recovering, rep->recovering.keys[i]);
            i = (size_t)-1; /* the map moved entries: scan again */
        }
    return 0;
}

/* ---- the canonical encoding ----------------------------------------------- */

struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int err;
};

static uint8_t *wb_room(struct wbuf *w, size_t n)
{
    if (w->err)
        return NULL;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

static void wb_u32(struct wbuf *w, uint32_t v)
{
    uint8_t *p = wb_room(w, 4);
    if (p)
        put_le32(p, v);
}

static void wb_u64(struct wbuf *w, uint64_t v)
{
    uint8_t *p = wb_room(w, 8);
    if (p)
        put_le64(p, v);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_node(const void *a, const void *b)
{
    uint32_t x = (*(const struct cls_node *const *)a)->id;
    uint32_t y = (*(const struct cls_node *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* The keys of m, sorted: count then each. */
static void wb_set(struct wbuf *w, const struct u64map *m)
{
    uint64_t *k = malloc((m->len ? m->len : 1) * sizeof *k);
    if (!k) {
        w->err = -ENOMEM;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            k[n++] = m->keys[i];
    qsort(k, n, sizeof *k, cmp_u64);
    wb_u64(w, n);
    for (size_t i = 0; i < n; i++)
        wb_u64(w, k[i]);
    free(k);
}

int cls_replica_encode(const struct cls_replica *rep, unsigned flags, uint8_t **out, size_t *len)
{
    struct wbuf w = {0};
    wb_u32(&w, flags);
    wb_u32(&w, rep->nnodes);
    wb_u64(&w, rep->region_count);
    wb_u64(&w, rep->applied);
    /* Out-of-sync regions as runs [start, start + count). */
    size_t at_runs = w.len;
    wb_u64(&w, 0);
    uint64_t nruns = 0, from = 0, start, end;
    while (dl__bitmap_find_next_set(rep->oos, from, &start)) {
        if (!dl__bitmap_find_next_clear(rep->oos, start, &end))
            end = rep->region_count;
        wb_u64(&w, start);
        wb_u64(&w, end - start);
        nruns++;
        from = end;
    }
    if (!w.err)
        put_le64(w.p + at_runs, nruns);
    wb_set(&w, &rep->orphan);
    const struct cls_node *sorted[CLM_MAX_MEMBERS];
    for (unsigned i = 0; i < rep->nnodes; i++)
        sorted[i] = &rep->nodes[i];
    qsort(sorted, rep->nnodes, sizeof sorted[0], cmp_node);
    for (unsigned i = 0; i < rep->nnodes; i++) {
        wb_u32(&w, sorted[i]->id);
        wb_u32(&w, 0);
        wb_set(&w, &sorted[i]->marks);
    }
    /* Hand-outs: sorted by region (the keys), each with its node. */
    size_t at_rec = w.len;
    wb_set(&w, &rep->recovering);
    if (!w.err) { /* rewrite as (region, node, 0) triples, 16 bytes each */
        uint64_t n = get_le64(w.p + at_rec);
        uint64_t *k = malloc((n ? n : 1) * sizeof *k);
        if (!k)
            w.err = -ENOMEM;
        for (uint64_t i = 0; k && i < n; i++)
            k[i] = get_le64(w.p + at_rec + 8 + 8 * i);
        w.len = at_rec + 8;
        for (uint64_t i = 0; k && i < n; i++) {
            wb_u64(&w, k[i]);
            wb_u32(&w, (uint32_t)*dl__u64map_get(&rep->recovering, k[i]));
            wb_u32(&w, 0);
        }
        free(k);
    }
    if (w.err) {
        free(w.p);
        return w.err;
    }
    *out = w.p;
    *len = w.len;
    return 0;
}

/* ---- decoding (a member's checkpoint: trust nothing) ---------------------- */

struct rbuf {
    const uint8_t *p;
    size_t len, at;
};

static int rb_u32(struct rbuf *r, uint32_t *v)
{
    if (r->len - r->at < 4)
        return -EBADMSG;
    *v = get_le32(r->p + r->at);
    r->at += 4;
    return 0;
}

static int rb_u64(struct rbuf *r, uint64_t *v)
{
    if (r->len - r->at < 8)
        return -EBADMSG;
    *v = get_le64(r->p + r->at);
    r->at += 8;
    return 0;
}

/* A count of items of `size` bytes that must fit in what is left. */
static int rb_count(struct rbuf *r, size_t size, uint64_t *n)
{
    if (rb_u64(r, n) < 0 || *n > (r->len - r->at) / size)
        return -EBADMSG;
    return 0;
}

/* A sorted set of regions, each < region_count, added with add(). */
static int rb_regions(struct rbuf *r, uint64_t region_count, struct cls_replica *rep, uint32_t id,
                      int orphan)
{
    uint64_t n, prev = 0, v = 0;
    if (rb_count(r, 8, &n) < 0)
        return -EBADMSG;
    for (uint64_t i = 0; i < n; i++) {
        rb_u64(r, &v);
        if (v >= region_count || (i > 0 && v <= prev))
            return -EBADMSG;
        prev = v;
        int e = orphan ? clr_orphan(rep, v) : clr_mark(rep, id, v);
        if (e < 0)
            return e;
    }
    return 0;
}

/* Set bits [from, to): whole words at a time where they are aligned. */
int clr_set_range(struct bitmap *bm, uint64_t from, uint64_t to)
{
    uint64_t ones[512];
    memset(ones, 0xff, sizeof ones);
    while (from < to && (from % 64 || to - from < 64))
        if (dl__bitmap_set(bm, from++) < 0)
            return -ENOMEM;
    while (to - from >= 64) {
        uint64_t words = (to - from) / 64;
        size_t n = words > 512 ? 512 : (size_t)words;
        if (dl__bitmap_write_words(bm, from / 64, n, ones) < 0)
            return -ENOMEM;
        from += 64 * (uint64_t)n;
    }
    while (from < to)
        if (dl__bitmap_set(bm, from++) < 0)
            return -ENOMEM;
    return 0;
}

int clr_decode(const uint8_t *p, size_t len, uint64_t region_count, struct cls_replica *rep,
               unsigned *flags_out)
{
    struct rbuf r = {p, len, 0};
    uint32_t flags, nnodes;
    uint64_t rc, applied, nruns;
    if (rb_u32(&r, &flags) < 0 || (flags & ~(CLS_BLOB_FRESH | CLS_BLOB_UNKNOWN)) || rb_u32(&r, &nnodes) < 0 ||
        nnodes > CLM_MAX_MEMBERS || rb_u64(&r, &rc) < 0 || rc != region_count ||
        rb_u64(&r, &applied) < 0 || rb_count(&r, 16, &nruns) < 0)
        return -EBADMSG;
    int e = clr_init(rep, region_count, 0);
    if (e < 0)
        return e;
    *flags_out = flags;
    rep->applied = applied;
    uint64_t next = 0;
    for (uint64_t i = 0; i < nruns; i++) {
        uint64_t start = 0, count = 0;
        rb_u64(&r, &start);
        rb_u64(&r, &count);
        if (start < next || (i > 0 && start == next) || count == 0 || start >= region_count ||
            count > region_count - start) {
            e = -EBADMSG;
            goto bad;
        }
        if ((e = clr_set_range(rep->oos, start, start + count)) < 0)
            goto bad;
        next = start + count;
    }
    /* Orphans are out of sync already by the runs; clr_orphan sets it again. */
    if ((e = rb_regions(&r, region_count, rep, 0, 1)) < 0)
        goto bad;
    uint32_t prev_id = 0;
    for (uint32_t i = 0; i < nnodes; i++) {
        uint32_t id, zero;
        if (rb_u32(&r, &id) < 0 || rb_u32(&r, &zero) < 0 || id <= prev_id || zero) {
            e = -EBADMSG;
            goto bad;
        }
        prev_id = id;
        if (!node_add(rep, id)) {
            e = -ENOMEM;
            goto bad;
        }
        if ((e = rb_regions(&r, region_count, rep, id, 0)) < 0)
            goto bad;
    }
    uint64_t nrec, prev = 0;
    if (rb_count(&r, 16, &nrec) < 0) {
        e = -EBADMSG;
        goto bad;
    }
    for (uint64_t i = 0; i < nrec; i++) {
        uint64_t region = 0;
        uint32_t id = 0, zero = 0;
        int added;
        rb_u64(&r, &region);
        rb_u32(&r, &id);
        rb_u32(&r, &zero);
        if (region >= region_count || (i > 0 && region <= prev) || id == 0 || zero) {
            e = -EBADMSG;
            goto bad;
        }
        prev = region;
        uint64_t *v = dl__u64map_put(&rep->recovering, region, &added);
        if (!v) {
            e = -ENOMEM;
            goto bad;
        }
        *v = id;
    }
    if (r.at != r.len) {
        e = -EBADMSG;
        goto bad;
    }
    return 0;
bad:
    clr_fini(rep);
    return e;
}
