#!/bin/bash
# run-cycles.sh NAME CMD...
#
# 1. Runs CMD alone (no crest): the reference output.
# 2. Runs it under `crest launch`, and CR_CYCLES times (default 3): waits a
#    random moment, `crest checkpoint`, `crest inspect <dir>/latest`,
#    kill -9 of the application, `crest restart`.  Then lets it finish.
# 3. Passes when the final RESULT line equals the reference's, the last line
#    is PASS, nothing printed FAIL, and the restarted run exited 0.
#
# Environment: CREST (default build/bin/crest), CR_CYCLES (3), CR_SEED
# (random; printed, set it to replay the same moments), CR_TIMEOUT (seconds
# for the whole run to finish, 180), CR_KEEP=1 keeps the images.
# Everything goes to build/test-runs/NAME/.  Prints `PASS NAME` or
# `FAIL NAME: why`, exit status 0 or 1.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 NAME CMD..." >&2
	exit 2
fi
NAME=$1
shift

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
CREST=${CREST:-$TOP/build/bin/crest}
CYCLES=${CR_CYCLES:-3}
SEED=${CR_SEED:-$(( $(date +%s%N) % 32768 ))}
TIMEOUT=${CR_TIMEOUT:-180}
RUN=$TOP/build/test-runs/$NAME
CK=$RUN/ck
REF=$RUN/reference.out
OUT=$RUN/crest.out
LOG=$RUN/cycles.log
RANDOM=$SEED

# one run of NAME at a time in this tree (another make check may be running)
mkdir -p "$TOP/build/test-runs"
exec 9>"$TOP/build/test-runs/.$NAME.lock"
if ! flock -w 900 9; then
	echo "FAIL $NAME: another run of $NAME held build/test-runs/.$NAME.lock for 15 min"
	exit 1
fi

rm -rf "$RUN"
mkdir -p "$RUN"
: >"$LOG"

log() { echo "[$(date +%T.%N | cut -c1-12)] $*" >>"$LOG"; }

APP=
WATCHDOG=
TRACKER=
SEEN=$RUN/tree.pids

finish() {
	local verdict=$1
	[ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
	if [ -n "$TRACKER" ]; then
		kill "$TRACKER" 2>/dev/null
		wait "$TRACKER" 2>/dev/null
	fi
	if [ -n "$APP" ]; then
		[ "$verdict" = PASS ] || tree_state "$APP"
		kill_tree "$APP"
		{ wait "$APP"; } 2>/dev/null
	fi
	kill_remembered
	log "$verdict"
	if [ "$verdict" = PASS ]; then
		[ "${CR_KEEP:-0}" = 1 ] || rm -rf "$CK"
		echo "PASS $NAME"
		exit 0
	fi
	echo "FAIL $NAME: $verdict"
	echo "  logs: $LOG $REF $OUT"
	# the logs are gone with a CI machine: their ends go with the verdict
	if [ -s "$OUT" ]; then
		echo "  --- last lines of $OUT:"
		tail -n 15 "$OUT" | sed 's/^/  | /'
	fi
	echo "  --- last lines of $LOG:"
	tail -n 25 "$LOG" | cut -c1-300 | sed 's/^/  | /'
	if [ -s "$CK/coord.log" ]; then
		echo "  --- last lines of $CK/coord.log:"
		tail -n 15 "$CK/coord.log" | cut -c1-300 | sed 's/^/  | /'
	fi
	exit 1
}

# the log gets what each thread of the tree under $1 is doing and crest's
# descriptors (900 and up): a failed cycle says where the program was
tree_state() {
	local p t
	for p in $1 $(descendants "$1"); do
		for t in /proc/"$p"/task/*; do
			[ -e "$t/comm" ] || continue
			log "state: pid $p tid ${t##*/} $(cat "$t/comm" 2>/dev/null)" \
			    "$(awk '{print $3}' "$t/stat" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)" \
			    "syscall=$(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)"
		done
		log "state: pid $p fds 900+: $(find /proc/"$p"/fd -mindepth 1 -maxdepth 1 -name '9[0-9][0-9]' \
			-printf '%f->%l ' 2>/dev/null)"
	done
}

