/* Sparse, hierarchical, lock-free bitmap. The contract is in bitmap.h.
 *
 * Tree. Level 0 is a leaf: 512 words = 32768 bits = one 4 KiB page (in a
 * sparse map followed by the leaf's word summary and its prune counters:
 * 4224 bytes allocated; flat leaves are bare words). A node at
 * level l >= 1 has children at level l-1, each covering 2^cshift(l) bits
 * (cshift(l) = 15 + 6(l-1)). Non-root nodes have 64 children and one summary
 * word (520 bytes, 576 allocated). The root, embedded in struct bitmap so
 * that the first child load needs no pointer chase, has ceil(nbits /
 * 2^cshift(L)) <= 4096 children, L >= 1 being the smallest level for which
 * that fits (so its summary is at most 64 words): up to 2^27
 * bits the tree is root -> leaf, up to 2^33 root -> node -> leaf, and 2^63
 * bits takes 7 levels. A child pointer is NULL (all 0), ONES (the address of
 * a static object: all 1) or a node of its own.
 *
 * Why these sizes: the leaf pointers of a 2^30-bit map then take 256 KiB and
 * stay in the L2 cache, so a random access costs one cache miss (the leaf
 * word) like a flat array; with 4096-bit leaves they take 2 MiB and every
 * random access pays a second, dependent miss. Small interior nodes keep
 * sparse maps small (each isolated bit costs its 4 KiB leaf plus a few
 * 576-byte nodes).
 *
 * Summaries. Bit j of a node's summary means "child j MAY contain a 1".
 * Invariant: once dl__bitmap_set(b) has returned, and until b is cleared, every
 * ancestor of b has its summary bit for the path to b set -- except inside a
 * short window of a concurrent prune (see below), which searches detect.
 *
 *  - dl__bitmap_set, after its leaf RMW (or after seeing the bit already 1),
 *    walks the path bottom-up: load the summary word, fetch_or only when the
 *    bit is missing. Bottom-up matters: a pruner that looks at level l only
 *    trusts level l-1 summaries, which this set has already fixed.
 *  - dl__bitmap_clear never touches summaries; they become stale ("may").
 *  - A search that finds a child whose summary bit is set but whose subtree
 *    holds no 1 prunes it: clear the summary bit, then RE-CHECK the child
 *    (its words for a leaf, its summary words for a node) and set the bit
 *    again if the child is not empty. All of these accesses, and the set's
 *    leaf RMW and summary loads, are seq_cst. That is a Dekker pattern: in
 *    the single total order S, either the setter's summary load comes after
 *    the pruner's clear (then it finds the bit missing and sets it, or finds
 *    it already restored), or before it, and then the setter's leaf RMW
 *    precedes the pruner's re-check, which sees the 1 and restores the bit.
 *    So a completed set is never lost for good.
 *
 * Word summaries (sparse leaves only). A sparse leaf is summarised one level
 * further down: bit i of its wsum means "word i MAY be non-zero", with the
 * same protocol, a leaf being treated exactly like a node whose children
 * are its 512 words. A set does its word RMW, then ensures the wsum bit,
 * then the node summaries bottom-up (all seq_cst). A prune of a wsum bit
 * clears it and re-checks the word itself (a seq_cst load), restoring the
 * bit if the word is non-zero: the Dekker argument above, with the word as
 * the child. A pruner of a leaf's bit in its parent re-checks the leaf by
 * its wsum words, as it re-checks a node by its summary. The prunes of a
 * leaf's wsum are bracketed by the leaf's own pair of counters (below), so
 * a search reading a wsum word knows whether to trust it, and a pruner
 * re-checking the leaf knows whether a word prune overlapped (then it
 * keeps its bit). Flat leaves have no wsum (their words must stay
 * contiguous, and the inline dl__flat_set does not maintain one): their
 * searches scan the words, and their re-check loads every word.
 *
 * Eager pruning by clear. A clear whose RMW turns a word of a sparse leaf
 * to 0 prunes that word's wsum bit at once (the same prune: clear, re-check
 * the word, restore if a set got in). If the leaf's wsum then reads all 0,
 * it prunes the leaf's bit in its parent, and goes on up while the node
 * whose bit it just pruned has an all-0 summary: at most the depth of the
 * tree. These are ordinary prunes, so the argument above covers them
 * against any concurrent set; they only make summaries exact sooner, so the
 * first search after a mass clear is O(what is still set) instead of
 * O(leaves ever touched). A prune that restored its bit (a set got in) stops
 * the climb; the searches' own pruning remains for what races leave stale.
 * Flat maps do not prune by clear (their leaf re-check costs 512 loads);
 * their searches prune as before.
 *
 * Prune window. Between the pruner's clear and its re-set, the summary bit
 * is 0 although the child may hold a completed set; another search reading
 * the word then would skip that child. Two monotonic counters close the
 * hole: a pruner increments prune_started before its clear and
 * prune_finished after its re-set. A search reads F = prune_finished, then
 * the summary word, then S = prune_started. Every prune that finished by F
 * also started by S, so S == F means no prune was between its start and
 * its finish at any moment in between, and the word can be trusted (a prune
 * whose clear we read has its start ordered before our read of S by the
 * release/acquire pair on the word, and its re-set, had it finished by F,
 * would have been visible to us). Otherwise the search takes "every non-NULL
 * child" (in a leaf: every word) as the candidates for that word: slower,
 * never wrong. Node summaries are pruned under the bitmap's counters, each
 * sparse leaf's wsum under the leaf's own, so busy clears in one leaf do not
 * make searches elsewhere fall back. A pruner's
 * re-check of a node child uses the same test and, if another prune
 * overlapped, conservatively keeps the bit, so a prune can never make a
 * non-empty subtree look empty for good.
 *
 * Memory ordering elsewhere: nodes are fully initialised, then published by
 * a seq_cst CAS (release); every child pointer load is acquire. Nodes are
 * never freed while concurrent operations are allowed (only by the
 * exclusive fill, write_words, compact and destroy), so a loaded pointer
 * stays valid for the whole call. Containers (below) likewise.
 *
 * Containers (container.[ch]). dl__bitmap_compact, an exclusive call, also
 * replaces each subtree (a leaf, or a node with everything below it) by an
 * immutable container -- a sorted ARRAY of its set bits, or a RUN list --
 * when that takes less memory, bottom-up, so that a sparse subtree ends up
 * as one small container in the highest slot that holds it. Values are
 * packed in exactly cshift(l) bits (15 for a leaf's slot), so 1 % random
 * bits cost under 2 bytes each. A container is never empty or full (those
 * are NULL and ONES) and never changes. The tree's concurrent calls treat
 * one as follows:
 *
 *  - readers (test, the searches, the iterator, count, read_words) read it
 *    like a leaf: it is immutable and was fully written before it was
 *    published (release store by compact, or the seq_cst CAS below; child
 *    loads are acquire);
 *  - set of a bit it holds returns 1 and clear of a bit it lacks returns 0,
 *    both without changing anything (linearised at the read of the slot);
 *    set does ensure the path's summary bits from the container's slot up,
 *    as for ONES;
 *  - any other set or clear (and reserve, change_range, write_words)
 *    EXPANDS it: builds the level-below equivalent (a sparse leaf with the
 *    same bits, or a node whose children are the containers of its values
 *    in their spans, or NULL/ONES), publishes it by a seq_cst CAS on the
 *    slot expecting the container, and then works on that as before. A
 *    losing CAS frees its copy and works on the winner's. Expansion is the
 *    only concurrent transition of a container, and it is one-way: a slot
 *    that held container K holds K, then a node for good (until an
 *    exclusive call). So no update is lost: an update is made only on the
 *    node, after K left the slot, and the node holds all of K's bits.
 *  - the summary protocol: a container is non-empty, so a pruner's re-check
 *    keeps the bit (recheck: any non-NULL, non-node child "may hold a 1").
 *    An expansion publishes a node whose own summaries are exact, below a
 *    parent bit that is already set (the container was non-empty); a set
 *    on the expanded node then proceeds as on any node (its RMW, then the
 *    summaries bottom-up), so the Dekker argument is unchanged.
 *  - the iterator's cached slot stays a slot of the tree (nodes are freed
 *    only by exclusive calls), and what it reloads from it is a container,
 *    whose bits it answers from, or the node that replaced it, which it
 *    scans or hands to the tree search as before; a bit set before the
 *    call is in either (argument (d) of iter.c holds: a container never
 *    becomes NULL concurrently).
 *
 * Reclamation. A replaced container may still be read by a concurrent call
 * that loaded the slot before the CAS, so the expander does not free it: it
 * pushes it on bm->retired (a lock-free stack: push only; emptied only by
 * exclusive calls, which free everything on it). Nothing concurrent ever
 * frees a container, so no reader can see one freed, and no reader pays
 * for reclamation (no epochs, no hazard pointers). The cost is memory: a
 * container expanded since the last exclusive call stays allocated until
 * the next, and that is bounded, since each container is expanded at most
 * once and containers are created only by exclusive calls and by the
 * expansion of a larger one (whose values they split). Maps that never see
 * an exclusive call (the logs, which are PARALLEL) never hold containers.
 *
 * Iterator (iter.c, whose top comment has its argument): it caches the
 * slot of its last answer, which relies on nodes being freed only by the
 * exclusive calls, each of which bumps bm->gen. */
