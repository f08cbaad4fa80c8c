#!/usr/bin/env bats
# The coordinator tree on one machine: three "nodes" are network namespaces
# made by the test (names crest-t-<pid>-<n>), each with a veth into a
# bridge in the host namespace on a private subnet that exists only there.
# The root coordinator runs in the host namespace and listens on the
# bridge's address; each node has its sub-coordinator and its processes
# (a bash running 4 counters).  Needs root and `ip netns`; skipped without.
#
# Teardown kills by pid what the test started and removes the namespaces,
# the veths and the bridge by name.

load helpers

NODES_RUNS=$TOP/build/test-runs/bats-nodes
COORD_BIN=$TOP/build/bin/crest-coord

setup_file() {
	runs_lock "$NODES_RUNS"
}

net_setup() {
	local n ns
	NET_ID=$$
	BR=crb$NET_ID
	# a /24 that is on no interface of this machine: 10.213.x or the next free one
	local o
	for o in 213 214 215 216 217; do
		ip -4 addr | grep -q "inet 10\.$o\." || break
	done
	NET=10.$o.0
	ADDR=$NET.1
	PORT=$((20000 + NET_ID % 20000))
	ip link add "$BR" type bridge || return 1
	ip addr add "$ADDR/24" dev "$BR"
	ip link set "$BR" up
	for n in 1 2 3; do
		ns=crest-t-$NET_ID-$n
		ip netns add "$ns" || return 1
		ip link add "ct${NET_ID}h$n" type veth peer name "ct${NET_ID}n$n" || return 1
		ip link set "ct${NET_ID}n$n" netns "$ns"
		ip link set "ct${NET_ID}h$n" master "$BR" up
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "ct${NET_ID}n$n" name eth0
		ip -n "$ns" addr add "$NET.$((10 + n))/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
}

net_teardown() {
	local n
	[ -n "${NET_ID:-}" ] || return 0
	for n in 1 2 3; do
		ip netns del "crest-t-$NET_ID-$n" 2>/dev/null
		ip link del "ct${NET_ID}h$n" 2>/dev/null
	done
	ip link del "crb$NET_ID" 2>/dev/null
	true
}

setup() {
	app_setup "$NODES_RUNS"
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v nsenter >/dev/null || skip "needs nsenter"
	if ! ip netns add "crest-t-$$-probe" 2>/dev/null; then
		skip "ip netns cannot be used here"
	fi
	ip netns del "crest-t-$$-probe"
	net_setup
}

