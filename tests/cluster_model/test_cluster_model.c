/* The cluster state machine with the fake group (fake_group.h): members
 * mark, clear, flush and resync in random interleavings while members crash,
 * join with a checkpoint, partition and merge. At every quiet point: the
 * replicas of a partition are identical, every acknowledged mark is dirty on
 * every member, a departed member's marks are dirty and out of sync until
 * resynced, and a region is never handed to two live members at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "fake_group.h"

TEST_MAIN_DEFINITIONS

/* A check whose failure needs a word of context: true when it failed. */
#define FAILED(cond) (!(cond) && (check_true_(0, "CHECK", __FILE__, __LINE__, #cond), 1))

#define R 96 /* regions */

/* One member's client, as the glue (cluster_type.c) would drive it. */
struct client {
    unsigned char pend_mark[R], pend_clear[R];
    unsigned char acked[R]; /* an acknowledged mark not yet cleared */
    struct inflight {
        uint64_t seq;
        unsigned char mark[R], clear[R];
    } fl[64];
    unsigned nfl;
    uint64_t holding; /* a region handed out for resync, +1; 0 none */
};

static struct fake_group G;
static struct client C[FG_MAX + 1]; /* by member id */
static unsigned char lost[R];       /* a crashed member's acknowledged marks */
static unsigned handed_to_dead[R];
static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng_state >> 33) % n);
}

static void flush(struct fg_member *m)
{
    struct client *c = &C[m->id];
    if (c->nfl == 64 || !m->st.have_state) /* a member with a replica may send during a round */
        return;
    uint64_t marks[R], clears[R];
    uint32_t nm = 0, nc = 0;
    struct inflight *f = &c->fl[c->nfl];
    memset(f, 0, sizeof *f);
    for (unsigned r = 0; r < R; r++) {
        if (c->pend_mark[r])
            marks[nm++] = r, f->mark[r] = 1;
        if (c->pend_clear[r])
            clears[nc++] = r, f->clear[r] = 1;
    }
    uint8_t buf[16 + 8 + 8 * 2 * R];
    f->seq = cls_next_seq(&m->st);
    size_t len = clm_encode_flush(buf, f->seq, marks, nm, clears, nc);
    if (m->st.ops.send(m->st.arg, buf, len) == 0) {
        c->nfl++;
        memset(c->pend_mark, 0, R);
        memset(c->pend_clear, 0, R);
    }
}

/* Flushes whose message was applied (and, disk, made durable) are acknowledged. */
static void acknowledge(struct fg_member *m)
{
    struct client *c = &C[m->id];
    unsigned done = 0;
    while (done < c->nfl) {
        const struct fg_applied *a = fg_applied_of(m, c->fl[done].seq);
        if (!a || (G.disk && m->durable < a->index))
            break;
        for (unsigned r = 0; r < R; r++) {
            if (c->fl[done].mark[r])
                c->acked[r] = 1;
            if (c->fl[done].clear[r])
                c->acked[r] = 0;
        }
        done++;
    }
    memmove(c->fl, c->fl + done, (c->nfl - done) * sizeof c->fl[0]);
    c->nfl -= done;
}

static void send_simple(struct fg_member *m, int set_sync, uint64_t region, uint64_t *seq)
{
    uint8_t buf[CLM_SET_SYNC_SIZE];
    *seq = cls_next_seq(&m->st);
    size_t len = set_sync ? clm_encode_set_sync(buf, *seq, region, 1)
                          : clm_encode_request_work(buf, *seq);
    CHECK_EQ(m->st.ops.send(m->st.arg, buf, len), 0);
}

/* Ask for resync work, wait for the answer (drains the partition). */
static int request_work(struct fg_member *m, uint64_t *region)
{
    uint64_t seq;
    send_simple(m, 0, 0, &seq);
    while (fg_step(&G, m->part))
        ;
    const struct fg_applied *a = fg_applied_of(m, seq);
    if (!a)
        return -1; /* lost in a membership change */
    /* The writer reports every change durable, a hand-out too (the glue's
     * next flush waits for the index of this node's latest message). */
    if (G.disk && cls_ready(&m->st))
        CHECK(m->durable >= a->index);
    *region = a->region;
    return a->found;
}

static unsigned alive_in(int part, struct fg_member **out)
{
    unsigned n = 0;
    for (unsigned i = 0; i < G.n; i++)
        if (G.m[i].alive && G.m[i].part == part)
            out[n++] = &G.m[i];
    return n;
}

