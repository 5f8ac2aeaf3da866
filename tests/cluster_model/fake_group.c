/* The fake process group of the model tests (fake_group.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_group.h"

static int fg_send(void *arg, const uint8_t *msg, size_t len)
{
    struct fg_member *m = arg;
    struct fake_group *g = m->g;
    if (len > g->max_msg)
        return -EMSGSIZE;
    if (g->nq == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        struct fg_msg *q = realloc(g->q, cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        g->q = q;
        g->cap = cap;
    }
    uint8_t *d = malloc(len);
    if (!d)
        return -ENOMEM;
    memcpy(d, msg, len);
    g->q[g->nq++] = (struct fg_msg){m->id, m->part, d, len};
    g->sent++;
    return 0;
}

static void fg_applied(void *arg, uint64_t seq, uint64_t index, int found, uint64_t region)
{
    struct fg_member *m = arg;
    m->log[m->nlog++ % FG_LOG] = (struct fg_applied){seq, index, region, found};
}

static void fg_durable(void *arg, uint64_t index)
{
    struct fg_member *m = arg;
    if (index > m->durable)
        m->durable = index;
}

static int fg_persist(void *arg, struct cls_state *st, int full)
{
    (void)st;
    (void)full;
    struct fg_member *m = arg;
    m->persists++;
    return 0;
}

static void fg_ready(void *arg)
{
    struct fg_member *m = arg;
    m->ready = 1;
}

static const struct cls_ops fg_ops = {
    .send = fg_send,
    .applied = fg_applied,
    .durable = fg_durable,
    .persist = fg_persist,
    .ready = fg_ready,
};

void fg_init(struct fake_group *g, uint64_t region_count, int disk, size_t max_msg)
{
    memset(g, 0, sizeof *g);
    g->region_count = region_count;
    g->disk = disk;
    g->max_msg = max_msg;
}

void fg_fini(struct fake_group *g)
{
    for (unsigned i = 0; i < g->n; i++)
        if (g->m[i].st.blobs)
            cls_fini(&g->m[i].st);
    for (size_t i = 0; i < g->nq; i++)
        free(g->q[i].data);
    free(g->q);
    memset(g, 0, sizeof *g);
}

void (*fg_before_join)(struct fg_member *m);

struct fg_member *fg_member(struct fake_group *g, uint32_t id)
{
    for (unsigned i = 0; i < g->n; i++)
        if (g->m[i].id == id)
            return &g->m[i];
    return NULL;
}

const struct fg_applied *fg_applied_of(const struct fg_member *m, uint64_t seq)
{
    size_t first = m->nlog > FG_LOG ? m->nlog - FG_LOG : 0;
    for (size_t i = first; i < m->nlog; i++)
        if (m->log[i % FG_LOG].seq == seq)
            return &m->log[i % FG_LOG];
    return NULL;
}

size_t fg_queued(const struct fake_group *g, int part)
{
    size_t n = 0;
    for (size_t i = 0; i < g->nq; i++)
        n += g->q[i].part == part;
    return n;
}

/* The live members of a partition, in id order (CPG lists them so). */
static size_t members_of(struct fake_group *g, int part, uint32_t *ids)
{
    size_t n = 0;
    for (unsigned i = 0; i < g->n; i++)
        if (g->m[i].alive && g->m[i].part == part)
            ids[n++] = g->m[i].id;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint32_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    return n;
}

int fg_step(struct fake_group *g, int part)
{
    size_t i = 0;
    while (i < g->nq && g->q[i].part != part)
        i++;
    if (i == g->nq)
        return 0;
    if (g->shuffle) { /* the first message of a random sender */
        g->shuffle = g->shuffle * 6364136223846793005ull + 1442695040888963407ull;
        size_t pick = (size_t)(g->shuffle >> 33) % g->nq, at = pick;
        for (size_t k = 0; k < g->nq; k++, at = (at + 1) % g->nq)
            if (g->q[at].part == part) {
                uint32_t from = g->q[at].from;
                size_t first = 0;
                while (g->q[first].part != part || g->q[first].from != from)
                    first++;
                i = first;
                break;
            }
    }
    struct fg_msg msg = g->q[i];
    memmove(g->q + i, g->q + i + 1, (g->nq - i - 1) * sizeof *g->q);
    g->nq--;
    /* Everyone of the partition, the sender included, in the same order. */
    for (unsigned k = 0; k < g->n; k++)
        if (g->m[k].alive && g->m[k].part == part)
            cls_deliver(&g->m[k].st, msg.from, msg.data, msg.len);
    g->delivered++;
    free(msg.data);
    return 1;
}

