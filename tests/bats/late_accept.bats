#!/usr/bin/env bats
# Connections waiting in a listener's queue at a checkpoint, not yet
# accepted (preload/sock_pending.c): the program finds them, with what
# their clients sent, when it accepts after the checkpoint, whether the
# computation went on or was killed and restarted; poll() says the listener
# is readable.  TCP and AF_UNIX; the application is tests/cr/late_accept.c
# (3 clients that connect and send "hello I"; the server accepts only
# after the file go appears).
#
# Every test has its own directory under build/test-runs/bats-late-accept/.

load helpers

LA_RUNS=$TOP/build/test-runs/bats-late-accept

setup_file() {
	runs_lock "$LA_RUNS"
}

setup() {
	app_setup "$LA_RUNS"
}

teardown() {
	app_teardown
}

start_app() {
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/late_accept" "$1" "$D" 3
	app=$BG
	wait_line '^ready$' 15
	note_coord
}

checkpoint() {
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
}

# the newest generation's parent image lists the 3 waiting connections
three_waiting() {
	run_logged "$CREST" inspect "$CK/latest"
	[ "$(grep -c 'waiting to be accepted' <<<"$output")" -eq 3 ]
}

go_to_end() {
	touch "$D/go"
	wait_exit "$1" 30
	[ "$rc" -eq 0 ]
	check_output "RESULT accepted=3"
}

# the whole tree, clients too (they would see their connections reset)
restart_to_end() {
	kill_tree "$app"
	wait_exit "$app" 10
	wait_coord_gone "$CK" 15
	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK"
	wait_line '^--- restart ---$' 5
	go_to_end "$BG"
}

@test "TCP: connections waiting to be accepted at a checkpoint are accepted after it, with their data" {
	start_app tcp
	checkpoint
	three_waiting
	go_to_end "$app"
}

@test "TCP: connections waiting to be accepted at a checkpoint wait again after a restart" {
	start_app tcp
	checkpoint
	three_waiting
	restart_to_end
}

@test "AF_UNIX: connections waiting to be accepted at a checkpoint wait again after a restart, each with its client" {
	start_app unix
	checkpoint
	three_waiting
	restart_to_end
}

@test "AF_UNIX: connections waiting to be accepted survive two checkpoints, then a restart from the second" {
	start_app unix
	checkpoint
	checkpoint
	three_waiting
	restart_to_end
}

@test "AF_UNIX: after two checkpoints the computation that went on accepts them" {
	start_app unix
	checkpoint
	checkpoint
	go_to_end "$app"
}
