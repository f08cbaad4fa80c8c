#!/usr/bin/env bats
# What a computation keeps when it is restarted somewhere else: the
# hostname (another host is played by another UTS namespace).
#
# Every test has its own directory under build/test-runs/bats-tree/, starts
# its processes in the background with only fds 0-2, waits for them with a
# deadline, and kills by pid in teardown whatever it started.

load helpers

TREE_RUNS=$TOP/build/test-runs/bats-tree

setup_file() {
	runs_lock "$TREE_RUNS"
}

setup() {
	app_setup "$TREE_RUNS"
}

teardown() {
	app_teardown
}

@test "restart in another UTS namespace keeps the old hostname" {
	[ "$(id -u)" -eq 0 ] || skip "unshare --uts needs root"
	unshare --uts true 2>/dev/null || skip "unshare --uts does not work here"
	other=crest-other-host
	[ "$(hostname)" != "$other" ] || skip "this host is already named $other"

	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/hostname"
	app=$BG
	wait_registered
	sleep 2
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	kill_app "$app"

	echo "--- killed, restarting in a UTS namespace named $other ---" >>"$OUT"
	# unshare and sh exec: the restored program keeps the pid $BG
	start_bg unshare --uts sh -c 'hostname "$1" && exec "$2" restart --dir "$3"' \
		sh "$other" "$CREST" "$CK"
	app=$BG
	# the restored program runs in a namespace whose hostname is $other
	own_ns=$(readlink /proc/self/ns/uts)
	for ((i = 0; i < 100; i++)); do
		app_ns=$(readlink "/proc/$app/ns/uts" 2>/dev/null) || break
		[ "$app_ns" != "$own_ns" ] && [ "$(cat "/proc/$app/comm")" != sh ] && break
		sleep 0.1
	done
	[ -n "$app_ns" ]
	[ "$app_ns" != "$own_ns" ]
	run_logged nsenter -t "$app" -u hostname
	[ "$status" -eq 0 ]
	[ "$output" = "$other" ]
	run_logged nsenter -t "$app" -u cat /proc/sys/kernel/hostname
	[ "$output" = "$other" ]

	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	# the program compared its hostname with the one it started with every
	# 100 ms, also after the restart
	check_output "RESULT host-stable"
}

@test "restart after the files moved: --path-map, a new empty TMPDIR (its session folder made again) and cwd, --env; then again into a third TMPDIR" {
	W=$D/w
	mkdir -p "$W/old" "$W/t1" "$W/t2" "$W/t3"
	seq 1 300 >"$W/old/data.txt"
	# launched in $W/old with TMPDIR=$W/t1
	start_bg sh -c 'cd "$1" && TMPDIR="$2" exec "$3" launch --dir "$4" -- "$5" "$1/data.txt"' \
		sh "$W/old" "$W/t1" "$CREST" "$CK" "$CR_BIN/pathmap"
	app=$BG
	wait_registered
	sleep 2
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	kill_app "$app"

	# the directory moves; the restart runs elsewhere with another TMPDIR,
	# new and empty (the old one is gone, as on another node)
	mv "$W/old" "$W/new"
	rm -rf "$W/t1"
	echo "--- killed, files moved, restarting ---" >>"$OUT"
	start_bg sh -c 'cd / && TMPDIR="$1" exec "$2" restart --dir "$3" --path-map "$4=$5" --env CREST_TEST_ENV=hello' \
		sh "$W/t2" "$CREST" "$CK" "$W/old" "$W/new"
	app=$BG
	# and once more, from the second TMPDIR to a third (its files are
	# found where they are now, not where the program thinks they are)
	wait_registered
	sleep 1
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	kill_app "$app"
	rm -rf "$W/t2"
	echo "--- killed again, restarting ---" >>"$OUT"
	start_bg sh -c 'cd / && TMPDIR="$1" exec "$2" restart --dir "$3" --path-map "$4=$5" --env CREST_TEST_ENV=hello' \
		sh "$W/t3" "$CREST" "$CK" "$W/old" "$W/new"
	app=$BG
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "RESULT sum=45150 n=300"
	# it still sees its old working directory, and the environment was updated
	grep -aqx "cwd=$W/old" "$OUT"
	grep -aqx "restart_count=2" "$OUT"
	grep -aqx "env=hello" "$OUT"
	# its log went on in the new TMPDIR (the old one was mapped there)
	[ -s "$W/t3/pathmap.log" ]
	tail -n 1 "$W/t3/pathmap.log" | grep -qx 300
	# its session folder in TMPDIR came back there (0700) with its held
	# log, whole, and its FIFO
	[ "$(stat -c %a "$W/t3/sess")" = 700 ]
	[ -p "$W/t3/sess/fifo" ]
	[ "$(tr '\n' ' ' <"$W/t3/sess/held.log")" = "50 100 150 200 250 300 " ]
	# and the file it mapped shared is there, not under an older TMPDIR
	[ -f "$W/t3/sess/shared.map" ]
	[ ! -e "$W/t1" ] && [ ! -e "$W/t2" ]
}

@test "--path-map to a directory that does not exist is refused before anything starts" {
	run_logged "$CREST" restart --dir "$CK" --path-map /nonexistent-old=/nonexistent-new
	[ "$status" -eq 2 ]
	[[ "$output" == *"/nonexistent-new"* ]]
	[[ "$output" == *"No such file"* ]]
	run_logged "$CREST" restart --dir "$CK" --path-map relative=/tmp
	[ "$status" -eq 2 ]
	[[ "$output" == *"absolute"* ]]
}

@test "a generation that lacks one process's image is refused before anything starts" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/forktree"
	app=$BG
	sleep 2
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	pkill -9 -P "$app" || true
	kill_app "$app"
	# remove a child's image (not the root's, p-*-$app)
	victim=$(ls "$CK"/latest/n0/*.img | grep -v -- "-$app.img" | head -n 1)
	[ -n "$victim" ]
	rm -f "$victim"
	run_logged "$CREST" restart --dir "$CK"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$(basename "$victim")"* ]]
	[[ "$output" == *"damaged"* ]]
	# nothing was started
	! pgrep -f "crest-restart.*$CK" || false
}

# kill -9 every process the coordinator of $CK lists (an orphan is no
# descendant of the application), then wait for the application and the
# coordinator to be gone
kill_computation() {
	local p
	for p in $(cat "$CK/PROCS"); do
		kill -9 "$p" 2>/dev/null || true
	done
	wait_exit "$1" 10
	wait_coord_gone "$CK" 15
}

@test "an orphan (its parent had exited) comes back with the same parent as it had, not as a child of the root" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/orphan" "$D"
	app=$BG
	wait_line '^orphan ready$' 15
	wait_processes 2
	note_coord
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	kill_computation "$app"
	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_processes 2
	# the restored orphan's parent is not the restored root
	orphan=
	for p in $(grep -vx "$BG" "$CK/PROCS"); do
		is_alive "$p" && orphan=$p
	done
	[ -n "$orphan" ]
	[ "$(awk '{print $4}' "/proc/$orphan/stat")" != "$BG" ]
	PIDS+=("$orphan")
	touch "$D/go"
	wait_exit "$BG" 30
	[ "$rc" -eq 0 ]
	check_output "RESULT sum=44850"
}