#include "bitmap/bitmap.h"
#include "bitmap/bitmap_hooks.h"
#include "bitmap/bitmap_impl.h"
#include "bits.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define COLD __attribute__((noinline, cold))
#define PREFETCH_W(p) __builtin_prefetch((const void *)(p), 1)
#else
#define COLD
#define PREFETCH_W(p) ((void)(p))
#endif

alignas(8) char dl__bitmap_ones_sentinel;
static alignas(8) char nomem_marker; /* aligned: not a tagged container */
#define NOMEM ((void *)&nomem_marker)

/* Bytes allocated for a level-l node: cache-line aligned, and aligned_alloc
 * wants a multiple of the alignment. */
static inline size_t node_size(unsigned l)
{
    return ((l ? sizeof(struct inode) : sizeof(struct sleaf)) + 63) & ~(size_t)63;
}

/* Which bits of the word starting at bit b are < nbits. */
static inline uint64_t valid_mask(const struct bitmap *bm, uint64_t b)
{
    if (b >= bm->nbits)
        return 0;
    return dl__low_bits(bm->nbits - b);
}

/* ---- node creation ------------------------------------------------------ */

/* A fresh level-l node covering [base, ...), all 0 or all 1. Bits >= nbits
 * are stored as 0 and children wholly >= nbits are NULL. */
static void *node_new(const struct bitmap *bm, unsigned l, uint64_t base, bool ones)
{
    if (l == 0) {
        struct sleaf *lf = aligned_alloc(64, node_size(0));
        if (!lf)
            return NULL;
        for (unsigned i = 0; i < WSUM_WORDS; i++)
            atomic_init(&lf->wsum[i], 0);
        for (unsigned i = 0; i < LEAF_WORDS; i++) {
            uint64_t v = ones ? valid_mask(bm, base + 64 * (uint64_t)i) : 0;
            atomic_init(&lf->l.w[i], v);
            if (v) /* (single-threaded until published) */
                atomic_init(&lf->wsum[i / 64], atomic_load_explicit(&lf->wsum[i / 64],
                                                                    memory_order_relaxed) |
                                                   1ULL << (i % 64));
        }
        atomic_init(&lf->pc.started, 0);
        atomic_init(&lf->pc.finished, 0);
        return lf;
    }
    struct inode *n = aligned_alloc(64, node_size(l));
    if (!n)
        return NULL;
    uint64_t sum[SUM_WORDS] = {0};
    for (unsigned i = 0; i < FAN; i++) {
        bool in = ones && base + ((uint64_t)i << cshift(l)) < bm->nbits;
        atomic_init(&n->child[i], in ? ONES : NULL);
        if (in)
            sum[i / 64] |= 1ULL << (i % 64);
    }
    for (unsigned i = 0; i < SUM_WORDS; i++)
        atomic_init(&n->sum[i], sum[i]);
    return n;
}

/* Replace the uniform value cur (NULL or ONES) in slot by an equivalent
 * level-l node. Returns what the slot holds afterwards (our node, or the node
 * of a thread that won the race -- our copy is then freed), or NOMEM. */
static COLD void *materialise(struct bitmap *bm, _Atomic(void *) *slot, void *cur,
                              unsigned l, uint64_t base)
{
    void *n = node_new(bm, l, base, cur == ONES);
    if (!n)
        return NOMEM;
    /* seq_cst (not just release): the prune argument needs the publication
     * ordered before the setter's leaf RMW in S. */
    if (atomic_compare_exchange_strong(slot, &cur, n)) {
        atomic_fetch_add_explicit(&bm->mem, node_size(l), memory_order_relaxed);
        return n;
    }
    free(n);
    return cur;
}

/* ---- containers ----------------------------------------------------------- */

/* A container replaced by an expansion, until the next exclusive call. */
struct retired {
    struct retired *next;
    void *c;
    unsigned w;
};

/* The bit-offset of bit within the aligned span of 2^shift bits holding it,
 * and that span's first bit. */
static inline uint64_t span_off(uint64_t bit, unsigned shift)
{
    return bit & dl__low_bits(shift);
}

static inline uint64_t span_base(uint64_t bit, unsigned shift)
{
    return bit - span_off(bit, shift);
}

/* Is bit set in container c, held in a slot of a level-l node? */
static COLD int cont_has(const void *c, unsigned l, uint64_t bit)
{
    return dl__cont_test(c, cshift(l), span_off(bit, cshift(l)));
}

/* Free a node made by node_from_cont that was never published. */
static void discard_fresh(void *n, unsigned l)
{
    if (l > 0)
        for (unsigned j = 0; j < FAN; j++) {
            void *c = atomic_load_explicit(&((struct inode *)n)->child[j], memory_order_relaxed);
            if (is_cont(c))
                dl__cont_free(c);
        }
    free(n);
}

/* The level-l equivalent of container k (held in a slot of a level-(l+1)
 * node, first bit base), unpublished: a sparse leaf with the same bits, or
 * a node whose children are the containers (or NULL, ONES) of k's values
 * in their spans. NULL when out of memory; *bytes gets what it allocated. */
static void *node_from_cont(const struct bitmap *bm, const void *k, unsigned l, uint64_t base,
                            size_t *bytes)
{
    unsigned w = cshift(l + 1);
    void *n = node_new(bm, l, base, false);
    if (!n)
        return NULL;
    *bytes = node_size(l);
    if (l == 0) {
        struct sleaf *sl = n;
        uint64_t words[LEAF_WORDS] = {0};
        dl__cont_or_words(k, w, 0, LEAF_WORDS, words);
        for (unsigned i = 0; i < LEAF_WORDS; i++)
            if (words[i]) {
                atomic_init(&sl->l.w[i], words[i]);
                atomic_init(&sl->wsum[i / 64],
                            atomic_load_explicit(&sl->wsum[i / 64], memory_order_relaxed) |
                                1ULL << (i % 64));
            }
        return n;
    }
    struct inode *in = n;
    struct run *runs = malloc(dl__cont_max_runs(k) * sizeof *runs);
    if (!runs) {
        free(n);
        return NULL;
    }
    unsigned cw = cshift(l);
    for (unsigned j = 0; j < FAN; j++) {
        uint64_t lo = (uint64_t)j << cw, cb = base + lo;
        if (cb >= bm->nbits)
            break;
        size_t nr = dl__cont_runs(k, w, lo, lo + (1ULL << cw), runs);
        uint64_t card = 0;
        for (size_t r = 0; r < nr; r++)
            card += runs[r].end - runs[r].first;
        uint64_t full = bm->nbits - cb < (1ULL << cw) ? bm->nbits - cb : 1ULL << cw;
        void *c = NULL;
        if (card == full) {
            c = ONES;
        } else if (card) {
            size_t b;
            c = dl__cont_build(runs, nr, card, cw, &b);
            if (!c) {
                free(runs);
                discard_fresh(n, l);
                return NULL;
            }
            *bytes += b;
        }
        atomic_init(&in->child[j], c);
        if (c)
            atomic_init(&in->sum[j / 64],
                        atomic_load_explicit(&in->sum[j / 64], memory_order_relaxed) |
                            1ULL << (j % 64));
    }
    free(runs);
    return n;
}

/* Replace container cur in slot (a level-(l+1) node's, first bit base) by
 * its level-l equivalent, retiring cur. Returns what the slot holds
 * afterwards (ours, or what another thread put there first), or NOMEM. */
static COLD void *expand(struct bitmap *bm, _Atomic(void *) *slot, void *cur, unsigned l,
                         uint64_t base)
{
    size_t bytes;
    struct retired *rec = malloc(sizeof *rec);
    void *n = rec ? node_from_cont(bm, cur, l, base, &bytes) : NULL;
    if (!n) {
        free(rec);
        return NOMEM;
    }
    void *old = cur;
    /* seq_cst, as in materialise. */
    if (!atomic_compare_exchange_strong(slot, &cur, n)) {
        discard_fresh(n, l);
        free(rec);
        return cur;
    }
    rec->c = old;
    rec->w = cshift(l + 1);
    rec->next = atomic_load_explicit(&bm->retired, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(&bm->retired, &rec->next, rec))
        ;
    atomic_fetch_add_explicit(&bm->mem, bytes + sizeof *rec, memory_order_relaxed);
    return n;
}

/* Free every retired container. Exclusive. */
static void free_retired(struct bitmap *bm)
{
    struct retired *r = atomic_exchange_explicit(&bm->retired, NULL, memory_order_relaxed);
    while (r) {
        struct retired *next = r->next;
        atomic_fetch_sub_explicit(&bm->mem, dl__cont_bytes(r->c, r->w) + sizeof *r,
                                  memory_order_relaxed);
        dl__cont_free(r->c);
        free(r);
        r = next;
    }
}

