/* dirtylog(1): inspect, check, dump, create and convert disk dirty logs.
 * The manual is `dirtylog --help` (help.c) and docs/dirtylog-tool.md. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tool.h"

const char *tool_cmd;

/* Findings recorded for a JSON report (tool_findings_start). */
static struct finding {
    const char *level;
    char *text;
} *findings;
static size_t nfindings;
static int collecting;

static void record(const char *level, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    struct finding *nf = realloc(findings, (nfindings + 1) * sizeof *nf);
    char *text = strdup(buf);
    if (nf)
        findings = nf;
    if (!nf || !text) {
        free(text);
        return; /* out of memory: the finding is still on stderr (or stdout) */
    }
    findings[nfindings++] = (struct finding){level, text};
}

void tool_findings_start(void)
{
    collecting = 1;
}

void tool_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (collecting) {
        record("ok", fmt, ap);
    } else {
        fputs("ok: ", stdout);
        vprintf(fmt, ap);
        putchar('\n');
    }
    va_end(ap);
}

void tool_findings_json(void)
{
    printf("\"findings\":[");
    for (size_t i = 0; i < nfindings; i++) {
        printf("%s{\"level\":\"%s\",\"message\":", i ? "," : "", findings[i].level);
        dl__json_cstring(stdout, findings[i].text);
        putchar('}');
        free(findings[i].text);
    }
    putchar(']');
    free(findings);
    findings = NULL;
    nfindings = 0;
    collecting = 0;
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    if (collecting && *kind) {
        va_list copy;
        va_copy(copy, ap);
        record(strcmp(kind, "error: ") == 0 ? "error" : "warning", fmt, copy);
        va_end(copy);
    }
    fflush(stdout);
    fprintf(stderr, "dirtylog%s%s: %s", tool_cmd ? " " : "", tool_cmd ? tool_cmd : "", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("error: ", fmt, ap);
    va_end(ap);
}

void tool_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

int tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
    if (tool_cmd)
        fprintf(stderr, "usage: %s\n", command_synopsis(tool_cmd));
    else
        fprintf(stderr, "usage: dirtylog <create|inspect|dump|check|convert> ...\n");
    fprintf(stderr, "Try 'dirtylog --help' for the manual.\n");
    return EXIT_FAIL;
}

int tool_finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_error("cannot write the output: %s", errno ? strerror(errno) : "standard output failed");
        return EXIT_FAIL;
    }
    return status;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"create", cmd_create}, {"inspect", cmd_inspect}, {"dump", cmd_dump},
    {"check", cmd_check},   {"convert", cmd_convert},
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return tool_usage_error("no command given");
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        if (argc > 2 && strcmp(c, "help") == 0) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    print_command_help(argv[2]);
                    return tool_finish_stdout(EXIT_OK);
                }
            return tool_usage_error("no help for unknown command '%s'", argv[2]);
        }
        print_manual();
        return tool_finish_stdout(EXIT_OK);
    }
    if (strcmp(c, "--version") == 0) {
        printf("dirtylog %d.%d.%d\n", DL_VERSION_MAJOR, DL_VERSION_MINOR, DL_VERSION_PATCH);
        return tool_finish_stdout(EXIT_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(c, commands[i].name) == 0) {
            tool_cmd = commands[i].name;
            return commands[i].run(argc - 2, argv + 2);
        }
    }
    if (c[0] == '-')
        return tool_usage_error("unknown option '%s' (a command comes first)", c);
    return tool_usage_error("unknown command '%s' (expected create, inspect, dump, check or "
                            "convert)", c);
}