/* The invariants at a quiet point (nothing queued). */
static int check_quiet(const char *when)
{
    for (unsigned i = 0; i < G.n; i++)
        if (G.m[i].alive)
            acknowledge(&G.m[i]);
    for (int part = 0; part < 2; part++) {
        struct fg_member *ms[FG_MAX];
        unsigned n = alive_in(part, ms);
        if (n == 0)
            continue;
        uint8_t *first = NULL;
        size_t first_len = 0;
        for (unsigned i = 0; i < n; i++) {
            if (FAILED(cls_ready(&ms[i]->st))) {
                fprintf(stderr, "  %s: member %u not ready\n", when, ms[i]->id);
                continue;
            }
            uint8_t *b;
            size_t len;
            REQUIRE_EQ(cls_replica_encode(&ms[i]->st.rep, 0, &b, &len), 0);
            if (!first) {
                first = b;
                first_len = len;
                continue;
            }
            if (FAILED(len == first_len && memcmp(b, first, len) == 0))
                fprintf(stderr, "  %s: replica of member %u differs from member %u's\n", when,
                        ms[i]->id, ms[0]->id);
            free(b);
        }
        free(first);
        /* Every acknowledged mark of a member of this partition is dirty on
         * every member of it; a resync hand-out is out of sync. */
        for (unsigned i = 0; i < n; i++)
            for (unsigned r = 0; r < R; r++) {
                int acked = C[ms[i]->id].acked[r];
                for (unsigned j = 0; acked && j < n; j++)
                    if (FAILED((cls_is_clean(&ms[j]->st, r)) == (0)))
                        fprintf(stderr, "  %s: member %u's acknowledged mark of %u is clean on %u\n",
                                when, ms[i]->id, r, ms[j]->id);
            }
    }
    return 0;
}

/* Departed members' acknowledged marks: dirty and out of sync on every
 * member of part until a member resynced them. */
static void check_lost(int part, const char *when)
{
    struct fg_member *ms[FG_MAX];
    unsigned n = alive_in(part, ms);
    for (unsigned r = 0; r < R; r++)
        for (unsigned j = 0; lost[r] && j < n; j++)
            if (FAILED(!cls_is_clean(&ms[j]->st, r) && !cls_in_sync(&ms[j]->st, r)))
                fprintf(stderr, "  %s: region %u of a departed member is clean (%d) or in sync (%d) on %u\n",
                        when, r, cls_is_clean(&ms[j]->st, r), cls_in_sync(&ms[j]->st, r), ms[j]->id),
                fprintf(stderr, "  ready %d rounds %lu orphans %lu/%lu\n", cls_ready(&ms[j]->st), (unsigned long)ms[j]->st.rounds, (unsigned long)cls_dirty_count(&ms[j]->st, 0), (unsigned long)cls_dirty_count(&ms[0]->st, 0));
}

static void crash(struct fg_member *m, int drop_last)
{
    struct client *c = &C[m->id];
    acknowledge(m);
    /* A clear already sent may have been applied: no longer owed. */
    for (unsigned r = 0; r < R; r++) {
        int clearing = 0;
        for (unsigned f = 0; f < c->nfl; f++)
            clearing |= c->fl[f].clear[r];
        lost[r] |= c->acked[r] && !clearing;
    }
    /* A flush that was never acknowledged may still have been applied: its
     * marks are then orphans too (nothing to check for them). */
    memset(c, 0, sizeof *c);
    fg_crash(&G, m->id, drop_last);
    /* The last member holding a replica died before any other got one: a
     * clustered_core log's state is gone with it (like a core log's in a
     * restart); the survivors start from their own constructor. */
    int kept = 0;
    for (unsigned i = 0; i < G.n; i++)
        kept |= G.m[i].alive && G.m[i].st.have_state;
    if (!kept)
        memset(lost, 0, sizeof lost);
}