/* A node or leaf in place of the uniform value or container cur. */
static void *make_node(struct bitmap *bm, _Atomic(void *) *slot, void *cur, unsigned l,
                       uint64_t base)
{
    return is_cont(cur) ? expand(bm, slot, cur, l, base) : materialise(bm, slot, cur, l, base);
}

/* ---- descent ------------------------------------------------------------ */

/* WALK_SET_BIT and WALK_CLEAR_BIT (one bit's set or clear) are WALK_SET
 * and WALK_CLEAR that leave a container alone when it already gives the bit
 * the wanted value; reserve and the ranges expand every container, since
 * any bit of their span may change afterwards. */
enum { WALK_READ, WALK_SET, WALK_CLEAR, WALK_SET_BIT, WALK_CLEAR_BIT };

struct path {
    _Atomic uint64_t *sum[MAX_LEVEL + 1]; /* [l]: summary word at level l */
    uint64_t mask[MAX_LEVEL + 1];         /* [l]: the path's bit in it */
    _Atomic(void *) *slot[MAX_LEVEL + 1]; /* [l]: the path's child slot at level l */
    unsigned stop; /* level of the node holding a returned NULL/ONES */
};

/* Descend towards bit (general case, not the hot path). WALK_SET
 * materialises NULL subtrees and WALK_CLEAR ONES subtrees on the way, and
 * both expand containers (the _BIT modes: see above), so that the bit lives
 * in a leaf. Returns the leaf, or the uniform NULL/ONES or container
 * covering bit (p->stop is then the level of the node holding it), or
 * NOMEM. Records the path's summary bits in p. */
static void *walk(struct bitmap *bm, uint64_t bit, int mode, struct path *p)
{
    unsigned l = bm->level;
    uint64_t i = bit >> cshift(l);
    _Atomic(void *) *slot = &bm->rchild[i];
    p->sum[l] = &bm->rsum[i / 64];
    p->mask[l] = 1ULL << (i % 64);
    p->slot[l] = slot;
    bool set = mode == WALK_SET || mode == WALK_SET_BIT;
    bool clear = mode == WALK_CLEAR || mode == WALK_CLEAR_BIT;
    bool one_bit = mode == WALK_SET_BIT || mode == WALK_CLEAR_BIT;
    for (;;) {
        void *c = atomic_load_explicit(slot, memory_order_acquire);
        if (!is_node(c)) {
            bool expand = is_cont(c) && (set || clear) && !(one_bit && cont_has(c, l, bit) == set);
            if ((set && c == NULL) || (clear && c == ONES) || expand) {
                if (make_node(bm, slot, c, l - 1, span_base(bit, cshift(l))) == NOMEM)
                    return NOMEM;
                continue; /* reload: ours or the winner's node */
            }
            p->stop = l;
            return c;
        }
        if (--l == 0)
            return c;
        i = (bit >> cshift(l)) % FAN;
        struct inode *n = c;
        p->sum[l] = &n->sum[i / 64];
        p->mask[l] = 1ULL << (i % 64);
        slot = &n->child[i];
        p->slot[l] = slot;
    }
}

/* The set side of the summary protocol: make sure summary bit m of *sw is
 * 1. The load is seq_cst (see the top of the file). */
static inline void ensure_summary(_Atomic uint64_t *sw, uint64_t m)
{
    if (DL_UNLIKELY(!(atomic_load(sw) & m)))
        atomic_fetch_or(sw, m);
}

/* Bottom-up from level `from`, as dl__bitmap_set needs it. */
static void ensure_path(const struct bitmap *bm, const struct path *p, unsigned from)
{
    for (unsigned l = from; l <= bm->level; l++)
        ensure_summary(p->sum[l], p->mask[l]);
}


/* ---- the prune protocol (proof at the top of the file) -------------------- */

/* Summary word k of a node, as candidates for the search. If a prune may
 * have held one of its bits at 0 while we read it, fall back to "every
 * non-NULL child" for this word. */
static uint64_t candidates(struct bitmap *bm, _Atomic uint64_t *sum, _Atomic(void *) *child,
                           unsigned k, unsigned n)
{
    bool trusted;
    uint64_t v = read_summary(&bm->pc, &sum[k], &trusted);
    if (trusted)
        return v;
    for (unsigned j = k * 64; j < n && j < k * 64 + 64; j++)
        if (atomic_load_explicit(&child[j], memory_order_acquire))
            v |= 1ULL << (j % 64);
    return v;
}

/* A prune is: started++, clear the summary bit, re-check the child (seq_cst
 * loads), restore the bit if the child may hold a 1, finished++. */
static inline void prune_start(struct prune_counters *pc, _Atomic uint64_t *sw, uint64_t m)
{
    atomic_fetch_add(&pc->started, 1);
    atomic_fetch_and(sw, ~m);
}

/* Returns whether the bit stays cleared. */
static inline bool prune_finish(struct prune_counters *pc, _Atomic uint64_t *sw, uint64_t m,
                                bool keep)
{
    if (keep)
        atomic_fetch_or(sw, m);
    atomic_fetch_add(&pc->finished, 1);
    return !keep;
}

/* Are the summary words sum[0..n) of a child all 0, and trustworthy? The
 * child's summaries are pruned under counters pc, `own` of which are prunes
 * by this very call (still open): if any other prune overlapped these
 * loads, a bit may have been held at 0, so answer "may hold a 1". */
static bool summaries_may_hold(struct prune_counters *pc, _Atomic uint64_t *sum, unsigned n,
                               uint64_t own)
{
    uint64_t fin = atomic_load(&pc->finished);
    for (unsigned i = 0; i < n; i++)
        if (atomic_load(&sum[i]))
            return true;
    return atomic_load(&pc->started) - fin != own;
}

/* Is the subtree in slot (at level l) possibly non-empty? Used by a pruner
 * right after clearing the summary bit; every load is seq_cst. A sparse
 * leaf is judged by its word summary, which has counters of its own; a
 * node by its summary, pruned under bm->pc like ours (hence own = 1). */
static bool recheck(struct bitmap *bm, _Atomic(void *) *slot, unsigned l)
{
    void *c = atomic_load(slot);
    if (!is_node(c))
        return c != NULL; /* ONES, or a container (never empty) */
    if (l == 0 && bm->flat) {
        for (unsigned i = 0; i < LEAF_WORDS; i++)
            if (atomic_load(&((struct leaf *)c)->w[i]))
                return true;
        return false;
    }
    if (l == 0) {
        struct sleaf *sl = c;
        return summaries_may_hold(&sl->pc, sl->wsum, WSUM_WORDS, 0);
    }
    return summaries_may_hold(&bm->pc, ((struct inode *)c)->sum, SUM_WORDS, 1);
}

/* Prune summary bit m of *sw for the (seen empty) child in slot at level
 * l. Returns whether the bit stays cleared. */
static COLD bool prune(struct bitmap *bm, _Atomic uint64_t *sw, uint64_t m,
                       _Atomic(void *) *slot, unsigned l)
{
    prune_start(&bm->pc, sw, m);
    return prune_finish(&bm->pc, sw, m, recheck(bm, slot, l));
}

/* Prune the summary bit of word i of a sparse leaf. */
static COLD bool prune_word(struct sleaf *sl, unsigned i)
{
    _Atomic uint64_t *sw = &sl->wsum[i / 64];
    uint64_t m = 1ULL << (i % 64);
    prune_start(&sl->pc, sw, m);
    return prune_finish(&sl->pc, sw, m, atomic_load(&sl->l.w[i]) != 0);
}

/* A clear turned word i of sparse leaf sl (holding bit) to 0: prune its
 * summary bit at once, and, while that leaves the child empty, the child's
 * bit in its parent, up to the root (at most the depth). Then the first
 * search after a mass clear already finds the summaries exact. */
static COLD void clear_emptied_word(struct bitmap *bm, struct sleaf *sl, uint64_t bit)
{
    if (!prune_word(sl, (unsigned)((bit / 64) % LEAF_WORDS)))
        return;
    for (unsigned k = 0; k < WSUM_WORDS; k++)
        if (atomic_load(&sl->wsum[k]))
            return;
    struct path p;
    if (walk(bm, bit, WALK_READ, &p) != sl)
        return;
    for (unsigned l = 1;; l++) {
        if (!prune(bm, p.sum[l], p.mask[l], p.slot[l], l - 1) || l == bm->level)
            return;
        /* The node holding p.sum[l] is the child in p.slot[l + 1]. */
        struct inode *n = atomic_load(p.slot[l + 1]);
        for (unsigned k = 0; k < SUM_WORDS; k++)
            if (atomic_load(&n->sum[k]))
                return;
    }
}

/* ---- single-bit operations --------------------------------------------- */

/* Set the bit in a leaf, and in a sparse leaf the word's summary bit;
 * return the bit's old value. The load is seq_cst even on the skip path:
 * if another thread's set of this bit is still fixing the summaries, our
 * caller fixes them too, and the Dekker argument needs that set's RMW
 * ordered before our summary loads in S. */
