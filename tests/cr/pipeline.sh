#!/bin/bash
# pipeline: a shell and the processes it makes.  `producer | filter | sort |
# awk`: the producer (a subshell running a function) writes 1..N with an
# external /bin/sleep every few lines (fork/exec churn all along the run),
# the filter (a subshell) writes "x*7 % 10007 x", sort orders by the first
# field, awk checks the order and that every x came once and sums.  Beside
# it a background job writes numbered lines to a file it keeps open at two
# fds that share one open file description (3, and 4>&3: one offset), and
# a second one, whose subshell opened a file at fd 3, runs two writers
# that share that description with it (each line goes after the last one,
# whoever wrote it); both are waited for.  Prints `RESULT count=N sum=S` and PASS, or FAIL and why.
# Run as `bash tests/cr/pipeline.sh`.
set -uo pipefail
export LC_ALL=C

N=5000
SLEEP_EVERY=10		# lines between two `sleep`s of the producer
BG_LINES=50
MOD=10007

fail() {
	echo "FAIL pipeline: $*"
	exit 1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crest-pipeline.XXXXXX") || fail "mktemp -d failed"
trap 'rm -rf "$TMP"' EXIT

producer() {
	local i
	for ((i = 1; i <= N; i++)); do
		echo "$i"
		((i % SLEEP_EVERY == 0)) && sleep 0.02
	done
	return 0
}

echo "pipeline: start, $N lines"

# the background job: keeps its file open (a file a process has open is
# part of its checkpoint; one it reopens for each line would not be)
(
	exec 3>"$TMP/bg.log" 4>&3 || exit 1
	for ((j = 1; j <= BG_LINES; j++)); do
		echo "bg $j" >&3 || exit 1
		echo "dup $j" >&4 || exit 1
		sleep 0.2
	done
	exec 3>&- 4>&-
	exit 0
) &
bg=$!
(
	exec 3>"$TMP/shared.log" || exit 1
	writer() {
		local j
		for ((j = 1; j <= BG_LINES; j++)); do
			echo "$1 $j" >&3 || exit 1
			sleep 0.2
		done
	}
	writer w1 &
	writer w2 &
	wait
) &
bg2=$!

producer |
	(
		while read -r x; do
			echo "$((x * 7 % MOD)) $x"
		done
	) |
	sort -n -k1,1 |
	awk -v n="$N" -v mod="$MOD" '
		$2 < 1 || $2 > n || seen[$2]++ { print "FAIL pipeline: line " NR ": x " $2 " out of range or repeated"; bad = 1 }
		$1 != ($2 * 7) % mod { print "FAIL pipeline: line " NR ": " $1 " is not 7*" $2 " mod " mod; bad = 1 }
		NR > 1 && $1 <= last { print "FAIL pipeline: line " NR ": not sorted (" $1 " after " last ")"; bad = 1 }
		{ last = $1; count++; sum += $1 }
		END { if (!bad) printf "%d %d\n", count, sum }
	' >"$TMP/out"
st=("${PIPESTATUS[@]}")
[ "${st[*]}" = "0 0 0 0" ] || fail "pipeline exit statuses ${st[*]}, want 0 0 0 0"
grep '^FAIL' "$TMP/out" && exit 1

wait "$bg"
rc=$?
[ $rc -eq 0 ] || fail "background job exited $rc"
bad_bg=$(awk -v n="$BG_LINES" '
	$0 != (NR % 2 ? "bg " (NR + 1) / 2 : "dup " NR / 2) { print "line " NR ": " $0; exit }
	END { if (NR != 2 * n) print NR " lines, want " 2 * n }' "$TMP/bg.log")
[ -z "$bad_bg" ] || fail "background job's file: $bad_bg"
wait "$bg2"
rc=$?
[ $rc -eq 0 ] || fail "second background job exited $rc"
bad_shared=$(awk -v n="$BG_LINES" '
	!/^w[12] [0-9]+$/ || $2 < 1 || $2 > n || seen[$0]++ { print "line " NR ": " $0; exit }
	END { if (NR != 2 * n) print NR " lines, want " 2 * n }' "$TMP/shared.log")
[ -z "$bad_shared" ] || fail "the writers' shared file: $bad_shared"

read -r count sum <"$TMP/out" || fail "the consumer printed nothing"
want_sum=0
for ((x = 1; x <= N; x++)); do
	want_sum=$((want_sum + x * 7 % MOD))
done
[ "$count" = "$N" ] || fail "count $count, want $N"
[ "$sum" = "$want_sum" ] || fail "sum $sum, want $want_sum"

echo "RESULT count=$count sum=$sum"
echo PASS