teardown() {
	local f
	app_teardown
	for f in "$CK"/nodes/n*/coord.log; do
		[ -e "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
	done
	net_teardown
}

# in_node N CMD...: CMD in node N's network namespace
in_node() {
	local n=$1
	shift
	nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$@"
}

# the root coordinator, in the host namespace; its pid in ROOT
start_root() {
	mkdir -p "$CK"
	run_logged "$COORD_BIN" --root --dir "$CK" --listen "$ADDR:$PORT"
	[ "$status" -eq 0 ]
	ROOT=$(awk '$1 == "pid" { print $2 }' "$CK/COORD")
	[ -n "$ROOT" ]
	COORDS+=("$ROOT")
}

# the pid of node N's sub-coordinator (remembered for teardown)
sub_pid() {
	local p
	p=$(awk '$1 == "pid" { print $2 }' "$CK/nodes/n$1/COORD" 2>/dev/null)
	[ -n "$p" ] && COORDS+=("$p")
	echo "$p"
}

# wait until the root lists $1 sub-coordinators and each node's
# sub-coordinator $2 processes (20 s)
wait_tree() {
	local i n st ok
	for ((i = 0; i < 200; i++)); do
		ok=1
		st=$("$CREST" status --dir "$CK" --json 2>/dev/null) || st='{}'
		python3 -c '
import json, sys
c = json.loads(sys.argv[1]).get("coordinator") or {}
sys.exit(0 if sum(1 for p in c.get("processes", []) if p.get("node")) == int(sys.argv[2]) else 1)' "$st" "$1" || ok=0
		for n in 1 2 3; do
			[ "$ok" = 1 ] || break
			st=$("$CREST" status --dir "$CK/nodes/n$n" --json 2>/dev/null) || st='{}'
			python3 -c '
import json, sys
c = json.loads(sys.argv[1]).get("coordinator") or {}
sys.exit(0 if len(c.get("processes", [])) == int(sys.argv[2]) else 1)' "$st" "$2" || ok=0
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	echo "the tree did not come up: root and $1 nodes with $2 processes each; last status: $st"
	return 1
}

# 4 processes (counters, or $1) under one bash on each node, through
# `crest launch --node`
# every application process of the 3 nodes is alive (APPS: the test's)
all_alive() {
	local n p
	for n in 1 2 3; do
		is_alive "${APPS[n]}"
		for p in $(cat "$CK/nodes/n$n/PROCS"); do
			is_alive "$p"
		done
	done
}

# wait_respawned N OLD CMDLINE: node N's processes have started its
# sub-coordinator (pid OLD, started as CMDLINE) again, the same way, in the
# same run (--incarnation of the run it had learned)
wait_respawned() {
	local i new
	for ((i = 0; i < 100; i++)); do
		new=$(sub_pid "$1")
		[ -n "$new" ] && [ "$new" != "$2" ] && is_coord "$new" && break
		sleep 0.1
	done
	[ -n "$new" ] && [ "$new" != "$2" ] && is_coord "$new"
	[ "$(tr '\0' ' ' <"/proc/$new/cmdline")" = "$3--incarnation $(cat "$CK/INCARNATION") " ]
}

launch_nodes() {
	local n prog=${1:-$CR_BIN/counter}
	for n in 1 2 3; do
		OUT=$D/launch$n.out
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$CREST" launch --dir "$CK" --node "$n" \
			--coord "$ADDR:$PORT" -- bash -c "for i in 1 2 3 4; do $prog & done; wait"
		APPS[n]=$BG
	done
	wait_tree 3 5
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
}

# kill_nodes: every application process of the three nodes dies (all are
# SIGSTOPped first: one that saw another die, a TCP peer, would say so
# before its own death); the sub-coordinators follow, the root stays
kill_nodes() {
	local n p sig
	for sig in STOP KILL; do
		for n in 1 2 3; do
			for p in $(cat "$CK/nodes/n$n/PROCS"); do
				kill -"$sig" "$p" 2>/dev/null || true
			done
		done
	done
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 10
		wait_coord_gone "$CK/nodes/n$n" 15
	done
	is_coord "$ROOT"
}

# restart_rotated PREFIX: namespace n restores node n+1's (mod 3) images
# as node n, output in $D/PREFIX<n>.out, pids in APPS
restart_rotated() {
	local n
	for n in 1 2 3; do
		OUT=$D/$1$n.out
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$CREST" restart --dir "$CK" --node "$n" \
			--from-node "$((n % 3 + 1))" --coord "$ADDR:$PORT"
		APPS[n]=$BG
	done
}

@test "a checkpoint through the tree covers every node; with an image of node 2 in the next one damaged, each node restarts from the first, in another namespace" {
	local n g img
	declare -a APPS
	start_root
	launch_nodes
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	g=$CK/gen-000001
	[ -e "$g/MANIFEST" ]
	run_logged cat "$g/MANIFEST"
	grep -q '^images 15$' "$g/MANIFEST"
	for n in 1 2 3; do
		[ "$(find "$g/n$n" -name 'p-*.img' | wc -l)" -eq 5 ]
		for img in "$g/n$n"/p-*.img; do
			grep -q "^n$n/${img##*/} $(stat -c %s "$img") " "$g/MANIFEST"
		done
	done
	[ "$(readlink "$CK/latest")" = gen-000001 ]
	# a second one, with a flipped byte in the header of one image of node
	# 2: every node, each deciding on its own, passes over it alike
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	img=$(ls "$CK/gen-000002/n2"/p-*.img | head -n 1)
	flip_byte "$img" 100

	# every application process dies; node n's processes come back in
	# namespace n, under that node's new sub-coordinator
	kill_nodes
	restart_rotated restart
	wait_tree 3 5 || true
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 60
		[ "$rc" -eq 0 ]
		OUT=$D/restart$n.out
		run_logged cat "$OUT"
		! grep -aq '^FAIL' "$OUT" || false
		[ "$(grep -ac "^$COUNTER_RESULT\$" "$OUT")" -eq 4 ]
		grep -q "generation 2 in .* is damaged: .*/gen-000002/n2/" "$OUT"
		grep -q 'restarting from generation 1 instead' "$OUT"
	done
}

@test "a sub-coordinator with a wrong secret is refused and logged; the root keeps serving" {
	declare -a APPS
	start_root
	# node 9 holds another secret
	printf '%064d' 7 >"$D/wrong"
	chmod 600 "$D/wrong"
	run_logged in_node 1 "$COORD_BIN" --dir "$CK" --node 9 --parent "$ADDR:$PORT" --secret-file "$D/wrong"
	[ "$status" -eq 0 ]
	sub_pid 9 >/dev/null
	for ((i = 0; i < 100; i++)); do
		grep -q 'authentication failed from .*wrong secret' "$CK/coord.log" && break
		sleep 0.1
	done
	run_logged grep 'authentication failed' "$CK/coord.log"
	[ "$status" -eq 0 ]
	grep -q 'authentication with the parent .* failed' "$CK/nodes/n9/coord.log"
	is_coord "$ROOT"
	launch_nodes
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	grep -q '^images 15$' "$CK/gen-000001/MANIFEST"
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 30
		[ "$rc" -eq 0 ]
	done
}

@test "kill -9 of a sub-coordinator during a checkpoint aborts it; nothing dies; the node's processes start it again and the next one succeeds" {
	local n p s1 cmd1 ck i
	declare -a APPS
	export CREST_RESPAWN_AFTER=1	# the processes start a dead coordinator again
	start_root
	launch_nodes "sleep 120"
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	[ "$(readlink "$CK/latest")" = gen-000001 ]

	# node 1's sub-coordinator stops answering; a checkpoint starts and
	# waits for it; then it dies
	s1=$(sub_pid 1)
	cmd1=$(tr '\0' ' ' <"/proc/$s1/cmdline")
	kill -STOP "$s1"
	OUT=$D/checkpoint.out
	start_bg "$CREST" checkpoint --dir "$CK"
	ck=$BG
	for ((i = 0; i < 100; i++)); do
		"$CREST" status --dir "$CK" --json 2>/dev/null | grep -q '"running":true' && break
		sleep 0.1
	done
	# the status names the node that holds it up, node by node
	for ((i = 0; i < 50; i++)); do
		run "$CREST" status --dir "$CK" --json
		python3 -c '
import json, sys
ck = json.loads(sys.argv[1])["coordinator"]["checkpoint"]
nodes = {n["node"]: n["done"] for n in ck["nodes"]}
sys.exit(0 if ck["slowest_node"] == 1 and nodes == {1: False, 2: True, 3: True} else 1)' "$output" && break
		sleep 0.1
	done
	run_logged "$CREST" status --dir "$CK" --json
	run_logged "$CREST" status --dir "$CK"
	grep -q 'slowest: node 1' <<<"$output"
	grep -q '  node 2: .* MiB written, done' <<<"$output"
	kill -9 "$s1"
	wait_exit "$ck" 20
	[ "$rc" -ne 0 ]
	run_logged cat "$OUT"
	grep -q 'node 1' "$OUT"
	[ "$(readlink "$CK/latest")" = gen-000001 ]
	[ ! -e "$CK/gen-000002" ]
	all_alive

	# node 1's processes start its sub-coordinator again, as it was
	# started, and come back to it
	wait_respawned 1 "$s1" "$cmd1"
	wait_tree 3 5
	[ "$(grep -c 'started it again: pid' "$D/launch1.out")" -eq 1 ]
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	g=$CK/$(readlink "$CK/latest")
	[ "$g" != "$CK/gen-000001" ]
	grep -q '^images 15$' "$g/MANIFEST"
}

@test "a sub-coordinator that loses the root during a checkpoint aborts it locally and reconnects to a new root" {
	local n p s2 ck i
	declare -a APPS
	start_root
	launch_nodes "sleep 120"
	# node 2's sub-coordinator holds the checkpoint in PREPARE; node 1's
	# has started it when the root dies
	s2=$(sub_pid 2)
	kill -STOP "$s2"
	OUT=$D/checkpoint.out
	start_bg "$CREST" checkpoint --dir "$CK"
	ck=$BG
	for ((i = 0; i < 100; i++)); do
		grep -q 'generation 1: PREPARE' "$CK/nodes/n1/coord.log" && break
		sleep 0.1
	done
	kill -9 "$ROOT"
	kill -CONT "$s2"
	wait_exit "$ck" 20
	[ "$rc" -ne 0 ]
	for ((i = 0; i < 50; i++)); do
		grep -q 'link to the parent coordinator dropped' "$CK/nodes/n1/coord.log" && break
		sleep 0.1
	done
	run_logged grep -e 'lost the parent' -e 'aborted' "$CK/nodes/n1/coord.log"
	grep -q 'checkpoint aborted: the link to the parent coordinator dropped' "$CK/nodes/n1/coord.log"
	all_alive
	[ ! -e "$CK/latest" ]

	# a new root (a new secret): every sub-coordinator comes back to it
	start_root
	wait_tree 3 5
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	g=$CK/$(readlink "$CK/latest")
	grep -q '^images 15$' "$g/MANIFEST"
}

# the RESPAWN that a sub-coordinator of node $1 of run $2 leaves when it is
# killed: its command line (crest-coord --node N ... --incarnation RUN),
# 0600, written a minute ago
fake_respawn() {
	local f=$CK/nodes/n$1/RESPAWN
	{
		printf 'crest-respawn 1\npid 999999\n'
		printf '%s\0' "cwd=/" "arg=$COORD_BIN" "arg=--dir" "arg=$CK" "arg=--node" "arg=$1" "arg=--parent" \
			"arg=$ADDR:$PORT" "arg=--incarnation" "arg=$2" "env=PATH=$PATH"
	} >"$f"
	chmod 600 "$f"
	touch -d '1 minute ago' "$f"
}

@test "runs: sub-coordinators of an older run are refused by the next run's root and stop; their processes go on and do not start the next run's coordinators; an older run's coordinator does not start" {
	local n i old new st
	declare -a APPS
	export CREST_RESPAWN_AFTER=1	# the processes would start a dead coordinator again
	start_root
	launch_nodes "sleep 300"
	old=$(cat "$CK/INCARNATION")
	# every sub-coordinator learned its run from the root: RESPAWN says it
	for n in 1 2 3; do
		tr '\0' '\n' <"$CK/nodes/n$n/RESPAWN" | grep -qx "arg=$old"
	done
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]

	# a new run of the computation takes the folder (crest step-start of a
	# requeued job writes INCARNATION, then starts the root with it); the
	# old root is gone, its nodes were cut off and are still alive
	kill -9 "$ROOT"
	new=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$new" >"$CK/INCARNATION"
	run_logged "$COORD_BIN" --root --dir "$CK" --listen "$ADDR:$PORT" --incarnation "$new"
	[ "$status" -eq 0 ]
	ROOT=$(awk '$1 == "pid" { print $2 }' "$CK/COORD")
	COORDS+=("$ROOT")
	# the old sub-coordinators find it, are refused and stop
	for n in 1 2 3; do
		wait_coord_gone "$CK/nodes/n$n" 20
		grep -q "serves another run of the computation ($new; this coordinator's is $old)" \
			"$CK/nodes/n$n/coord.log"
		grep -q "sub-coordinator of node $n (pid [0-9]*) of another run ($old, this run is $new); refused" \
			"$CK/coord.log"
		[ ! -e "$CK/nodes/n$n/RESPAWN" ]
	done
	st=$("$CREST" status --dir "$CK" --json)
	python3 -c 'import json, sys; c = json.loads(sys.argv[1])["coordinator"]; sys.exit(len(c.get("processes", [])))' "$st"
	# their processes go on without them, and do not start node 1's
	# coordinator of the new run that died (its RESPAWN names the new run)
	fake_respawn 1 "$new"
	sleep 5
	[ -e "$CK/nodes/n1/RESPAWN" ]
	! "$CREST" status --dir "$CK/nodes/n1" >/dev/null 2>&1
	grep -q "RESPAWN is another run's ($new; this process's is $old): not started" "$D/launch1.out"
	all_alive
	# the old run's coordinators, started again by hand, do not start
	run_logged in_node 2 "$COORD_BIN" --dir "$CK" --node 2 --parent "$ADDR:$PORT" --incarnation "$old"
	[ "$status" -eq 1 ]
	[[ "$output" == *"belongs to another run of the computation (INCARNATION $new, this coordinator's $old): not starting"* ]]
	run_logged "$COORD_BIN" --root --dir "$CK" --listen "$ADDR:$((PORT + 1))" --incarnation "$old"
	[ "$status" -eq 1 ]
	[ "$(awk '$1 == "pid" { print $2 }' "$CK/COORD")" = "$ROOT" ]
	grep -q "not starting on .* it is left over from an older run" "$CK/coord.log"
	is_coord "$ROOT"
	# a root started again by hand (no --incarnation) is of the run DIR has
	kill -9 "$ROOT"
	run_logged "$COORD_BIN" --root --dir "$CK" --listen "$ADDR:$PORT"
	[ "$status" -eq 0 ]
	COORDS+=("$(awk '$1 == "pid" { print $2 }' "$CK/COORD")")
	[ "$(cat "$CK/INCARNATION")" = "$new" ]
	tr '\0' '\n' <"$CK/RESPAWN" | grep -qx "arg=$new"
}