static inline int leaf_set(const struct bitmap *bm, void *leaf, uint64_t bit)
{
    unsigned i = (unsigned)((bit / 64) % LEAF_WORDS);
    _Atomic uint64_t *w = &((struct leaf *)leaf)->w[i];
    uint64_t m = 1ULL << (bit % 64);
    _Atomic uint64_t *sw = &((struct sleaf *)leaf)->wsum[i / 64];
    if (!bm->flat) /* its miss overlaps the word's (the RMW would serialise them) */
        PREFETCH_W(sw);
    int old = (atomic_load(w) & m) != 0;
    if (!old)
        old = (atomic_fetch_or(w, m) & m) != 0;
    if (!bm->flat)
        ensure_summary(sw, 1ULL << (i % 64));
    return old;
}

static inline int leaf_clear(struct bitmap *bm, void *leaf, uint64_t bit)
{
    _Atomic uint64_t *w = &((struct leaf *)leaf)->w[(bit / 64) % LEAF_WORDS];
    uint64_t m = 1ULL << (bit % 64);
    if (!(atomic_load_explicit(w, memory_order_relaxed) & m))
        return 0;
    uint64_t old = atomic_fetch_and(w, ~m);
    if (!(old & m))
        return 0;
    if (DL_UNLIKELY(old == m) && !bm->flat)
        clear_emptied_word(bm, leaf, bit);
    return 1;
}

/* The hot paths are written once for a root level L and instantiated with
 * L = 1, 2, 3 as constants, so that the compiler unrolls the descent for
 * the common map sizes; any uniform subtree on the way goes to the general
 * (slow) path. */
#if defined(__GNUC__) || defined(__clang__)
#define HOT static inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#else
#define HOT static inline
#define NOINLINE
#endif
/* One small function per level (each with its own minimal prologue), and
 * the entry point tail-calls the right one. */
#define INSTANTIATE(impl, T, B)                                                \
    static NOINLINE int impl##1(T bm, uint64_t bit) { return impl(B, bit, 1); } \
    static NOINLINE int impl##2(T bm, uint64_t bit) { return impl(B, bit, 2); } \
    static NOINLINE int impl##3(T bm, uint64_t bit) { return impl(B, bit, 3); } \
    static NOINLINE int impl##n(T bm, uint64_t bit) { return impl(B, bit, (bm)->level); }
#define DISPATCH(impl, bm, bit)                                                \
    switch ((bm)->level) {                                                     \
    case 1: return impl##1(bm, bit);                                           \
    case 2: return impl##2(bm, bit);                                           \
    case 3: return impl##3(bm, bit);                                           \
    default: return impl##n(bm, bit);                                          \
    }

/* The value of bit under a non-node child c of a level-l node. */
static inline int uniform_test(const void *c, unsigned l, uint64_t bit)
{
    return DL_UNLIKELY(is_cont(c)) ? cont_has(c, l, bit) : c == ONES;
}

HOT int test_impl(struct bitmap *bm, uint64_t bit, unsigned L)
{
    void *c = atomic_load_explicit(&bm->rchild[bit >> cshift(L)], memory_order_acquire);
    for (unsigned l = L - 1; l > 0; l--) {
        if (DL_UNLIKELY(!is_node(c)))
            return uniform_test(c, l + 1, bit);
        c = atomic_load_explicit(&((struct inode *)c)->child[(bit >> cshift(l)) % FAN],
                                 memory_order_acquire);
    }
    if (DL_UNLIKELY(!is_node(c)))
        return uniform_test(c, 1, bit);
    uint64_t v = atomic_load_explicit(&((struct leaf *)c)->w[(bit / 64) % LEAF_WORDS],
                                      memory_order_acquire);
    return (int)((v >> (bit % 64)) & 1);
}

/* (atomic_load wants a non-const pointer) */
INSTANTIATE(test_impl, const struct bitmap *, (struct bitmap *)bm)

int dl__bitmap_test(const struct bitmap *bm, uint64_t bit)
{
    DISPATCH(test_impl, bm, bit)
}

static COLD int set_slow(struct bitmap *bm, uint64_t bit)
{
    struct path p;
    void *c = walk(bm, bit, WALK_SET_BIT, &p);
    if (c == NOMEM)
        return -ENOMEM;
    if (!is_node(c)) { /* ONES, or a container holding bit: already 1, from
                        * the slot's own summary bit up */
        ensure_path(bm, &p, p.stop);
        return 1;
    }
    int old = leaf_set(bm, c, bit);
    ensure_path(bm, &p, 1);
    return old;
}

HOT int set_impl(struct bitmap *bm, uint64_t bit, unsigned L)
{
    _Atomic uint64_t *sw[MAX_LEVEL + 1];
    uint64_t sm[MAX_LEVEL + 1];
    uint64_t i = bit >> cshift(L);
    sw[L] = &bm->rsum[i / 64];
    sm[L] = 1ULL << (i % 64);
    void *c = atomic_load_explicit(&bm->rchild[i], memory_order_acquire);
    for (unsigned l = L - 1; l > 0; l--) {
        if (DL_UNLIKELY(!is_node(c)))
            return set_slow(bm, bit);
        struct inode *n = c;
        i = (bit >> cshift(l)) % FAN;
        sw[l] = &n->sum[i / 64];
        sm[l] = 1ULL << (i % 64);
        c = atomic_load_explicit(&n->child[i], memory_order_acquire);
    }
    if (DL_UNLIKELY(!is_node(c)))
        return set_slow(bm, bit);
    int old = leaf_set(bm, c, bit);
    for (unsigned l = 1; l <= L; l++) /* bottom-up */
        ensure_summary(sw[l], sm[l]);
    return old;
}

INSTANTIATE(set_impl, struct bitmap *, bm)

int dl__bitmap_set(struct bitmap *bm, uint64_t bit)
{
    DISPATCH(set_impl, bm, bit)
}

static COLD int clear_slow(struct bitmap *bm, uint64_t bit)
{
    struct path p;
    void *c = walk(bm, bit, WALK_CLEAR_BIT, &p);
    if (!is_node(c) || c == NOMEM) /* NULL, or a container lacking bit: already 0 */
        return c == NOMEM ? -ENOMEM : 0;
    return leaf_clear(bm, c, bit);
}

HOT int clear_impl(struct bitmap *bm, uint64_t bit, unsigned L)
{
    void *c = atomic_load_explicit(&bm->rchild[bit >> cshift(L)], memory_order_acquire);
    for (unsigned l = L - 1; l > 0; l--) {
        if (DL_UNLIKELY(!is_node(c)))
            return c == NULL ? 0 : clear_slow(bm, bit);
        c = atomic_load_explicit(&((struct inode *)c)->child[(bit >> cshift(l)) % FAN],
                                 memory_order_acquire);
    }
    if (DL_UNLIKELY(!is_node(c)))
        return c == NULL ? 0 : clear_slow(bm, bit);
    return leaf_clear(bm, c, bit);
}

INSTANTIATE(clear_impl, struct bitmap *, bm)

int dl__bitmap_clear(struct bitmap *bm, uint64_t bit)
{
    DISPATCH(clear_impl, bm, bit)
}

/* ---- ranges --------------------------------------------------------------- */

/* The first bit after the aligned span of 2^shift bits that holds bit. */
static inline uint64_t span_end(uint64_t bit, unsigned shift)
{
    return (bit | ((1ULL << shift) - 1)) + 1;
}

/* Where the uniform or leaf answer of walk() for bit stops holding, capped
 * at end. */
static inline uint64_t walked_span_end(const void *c, const struct path *p, uint64_t bit,
                                       uint64_t end)
{
    uint64_t e = span_end(bit, is_node(c) ? LEAF_SHIFT : cshift(p->stop));
    return e < end ? e : end;
}

/* Bits [first, end) of word w, as a mask. */
static inline uint64_t word_mask(uint64_t w, uint64_t first, uint64_t end)
{
    uint64_t base = w * 64;
    uint64_t lo = first > base ? first - base : 0;
    return dl__low_bits(end - base) & (~0ULL << lo);
}

int dl__bitmap_find_set_in(const struct bitmap *cbm, uint64_t first, uint64_t end,
                           uint64_t *found)
{
    struct bitmap *bm = (struct bitmap *)cbm; /* walk() in WALK_READ only loads */
    if (end > bm->nbits)
        end = bm->nbits;
    for (uint64_t b = first; b < end;) {
        struct path p;
        void *c = walk(bm, b, WALK_READ, &p);
        if (c == ONES) {
            *found = b;
            return 1;
        }
        uint64_t stop = walked_span_end(c, &p, b, end);
        if (is_cont(c)) {
            unsigned sh = cshift(p.stop);
            uint64_t f, base = span_base(b, sh);
            if (dl__cont_find_set(c, sh, b - base, &f) && base + f < stop) {
                *found = base + f;
                return 1;
            }
            c = NULL; /* nothing more in [b, stop) */
        }
        for (uint64_t w = b / 64; c && w * 64 < stop; w++) {
            uint64_t v = atomic_load_explicit(&((struct leaf *)c)->w[w % LEAF_WORDS],
                                              memory_order_acquire) & word_mask(w, b, stop);
            if (v) {
                *found = w * 64 + ctz64(v);
                return 1;
            }
        }
        b = stop;
    }
    return 0;
}

