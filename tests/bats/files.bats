#!/usr/bin/env bats
# What crest restart does with the files the program had open (the policy
# `crest restart --help` documents): a file open for writing that grew
# after the checkpoint is cut back (not with --no-truncate GLOB); one that
# shrank or was replaced stops the restart before anything starts, unless
# named with --allow-changed; small files and files under /tmp are saved in
# the image and put back; a changed read-only file only gets a warning.
#
# The program is build/tests/cr/filewriter (tests/cr/filewriter.c): it
# checks before every record it appends that the file is exactly as long as
# what it wrote, reports the size it sees when it resumes after a pause
# ("resumed at step N: size S, expected E"), and verifies the whole file at
# the end.
#
# Every test has its own directory under build/test-runs/bats-files/ (and
# /tmp/crest-bats-files.PID for the /tmp test), starts its processes in the
# background with only fds 0-2, waits for them with a deadline, and kills by
# pid in teardown whatever it started.

load helpers

FILES_RUNS=$TOP/build/test-runs/bats-files
MIB=1048576
REC=4096
STEPS=300

setup_file() {
	runs_lock "$FILES_RUNS"
}

setup() {
	[ -x "$CR_BIN/filewriter" ] || skip "$CR_BIN/filewriter is not built"
	app_setup "$FILES_RUNS"
	# the checkout may itself be under /tmp (CI clones anywhere): say which
	# directories are node-local instead of relying on crest's default
	export CREST_NODE_LOCAL=/dev/shm
	TMPD=
}

teardown() {
	app_teardown
	[ -n "$TMPD" ] && rm -rf "$TMPD"
	true
}

fsize() {
	stat -c %s "$1"
}

# the output of the application after the restart marker
after_restart() {
	sed -n '/^--- restart ---$/,$p' "$OUT"
}

# run_and_kill FILE MIB [READONLY]: launch filewriter on FILE, checkpoint
# it at ~2 s, let it grow FILE ~1 s more, kill -9 it; FILE's size then in
# $KILL_SIZE.  $RO_HOOK, when set, runs between the checkpoint and the kill.
run_and_kill() {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/filewriter" "$@"
	app=$BG
	wait_registered
	wait_line '^step 50$' 15
	sleep 0.8
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	CKPT_SIZE_AFTER=$(fsize "$1")
	[ -n "${RO_HOOK:-}" ] && eval "$RO_HOOK"
	sleep 1
	is_alive "$app"
	kill_app "$app"
	KILL_SIZE=$(fsize "$1")	# after the kill: the writer may still add a record before it
	echo "file $1: $CKPT_SIZE_AFTER bytes just after the checkpoint, $KILL_SIZE at the kill"
	# it did grow after the checkpoint, and had not finished
	[ "$KILL_SIZE" -gt "$CKPT_SIZE_AFTER" ]
	[ "$KILL_SIZE" -lt $(($2 * MIB + STEPS * REC)) ]
	! grep -aq '^PASS' "$OUT" || false
}

# restart_to_end ARGS...: crest restart ARGS in the background, must end 0
# with PASS and the exact size for a header of $HDR_MIB
restart_to_end() {
	restart_logged "$@"
	! grep -aq '^FAIL' "$OUT" || false
	[ "$(grep -av '^[[:space:]]*$' "$OUT" | tail -n 1)" = PASS ]
	[ "$(grep -a '^RESULT' "$OUT" | tail -n 1)" = "RESULT filewriter $((HDR_MIB * MIB + STEPS * REC)) bytes" ]
}

# the "resumed at step N: size S, expected E" line after the restart: S and
# E in $RES_SIZE and $RES_EXPECT
resumed_line() {
	local l
	l=$(after_restart | grep -a '^resumed at step' | head -n 1)
	echo "first resumed line after the restart: $l"
	[ -n "$l" ]
	RES_SIZE=$(echo "$l" | sed -E 's/.*: size ([0-9]+), expected ([0-9]+).*/\1/')
	RES_EXPECT=$(echo "$l" | sed -E 's/.*: size ([0-9]+), expected ([0-9]+).*/\2/')
}

# restart_logged ARGS...: crest restart ARGS in the background, must end
# 0; what was printed after the restart marker in $output
restart_logged() {
	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK" "$@"
	wait_exit "$BG" 60
	run_logged after_restart
	[ "$rc" -eq 0 ]
}