# the last RESULT line and whether the output ends in PASS
result_of() { grep -a '^RESULT' "$1" | tail -n 1; }
ends_in_pass() { [ "$(grep -av '^[[:space:]]*$' "$1" | tail -n 1)" = PASS ]; }

# alive (not exited, not a zombie)
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# start "$@" in the background as $APP with a watchdog that kills it
# The application inherits only 0, 1 and 2: descriptors of whatever started
# this script (a CI runner's pipes, bats' fd 3) are not its state.
start_app() {
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null
		done
		exec "$@"
	) >>"$OUT" 2>&1 </dev/null &
	APP=$!
	log "started pid $APP: $*"
}

# every descendant of $1, parents before children, from one listing of
# all processes (pid, ppid)
descendants() {
	ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = split(kids[root], q, " ")
			for (i = 1; i <= n; i++) {
				m = split(kids[q[i]], c, " ")
				for (j = 1; j <= m; j++)
					q[++n] = c[j]
				print q[i]
			}
		}'
}

# start time of pid $1 in clock ticks (field 22 of /proc/PID/stat, the
# 20th after the ") " that ends the command name): a pid and its start
# time name one process even once the pid is reused
start_time() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	# shellcheck disable=SC2086  # split into fields on purpose
	set -- $st
	[ $# -ge 20 ] && echo "${20}"
}

# appends "pid starttime" of every descendant of $1 to $SEEN
remember_tree() {
	local p t
	for p in $(descendants "$1"); do
		t=$(start_time "$p") && echo "$p $t"
	done >>"$SEEN"
}

# kill -9 $1 and all its descendants.  The tree is stopped first and listed
# again until no new process appears, so nothing forks between the listing
# and the kill; then all of them get SIGKILL at once.
kill_tree() {
	local root=$1 pids prev='' i
	kill -STOP "$root" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		pids=$(descendants "$root")
		[ "$pids" = "$prev" ] && break
		# shellcheck disable=SC2086
		kill -STOP $pids 2>/dev/null
		prev=$pids
	done
	[ -n "$pids" ] && log "kill -9 $root and its descendants: ${pids//$'\n'/ }"
	# shellcheck disable=SC2086
	kill -9 "$root" $pids 2>/dev/null
}

# processes of the test seen by remember_tree that still run (orphans of
# a tree whose root has exited): kill -9 them
kill_remembered() {
	local p t left=
	[ -s "$SEEN" ] || return 0
	while read -r p t; do
		[ "$(start_time "$p")" = "$t" ] && left="$left $p"
	done < <(sort -u "$SEEN")
	[ -z "$left" ] && return 0
	log "processes of the test left after the run, kill -9:$left"
	# shellcheck disable=SC2086
	kill -9 $left 2>/dev/null
}

kill_app() {
	log "kill -9 $APP (and all its descendants)"
	kill_tree "$APP"
	{ wait "$APP"; } 2>/dev/null
	APP=
}

# `crest status --json` says no coordinator runs for $CK
coord_gone() {
	"$CREST" status --dir "$CK" --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin).get("coordinator") is None else 1)'
}

# bash reports background jobs killed by a signal on stderr: into the log
exec 2>>"$LOG"

log "seed $SEED, $CYCLES cycles, command: $*"
echo "run-cycles $NAME: seed $SEED (CR_SEED=$SEED to replay)" >>"$LOG"

# 1. reference
log "reference run"
ref_start=$(date +%s%N)
timeout -s KILL "$TIMEOUT" "$@" >"$REF" 2>&1 </dev/null
rc=$?
ref_tenths=$(( ($(date +%s%N) - ref_start) / 100000000 ))
[ $rc -eq 0 ] || finish "reference run (no crest) exited $rc"
ends_in_pass "$REF" || finish "reference run did not end in PASS"
WANT=$(result_of "$REF")
[ -n "$WANT" ] || finish "reference run printed no RESULT line"
log "reference: $WANT"

