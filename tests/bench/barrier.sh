#!/bin/bash
# tests/bench/barrier.sh: latency of one barrier round of the coordinator
# tree and of a whole no-data checkpoint, with many simulated ranks
# (`make bench`, `make bench-barrier`; docs/bench.md, "Barrier and
# checkpoint round latency").
#
# For each number of ranks in BARRIER_RANKS (default "1024 8192 65536") and
# each number of sub-coordinators in BARRIER_SUBS (default "16 64 256
# 1024"), then for a star (every rank on one coordinator), runs
# build/bench/barrier: real crest-coord processes (a root and its subs over
# TCP loopback, or one standalone coordinator), the ranks simulated by its
# generator workers over the coordinators' Unix sockets.  BARRIER_ROUNDS
# (default 5) checkpoints each; the table gives the median and the max.  A
# star too large for one coordinator's descriptors is skipped with why, and
# the largest that fits is measured instead, with a tree of the same size.
# With BARRIER_DISK (default "1024:16 8192:64") the same again with the
# checkpoint folder on the disk (build/bench) instead of tmpfs, to show what
# the image writes cost.
#
#   tests/bench/barrier.sh            the matrix (about 11 minutes here)
#   tests/bench/barrier.sh --quick    1k ranks, 16 and 64 subs, star, disk, 3 rounds
#   BARRIER_QUICK=1 make bench-barrier
#
# Performance never fails the run: the exit status is 1 only when
# something broke (a round failed, a coordinator died, a time limit).  A
# scale this machine cannot run (file descriptors) is skipped with why.
# Every process started is stopped by pid, on failure and Ctrl-C too.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
B=$TOP/build/bench
PROG=$B/barrier
COORD=${COORD:-$TOP/build/bin/crest-coord}
LOG=$B/barrier.log

QUICK=${BARRIER_QUICK:-0}
[ "${1:-}" = --quick ] && QUICK=1
if [ "$QUICK" = 1 ]; then
	RANKS=${BARRIER_RANKS:-1024}
	SUBS=${BARRIER_SUBS:-16 64}
	ROUNDS=${BARRIER_ROUNDS:-3}
	DISK=${BARRIER_DISK-1024:16}
else
	RANKS=${BARRIER_RANKS:-1024 8192 65536}
	SUBS=${BARRIER_SUBS:-16 64 256 1024}
	ROUNDS=${BARRIER_ROUNDS:-5}
	DISK=${BARRIER_DISK-1024:16 8192:64}
fi
STAR=${BARRIER_STAR:-1}		# 0: no star rows
FANOUT=${BARRIER_FANOUT:-0}	# 0: every sub below the root; F: a tree of fan-out F (as a Slurm step's)
TIMEOUT=${BARRIER_TIMEOUT:-10}	# the coordinators' --timeout (their default)
LIMIT=${BARRIER_LIMIT:-900}	# seconds for one configuration, start-up included
# the checkpoint folders: tmpfs, so that the coordinators are measured and
# not the disk (BARRIER_DISK rows use the disk)
if [ -z "${BARRIER_TMP:-}" ]; then
	BARRIER_TMP=$B
	[ -d /dev/shm ] && [ "$(df -T /dev/shm | awk 'NR == 2 { print $2 }')" = tmpfs ] && BARRIER_TMP=/dev/shm
fi
WORK=$BARRIER_TMP/crest-barrier.$$
DWORK=$B/crest-barrier-disk.$$

mkdir -p "$B"
: >"$LOG"
ERRORS=()
ROWS=()
RUN=		# pid of the running barrier program
RUNDIR=		# its checkpoint folder
EXTRA=		# the star's largest scale, when RANKS has one too large for it