/* Resync every region of part's replica; each departed mark exactly once. */
static int resync_all(int part, const char *when)
{
    struct fg_member *ms[FG_MAX];
    unsigned n = alive_in(part, ms);
    unsigned handed[R] = {0};
    for (unsigned k = 0; k < 4 * R; k++) {
        struct fg_member *m = ms[k % n];
        uint64_t region, seq;
        int found = request_work(m, &region);
        if (found <= 0)
            break;
        REQUIRE(region < R);
        handed[region]++;
        CHECK_EQ(cls_recovering(&ms[(k + 1) % n]->st, region), (long long)m->id);
        CHECK_EQ(cls_in_sync(&m->st, region), 0);
        send_simple(m, 1, region, &seq);
        while (fg_step(&G, part))
            ;
        CHECK_EQ(cls_in_sync(&m->st, region), 1);
        lost[region] = 0;
    }
    for (unsigned r = 0; r < R; r++) {
        if (FAILED(handed[r] <= 1))
            fprintf(stderr, "  %s: region %u handed out %u times\n", when, r, handed[r]);
        CHECK_EQ(lost[r], 0);
        CHECK_EQ(cls_in_sync(&ms[0]->st, r), 1);
    }
    return 0;
}

static void setup(int disk, size_t max_msg, unsigned members)
{
    fg_fini(&G);
    memset(C, 0, sizeof C);
    memset(lost, 0, sizeof lost);
    memset(handed_to_dead, 0, sizeof handed_to_dead);
    fg_init(&G, R, disk, max_msg);
    for (uint32_t id = 1; id <= members; id++)
        fg_join(&G, id, 0, 1);
    fg_drain(&G);
}

static void mark_some(struct fg_member *m, unsigned from, unsigned n)
{
    for (unsigned r = from; r < from + n && r < R; r++)
        if (!C[m->id].acked[r]) {
            C[m->id].pend_mark[r] = 1;
            C[m->id].pend_clear[r] = 0;
        }
}

static void clear_all(struct fg_member *m)
{
    for (unsigned r = 0; r < R; r++)
        if (C[m->id].acked[r] && !C[m->id].pend_mark[r])
            C[m->id].pend_clear[r] = 1;
}

/* ---- scenarios ---------------------------------------------------------- */

static int test_basic(int disk)
{
    setup(disk, 1024, 3);
    struct fg_member *m1 = fg_member(&G, 1), *m2 = fg_member(&G, 2), *m3 = fg_member(&G, 3);
    REQUIRE(cls_ready(&m1->st) && cls_ready(&m2->st) && cls_ready(&m3->st));
    CHECK_EQ(cls_writer(&m2->st), 1);
    CHECK_U64(cls_sync_count(&m1->st), 0); /* a new core log: out of sync */
    mark_some(m1, 0, 10);
    mark_some(m2, 5, 10); /* overlapping */
    mark_some(m3, 40, 3); /* disjoint */
    flush(m1);
    flush(m2);
    flush(m3);
    fg_drain(&G);
    check_quiet("basic: after flushes");
    CHECK_EQ(C[1].acked[0] && C[2].acked[14] && C[3].acked[42], 1);
    if (disk)
        CHECK(m1->persists > 0 && m2->persists == 0); /* only the writer writes */
    /* Member 1 clears: 5..9 stay dirty (member 2 has them), 0..4 go clean. */
    clear_all(m1);
    flush(m1);
    fg_drain(&G);
    check_quiet("basic: after member 1's clears");
    for (unsigned i = 0; i < G.n; i++) {
        CHECK_EQ(cls_is_clean(&G.m[i].st, 3), 1);
        CHECK_EQ(cls_is_clean(&G.m[i].st, 7), 0);
    }
    clear_all(m2);
    clear_all(m3);
    flush(m2);
    flush(m3);
    fg_drain(&G);
    check_quiet("basic: after all clears");
    for (unsigned i = 0; i < G.n; i++)
        for (unsigned r = 0; r < R; r++)
            CHECK_EQ(cls_is_clean(&G.m[i].st, r), 1);
    return 0;
}

/* A member crashes with marks; survivors see them dirty and out of sync;
 * resync hands each out once; then a member joins and gets the state. */
