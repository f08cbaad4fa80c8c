#!/bin/bash
# Runs every test suite, in order: the unit test programs
# (build/tests/unit/test_*), the checkpoint/restart programs
# (tests/cr/run-all.sh), the bats tests (tests/bats; the Slurm ones,
# tests/bats/slurm*.bats, at the same time as the others).  Each suite's
# output is shown and saved in build/test-logs/<suite>.log.
#
# The last line is `N passed, N failed`, counting individual tests: unit
# test cases, checkpoint programs, bats test cases.  A suite that dies or
# times out before printing its own count adds one failure.  Exit status 1
# if anything failed.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
LOGS=$TOP/build/test-logs
mkdir -p "$LOGS"

total_pass=0
total_fail=0
failed_suites=()

# count_suite NAME KIND RC: adds the tests of NAME's log (KIND tap: TAP
# lines; count: its "N passed, N failed" line) to the totals
count_suite() {
	local name=$1 kind=$2 rc=$3 log=$LOGS/$1.log p f
	if [ "$kind" = tap ]; then
		p=$(grep -c '^ok ' "$log")
		f=$(grep -c '^not ok ' "$log")
	else
		local sum
		sum=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
		p=$(echo "$sum" | awk '{print $1}')
		f=$(echo "$sum" | awk '{print $3}' | tr -d ,)
		p=${p:-0}
		f=${f:-0}
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# died, timed out (124) or failed without counting it
		echo "=== $name: exit status $rc without a failed test counted: one failure"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$f" -ne 0 ]; then
		failed_suites+=("$name")
		echo "=== $name: $f failed (log: $log)"
	fi
}

# run_suite NAME TIMEOUT KIND CMD...
run_suite() {
	local name=$1 limit=$2 kind=$3
	shift 3
	echo "=== $name"
	timeout -k 10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
	count_suite "$name" "$kind" "${PIPESTATUS[0]}"
}

for t in build/tests/unit/test_*; do
	[ -x "$t" ] || continue
	run_suite "unit-$(basename "$t")" 300 count "$t"
done

run_suite cr 1200 count tests/cr/run-all.sh

if [ -d tests/bats ] && ls tests/bats/*.bats >/dev/null 2>&1; then
	if command -v bats >/dev/null; then
		# The Slurm tests (their own cluster) mostly wait for Slurm's
		# timers (a 1-minute time limit, a node marked down): they run
		# beside the others, their output shown when both are done.
		slurm=() other=()
		for f in tests/bats/*.bats; do
			case $f in
			tests/bats/slurm*) slurm+=("$f") ;;
			*) other+=("$f") ;;
			esac
		done
		bg=
		if [ ${#slurm[@]} -gt 0 ]; then
			(timeout -k 10 1200 bats --tap --timing "${slurm[@]}" >"$LOGS/bats-slurm.log" 2>&1
			 echo $? >"$LOGS/bats-slurm.rc") &
			bg=$!
		fi
		run_suite bats 1200 tap bats --tap --timing "${other[@]}"
		if [ -n "$bg" ]; then
			wait "$bg"
			echo "=== bats-slurm (beside bats)"
			cat "$LOGS/bats-slurm.log"
			count_suite bats-slurm tap "$(cat "$LOGS/bats-slurm.rc" 2>/dev/null || echo 1)"
		fi
	else
		echo "=== bats: not installed (scripts/install-deps.sh): one failure"
		total_fail=$((total_fail + 1))
		failed_suites+=(bats)
	fi
fi

if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
