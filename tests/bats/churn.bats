#!/usr/bin/env bats
# Process trees that change under the checkpoint: a shell that forks and
# execs /bin/true hundreds of times a second, checkpointed 10 times in a
# row; a child that never loads libcrest (a static busybox), which must make
# the checkpoint fail naming it instead of waiting forever.
#
# Every test has its own directory under build/test-runs/bats-churn/,
# starts its processes in the background with only fds 0-2, and kills the
# whole tree by pid in teardown.  Timings go to the TAP stream as `#`
# comments and to <test dir>/times.

load helpers

CHURN_RUNS=$TOP/build/test-runs/bats-churn

setup_file() {
	runs_lock "$CHURN_RUNS"
}

setup() {
	app_setup "$CHURN_RUNS"
}

teardown() {
	app_teardown
}

# a note shown in the TAP output (and kept in $D/times)
note() {
	echo "$*" >>"$D/times"
	echo "# $*" >&3
}

# wait_member PID: until the coordinator of $CK lists PID (10 s)
wait_member() {
	local i st
	for ((i = 0; i < 100; i++)); do
		st=$(timeout 10 "$CREST" status --dir "$CK" --json 2>&1) || true
		python3 -c '
import json, sys
c = json.loads(sys.argv[1]).get("coordinator")
sys.exit(0 if c and any(p.get("pid") == int(sys.argv[2]) for p in c.get("processes", [])) else 1)' \
			"$st" "$1" 2>/dev/null && {
			note_coord
			return 0
		}
		sleep 0.1
	done
	echo "the coordinator of $CK does not list pid $1 after 10 s; crest status --json said: $st"
	return 1
}

# the last "spawned N" count of the loop in $OUT
spawned() {
	awk '$1 == "spawned" { n = $2 } END { print n + 0 }' "$OUT"
}

@test "10 consecutive checkpoints while a shell spawns /bin/true hundreds of times a second" {
	# shellcheck disable=SC2016  # expanded by the inner bash
	start_bg "$CREST" launch --dir "$CK" -- bash -c \
		'n=0; while :; do /bin/true || exit 1; n=$((n + 1)); ((n % 100 == 0)) && echo "spawned $n"; done'
	app=$BG
	wait_member "$app"
	wait_line '^spawned' 20
	n0=$(spawned)
	sleep 1
	rate=$(($(spawned) - n0))
	note "the loop runs /bin/true about $rate times a second under crest (counted in hundreds)"

	total=0
	for ((c = 1; c <= 10; c++)); do
		t0=$(date +%s%N)
		run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
		ms=$((($(date +%s%N) - t0) / 1000000))
		note "checkpoint $c: exit $status, $ms ms"
		[ "$status" -eq 0 ]
		[[ "${lines[${#lines[@]}-1]}" =~ ^[0-9]+$ ]]
		total=$((total + ms))
	done
	note "10 checkpoints: $total ms in all"

	# the generation verifies, and the loop still runs
	run_logged timeout 60 "$CREST" inspect "$CK/latest"
	[ "$status" -eq 0 ]
	is_alive "$app"
	n1=$(spawned)
	sleep 1
	is_alive "$app"
	[ "$(spawned)" -gt "$n1" ]
	! grep -aq '^FAIL' "$OUT" || false
}

@test "a child that never loads libcrest makes the checkpoint fail naming it, not hang" {
	bb=/bin/busybox
	[ -x "$bb" ] || skip "$bb is missing (apt-get install busybox-static)"
	file -L "$bb" | grep -q 'statically linked' ||
		skip "$bb is not statically linked: $(file -L "$bb")"

	# --timeout: how long the coordinator waits for a process to join
	start_bg "$CREST" launch --dir "$CK" --timeout 3 -- bash -c "$bb sleep 1000 & wait"
	app=$BG
	wait_member "$app"
	child=
	for ((i = 0; i < 100; i++)); do
		child=$(pgrep -P "$app" -x busybox) && break
		sleep 0.1
	done
	[ -n "$child" ]

	t0=$(date +%s%N)
	run_logged ! timeout 30 "$CREST" checkpoint --dir "$CK"
	ms=$((($(date +%s%N) - t0) / 1000000))
	note "checkpoint failed after $ms ms (exit $status)"
	[ "$status" -ne 124 ]
	[ "$ms" -le 10000 ]
	[[ "$output" == *"$child"* ]]
	[[ "$output" == *busybox* ]]
	[[ "$output" == *"libcrest is not loaded"* ]]
	[ ! -e "$CK/latest" ]

	# the application goes on, and crest still talks to its coordinator
	kill -0 "$app"
	kill -0 "$child"
	is_alive "$app"
	is_alive "$child"
	run_logged timeout 20 "$CREST" status --dir "$CK"
	[ "$status" -eq 0 ]
}
