#!/usr/bin/env bats
# The core checkpoint/restart behaviour seen from the command line:
# coordinator death, restart of a deleted program, checkpoint --kill,
# restart --generation, periodic checkpoints and --keep, checkpoints that
# must fail cleanly (a thread that cannot be stopped, an unsupported fd),
# status during and after a run.
#
# Every test has its own directory under build/test-runs/bats-core/, starts
# its processes in the background with only fds 0-2, waits for them with a
# deadline, and kills by pid in teardown whatever it started.

load helpers

CORE_RUNS=$TOP/build/test-runs/bats-core

# one run of this file at a time in this tree: the tests use fixed
# directories, and another `make check` may be running it (like
# tests/cr/run-cycles.sh)
setup_file() {
	runs_lock "$CORE_RUNS"
}

setup() {
	app_setup "$CORE_RUNS"
}

teardown() {
	app_teardown
}

# the generation number `crest checkpoint` printed: its last line (notes
# such as "starting a new coordinator" go before it, on stderr)
gen_printed() {
	local last=${lines[${#lines[@]}-1]:-}
	[[ "$last" =~ ^[0-9]+$ ]] || { echo "no generation number in: $output"; return 1; }
	GEN=$last
}

# take_gens N: N checkpoints 1 s apart, each must succeed; their numbers in
# the array gens
take_gens() {
	local n
	gens=()
	for ((n = 0; n < $1; n++)); do
		sleep 1
		run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
		[ "$status" -eq 0 ]
		gen_printed
		gens+=("$GEN")
	done
}

@test "the application survives kill -9 of its coordinator" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	coord=$(coord_pid)
	[ -n "$coord" ]
	kill -9 "$coord"
	sleep 1
	is_alive "$app"
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "checkpoint after kill -9 of the coordinator starts a new one and succeeds" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	kill_coord
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	note_coord
	[ "$status" -eq 0 ]
	gen_printed
	new=$(coord_pid)
	[ -n "$new" ]
	[ "$new" != "$coord" ]
	# the generation holds the application's image, and it verifies
	run_logged timeout 60 "$CREST" inspect "$CK/latest"
	[ "$status" -eq 0 ]
	[ -n "$(find -L "$CK/latest" -name '*.img')" ]
	# and --json is JSON, with the images and the (no) ended tasks
	run_logged timeout 60 "$CREST" inspect --json "$CK/latest"
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["images"] and d["ended"] == []' "$output"
	is_alive "$app"
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "kill -9 of the coordinator: the application's processes start it again, once and not as their child; the next checkpoint covers them all" {
	export CREST_RESPAWN_AFTER=1	# RESPAWN at least 1 s old (default 30)
	cat >"$D/app.sh" <<APP
"$CR_BIN/counter" >"$D/c1.out" &
"$CR_BIN/counter" >"$D/c2.out" &
wait %1; r1=\$?
wait %2; r2=\$?
echo "counters exited \$r1 \$r2"
[ \$r1 -eq 0 ] && [ \$r2 -eq 0 ] && echo PASS
APP
	start_bg "$CREST" launch --dir "$CK" -- bash "$D/app.sh"
	app=$BG
	local i new ppid
	wait_processes 3
	note_coord
	sleep 1
	kill_coord
	# the processes try for 2 s, then one of them starts it again
	for ((i = 0; i < 100; i++)); do
		new=$(coord_pid)
		[ -n "$new" ] && [ "$new" != "$coord" ] && is_coord "$new" && break
		sleep 0.1
	done
	note_coord
	[ -n "$new" ] && [ "$new" != "$coord" ] && is_coord "$new"
	# a daemon of its own: not a child of any process of the application
	ppid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$new/status")
	[ "$ppid" != "$app" ]
	! pgrep -P "$app" | grep -qx "$ppid" || false
	wait_line 'started it again: pid' 10
	wait_processes 3
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	gen_printed
	[ "$(find -L "$CK/latest" -name '*.img' | wc -l)" -eq 3 ]
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output
	grep -qx 'counters exited 0 0' "$OUT"
	[ "$(grep -c 'started it again: pid' "$OUT")" -eq 1 ]
	[ "$(grep -a '^RESULT' "$D/c1.out")" = "$COUNTER_RESULT" ]
	[ "$(grep -a '^RESULT' "$D/c2.out")" = "$COUNTER_RESULT" ]
}

@test "restart after the program file was deleted" {
	cp "$CR_BIN/counter" "$D/counter-copy"
	start_bg "$CREST" launch --dir "$CK" -- "$D/counter-copy"
	app=$BG
	wait_registered
	sleep 2
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	run_logged timeout 60 "$CREST" inspect "$CK/latest"
	[ "$status" -eq 0 ]
	kill_app "$app"
	rm "$D/counter-copy"
	echo "--- killed, program deleted, restarting ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "checkpoint --kill ends the application with 75, restart continues" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	sleep 2
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK" --kill
	[ "$status" -eq 0 ]
	gen_printed
	wait_exit "$app" 20
	[ "$rc" -eq 75 ]
	! grep -aq '^PASS' "$OUT" || false
	wait_coord_gone "$CK" 15
	echo "--- ended by checkpoint --kill, restarting ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "restart --generation continues from an older generation; a missing one is refused" {
	start_bg "$CREST" launch --dir "$CK" --keep 3 -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	take_gens 3
	run_logged complete_gens
	[ "${#lines[@]}" -eq 3 ]
	kill_app "$app"

	run_logged ! timeout 30 "$CREST" restart --dir "$CK" --generation 99
	[ "$status" -ne 124 ]
	[[ "$output" == *99* ]]
	[[ "$output" == *generation* ]]
	wait_coord_gone "$CK" 15

	echo "--- killed, restarting from generation ${gens[0]} ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK" --generation "${gens[0]}"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "a damaged newest generation: restart says why and continues from the one before" {
	start_bg "$CREST" launch --dir "$CK" --keep 3 -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	take_gens 2
	kill_app "$app"
	# a header that no longer has the checksum its MANIFEST recorded
	img=$(ls "$CK/gen-$(printf %06d "${gens[1]}")"/n0/*.img)
	patch_header "$img" 240 12345

	echo "--- killed, restarting with generation ${gens[1]} damaged ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
	grep -q "generation ${gens[1]} in .* is damaged: the header of image .* has checksum" "$OUT"
	grep -q "restarting from generation ${gens[0]} instead" "$OUT"
	wait_coord_gone "$CK" 15

	# both damaged: refused, nothing started
	rm -f "$(ls "$CK/gen-$(printf %06d "${gens[0]}")"/n0/*.img)"
	run_logged timeout 30 "$CREST" restart --dir "$CK"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no complete generation in"*"can be restarted"* ]]
	! pgrep -f "crest-restart.*$CK" || false
}

@test "children that close every descriptor (close_fds, daemons; libc or raw syscall): nothing printed, checkpoints go on, a restart from them ends right" {
	start_bg "$CREST" launch --dir "$CK" --interval 1 -- python3 "$TOP/tests/bats/closefds_app.py" 4 6
	app=$BG
	# within the 6 s the children keep every descriptor closed: two
	# generations of all 5 processes (a process that cannot answer makes
	# each checkpoint wait for it, then fail)
	local full=0 g i
	for ((i = 0; i < 50 && full < 2; i++)); do
		full=0
		for g in $(complete_gens); do
			[ "$(ls "$CK/$g/n0" | grep -c '\.img$')" -eq 5 ] && full=$((full + 1))
		done
		sleep 0.1
	done
	[ "$full" -ge 2 ]
	kill_tree "$app"
	wait_exit "$app" 10
	wait_coord_gone "$CK" 15
	! grep -q 'crest:' "$OUT" || false

	echo "--- killed, restarting ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	run_logged cat "$OUT"
	grep -qx "done 4" "$OUT"
	! grep -q 'crest:' "$OUT" || false
	# asleep, with crest's descriptors closed: not spinning
	awk '$1 == "cpu" { exit !($2 < 1) }' "$OUT"
}

@test "launch --interval 1 checkpoints periodically and keeps 2 generations" {
	start_bg "$CREST" launch --dir "$CK" --interval 1 -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	for ((i = 0; i < 60; i++)); do
		[ "$(complete_gens | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	run_logged complete_gens
	[ "${#lines[@]}" -ge 2 ]

	# while it runs: never 3 complete generations for longer than the
	# moment between a commit and the removal of the oldest
	over=0
	for ((i = 0; i < 25 && over < 3; i++)); do
		n=$(complete_gens | wc -l)
		if [ "$n" -gt 2 ]; then over=$((over + 1)); else over=0; fi
		sleep 0.1
	done
	run_logged complete_gens
	[ "$over" -lt 3 ]

	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
	wait_coord_gone "$CK" 15
	run_logged complete_gens
	[ "${#lines[@]}" -eq 2 ]
	newest=${lines[1]}
	# at most one generation in progress besides the complete ones
	run_logged ls "$CK"
	[ "$(find "$CK" -maxdepth 1 -name 'gen-*' | wc -l)" -le 3 ]
	[ "$(readlink "$CK/latest")" = "$newest" ]
	run_logged timeout 60 "$CREST" inspect "$CK/latest"
	[ "$status" -eq 0 ]
}

@test "a thread that cannot be stopped makes the checkpoint fail cleanly" {
	start_bg "$CREST" launch --dir "$CK" --timeout 3 -- "$CR_BIN/stuck_thread"
	app=$BG
	wait_registered
	wait_line "all signals blocked" 10
	t0=$SECONDS
	run_logged ! timeout 30 "$CREST" checkpoint --dir "$CK"
	[ "$status" -ne 124 ]
	[ $((SECONDS - t0)) -le 20 ]
	[[ "$output" == *"did not stop"* ]]
	[ ! -e "$CK/latest" ]
	run_logged complete_gens
	[ "${#lines[@]}" -eq 0 ]
	is_alive "$app"
	wait_exit "$app" 30
	[ "$rc" -eq 0 ]
	check_output "RESULT stuck_thread 600 steps"
}

@test "the coordinator crest launch starts keeps none of its descriptors" {
	# fd 7 of crest launch is the application's, never the coordinator's
	start_bg bash -c 'exec 7>>"$0"; exec "$@"' "$D/marker-launch" \
		"$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	coord=$(coord_pid)
	run_logged ls -l "/proc/$coord/fd"
	[[ "$output" != *marker-launch* ]]
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "the coordinator crest checkpoint starts keeps none of its descriptors" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	kill_coord
	# crest checkpoint starts a new coordinator, with fd 7 open
	run_logged bash -c 'exec 7>>"$0"; exec timeout 60 "$1" checkpoint --dir "$2"' \
		"$D/marker-checkpoint" "$CREST" "$CK"
	note_coord
	[ "$status" -eq 0 ]
	coord=$(coord_pid)
	run_logged ls -l "/proc/$coord/fd"
	[[ "$output" != *marker-checkpoint* ]]
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

# a python3 program holding what crest cannot checkpoint: $1 makes it
python_holding() {
	cat >"$D/prog.py" <<EOF
import os, socket, time
$1
print("holding fd", fd, flush=True)
for i in range(50):
    print("tick", i, flush=True)
    time.sleep(0.1)
print("DONE")
print("PASS", flush=True)
EOF
	start_bg "$CREST" launch --dir "$CK" -- "$PY" "$D/prog.py"
	app=$BG
	wait_registered
	wait_line "holding fd" 10
	fd=$(awk '/^holding fd/ { print $3; exit }' "$OUT")
	t0=$SECONDS
	run_logged ! timeout 30 "$CREST" checkpoint --dir "$CK"
	[ "$status" -ne 124 ]
	[ $((SECONDS - t0)) -le 5 ]
	[[ "$output" == *"fd $fd "* ]]
	[ ! -e "$CK/latest" ]
	is_alive "$app"
	wait_exit "$app" 30
	[ "$rc" -eq 0 ]
	check_output
	grep -aqx DONE "$OUT"
}

find_python() {
	PY=python3
	[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
	true
}

@test "a checkpoint of a process holding a netlink socket fails at PREPARE, the program goes on" {
	find_python
	python_holding 's = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0); fd = s.fileno()'
}

@test "a checkpoint of a process holding a pidfd fails at PREPARE, the program goes on" {
	find_python
	python_holding 'import os; fd = os.pidfd_open(os.getpid())'
}

@test "status --json during a run, and the generations after it" {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	coord=$(coord_pid)
	run_logged bash -c "timeout 20 '$CREST' status --dir '$CK' --json | python3 -m json.tool"
	[ "$status" -eq 0 ]
	run_logged bash -c "timeout 20 '$CREST' status --dir '$CK' --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
c = s[\"coordinator\"]
print(c[\"coordinator_pid\"], len(c[\"processes\"]), c[\"processes\"][0][\"pid\"])'"
	[ "$status" -eq 0 ]
	[ "$output" = "$coord 1 $app" ]

	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	gen_printed
	gen=$GEN
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
	wait_coord_gone "$CK" 15

	run_logged timeout 20 "$CREST" status --dir "$CK"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$(printf 'gen-%06d' "$gen")"* ]]
	run_logged bash -c "timeout 20 '$CREST' status --dir '$CK' --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s[\"coordinator\"], len(s[\"generations\"]))'"
	[ "$status" -eq 0 ]
	[ "$output" = "None 1" ]
}