static int test_crash_and_join(int disk, int drop_last)
{
    setup(disk, 1024, 3);
    struct fg_member *m2 = fg_member(&G, 2), *m3 = fg_member(&G, 3);
    /* Everything in sync first, so that only the crash makes regions out of sync. */
    resync_all(0, "crash: initial resync");
    mark_some(m2, 10, 20);
    mark_some(m3, 25, 10);
    flush(m2);
    flush(m3);
    fg_drain(&G);
    check_quiet("crash: before");
    mark_some(m2, 60, 5); /* in flight when it dies */
    flush(m2);
    crash(fg_member(&G, 2), drop_last);
    fg_drain(&G);
    check_quiet("crash: after");
    check_lost(0, "crash: after");
    for (unsigned r = 10; r < 30; r++)
        CHECK_EQ(cls_in_sync(&fg_member(&G, 1)->st, r), 0);
    CHECK_EQ(cls_in_sync(&fg_member(&G, 1)->st, 40), 1);
    /* A new member joins: it is not ready until the checkpoint came. */
    REQUIRE_EQ(fg_join(&G, 4, 0, 1), 0);
    CHECK_EQ(cls_ready(&fg_member(&G, 4)->st), 0);
    mark_some(m3, 70, 4); /* a flush during the round: queued, then applied */
    flush(m3);
    /* Deliver it before the checkpoints (another sender's: a valid order). */
    for (size_t i = 0; i < G.nq; i++)
        if (G.q[i].from == 3) {
            struct fg_msg f = G.q[i];
            memmove(G.q + 1, G.q, i * sizeof f);
            G.q[0] = f;
        }
    fg_step(&G, 0);
    CHECK_EQ(fg_member(&G, 4)->st.nqueue, 1);
    fg_drain(&G);
    CHECK_EQ(cls_ready(&fg_member(&G, 4)->st), 1);
    check_quiet("crash: after join");
    check_lost(0, "crash: after join");
    resync_all(0, "crash: resync");
    check_quiet("crash: after resync");
    return 0;
}

/* Checkpoints larger than one message travel in chunks. */
static int test_chunked_checkpoint(void)
{
    setup(0, 200, 2); /* a 200-byte message limit: many chunks */
    mark_some(fg_member(&G, 1), 0, R);
    flush(fg_member(&G, 1)); /* FLUSH fits: 96 regions would not at 200 B... */
    fg_drain(&G);
    /* ...so it was refused by the group: mark in small batches instead. */
    memset(C[1].pend_mark, 0, R);
    for (unsigned r = 0; r < R; r += 16) {
        mark_some(fg_member(&G, 1), r, 16);
        flush(fg_member(&G, 1));
        fg_drain(&G);
    }
    check_quiet("chunked: before join");
    REQUIRE_EQ(fg_join(&G, 3, 0, 0), 0);
    fg_drain(&G);
    check_quiet("chunked: after join");
    CHECK(G.delivered > 10);
    return 0;
}

/* A partition, marks and clears on both sides, a merge: nothing
 * acknowledged is lost and the replicas agree again. */
static int test_partition_merge(int disk)
{
    setup(disk, 1024, 3);
    resync_all(0, "partition: initial resync");
    struct fg_member *m1 = fg_member(&G, 1), *m3 = fg_member(&G, 3);
    mark_some(m1, 0, 8);
    mark_some(m3, 50, 8);
    flush(m1);
    flush(m3);
    fg_drain(&G);
    uint32_t minority = 3;
    fg_split(&G, &minority, 1, 1);
    fg_drain(&G);
    check_quiet("partition: after split");
    /* The majority sees member 3's marks as a departed member's. */
    for (unsigned r = 50; r < 58; r++)
        CHECK(!cls_is_clean(&m1->st, r) && !cls_in_sync(&m1->st, r));
    mark_some(m1, 20, 4);
    clear_all(m1);
    flush(m1);
    mark_some(m3, 80, 4);
    flush(m3);
    fg_drain(&G);
    check_quiet("partition: during");
    fg_merge(&G, 1, 0);
    fg_drain(&G);
    check_quiet("partition: after merge");
    for (unsigned r = 80; r < 84; r++)
        CHECK_EQ(cls_is_clean(&fg_member(&G, 2)->st, r), 0);
    resync_all(0, "partition: resync");
    check_quiet("partition: end");
    return 0;
}

/* clustered_disk after every node stopped: the first member back brings what
 * it read on the device (dirty there: dirty and out of sync until resynced);
 * a member that could not read it never contributes; if none could, the
 * log is not served. */
static void load_device(struct fg_member *m)
{
    if (m->id == 1) {
        for (uint64_t r = 5; r < 8; r++)
            CHECK_EQ(cls_initial_dirty(&m->st, r), 0);
        CHECK_EQ(cls_initial_sync(&m->st, 40, 0), 0);
    } else {
        cls_initial_unknown(&m->st);
    }
}

