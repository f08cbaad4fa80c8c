#!/usr/bin/env bats
# A checkpoint that does not fit on its file system: refused (or aborted)
# with a clear message, nothing partial left, the previous generation still
# `latest` and intact, the application still running.  Needs root for a
# small tmpfs; skipped otherwise.

load helpers

setup() {
	require_core
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	D=$(test_dir)
	CK=$D/ck
	mkdir -p "$CK"
	mount -t tmpfs -o size=64m,mode=0700 crest-space-test "$CK" || skip "cannot mount tmpfs"
	APP=
}

teardown() {
	[ -n "${APP:-}" ] && kill -9 "$APP" 2>/dev/null
	local pid
	pid=$(awk '/^pid/ {print $2}' "$CK/COORD" 2>/dev/null)
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	sleep 0.2
	umount "$CK" 2>/dev/null || umount -l "$CK" 2>/dev/null
	true
}

# complete generations in $CK
complete_gens() {
	local n=0 g
	for g in "$CK"/gen-*; do
		[ -f "$g/MANIFEST" ] && n=$((n + 1))
	done
	echo "$n"
}

@test "a checkpoint that does not fit is refused; the previous one stays latest; the program goes on" {
	# 40 MiB of data: one image fits in 64 MiB, two do not
	(exec_clean "$CREST" launch --dir "$CK" --keep 2 -- "$CR_BIN/bigmem" 40 >"$D/out" 2>&1) &
	APP=$!
	sleep 1
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not enough space"* || "$output" == *"No space left"* || "$output" == *"no space left"* ]]
	# nothing partial is left, generation 1 is still the newest and verifies
	[ "$(complete_gens)" -eq 1 ]
	[ ! -e "$CK/gen-000002" ]
	[ "$(readlink "$CK/latest")" = gen-000001 ]
	run_logged timeout 60 "$CREST" inspect --quiet "$CK/latest"
	[ "$status" -eq 0 ]
	# the program was not harmed
	wait "$APP"
	local rc=$?
	APP=
	[ "$rc" -eq 0 ]
	tail -1 "$D/out" | grep -qx PASS
}