# all processes of every node alive, latest still $1, no partial generation
nothing_lost() {
	local n p
	for n in 1 2 3; do
		is_alive "${APPS[n]}"
		for p in $(cat "$CK/nodes/n$n/PROCS"); do
			is_alive "$p" || { echo "process $p of node $n died"; return 1; }
		done
	done
	[ "$(readlink "$CK/latest")" = "$1" ] || { echo "latest is $(readlink "$CK/latest"), expected $1"; return 1; }
	# a process of a node that lost its coordinator while writing removes
	# its image when it finds out: give it 5 s
	local g i left
	for ((i = 0; i < 50; i++)); do
		left=
		for g in "$CK"/gen-*; do
			[ -e "$g/MANIFEST" ] || left=$g
		done
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	echo "partial generation left: $left"
	find "$left"
	return 1
}

# node 1's sub-coordinator replaced by one with CREST_FAULT=$1 (or none)
replace_sub1() {
	local s
	s=$(sub_pid 1)
	# it may have died already (CREST_FAULT), and been reaped
	[ -n "$s" ] && { kill -9 "$s" 2>/dev/null || true; }
	for ((i = 0; i < 50; i++)); do
		is_alive "$s" || break
		sleep 0.1
	done
	run_logged in_node 1 env ${1:+CREST_FAULT=$1} "$COORD_BIN" --dir "$CK" --node 1 --parent "$ADDR:$PORT"
	[ "$status" -eq 0 ]
	sub_pid 1 >/dev/null
	wait_tree 3 5
}