static int test_restart_from_device(void)
{
    fg_fini(&G);
    fg_init(&G, R, 1, 1024);
    fg_before_join = load_device;
    REQUIRE_EQ(fg_join(&G, 1, 0, 0), 0);
    fg_drain(&G);
    REQUIRE_EQ(fg_join(&G, 2, 0, 0), 0);
    fg_drain(&G);
    for (uint32_t id = 1; id <= 2; id++) {
        struct fg_member *m = fg_member(&G, id);
        REQUIRE(cls_ready(&m->st));
        for (uint64_t r = 0; r < R; r++) {
            CHECK_EQ(cls_is_clean(&m->st, r), !(r >= 5 && r < 8));
            CHECK_EQ(cls_in_sync(&m->st, r), !(r >= 5 && r < 8) && r != 40);
        }
    }
    CHECK(fg_member(&G, 1)->persists > 0);
    /* Alone and unable to read the device: never ready. */
    fg_fini(&G);
    fg_init(&G, R, 1, 1024);
    REQUIRE_EQ(fg_join(&G, 3, 0, 0), 0);
    fg_drain(&G);
    CHECK_EQ(cls_ready(&fg_member(&G, 3)->st), 0);
    CHECK_EQ(fg_member(&G, 3)->st.failed, 1);
    fg_before_join = NULL;
    return 0;
}

/* Random interleavings of everything, seeded. */
static int test_random(unsigned long seed, unsigned steps, int disk)
{
    rng_state = seed;
    setup(disk, 4096, 3);
    G.shuffle = seed;
    uint32_t next_id = 4;
    char when[64];
    for (unsigned s = 0; s < steps; s++) {
        struct fg_member *live[FG_MAX];
        unsigned n = alive_in(0, live);
        struct fg_member *m = live[rnd(n)];
        unsigned op = rnd(100);
        snprintf(when, sizeof when, "seed %lu step %u", seed, s);
        if (op < 30) {
            mark_some(m, rnd(R), 1 + rnd(6));
        } else if (op < 40) {
            clear_all(m);
        } else if (op < 55) {
            flush(m);
        } else if (op < 85) {
            for (unsigned k = rnd(4); k > 0; k--)
                fg_step(&G, 0);
        } else if (op < 90 && n > 1) {
            if (getenv("TRACE"))
                fprintf(stderr, "step %u: crash %u\n", s, m->id);
            crash(m, rnd(2));
            fg_drain(&G);
            check_quiet(when);
            check_lost(0, when);
        } else if (op < 94 && next_id <= FG_MAX && G.n < FG_MAX) {
            if (getenv("TRACE"))
                fprintf(stderr, "step %u: join %u\n", s, next_id);
            fg_join(&G, next_id++, 0, rnd(2));
        } else if (op < 97) {
            fg_drain(&G);
            check_quiet(when);
            check_lost(0, when);
        } else if (cls_ready(&m->st)) {
            uint64_t region, seq;
            int found = request_work(m, &region);
            if (getenv("TRACE"))
                fprintf(stderr, "step %u: %u resyncs %d %u\n", s, m->id, found, (unsigned)region);
            if (found == 1 && region < R) {
                send_simple(m, 1, region, &seq);
                while (fg_step(&G, 0))
                    ;
                lost[region] = 0;
            }
        }
        if (test_failures)
            return 1;
    }
    fg_drain(&G);
    check_quiet("random: end");
    check_lost(0, "random: end");
    resync_all(0, "random: end");
    return 0;
}

int main(void)
{
    unsigned long seeds = getenv("DL_SANITIZER") || getenv("DL_CI") ? 10 : 40;
    if (getenv("DL_CLUSTER_SEEDS")) /* a longer run by hand */
        seeds = strtoul(getenv("DL_CLUSTER_SEEDS"), NULL, 10);
    test_basic(0);
    test_basic(1);
    test_crash_and_join(0, 0);
    test_crash_and_join(0, 1);
    test_crash_and_join(1, 1);
    test_chunked_checkpoint();
    test_restart_from_device();
    test_partition_merge(0);
    test_partition_merge(1);
    for (unsigned long seed = 1; seed <= seeds && !test_failures; seed++)
        test_random(seed, 400, seed % 2);
    fg_fini(&G);
    return test_exit_status("test_cluster_model");
}
