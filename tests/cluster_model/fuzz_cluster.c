/* libFuzzer target for what a cluster member receives from the others:
 * the message decoder, checkpoint reassembly and the replica blob decoder,
 * and applying messages to a replica. The input is a sequence of records
 * (u8 sender 1..3, u16 little-endian length, that many bytes), delivered in
 * order to member 1 of a three-member view, first in a checkpoint round
 * (the records may finish it with their own checkpoints), then after a
 * second membership change. Nothing may crash, leak or read out of bounds;
 * a member that accepted a checkpoint must still encode its replica. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_state.h"

static int drop_send(void *arg, const uint8_t *msg, size_t len)
{
    (void)arg;
    (void)msg;
    (void)len;
    return 0;
}

static const struct cls_ops ops = {.send = drop_send};

static void feed(struct cls_state *st, const uint8_t **d, size_t *n, unsigned records)
{
    for (unsigned k = 0; k < records && *n >= 3; k++) {
        uint32_t from = 1 + (*d)[0] % 3;
        size_t len = (size_t)(*d)[1] | (size_t)(*d)[2] << 8;
        *d += 3;
        *n -= 3;
        if (len > *n)
            len = *n;
        cls_deliver(st, from, *d, len);
        *d += len;
        *n -= len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cls_state st;
    if (cls_init(&st, 1, 200, 1, size > 0 && (data[0] & 1), 512, &ops, NULL) < 0)
        return 0;
    static const uint32_t view[3] = {1, 2, 3}, joined[2] = {2, 3};
    cls_confchg(&st, view, 3, NULL, 0, joined, 2);
    feed(&st, &data, &size, 64);
    static const uint32_t left[1] = {3};
    cls_confchg(&st, view, 2, left, 1, NULL, 0);
    feed(&st, &data, &size, 1u << 20);
    if (st.have_state) {
        uint8_t *b;
        size_t len;
        if (cls_replica_encode(&st.rep, 0, &b, &len) == 0)
            free(b);
    }
    cls_fini(&st);
    return 0;
}
