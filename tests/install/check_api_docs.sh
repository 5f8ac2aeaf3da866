#!/bin/bash
# docs/api.md documents every public function: each DL_EXPORT function of
# include/dirtylog.h appears there as "name(".
# usage: check_api_docs.sh <dirtylog.h> <api.md>
set -euo pipefail
header=$1 doc=$2
declared=$(sed -n 's/.*DL_EXPORT[^(]*\b\(dl_[A-Za-z0-9_]*\)[[:space:]]*(.*/\1/p' "$header" | sort -u)
[ -n "$declared" ] || { echo "FAIL: no DL_EXPORT function found in $header"; exit 1; }
missing=
for f in $declared; do
    grep -q "\b$f(" "$doc" || missing="$missing $f"
done
if [ -n "$missing" ]; then
    echo "FAIL: public functions not documented in $doc:"
    tr " " "\n" <<<"${missing# }" | sed "s/^/  /"
    exit 1
fi
echo "ok: all $(wc -w <<<"$declared") public functions are documented in $(basename "$doc")"
