#!/bin/bash
# End-to-end test of the dirtylog tool (docs/dirtylog-tool.md).
#   test_tool.sh <dirtylog binary> <mark_regions helper>
# create -> inspect -> mark regions through the library -> dump / dump --json
# -> check exit codes 0/1/2 -> convert native->dm->native (dm output compared
# byte for byte with a file built here from the spec) -> bad inputs (exit 2,
# a message naming the problem). Every read-only command is run through `ro`,
# which asserts that no file in the work directory changed.
set -u
DL=$1
MARK=$2
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs
DL=$(emulated "$DL") && MARK=$(emulated "$MARK") || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/dl-tool.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0
checks=0

fail() {
    echo "FAIL (line ${BASH_LINENO[0]}): $*" >&2
    fails=$((fails + 1))
}
ok() { checks=$((checks + 1)); }

# Every file of the work directory (all are named *.*; adir has no files).
hash_all() { cksum "$T"/*.* 2>/dev/null; }

# run <cmd...>: sets rc, out, err.
run() {
    out=$("$@" 2>"$T/.err")
    rc=$?
    err=$(<"$T/.err")
    case "$err" in # a sanitizer report fails the test whatever the exit status
    *Sanitizer*|*"runtime error"*) fail "$*: sanitizer report: $err" ;;
    esac
}

# ro <expected rc> <dirtylog args...>: a read-only run; files must not change.
ro() {
    local want=$1
    shift
    local before after
    before=$(hash_all)
    run "$DL" "$@"
    after=$(hash_all)
    if [ "$before" != "$after" ]; then
        fail "dirtylog $* modified a file"
    else ok; fi
    if [ "$rc" != "$want" ]; then
        fail "dirtylog $*: exit $rc, expected $want; stderr: $err"
    else ok; fi
}

# expect_in <haystack> <needle> <what>
expect_in() {
    case "$1" in
    *"$2"*) ok ;;
    *) fail "$3: '$2' not in: $1" ;;
    esac
}

# put_byte <file> <offset> <hex byte>
put_byte() { printf "\\x$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
get_byte() { od -An -tx1 -j "$2" -N1 "$1" | tr -d ' \n'; }

# ---- the binary is the one that gets installed as `dirtylog` --------------
[ "$(basename "$DL")" = dirtylog ] && ok || fail "binary is named $(basename "$DL")"

# ---- help ------------------------------------------------------------------
run "$DL" --help
[ "$rc" = 0 ] && ok || fail "--help exit $rc"
for s in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" "dirtylog create" "dirtylog convert"; do
    expect_in "$out" "$s" "--help"
done
run "$DL" help dump
[ "$rc" = 0 ] && ok || fail "help dump exit $rc"
expect_in "$out" "--json" "help dump"
run "$DL" check --help
[ "$rc" = 0 ] && ok || fail "check --help exit $rc"
expect_in "$out" "Exit status 0" "check --help"

# ---- create and inspect a native log ----------------------------------------
# 100 regions of 2 sectors, all clean: --nosync.
run "$DL" create --nosync n.log 200 2
[ "$rc" = 0 ] && ok || fail "create n.log: $rc $err"
expect_in "$out" "100 regions of 2 sectors" "create output"
[ "$(stat -c %s n.log)" = $((8192 + 4096)) ] && ok || fail "native size $(stat -c %s n.log)"
ls "$T" | grep -q dirtylog-tmp && fail "temporary file left behind" || ok

ro 0 inspect n.log
for s in "native (dirtylog), version 1" '0x474f4c44 ("DLOG")' "Generation : 1" \
    "incompat 0x00000000, compat 0x00000000" "Region Size : 2 sectors (1 KiB)" \
    "Region Count : 100" "Target Size : 200 sectors" "0 may differ (0.00%)" \
    "0 dirty, 0 out of sync, 100 clean and in sync" 'meaning "may differ"'; do
    expect_in "$out" "$s" "inspect n.log"
done
echo "$out" | grep -Eq 'UUID : [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' &&
    ok || fail "inspect: no v4 uuid: $out"
ro 0 check n.log
expect_in "$out" "all 100 regions clean and in sync" "check clean"
ro 0 dump n.log
[ -z "$out" ] && ok || fail "dump of a clean log printed: $out"

# --max-bitmap lets a bitmap exactly at the cap through: 32768 regions = 4 KiB.
run "$DL" create --nosync --max-bitmap 4K capped.log 65536 2
[ "$rc" = 0 ] && ok || fail "create at the cap: $err"

# Default create: everything out of sync (a new mirror must resync).
run "$DL" create u.log 1M 64
[ "$rc" = 0 ] && ok || fail "create u.log: $err"
ro 1 check u.log
ro 0 dump u.log
[ "$out" = "0-31" ] && ok || fail "dump u.log: $out"
ro 0 inspect u.log
expect_in "$out" "32 may differ (100.00%)" "inspect u.log"

# ---- mark regions through the library; dump shows exactly those -------------
marked=(0 1 2 3 4 5 17 63 64 99)
"$MARK" "disk 2 $T/n.log 2" 200 "${marked[@]}" || fail "mark_regions n.log"
ro 0 dump n.log
want=$'0-5\n17\n63-64\n99'
[ "$out" = "$want" ] && ok || fail "dump n.log: got [$out] want [$want]"
ro 0 dump --json n.log
expect_in "$out" '"ranges":[[0,5],[17,17],[63,64],[99,99]]' "dump --json ranges"
expect_in "$out" '"format":"native"' "dump --json format"
expect_in "$out" '"region_size":2' "dump --json region_size"
expect_in "$out" '"region_count":100' "dump --json region_count"
expect_in "$out" '"may_differ":10' "dump --json count"
expect_in "$out" '"path":"n.log"' "dump --json path"
ro 0 inspect n.log
expect_in "$out" "10 may differ (10.00%) in 4 ranges" "inspect after marks"
expect_in "$out" "10 dirty, 10 out of sync, 90 clean and in sync" "inspect state"
ro 1 check n.log

expect_in "$out" "10 of 100 regions may differ" "check dirty"

# ---- --json of inspect and check; paths that are not UTF-8 -----------------
# (every JSON output escapes strings with src/json.c: docs/dirtylog-tool.md)
# json_ok <what>: $out is one valid JSON document (python3 -m json.tool).
if command -v python3 >/dev/null 2>&1; then have_python=1; else
    have_python=0
    echo "note: no python3 here: JSON validity is checked by the expected keys only"
fi
json_ok() {
    [ "$have_python" = 1 ] || return 0
    if printf '%s' "$out" | python3 -m json.tool >/dev/null 2>&1; then ok; else
        fail "$1: not valid JSON: $out"
    fi
}
ro 0 inspect --json n.log
json_ok "inspect --json"
expect_in "$out" '{"path":"n.log","format":"native","version":1,"magic":"0x474f4c44","uuid":"' \
    "inspect --json header"
expect_in "$out" '"region_size":2,"region_count":100,"bitmap_offset":8192,"bit_set_means":"may_differ","superblock_slot":0,"target_sectors":200,"bitmap_bytes":4096,"log_bytes":12288,"device_bytes":12288,"block_device":false' \
    "inspect --json sizes"
expect_in "$out" '"may_differ":10,"range_count":4,"dirty":10,"out_of_sync":10,"clean_and_in_sync":90,"stray_bits":0}' \
    "inspect --json counts"
ro 1 check --json n.log
json_ok "check --json"
expect_in "$out" '"verdict":"valid_may_differ","exit_status":1,"problems":0,"format":"native","region_count":100,"may_differ":10,"range_count":4' \
    "check --json verdict"
expect_in "$out" '{"level":"ok","message":"native format version 1, superblock checksums verified"}' \
    "check --json findings"
# A name with a Latin-1 byte (not UTF-8), control characters and a quote.
odd=$(printf 'caf\xe9\x01\x7f"q.log')
odd_json='"path":"caf\u00e9\u0001\u007f\"q.log"'
cp n.log "$odd"
ro 0 inspect --json "$odd"
json_ok "inspect --json of a non-UTF-8 name"
expect_in "$out" "$odd_json" "inspect --json escapes the path"
ro 1 check --json "$odd"
json_ok "check --json of a non-UTF-8 name"
expect_in "$out" "$odd_json" "check --json escapes the path"
ro 0 dump --json "$odd"
json_ok "dump --json of a non-UTF-8 name"
expect_in "$out" "$odd_json" "dump --json escapes the path"
rm -f "$odd"
# A log that does not open: still one JSON object, the reason among the findings.
ro 2 check --json "$(printf 'gone\xff.log')"
json_ok "check --json of a missing file"
expect_in "$out" '"path":"gone\u00ff.log","verdict":"invalid","exit_status":2,"problems":1,"format":null' \
    "check --json missing"
expect_in "$out" '{"level":"error","message":"cannot open gone\u00ff.log: No such file or directory"}' \
    "check --json missing: the reason"

# A large sparse log: 1 TiB at 64 KiB regions (16 Mi regions, 2 MiB bitmap).
run "$DL" create --nosync big.log 1T 128
[ "$rc" = 0 ] && ok || fail "create big.log: $err"
"$MARK" "disk 2 $T/big.log 128" 2147483648 7 8 9 16777215 || fail "mark big.log"
ro 0 dump big.log
[ "$out" = $'7-9\n16777215' ] && ok || fail "dump big.log: $out"
ro 1 check big.log
ro 0 inspect big.log
expect_in "$out" "Region Count : 16777216" "inspect big"
expect_in "$out" "Target Size : 2147483648 sectors (1 TiB)" "inspect big target"

# ---- convert native -> dm: byte-exact with the spec -------------------------
ro_before=$(sha256sum n.log)
run "$DL" convert n.log d.log --to dm
[ "$rc" = 0 ] && ok || fail "convert n->dm: $err"
[ "$(sha256sum n.log)" = "$ro_before" ] && ok || fail "convert modified its input"
# Expected dm log of 100 regions: "MiRr", version 2, nr_regions 100, zeros up
# to 1024, bitmap of round_up(100,64)/8 = 16 bytes (1 = clean, LSB first, bits
# >= 100 zero), zeros up to 1536 (a multiple of 512).
{
    printf '\x72\x52\x69\x4d\x02\x00\x00\x00\x64\x00\x00\x00\x00\x00\x00\x00'
    head -c 1008 /dev/zero
    for k in $(seq 0 15); do
        b=0
        for i in 0 1 2 3 4 5 6 7; do
            r=$((8 * k + i))
            clean=1
            [ $r -ge 100 ] && clean=0
            for m in "${marked[@]}"; do [ $r = "$m" ] && clean=0; done
            b=$((b | clean << i))
        done
        printf "\\x$(printf %02x $b)"
    done
    head -c $((1536 - 1040)) /dev/zero
} >expected_dm.bin
cmp -s d.log expected_dm.bin && ok || fail "dm output differs from the spec: $(cmp d.log expected_dm.bin)"
ro 0 dump d.log
[ "$out" = "$want" ] && ok || fail "dump d.log: $out"
ro 1 check d.log
ro 0 inspect d.log
expect_in "$out" "dm (Linux dm disk log), version 2" "inspect dm"
expect_in "$out" "not stored by the dm format" "inspect dm region size"
ro 0 inspect --region-size 2 d.log
expect_in "$out" "Target Size : 200 sectors" "inspect dm --region-size"

# The library writing the same marks into a dm log gives the same bytes.
run "$DL" create --nosync --format dm d2.log 200 2
"$MARK" "disk 3 $T/d2.log 2 format=dm" 200 "${marked[@]}" || fail "mark d2.log"
cmp -s d2.log expected_dm.bin && ok || fail "library dm log differs from the spec"

# ---- and back: dm -> native keeps region size, count and dirty set ----------
run "$DL" convert --region-size 2 d.log n2.log --to native
[ "$rc" = 0 ] && ok || fail "convert dm->native: $err"
ro 0 dump n2.log
[ "$out" = "$want" ] && ok || fail "dump n2.log: $out"
ro 0 inspect n2.log
expect_in "$out" "Region Size : 2 sectors" "round trip region size"
expect_in "$out" "Region Count : 100" "round trip region count"
cmp -s <(tail -c +8193 n.log) <(tail -c +8193 n2.log) && ok || fail "round trip bitmap differs"
[ "$(stat -c %s n2.log)" = "$(stat -c %s n.log)" ] && ok || fail "round trip size differs"
# native -> native and a big sparse log keep their ranges too.
run "$DL" convert big.log big.dm --to dm
[ "$rc" = 0 ] && ok || fail "convert big: $err"
ro 0 dump big.dm
[ "$out" = $'7-9\n16777215' ] && ok || fail "dump big.dm: $out"

# convert refuses an existing output, then --force replaces it.
before=$(sha256sum n2.log)
run "$DL" convert n.log n2.log --to native
[ "$rc" = 2 ] && ok || fail "convert over existing: exit $rc"
expect_in "$err" "already exists" "convert over existing"
[ "$(sha256sum n2.log)" = "$before" ] && ok || fail "refused convert changed the output"
run "$DL" convert --force u.log n2.log --to native
[ "$rc" = 0 ] && ok || fail "convert --force: $err"
ro 0 dump n2.log
[ "$out" = "0-31" ] && ok || fail "dump after convert --force: $out"

# create: an empty file needs no --force; a non-empty one does.
: >empty_ok.log
run "$DL" create empty_ok.log 100 2
[ "$rc" = 0 ] && ok || fail "create on an empty file: $err"
cp n.log keep.log
before=$(sha256sum keep.log)
run "$DL" create keep.log 100 2
[ "$rc" = 2 ] && ok || fail "create over a log: exit $rc"
expect_in "$err" "already exists and holds a native dirtylog log of 100 regions" "create refusal"
[ "$(sha256sum keep.log)" = "$before" ] && ok || fail "refused create changed the file"
run "$DL" create --force --format dm keep.log 64 8
[ "$rc" = 0 ] && ok || fail "create --force: $err"
ro 1 check keep.log
expect_in "$out" "dm format version 2, 8 regions" "create --force result"

# ---- check: 2 on corrupt logs -----------------------------------------------
# A grown log has two valid superblock copies (generation 1 in slot 0, 2 in 1).
run "$DL" create --nosync g.log 200 2
"$MARK" "disk 3 $T/g.log 2 grow" 400 3 || fail "grow g.log"
ro 1 check g.log
expect_in "$out" "slot 0: valid, generation 1, 100 regions" "grown slot 0"
expect_in "$out" "slot 1: valid, generation 2, 200 regions" "grown slot 1"
ro 0 dump g.log
[ "$out" = $'3\n100-199' ] && ok || fail "dump grown: $out"
# Corrupt the older copy: the log still reads, but check says 2.
cp g.log g0.log
put_byte g0.log 40 ff
ro 2 check g0.log
expect_in "$err" "superblock slot 0 is corrupt: superblock checksum mismatch" "check g0"
expect_in "$out" "INVALID" "check g0 verdict"
ro 0 inspect g0.log
expect_in "$out" "Generation : 2 (superblock slot 1 of 2)" "inspect g0"
# Corrupt the newer copy: falls back to generation 1; still 2.
cp g.log g1.log
put_byte g1.log $((4096 + 48)) 07
ro 2 check g1.log
expect_in "$err" "superblock slot 1 is corrupt" "check g1"
# The only copy of a new log corrupted: nothing readable.
cp n.log c.log
put_byte c.log 33 01
ro 2 check c.log
expect_in "$err" "corrupt native log: superblock: superblock checksum mismatch" "check c"
ro 2 inspect c.log
ro 2 dump c.log
ro 2 dump --json c.log
# Bits past region_count must be 0 (native: region 100 = byte 8192+12 bit 4).
cp n.log s.log
put_byte s.log $((8192 + 12)) "$(printf %02x $((0x$(get_byte s.log $((8192 + 12))) | 0x10)))"
ro 2 check s.log
expect_in "$err" "1 bits at or past region_count (100) are set" "check stray native"
ro 0 dump s.log
[ "$out" = "$want" ] && ok || fail "dump with a stray bit: $out"
expect_in "$err" "bits past region_count are set" "dump stray warning"
# dm: a bit past nr_regions set (1 = clean would be wrong there too).
cp d.log sd.log
put_byte sd.log $((1024 + 15)) 80
ro 2 check sd.log
# dm with a bad version, a truncated log, an empty file, garbage, all-zero.
cp d.log dv.log
put_byte dv.log 4 07
ro 2 check dv.log
expect_in "$err" "unsupported dm log version 7" "check dm version"
cp n.log t.log
truncate -s 8192 t.log
ro 2 check t.log
expect_in "$err" "truncated" "check truncated"
: >empty.log
ro 2 check empty.log
expect_in "$err" "empty" "check empty"
head -c 20000 /dev/urandom >garbage.log
put_byte garbage.log 0 00
ro 2 check garbage.log
expect_in "$err" "is not a dirtylog log" "check garbage"
head -c 8192 /dev/zero >zero.log
ro 2 inspect zero.log
expect_in "$err" "header is all zero" "inspect zero"
# Native log in a longer file: fine, with a warning.
cp n.log long.log
head -c 4096 /dev/zero >>long.log
ro 1 check long.log
expect_in "$err" "4096 bytes past the end of the log" "check long"

# Every read-only command on each kind of log above (valid, grown, corrupt,
# truncated, empty, garbage, all-zero, stray bits) leaves every file unchanged.
before=$(hash_all)
for f in n.log d.log g.log g0.log g1.log c.log s.log sd.log dv.log t.log empty.log \
    garbage.log zero.log long.log; do
    for cmd in inspect "inspect --json" dump "dump --json" check "check --json"; do
        # shellcheck disable=SC2086
        run "$DL" $cmd "$f"
        case $rc in 0 | 1 | 2) ;; *) fail "$cmd $f: exit $rc" ;; esac
        # check --json answers with one JSON object whatever the log holds.
        [ "$cmd" = "check --json" ] && json_ok "check --json $f"
    done
done
after=$(hash_all)
[ "$after" = "$before" ] && ok || fail "a read-only command changed: $(diff <(echo "$before") <(echo "$after"))"

# ---- a live log: read-only commands work while a writer owns it -------------
# mark_regions --hold keeps the log open (as an engine would) until its stdin
# closes; "held" on its stdout says it owns the log.
for fmt in native dm; do
    f=live-$fmt.log
    run "$DL" create --nosync --format $fmt $f 200 2
    [ "$rc" = 0 ] && ok || fail "create $f: $err"
    extra=""
    [ $fmt = dm ] && extra=" format=dm"
    table="disk $([ $fmt = dm ] && echo 3 || echo 2) $T/$f 2$extra"
    coproc HOLDER { "$MARK" --hold "$table" 200 4 5 6; }
    line=""
    read -r -t 30 -u "${HOLDER[0]}" line
    [ "$line" = held ] && ok || fail "holder of $f did not start: [$line]"
    ro 0 dump $f
    [ "$out" = "4-6" ] && ok || fail "dump of live $f: $out"
    ro 1 check $f
    ro 0 inspect $f
    ro 0 dump --json $f
    # A second writer (the library, or create --force) is refused; nothing changes.
    before=$(hash_all)
    run "$MARK" "$table" 200 9
    [ "$rc" = 1 ] && ok || fail "second writer of live $f: exit $rc"
    expect_in "$err" "log $T/$f is in use by another process" "second writer of $f"
    run "$DL" create --force --nosync $f 200 2
    [ "$rc" = 2 ] && ok || fail "create --force over live $f: exit $rc"
    expect_in "$err" "is in use by another process" "create --force over live $f"
    run "$DL" convert --force --region-size 2 n.log $f --to $fmt
    [ "$rc" = 2 ] && ok || fail "convert --force over live $f: exit $rc"
    expect_in "$err" "is in use by another process" "convert --force over live $f"
    [ "$(hash_all)" = "$before" ] && ok || fail "a refused writer changed a file"
    exec {HOLDER[1]}>&-
    wait "$HOLDER_PID"
    [ $? = 0 ] && ok || fail "holder of $f failed"
    ro 0 dump $f
    [ "$out" = "4-6" ] && ok || fail "dump of $f after its owner left: $out"
done

# ---- bad inputs: exit 2 and a message naming the problem --------------------
mkdir adir
bad() { # bad <needle> <args...>
    local needle=$1
    shift
    local before
    before=$(hash_all)
    run "$DL" "$@"
    [ "$rc" = 2 ] && ok || fail "dirtylog $*: exit $rc, expected 2"
    expect_in "$err" "$needle" "dirtylog $*"
    [ "$(hash_all)" = "$before" ] && ok || fail "dirtylog $* changed a file"
    nbad=$((nbad + 1))
}
nbad=0
bad "no command given"
bad "unknown command 'frobnicate'" frobnicate
bad "unknown option '--bogus'" inspect --bogus n.log
bad "unknown option '-x'" dump -x n.log
bad "missing arguments" create only.log
bad "'abc' is not a number" create z.log abc 8
bad "not a power of 2" create z.log 1000 1000
bad "unknown unit 'Q'" create z.log 10Q 8
bad "unknown format 'xyz'" create --format xyz z.log 100 2
bad "--sync and --nosync exclude each other" create --sync --nosync z.log 100 2
bad "larger than the target" create z.log 2 4
bad "needs a value" create z.log 100 4 --format
bad "No such file or directory" inspect "$T/nonexistent.log"
bad "is a directory" inspect adir
bad "is a directory" create adir 100 2
bad "nodir: No such file or directory" create "$T/nodir/x.log" 100 2
bad "is not a dirtylog log" dump garbage.log
bad "empty (0 bytes)" dump empty.log
bad "truncated" inspect t.log
bad "missing --to" convert n.log out.log
bad "unknown format 'zfs' for --to" convert n.log out.log --to zfs
bad "does not store its region size: give --region-size" convert d.log out.log --to native
bad "contradicts the region size stored" convert --region-size 4 n.log out.log --to dm
bad "already exists" convert n.log n2.log --to dm
bad "same file" convert --force n.log ./n.log --to dm
bad "already exists" create n.log 100 2
bad "too many arguments" dump n.log d.log
bad "missing the log path" check
bad "takes no value" dump --json=1 n.log
bad "given twice" dump --json --json n.log
bad "not a power of 2" inspect --region-size 3 d.log
bad "no help for unknown command" help nope
# The issue's example: 2^57 regions; the bitmap cap refuses it at once.
bad "more than the cap of 1073741824 bytes" create z.log 1152921504606846976 8
bad "more than the cap of 4096 bytes" create --max-bitmap 4K z.log 1G 8
bad "bad --max-bitmap: '0' is zero" create --max-bitmap 0 z.log 100 2
bad "bad --max-bitmap" create --max-bitmap 1X z.log 100 2
[ ! -e z.log ] && [ ! -e out.log ] && ok || fail "a refused command created a file"
ls "$T" | grep -q dirtylog-tmp && fail "temporary file left behind" || ok
[ "$nbad" -ge 10 ] && ok || fail "only $nbad bad inputs"

echo "test_tool: $checks checks, $nbad bad inputs, $fails failures"
[ "$fails" = 0 ]
