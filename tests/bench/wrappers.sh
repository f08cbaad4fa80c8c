#!/bin/bash
# tests/bench/wrappers.sh: what libcrest costs the calls an application makes
# all the time, and what `crest launch` costs at start-up (docs/bench.md,
# "Wrapper and start-up overhead"; `make bench` runs it after run.sh).
#
# 1. Builds tests/bench/wrappers.c into build/bench/wrappers and runs it
#    natively, then as `crest launch --dir D -- build/bench/wrappers`: ns per
#    call of clock_gettime, malloc(64)+free, getpid, a 64-byte write+read on
#    a pipe, open+close of /dev/null, stat of /etc/passwd, fork+waitpid,
#    pthread_create+join (each the best of 3 runs of ~0.3 s).  The two runs
#    alternate WRAP_REPEAT times (default 2); the best of each counts.
# 2. Start-up: the mean of WRAP_STARTS (20) runs each of `/bin/true`,
#    `crest launch --dir D -- /bin/true` (a coordinator started every time)
#    and `LD_PRELOAD=libcrest.so CREST_DIR=D /bin/true` with the
#    coordinator of a running computation in D (libcrest alone).
# Prints a table with each ratio against its goal, "goal met" or "goal NOT
# met".  Performance never fails the run: the exit status is 1 only when
# something broke (the program failed, a number is missing).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
CREST=${CREST:-$TOP/build/bin/crest}
LIBCREST=$TOP/build/lib/libcrest.so
B=$TOP/build/bench
W=$B/wrappers-run
PROG=$B/wrappers
REPEAT=${WRAP_REPEAT:-2}
STARTS=${WRAP_STARTS:-20}
LOG=$B/wrappers.log

mkdir -p "$B"
: >"$LOG"
ERRORS=()
HOLD=		# pid of the computation held open for the LD_PRELOAD runs

