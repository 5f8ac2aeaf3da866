/* libFuzzer target: the wire decoder and dirtylogd's dispatch, fed exactly as
 * the daemon feeds them (bytes of a stream, in chunks), with no socket.
 *
 * Input layout: byte 0 picks the chunk size the stream is cut into (so the
 * fuzzer explores split headers and payloads); the rest is the stream. Each
 * input gets a fresh server whose connection has already done a valid CTR of
 * log "f" (luid 1, "1024 core 8") and a second connection's session exists,
 * so the fuzzer reaches every request, shared-log path and error path. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "remote/wire.h"
#include "server.h"

static int sink(void *arg, const uint8_t *msg, size_t len)
{
    (void)arg;
    /* Every reply must be a well-formed message. */
    struct dlw_header h;
    if (len < DLW_HEADER_SIZE || dl__wire_decode_header(msg, DLW_MAX_PAYLOAD, &h) != 0 ||
        h.data_size != len - DLW_HEADER_SIZE)
        __builtin_trap();
    return 0;
}

static void ctr(struct dld_server *srv, struct dld_conn *c, uint64_t luid)
{
    uint8_t msg[DLW_HEADER_SIZE + 16];
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    dl__wire_set_uuid(&h, "f");
    h.luid = luid;
    h.version = DLW_VERSION;
    h.request_type = DLW_CTR;
    h.data_size = 11;
    dl__wire_encode_header(&h, msg);
    memcpy(msg + DLW_HEADER_SIZE, "1024 core 8", 11);
    dld_conn_input(srv, c, msg, DLW_HEADER_SIZE + 11, sink, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= DLW_HEADER_SIZE) {
        struct dlw_header h;
        (void)dl__wire_decode_header(data, DLW_MAX_PAYLOAD, &h);
    }
    struct dld_limits limits = {.max_logs = 8, .max_payload = 65536};
    struct dld_server srv;
    if (dld_server_init(&srv, &limits) != 0)
        return 0;
    struct dld_conn a, b;
    dld_conn_init(&a, 1);
    dld_conn_init(&b, 2);
    ctr(&srv, &b, 2);
    ctr(&srv, &a, 1);
    size_t chunk = size ? (size_t)data[0] + 1 : 1;
    if (size) {
        data++;
        size--;
    }
    while (size) {
        size_t k = size < chunk ? size : chunk;
        if (dld_conn_input(&srv, &a, data, k, sink, NULL) != 0)
            break;
        data += k;
        size -= k;
    }
    dld_conn_closed(&srv, &a);
    dld_conn_closed(&srv, &b);
    dld_server_destroy(&srv);
    return 0;
}
