/* The header fields of a log, as every --json output of the tool starts
 * (dump, inspect); see tool.h. */
#include <inttypes.h>
#include <stdio.h>

#include "json.h"
#include "tool.h"

void json_log_header(const struct logread *lr, uint32_t rs)
{
    const struct disk_header_info *in = &lr->info;
    printf("{\"path\":");
    dl__json_cstring(stdout, lr->path);
    printf(",\"format\":\"%s\"", format_name(in->format));
    if (in->format == DISK_FORMAT_NATIVE) {
        char uuid[37];
        uuid_text(in->native.uuid, uuid);
        printf(",\"version\":%" PRIu32 ",\"magic\":\"0x%08x\",\"uuid\":\"%s\","
               "\"generation\":%" PRIu64 ",\"incompat\":%" PRIu32 ",\"compat\":%" PRIu32,
               in->native.version, DLN_MAGIC, uuid, in->native.generation, in->native.incompat,
               in->native.compat);
    } else {
        printf(",\"version\":%" PRIu32 ",\"magic\":\"0x%08x\"", in->dm.version, DLM_MAGIC);
    }
    if (rs)
        printf(",\"region_size\":%" PRIu32, rs);
    else
        printf(",\"region_size\":null");
    printf(",\"region_count\":%" PRIu64 ",\"bitmap_offset\":%" PRIu64 ",\"bit_set_means\":\"%s\"",
           in->region_count, in->bitmap_offset,
           in->one_means_clean ? "clean_and_in_sync" : "may_differ");
}
