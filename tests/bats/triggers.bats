#!/usr/bin/env bats
# Checkpoint triggers from signals (docs/architecture.md, "Triggers"): the
# checkpoint signal sent to any process of the computation, its
# --min-spacing, SIGTERM as checkpoint-then-exit (the application's own
# disposition runs after the final checkpoint), a TERM during a running
# checkpoint, --on-term exit, and bad options.
#
# The application is python3 (tests/bats/triggers_app.py): a loop whose
# final RESULT line is compared with an uninterrupted run's.

load helpers

TRIG_RUNS=$TOP/build/test-runs/bats-triggers
APP=$TOP/tests/bats/triggers_app.py
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

setup_file() {
	runs_lock "$TRIG_RUNS"
}

setup() {
	app_setup "$TRIG_RUNS"
}

teardown() {
	app_teardown
}

# the RESULT line of an uninterrupted run of the app with these arguments
expected() {
	"$PY" "$APP" --fast "$@" | grep '^RESULT'
}

# wait_gens N SECS: until $CK has N complete generations
wait_gens() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(complete_gens | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "fewer than $1 complete generations in $CK after $2 s: $(complete_gens | tr '\n' ' ')"
	return 1
}

# the python process under pid $1 (itself, or its child)
python_pid() {
	local p
	for p in "$1" $(pgrep -P "$1"); do
		[[ "$(cat "/proc/$p/comm" 2>/dev/null)" == python* ]] && { echo "$p"; return 0; }
	done
	return 1
}

@test "the checkpoint signal sent to a child process takes a checkpoint; the application goes on" {
	want=$(expected 120)
	start_bg "$CREST" launch --dir "$CK" --min-spacing 0 -- bash -c "'$PY' '$APP' 120; echo bash-done"
	app=$BG
	wait_line "^step 10$" 20
	py=$(python_pid "$app")
	[ -n "$py" ] && [ "$py" != "$app" ]
	kill -USR2 "$py"
	wait_gens 1 30
	grep -q "started by SIGUSR2 to process $py" "$CK/coord.log"
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	grep -q '^bash-done$' "$OUT"
	[ "$(grep '^RESULT' "$OUT")" = "$want" ]
	# the application never saw the signal
	! grep -q 'USR2 handled' "$OUT" || false
}

@test "--checkpoint-signal USR1: USR1 checkpoints, the application's own USR2 handler still runs" {
	start_bg "$CREST" launch --dir "$CK" --min-spacing 0 --checkpoint-signal USR1 -- "$PY" "$APP" 150 usr2
	app=$BG
	wait_line "^step 10$" 20
	kill -USR2 "$app"
	wait_line "^USR2 handled 1$" 10
	sleep 0.5
	[ -z "$(complete_gens)" ]
	kill -USR1 "$app"
	wait_gens 1 30
	grep -q "started by SIGUSR1" "$CK/coord.log"
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	[ "$(grep '^RESULT' "$OUT")" = "$(expected 150 usr2)" ]
}

@test "--checkpoint-signal none leaves SIGUSR2 to the application" {
	start_bg "$CREST" launch --dir "$CK" --checkpoint-signal none -- "$PY" "$APP" 100 usr2
	app=$BG
	wait_line "^step 10$" 20
	kill -USR2 "$app"
	wait_line "^USR2 handled 1$" 10
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	[ -z "$(complete_gens)" ]
}

@test "checkpoint signals within --min-spacing start one checkpoint" {
	start_bg "$CREST" launch --dir "$CK" --min-spacing 60 -- "$PY" "$APP" 200
	app=$BG
	wait_line "^step 10$" 20
	kill -USR2 "$app"
	wait_gens 1 30
	kill -USR2 "$app"
	sleep 1
	kill -USR2 "$app"
	wait_line "^step 60$" 30
	[ "$(complete_gens | wc -l)" -eq 1 ]
	[ ! -e "$CK/gen-000002" ]
	grep -q "ignored, the last checkpoint ended .* ago (--min-spacing 60 s)" "$CK/coord.log"
	# a request is not a trigger: it is never delayed
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	[ "$(complete_gens | wc -l)" -eq 2 ]
}

