#!/bin/bash
# Stops the test cluster of up.sh: every daemon it started by its pid
# (TERM, then KILL after 10 s), the test user's job processes, the
# namespaces, veths and bridge, the cgroups, then removes the state
# directory.  Works after a partial up.sh, and twice in a row.
#
#   down.sh [--state DIR]
set -uo pipefail
STATE=/tmp/crest-cluster
[ "${1:-}" = --state ] && STATE=$2
[ -e "$STATE/cluster.vars" ] || { rm -rf "$STATE"; exit 0; }
# shellcheck disable=SC1091
. "$STATE/cluster.vars"

pids=()
for f in "$STATE"/run/*.daemon.pid "$STATE"/run/munged.pid; do
	[ -e "$f" ] && pids+=("$(cat "$f")")
done
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for ((i = 0; i < 100; i++)); do
	alive=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive = 0 ] && break
	sleep 0.1
done
for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
# what jobs left: slurmstepd and the test user's processes
pkill -KILL -f "slurmstepd: \[" 2>/dev/null
pkill -KILL -u crest-test 2>/dev/null
for n in $(seq 1 "${NODES:-4}"); do
	ip netns del "crcl$ID-node$n" 2>/dev/null
	ip link del "cc${ID}h$n" 2>/dev/null
	d=/sys/fs/cgroup/freezer/crcl$ID-node$n
	if [ -d "$d" ]; then
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	fi
done
ip link del "$BR" 2>/dev/null
rm -rf "$STATE"
exit 0
