#!/bin/bash
# The shared library exports only dl_-prefixed symbols (at least one), and its
# SONAME is libdirtylog.so.<major>.
# usage: check_exports.sh <libdirtylog.so> [nm]
set -euo pipefail
lib=$1
nm=${2:-nm}
[ -x "$(command -v "$nm")" ] || nm=nm

syms=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sort -u)
ours=$(printf '%s\n' "$syms" | grep -c '^dl_' || true)
offenders=$(printf '%s\n' "$syms" | grep -v '^dl_' | grep -v '^$' || true)
status=0
if [ -n "$offenders" ]; then
    echo "FAIL: $lib exports symbols without the dl_ prefix:"
    printf '  %s\n' $offenders
    status=1
fi
if [ "$ours" -eq 0 ]; then
    echo "FAIL: $lib exports no dl_ symbol at all"
    status=1
fi
soname=$(LC_ALL=C readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
case "$soname" in
    libdirtylog.so.[0-9]*) ;;
    *) echo "FAIL: SONAME is '$soname', expected libdirtylog.so.<major>"; status=1 ;;
esac
[ $status -eq 0 ] && echo "ok: $ours dl_ symbols exported, nothing else; SONAME $soname"
exit $status
