#!/bin/bash
# One node of the test cluster of up.sh:
#   node.sh [--state DIR] start N   its slurmd, in the node's network
#                                   namespace and new UTS, mount (and, for
#                                   proctrack/cgroup, cgroup) namespaces
#   node.sh [--state DIR] fail N    the node dies: its link goes down and
#                                   every process in its namespace is killed
#   node.sh [--state DIR] return N  the link comes back and slurmd starts
#                                   again (ReturnToService=2 takes it back)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/tmp/crest-cluster
if [ "${1:-}" = --state ]; then STATE=$2; shift 2; fi
[ $# -eq 2 ] || { echo "usage: $0 [--state DIR] start|fail|return N" >&2; exit 2; }
# shellcheck disable=SC1091
. "$STATE/cluster.vars"
n=$2
ns=crcl$ID-node$n
conf=$STATE/etc/slurm.conf
hosts=$STATE/etc/hosts

start() {
	local cg=
	if [ "$PROCTRACK" = cgroup ]; then
		mkdir -p "/sys/fs/cgroup/freezer/crcl$ID-node$n"
		cg="mount --bind /sys/fs/cgroup/freezer/crcl$ID-node$n /sys/fs/cgroup/freezer;"
	fi
	nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private ${cg:+--cgroup} \
		sh -c "hostname node$n; mount --bind '$hosts' /etc/hosts; \
			mount -t tmpfs -o mode=1777,size=512m tmpfs /dev/shm; \
			mount -t tmpfs -o mode=1777,size=512m tmpfs /local; \
			$cg exec slurmd -D -N node$n -f '$conf'" \
		>>"$STATE/log/slurmd.node$n.out" 2>&1 </dev/null &
	echo $! >"$STATE/run/slurmd.node$n.daemon.pid"
}

case $1 in
start) start ;;
fail)
	ip link set "cc${ID}h$n" down
	# everything in the node: slurmd, slurmstepd, the tasks, coordinators
	for ((i = 0; i < 20; i++)); do
		pids=$(ip netns pids "$ns")
		[ -z "$pids" ] && break
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	;;
return)
	ip link set "cc${ID}h$n" up
	start
	;;
*) echo "usage: $0 [--state DIR] start|fail|return N" >&2; exit 2 ;;
esac
