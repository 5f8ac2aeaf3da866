/* The deterministic state machine of a clustered log (cluster_state.h;
 * the rules are in docs/cluster.md, "Model" and "Failure rules"). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap/bitmap.h"
#include "cluster_replica.h"

/* A checkpoint being reassembled: one per side of a round. */
struct cls_blob {
    uint32_t from;
    uint32_t side[CLM_MAX_MEMBERS];
    uint32_t nside;
    uint8_t *data;
    size_t len;
    uint32_t next_chunk, nchunks;
    int done;
};

/* A message delivered during a round, applied after the round's merge. */
struct cls_queued {
    uint32_t from;
    uint8_t *msg;
    size_t len;
};

static void say(struct cls_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct cls_state *st, const char *fmt, ...)
{
    if (!st->ops.say)
        return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    st->ops.say(st->arg, buf);
}

static void give_up(struct cls_state *st, const char *why)
{
    if (!st->failed)
        say(st, "replica failed: %s; this member serves no more requests", why);
    st->failed = 1;
}

static int has(const uint32_t *ids, unsigned n, uint32_t id)
{
    for (unsigned i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- life ------------------------------------------------------------------ */

int cls_init(struct cls_state *st, uint32_t me, uint64_t region_count, int all_out_of_sync,
             int disk, size_t max_msg, const struct cls_ops *ops, void *arg)
{
    memset(st, 0, sizeof *st);
    st->me = me;
    st->disk = disk;
    st->max_msg = max_msg;
    st->ops = *ops;
    st->arg = arg;
    dl__u64map_init(&st->touched);
    st->blobs = calloc(CLM_MAX_MEMBERS, sizeof *st->blobs);
    if (!st->blobs || clr_init(&st->initial, region_count, all_out_of_sync) < 0 ||
        clr_init(&st->rep, region_count, 1) < 0) {
        cls_fini(st);
        return -ENOMEM;
    }
    return 0;
}

static void drop_round(struct cls_state *st)
{
    for (unsigned i = 0; i < st->nblobs; i++)
        free(st->blobs[i].data);
    st->nblobs = 0;
    for (size_t i = 0; i < st->nqueue; i++)
        free(st->queue[i].msg);
    st->nqueue = 0;
    st->queue_bytes = 0;
    st->in_round = 0;
}

void cls_fini(struct cls_state *st)
{
    if (st->blobs)
        drop_round(st);
    free(st->blobs);
    free(st->queue);
    if (st->rep.nodes)
        clr_fini(&st->rep);
    if (st->initial.nodes)
        clr_fini(&st->initial);
    dl__u64map_free(&st->touched);
    memset(st, 0, sizeof *st);
}

int cls_initial_dirty(struct cls_state *st, uint64_t region)
{
    return region < st->initial.region_count ? clr_orphan(&st->initial, region) : -ERANGE;
}

int cls_initial_sync(struct cls_state *st, uint64_t region, int in_sync)
{
    if (region >= st->initial.region_count)
        return -ERANGE;
    int r = in_sync ? dl__bitmap_clear(st->initial.oos, region)
                    : dl__bitmap_set(st->initial.oos, region);
    return r < 0 ? r : 0;
}

void cls_initial_unknown(struct cls_state *st)
{
    st->initial_unknown = 1;
}

uint64_t cls_next_seq(struct cls_state *st)
{
    return ++st->seq;
}

/* ---- queries ---------------------------------------------------------------- */

int cls_ready(const struct cls_state *st)
{
    return st->have_state && !st->in_round && !st->failed;
}

int cls_is_clean(const struct cls_state *st, uint64_t region)
{
    return dl__u64map_get(&st->rep.dirty, region) == NULL;
}

int cls_in_sync(const struct cls_state *st, uint64_t region)
{
    return !dl__bitmap_test(st->rep.oos, region);
}

uint64_t cls_sync_count(const struct cls_state *st)
{
    return st->rep.region_count - dl__bitmap_count(st->rep.oos);
}

uint32_t cls_recovering(const struct cls_state *st, uint64_t region)
{
    uint64_t *v = dl__u64map_get(&st->rep.recovering, region);
    return v ? (uint32_t)*v : 0;
}

uint64_t cls_dirty_count(const struct cls_state *st, uint32_t id)
{
    if (id == 0)
        return st->rep.orphan.len;
    struct cls_node *n = clr_node(&st->rep, id);
    return n ? n->marks.len : 0;
}

uint32_t cls_writer(const struct cls_state *st)
{
    return st->nview ? st->view[0] : 0;
}

const struct u64map *cls_touched(const struct cls_state *st)
{
    return &st->touched;
}

/* ---- applying messages ------------------------------------------------------ */

static int touch(struct cls_state *st, uint64_t region)
{
    int added;
    if (st->disk && !dl__u64map_put(&st->touched, region, &added))
        return -ENOMEM;
    return 0;
}

static void own_applied(struct cls_state *st, uint32_t from, const struct clm_msg *m, int found,
                        uint64_t region)
{
    if (from == st->me && st->ops.applied)
        st->ops.applied(st->arg, m->seq, st->rep.applied, found, region);
}

static int apply_flush(struct cls_state *st, uint32_t from, const struct clm_msg *m)
{
    uint32_t n = m->nmarks + m->nclears;
    for (uint32_t i = 0; i < n; i++)
        if (clm_flush_region(m, i) >= st->rep.region_count)
            return -EBADMSG;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = clm_flush_region(m, i);
        if (i < m->nmarks) {
            if (clr_mark(&st->rep, from, r) < 0)
                return -ENOMEM;
        } else {
            clr_clear(&st->rep, from, r);
        }
        if (touch(st, r) < 0)
            return -ENOMEM;
    }
    st->rep.applied++;
    own_applied(st, from, m, 0, 0);
    return 0;
}

/* Hand the lowest region that is out of sync and not being recovered to
 * `from`: the same on every member. */
static int apply_request_work(struct cls_state *st, uint32_t from, const struct clm_msg *m)
{
    uint64_t at = 0, r = 0;
    int found = 0;
    while (dl__bitmap_find_next_set(st->rep.oos, at, &r)) {
        if (!dl__u64map_get(&st->rep.recovering, r)) {
            found = 1;
            break;
        }
        at = r + 1;
    }
    if (found) {
        int added;
        uint64_t *v = dl__u64map_put(&st->rep.recovering, r, &added);
        if (!v)
            return -ENOMEM;
        *v = from;
    }
    st->rep.applied++;
    own_applied(st, from, m, found, found ? r : 0);
    return 0;
}

/* The result of a resync. A region another member is recovering is not
 * declared in sync by this one (it may only make it out of sync). */
static int apply_set_sync(struct cls_state *st, uint32_t from, const struct clm_msg *m)
{
    uint64_t r = m->region;
    if (r >= st->rep.region_count)
        return -EBADMSG;
    uint64_t *holder = dl__u64map_get(&st->rep.recovering, r);
    int mine = holder && *holder == from;
    if (mine)
        dl__u64map_del(&st->rep.recovering, r);
    if (m->in_sync && (mine || !holder)) {
        dl__bitmap_clear(st->rep.oos, r);
        clr_unorphan(&st->rep, r); /* recovered: nothing of a departed writer is left */
    } else if (!m->in_sync && dl__bitmap_set(st->rep.oos, r) < 0) {
        return -ENOMEM;
    }
    if (touch(st, r) < 0)
        return -ENOMEM;
    st->rep.applied++;
    own_applied(st, from, m, 0, 0);
    return 0;
}

static int apply(struct cls_state *st, uint32_t from, const struct clm_msg *m)
{
    switch (m->type) {
    case CLM_FLUSH:
        return apply_flush(st, from, m);
    case CLM_REQUEST_WORK:
        return apply_request_work(st, from, m);
    case CLM_SET_SYNC:
        return apply_set_sync(st, from, m);
    case CLM_BARRIER: /* changes nothing: its sender now knows it has seen all before it */
        if (from == st->me && st->ops.applied)
            st->ops.applied(st->arg, m->seq, st->rep.applied, 0, 0);
        return 0;
    case CLM_DURABLE:
        if (from != cls_writer(st))
            return 0; /* only the writer's word counts */
        if (m->index > st->durable)
            st->durable = m->index;
        if (st->ops.durable)
            st->ops.durable(st->arg, m->index);
        return 0;
    default:
        return -EBADMSG;
    }
}

static int apply_raw(struct cls_state *st, uint32_t from, const uint8_t *msg, size_t len)
{
    struct clm_msg m;
    int r = clm_decode(msg, len, &m);
    if (r == 0)
        r = apply(st, from, &m);
    if (r == -ENOMEM)
        give_up(st, "out of memory");
    return r;
}

/* The writer of a clustered_disk log persists what changed (everything
 * when it just became the writer) and tells the group up to where. */
static void maybe_persist(struct cls_state *st, int full)
{
    uint32_t w = cls_writer(st);
    int became = w != st->writer;
    st->writer = w;
    if (!st->disk || !cls_ready(st))
        return;
    if (w != st->me) {
        dl__u64map_clear(&st->touched);
        return;
    }
    if (!full && !became && st->touched.len == 0 && st->durable_sent >= st->rep.applied)
        return;
    int r = 0; /* a change that touched no region (a hand-out) needs only the DURABLE */
    if (full || became || st->touched.len)
        r = st->ops.persist ? st->ops.persist(st->arg, st, full || became) : 0;
    dl__u64map_clear(&st->touched);
    if (r < 0) {
        say(st, "writing the shared log failed (%d): flushes wait for the next writer", r);
        return;
    }
    uint8_t buf[CLM_DURABLE_SIZE];
    size_t n = clm_encode_durable(buf, cls_next_seq(st), st->rep.applied);
    if (st->ops.send(st->arg, buf, n) < 0)
        say(st, "cannot multicast DURABLE");
    else
        st->durable_sent = st->rep.applied;
}

/* ---- checkpoint rounds ------------------------------------------------------ */

static int send_checkpoint(struct cls_state *st, const struct cls_replica *rep, unsigned flags,
                           const uint32_t *side, unsigned nside)
{
    uint8_t *blob;
    size_t len;
    int r = cls_replica_encode(rep, flags, &blob, &len);
    if (r < 0)
        return r;
    if (len > CLS_MAX_BLOB) {
        free(blob);
        return -EFBIG;
    }
    size_t head = clm_checkpoint_size(st->nview, nside, 0);
    size_t per = st->max_msg > head + 64 ? st->max_msg - head : 64;
    uint32_t nchunks = (uint32_t)(len / per + (len % per != 0 || len == 0));
    uint8_t *buf = malloc(head + per);
    if (!buf) {
        free(blob);
        return -ENOMEM;
    }
    for (uint32_t c = 0; r == 0 && c < nchunks; c++) {
        size_t off = (size_t)c * per, n = len - off < per ? len - off : per;
        size_t m = clm_encode_checkpoint(buf, cls_next_seq(st), c, nchunks, st->view, st->nview,
                                         side, nside, blob + off, (uint32_t)n);
        r = st->ops.send(st->arg, buf, m);
    }
    free(buf);
    free(blob);
    return r;
}

static void start_round(struct cls_state *st)
{
    drop_round(st);
    st->in_round = 1;
    if (!has(st->view, st->nview, st->me))
        return;
    int r = 0;
    if (!st->have_state) {
        uint32_t side = st->me;
        r = send_checkpoint(st, &st->initial,
                            CLS_BLOB_FRESH | (st->initial_unknown ? CLS_BLOB_UNKNOWN : 0), &side, 1);
    } else {
        uint32_t side[CLM_MAX_MEMBERS];
        unsigned n = 0;
        for (unsigned i = 0; i < st->npeers; i++)
            if (has(st->view, st->nview, st->peers[i]))
                side[n++] = st->peers[i];
        qsort(side, n, sizeof side[0], cmp_u32);
        if (n > 0 && side[0] == st->me)
            r = send_checkpoint(st, &st->rep, 0, side, n);
    }
    if (r < 0)
        say(st, "cannot multicast the checkpoint (%d): waiting for the next membership change", r);
}

/* A round that a new membership change interrupted: the members that have a
 * replica apply what was queued to it (the next round's checkpoints then
 * carry it); fresh members drop the queue. */
static void abort_round(struct cls_state *st)
{
    size_t n = st->nqueue;
    struct cls_queued *q = st->queue;
    for (size_t i = 0; st->have_state && i < n; i++)
        apply_raw(st, q[i].from, q[i].msg, q[i].len);
    drop_round(st);
}

/* The merge of the round's checkpoints (docs/cluster.md, "Joins and merges"):
 * the replicas of members that have one (fresh members' only if none has);
 * out of sync = union; a member's marks and hand-outs come from its own side;
 * marks a side holds for a member of another side that the member's own side
 * does not hold, and marks of members no side speaks for, become orphans. */
static int merge(struct cls_state *st, struct cls_replica *out)
{
    struct cls_replica part[CLM_MAX_MEMBERS];
    unsigned flags[CLM_MAX_MEMBERS];
    int use[CLM_MAX_MEMBERS], any_state = 0, any_use = 0, r = 0;
    memset(out, 0, sizeof *out);
    unsigned n = 0;
    for (; n < st->nblobs; n++) {
        r = clr_decode(st->blobs[n].data, st->blobs[n].len, st->rep.region_count, &part[n],
                       &flags[n]);
        if (r < 0)
            break;
        any_state |= !(flags[n] & CLS_BLOB_FRESH);
    }
    for (unsigned i = 0; r == 0 && i < n; i++) {
        use[i] = any_state ? !(flags[i] & CLS_BLOB_FRESH) : !(flags[i] & CLS_BLOB_UNKNOWN);
        any_use |= use[i];
    }
    if (r == 0 && !any_use)
        r = -ENODATA; /* every member is new and none could read the device */
    if (r == 0)
        r = clr_init(out, st->rep.region_count, 0);
    for (unsigned i = 0; r == 0 && i < n; i++) {
        if (!use[i])
            continue;
        const struct cls_replica *p = &part[i];
        const struct cls_blob *b = &st->blobs[i];
        uint64_t at = 0, s, e;
        while (r == 0 && dl__bitmap_find_next_set(p->oos, at, &s)) {
            if (!dl__bitmap_find_next_clear(p->oos, s, &e))
                e = p->region_count;
            r = clr_set_range(out->oos, s, e);
            at = e;
        }
        for (size_t k = 0; r == 0 && k < p->orphan.cap; k++)
            if (p->orphan.used[k])
                r = clr_orphan(out, p->orphan.keys[k]);
        if (p->applied > out->applied)
            out->applied = p->applied;
        for (size_t k = 0; r == 0 && k < p->recovering.cap; k++) {
            if (!p->recovering.used[k] || !has(b->side, b->nside, (uint32_t)p->recovering.vals[k]))
                continue;
            int added;
            uint64_t *v = dl__u64map_put(&out->recovering, p->recovering.keys[k], &added);
            if (!v)
                r = -ENOMEM;
            else if (added || p->recovering.vals[k] < *v)
                *v = p->recovering.vals[k];
        }
        for (unsigned j = 0; r == 0 && j < p->nnodes; j++)
            if (has(b->side, b->nside, p->nodes[j].id))
                for (size_t k = 0; r == 0 && k < p->nodes[j].marks.cap; k++)
                    if (p->nodes[j].marks.used[k])
                        r = clr_mark(out, p->nodes[j].id, p->nodes[j].marks.keys[k]);
    }
    /* Second pass: marks a side knew of members outside it. A member whose
     * own side contributed is authoritative (every flush it acknowledged was
     * applied there); marks of a member no contributing side speaks for
     * (departed, or back as a fresh instance) become orphans. */
    for (unsigned i = 0; r == 0 && i < n; i++) {
        if (!use[i])
            continue;
        const struct cls_replica *p = &part[i];
        for (unsigned j = 0; r == 0 && j < p->nnodes; j++) {
            const struct cls_node *nd = &p->nodes[j];
            int spoken = 0;
            for (unsigned k = 0; k < n; k++)
                spoken |= use[k] && has(st->blobs[k].side, st->blobs[k].nside, nd->id);
            for (size_t k = 0; !spoken && r == 0 && k < nd->marks.cap; k++)
                if (nd->marks.used[k])
                    r = clr_orphan(out, nd->marks.keys[k]);
        }
    }
    for (unsigned i = 0; i < n; i++)
        clr_fini(&part[i]);
    if (r < 0 && out->nodes)
        clr_fini(out);
    return r;
}

static void finish_round(struct cls_state *st)
{
    struct cls_replica merged;
    int r = merge(st, &merged);
    if (r < 0) {
        give_up(st, r == -ENOMEM   ? "out of memory merging checkpoints"
                    : r == -ENODATA ? "no member could read the shared device"
                                    : "corrupt checkpoint");
        drop_round(st);
        return;
    }
    clr_fini(&st->rep);
    st->rep = merged;
    st->have_state = 1;
    memcpy(st->peers, st->view, st->nview * sizeof st->view[0]);
    st->npeers = st->nview;
    /* Every replica is now the same: apply what came during the round. */
    struct cls_queued *q = st->queue;
    size_t nq = st->nqueue;
    st->queue = NULL;
    st->nqueue = st->queue_cap = 0;
    drop_round(st);
    st->rounds++;
    for (size_t i = 0; i < nq; i++) {
        apply_raw(st, q[i].from, q[i].msg, q[i].len);
        free(q[i].msg);
    }
    free(q);
    say(st, "replica agreed among %u member(s), writer %u", st->nview, cls_writer(st));
    if (st->ops.ready && !st->failed)
        st->ops.ready(st->arg);
    maybe_persist(st, 1);
}

static int same_view(const struct cls_state *st, const struct clm_msg *m)
{
    return m->nview == st->nview && memcmp(m->view, st->view, st->nview * sizeof st->view[0]) == 0;
}

static int on_checkpoint(struct cls_state *st, uint32_t from, const struct clm_msg *m)
{
    if (!st->in_round || !same_view(st, m) || m->side[0] != from)
        return 0; /* a stale round's, or not the speaker of its side */
    struct cls_blob *b = NULL;
    for (unsigned i = 0; i < st->nblobs; i++)
        if (st->blobs[i].from == from)
            b = &st->blobs[i];
    if (!b) {
        if (m->chunk != 0)
            return -EBADMSG;
        for (unsigned i = 0; i < st->nblobs; i++)
            for (uint32_t k = 0; k < m->nside; k++)
                if (has(st->blobs[i].side, st->blobs[i].nside, m->side[k]))
                    return -EBADMSG; /* two sides speak for one member */
        b = &st->blobs[st->nblobs++];
        memset(b, 0, sizeof *b);
        b->from = from;
        b->nchunks = m->nchunks;
        b->nside = m->nside;
        memcpy(b->side, m->side, m->nside * sizeof m->side[0]);
    }
    if (b->done || m->chunk != b->next_chunk || m->nchunks != b->nchunks ||
        m->nside != b->nside || memcmp(m->side, b->side, b->nside * sizeof b->side[0]) != 0 ||
        b->len + m->data_len > CLS_MAX_BLOB)
        return -EBADMSG;
    uint8_t *d = realloc(b->data, b->len + m->data_len + 1);
    if (!d) {
        give_up(st, "out of memory reassembling a checkpoint");
        return -ENOMEM;
    }
    b->data = d;
    if (m->data_len)
        memcpy(b->data + b->len, m->data, m->data_len);
    b->len += m->data_len;
    if (++b->next_chunk < b->nchunks)
        return 0;
    b->done = 1;
    for (unsigned v = 0; v < st->nview; v++) {
        int covered = 0;
        for (unsigned i = 0; i < st->nblobs; i++)
            covered |= st->blobs[i].done && has(st->blobs[i].side, st->blobs[i].nside, st->view[v]);
        if (!covered)
            return 0;
    }
    finish_round(st);
    return 0;
}

static int enqueue(struct cls_state *st, uint32_t from, const uint8_t *msg, size_t len)
{
    if (st->queue_bytes + len > CLS_MAX_QUEUE) {
        give_up(st, "too many messages during a checkpoint round");
        return -ENOBUFS;
    }
    if (st->nqueue == st->queue_cap) {
        size_t cap = st->queue_cap ? 2 * st->queue_cap : 64;
        struct cls_queued *q = realloc(st->queue, cap * sizeof *q);
        if (!q) {
            give_up(st, "out of memory queueing");
            return -ENOMEM;
        }
        st->queue = q;
        st->queue_cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        give_up(st, "out of memory queueing");
        return -ENOMEM;
    }
    memcpy(copy, msg, len);
    st->queue[st->nqueue++] = (struct cls_queued){from, copy, len};
    st->queue_bytes += len;
    return 0;
}

/* ---- the inputs --------------------------------------------------------------- */

int cls_deliver(struct cls_state *st, uint32_t from, const uint8_t *msg, size_t len)
{
    if (st->failed)
        return -EIO;
    struct clm_msg m;
    int r = clm_decode(msg, len, &m);
    if (r < 0 || !has(st->view, st->nview, from))
        return r < 0 ? r : -ESRCH;
    if (m.type == CLM_CHECKPOINT)
        return on_checkpoint(st, from, &m);
    if (st->in_round)
        return enqueue(st, from, msg, len);
    if (!st->have_state)
        return 0; /* not a member's replica yet: the next checkpoint covers it */
    r = apply(st, from, &m);
    if (r == -ENOMEM)
        give_up(st, "out of memory");
    maybe_persist(st, 0);
    return r;
}

void cls_confchg(struct cls_state *st, const uint32_t *members, size_t n, const uint32_t *left,
                 size_t nleft, const uint32_t *joined, size_t njoined)
{
    (void)joined;
    int restart = st->in_round;
    if (st->in_round)
        abort_round(st);
    for (size_t i = 0; i < nleft; i++) {
        if (st->have_state && clr_node_left(&st->rep, left[i], st->disk ? &st->touched : NULL) < 0)
            give_up(st, "out of memory");
        for (unsigned k = 0; k < st->npeers; k++)
            if (st->peers[k] == left[i]) {
                st->peers[k] = st->peers[--st->npeers];
                break;
            }
    }
    st->nview = n > CLM_MAX_MEMBERS ? CLM_MAX_MEMBERS : (unsigned)n;
    memcpy(st->view, members, st->nview * sizeof members[0]);
    qsort(st->view, st->nview, sizeof st->view[0], cmp_u32);
    if (njoined > 0 || restart || !st->have_state)
        start_round(st);
    else
        maybe_persist(st, 0);
}