# a root, 5 processes on each node, a first checkpoint
tree_with_checkpoint() {
	start_root
	launch_nodes "sleep 300"
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
}

# kill -9 of the root, waited for
kill_root() {
	kill -9 "$ROOT" 2>/dev/null || true	# it may have died already (CREST_FAULT)
	for ((i = 0; i < 50; i++)); do
		is_alive "$ROOT" || break
		sleep 0.1
	done
}

# a new checkpoint after $1, with every node's 5 images
next_checkpoint_complete() {
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	[ "$(readlink "$CK/latest")" != "$1" ]
	grep -q '^images 15$' "$CK/$(readlink "$CK/latest")/MANIFEST"
}

@test "fault matrix: node 1's sub-coordinator dies or drops its link at PREPARE, SUSPEND, WRITE, RESUME; nothing dies, latest is kept, the next checkpoint succeeds" {
	local phase action latest want
	declare -a APPS
	tree_with_checkpoint
	for action in die drop; do
		for phase in PREPARE SUSPEND WRITE RESUME; do
			echo "=== sub-coordinator of node 1: $action at $phase"
			latest=$(readlink "$CK/latest")
			replace_sub1 "coord:$phase:$action"
			run_logged "$CREST" checkpoint --dir "$CK"
			want=$latest
			if [ "$phase" = RESUME ]; then
				# the root had committed: the checkpoint is complete
				[ "$status" -eq 0 ]
				want=$(readlink "$CK/latest")
				[ "$want" != "$latest" ]
			else
				[ "$status" -ne 0 ]
				grep -q 'node 1' <<<"$output"
			fi
			nothing_lost "$want"
			replace_sub1 ""
			next_checkpoint_complete "$want"
		done
	done
}

@test "fault matrix: the root dies or drops its links at PREPARE, SUSPEND, WRITE, COMMIT; nothing dies, latest is kept (dropped at COMMIT: committed), a new root checkpoints" {
	local phase action latest
	declare -a APPS
	tree_with_checkpoint
	for action in die drop; do
		for phase in PREPARE SUSPEND WRITE COMMIT; do
			echo "=== root: $action at $phase"
			latest=$(readlink "$CK/latest")
			kill_root
			CREST_FAULT=coord:$phase:$action start_root
			wait_tree 3 5
			run_logged "$CREST" checkpoint --dir "$CK"
			if [ "$phase$action" = COMMITdrop ]; then
				# every image was in: the root commits without the links
				[ "$status" -eq 0 ]
				latest=$(readlink "$CK/latest")
			else
				[ "$status" -ne 0 ]
			fi
			# a new root removes what a dead one left half-written
			kill_root
			start_root
			wait_tree 3 5
			nothing_lost "$latest"
			next_checkpoint_complete "$latest"
		done
	done
}

# ---- a TCP ring across the nodes (tcp_ring.py): one rank per node, each
# connected to the ranks of the two other nodes

RING=$TOP/tests/bats/tcp_ring.py
RING_PY=python3
[ -x /usr/bin/python3 ] && RING_PY=/usr/bin/python3

# ring_cmd N STEPS DELAY: the command of rank N-1, started on node N (the
# rendezvous folder is $D/rdv)
ring_cmd() {
	echo "$RING_PY $RING --rank $(($1 - 1)) --size 3 --dir $D/rdv --steps $2 --delay $3"
}

