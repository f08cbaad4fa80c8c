#!/bin/bash
# make_build: `make -j2` of a small C project (tests/cr/make_project/: 12
# modules of 1024 generated functions, about 2.5 s of gcc -O2 each, a main,
# a link, and a run of the program that writes checksum.txt), about 15 s on
# 2 cores.  Under crest the checkpoints land in the middle of the build:
# make, its jobserver pipe, the gcc drivers, cc1 and as with the pipe
# between them (-pipe), collect2 and ld with their temporary files in
# ${TMPDIR:-/tmp}.  The project is copied into a fresh
# build directory first; objects that finished compiler runs wrote stay on
# disk across a restart, files the processes had open are put back by it.
# Then the built program runs once more, and its output must equal
# checksum.txt.  Prints `RESULT checksum=0x...` and PASS, or FAIL and why.
# Run as `bash tests/cr/make_build.sh`.
set -uo pipefail
export LC_ALL=C

SRC=$(cd "$(dirname "$0")/make_project" && pwd)

fail() {
	echo "FAIL make_build: $*"
	exit 1
}

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/crest-make_build.XXXXXX") || fail "mktemp -d failed"
trap 'rm -rf "$BUILD"' EXIT
cp -p "$SRC"/Makefile "$SRC"/*.c "$SRC"/*.h "$BUILD"/ || fail "cannot copy $SRC into $BUILD"

echo "make_build: building in $BUILD"
t0=$SECONDS
# MAKEFLAGS of an outer make (make check) would bring its jobserver fds
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -j2 -C "$BUILD"
rc=$?
[ $rc -eq 0 ] || fail "make -j2 exited $rc"
echo "make_build: make -j2 took $((SECONDS - t0)) s"

[ -s "$BUILD/checksum.txt" ] || fail "the build left no checksum.txt"
[ "$(tail -n 1 "$BUILD/checksum.txt")" = ok ] || fail "checksum.txt does not end in ok: $(tail -n 3 "$BUILD/checksum.txt")"

"$BUILD/prog" >"$BUILD/again.txt"
rc=$?
[ $rc -eq 0 ] || fail "the built program exited $rc: $(grep -a '^FAIL' "$BUILD/again.txt" | head -n 1)"
cmp -s "$BUILD/checksum.txt" "$BUILD/again.txt" ||
	fail "the built program printed something else than during the build: $(diff "$BUILD/checksum.txt" "$BUILD/again.txt" | head -n 4)"

sum=$(awk '$1 == "checksum" { print $2 }' "$BUILD/again.txt")
[ -n "$sum" ] || fail "no checksum line in the program's output"
echo "RESULT checksum=$sum"
echo PASS
