#!/bin/bash
# tests/bench/run.sh: checkpoint and restart throughput against the raw disk
# (`make bench`; docs/bench.md says what every number means).
#
# For each size in BENCH_SIZES (MiB, default "1024 4096") it measures the
# disk's raw sequential write time with dd (best of BENCH_REPEAT, default 3,
# oflag=direct runs and one conv=fsync run), then for each data kind in
# BENCH_KINDS (default "random lowent") runs tests/bench/membench under
# `crest launch` and measures:
#   1. `crest checkpoint --compress none` (command time, coordinator's ms,
#      image size, how long the application was stopped)
#   2. `crest checkpoint --compress zstd` (the same)
#   3. kill -9; caches dropped before each of BENCH_REPEAT dd read-backs
#      of the uncompressed image (the best counts); caches dropped;
#      `crest restart --generation <1>` until the program prints RESUMED
#   4. the same restart from the zstd generation (no goal, for reference)
# and prints a table of the numbers and one of the goals, each "goal met" or
# "goal NOT met".  Performance never fails the run: the exit status is 1
# only when something broke (a checkpoint or restart failed, a time limit).
#
# Checkpoints live under build/bench/ (must be a disk, not tmpfs); images
# are removed after each data kind.  Everything this script starts is
# killed by pid on exit.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
CREST=${CREST:-$TOP/build/bin/crest}
SIZES=${BENCH_SIZES:-1024 4096}
KINDS=${BENCH_KINDS:-random lowent}
REPEAT=${BENCH_REPEAT:-3}	# dd baselines: the best of this many runs
B=$TOP/build/bench
LOG=$B/bench.log
MIB=$((1024 * 1024))

mkdir -p "$B"
: >"$LOG"

APP=		# pid of the program (crest launch / crest restart execs into it)
CKDIR=		# checkpoint directory in use, for its coordinator
ERRORS=()	# what broke
ROWS=()		# measurement rows
GOALS=()	# goal rows

log() { echo "[$(date +%T.%N | cut -c1-12)] $*" >>"$LOG"; }
say() { echo "bench: $*"; log "$*"; }
now_ns() { date +%s%N; }
# a - b nanoseconds as seconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (a - b) / 1e9 }'; }
# the smaller of two numbers; an empty one does not count
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || (b != "" && b + 0 < a + 0)) ? b : a }'; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

coord_pid() {
	"$CREST" status --dir "$1" --json 2>/dev/null | python3 -c '
import json, sys
c = json.load(sys.stdin).get("coordinator")
print(c["coordinator_pid"] if c else "")' 2>/dev/null
}

# kill the application, then its coordinator if it does not leave by itself
stop_app() {
	if [ -n "$APP" ]; then
		log "kill -9 $APP"
		kill -9 "$APP" 2>/dev/null
		{ wait "$APP"; } 2>/dev/null
		APP=
	fi
	[ -n "$CKDIR" ] && [ -d "$CKDIR" ] || return 0
	local i cp
	for ((i = 0; i < 100; i++)); do
		cp=$(coord_pid "$CKDIR")
		[ -z "$cp" ] && return 0
		sleep 0.1
	done
	log "coordinator $cp of $CKDIR still there 10 s after its process died: kill -9"
	kill -9 "$cp" 2>/dev/null
	return 1
}

cleanup() {
	stop_app
	[ -n "$CKDIR" ] && rm -rf "$CKDIR"	# images of an interrupted run
	rm -f "$B/ddwrite"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start "$@" in the background as $APP, output appended to $1, with only
# descriptors 0-2 (crest refuses pipes to processes outside the computation)
start_app() {
	local out=$1
	shift
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null
		done
		exec "$@"
	) >>"$out" 2>&1 </dev/null &
	APP=$!
	log "started pid $APP: $*"
}