# the highest round rank 0 reported in $D/$1-n*.out (-1: none yet)
ring_round() {
	cat "$D/$1"-n*.out 2>/dev/null | awk '$1 == "round" && $2 == 0 && $3 > m { m = $3 } BEGIN { m = -1 } END { print m }'
}

# wait_ring_round PREFIX K SECS: until rank 0 is done with round K in the
# files $D/PREFIX-n*.out; fails at once when a rank printed FAIL (or a
# python traceback)
wait_ring_round() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(ring_round "$1")" -ge "$2" ] && return 0
		if grep -aq -e "^FAIL" -e "^Traceback" "$D/$1"-n*.out 2>/dev/null; then
			echo "a rank failed while waiting for round $2:"
			grep -a -A3 -e "^FAIL" -e "^Traceback" "$D/$1"-n*.out
			return 1
		fi
		sleep 0.1
	done
	echo "rank 0 is at round $(ring_round "$1") after $3 s in $D/$1-n*.out, expected $2"
	return 1
}

# check_ring STEPS PREFIX [RUNS]: every rank's result (in the files
# $D/PREFIX-n*.out) is the one of an uninterrupted ring, printed once over
# all the runs of the computation ($D/RUNS-n*.out, RUNS a glob, default
# PREFIX: the launch and each restart), no rank failed, and each rank
# printed "start" once over all the runs (a restarted rank continued)
check_ring() {
	local r want runs=${3:-$2}
	run_logged "$RING_PY" "$RING" --expect --size 3 --steps "$1"
	[ "$status" -eq 0 ]
	for r in 0 1 2; do
		want=$(grep "^result $r " <<<"$output")
		[ -n "$want" ]
		[ "$(cat "$D/$2"-n*.out | grep -ac "^$want\$")" -eq 1 ] || {
			echo "rank $r: expected '$want' once in $D/$2-n*.out; got:"
			grep -ah "^result $r " "$D/$2"-n*.out
			return 1
		}
		# shellcheck disable=SC2086
		[ "$(cat "$D"/$runs-n*.out | grep -ac "^start $r\$")" -eq 1 ] || {
			echo "rank $r printed 'start' $(cat "$D"/$runs-n*.out | grep -ac "^start $r\$") times"
			return 1
		}
	done
	# shellcheck disable=SC2086
	[ "$(cat "$D"/$runs-n*.out | grep -ac '^result ')" -eq 3 ]
	# shellcheck disable=SC2086
	! grep -a -e '^FAIL' -e '^Traceback' "$D"/$runs-n*.out || false
}

@test "a TCP ring over the three nodes runs natively and under crest with checkpoints through the tree, to the uninterrupted result" {
	local n
	declare -a APPS
	# without crest: each rank finds its node's address and its neighbours
	mkdir -p "$D/rdv"
	for n in 1 2 3; do
		OUT=$D/native-n$n.out
		# shellcheck disable=SC2046
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" $(ring_cmd "$n" 30 0.02)
		APPS[n]=$BG
	done
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 30
		[ "$rc" -eq 0 ]
	done
	run_logged cat "$D"/native-n*.out
	check_ring 30 native

	# under crest, one rank per node: two checkpoints while the tokens go
	# round (each with the node's one process), then it ends as without
	rm -rf "$D/rdv"
	mkdir -p "$D/rdv"
	start_root
	for n in 1 2 3; do
		OUT=$D/launch-n$n.out
		# shellcheck disable=SC2046
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$CREST" launch --dir "$CK" --node "$n" \
			--coord "$ADDR:$PORT" -- $(ring_cmd "$n" 40 0.05)
		APPS[n]=$BG
	done
	wait_tree 3 1
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	wait_ring_round launch 5 20
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	grep -q '^images 3$' "$CK/gen-000001/MANIFEST"
	wait_ring_round launch 15 20
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	grep -q '^images 3$' "$CK/gen-000002/MANIFEST"
	[ "$(readlink "$CK/latest")" = gen-000002 ]
	# the checkpoints were taken while the ring ran
	[ "$(ring_round launch)" -lt 39 ]
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 30
		[ "$rc" -eq 0 ]
	done
	run_logged cat "$D"/launch-n*.out
	check_ring 40 launch
}

@test "TCP connections between nodes: a ring of one rank per node is checkpointed, killed and restarted in other namespaces, 3 times, and ends with the uninterrupted result" {
	local n c k steps=80 cycles=3
	declare -a APPS
	mkdir -p "$D/rdv"
	start_root
	for n in 1 2 3; do
		OUT=$D/c0-n$n.out
		# shellcheck disable=SC2046
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$CREST" launch --dir "$CK" --node "$n" \
			--coord "$ADDR:$PORT" -- $(ring_cmd "$n" "$steps" 0.05)
		APPS[n]=$BG
	done
	wait_tree 3 1
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	wait_ring_round c0 5 20

	for ((c = 1; c <= cycles; c++)); do
		echo "=== cycle $c"
		# a checkpoint through the tree, the tokens going round; the round
		# rank 0 had reached when it returned (the images hold at most that)
		run_logged "$CREST" checkpoint --dir "$CK"
		[ "$status" -eq 0 ]
		[ "$(readlink "$CK/latest")" = "$(printf 'gen-%06d' "$c")" ]
		grep -q '^images 3$' "$CK/latest/MANIFEST"
		[ -e "$CK/latest/ENDPOINTS" ] && run_logged cat "$CK/latest/ENDPOINTS"
		k=$(ring_round "c$((c - 1))")
		echo "rank 0 at round $k after the checkpoint"
		[ "$k" -lt $((steps - 10)) ]

		# every rank dies, then moves to another namespace (another
		# address) at each cycle; each of its two connections now goes to
		# another namespace too
		kill_nodes
		restart_rotated "c$c-n"
		# the tokens go round again: 5 rounds beyond what was checkpointed
		# (a rank that finds a connection closed says FAIL and stops it)
		wait_ring_round "c$c" $((k + 5)) 30
		wait_tree 3 1
		for n in 1 2 3; do
			sub_pid "$n" >/dev/null
		done
	done

	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 60
		[ "$rc" -eq 0 ]
	done
	run_logged cat "$D/c$cycles"-n*.out
	check_ring "$steps" "c$cycles" 'c*'
}

