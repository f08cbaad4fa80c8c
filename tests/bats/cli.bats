#!/usr/bin/env bats
# The crest command line: help, version, launch passthrough, status, usage errors.

load helpers

setup() {
	require_crest
}

@test "crest --help prints the verbs and exits 0" {
	run_logged "$CREST" --help
	[ "$status" -eq 0 ]
	for verb in launch checkpoint restart status inspect ls gc; do
		[[ "$output" == *"$verb"* ]]
	done
}

@test "crest VERB --help exits 0 for every verb" {
	for verb in launch checkpoint restart status inspect ls gc; do
		run_logged "$CREST" "$verb" --help
		[ "$status" -eq 0 ]
		[[ "$output" == *usage* ]]
	done
}

@test "crest --version prints a version" {
	run_logged "$CREST" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^crest\ [0-9]+\.[0-9]+ ]]
}

@test "launch passes the exit status through" {
	require_core
	d=$(test_dir)
	run_logged exec_clean "$CREST" launch --dir "$d/ck" -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run_logged exec_clean "$CREST" launch --dir "$d/ck2" -- true
	[ "$status" -eq 0 ]
}

@test "launch passes stdin, stdout and stderr through" {
	require_core
	d=$(test_dir)
	echo "hello from stdin" >"$d/in"
	exec_clean_bg() { exec_clean "$CREST" launch --dir "$d/ck" -- sh -c 'cat; echo to-stdout; echo to-stderr >&2'; }
	run_logged bash -c "$(declare -f exec_clean exec_clean_bg); d='$d'; CREST='$CREST'; exec_clean_bg <'$d/in' >'$d/out' 2>'$d/err'"
	[ "$status" -eq 0 ]
	run_logged cat "$d/out"
	[ "${lines[0]}" = "hello from stdin" ]
	[ "${lines[1]}" = "to-stdout" ]
	run_logged cat "$d/err"
	[[ "$output" == *to-stderr* ]]
	[[ "$output" != *to-stdout* ]]
}

@test "launch of a missing program fails with a message" {
	require_core
	d=$(test_dir)
	run_logged ! exec_clean "$CREST" launch --dir "$d/ck" -- "$d/no-such-program"
	[ "$status" -ne 0 ]
	[[ "$output" == *no-such-program* ]]
}

@test "status --json is valid JSON (empty directory, running computation)" {
	d=$(test_dir)
	mkdir -p "$d/empty"
	run_logged bash -c "'$CREST' status --dir '$d/empty' --json | python3 -m json.tool"
	[ "$status" -eq 0 ]

	[ -e "$TOP/build/lib/libcrest.so" ] || return 0
	(exec_clean "$CREST" launch --dir "$d/ck" -- sleep 4 >/dev/null 2>&1 </dev/null &)
	sleep 1
	run_logged bash -c "'$CREST' status --dir '$d/ck' --json | python3 -m json.tool"
	[ "$status" -eq 0 ]
	[[ "$output" == *coordinator* ]]
	run_logged "$CREST" status --dir "$d/ck"
	[ "$status" -eq 0 ]
	wait_coord_gone "$d/ck" 20
}

@test "an unknown option or verb exits 2 with a message" {
	run_logged "$CREST" --no-such-option
	[ "$status" -eq 2 ]
	[ -n "$output" ]
	run_logged "$CREST" frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *frobnicate* ]]
	for verb in launch checkpoint restart status inspect ls gc; do
		run_logged "$CREST" "$verb" --no-such-option
		[ "$status" -eq 2 ]
		[[ "$output" == *no-such-option* ]] || [[ "$output" == *usage* ]]
	done
}

@test "launch without a program exits 2" {
	run_logged "$CREST" launch --dir "$BATS_RUNS/unused"
	[ "$status" -eq 2 ]
	[[ "$output" == *program* ]]
}

@test "checkpoint with no computation running fails with a message" {
	d=$(test_dir)
	run_logged "$CREST" checkpoint --dir "$d"
	[ "$status" -ne 0 ]
	[ -n "$output" ]
}
