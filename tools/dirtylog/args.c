/* Argument parsing for dirtylog(1): options, strict numbers, sizes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

int parse_args(int argc, char **argv, const struct opt_spec *specs, int nspecs,
               struct parsed_args *pa)
{
    memset(pa, 0, sizeof *pa);
    int only_operands = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_operands || a[0] != '-' || a[1] == '\0') {
            if (pa->noperands == (int)(sizeof pa->operands / sizeof pa->operands[0]))
                return tool_usage_error("too many arguments (at '%s')", a);
            pa->operands[pa->noperands++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_operands = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (a[1] != '-')
            return tool_usage_error("unknown option '%s' (options are spelled --name)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k = 0;
        while (k < nspecs && !(strlen(specs[k].name) == nlen && strncmp(specs[k].name, name, nlen) == 0))
            k++;
        if (k == nspecs)
            return tool_usage_error("unknown option '%.*s'", (int)nlen + 2, a);
        if (pa->values[k])
            return tool_usage_error("option --%s given twice", specs[k].name);
        if (!specs[k].takes_value) {
            if (eq)
                return tool_usage_error("option --%s takes no value", specs[k].name);
            pa->values[k] = "";
        } else if (eq) {
            pa->values[k] = eq + 1;
        } else if (i + 1 < argc) {
            pa->values[k] = argv[++i];
        } else {
            return tool_usage_error("option --%s needs a value", specs[k].name);
        }
        if (specs[k].takes_value && pa->values[k][0] == '\0')
            return tool_usage_error("option --%s has an empty value", specs[k].name);
    }
    return 0;
}

int parse_sectors(const char *s, uint64_t *sectors, char *why, size_t whylen)
{
    size_t digits = strspn(s, "0123456789");
    if (digits == 0) {
        snprintf(why, whylen, "'%s' is not a number", s);
        return -1;
    }
    char num[32];
    if (digits >= sizeof num) {
        snprintf(why, whylen, "'%s' is too large", s);
        return -1;
    }
    memcpy(num, s, digits);
    num[digits] = '\0';
    uint64_t v;
    if (dl__parse_u64(num, &v) != 0) {
        snprintf(why, whylen, "'%s' is too large", s);
        return -1;
    }
    static const struct {
        const char *suffix;
        unsigned shift; /* bytes = v << shift; 0 means sectors */
    } units[] = {
        {"", 0},    {"s", 0},    {"K", 10},   {"k", 10},   {"KiB", 10}, {"KB", 10},
        {"M", 20},  {"MiB", 20}, {"MB", 20},  {"G", 30},   {"GiB", 30}, {"GB", 30},
        {"T", 40},  {"TiB", 40}, {"TB", 40},  {"P", 50},   {"PiB", 50}, {"PB", 50},
    };
    const char *suf = s + digits;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(suf, units[i].suffix) != 0)
            continue;
        if (units[i].shift == 0) {
            *sectors = v;
            return 0;
        }
        if (v > (UINT64_MAX >> units[i].shift)) {
            snprintf(why, whylen, "'%s' is too large", s);
            return -1;
        }
        uint64_t bytes = v << units[i].shift; /* every shift >= 10: whole sectors */
        *sectors = bytes / DL_SECTOR_SIZE;
        return 0;
    }
    snprintf(why, whylen, "'%s' has an unknown unit '%s' (use s for sectors, or K, M, G, T, P)", s,
             suf);
    return -1;
}

int parse_bytes(const char *s, uint64_t *bytes, char *why, size_t whylen)
{
    if (s[0] && strspn(s, "0123456789") == strlen(s)) {
        if (dl__parse_u64(s, bytes) == 0)
            return 0;
        snprintf(why, whylen, "'%s' is too large", s);
        return -1;
    }
    uint64_t sectors;
    if (parse_sectors(s, &sectors, why, whylen) != 0)
        return -1;
    if (sectors > UINT64_MAX / DL_SECTOR_SIZE) {
        snprintf(why, whylen, "'%s' is too large", s);
        return -1;
    }
    *bytes = sectors * DL_SECTOR_SIZE;
    return 0;
}

void human_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned u = 0;
    while (u + 1 < sizeof unit / sizeof unit[0] && bytes >= ((uint64_t)1024 << (10 * u)))
        u++;
    if (u == 0) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return;
    }
    uint64_t whole = bytes >> (10 * u);
    uint64_t frac = (((bytes & (((uint64_t)1 << (10 * u)) - 1)) >> (10 * u - 10)) * 100) >> 10;
    if (frac == 0)
        snprintf(buf, len, "%llu %s", (unsigned long long)whole, unit[u]);
    else
        snprintf(buf, len, "%llu.%02llu %s", (unsigned long long)whole, (unsigned long long)frac,
                 unit[u]);
}

int parse_command(const char *cmd, int argc, char **argv, const struct opt_spec *specs,
                  int nspecs, int noperands, const char *missing, struct parsed_args *pa,
                  int *status)
{
    int r = parse_args(argc, argv, specs, nspecs, pa);
    if (r < 0) {
        print_command_help(cmd);
        *status = tool_finish_stdout(EXIT_OK);
    } else if (r > 0) {
        *status = r;
    } else if (pa->noperands != noperands) {
        *status = tool_usage_error("%s", pa->noperands < noperands ? missing : "too many arguments");
    } else {
        return 0;
    }
    return 1;
}