# readonly_under_tmp: a read-only input $ro in a node-local $TMPD, with an
# old modification time ($before), and the output file $f (header 1 MiB)
readonly_under_tmp() {
	HDR_MIB=1
	TMPD=/tmp/crest-bats-files.$$
	rm -rf "$TMPD"
	mkdir -p "$TMPD"
	export CREST_NODE_LOCAL=/dev/shm:$TMPD
	f=$D/out.dat
	ro=$TMPD/input.txt
	seq 1 1000 >"$ro"
	touch -d '2001-02-03 04:05:06.789' "$ro"
	before=$(stat -c %y "$ro")
}

# refused_quickly FILE ARGS...: crest restart ARGS exits 1 within 15 s,
# naming FILE, and nothing runs afterwards; its output in $REFUSAL (the
# tests check last that it names the way out, --allow-changed, so that the
# rest is checked even when it does not)
refused_quickly() {
	local file=$1 t0
	shift
	echo "--- restart ---" >>"$OUT"
	t0=$SECONDS
	run_logged timeout 30 "$CREST" restart --dir "$CK" "$@"
	[ "$status" -eq 1 ]
	[ $((SECONDS - t0)) -le 15 ]
	[[ "$output" == *"$file"* ]]
	REFUSAL=$output
	# the program did not run: nothing it prints, no coordinator left
	[[ "$output" != *"resumed at step"* ]]
	[[ "$output" != *"step "[0-9]* ]]
	sleep 1
	run_logged after_restart
	[ "${#lines[@]}" -eq 1 ]
	wait_coord_gone "$CK" 5
}

@test "a big file that grew after the checkpoint is cut back at restart" {
	HDR_MIB=8
	f=$D/big.dat
	run_and_kill "$f" 8
	restart_to_end
	resumed_line
	# the restarted program saw the file exactly as long as at the
	# checkpoint, shorter than it was at the kill
	[ "$RES_SIZE" -eq "$RES_EXPECT" ]
	[ "$RES_EXPECT" -lt "$KILL_SIZE" ]
	! after_restart | grep -aq '^size mismatch' || false
}

@test "a big file replaced after the kill stops the restart; --allow-changed lets it start" {
	HDR_MIB=8
	f=$D/big.dat
	run_and_kill "$f" 8
	ino0=$(stat -c %i "$f")
	# same size as at the kill, other content, another inode (the new
	# file exists before the old one goes, so the inode cannot be reused)
	head -c "$KILL_SIZE" /dev/urandom >"$f.new"
	mv "$f.new" "$f"
	[ "$(stat -c %i "$f")" != "$ino0" ]
	sum0=$(sha256sum <"$f")
	st0=$(stat -c '%i %s %Y' "$f")

	refused_quickly "$f"
	[ "$(sha256sum <"$f")" = "$sum0" ]
	[ "$(stat -c '%i %s %Y' "$f")" = "$st0" ]

	# told that the change is fine, it starts and runs to the end (its
	# verification of the header then fails: the content is not its own)
	sed -i 's/^--- restart ---$/--- refused ---/' "$OUT"
	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK" --allow-changed "$f"
	wait_exit "$BG" 60
	run_logged after_restart
	[[ "$output" == *"resumed at step"* ]]
	[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]
	grep -aqE '^(PASS|FAIL filewriter: [0-9]+ problems)$' "$OUT"
	echo "the refusal: $REFUSAL"
	[[ "$REFUSAL" == *--allow-changed* ]]
}

@test "a big file that shrank after the kill stops the restart" {
	HDR_MIB=8
	f=$D/big.dat
	run_and_kill "$f" 8
	truncate -s 1M "$f"
	sum0=$(sha256sum <"$f")
	refused_quickly "$f"
	[ "$(fsize "$f")" -eq "$MIB" ]
	[ "$(sha256sum <"$f")" = "$sum0" ]
	echo "the refusal: $REFUSAL"
	[[ "$REFUSAL" == *--allow-changed* ]]
}

@test "a big file deleted after the kill stops the restart" {
	HDR_MIB=8
	f=$D/big.dat
	run_and_kill "$f" 8
	rm "$f"
	refused_quickly "$f"
	[ ! -e "$f" ]
	echo "the refusal: $REFUSAL"
	[[ "$REFUSAL" == *--allow-changed* ]]
}

@test "--no-truncate '*.log': a grown big file is not cut back" {
	HDR_MIB=8
	f=$D/big.log
	export FILEWRITER_ALLOW_LONGER=1
	run_and_kill "$f" 8
	restart_to_end --no-truncate '*.log'
	resumed_line
	# the restarted program saw the file as long as at the kill, longer
	# than at the checkpoint
	[ "$RES_SIZE" -ge "$KILL_SIZE" ]
	[ "$RES_SIZE" -gt "$RES_EXPECT" ]
}