@test "old addresses: clients that learned a server's address before the checkpoint reach it after every node restarted elsewhere, bound to their own old address, and the server sees them at it; over UDP too, also through sendmmsg and recvmmsg" {
	local n
	declare -a APPS
	local app=$TOP/tests/bats/late_connect.py
	start_root
	# the server on node 1 (its address $NET.11), a client on nodes 2 and 3
	# (bound to the address of their node, as Open MPI binds; the server
	# checks that it sees them there)
	OUT=$D/l1.out
	start_bg nsenter --net="/run/netns/crest-t-$NET_ID-1" "$CREST" launch --dir "$CK" --node 1 \
		--coord "$ADDR:$PORT" -- "$RING_PY" "$app" server "$D" "$NET.11" 2
	APPS[1]=$BG
	for n in 2 3; do
		OUT=$D/l$n.out
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$CREST" launch --dir "$CK" --node "$n" \
			--coord "$ADDR:$PORT" -- "$RING_PY" "$app" client "$D" "$n" "$NET.$((10 + n))"
		APPS[n]=$BG
	done
	wait_tree 3 1
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	for n in 2 3; do
		OUT=$D/l$n.out wait_line "client $n knows $NET.11:" 10
	done
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	run_logged cat "$CK/gen-000001/ENDPOINTS"
	grep -qx "node 1 $NET.11" "$CK/gen-000001/ENDPOINTS"

	# the server moves to namespace 3 ($NET.13); namespace 1, where its
	# old address is, gets a client
	kill_nodes
	restart_rotated r
	wait_tree 3 1
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	touch "$D/go"
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 30
		[ "$rc" -eq 0 ]
	done
	run_logged cat "$D"/r*.out
	grep -qx "server done" "$D/r3.out"
	grep -qx "client 2 got pong hello 2" "$D/r1.out"
	grep -qx "client 3 got pong hello 3" "$D/r2.out"
	grep -qx "client 2 got udp pong hello 2" "$D/r1.out"
	grep -qx "client 3 got udp pong hello 3" "$D/r2.out"
	grep -qx "client 2 got mmsg pong hello 2" "$D/r1.out"
	grep -qx "client 3 got mmsg pong hello 3" "$D/r2.out"
	! grep -q FAIL "$D"/r*.out || false
}

@test "a connection from another node not yet accepted at the checkpoint: the restart completes without waiting for it; the server gets what was sent, the client end of stream; the accepted one is rewired" {
	local n
	declare -a APPS
	local app=$TOP/tests/bats/pending_remote.py
	start_root
	OUT=$D/p1.out
	start_bg nsenter --net="/run/netns/crest-t-$NET_ID-1" "$CREST" launch --dir "$CK" --node 1 \
		--coord "$ADDR:$PORT" -- "$RING_PY" "$app" server "$D" "$NET.11"
	APPS[1]=$BG
	OUT=$D/p2.out
	start_bg nsenter --net="/run/netns/crest-t-$NET_ID-2" "$CREST" launch --dir "$CK" --node 2 \
		--coord "$ADDR:$PORT" -- "$RING_PY" "$app" a "$D"
	APPS[2]=$BG
	OUT=$D/p3.out
	start_bg nsenter --net="/run/netns/crest-t-$NET_ID-3" "$CREST" launch --dir "$CK" --node 3 \
		--coord "$ADDR:$PORT" -- "$RING_PY" "$app" b "$D"
	APPS[3]=$BG
	wait_tree 3 1
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	OUT=$D/p2.out wait_line "client a talked" 10
	OUT=$D/p3.out wait_line "client b sent" 10
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	# the server's accepted connection is listed, with the listener's address
	run_logged cat "$CK/gen-000001/ENDPOINTS"
	grep -q "^$NET.11:" "$CK/gen-000001/ENDPOINTS"
	kill_nodes
	restart_rotated r
	# each node's restart: no wait for a rewire of b's connection (120 s)
	wait_tree 3 1
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	touch "$D/go"
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 30
		[ "$rc" -eq 0 ]
	done
	run_logged cat "$D"/r*.out
	grep -qx "server got hello b" "$D/r3.out"
	grep -qx "server done" "$D/r3.out"
	grep -qx "client a ok" "$D/r1.out"
	grep -qx "client b: end of stream" "$D/r2.out"
	! grep -q FAIL "$D"/r*.out || false
}