[ -x "$CREST" ] || finish "$CREST not built"

# 2. launch, then cycles of checkpoint / inspect / kill -9 / restart
: >"$OUT"
start_app "$CREST" launch --dir "$CK" -- "$@"
# the program advances only while it runs between a restart and the next
# checkpoint: the delays together stay within 60% of its uninterrupted run
# time, so every cycle finds it still running
per_cycle=$(( ref_tenths * 6 / 10 / CYCLES ))
[ $per_cycle -gt 25 ] && per_cycle=25
[ $per_cycle -lt 3 ] && per_cycle=3
log "reference took ${ref_tenths}00 ms: at most ${per_cycle}00 ms of running per cycle"
for ((c = 1; c <= CYCLES; c++)); do
	delay=$(( 2 + RANDOM % (per_cycle - 1) ))
	log "cycle $c: sleep ${delay}00 ms"
	sleep "$((delay / 10)).$((delay % 10))"
	if ! alive "$APP"; then
		why=$(grep -a '^FAIL' "$OUT" | head -n 1)
		finish "cycle $c: the application exited before the checkpoint${why:+: $why}"
	fi

	# even cycles write zstd-compressed images (on compression threads)
	compress=none
	[ $((c % 2)) -eq 0 ] && compress=zstd
	log "cycle $c: checkpoint --compress $compress"
	ckout=$(timeout -s KILL 120 "$CREST" checkpoint --dir "$CK" --compress "$compress" 2>&1)
	rc=$?
	log "cycle $c: crest checkpoint -> $rc: $ckout"
	[ $rc -eq 0 ] || finish "cycle $c: crest checkpoint exited $rc: $ckout"
	echo "$ckout" | grep -qE '[0-9]+' || finish "cycle $c: crest checkpoint printed no generation number: $ckout"

	inout=$(timeout -s KILL 120 "$CREST" inspect "$CK/latest" 2>&1)
	rc=$?
	echo "$inout" >>"$LOG"
	[ $rc -eq 0 ] || finish "cycle $c: crest inspect $CK/latest exited $rc"

	kill_app
	# the coordinator leaves once its process is gone; restart refuses
	# to start while it is there
	for ((i = 0; i < 150; i++)); do
		coord_gone && break
		sleep 0.1
	done
	coord_gone || finish "cycle $c: the coordinator of $CK still runs 15 s after the application was killed"
	echo "--- run-cycles: killed after checkpoint $c, restarting ---" >>"$OUT"
	start_app "$CREST" restart --dir "$CK"
done

# 3. let it finish, within the time limit; the processes of its tree are
# noted every 0.2 s so that finish can kill any it leaves behind
(
	while alive "$APP"; do
		remember_tree "$APP"
		sleep 0.2
	done
) &
TRACKER=$!
sleep "$TIMEOUT" &
WATCHDOG=$!
who=
{ wait -n -p who "$APP" "$WATCHDOG"; rc=$?; } 2>/dev/null
if [ "$who" = "$WATCHDOG" ]; then
	WATCHDOG=
	finish "restarted run did not finish within ${TIMEOUT}s"
fi
kill "$WATCHDOG" 2>/dev/null
wait "$WATCHDOG" 2>/dev/null
WATCHDOG=
pid=$APP
APP=
log "pid $pid exited $rc"
[ $rc -eq 137 ] && finish "restarted run was killed (SIGKILL)"
why=$(grep -a '^FAIL' "$OUT" | head -n 1)
[ $rc -eq 0 ] || finish "restarted run exited $rc${why:+: $why}"
grep -aq '^FAIL' "$OUT" && finish "the program reported: $(grep -a '^FAIL' "$OUT" | head -n 1)"
ends_in_pass "$OUT" || finish "output does not end in PASS"
GOT=$(result_of "$OUT")
[ "$GOT" = "$WANT" ] || finish "result differs: got '$GOT', want '$WANT'"
finish PASS
