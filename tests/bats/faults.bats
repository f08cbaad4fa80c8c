#!/usr/bin/env bats
# The coordinator dies at each phase of a checkpoint (CREST_FAULT=coord:
# <PHASE>, docs/testing.md "Fault injection"): the application keeps
# running with its threads resumed, the generation being written
# disappears, `latest` stays where it was and restarts, and the next
# checkpoint succeeds.  And an application stopped with SIGSTOP (a
# suspended job) fails a checkpoint in --timeout without harm.  One node,
# one coordinator: the tree's matrix
# (sub-coordinators, links) comes with issue 4's tree.

load helpers

FAULT_RUNS=$TOP/build/test-runs/bats-faults

setup_file() {
	runs_lock "$FAULT_RUNS"
}

setup() {
	app_setup "$FAULT_RUNS"
}

teardown() {
	app_teardown
}

# the last "counter: step N" the application printed, 0 before the first
last_step() {
	local l
	l=$(grep -a '^counter: step' "$OUT" | tail -n 1)
	echo "${l##* }"
	[ -n "$l" ] || echo 0
}

# coordinator_dies_at PHASE: the whole matrix row for one phase
coordinator_dies_at() {
	local phase=$1 coord gen1 before
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	gen1=$(readlink "$CK/latest")
	[ -n "$gen1" ]

	# a coordinator that dies at PHASE takes over the computation
	coord=$(coord_pid)
	kill -9 "$coord"
	wait_coord_gone "$CK" 15
	run_logged timeout 60 env CREST_FAULT="coord:$phase" "$CREST" checkpoint --dir "$CK"
	[ "$status" -ne 0 ]
	wait_coord_gone "$CK" 15
	grep -q "CREST_FAULT=coord:$phase: dying" "$CK/coord.log"

	# the application goes on (its threads were resumed) ...
	is_alive "$app"
	before=$(last_step)
	wait_line "^counter: step $((before + 100))$" 30
	# ... latest did not move; the partial generation is still there
	[ "$(readlink "$CK/latest")" = "$gen1" ]
	[ "$(complete_gens)" = "$gen1" ]

	# the next checkpoint (a new coordinator) succeeds, and the partial
	# generation is gone
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	[ "$(complete_gens | wc -l)" -eq 2 ]
	[ "$(ls -d "$CK"/gen-* | wc -l)" -eq 2 ]
	grep -q "incomplete (a checkpoint whose coordinator died)" "$CK/coord.log" ||
		[ "$phase" = none ]

	# and the computation restarts from it to the uninterrupted result
	kill_app "$app"
	echo "--- killed, restarting ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}

@test "the coordinator dies at PREPARE: the application goes on, latest stays, the next checkpoint works" {
	coordinator_dies_at PREPARE
}

@test "the coordinator dies at SUSPEND: the application goes on, latest stays, the next checkpoint works" {
	coordinator_dies_at SUSPEND
}

@test "the coordinator dies at WRITE (threads stopped): the application goes on, latest stays, the next checkpoint works" {
	coordinator_dies_at WRITE
}

@test "the coordinator dies at COMMIT (images written): the application goes on, latest stays, the next checkpoint works" {
	coordinator_dies_at COMMIT
}

@test "a stopped application (SIGSTOP, a suspended job) fails the checkpoint within --timeout; after SIGCONT it goes on and checkpoints" {
	start_bg "$CREST" launch --dir "$CK" --timeout 2 -- "$CR_BIN/counter"
	app=$BG
	wait_registered
	kill -STOP "$app"
	SECONDS=0
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 1 ]
	[[ "$output" == *"process $app did not answer PREPARE within 2 s"* ]]
	[ "$SECONDS" -le 10 ]
	[ -z "$(complete_gens)" ]
	[ "$(ls -d "$CK"/gen-* 2>/dev/null | wc -l)" -eq 0 ]
	kill -CONT "$app"
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	wait_exit "$app" 60
	[ "$rc" -eq 0 ]
	check_output "$COUNTER_RESULT"
}