@test "a node whose tasks all ended tells the root when it is stopped, also when the last status comes after the SHUTDOWN" {
	local sub
	mkdir -p "$CK"
	# a Slurm-like step of 2 nodes: the root's task 0 ended already; node 1
	# has tasks 4 and 5, of which 4 ended; nobody runs
	run_logged "$COORD_BIN" --root --dir "$CK" --listen "$ADDR:0" --addr-file "$CK/ROOT" --nodes 2 \
		--tasks 1 --task-ranks 0 --ended-tasks 0:0
	[ "$status" -eq 0 ]
	COORDS+=("$(awk '$1 == "pid" { print $2 }' "$CK/COORD")")
	run_logged "$COORD_BIN" --dir "$CK" --node 1 --parent-file "$CK/ROOT" --tasks 2 --task-ranks 4,5 \
		--ended-tasks 4:0
	[ "$status" -eq 0 ]
	sub=$(sub_pid 1)
	# the plugin stops node 1 before task 5's status has arrived: the sub
	# waits for it, and then tells the root
	run_logged "$CREST" step-stop --dir "$CK" --node 1 --nodes 2 --ok
	[ "$status" -eq 0 ]
	is_coord "$sub"
	grep -q "1 of the 2 tasks' statuses are here: waiting" "$CK/nodes/n1/coord.log"
	run_logged "$CREST" step-task-end --dir "$CK" --node 1 --rank 5 --status 768
	[ "$status" -eq 0 ]
	wait_coord_gone "$CK/nodes/n1"
	run_logged cat "$CK/nodes/n1/coord.log"
	grep -q 'every task of node 1 ended: told the root' "$CK/nodes/n1/coord.log"
	grep -q 'every task of node 1 ended (2 recorded)' "$CK/coord.log"
	# (that the next generations record them and a restart ends them again
	# is tested on the cluster: slurm.bats)
}

# ---- a tree of two levels: node 1's sub-coordinator is the parent of the
# sub-coordinators of nodes 2 and 3 (docs/protocol.md, "The coordinator
# tree")

# the address node 1's sub-coordinator listens on when it runs in
# namespace $1
mid_addr() {
	echo "$NET.$((10 + $1)):$PORT"
}

# wait_levels: the root has one sub-coordinator, node 1's, answering for
# 3 nodes, which serves 1 process and the sub-coordinators of nodes 2 and
# 3, which serve 1 process each
wait_levels() {
	local i n ok st
	for ((i = 0; i < 300; i++)); do
		ok=1
		st=$("$CREST" status --dir "$CK" --json 2>/dev/null) || st='{}'
		python3 -c '
import json, sys
c = json.loads(sys.argv[1]).get("coordinator") or {}
sys.exit(0 if [(p["node"], p["nodes"]) for p in c.get("processes", []) if p.get("sub")] == [(1, 3)] else 1)' "$st" || ok=0
		for n in 1 2 3; do
			[ "$ok" = 1 ] || break
			st=$("$CREST" status --dir "$CK/nodes/n$n" --json 2>/dev/null) || st='{}'
			python3 -c '
import json, sys
c = json.loads(sys.argv[1]).get("coordinator") or {}
subs = sorted(p["node"] for p in c.get("processes", []) if p.get("sub"))
procs = [p for p in c.get("processes", []) if not p.get("sub")]
want = [2, 3] if sys.argv[2] == "1" else []
sys.exit(0 if subs == want and len(procs) == 1 else 1)' "$st" "$n" || ok=0
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	echo "the tree of two levels did not come up; last status: $st"
	return 1
}

@test "a tree of two levels (node 1 the parent of nodes 2, 3): a TCP ring checkpointed through it; node 1's killed mid-checkpoint, nothing dies, it comes back; restart elsewhere ends right" {
	local n p s1 cmd1 ck i k steps=80
	declare -a APPS
	export CREST_RESPAWN_AFTER=1	# the processes start a dead coordinator again
	mkdir -p "$D/rdv"
	start_root
	for n in 1 2 3; do
		OUT=$D/l-n$n.out
		local up=("--coord" "$(mid_addr 1)")
		[ "$n" = 1 ] && up=("--coord" "$ADDR:$PORT" "--listen" "$(mid_addr 1)")
		# shellcheck disable=SC2046
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$n" "$CREST" launch --dir "$CK" --node "$n" \
			"${up[@]}" -- $(ring_cmd "$n" "$steps" 0.05)
		APPS[n]=$BG
	done
	wait_levels
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	wait_ring_round l 5 20

	# a checkpoint through both levels: every node's image, connection and
	# address reaches the root through node 1
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	g=$CK/gen-000001
	run_logged cat "$g/MANIFEST" "$g/ENDPOINTS"
	grep -q '^images 3$' "$g/MANIFEST"
	for n in 1 2 3; do
		grep -q "^n$n/p-" "$g/MANIFEST"
		grep -qx "node $n $NET.$((10 + n))" "$g/ENDPOINTS"
	done
	# each rank has two connections, each listed from both ends
	[ "$(grep -vc -e '^crest-endpoints ' -e '^node ' "$g/ENDPOINTS")" -eq 6 ]

	# node 1's sub-coordinator stops answering; a checkpoint waits for it,
	# then it dies: the checkpoint fails naming node 1, nodes 2 and 3 lose
	# their parent and abort too, no process dies
	s1=$(sub_pid 1)
	cmd1=$(tr '\0' ' ' <"/proc/$s1/cmdline")
	kill -STOP "$s1"
	OUT=$D/checkpoint.out
	start_bg "$CREST" checkpoint --dir "$CK"
	ck=$BG
	for ((i = 0; i < 100; i++)); do
		"$CREST" status --dir "$CK" --json 2>/dev/null | grep -q '"running":true' && break
		sleep 0.1
	done
	kill -9 "$s1"
	wait_exit "$ck" 20
	[ "$rc" -ne 0 ]
	run_logged cat "$OUT"
	grep -q 'node 1' "$OUT"
	[ "$(readlink "$CK/latest")" = gen-000001 ]
	[ ! -e "$CK/gen-000002" ]
	for n in 2 3; do
		for ((i = 0; i < 100; i++)); do
			grep -q 'lost the parent coordinator' "$CK/nodes/n$n/coord.log" && break
			sleep 0.1
		done
		grep -q 'lost the parent coordinator' "$CK/nodes/n$n/coord.log"
	done
	all_alive

	# node 1's process starts its sub-coordinator again, as it was started
	# (listening where it did); nodes 2 and 3 come back to it
	wait_respawned 1 "$s1" "$cmd1"
	wait_levels
	run_logged "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	g=$CK/$(readlink "$CK/latest")
	[ "$g" != "$CK/gen-000001" ]
	grep -q '^images 3$' "$g/MANIFEST"
	k=$(ring_round l)
	[ "$k" -lt $((steps - 10)) ]

	# every process dies; node n restarts in namespace n % 3 + 1, node 1
	# again as the parent of nodes 2 and 3 (at its new address)
	kill_nodes
	for n in 1 2 3; do
		local ns=$((n % 3 + 1))
		local up=("--coord" "$(mid_addr 2)")
		[ "$n" = 1 ] && up=("--coord" "$ADDR:$PORT" "--listen" "$(mid_addr "$ns")")
		OUT=$D/r-n$n.out
		start_bg nsenter --net="/run/netns/crest-t-$NET_ID-$ns" "$CREST" restart --dir "$CK" --node "$n" \
			"${up[@]}"
		APPS[n]=$BG
	done
	wait_ring_round r $((k + 5)) 30
	wait_levels
	for n in 1 2 3; do
		wait_exit "${APPS[n]}" 60
		[ "$rc" -eq 0 ]
	done
	run_logged cat "$D"/r-n*.out
	check_ring "$steps" r '[lr]'
}