@test "SIGTERM takes a final checkpoint, then ends the process; the restart continues to the same result" {
	want=$(expected 150)
	start_bg "$CREST" launch --dir "$CK" -- "$PY" "$APP" 150
	app=$BG
	wait_line "^step 20$" 20
	kill -TERM "$app"
	wait_exit "$app" 30
	[ "$rc" -eq 143 ]	# killed by SIGTERM, as without crest
	[ "$(complete_gens)" = gen-000001 ]
	grep -q "started by SIGTERM to process $app (rank 0), a final checkpoint" "$CK/coord.log"
	wait_coord_gone "$CK" 15
	last=$(grep '^step' "$OUT" | tail -n 1)

	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]	# the TERM of the first run is not delivered again
	[ "$(grep '^RESULT' "$OUT")" = "$want" ]
	# it went on from the checkpoint, not from the start
	[ "$(sed -n '/^--- restart ---$/,$p' "$OUT" | grep -c '^step 0$')" -eq 0 ]
	echo "last step before SIGTERM: $last"
}

@test "the application's own SIGTERM handler runs after the final checkpoint" {
	want=$(expected 150 term)
	start_bg "$CREST" launch --dir "$CK" -- "$PY" "$APP" 150 term
	app=$BG
	wait_line "^step 20$" 20
	kill -TERM "$app"
	wait_exit "$app" 30
	[ "$rc" -eq 0 ]
	grep -q '^TERM handler: leaving cleanly$' "$OUT"
	[ "$(complete_gens)" = gen-000001 ]
	wait_coord_gone "$CK" 15

	: >"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	! grep -q 'TERM handler' "$OUT" || false
	[ "$(grep '^RESULT' "$OUT")" = "$want" ]
}

@test "CREST_ON_TERM=hold (the Slurm plugin's): a bash script is held after its final checkpoint, and the TERM again ends it without its EXIT trap, which would remove its work file; the restart continues" {
	mkdir -p "$D/work"
	cat >"$D/held.sh" <<'SH'
w=$1
echo payload >"$w/data"
trap 'rm -f "$w/data"; echo "TRAP RAN"' EXIT
for ((i = 1; i <= 60; i++)); do
	echo "step $i"
	sleep 0.1
done
echo "RESULT $(cat "$w/data") $i"
SH
	start_bg env CREST_ON_TERM=hold "$CREST" launch --dir "$CK" -- bash "$D/held.sh" "$D/work"
	app=$BG
	wait_line "^step 10$" 20
	kill -TERM "$app"
	wait_gens 1 20
	# held: stopped, alive, until the TERM comes again
	sleep 1
	is_alive "$app"
	! grep -q '^step 2[5-9]$' "$OUT" || false
	kill -TERM "$app"
	wait_exit "$app" 20
	[ "$rc" -eq 143 ]
	[ -e "$D/work/data" ]
	! grep -q 'TRAP RAN' "$OUT" || false
	wait_coord_gone "$CK" 15

	: >"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	grep -qx 'RESULT payload 61' "$OUT"
	grep -q 'TRAP RAN' "$OUT"	# at its own end, as without crest
}

# term_during_checkpoint [env ...]: three TERMs while a checkpoint of
# 1 GiB runs make that checkpoint the final one and start no other; the
# app's pid in $app
term_during_checkpoint() {
	# 1 GiB of non-zero memory: the checkpoint lasts long enough to be hit
	start_bg env "$@" "$CREST" launch --dir "$CK" -- "$PY" "$APP" 400 big
	app=$BG
	wait_line "^step 5$" 60
	start_bg timeout 120 "$CREST" checkpoint --dir "$CK"
	ck=$BG
	for ((i = 0; i < 200; i++)); do
		st=$(timeout 10 "$CREST" status --dir "$CK" --json 2>/dev/null) || true
		"$PY" -c 'import json,sys; c=json.loads(sys.argv[1])["coordinator"]; sys.exit(0 if c and c["checkpoint"]["running"] else 1)' "$st" 2>/dev/null && break
		sleep 0.02
	done
	kill -TERM "$app"
	sleep 0.05
	kill -TERM "$app" 2>/dev/null || true
	kill -TERM "$app" 2>/dev/null || true
	wait_exit "$ck" 60
	[ "$rc" -eq 0 ]
}

@test "a SIGTERM during a running checkpoint makes it the final one; more TERMs start none" {
	term_during_checkpoint
	wait_exit "$app" 60
	[ "$rc" -eq 143 ]
	[ "$(complete_gens)" = gen-000001 ]
	[ ! -e "$CK/gen-000002" ]
	! grep -q "started by SIGTERM" "$CK/coord.log" || false
}