/* Set (or clear) bits [first, first + count): first materialise every leaf
 * the change needs, so that nothing can fail once a bit has changed; then one
 * RMW per word, skipped where the word already has the wanted bits, and (set)
 * the summaries bottom-up as dl__bitmap_set does for one bit. */
int dl__bitmap_reserve(struct bitmap *bm, uint64_t first, uint64_t count, int value)
{
    struct path p;
    for (uint64_t b = first; b < first + count; b = span_end(b, LEAF_SHIFT))
        if (walk(bm, b, value ? WALK_SET : WALK_CLEAR, &p) == NOMEM)
            return -ENOMEM;
    return 0;
}

static int change_range(struct bitmap *bm, uint64_t first, uint64_t count, bool set)
{
    uint64_t end = first + count;
    int mode = set ? WALK_SET : WALK_CLEAR;
    struct path p;
    if (dl__bitmap_reserve(bm, first, count, set) < 0)
        return -ENOMEM;
    for (uint64_t b = first; b < end;) {
        /* Materialised above, and only exclusive calls free nodes: this walk
         * allocates nothing; NULL/ONES here is already the wanted value. */
        void *c = walk(bm, b, mode, &p);
        if (c == NOMEM)
            return -ENOMEM;
        uint64_t stop = walked_span_end(c, &p, b, end);
        if (is_node(c)) {
            for (uint64_t w = b / 64; w * 64 < stop; w++) {
                _Atomic uint64_t *x = &((struct leaf *)c)->w[w % LEAF_WORDS];
                uint64_t m = word_mask(w, b, stop);
                unsigned i = (unsigned)(w % LEAF_WORDS);
                if (set) {
                    if ((atomic_load(x) & m) != m) /* seq_cst: see leaf_set */
                        atomic_fetch_or(x, m);
                    if (!bm->flat)
                        ensure_summary(&((struct sleaf *)c)->wsum[i / 64], 1ULL << (i % 64));
                } else if (atomic_load_explicit(x, memory_order_relaxed) & m) {
                    uint64_t old = atomic_fetch_and(x, ~m);
                    if ((old & m) && !(old & ~m) && !bm->flat)
                        clear_emptied_word(bm, c, w * 64);
                }
            }
            if (set)
                ensure_path(bm, &p, 1);
        } else if (set) {
            ensure_path(bm, &p, p.stop); /* ONES: as set_slow does */
        }
        b = stop;
    }
    return 0;
}

int dl__bitmap_set_range(struct bitmap *bm, uint64_t first, uint64_t count)
{
    return change_range(bm, first, count, true);
}

int dl__bitmap_clear_range(struct bitmap *bm, uint64_t first, uint64_t count)
{
    return change_range(bm, first, count, false);
}

/* ---- find_next_set ------------------------------------------------------ */

static inline void set_hit(struct hit *h, _Atomic(void *) *slot, uint64_t base, unsigned shift)
{
    h->slot = slot;
    h->base = base;
    h->shift = shift;
}

bool dl__bitmap_leaf_find_set(struct bitmap *bm, struct leaf *lf, uint64_t base, uint64_t from,
                          uint64_t *found)
{
    if (DL_UNLIKELY(bm->count_leaf_visits))
        atomic_fetch_add_explicit(&bm->leaf_visits, 1, memory_order_relaxed);
    unsigned first = (unsigned)((from - base) / 64);
    uint64_t m = ~0ULL << (from % 64);
    if (bm->flat) {
        for (unsigned i = first; i < LEAF_WORDS; i++, m = ~0ULL) {
            uint64_t v = atomic_load_explicit(&lf->w[i], memory_order_acquire) & m;
            if (DL_UNLIKELY(bm->count_leaf_visits))
                atomic_fetch_add_explicit(&bm->word_visits, 1, memory_order_relaxed);
            if (v) {
                /* stored bits >= nbits are 0, so this is < nbits */
                *found = base + 64 * (uint64_t)i + ctz64(v);
                return true;
            }
        }
        return false;
    }
    /* Sparse: the word of `from` first (the common case when iterating:
     * no summary load), then only the words the summary names, pruning
     * the stale ones (the summaries' protocol, one level down). */
    struct sleaf *sl = (struct sleaf *)lf;
    uint64_t v = atomic_load_explicit(&lf->w[first], memory_order_acquire) & m;
    if (DL_UNLIKELY(bm->count_leaf_visits))
        atomic_fetch_add_explicit(&bm->word_visits, 1, memory_order_relaxed);
    if (v) {
        *found = base + 64 * (uint64_t)first + ctz64(v);
        return true;
    }
    for (unsigned k = (first + 1) / 64; k < WSUM_WORDS; k++) {
        bool trusted;
        uint64_t sum = read_summary(&sl->pc, &sl->wsum[k], &trusted);
        uint64_t cand = trusted ? sum : ~0ULL;
        if (k == (first + 1) / 64)
            cand &= ~0ULL << ((first + 1) % 64);
        for (; cand; cand &= cand - 1) {
            unsigned i = k * 64 + ctz64(cand);
            v = atomic_load_explicit(&lf->w[i], memory_order_acquire);
            if (DL_UNLIKELY(bm->count_leaf_visits))
                atomic_fetch_add_explicit(&bm->word_visits, 1, memory_order_relaxed);
            if (v) {
                *found = base + 64 * (uint64_t)i + ctz64(v);
                return true;
            }
            if (sum >> (i % 64) & 1)
                prune_word(sl, i);
        }
    }
    return false;
}

/* First 1 in [from, nbits) below the level-l node (sum, child, n children)
 * whose first bit is base. */
static bool node_find_set(struct bitmap *bm, _Atomic uint64_t *sum, _Atomic(void *) *child,
                          unsigned n, unsigned l, uint64_t base, uint64_t from,
                          uint64_t *found, struct hit *h)
{
    unsigned sh = cshift(l);
    unsigned i = (unsigned)((from - base) >> sh);
    uint64_t last = (bm->nbits - 1 - base) >> sh; /* children wholly >= nbits are NULL */
    unsigned iend = last < n ? (unsigned)last + 1 : n;
    for (unsigned k = i / 64; k * 64 < iend; k++) {
        uint64_t cand = candidates(bm, sum, child, k, iend);
        if (k == i / 64)
            cand &= ~0ULL << (i % 64);
        for (; cand; cand &= cand - 1) {
            unsigned j = k * 64 + ctz64(cand);
            uint64_t cb = base + ((uint64_t)j << sh);
            uint64_t cf = from > cb ? from : cb;
            void *c = atomic_load_explicit(&child[j], memory_order_acquire);
            if (c == ONES) {
                *found = cf; /* < nbits: child j starts below nbits */
                set_hit(h, &child[j], cb, sh);
                return true;
            }
            if (is_cont(c)) {
                uint64_t f;
                if (dl__cont_find_set(c, sh, cf - cb, &f)) { /* < nbits: exact */
                    *found = cb + f;
                    set_hit(h, &child[j], cb, sh);
                    return true;
                }
            } else if (c) {
                struct inode *cn = c;
                if (l == 1 ? dl__bitmap_leaf_find_set(bm, c, cb, cf, found)
                           : node_find_set(bm, cn->sum, cn->child, FAN, l - 1, cb, cf, found, h)) {
                    if (l == 1)
                        set_hit(h, &child[j], cb, sh);
                    return true;
                }
            }
            /* Child j has no 1 at or after cf. If we searched all of it,
             * its summary bit is stale: prune it. */
            if (cf == cb)
                prune(bm, &sum[k], 1ULL << (j % 64), &child[j], l - 1);
        }
    }
    return false;
}

int dl__bitmap_find_next_set(const struct bitmap *cbm, uint64_t from, uint64_t *found)
{
    /* Pruning rewrites hint bits and counters only, never the set itself. */
    struct bitmap *bm = (struct bitmap *)cbm;
    if (from >= bm->nbits)
        return 0;
    struct hit h;
    return dl__bitmap_search_set(bm, from, found, &h);
}

bool dl__bitmap_search_set(struct bitmap *bm, uint64_t from, uint64_t *found, struct hit *h)
{
    return node_find_set(bm, bm->rsum, bm->rchild, bm->rfan, bm->level, 0, from, found, h);
}

void dl__bitmap_count_leaf_visits(struct bitmap *bm)
{
    atomic_store_explicit(&bm->leaf_visits, 0, memory_order_relaxed);
    atomic_store_explicit(&bm->root_searches, 0, memory_order_relaxed);
    atomic_store_explicit(&bm->word_visits, 0, memory_order_relaxed);
    bm->count_leaf_visits = true;
}

uint64_t dl__bitmap_leaf_visits(const struct bitmap *bm)
{
    return atomic_load_explicit(&bm->leaf_visits, memory_order_relaxed);
}

uint64_t dl__bitmap_root_searches(const struct bitmap *bm)
{
    return atomic_load_explicit(&bm->root_searches, memory_order_relaxed);
}

uint64_t dl__bitmap_word_visits(const struct bitmap *bm)
{
    return atomic_load_explicit(&bm->word_visits, memory_order_relaxed);
}