@test "a tree of two levels: a node below node 1 whose tasks all ended is told to the root through node 1; when node 1's end, the node still below it goes to the root" {
	local sub1 sub3 n
	mkdir -p "$CK"
	# a Slurm-like step of 4 nodes: node 1 is the parent of nodes 2 and 3;
	# every task had ended already (the statuses are known), nobody runs
	run_logged "$COORD_BIN" --root --dir "$CK" --listen "$ADDR:0" --addr-file "$CK/ROOT" --nodes 4 \
		--tasks 1 --task-ranks 0 --ended-tasks 0:0
	[ "$status" -eq 0 ]
	COORDS+=("$(awk '$1 == "pid" { print $2 }' "$CK/COORD")")
	run_logged "$COORD_BIN" --dir "$CK" --node 1 --parent-file "$CK/ROOT" --listen "$ADDR:0" \
		--addr-file "$CK/nodes/n1/ADDR" --nodes 3 --tasks 1 --task-ranks 2 --ended-tasks 2:0
	[ "$status" -eq 0 ]
	for n in 2 3; do
		run_logged "$COORD_BIN" --dir "$CK" --node "$n" --parent-file "$CK/nodes/n1/ADDR" --root-file "$CK/ROOT" \
			--tasks 2 --task-ranks "$((2 * n)),$((2 * n + 1))" --ended-tasks "$((2 * n)):0,$((2 * n + 1)):256"
		[ "$status" -eq 0 ]
	done
	# (sub_pid, not in a subshell: teardown stops what it lists)
	for n in 1 2 3; do
		sub_pid "$n" >/dev/null
	done
	sub1=$(sub_pid 1)
	sub3=$(sub_pid 3)
	for ((i = 0; i < 100; i++)); do
		grep -q 'the sub-coordinator of node 1 answers for 3 nodes' "$CK/coord.log" && break
		sleep 0.1
	done
	grep -q 'the sub-coordinator of node 1 answers for 3 nodes' "$CK/coord.log"
	grep -q 'the step has started' "$CK/coord.log"

	# node 2 ends: node 1 passes it up
	run_logged "$CREST" step-stop --dir "$CK" --node 2 --nodes 4 --ok
	[ "$status" -eq 0 ]
	wait_coord_gone "$CK/nodes/n2"
	for ((i = 0; i < 100; i++)); do
		grep -q 'every task of node 2 ended (2 recorded)' "$CK/coord.log" && break
		sleep 0.1
	done
	grep -q 'every task of node 2 ended: told the root (through the parent)' "$CK/nodes/n2/coord.log"
	grep -q 'every task of node 2 ended (2 recorded)' "$CK/nodes/n1/coord.log"
	grep -q 'every task of node 2 ended (2 recorded)' "$CK/coord.log"

	# node 1 ends while node 3 is still below it: node 3 goes to the root
	run_logged "$CREST" step-stop --dir "$CK" --node 1 --nodes 4 --ok
	[ "$status" -eq 0 ]
	wait_coord_gone "$CK/nodes/n1"
	[ "$(cat "$CK/nodes/n1/ADDR")" = done ]
	for ((i = 0; i < 200; i++)); do
		grep -q 'the sub-coordinator of node 3 (pid [0-9]*) connected' "$CK/coord.log" && break
		sleep 0.1
	done
	run_logged cat "$CK/coord.log" "$CK/nodes/n3/coord.log"
	grep -q 'the parent sub-coordinator left .* connecting to the root' "$CK/nodes/n3/coord.log"
	grep -q 'the sub-coordinator of node 3 (pid [0-9]*) connected' "$CK/coord.log"
	grep -q 'every task of node 1 ended (3 recorded)' "$CK/coord.log"
	is_coord "$sub3"
	# every node of the step is there or done: a checkpoint is refused only
	# because no process is left to take
	for ((i = 0; i < 50; i++)); do
		run "$CREST" checkpoint --dir "$CK"
		grep -q 'nodes are connected' <<<"$output" || break
		sleep 0.1
	done
	echo "$output"
	[ "$status" -ne 0 ]
	grep -q 'no process of the computation is left' <<<"$output"
}
