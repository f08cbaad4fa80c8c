#!/bin/bash
# Runs every checkpoint program in tests/cr through run-cycles.sh.
# Prints one PASS/FAIL line per program and `N passed, N failed`
# (programs), exit status 1 if any failed.  CR_ONLY="counter threads"
# runs a subset; CR_JOBS=1 runs one program at a time.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
BIN=$TOP/build/tests/cr
RUNS=$TOP/build/test-runs
mkdir -p "$RUNS"

# Debian's python3 has python3-numpy; a python3 earlier in PATH may not
PY=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
	PY=/usr/bin/python3
fi

declare -A CMD=(
	[counter]="$BIN/counter"
	[threads]="$BIN/threads"
	[malloc_churn]="$BIN/malloc_churn"
	[mmap_file]="$BIN/mmap_file $RUNS/mmap_file.dat"
	[signals]="$BIN/signals"
	[itimer]="$BIN/itimer"
	[bigmem]="$BIN/bigmem 1024"
	[sleepread]="$BIN/sleepread"
	[deleted_file]="$BIN/deleted_file $RUNS/deleted_file"
	[numpy_loop]="$PY $TOP/tests/cr/numpy_loop.py"
	[r_loop]="Rscript $TOP/tests/cr/r_loop.R"
	[sigwait_thread]="$BIN/sigwait_thread"
	[manythreads]="$BIN/manythreads"
	[blocking]="$BIN/blocking"
	[itimer_blocked]="$BIN/itimer_blocked"
	[thread_pending]="$BIN/thread_pending"
	[shm_share]="$BIN/shm_share"
	[sockets]="$BIN/sockets"
	[mp_pool]="$PY $TOP/tests/cr/mp_pool.py"
	[forktree]="$BIN/forktree"
	[lost_leader]="$BIN/lost_leader"
	[pipeline]="bash $TOP/tests/cr/pipeline.sh"
	[fifo_pair]="$BIN/fifo_pair"
	[make_build]="bash $TOP/tests/cr/make_build.sh"
	[hostname]="$BIN/hostname"
	[eventfds]="$BIN/eventfds"
	[locks]="$BIN/locks $RUNS/locks"
	[udp]="$BIN/udp"
	[inotify]="$BIN/inotify $RUNS/inotify.d"
	[pty_pair]="$BIN/pty_pair"
	[dl_busy]="$BIN/dl_busy"
	[mpi_ring]="mpirun --allow-run-as-root --oversubscribe -np 3 $BIN/mpi_ring 400"
)
ORDER="make_build counter threads malloc_churn mmap_file signals itimer bigmem sleepread deleted_file numpy_loop r_loop sigwait_thread manythreads blocking itimer_blocked thread_pending forktree lost_leader pipeline fifo_pair shm_share mp_pool sockets hostname eventfds locks udp inotify pty_pair dl_busy mpi_ring"

# CR_JOBS programs at a time (default 2): they mostly wait (the random
# moments before each checkpoint, the kills and restarts), so two share the
# 2 cores of a CI machine without slowing each other much.  Each one's
# output is kept and printed whole, in ORDER, once it ended.
JOBS=${CR_JOBS:-2}
OUTS=$RUNS/.run-all
rm -rf "$OUTS"
mkdir -p "$OUTS"

run_one() {
	local name=$1 t0=$SECONDS rc
	# shellcheck disable=SC2086  # the command is split on purpose
	"$TOP/tests/cr/run-cycles.sh" "$name" ${CMD[$name]}
	rc=$?
	echo "  ($name: $((SECONDS - t0)) s)"
	return $rc
}

names=()
for name in ${CR_ONLY:-$ORDER}; do
	names+=("$name")
	if [ -z "${CMD[$name]:-}" ]; then
		echo "FAIL $name: no such program" >"$OUTS/$name.out"
		echo 1 >"$OUTS/$name.rc"
		continue
	fi
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	( run_one "$name" >"$OUTS/$name.out" 2>&1; echo $? >"$OUTS/$name.rc" ) &
done

pass=0 fail=0
for name in "${names[@]}"; do
	while [ ! -s "$OUTS/$name.rc" ]; do
		sleep 0.5
	done
	cat "$OUTS/$name.out"
	if [ "$(cat "$OUTS/$name.rc")" -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
wait
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