/* ---- find_next_clear ---------------------------------------------------- */

bool dl__bitmap_leaf_find_clear(struct leaf *lf, uint64_t base, uint64_t from, uint64_t nbits,
                            uint64_t *found)
{
    uint64_t m = ~0ULL << (from % 64);
    for (unsigned i = (unsigned)((from - base) / 64); i < LEAF_WORDS; i++, m = ~0ULL) {
        uint64_t wb = base + 64 * (uint64_t)i;
        if (wb >= nbits)
            return false;
        uint64_t v = ~atomic_load_explicit(&lf->w[i], memory_order_acquire) & m;
        if (v) {
            uint64_t b = wb + ctz64(v);
            if (b >= nbits)
                return false;
            *found = b;
            return true;
        }
    }
    return false;
}

static bool node_find_clear(const struct bitmap *bm, _Atomic(void *) *child, unsigned n,
                            unsigned l, uint64_t base, uint64_t from, uint64_t *found,
                            struct hit *h)
{
    unsigned sh = cshift(l);
    for (unsigned j = (unsigned)((from - base) >> sh); j < n; j++) {
        uint64_t cb = base + ((uint64_t)j << sh);
        if (cb >= bm->nbits)
            return false;
        uint64_t cf = from > cb ? from : cb;
        void *c = atomic_load_explicit(&child[j], memory_order_acquire);
        if (c == NULL) {
            *found = cf;
            set_hit(h, &child[j], cb, sh);
            return true;
        }
        if (c == ONES)
            continue;
        if (is_cont(c)) {
            uint64_t f, span = bm->nbits - cb < (1ULL << sh) ? bm->nbits - cb : 1ULL << sh;
            if (!dl__cont_find_clear(c, sh, cf - cb, span, &f))
                continue;
            *found = cb + f;
            set_hit(h, &child[j], cb, sh);
            return true;
        }
        if (l == 1 ? dl__bitmap_leaf_find_clear(c, cb, cf, bm->nbits, found)
                   : node_find_clear(bm, ((struct inode *)c)->child, FAN, l - 1, cb, cf, found, h)) {
            if (l == 1)
                set_hit(h, &child[j], cb, sh);
            return true;
        }
    }
    return false;
}

int dl__bitmap_find_next_clear(const struct bitmap *cbm, uint64_t from, uint64_t *found)
{
    struct bitmap *bm = (struct bitmap *)cbm;
    if (from >= bm->nbits)
        return 0;
    struct hit h;
    return dl__bitmap_search_clear(bm, from, found, &h);
}

bool dl__bitmap_search_clear(struct bitmap *bm, uint64_t from, uint64_t *found, struct hit *h)
{
    return node_find_clear(bm, bm->rchild, bm->rfan, bm->level, 0, from, found, h);
}

/* ---- whole-tree walks --------------------------------------------------- */

/* Set bits in the subtree c at level l starting at bit base. */
static uint64_t count_rec(const struct bitmap *bm, void *c, unsigned l, uint64_t base)
{
    if (c == NULL)
        return 0;
    if (c == ONES) {
        uint64_t span = 1ULL << cshift(l + 1); /* l <= 5: no overflow */
        return bm->nbits - base < span ? bm->nbits - base : span;
    }
    if (is_cont(c))
        return dl__cont_count(c, cshift(l + 1));
    uint64_t total = 0;
    if (l == 0) {
        struct leaf *lf = c;
        for (unsigned i = 0; i < LEAF_WORDS; i++)
            total += (uint64_t)__builtin_popcountll(
                atomic_load_explicit(&lf->w[i], memory_order_acquire));
        return total;
    }
    struct inode *n = c;
    for (unsigned j = 0; j < FAN; j++) {
        uint64_t cb = base + ((uint64_t)j << cshift(l));
        if (cb >= bm->nbits)
            break;
        total += count_rec(bm, atomic_load_explicit(&n->child[j], memory_order_acquire),
                           l - 1, cb);
    }
    return total;
}

uint64_t dl__bitmap_count(const struct bitmap *cbm)
{
    struct bitmap *bm = (struct bitmap *)cbm;
    uint64_t total = 0;
    for (unsigned j = 0; j < bm->rfan; j++)
        total += count_rec(bm, atomic_load_explicit(&bm->rchild[j], memory_order_acquire),
                           bm->level - 1, (uint64_t)j << cshift(bm->level));
    return total;
}

/* Free the subtree c at level l. Exclusive. */
static void free_rec(struct bitmap *bm, void *c, unsigned l)
{
    if (is_cont(c)) {
        atomic_fetch_sub_explicit(&bm->mem, dl__cont_bytes(c, cshift(l + 1)),
                                  memory_order_relaxed);
        dl__cont_free(c);
        return;
    }
    if (!is_node(c))
        return;
    if (l > 0) {
        struct inode *n = c;
        for (unsigned j = 0; j < FAN; j++)
            free_rec(bm, atomic_load_explicit(&n->child[j], memory_order_relaxed), l - 1);
    }
    free(c);
    atomic_fetch_sub_explicit(&bm->mem, node_size(l), memory_order_relaxed);
}

/* Flat mode: write every word in place (the leaves stay where they are). */
static void flat_fill(struct bitmap *bm, int value)
{
    for (unsigned j = 0; j < bm->rfan; j++)
        for (unsigned i = 0; i < LEAF_WORDS; i++) {
            uint64_t b = ((uint64_t)j << LEAF_SHIFT) + 64 * (uint64_t)i;
            atomic_store_explicit(&bm->flat[j].w[i], value ? valid_mask(bm, b) : 0,
                                  memory_order_relaxed);
        }
}

