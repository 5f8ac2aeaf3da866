#!/bin/bash
# The man pages (man/*.scd) document every option and command the programs
# have: each long option a program's --help prints, each command, and each
# parameter the nbdkit plugin parses, must appear in its page; and no page
# points at docs/ (not installed). Needs no scdoc:
# it reads the sources of the pages. An option added to a program without its
# page fails here, naming the option and the page.
# usage: check_man_options.sh <man source dir> <dirtylog> <dirtylogd>
#                             <dlmirror or -> <nbdkit_plugin.c>
set -euo pipefail
man=$1 dirtylog=$2 dirtylogd=$3 dlmirror=$4 plugin_src=$5
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs

bad=0
# need <page> <word> <what> [<what follows>]: <word> appears in <page> as a
# whole word (--max-clients is not found inside --max-clients-per-uid), or
# followed by the given text.
need() {
    local page=$man/$1.scd word=$2 after=${4:-([^a-z0-9_-]|$)}
    if ! grep -qE -- "(^|[^a-z0-9_-])${word}${after}" "$page"; then
        echo "FAIL: $3 '$word' is not in man/$1.scd: document it there"
        bad=1
    fi
}
long_options() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }

help=$("$(emulated "$dirtylog")" --help)
for o in $(long_options <<<"$help"); do need dirtylog.1 "$o" "dirtylog option"; done
# shellcheck disable=SC2013 # one command name per line: words are lines
for c in $(sed -n 's/^    dirtylog \([a-z]*\) .*/\1/p' <<<"$help" | sort -u); do
    need dirtylog.1 "$c" "dirtylog command"
done

help=$("$(emulated "$dirtylogd")" --help)
for o in $(long_options <<<"$help"); do need dirtylogd.8 "$o" "dirtylogd option"; done

if [ "$dlmirror" != - ]; then
    help=$("$(emulated "$dlmirror")" --help)
    for o in $(long_options <<<"$help"); do need dlmirror.1 "$o" "dlmirror option"; done
    # shellcheck disable=SC2013 # one command name per line: words are lines
    for c in $(sed -n 's/^.*dlmirror \([a-z]*\) .*/\1/p' <<<"$help" | sort -u); do
        need dlmirror.1 "$c" "dlmirror command"
    done
fi

# The plugin's parameters: every key its config callback compares with.
keys=$(grep -oE 'strcmp\(key, "[a-z_]+"\)' "$plugin_src" | sed 's/.*"\(.*\)".*/\1/' | sort -u)
[ -n "$keys" ] || { echo "FAIL: no parameter found in $plugin_src"; exit 1; }
for k in $keys; do need nbdkit-dlmirror-plugin.1 "$k" "plugin parameter" "="; done

# The pages are what is installed: they cannot send the reader to docs/.
if grep -n 'docs/' "$man"/*.scd; then
    echo "FAIL: a man page points at docs/, which is not installed"
    bad=1
fi

[ "$bad" = 0 ] || exit 1
echo "ok: every option, command and plugin parameter is in its man page"
