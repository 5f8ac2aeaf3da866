/* The one strict unsigned decimal parser of the project: the library's table
 * syntax, the daemon's constructor strings and the tools' arguments all take
 * numbers through it, so they accept and refuse exactly the same words. */
#include <errno.h>

#include "log_internal.h"

int dl__parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