int dl__bitmap_fill(struct bitmap *bm, int value)
{
    bm->gen++;
    free_retired(bm);
    if (bm->flat)
        flat_fill(bm, value);
    for (unsigned j = 0; j < bm->rfan && !bm->flat; j++) {
        free_rec(bm, atomic_load_explicit(&bm->rchild[j], memory_order_relaxed), bm->level - 1);
        atomic_store_explicit(&bm->rchild[j], value ? ONES : NULL, memory_order_relaxed);
    }
    for (unsigned k = 0; k < ROOT_MAX_FAN / 64; k++) {
        uint64_t s = 0;
        if (value && k * 64 < bm->rfan)
            s = dl__low_bits(bm->rfan - k * 64);
        atomic_store_explicit(&bm->rsum[k], s, memory_order_relaxed);
    }
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

int dl__bitmap_create(struct bitmap **out, uint64_t nbits, int initial_value)
{
    if (!out || nbits == 0 || nbits > (1ULL << 63))
        return -EINVAL;
    unsigned l = 1;
    while (((nbits - 1) >> cshift(l)) >= ROOT_MAX_FAN)
        l++;
    unsigned fan = (unsigned)((nbits - 1) >> cshift(l)) + 1;
    size_t size = offsetof(struct bitmap, rchild) + fan * sizeof(_Atomic(void *));
    size = (size + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
    struct bitmap *bm = aligned_alloc(64, size);
    if (!bm)
        return -ENOMEM;
    bm->nbits = nbits;
    bm->flat = NULL;
    bm->level = l;
    bm->rfan = fan;
    bm->count_leaf_visits = false;
    bm->gen = 0;
    atomic_init(&bm->leaf_visits, 0);
    atomic_init(&bm->root_searches, 0);
    atomic_init(&bm->word_visits, 0);
    atomic_init(&bm->mem, size);
    atomic_init(&bm->retired, NULL);
    atomic_init(&bm->pc.started, 0);
    atomic_init(&bm->pc.finished, 0);
    for (unsigned k = 0; k < ROOT_MAX_FAN / 64; k++)
        atomic_init(&bm->rsum[k], 0);
    for (unsigned j = 0; j < fan; j++)
        atomic_init(&bm->rchild[j], NULL);
    dl__bitmap_fill(bm, initial_value);
    *out = bm;
    return 0;
}

/* Bytes of flat words held by the whole process (DL__BITMAP_FLAT_BUDGET). */
static _Atomic uint64_t flat_bytes_in_use;

static bool take_flat_budget(uint64_t bytes)
{
    uint64_t used = atomic_load(&flat_bytes_in_use);
    do {
        if (bytes > DL__BITMAP_FLAT_BUDGET - used)
            return false;
    } while (!atomic_compare_exchange_weak(&flat_bytes_in_use, &used, used + bytes));
    return true;
}

static size_t flat_bytes(const struct bitmap *bm)
{
    return bm->rfan * sizeof(struct leaf);
}

int dl__bitmap_create_flat(struct bitmap **out, uint64_t nbits, int initial_value)
{
    /* Root -> leaf only: nothing but the root's pointers above the leaves. */
    if (!out || nbits == 0 || nbits > DL__BITMAP_FLAT_MAX_BITS ||
        nbits > (uint64_t)ROOT_MAX_FAN << LEAF_SHIFT)
        return -EINVAL;
    struct bitmap *bm;
    int r = dl__bitmap_create(&bm, nbits, 0);
    if (r < 0)
        return r;
    size_t bytes = flat_bytes(bm);
    if (!take_flat_budget(bytes)) {
        dl__bitmap_destroy(bm);
        return -ENOSPC;
    }
    bm->flat = aligned_alloc(64, bytes); /* a multiple of 64: whole leaves */
    if (!bm->flat) {
        atomic_fetch_sub(&flat_bytes_in_use, bytes);
        dl__bitmap_destroy(bm);
        return -ENOMEM;
    }
    atomic_fetch_add_explicit(&bm->mem, bytes, memory_order_relaxed);
    for (unsigned j = 0; j < bm->rfan; j++) {
        for (unsigned i = 0; i < LEAF_WORDS; i++)
            atomic_init(&bm->flat[j].w[i], 0);
        atomic_init(&bm->rchild[j], &bm->flat[j]);
    }
    dl__bitmap_fill(bm, initial_value);
    *out = bm;
    return 0;
}

int dl__bitmap_create_prefer_flat(struct bitmap **out, uint64_t nbits, int initial_value)
{
    int r = nbits <= DL__BITMAP_FLAT_MAX_BITS ? dl__bitmap_create_flat(out, nbits, initial_value)
                                              : -EINVAL;
    return r == -EINVAL || r == -ENOSPC ? dl__bitmap_create(out, nbits, initial_value) : r;
}

const _Atomic uint64_t *dl__bitmap_flat_words(const struct bitmap *bm)
{
    return bm->flat ? bm->flat[0].w : NULL;
}

void dl__bitmap_get_flat_bits(struct bitmap *bm, struct dl__flat_bits *out)
{
    /* Flat maps are level 1 (dl__bitmap_create_flat): the leaf's summary
     * bit is in the root, and bit b lives in leaf b >> LEAF_SHIFT. */
    out->words = bm->flat ? bm->flat[0].w : NULL;
    out->rsum = bm->rsum;
    out->leaf_shift = LEAF_SHIFT;
}

void dl__bitmap_destroy(struct bitmap *bm)
{
    if (!bm)
        return;
    dl__bitmap_fill(bm, 0);
    if (bm->flat)
        atomic_fetch_sub(&flat_bytes_in_use, flat_bytes(bm));
    free(bm->flat);
    free(bm);
}

uint64_t dl__bitmap_size(const struct bitmap *bm)
{
    return bm->nbits;
}

size_t dl__bitmap_memory(const struct bitmap *bm)
{
    return atomic_load_explicit(&((struct bitmap *)bm)->mem, memory_order_relaxed);
}

/* ---- bulk word access --------------------------------------------------- */

/* Number of words holding bits < nbits, and how many of [first, first+n)
 * are among them. */
static size_t words_in_range(const struct bitmap *bm, uint64_t first, size_t n)
{
    uint64_t total = (bm->nbits + 63) / 64;
    if (first >= total)
        return 0;
    return total - first < n ? (size_t)(total - first) : n;
}

void dl__bitmap_read_words(const struct bitmap *cbm, uint64_t first, size_t nwords, uint64_t *out)
{
    struct bitmap *bm = (struct bitmap *)cbm;
    size_t nin = words_in_range(bm, first, nwords);
    for (size_t k = 0; k < nin;) {
        uint64_t w = first + k;
        struct path p;
        void *c = walk(bm, w * 64, WALK_READ, &p);
        unsigned wi = (unsigned)(w % LEAF_WORDS);
        size_t cnt = LEAF_WORDS - wi < nin - k ? LEAF_WORDS - wi : nin - k;
        if (is_cont(c)) {
            unsigned sh = cshift(p.stop);
            memset(out + k, 0, cnt * sizeof *out);
            dl__cont_or_words(c, sh, span_off(w * 64, sh) / 64, cnt, out + k);
            k += cnt;
            continue;
        }
        for (size_t j = 0; j < cnt; j++) {
            uint64_t v = c == ONES ? valid_mask(bm, (w + j) * 64) : 0;
            if (is_node(c))
                v = atomic_load_explicit(&((struct leaf *)c)->w[wi + j], memory_order_acquire);
            out[k + j] = v;
        }
        k += cnt;
    }
    if (nwords > nin)
        memset(out + nin, 0, (nwords - nin) * sizeof *out);
}

/* The slot holding the leaf for bit, materialising interior nodes (not the
 * leaf) on the way; p gets the summary words of the path. Exclusive. */
static _Atomic(void *) *leaf_slot(struct bitmap *bm, uint64_t bit, struct path *p)
{
    unsigned l = bm->level;
    uint64_t i = bit >> cshift(l);
    _Atomic(void *) *slot = &bm->rchild[i];
    p->sum[l] = &bm->rsum[i / 64];
    p->mask[l] = 1ULL << (i % 64);
    while (l > 1) {
        void *c = atomic_load_explicit(slot, memory_order_relaxed);
        if (!is_node(c)) {
            c = make_node(bm, slot, c, l - 1, span_base(bit, cshift(l)));
            if (c == NOMEM)
                return NULL;
        }
        l--;
        i = (bit >> cshift(l)) % FAN;
        struct inode *n = c;
        p->sum[l] = &n->sum[i / 64];
        p->mask[l] = 1ULL << (i % 64);
        slot = &n->child[i];
    }
    return slot;
}

/* Make a sparse leaf's word summary exact. Exclusive. */
static void leaf_exact_summary(struct sleaf *lf)
{
    for (unsigned k = 0; k < WSUM_WORDS; k++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < 64; i++)
            if (atomic_load_explicit(&lf->l.w[k * 64 + i], memory_order_relaxed))
                sum |= 1ULL << i;
        atomic_store_explicit(&lf->wsum[k], sum, memory_order_relaxed);
    }
}

/* Overwrite words [wi, wi+cnt) of the leaf starting at bit lbase. */
static int write_leaf(struct bitmap *bm, uint64_t lbase, unsigned wi, size_t cnt,
                      const uint64_t *in)
{
    struct path p;
    void *cur = walk(bm, lbase, WALK_READ, &p);
    uint64_t nw[LEAF_WORDS], cw[LEAF_WORDS] = {0};
    bool zero = true, ones = true;
    if (is_cont(cur))
        dl__cont_or_words(cur, cshift(p.stop), span_off(lbase, cshift(p.stop)) / 64, LEAF_WORDS,
                          cw);
    for (unsigned i = 0; i < LEAF_WORDS; i++) {
        uint64_t valid = valid_mask(bm, lbase + 64 * (uint64_t)i);
        uint64_t v = cur == ONES ? valid : cw[i];
        if (i >= wi && i < wi + cnt)
            v = in[i - wi] & valid;
        else if (is_node(cur))
            v = atomic_load_explicit(&((struct leaf *)cur)->w[i], memory_order_relaxed);
        nw[i] = v;
        zero &= v == 0;
        ones &= v == valid;
    }
    if (bm->flat) { /* in place; the leaf's summary bit made exact */
        for (unsigned i = 0; i < LEAF_WORDS; i++)
            atomic_store_explicit(&((struct leaf *)cur)->w[i], nw[i], memory_order_relaxed);
        if (zero)
            atomic_fetch_and(p.sum[1], ~p.mask[1]);
        else
            ensure_path(bm, &p, 1);
        return 0;
    }
    void *target = ones ? ONES : NULL; /* used when zero || ones */
    if ((zero || ones) && cur == target)
        return 0; /* already that uniform value, at whatever level */
    _Atomic(void *) *slot = leaf_slot(bm, lbase, &p);
    if (!slot)
        return -ENOMEM;
    void *old = atomic_load_explicit(slot, memory_order_relaxed);
    if (zero || ones) {
        free_rec(bm, old, 0);
        atomic_store_explicit(slot, target, memory_order_relaxed);
    } else {
        struct sleaf *lf = old;
        if (!is_node(old)) {
            lf = node_new(bm, 0, lbase, false);
            if (!lf)
                return -ENOMEM;
            atomic_fetch_add_explicit(&bm->mem, node_size(0), memory_order_relaxed);
            free_rec(bm, old, 0); /* a container: its bits are in nw */
        }
        for (unsigned i = 0; i < LEAF_WORDS; i++)
            atomic_store_explicit(&lf->l.w[i], nw[i], memory_order_relaxed);
        leaf_exact_summary(lf);
        atomic_store_explicit(slot, lf, memory_order_relaxed);
    }
    /* The leaf's own summary bit is exact; ancestors get it set when the leaf
     * is non-empty, and write_collapse clears the ones that became empty. */
    if (zero)
        atomic_fetch_and(p.sum[1], ~p.mask[1]);
    else
        ensure_path(bm, &p, 1);
    return 0;
}

/* After a write to bits [lo, hi): below the level-l node (sum, child, n)
 * starting at base, turn nodes whose children are all NULL (all ONES) into
 * NULL (ONES), and make the summary bits of the touched children exact
 * (child != NULL). collapse_rec returns the node, or NULL/ONES after
 * freeing it when it became uniform. */
struct scratch;
static void *collapse_rec(struct bitmap *bm, void *c, unsigned l, uint64_t base, uint64_t lo,
                          uint64_t hi, struct scratch *s);
static void *containerise(struct bitmap *bm, void *c, unsigned l, uint64_t base,
                          struct scratch *s);

/* A sparse leaf at base that is all 0 (all 1) becomes NULL (ONES), freed;
 * otherwise its word summary is made exact. */
static void *collapse_leaf(struct bitmap *bm, struct sleaf *lf, uint64_t base)
{
    bool zero = true, ones = true;
    for (unsigned i = 0; i < LEAF_WORDS && (zero || ones); i++) {
        uint64_t v = atomic_load_explicit(&lf->l.w[i], memory_order_relaxed);
        zero &= v == 0;
        ones &= v == valid_mask(bm, base + 64 * (uint64_t)i);
    }
    if (!zero && !ones) {
        leaf_exact_summary(lf);
        return lf;
    }
    free(lf);
    atomic_fetch_sub_explicit(&bm->mem, node_size(0), memory_order_relaxed);
    return zero ? NULL : ONES;
}

static void collapse_children(struct bitmap *bm, _Atomic uint64_t *sum, _Atomic(void *) *child,
                              unsigned n, unsigned l, uint64_t base, uint64_t lo, uint64_t hi,
                              struct scratch *s)
{
    unsigned sh = cshift(l);
    uint64_t first = lo > base ? (lo - base) >> sh : 0;
    uint64_t last = (hi - 1 - base) >> sh;
    for (uint64_t j = first; j < n && j <= last; j++) {
        uint64_t cb = base + (j << sh);
        if (cb >= bm->nbits)
            break;
        void *c = atomic_load_explicit(&child[j], memory_order_relaxed);
        if (is_node(c)) {
            c = l > 1 ? collapse_rec(bm, c, l - 1, cb, lo, hi, s) : collapse_leaf(bm, c, cb);
            c = containerise(bm, c, l - 1, cb, s);
            atomic_store_explicit(&child[j], c, memory_order_relaxed);
        }
        uint64_t m = 1ULL << (j % 64);
        if (c)
            atomic_fetch_or_explicit(&sum[j / 64], m, memory_order_relaxed);
        else
            atomic_fetch_and_explicit(&sum[j / 64], ~m, memory_order_relaxed);
    }
}

static void *collapse_rec(struct bitmap *bm, void *c, unsigned l, uint64_t base, uint64_t lo,
                          uint64_t hi, struct scratch *s)
{
    struct inode *n = c;
    collapse_children(bm, n->sum, n->child, FAN, l, base, lo, hi, s);
    bool zero = true, ones = true;
    for (unsigned j = 0; j < FAN && (zero || ones); j++) {
        void *x = atomic_load_explicit(&n->child[j], memory_order_relaxed);
        bool in = base + ((uint64_t)j << cshift(l)) < bm->nbits;
        zero &= x == NULL;
        ones &= x == (in ? ONES : NULL);
    }
    if (!zero && !ones)
        return c;
    free(n);
    atomic_fetch_sub_explicit(&bm->mem, node_size(l), memory_order_relaxed);
    return zero ? NULL : ONES;
}

int dl__bitmap_write_words(struct bitmap *bm, uint64_t first, size_t nwords, const uint64_t *in)
{
    size_t nin = words_in_range(bm, first, nwords);
    int err = 0;
    bm->gen++;
    size_t k = 0;
    while (k < nin && !err) {
        uint64_t w = first + k;
        unsigned wi = (unsigned)(w % LEAF_WORDS);
        size_t cnt = LEAF_WORDS - wi < nin - k ? LEAF_WORDS - wi : nin - k;
        err = write_leaf(bm, (w - wi) * 64, wi, cnt, in + k);
        if (!err)
            k += cnt;
    }
    if (k && !bm->flat) /* also after an error: keep the tree tidy and the summaries exact */
        collapse_children(bm, bm->rsum, bm->rchild, bm->rfan, bm->level, 0, first * 64,
                          (first + k) * 64, NULL);
    free_retired(bm); /* expanded by leaf_slot */
    return err;
}

/* ---- compaction into containers (exclusive) -------------------------------- */

/* The most runs a container made by compaction holds: past it a leaf stays
 * a 4 KiB bitmap (an ARRAY of 2,250 15-bit values is as large), and a node
 * stays a node (so that an expansion costs a bounded amount of work). */
#define CONT_MAX_RUNS 2304

/* The runs gathered so far, ascending, offsets from the container's base. */
struct scratch {
    struct run *runs;
    size_t n;
    uint64_t card;
};

/* Append run [first, end) (offsets), merging it with an adjacent last one.
 * False when there are too many runs. */
static bool add_run(struct scratch *s, uint64_t first, uint64_t end)
{
    if (s->n && s->runs[s->n - 1].end == first) {
        s->runs[s->n - 1].end = end;
    } else {
        if (s->n == CONT_MAX_RUNS)
            return false;
        s->runs[s->n].first = first;
        s->runs[s->n].end = end;
        s->n++;
    }
    s->card += end - first;
    return true;
}

/* Gather the runs of the subtree c at level l, first bit base, as offsets
 * from origin. False when there are too many. */
static bool gather(const struct bitmap *bm, void *c, unsigned l, uint64_t base, uint64_t origin,
                   struct scratch *s)
{
    if (c == NULL)
        return true;
    uint64_t span = 1ULL << cshift(l + 1);
    if (c == ONES)
        return add_run(s, base - origin,
                       (bm->nbits - base < span ? bm->nbits : base + span) - origin);
    if (is_cont(c)) {
        size_t max = dl__cont_max_runs(c);
        struct run *tmp = malloc(max * sizeof *tmp);
        bool ok = tmp != NULL;
        size_t n = ok ? dl__cont_runs(c, cshift(l + 1), 0, span, tmp) : 0;
        for (size_t r = 0; ok && r < n; r++)
            ok = add_run(s, base - origin + tmp[r].first, base - origin + tmp[r].end);
        free(tmp);
        return ok;
    }
    if (l == 0) {
        struct leaf *lf = c;
        for (unsigned i = 0; i < LEAF_WORDS; i++) {
            uint64_t v = atomic_load_explicit(&lf->w[i], memory_order_relaxed);
            uint64_t wb = base + 64 * (uint64_t)i - origin;
            while (v) {
                unsigned b = ctz64(v);
                uint64_t rest = ~(v >> b); /* the run of ones from b */
                unsigned len = rest ? ctz64(rest) : 64 - b;
                if (!add_run(s, wb + b, wb + b + len))
                    return false;
                v = len + b >= 64 ? 0 : v & (~0ULL << (b + len));
            }
        }
        return true;
    }
    struct inode *n = c;
    for (unsigned j = 0; j < FAN; j++) {
        uint64_t cb = base + ((uint64_t)j << cshift(l));
        if (cb >= bm->nbits)
            break;
        if (!gather(bm, atomic_load_explicit(&n->child[j], memory_order_relaxed), l - 1, cb,
                    origin, s))
            return false;
    }
    return true;
}

/* Bytes allocated for the subtree c at level l. */
static size_t subtree_bytes(void *c, unsigned l)
{
    if (is_cont(c))
        return dl__cont_bytes(c, cshift(l + 1));
    if (!is_node(c))
        return 0;
    size_t total = node_size(l);
    for (unsigned j = 0; l > 0 && j < FAN; j++)
        total += subtree_bytes(atomic_load_explicit(&((struct inode *)c)->child[j],
                                                    memory_order_relaxed),
                               l - 1);
    return total;
}

/* The subtree c at level l (first bit base), already collapsed, as a
 * container when that takes less memory (malloc's header counted);
 * otherwise c. With s NULL (not compacting), c. */
static void *containerise(struct bitmap *bm, void *c, unsigned l, uint64_t base,
                          struct scratch *s)
{
    if (!s || !is_node(c))
        return c;
    s->n = 0;
    s->card = 0;
    if (!gather(bm, c, l, base, base, s) || s->card == 0)
        return c;
    unsigned w = cshift(l + 1);
    if (dl__cont_size_for(s->n, s->card, w) + 2 * sizeof(size_t) >= subtree_bytes(c, l))
        return c;
    size_t bytes;
    void *k = dl__cont_build(s->runs, s->n, s->card, w, &bytes);
    if (!k)
        return c; /* out of memory: the subtree stays as it is */
    free_rec(bm, c, l);
    atomic_fetch_add_explicit(&bm->mem, bytes, memory_order_relaxed);
    return k;
}

void dl__bitmap_compact(struct bitmap *bm)
{
    free_retired(bm);
    if (bm->flat)
        return; /* flat leaves stay where they are */
    bm->gen++;
    struct scratch s = {malloc(CONT_MAX_RUNS * sizeof(struct run)), 0, 0};
    /* Without the scratch (out of memory) it only collapses. */
    collapse_children(bm, bm->rsum, bm->rchild, bm->rfan, bm->level, 0, 0, bm->nbits,
                      s.runs ? &s : NULL);
    free(s.runs);
}

void dl__bitmap_reclaim(struct bitmap *bm)
{
    /* Retired containers may still be read by a concurrent call until the
     * next exclusive one, which frees them (bitmap.c's top comment). */
    (void)bm;
}