log() { echo "[$(date +%T.%N | cut -c1-12)] $*" >>"$LOG"; }
say() { echo "barrier: $*" >&2; log "$*"; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# the program stops its coordinators itself; should it be killed, they
# are in its pid file (and get SIGKILL from PR_SET_PDEATHSIG anyway)
stop_run() {
	if [ -n "$RUN" ]; then
		kill -TERM "$RUN" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$RUN" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$RUN" 2>/dev/null
		{ wait "$RUN"; } 2>/dev/null
		RUN=
	fi
	if [ -n "$RUNDIR" ] && [ -f "$RUNDIR.pids" ]; then
		while read -r p; do
			[ -n "$p" ] && [ "$p" -gt 0 ] && kill -KILL "$p" 2>/dev/null
		done <"$RUNDIR.pids"
		rm -f "$RUNDIR.pids"
	fi
}
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	stop_run
	rm -rf "$WORK" "$DWORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$COORD" ] || { echo "barrier: $COORD not built (make)" >&2; exit 1; }
[ -x "$PROG" ] || { echo "barrier: $PROG not built (make build/bench/barrier)" >&2; exit 1; }
mkdir -p "$WORK" "$DWORK" || exit 1

# field NAME LINE: the value of NAME=... in a RESULT or startup line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# run MODE RANKS SUBS BASE: one configuration; appends a row
run() {
	local mode=$1 nr=$2 ns=$3 base=$4 args out rc res
	if [ "$mode" = star ]; then
		args=(--star)
		RUNDIR=$base/star-r$nr
	else
		args=(--subs "$ns")
		[ "$FANOUT" != 0 ] && args+=(--fanout "$FANOUT")
		RUNDIR=$base/tree-r$nr-s$ns
	fi
	rm -rf "$RUNDIR"
	out=$RUNDIR.out
	say "$mode: $nr ranks${ns:+ over $ns subs} in $RUNDIR ($ROUNDS rounds)"
	"$PROG" --coord "$COORD" --dir "$RUNDIR" --ranks "$nr" "${args[@]}" --rounds "$ROUNDS" \
		--timeout "$TIMEOUT" --start-limit "$LIMIT" --pidfile "$RUNDIR.pids" >"$out" 2>&1 &
	RUN=$!
	local t0=$SECONDS
	while kill -0 "$RUN" 2>/dev/null && ((SECONDS - t0 < LIMIT + 60)); do sleep 0.2; done
	if kill -0 "$RUN" 2>/dev/null; then
		say "$mode $nr/$ns: still running after $((LIMIT + 60)) s: stopped"
		stop_run
		rc=124
	else
		wait "$RUN"
		rc=$?
		RUN=
	fi
	cat "$out" >>"$LOG"
	LAST_RC=$rc
	res=$(grep '^RESULT' "$out" | tail -n 1)
	local label=$mode
	[ "$mode" = tree ] && [ "$FANOUT" != 0 ] && label="tree/$FANOUT"
	[ "$base" = "$DWORK" ] && label="$label-disk"
	if [ "$rc" = 3 ]; then
		ROWS+=("$(printf '%-9s %6s %5s  skipped: %s' "$label" "$nr" "${ns:--}" \
			"$(grep -m1 CANNOT "$out" | sed 's/^barrier: CANNOT: //')")")
		say "$mode $nr/$ns: skipped (see $LOG)"
	elif [ -z "$res" ]; then
		ERRORS+=("$mode $nr ranks${ns:+ over $ns subs}: exit $rc, no result: $(grep -m3 -E '^barrier:|FAILED' "$out" | tr '\n' ' ')")
		ROWS+=("$(printf '%-9s %6s %5s  BROKEN (exit %s, see %s)' "$label" "$nr" "${ns:--}" "$rc" "$LOG")")
	else
		[ "$rc" = 0 ] || ERRORS+=("$mode $nr ranks${ns:+ over $ns subs}: $(grep -c FAILED "$out") rounds failed: $(grep -m1 FAILED "$out")")
		local per=$nr
		[ "$mode" = tree ] && per=$((nr / ns))
		ROWS+=("$(printf '%-9s %6s %5s %6s %6s %7s | %8s %8s | %8s | %8s %8s | %8s %8s | %6s %6s %6s %6s' \
			"$label" "$nr" "${ns:--}" "$per" "$(field spawn_ms "$res")" "$(field startup_ms "$res")" \
			"$(field barrier_med "$res")" "$(field barrier_max "$res")" "$(field barrier2_med "$res")" \
			"$(field ranks_med "$res")" "$(field ranks_max "$res")" \
			"$(field client_med "$res")" "$(field client_max "$res")" \
			"$(field gen_cpu_med "$res")" "$(field coord_cpu_med "$res")" "$(field root_cpu_med "$res")" \
			"$(field sub_cpu_med "$res")")")
		[ "$base" = "$WORK" ] && eval "B_${mode}_${nr}_${ns:-0}=\$(field barrier_med \"\$res\")"
		[ "$base" = "$WORK" ] && eval "S_${mode}_${nr}_${ns:-0}=\$(field startup_ms \"\$res\")"
		say "$mode $nr/$ns: $(field barrier_med "$res") ms per barrier (median), checkpoint $(field client_med "$res") ms"
	fi
	rm -rf "$RUNDIR" "$RUNDIR.pids"
	RUNDIR=
}

