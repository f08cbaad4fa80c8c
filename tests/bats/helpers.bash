# Shared by the bats tests: paths and a logging `run`.
bats_require_minimum_version 1.5.0
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BATS_TEST_FILENAME}")/../.." && pwd)
CREST=$TOP/build/bin/crest
CR_BIN=$TOP/build/tests/cr
# the uninterrupted result of build/tests/cr/counter (400 steps)
COUNTER_RESULT="RESULT counter 80200 checksum 0x1d9254ec8001cb25"
BATS_RUNS=$TOP/build/test-runs/bats
# tests kill coordinators and start the next one themselves: the processes
# of a computation do not start one again (preload/respawn.c) unless a test
# says so
export CREST_RESPAWN_AFTER=0
BATS_CMDLOG=$TOP/build/test-logs/bats-commands.log
mkdir -p "$BATS_RUNS" "$(dirname "$BATS_CMDLOG")"

# run_logged CMD...: like bats' `run` (sets $status, $output, $lines), and
# logs the command, its exit status and its output to the test's output
# (shown when the test fails) and to build/test-logs/bats-commands.log.
# A leading `!` or `-N` is passed to run (expect failure / that status).
run_logged() {
	if [[ "${1:-}" == "!" || "${1:-}" =~ ^-[0-9]+$ ]]; then
		local expect=$1
		shift
		run "$expect" "$@"
	else
		run "$@"
	fi
	{
		echo "+ $*"
		echo "  exit status: $status"
		[ -n "$output" ] && printf '%s\n' "$output" | sed 's/^/  | /'
	} | tee -a "$BATS_CMDLOG"
}

# a fresh directory for this test under build/test-runs/bats
test_dir() {
	local d=$BATS_RUNS/${BATS_TEST_NAME}
	rm -rf "$d"
	mkdir -p "$d"
	echo "$d"
}

# exec CMD with only fds 0-2 (bats keeps its TAP stream on fd 3; a
# checkpoint would see it as a pipe to another process)
exec_clean() {
	local fd
	for fd in /proc/self/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null
	done
	exec "$@"
}

require_crest() {
	[ -x "$CREST" ] || skip "$CREST is not built"
}

require_core() {
	require_crest
	[ -e "$TOP/build/lib/libcrest.so" ] || skip "libcrest.so is not built"
}

# wait up to $2 s (default 15) until no coordinator runs for dir $1
wait_coord_gone() {
	local i
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		"$CREST" status --dir "$1" --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin).get("coordinator") is None else 1)' && return 0
		sleep 0.1
	done
	return 1
}

# img_payload_middle IMG: an offset in the middle of the largest section
# payload of a crest image (a flip there must break a checksum; padding
# between sections is not covered by one).  Layout: docs/image-format.md.
img_payload_middle() {
	python3 - "$1" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb")
data = f.read()
off, best = 4096, (0, 0)
while off + 64 <= len(data):
    magic, typ, length = struct.unpack_from("<IIQ", data, off)
    if magic != 0x43455343:
        break
    if length > best[1]:
        best = (off + 4096, length)
    if typ == 0xffff:
        break
    off += 4096 + (length + 4095) // 4096 * 4096
if best[1] == 0:
    print(len(data) // 2)
else:
    print(best[0] + best[1] // 2)
PY
}

# flip_byte FILE OFFSET: invert one byte in place (dd conv=notrunc)
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# patch_header IMG OFFSET VALUE [MANIFEST]: set a uint32 of the image header
# and recompute the header crc32c (offset 252, over the 256 bytes with it
# zeroed); with MANIFEST, also the crc the MANIFEST lists for the image, so
# the image looks like what another crest build would have written
patch_header() {
	python3 - "$@" <<'PY'
import struct, sys
path, off, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1))
    return crc ^ 0xffffffff
with open(path, "r+b") as f:
    hdr = bytearray(f.read(256))
    struct.pack_into("<I", hdr, off, val)
    struct.pack_into("<I", hdr, 252, 0)
    struct.pack_into("<I", hdr, 252, crc32c(bytes(hdr)))
    f.seek(0)
    f.write(hdr)
if len(sys.argv) > 4:
    import os
    man = sys.argv[4]
    rel = os.path.relpath(path, os.path.dirname(man))
    lines = open(man).read().split("\n")
    for i, l in enumerate(lines):
        w = l.split()
        if len(w) == 3 and w[0] == rel:
            w[2] = "%08x" % struct.unpack_from("<I", hdr, 252)[0]
            lines[i] = " ".join(w)
    open(man, "w").write("\n".join(lines))
PY
}

# ---- for tests that run an application under crest: they set $OUT (its
# output), $CK (its checkpoint directory), and the arrays PIDS and COORDS
# (what teardown kills)

# start_bg CMD...: CMD in the background, with only fds 0-2, output
# appended to $OUT; its pid in $BG (crest launch and crest restart keep
# their pid for the application)
start_bg() {
	exec_clean "$@" >>"$OUT" 2>&1 </dev/null &
	BG=$!
	PIDS+=("$BG")
	echo "started pid $BG: $*"
}

# alive (not exited, not a zombie)
is_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

is_coord() {
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = crest-coord ]
}