log() { echo "[$(date +%T.%N | cut -c1-12)] $*" >>"$LOG"; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# shellcheck disable=SC2317  # called by the trap
cleanup() {
	if [ -n "$HOLD" ]; then
		kill -9 "$HOLD" 2>/dev/null
		{ wait "$HOLD"; } 2>/dev/null
	fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run with only descriptors 0-2, stdin /dev/null
clean_exec() {
	local fd
	for fd in /proc/self/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null
	done
	exec "$@" </dev/null
}

# wait up to 10 s until no coordinator runs for dir $1
coord_gone() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$CREST" status --dir "$1" --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin).get("coordinator") is None else 1)' && return 0
		sleep 0.1
	done
	return 1
}

if [ ! -x "$CREST" ] || [ ! -e "$LIBCREST" ]; then
	echo "wrappers: crest is not built (make)" >&2
	exit 1
fi
${CC:-cc} -O2 -Wall -Wextra -pthread -o "$PROG" tests/bench/wrappers.c ||
	{ echo "wrappers: cannot build $PROG" >&2; exit 1; }
rm -rf "$W"
mkdir -p "$W"

# --- 1. calls -------------------------------------------------------------

declare -A NATIVE CREST_NS
# keep the smaller of the value in array $1[key $2] and $3
keep_min() {
	local -n arr=$1
	if [ -z "${arr[$2]:-}" ] || awk -v a="$3" -v b="${arr[$2]}" 'BEGIN { exit !(a < b) }'; then
		arr[$2]=$3
	fi
}

# parse the output $2 of one run into array $1
take() {
	local name ns rest
	while read -r name ns rest; do
		[[ "$name" == \#* ]] && continue
		[[ "$ns" =~ ^[0-9.]+$ ]] || continue
		keep_min "$1" "$name" "$ns"
	done <"$2"
}

echo "wrappers: $(nproc) cores; each call the best of 3 runs of ~0.3 s, $REPEAT time(s) natively and under crest"
for ((r = 1; r <= REPEAT; r++)); do
	out=$W/native-$r.out
	log "native run $r"
	(clean_exec "$PROG") >"$out" 2>&1
	rc=$?
	cat "$out" >>"$LOG"
	if [ $rc -ne 0 ]; then
		ERRORS+=("native run exited $rc: $(tail -n 1 "$out")")
	else
		take NATIVE "$out"
	fi

	out=$W/crest-$r.out
	ck=$W/ck-$r
	log "crest run $r: crest launch --dir $ck -- $PROG"
	(clean_exec "$CREST" launch --dir "$ck" -- "$PROG") >"$out" 2>&1
	rc=$?
	cat "$out" >>"$LOG"
	[ -e "$ck/coord.log" ] && cat "$ck/coord.log" >>"$LOG"
	if [ $rc -ne 0 ]; then
		ERRORS+=("crest launch -- wrappers exited $rc: $(tail -n 1 "$out")")
	else
		grep -q "LD_PRELOAD=.*libcrest" "$out" ||
			ERRORS+=("under crest launch the program did not have libcrest in LD_PRELOAD: $(head -n 1 "$out")")
		take CREST_NS "$out"
	fi
	coord_gone "$ck" || ERRORS+=("the coordinator of $ck still runs 10 s after the program ended")
done

# --- 2. start-up ----------------------------------------------------------

# mean wall time in ms of $STARTS runs of "$@" ({} in an argument becomes
# the run number); prints nothing when a run failed
mean_ms() {
	local i t0 t1 args a
	t0=$(date +%s%N)
	for ((i = 0; i < STARTS; i++)); do
		args=()
		for a in "$@"; do args+=("${a//\{\}/$i}"); done
		if ! "${args[@]}" </dev/null >>"$LOG" 2>&1; then
			log "start-up run failed: ${args[*]}"
			return 1
		fi
	done
	t1=$(date +%s%N)
	calc "($t1 - $t0) / 1e6 / $STARTS" 2
}

log "start-up: /bin/true"
s_native=$(mean_ms /bin/true) || ERRORS+=("/bin/true failed")
log "start-up: crest launch -- /bin/true"
s_launch=$(mean_ms "$CREST" launch --dir "$W/start-{}" -- /bin/true) ||
	ERRORS+=("crest launch -- /bin/true failed (see $LOG)")

# libcrest alone: a computation holds the coordinator of $W/hold open
(clean_exec "$CREST" launch --dir "$W/hold" -- sleep 600) >>"$LOG" 2>&1 &
HOLD=$!
s_preload=
for ((i = 0; i < 100; i++)); do
	[ -S "$W/hold/coord.sock" ] && break
	sleep 0.1
done
if [ -S "$W/hold/coord.sock" ]; then
	log "start-up: LD_PRELOAD=$LIBCREST CREST_DIR=$W/hold /bin/true"
	s_preload=$(mean_ms env LD_PRELOAD="$LIBCREST" CREST_DIR="$W/hold" /bin/true) ||
		ERRORS+=("LD_PRELOAD=libcrest /bin/true failed (see $LOG)")
	s_env=$(mean_ms env /bin/true) || ERRORS+=("env /bin/true failed")
else
	ERRORS+=("crest launch -- sleep 600 started no coordinator in $W/hold")
fi
kill -9 "$HOLD" 2>/dev/null
{ wait "$HOLD"; } 2>/dev/null
HOLD=
coord_gone "$W/hold" || ERRORS+=("the coordinator of $W/hold still runs 10 s after its program was killed")
for ((i = 0; i < STARTS; i++)); do
	coord_gone "$W/start-$i" || { ERRORS+=("the coordinator of $W/start-$i still runs"); break; }
done

# --- report ---------------------------------------------------------------

# goal of each call: the largest crest/native ratio, empty for none
declare -A GOAL=(
	[clock_gettime]=1.05 [malloc_free]=1.05 [pipe_write_read]=1.2
	[open_close]=1.5 [open_creat_close]=1.5 [stat]=1.5 [fork_waitpid]=2
)
CALLS="clock_gettime malloc_free getpid pipe_write_read open_close open_creat_close create_unlink stat fork_waitpid pthread_create_join"

verdict() {
	if awk -v v="$1" -v g="$2" 'BEGIN { exit !(v <= g) }'; then echo "goal met"; else echo "goal NOT met"; fi
}

echo
echo "crest wrappers: $(uname -r), $(nproc) cores; ns per call, the best of 3 runs of ~0.3 s (of $REPEAT run(s) each)"
echo
printf '%-20s %10s %10s %7s  %-7s  %s\n' call "native ns" "crest ns" ratio goal verdict
for c in $CALLS; do
	n=${NATIVE[$c]:-} k=${CREST_NS[$c]:-}
	if [ -z "$n" ] || [ -z "$k" ]; then
		printf '%-20s %10s %10s %7s  %-7s  %s\n' "$c" "${n:--}" "${k:--}" - - "not measured"
		ERRORS+=("no number for $c")
		continue
	fi
	ratio=$(calc "$k / $n")
	g=${GOAL[$c]:-}
	if [ -n "$g" ]; then
		printf '%-20s %10s %10s %6sx  <= %-4s  %s\n' "$c" "$n" "$k" "$ratio" "$g" "$(verdict "$ratio" "$g")"
	else
		printf '%-20s %10s %10s %6sx  %-7s  %s\n' "$c" "$n" "$k" "$ratio" - "(no goal)"
	fi
done

echo
echo "start-up, mean of $STARTS runs each (ms, wall time from bash):"
printf '  %-68s %8s\n' "/bin/true" "${s_native:--}"
printf '  %-68s %8s\n' "crest launch --dir D -- /bin/true (starts a coordinator)" "${s_launch:--}"
printf '  %-68s %8s\n' "env /bin/true" "${s_env:--}"
printf '  %-68s %8s\n' "env LD_PRELOAD=libcrest CREST_DIR=D /bin/true (coordinator running)" "${s_preload:--}"
if [ -n "$s_native" ] && [ -n "$s_launch" ]; then
	d=$(calc "$s_launch - $s_native")
	printf '%-70s %8s ms  <= 10 ms  %s\n' "overhead of crest launch" "$d" "$(verdict "$d" 10)"
fi
if [ -n "${s_env:-}" ] && [ -n "$s_preload" ]; then
	d=$(calc "$s_preload - $s_env")
	printf '%-70s %8s ms  <= 10 ms  %s\n' "overhead of libcrest (coordinator running)" "$d" "$(verdict "$d" 10)"
fi
echo "log: $LOG"

if [ ${#ERRORS[@]} -gt 0 ]; then
	echo
	for e in "${ERRORS[@]}"; do echo "wrappers: BROKEN: $e"; done
	exit 1
fi
exit 0