# the image writes alone (8 KiB images, fdatasync'ed), tmpfs and disk
IMG_TMP=$(field us_per_image "$("$PROG" --image-cost 2000 --dir "$WORK/imgcost")")
IMG_DISK=$(field us_per_image "$("$PROG" --image-cost 300 --dir "$DWORK/imgcost")")
rm -rf "$WORK/imgcost" "$DWORK/imgcost"
# the most ranks one coordinator can take here: its descriptors
HARD=$(ulimit -Hn)
STAR_MAX=1024
[ "$HARD" = unlimited ] && HARD=1048576
while [ $((STAR_MAX * 2 + 256)) -le "$HARD" ]; do STAR_MAX=$((STAR_MAX * 2)); done
say "ranks: $RANKS; subs: $SUBS; star: $STAR; $ROUNDS rounds; folders in $BARRIER_TMP ($(df -T "$BARRIER_TMP" | awk 'NR == 2 { print $2 }')); log $LOG"
say "file descriptors: soft $(ulimit -Sn), hard $(ulimit -Hn), fs.nr_open $(cat /proc/sys/fs/nr_open); $(id -un)"
T0=$SECONDS
for nr in $RANKS; do
	for ns in $SUBS; do
		if [ "$ns" -gt "$nr" ]; then
			ROWS+=("$(printf '%-9s %6s %5s  skipped: more nodes than ranks' tree "$nr" "$ns")")
			continue
		fi
		run tree "$nr" "$ns" "$WORK"
	done
	[ "$STAR" = 1 ] || continue
	run star "$nr" "" "$WORK"
	# more ranks than one coordinator may hold here: the most it can
	if [ "$LAST_RC" = 3 ] && [ "$nr" -gt "$STAR_MAX" ]; then
		case " $RANKS " in *" $STAR_MAX "*) ;; *)
			say "star: $nr ranks do not fit one coordinator here; measuring $STAR_MAX, the most that does"
			run star "$STAR_MAX" "" "$WORK"
			run tree "$STAR_MAX" 64 "$WORK"	# the same ranks in a tree, to compare
			EXTRA=$STAR_MAX ;;
		esac
	fi
done
for d in $DISK; do
	run tree "${d%%:*}" "${d##*:}" "$DWORK"
done

# --- report ---------------------------------------------------------------

echo
echo "crest barrier bench: $(date -u +%Y-%m-%d) $(uname -r), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $((SECONDS - T0)) s"
echo "coordinators: $COORD (root + subs over TCP 127.0.0.1, ranks over Unix sockets); --timeout $TIMEOUT"
if [ "$FANOUT" = 0 ]; then
	echo "tree: every sub below the root (one level)"
else
	echo "tree/$FANOUT: fan-out $FANOUT, the parent of node k is node (k - 1) / $FANOUT (as a Slurm step's, plugstack.conf fanout=)"