@test "with CREST_ON_TERM=hold, TERMs during a running checkpoint make it the final one and the process stays held after it (they are spent); a later TERM ends it" {
	term_during_checkpoint CREST_ON_TERM=hold
	[ "$(complete_gens)" = gen-000001 ]
	sleep 1
	is_alive "$app"
	kill -TERM "$app"
	wait_exit "$app" 20
	[ "$rc" -eq 143 ]
	[ ! -e "$CK/gen-000002" ]
}

@test "a checkpoint signal from outside still pending during a checkpoint stays a trigger: the process lives on" {
	# the application blocks SIGUSR2 for a while: the one sent meanwhile is
	# pending in the kernel while a checkpoint takes the threads' queues and
	# queues it again (from the process itself); unblocked, it must still
	# count as from outside (a trigger), not as the application's own
	# (whose default action would end the process)
	start_bg "$CREST" launch --dir "$CK" --min-spacing 0 -- "$PY" "$APP" 120 blockusr2
	app=$BG
	wait_line "^USR2 blocked" 20
	kill -USR2 "$app"
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	# the pending SIGUSR2 asks for one more checkpoint once unblocked
	wait_gens 2 20
	grep -q "started by SIGUSR2" "$CK/coord.log"
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$("$PY" "$APP" 120 --fast | grep '^RESULT')"
}

@test "SIGUSR2 and SIGTERM sent by a process of the computation are the application's, not triggers" {
	start_bg "$CREST" launch --dir "$CK" --min-spacing 0 -- bash -c "'$PY' '$APP' 400 usr2 & sleep 1; kill -USR2 \$!; sleep 1; kill -TERM \$!; wait \$!; echo child status \$?"
	app=$BG
	wait_exit "$app" 20
	[ "$rc" -eq 0 ]
	grep -q '^USR2 handled 1$' "$OUT"
	grep -q '^child status 143$' "$OUT"
	[ -z "$(complete_gens)" ]
	! grep -q "started by" "$CK/coord.log" || false
}

@test "a SIGTERM during a restart ends it without writing anything" {
	start_bg "$CREST" launch --dir "$CK" -- "$PY" "$APP" 400 big
	app=$BG
	wait_line "^step 5$" 60
	run_logged timeout 120 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	kill_app "$app"

	: >"$OUT"
	# the image is loaded, the jump into it not taken yet
	start_bg env CREST_FAULT=restart:load:stall "$CREST" restart --dir "$CK"
	r=$BG
	wait_line "CREST_FAULT restart:load:stall" 60
	kill -TERM "$r"
	wait_exit "$r" 30
	[ "$rc" -eq 143 ]
	! grep -q '^step' "$OUT" || false
	wait_coord_gone "$CK" 15
	[ "$(complete_gens)" = gen-000001 ]
	[ "$(ls "$CK" | grep -c '^gen-')" -eq 1 ]
	# still restartable: it goes on from wherever the checkpoint caught it
	# (under load that can be past step 7)
	: >"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_line "^step [0-9]" 60
}

@test "--on-term exit: SIGTERM ends the process at once, with no checkpoint" {
	start_bg "$CREST" launch --dir "$CK" --on-term exit -- "$PY" "$APP" 150
	app=$BG
	wait_line "^step 10$" 20
	kill -TERM "$app"
	wait_exit "$app" 10
	[ "$rc" -eq 143 ]
	[ -z "$(complete_gens)" ]
	! grep -q "started by" "$CK/coord.log" || false
}

@test "bad trigger options are refused before anything starts" {
	run_logged "$CREST" launch --dir "$D/ck" --checkpoint-signal FOO -- true
	[ "$status" -eq 2 ]
	[[ "$output" == *"--checkpoint-signal FOO: expected a signal name or number"* ]]
	run_logged "$CREST" launch --dir "$D/ck" --checkpoint-signal TERM -- true
	[ "$status" -eq 2 ]
	[[ "$output" == *"not TERM: see --on-term"* ]]
	run_logged "$CREST" launch --dir "$D/ck" --checkpoint-signal KILL -- true
	[ "$status" -eq 2 ]
	run_logged "$CREST" launch --dir "$D/ck" --on-term later -- true
	[ "$status" -eq 2 ]
	[[ "$output" == *"--on-term later: expected checkpoint or exit"* ]]
	run_logged "$CREST" launch --dir "$D/ck" --min-spacing -1 -- true
	[ "$status" -eq 2 ]
	[[ "$output" == *"--min-spacing -1: expected a whole number of seconds"* ]]
	[ ! -e "$D/ck/COORD" ]
}