static void drain_part(struct fake_group *g, int part)
{
    while (fg_step(g, part))
        ;
}

void fg_drain(struct fake_group *g)
{
    while (g->nq)
        drain_part(g, g->q[0].part);
}

static void confchg_part(struct fake_group *g, int part, const uint32_t *left, size_t nleft,
                         const uint32_t *joined, size_t njoined)
{
    uint32_t ids[FG_MAX];
    size_t n = members_of(g, part, ids);
    for (unsigned k = 0; k < g->n; k++)
        if (g->m[k].alive && g->m[k].part == part)
            cls_confchg(&g->m[k].st, ids, n, left, nleft, joined, njoined);
}

int fg_join(struct fake_group *g, uint32_t id, int part, int all_out_of_sync)
{
    if (g->n == FG_MAX || fg_member(g, id))
        return -EINVAL;
    drain_part(g, part); /* the old view's messages first */
    struct fg_member *m = &g->m[g->n];
    memset(m, 0, sizeof *m);
    m->id = id;
    m->g = g;
    m->part = part;
    int r = cls_init(&m->st, id, g->region_count, all_out_of_sync, g->disk, g->max_msg, &fg_ops, m);
    if (r < 0)
        return r;
    g->n++;
    m->alive = 1;
    if (fg_before_join)
        fg_before_join(m);
    confchg_part(g, part, NULL, 0, &id, 1);
    return 0;
}

void fg_crash(struct fake_group *g, uint32_t id, int drop_last)
{
    struct fg_member *m = fg_member(g, id);
    if (!m || !m->alive)
        return;
    if (drop_last) /* its messages nobody got yet are lost with it */
        for (size_t i = 0; i < g->nq;) {
            if (g->q[i].from == id) {
                free(g->q[i].data);
                memmove(g->q + i, g->q + i + 1, (g->nq - i - 1) * sizeof *g->q);
                g->nq--;
            } else {
                i++;
            }
        }
    m->alive = 0;
    drain_part(g, m->part); /* the rest of the old view's messages, to the survivors */
    confchg_part(g, m->part, &id, 1, NULL, 0);
}

void fg_split(struct fake_group *g, const uint32_t *ids, size_t n, int to)
{
    if (n == 0)
        return;
    int from = fg_member(g, ids[0])->part;
    drain_part(g, from);
    uint32_t stay[FG_MAX];
    for (size_t i = 0; i < n; i++)
        fg_member(g, ids[i])->part = to;
    size_t nstay = members_of(g, from, stay);
    confchg_part(g, from, ids, n, NULL, 0);
    confchg_part(g, to, stay, nstay, NULL, 0);
}

void fg_merge(struct fake_group *g, int from, int to)
{
    drain_part(g, from);
    drain_part(g, to);
    uint32_t a[FG_MAX], b[FG_MAX];
    size_t na = members_of(g, from, a), nb = members_of(g, to, b);
    for (unsigned k = 0; k < g->n; k++)
        if (g->m[k].alive && g->m[k].part == from)
            g->m[k].part = to;
    /* Each side sees the other join. */
    uint32_t ids[FG_MAX];
    size_t n = members_of(g, to, ids);
    for (unsigned k = 0; k < g->n; k++) {
        struct fg_member *m = &g->m[k];
        if (!m->alive || m->part != to)
            continue;
        int in_a = 0;
        for (size_t i = 0; i < na; i++)
            in_a |= a[i] == m->id;
        cls_confchg(&m->st, ids, n, NULL, 0, in_a ? b : a, in_a ? nb : na);
    }
}
