/* dirtylog(1): inspect, check, dump, create and convert disk dirty logs.
 * The manual is `dirtylog --help` (help.c) and docs/dirtylog-tool.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

const char *tool_cmd;

static void vreport(const char *kind, const char *fmt, va_list ap)
{
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
