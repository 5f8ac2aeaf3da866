/* JSON string output shared by the tools (dirtylog's --json outputs and
 * `dirtylogd --list --json`): one escaping rule everywhere. Internal: the
 * static archive exports it, the shared library hides it. */
#ifndef DL_JSON_H
#define DL_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Write s[0..len) to f as a quoted JSON string. Valid UTF-8 passes through;
 * '"' and '\' are backslash-escaped; control characters (< 0x20 and 0x7f)
 * are written as \u00XX; every byte that is not part of a valid UTF-8
 * sequence (stray continuation, truncated or overlong sequence, surrogate,
 * above U+10FFFF) is written as \u00XX of that byte (its Latin-1 reading),
 * so the output is always valid JSON (docs/dirtylog-tool.md, "JSON").
 * Returns 0, or -1 on an output error. */
int dl__json_string(FILE *f, const char *s, size_t len);

/* The same for a NUL-terminated string; NULL is written as null. */
int dl__json_cstring(FILE *f, const char *s);

#endif