fi
echo "checkpoint folders on $(df -T "$BARRIER_TMP" | awk 'NR == 2 { print $2 }') ($BARRIER_TMP); *-disk rows on $(df -T "$B" | awk 'NR == 2 { print $2 }') ($B)"
echo
echo "ms; median and max of $ROUNDS rounds.  start: fork of the first sub -> the root has every node and rank"
echo "(fork: of which forking the coordinators)."
echo "barrier: first PREPARE at a rank -> last SUSPEND at a rank.  bar2: SUSPEND -> WRITE (CHILDREN on the way)."
echo "ranks: first PREPARE -> last RESUME.  ckpt: CKPT_REQUEST -> CKPT_RESULT (the client's view)."
echo "CPU ms per round: gen (the generator workers), coord (every coordinator), root, sub (the busiest sub)"
echo
printf '%-9s %6s %5s %6s %6s %7s | %8s %8s | %8s | %8s %8s | %8s %8s | %6s %6s %6s %6s\n' \
	mode ranks subs /sub fork start barrier max bar2 ranks max ckpt max gen coord root sub
for r in "${ROWS[@]}"; do echo "$r"; done
echo

# the goals
verdict() { awk -v v="$1" -v g="$3" "BEGIN { exit !(v $2 g) }" && echo "goal met" || echo "goal NOT met"; }
top=$(for n in $RANKS; do echo "$n"; done | sort -n | tail -n 1)
low=$(for n in $RANKS; do echo "$n"; done | sort -n | head -n 1)
wide=$(for n in $SUBS; do echo "$n"; done | sort -n | tail -n 1)
v=$(eval echo "\${B_tree_${top}_${wide}:-}")
if [ -n "$v" ] && { [ "$top" != 65536 ] || [ "$wide" != 1024 ]; }; then
	printf '%-58s %8s ms  (the goal, <= 50 ms, is for 65536 ranks over 1024 nodes)\n' \
		"barrier, $top ranks over $wide nodes (median)" "$v"
elif [ -n "$v" ]; then
	printf '%-58s %8s ms  <= 50 ms  %s\n' "barrier, $top ranks over $wide nodes (median)" "$v" "$(verdict "$v" "<=" 50)"
else
	printf '%-58s %8s\n' "barrier, $top ranks over $wide nodes" "not measured"
fi
if [ "$top" != "$low" ]; then
	for ns in $SUBS star; do
		m=tree k=$ns
		[ "$ns" = star ] && m=star k=0
		a=$(eval echo "\${B_${m}_${low}_${k}:-}")
		b=$(eval echo "\${B_${m}_${top}_${k}:-}")
		if [ -z "$a" ] || [ -z "$b" ]; then continue; fi
		e=$(awk -v a="$a" -v b="$b" -v x="$low" -v y="$top" 'BEGIN { printf "%.2f", log(b / a) / log(y / x) }')
		g=$(awk -v e="$e" 'BEGIN { print (e < 0.8) ? "clearly sub-linear" : (e < 1) ? "sub-linear, barely" : "linear or worse" }')
		printf '%-58s %8s     (x%s ranks: x%s time)  %s\n' "growth exponent, $low -> $top ranks, ${m/tree/$ns subs}" "$e" \
			"$((top / low))" "$(calc "$b / $a")" "$g"
	done
fi
for nr in $RANKS ${EXTRA:-}; do
	s=$(eval echo "\${B_star_${nr}_0:-}")
	best='' bs=''
	for ns in $SUBS 64; do
		t=$(eval echo "\${B_tree_${nr}_${ns}:-}")
		[ -n "$t" ] || continue
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t bs=$ns; fi
	done
	[ -n "$s" ] && [ -n "$best" ] &&
		printf '%-58s %8s     (star %s ms, tree with %s subs %s ms)\n' "star / best tree barrier, $nr ranks" \
			"$(calc "$s / $best")" "$s" "$bs" "$best"
done
for nr in $RANKS; do
	s=$(eval echo "\${S_tree_${nr}_1024:-}")
	[ -n "$s" ] && printf '%-58s %8s ms\n' "tree start-up, 1024 nodes, $nr ranks" "$s"
done
echo "image write alone (8 KiB, fdatasync): ${IMG_TMP} us on tmpfs, ${IMG_DISK} us on $(df -T "$B" | awk 'NR == 2 { print $2 }')"
echo "root takeover: not measured: crest has no root takeover (a lost root is not replaced; docs/protocol.md)"

if [ ${#ERRORS[@]} -gt 0 ]; then
	echo
	for e in "${ERRORS[@]}"; do echo "barrier: BROKEN: $e"; done
	exit 1
fi
exit 0
