/* dirtylog(1): shared declarations of the command-line tool. Each
 * subcommand lives in its own cmd_*.c; reading a log read-only is in
 * logread.c, writing a new one (create, convert) in newlog.c. */
#ifndef DIRTYLOG_TOOL_H
#define DIRTYLOG_TOOL_H

#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"
#include "disk/disk_header.h"
#include "disk/disk_scan.h"
#include "log_internal.h" /* dl__parse_u64 */

/* Exit statuses (docs/dirtylog-tool.md). check also uses EXIT_DIFFERS. */
enum { EXIT_OK = 0, EXIT_DIFFERS = 1, EXIT_FAIL = 2 };

extern const char *tool_cmd; /* the subcommand running, for messages */

/* "dirtylog <cmd>: <message>" on stderr. */
void tool_error(const char *fmt, ...) DL_PRINTF(1, 2);
void tool_warning(const char *fmt, ...) DL_PRINTF(1, 2);
/* A usage error: the message, then the subcommand's synopsis, on stderr;
 * returns EXIT_FAIL. */
int tool_usage_error(const char *fmt, ...) DL_PRINTF(1, 2);
/* A JSON report of findings (check --json): after tool_findings_start(),
 * tool_ok(), tool_error() and tool_warning() also record what they say
 * (errors and warnings still go to stderr; tool_ok() then prints nothing);
 * tool_findings_json() prints "findings":[{"level":..,"message":..},...]
 * and stops recording. Without it tool_ok() prints "ok: <text>". */
void tool_findings_start(void);
void tool_ok(const char *fmt, ...) DL_PRINTF(1, 2);
void tool_findings_json(void);
/* Flush stdout and report a write error (EXIT_FAIL) if there was one. */
int tool_finish_stdout(int status);

/* ---- arguments (args.c) ---- */

/* Option parsing shared by every subcommand: options (--name or
 * --name=value or --name value) may come before, between or after operands;
 * "--" ends them. */
struct opt_spec {
    const char *name;  /* without the dashes */
    int takes_value;
};
struct parsed_args {
    const char *operands[8];
    int noperands;
    const char *values[16]; /* per spec index: the value, "" for flags, NULL if absent */
};
/* 0, or EXIT_FAIL after a usage message (unknown option, missing value,
 * repeated option, too many operands). "--help"/"-h" returns -1. */
int parse_args(int argc, char **argv, const struct opt_spec *specs, int nspecs,
               struct parsed_args *pa);
/* The prologue of every subcommand: parse_args, answer --help with the
 * command's help, and insist on exactly `noperands` operands (`missing` is
 * the message when there are fewer). 0 to go on, or 1 and *status to return. */
int parse_command(const char *cmd, int argc, char **argv, const struct opt_spec *specs,
                  int nspecs, int noperands, const char *missing, struct parsed_args *pa,
                  int *status);

/* Strict unsigned decimal: no sign, space, junk or overflow. 0 or -1. */
/* A size: plain number = sectors; with a suffix s (sectors) or K, M, G, T, P
 * (binary bytes; KiB, KB, k accepted too) converted to sectors, which must
 * be whole. 0, or -1 with a reason in why. */
int parse_sectors(const char *s, uint64_t *sectors, char *why, size_t whylen);
/* A byte count: a plain number is bytes; with a unit as for parse_sectors
 * (s, K, M, G, T, P). 0, or -1 with a reason in why. */
int parse_bytes(const char *s, uint64_t *bytes, char *why, size_t whylen);
/* "512 KiB", "1 GiB", "1.5 TiB"... for a byte count. */
void human_bytes(uint64_t bytes, char *buf, size_t len);

/* ---- reading a log read-only (logread.c) ---- */

struct logread {
    const char *path;
    struct dl_io *io; /* opened O_RDONLY */
    int is_blockdev;
    struct disk_header_info info;
};

/* Open path read-only and detect and validate the header. 0, or EXIT_FAIL
 * after printing why (missing, directory, not a log, corrupt, ...). */
int logread_open(struct logread *lr, const char *path);
void logread_close(struct logread *lr);
/* Scan the bitmap (see disk_scan.h); EXIT_FAIL after printing why. */
int logread_scan(struct logread *lr, disk_range_fn fn, void *arg, struct disk_scan_result *res);
const char *format_name(int format);
/* uuid as 8-4-4-4-12 lower-case hex. */
void uuid_text(const uint8_t uuid[16], char out[37]);

/* The header fields every JSON output shares (json_out.c): prints
 * {"path":..,"format":..,"version":..,"magic":..,[native: "uuid",
 * "generation","incompat","compat",]"region_size":rs or null,
 * "region_count","bitmap_offset","bit_set_means" -- without the closing
 * brace. Strings are escaped by dl__json_string (src/json.h). */
void json_log_header(const struct logread *lr, uint32_t rs);

/* ---- writing a new log (newlog.c) ---- */

struct newlog {
    char *final;   /* the path asked for */
    char *tmp;     /* built here, then renamed/linked to final; NULL if in place */
    int replace;   /* rename over an existing file (--force or empty file) */
    dl_log *log;
};
/* Make a new disk log for path: a regular file (or a missing one) is built
 * under a temporary name next to it and published by newlog_commit; a block
 * device is formatted in place. Refuses an existing non-empty file, or a
 * block device holding a log or data, unless force. The log is resumed.
 * format "native"|"dm", sync NULL|"sync"|"nosync"; max_bitmap the cap on
 * the bitmap's bytes (0: the library's default, 1 GiB). 0 or EXIT_FAIL. */
int newlog_open(struct newlog *nl, const char *path, int force, uint64_t target_sectors,
                uint32_t region_size, const char *format, const char *sync, uint64_t max_bitmap);
/* Flush, close and publish the log. 0 or EXIT_FAIL (nothing published). */
int newlog_commit(struct newlog *nl);
/* Close and remove the temporary file. */
void newlog_abort(struct newlog *nl);

/* --region-size (needed for dm logs, which do not store it; checked
 * against a native log): 0, or an exit status after a message. */
int region_size_option(const char *value, const struct logread *lr, uint32_t *rs);

/* ---- subcommands ---- */
int cmd_create(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Help texts (help.c). */
void print_manual(void);
void print_command_help(const char *cmd); /* the section of one command */
const char *command_synopsis(const char *cmd);

#endif
