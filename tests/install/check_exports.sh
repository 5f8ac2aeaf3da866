#!/bin/bash
# The shared library exports only dl_-prefixed symbols (at least one), exactly
# the functions include/dirtylog.h declares DL_EXPORT, and its SONAME is
# libdirtylog.so.<major>.
# The static archive cannot hide anything, so every global it defines is
# dl_-prefixed too (dl__ for the library's internal cross-file functions): a
# static link must not clash with an engine's own names.
# usage: check_exports.sh <libdirtylog.so> <dirtylog.h> [nm] [libdirtylog.a]
set -euo pipefail
lib=$1 header=$2
nm=${3:-nm}
archive=${4:-}
command -v "$nm" >/dev/null || nm="nm"
status=0

# What the toolchain, not our code, puts there: i386's PIC helpers
# (__x86.get_pc_thunk.bx, ...), the _init/_fini entry points some libcs'
# crti.o define (musl). Nothing else without dl_ is allowed.
toolchain='^(__x86\.get_pc_thunk\.[a-z0-9]+|_init|_fini)$'
syms=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | { grep -Ev "$toolchain" || true; } | sort -u)
ours=$(printf '%s\n' "$syms" | grep -c '^dl_' || true)
offenders=$(printf '%s\n' "$syms" | grep -v '^dl_' | grep -v '^$' || true)
if [ -n "$offenders" ]; then
    echo "FAIL: $lib exports symbols without the dl_ prefix:"
    printf '%s\n' "$offenders" | sed 's/^/  /'
    status=1
fi
if [ "$ours" -eq 0 ]; then
    echo "FAIL: $lib exports no dl_ symbol at all"
    status=1
fi

# The header's DL_EXPORT functions: "DL_EXPORT <type> dl_name(".
declared=$(sed -n 's/.*DL_EXPORT[^(]*\b\(dl_[A-Za-z0-9_]*\)[[:space:]]*(.*/\1/p' "$header" | sort -u)
extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$syms" | grep '^dl_' || true))
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$syms"))
if [ -n "$extra" ]; then
    echo "FAIL: exported but not declared DL_EXPORT in $(basename "$header"):"
    printf '%s\n' "$extra" | sed 's/^/  /'
    status=1
fi
if [ -n "$missing" ]; then
    echo "FAIL: declared DL_EXPORT but not exported (not defined?):"
    printf '%s\n' "$missing" | sed 's/^/  /'
    status=1
fi

if [ -n "$archive" ]; then
    globals=$("$nm" -g --defined-only "$archive" 2>/dev/null | awk 'NF >= 3 { print $3 }' | sort -u)
    # (sanitizer builds add their own instrumentation globals: not ours)
    bad=$(printf '%s\n' "$globals" | grep -v '^dl_' | grep -v '^$' |
        grep -Ev '^__(odr_asan|asan|ubsan|tsan|sanitizer)' | grep -Ev "$toolchain" || true)
    if [ -n "$bad" ]; then
        echo "FAIL: $(basename "$archive") defines globals without the dl_ prefix:"
        printf '%s\n' "$bad" | sed 's/^/  /'
        status=1
    fi
fi

soname=$(LC_ALL=C readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
case "$soname" in
    libdirtylog.so.[0-9]*) ;;
    *) echo "FAIL: SONAME is '$soname', expected libdirtylog.so.<major>"; status=1 ;;
esac
[ $status -eq 0 ] && echo "ok: $ours dl_ symbols exported, all declared in the header, nothing else; SONAME $soname"
exit $status