@test "a small file deleted after the kill is put back from the image" {
	HDR_MIB=1
	f=$D/small.dat
	run_and_kill "$f" 1
	rm "$f"
	restart_to_end
	resumed_line
	[ "$RES_SIZE" -eq "$RES_EXPECT" ]
	! after_restart | grep -aq '^size mismatch' || false
}

@test "a small file overwritten after the kill is put back as it was" {
	HDR_MIB=1
	f=$D/small.dat
	run_and_kill "$f" 1
	# same inode, same size, other bytes in the header
	head -c 65536 /dev/urandom | dd of="$f" bs=4096 seek=16 conv=notrunc status=none
	[ "$(fsize "$f")" -eq "$KILL_SIZE" ]
	restart_to_end
	resumed_line
	[ "$RES_SIZE" -eq "$RES_EXPECT" ]
}

@test "a big file under /tmp deleted after the kill is put back from the image" {
	HDR_MIB=8
	TMPD=/tmp/crest-bats-files.$$
	rm -rf "$TMPD"
	mkdir -p "$TMPD"
	export CREST_NODE_LOCAL=/dev/shm:$TMPD
	f=$TMPD/big.dat
	run_and_kill "$f" 8
	rm "$f"
	restart_to_end
	resumed_line
	[ "$RES_SIZE" -eq "$RES_EXPECT" ]
	! after_restart | grep -aq '^size mismatch' || false
}

@test "a read-only file changed after the checkpoint gets a warning, the restart runs" {
	HDR_MIB=8
	f=$D/big.dat
	ro=$D/input.txt
	seq 1 1000 >"$ro"
	# shellcheck disable=SC2016 # expanded by eval in run_and_kill
	RO_HOOK='echo "changed after the checkpoint" >>"$ro"'
	run_and_kill "$f" 8 "$ro"
	restart_logged
	# a warning naming the file, before the program's own lines
	grep -a -- "$ro" <<<"$output" | grep -aiv '^filewriter:'
	[ "$(grep -av '^[[:space:]]*$' "$OUT" | tail -n 1)" = PASS ]
	[ "$(grep -a '^RESULT' "$OUT" | tail -n 1)" = "RESULT filewriter $((HDR_MIB * MIB + STEPS * REC)) bytes" ]
}

@test "an unchanged read-only file under /tmp is saved but not rewritten at restart: same time, no warning" {
	readonly_under_tmp
	run_and_kill "$f" 1 "$ro"
	restart_logged
	# saved in the image (node-local), yet the same file, untouched
	[ "$(stat -c %y "$ro")" = "$before" ]
	! grep -a -- "$ro" <<<"$output" || false
	[ "$(grep -av '^[[:space:]]*$' "$OUT" | tail -n 1)" = PASS ]
}

@test "a read-only file under /tmp deleted after the kill comes back with its content and time" {
	readonly_under_tmp
	sum=$(md5sum <"$ro")
	run_and_kill "$f" 1 "$ro"
	rm "$ro"
	restart_logged
	[ "$(stat -c %y "$ro")" = "$before" ]
	[ "$(md5sum <"$ro")" = "$sum" ]
	[ "$(grep -av '^[[:space:]]*$' "$OUT" | tail -n 1)" = PASS ]
}

@test "a file under /tmp mapped shared on a disk, its pages out of memory at the checkpoint, gone at restart (another node, a new TMPDIR): it comes back whole" {
	TMPD=/tmp/crest-bats-files.$$
	rm -rf "$TMPD"
	mkdir -p "$TMPD"
	export CREST_NODE_LOCAL=/dev/shm:$TMPD
	[ "$(stat -f -c %T "$TMPD")" != tmpfs ] || skip "/tmp is tmpfs here: no page is only on a disk"
	data=$TMPD/work.dat
	head -c 3145728 /dev/urandom >"$data"
	start_bg "$CREST" launch --dir "$CK" -- python3 "$TOP/tests/bats/mmap_shared_app.py" "$data" 100
	app=$BG
	wait_registered
	wait_line '^step 25$' 15
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	kill_app "$app"
	rm "$data"
	restart_logged
	! grep -aq '^FAIL' "$OUT" || false
	grep -aq '^PASS' <<<"$output"
}

@test "file locks stay held across a checkpoint the program survives (saving a file's content must not drop its POSIX locks)" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/locks" "$D"
	wait_registered
	wait_line 'locks: step 40, all held' 20
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	# the program checks every 40 steps that each lock is still held
	wait_exit "$BG" 30
	run_logged cat "$OUT"
	grep -q '^PASS$' "$OUT"
	! grep -q '^FAIL' "$OUT" || false
}
