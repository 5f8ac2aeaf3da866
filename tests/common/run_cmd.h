/* Run a shell command for a test (losetup and the like): its exit status as
 * pclose() gives it, or -1; with `out`, the first line of its output
 * (NUL-terminated, at most len - 1 bytes). */
#ifndef DL_TEST_RUN_CMD_H
#define DL_TEST_RUN_CMD_H

#include <stdio.h>
#include <string.h>

static inline int run_cmd(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = out ? fread(out, 1, len - 1, p) : 0;
    if (out) {
        out[n] = '\0';
        out[strcspn(out, "\n")] = '\0';
    }
    return pclose(p);
}

#endif