# evict FILE... from the page cache: drop_caches when root, else
# posix_fadvise(DONTNEED) on each file
EVICT=
evict() {
	sync
	if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		EVICT="echo 3 > /proc/sys/vm/drop_caches"
		return 0
	fi
	EVICT="posix_fadvise(POSIX_FADV_DONTNEED) on the images"
	python3 - "$@" <<-'EOF'
	import os, sys
	for f in sys.argv[1:]:
	    fd = os.open(f, os.O_RDONLY)
	    os.fdatasync(fd)
	    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
	    os.close(fd)
	EOF
}

# dd ARGS...: run it, print its elapsed seconds (from its last line)
dd_secs() {
	local out
	out=$(dd "$@" 2>&1) || { log "dd $* failed: $out"; return 1; }
	log "dd $*: $(tail -n 1 <<<"$out")"
	tail -n 1 <<<"$out" | awk -F', ' '{ split($(NF - 1), a, " "); printf "%.3f\n", a[1] }'
}

# wait until FILE has a line matching RE after line AFTER; print it
wait_line() {
	local file=$1 re=$2 after=$3 limit=$4 i line
	for ((i = 0; i < limit * 100; i++)); do
		line=$(tail -n +"$((after + 1))" "$file" | grep -a -m 1 -E "$re")
		[ -n "$line" ] && { echo "$line"; return 0; }
		[ -n "$APP" ] && ! alive "$APP" && return 1
		sleep 0.01
	done
	return 1
}

field() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" <<<"$1"; }