# the coordinator pid D/COORD names ("pid N"); remembered for teardown
coord_pid() {
	awk '$1 == "pid" { print $2 }' "$CK/COORD" 2>/dev/null
}

# kill -9 the coordinator of $CK (its pid in $coord) and wait up to 5 s
# until it is gone
kill_coord() {
	local i
	coord=$(coord_pid)
	[ -n "$coord" ] || { echo "no coordinator named in $CK/COORD"; return 1; }
	kill -9 "$coord"
	for ((i = 0; i < 50; i++)); do
		is_coord "$coord" || return 0
		sleep 0.1
	done
	echo "coordinator $coord still runs 5 s after kill -9"
	return 1
}

note_coord() {
	local p
	p=$(coord_pid)
	[ -n "$p" ] && COORDS+=("$p")
	true
}

# wait_exit PID SECS: wait at most SECS s for PID (a child of this shell)
# to exit; its exit status in $rc
wait_exit() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		is_alive "$1" || break
		sleep 0.1
	done
	if is_alive "$1"; then
		echo "pid $1 still runs after $2 s"
		return 1
	fi
	rc=0
	wait "$1" || rc=$?
	echo "pid $1 exited $rc"
}

# wait_processes N: until the coordinator of $CK lists N processes (10 s)
wait_processes() {
	local i n
	for ((i = 0; i < 100; i++)); do
		n=$(timeout 10 "$CREST" status --dir "$CK" --json 2>/dev/null |
			python3 -c 'import json, sys; print(len((json.load(sys.stdin).get("coordinator") or {}).get("processes", [])))' \
			2>/dev/null) || true
		[ "${n:-0}" -eq "$1" ] && return 0
		sleep 0.1
	done
	echo "the coordinator of $CK lists ${n:-no} processes after 10 s, not $1; crest status --json says:"
	timeout 10 "$CREST" status --dir "$CK" --json 2>&1 || true
	return 1
}

# wait_registered: until the coordinator of $CK lists 1 process (10 s)
wait_registered() {
	wait_processes 1 && note_coord
}

# wait_line PATTERN SECS: until $OUT has a line matching PATTERN
wait_line() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -aq -- "$1" "$OUT" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no line '$1' in $OUT after $2 s"
	return 1
}


# ---- a test that starts an application in the background ----
# Files of such tests: setup_file() { runs_lock DIR; }, setup() { app_setup
# DIR; }, teardown() { app_teardown; }.  Each test gets D (its directory
# under DIR), CK (the checkpoint directory), OUT (the application's
# output), and the arrays PIDS and COORDS of what teardown kills.

# one run of a test file at a time in this tree (fixed directories)
runs_lock() {
	mkdir -p "$1"
	exec {RUNS_LOCK_FD}>"$1/.lock"
	flock -w 600 "$RUNS_LOCK_FD"
}

app_setup() {
	require_core
	D=$1/$BATS_TEST_NAME
	rm -rf "$D"
	mkdir -p "$D"
	CK=$D/ck
	OUT=$D/app.out
	PIDS=()
	COORDS=()
}

# SIGSTOP the tree under $1, listed again until no new process appears,
# then SIGKILL all of it (a shell in a fork loop would otherwise leave an
# orphan behind between the listing and the kill)
kill_tree() {
	local root=$1 pids prev='' i
	kill -STOP "$root" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		pids=$(pgrep -P "$root" | tr '\n' ' ')
		[ "$pids" = "$prev" ] && break
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -STOP $pids 2>/dev/null
		prev=$pids
	done
	# shellcheck disable=SC2086
	kill -9 "$root" $pids 2>/dev/null
	true
}

# kills what the test started, shows the application's output and the
# coordinator's log (in the TAP output of a failed test)
app_teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill_tree "$p"
		{ wait "$p"; } 2>/dev/null || true
	done
	note_coord
	for p in "${COORDS[@]}"; do
		is_coord "$p" && kill -9 "$p" 2>/dev/null
	done
	if [ -s "$OUT" ]; then
		echo "--- $OUT"
		tail -n 20 "$OUT"
	fi
	[ -e "$CK/coord.log" ] && { echo "--- $CK/coord.log"; tail -n 80 "$CK/coord.log"; echo; }
	true
}

# complete generations of $CK (gen-* with a MANIFEST), oldest first
complete_gens() {
	local g
	for g in "$CK"/gen-*; do
		[ -e "$g/MANIFEST" ] && echo "${g##*/}"
	done
	true
}

# the output ends in PASS, has no FAIL, and its last RESULT line is $1
# (any RESULT line when $1 is empty)
check_output() {
	run_logged cat "$OUT"
	! grep -aq '^FAIL' "$OUT" || false
	[ "$(grep -av '^[[:space:]]*$' "$OUT" | tail -n 1)" = PASS ]
	if [ -n "${1:-}" ]; then
		[ "$(grep -a '^RESULT' "$OUT" | tail -n 1)" = "$1" ]
	fi
}

# kill -9 the application $1 and wait until its coordinator has left
kill_app() {
	kill -9 "$1"
	wait_exit "$1" 10
	wait_coord_gone "$CK" 15
}
