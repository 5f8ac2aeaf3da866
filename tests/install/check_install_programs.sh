#!/bin/bash
# Install dirtylog into a temporary prefix and check what an operator gets
# (cmake/install.cmake).
#   programs: dirtylog, dirtylogd, dlmirror and the nbdkit plugin are
#             installed where the build's cache says, their --help points at
#             their man page (not at docs/*.md, which are not installed), the
#             systemd units name the prefix's daemon in ExecStart, also with
#             DESTDIR (which must not appear in the units).
#   man:      every man page is installed and `man -l --warnings` renders it
#             at 80 columns without a word on stderr.
# usage: check_install_programs.sh <programs|man> <cmake> <build dir>
#                                  <dlmirror built: yes|no> <plugin built: yes|no>
#                                  <bindir> <sbindir> <mandir>
# (the GNUInstallDirs destinations; the plugin's and the units' come from the
# build's cache).
# Exit 77 (a ctest skip, with the reason on stdout) when the man pages were
# not built (no scdoc at configure time) or `man` is not installed.
set -euo pipefail
mode=$1 cmake=$2 build=$3 have_dlmirror=$4 have_plugin=$5 bindir_rel=$6 sbindir_rel=$7 mandir_rel=$8
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs

fail() { echo "FAIL: $*"; exit 1; }
# The value of a variable of the build's CMake cache (empty if unset).
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
# A destination of the cache, relative to <prefix> unless absolute.
under() { case "$2" in /*) printf '%s\n' "$2" ;; *) printf '%s/%s\n' "$1" "$2" ;; esac; }

if [ "$mode" = man ]; then
    case "$(cache DL_SCDOC)" in
        "" | *-NOTFOUND)
            echo "SKIP: man pages not built: scdoc was not found at configure time (apt-get install scdoc)"
            exit 77 ;;
    esac
    if ! command -v man >/dev/null; then
        echo "SKIP: man is not installed (apt-get install man-db)"
        exit 77
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dl-install-programs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install --prefix $prefix"; }

if [ "$mode" = man ]; then
    mandir=$(under "$prefix" "$mandir_rel")
    for page in dirtylog.1 dirtylogd.8 dlmirror.1 nbdkit-dlmirror-plugin.1 dirtylog.3; do
        f=$mandir/man${page##*.}/$page
        [ -s "$f" ] || fail "man page not installed: ${f#"$prefix"/}"
        MANWIDTH=80 man -l --warnings "$f" >"$tmp/page.txt" 2>"$tmp/warnings.txt" ||
            { cat "$tmp/warnings.txt"; fail "man -l $page failed"; }
        [ ! -s "$tmp/warnings.txt" ] ||
            { cat "$tmp/warnings.txt"; fail "man -l --warnings $page is not silent"; }
        # The page rendered into text with its own name in its NAME section.
        name=${page%.*}
        grep -q "^ *$name - " "$tmp/page.txt" || fail "$page has no NAME line for $name"
        echo "ok: $page renders without warnings"
    done
    exit 0
fi

# --help of an installed program names its man page and no docs/ file.
check_help() {
    local prog=$1 page=$2 out
    [ -x "$prog" ] || fail "not installed: ${prog#"$prefix"/}"
    out=$("$(emulated "$prog")" --help) || fail "$prog --help exited with $?"
    grep -q "man $page" <<<"$out" || fail "$(basename "$prog") --help does not point at 'man $page'"
    if grep -n 'docs/' <<<"$out"; then
        fail "$(basename "$prog") --help points at docs/, which is not installed"
    fi
    echo "ok: $(basename "$prog") installed, --help points at man $page"
}
bindir=$(under "$prefix" "$bindir_rel")
sbindir=$(under "$prefix" "$sbindir_rel")
check_help "$bindir/dirtylog" dirtylog
check_help "$sbindir/dirtylogd" dirtylogd
if [ "$have_dlmirror" = yes ]; then
    check_help "$bindir/dlmirror" dlmirror
else
    echo "note: dlmirror not built (DL_BUILD_EXAMPLES=OFF): not checked"
fi

if [ "$have_plugin" = yes ]; then
    plugindir=$(cache DL_NBDKIT_PLUGINDIR)
    plugin=$(under "$prefix" "$plugindir")/nbdkit-dlmirror-plugin.so
    [ -f "$plugin" ] || fail "nbdkit plugin not installed at ${plugin#"$prefix"/}"
    echo "ok: nbdkit plugin installed at ${plugin#"$prefix"/}"
    # nbdkit loads it (not under a sanitizer or an emulator: an instrumented
    # or foreign plugin cannot be loaded by the machine's nbdkit).
    if command -v nbdkit >/dev/null && [ -z "${DL_SANITIZER:-}" ] &&
        [ -z "${DL_TEST_EMULATOR:-}" ]; then
        nbdkit --dump-plugin "$plugin" >"$tmp/dump.txt" 2>&1 ||
            { cat "$tmp/dump.txt"; fail "nbdkit --dump-plugin $plugin"; }
        grep -qx 'name=dlmirror' "$tmp/dump.txt" || fail "the installed plugin is not named dlmirror"
        echo "ok: nbdkit loads the installed plugin"
    fi
else
    echo "note: nbdkit plugin not built (nbdkit-plugin-dev missing): not checked"
fi

# check_units <unit dir> <the daemon's path as the units must name it>
check_units() {
    local dir=$1 daemon=$2 service=$1/dirtylogd.service socket=$1/dirtylogd.socket
    if [ ! -f "$service" ] || [ ! -f "$socket" ]; then fail "units not installed in $dir"; fi
    if grep -n '@' "$service" "$socket"; then
        fail "a unit has a placeholder left"
    fi
    grep -qx "ExecStart=$daemon --foreground" "$service" ||
        fail "dirtylogd.service: $(grep ExecStart "$service"), expected ExecStart=$daemon --foreground"
    for u in "$service" "$socket"; do
        grep -qx 'Documentation=man:dirtylogd(8)' "$u" || fail "$u does not point at man:dirtylogd(8)"
    done
    echo "ok: units in ${dir#"$tmp"/} start $daemon"
}
check_units "$(under "$prefix" "$(cache DL_SYSTEMD_UNITDIR)")" "$sbindir/dirtylogd"
[ -x "$sbindir/dirtylogd" ] || fail "ExecStart names $sbindir/dirtylogd, which is not installed"

# A staged install (DESTDIR, as a package build does): the units name the
# final prefix, never the staging directory.
final=/opt/dirtylog-test
DESTDIR=$tmp/stage "$cmake" --install "$build" --prefix "$final" >"$tmp/stage.log" 2>&1 ||
    { cat "$tmp/stage.log"; fail "DESTDIR=... cmake --install --prefix $final"; }
unitdir=$(under "$final" "$(cache DL_SYSTEMD_UNITDIR)")
check_units "$tmp/stage$unitdir" "$(under "$final" "$sbindir_rel")/dirtylogd"
[ -x "$tmp/stage$(under "$final" "$sbindir_rel")/dirtylogd" ] ||
    fail "the staged daemon is missing"