# checkpoint DIR OUT COMP: sets CK_GEN CK_S CK_COORD_MS CK_IMG CK_STOP_MS
checkpoint() {
	local dir=$1 out=$2 comp=$3 lines t0 t1 res line
	lines=$(wc -l <"$out")
	t0=$(now_ns)
	res=$(timeout -s KILL 600 "$CREST" checkpoint --dir "$dir" --compress "$comp" 2>&1)
	local rc=$?
	t1=$(now_ns)
	log "crest checkpoint --compress $comp -> $rc: $res"
	if [ $rc -ne 0 ] || ! [[ $res =~ ^[0-9]+$ ]]; then
		ERRORS+=("checkpoint --compress $comp of $out exited $rc: $res")
		return 1
	fi
	CK_GEN=$res
	CK_S=$(secs "$t1" "$t0")
	CK_COORD_MS=$(sed -n "s/.*generation $CK_GEN committed ([0-9]* bytes, \([0-9]*\) ms).*/\1/p" "$dir/coord.log" | tail -n 1)
	CK_IMG=$(stat -c %s "$dir"/gen-$(printf %06d "$CK_GEN")/n0/*.img | awk '{ s += $1 } END { print s }')
	# the program notices the pause at its next 10 ms beat
	if line=$(wait_line "$out" '^RESUMED' "$lines" 2); then
		CK_STOP_MS=$(calc "$(field "$line" gap_ns) / 1e6" 0)
	else
		CK_STOP_MS="<50"
	fi
	log "generation $CK_GEN: ${CK_S}s, coordinator ${CK_COORD_MS} ms, image $CK_IMG bytes, stopped $CK_STOP_MS ms"
	sleep 0.3	# the next checkpoint gets its own RESUMED line
}

# restart DIR OUT GEN IMG: sets RS_S (exec of crest restart -> RESUMED)
restart() {
	local dir=$1 out=$2 gen=$3 img=$4 lines t0 line
	stop_app || { ERRORS+=("coordinator of $dir did not leave after kill -9"); return 1; }
	evict "$img"
	lines=$(wc -l <"$out")
	t0=$(now_ns)
	start_app "$out" "$CREST" restart --dir "$dir" --generation "$gen"
	if ! line=$(wait_line "$out" '^RESUMED' "$lines" 300); then
		ERRORS+=("restart of generation $gen in $dir: no RESUMED within 300 s (see $out)")
		stop_app
		return 1
	fi
	RS_S=$(secs "$(field "$line" at_ns)" "$t0")
	log "restart of generation $gen: $RS_S s"
}

# verdict VALUE OP GOAL
verdict() {
	if awk -v v="$1" -v g="$3" "BEGIN { exit !(v $2 g) }"; then
		echo "goal met"
	else
		echo "goal NOT met"
	fi
}

goal() {	# goal WHAT SIZE KIND VALUE OP GOAL
	local v
	v=$(verdict "$4" "$5" "$6")
	GOALS+=("$(printf '%-44s %5s %-7s %6s  %2s %-4s  %s' "$1" "$2" "$3" "$4" "$5" "$6" "$v")")
}

# --- set up ---------------------------------------------------------------

[ -x "$CREST" ] || { echo "bench: $CREST not built (make)" >&2; exit 1; }
gcc -O2 -Wall -o "$B/membench" tests/bench/membench.c || { echo "bench: cannot build membench" >&2; exit 1; }

fstype=$(df -T "$B" | awk 'NR == 2 { print $2 }')
avail=$(df -k "$B" | awk 'NR == 2 { print $4 }')
say "checkpoints in $B ($fstype, $((avail / 1024 / 1024)) GiB free); log $LOG"
if [ "$fstype" = tmpfs ] || [ "$fstype" = ramfs ]; then
	say "WARNING: $B is on $fstype, not a disk: the raw-disk ratios mean nothing"
fi
max=0
for s in $SIZES; do [ "$s" -gt "$max" ] && max=$s; done
if [ $((avail / 1024)) -lt $((max * 3)) ]; then
	echo "bench: $B has $((avail / 1024)) MiB free, needs $((max * 3)) MiB for BENCH_SIZES=\"$SIZES\"" >&2
	exit 1
fi
say "sizes (MiB): $SIZES; data: $KINDS; $(nproc) cores"

# --- measure --------------------------------------------------------------

for size in $SIZES; do
	bytes=$((size * MIB))
	count=$((size / 8))
	w_direct=
	for ((i = 0; i < REPEAT; i++)); do
		rm -f "$B/ddwrite"
		w_direct=$(min "$w_direct" "$(dd_secs if=/dev/zero of="$B/ddwrite" bs=8M count=$count oflag=direct)")
	done
	rm -f "$B/ddwrite"
	w_fsync=$(dd_secs if=/dev/zero of="$B/ddwrite" bs=8M count=$count conv=fsync)
	rm -f "$B/ddwrite"
	if [ -z "$w_direct" ] || [ -z "$w_fsync" ]; then
		ERRORS+=("dd write of $size MiB into $B failed (see $LOG)")
		continue
	fi
	w_s=$(min "$w_direct" "$w_fsync")
	w_bw=$(calc "$bytes / $w_s / 1e6" 0)
	say "$size MiB raw write: oflag=direct ${w_direct}s, conv=fsync ${w_fsync}s; baseline ${w_s}s = $w_bw MB/s"

	for kind in $KINDS; do
		name=$kind-$size
		CKDIR=$B/ck-$name
		out=$B/$name.out
		rm -rf "$CKDIR"
		: >"$out"
		say "$name: launch membench $size $kind"
		start_app "$out" "$CREST" launch --dir "$CKDIR" -- "$B/membench" "$size" "$kind"
		if ! wait_line "$out" '^READY' 0 300 >/dev/null; then
			ERRORS+=("$name: membench did not get READY (see $out)")
			stop_app
			continue
		fi
		sleep 0.5

		checkpoint "$CKDIR" "$out" none || { stop_app; continue; }
		g_none=$CK_GEN n_s=$CK_S n_ms=$CK_COORD_MS n_img=$CK_IMG n_stop=$CK_STOP_MS
		checkpoint "$CKDIR" "$out" zstd || { stop_app; continue; }
		g_zstd=$CK_GEN z_s=$CK_S z_ms=$CK_COORD_MS z_img=$CK_IMG z_stop=$CK_STOP_MS
		say "$name: checkpoint ${n_s}s (coordinator $n_ms ms), zstd ${z_s}s (coordinator $z_ms ms)"

		# read-back: the uncompressed image, evicted first
		img=$(ls "$CKDIR"/gen-$(printf %06d "$g_none")/n0/*.img)
		zimg=$(ls "$CKDIR"/gen-$(printf %06d "$g_zstd")/n0/*.img)
		stop_app
		rb_s=
		for ((i = 0; i < REPEAT; i++)); do
			evict "$img"
			rb_s=$(min "$rb_s" "$(dd_secs if="$img" of=/dev/null bs=8M iflag=direct)")
		done
		rs_s=- zrs_s=-
		if restart "$CKDIR" "$out" "$g_none" "$img"; then
			rs_s=$RS_S
			if restart "$CKDIR" "$out" "$g_zstd" "$zimg"; then
				zrs_s=$RS_S
			fi
		fi
		say "$name: read-back ${rb_s}s, restart ${rs_s}s, restart from zstd ${zrs_s}s"
		stop_app
		rm -rf "$CKDIR"
		CKDIR=

		ROWS+=("$(printf '%5s %-7s %6s %6s %7s %5s | %6s %6s %7s %5s | %6s %6s %6s' \
			"$size" "$kind" "$n_s" "$n_ms" "$(calc "$n_img / $MIB" 0)" "$n_stop" \
			"$z_s" "$z_ms" "$(calc "$z_img / $MIB" 0)" "$z_stop" "$rb_s" "$rs_s" "$zrs_s")")

		# ratios
		raw_same=$(calc "$bytes / $w_bw / 1e6" 3)	# raw-disk time for the program's bytes
		goal "ckpt throughput / raw write bandwidth" "$size" "$kind" \
			"$(calc "$raw_same / $n_s")" ">=" 0.9
		if [ "$kind" = lowent ]; then
			goal "zstd ckpt time / raw-disk time, same bytes" "$size" "$kind" \
				"$(calc "$z_s / $raw_same")" "<=" 0.5
		else
			GOALS+=("$(printf '%-44s %5s %-7s %6s  %s' "zstd ckpt time / raw-disk time, same bytes" \
				"$size" "$kind" "$(calc "$z_s / $raw_same")" "(no goal: incompressible)")")
		fi
		if [ "$rs_s" != - ] && [ -n "$rb_s" ]; then
			goal "restart rate / read-back rate" "$size" "$kind" "$(calc "$rb_s / $rs_s")" ">=" 0.9
		else
			GOALS+=("$(printf '%-44s %5s %-7s %6s  %s' "restart rate / read-back rate" "$size" "$kind" - "restart failed")")
		fi
	done
done

# --- report ---------------------------------------------------------------

echo
echo "crest bench: $(uname -r), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $B on $fstype"
echo "cache eviction: ${EVICT:-none}"
echo
echo "times in seconds (ckpt: the crest checkpoint command; ms: the coordinator's 'committed' time);"
echo "img in MiB; stop: ms the program's threads did not run (its heartbeat gap, 10 ms resolution)"
echo
printf '%5s %-7s %6s %6s %7s %5s | %6s %6s %7s %5s | %6s %6s %6s\n' \
	MiB data ckpt ms img stop zckpt zms zimg zstop readbk restrt zrestr
for r in "${ROWS[@]}"; do echo "$r"; done
echo
printf '%-44s %5s %-7s %6s  %-7s  %s\n' ratio MiB data value goal verdict
for r in "${GOALS[@]}"; do echo "$r"; done
echo
echo "raw write: the fastest of $REPEAT dd if=/dev/zero bs=8M oflag=direct and 1 conv=fsync, same size, same directory"
echo "read-back: the fastest of $REPEAT dd if=IMAGE of=/dev/null bs=8M iflag=direct, each after eviction"
echo "restart: crest restart until the program prints RESUMED; crest runs are single shots"
echo "stop is the program's own view (heartbeat gap); crest's view is status --json (last.stopped_ms; each process in coord.log with CREST_LOG=debug)"

echo; "$TOP/tests/bench/wrappers.sh" || ERRORS+=("tests/bench/wrappers.sh broke (see its BROKEN lines above and $B/wrappers.log)")
if [ ${#ERRORS[@]} -gt 0 ]; then
	echo
	for e in "${ERRORS[@]}"; do echo "bench: BROKEN: $e"; done
	exit 1
fi
exit 0
