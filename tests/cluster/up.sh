#!/bin/bash
# Brings up a real Slurm cluster on this machine (tests/cluster/README.md):
# munged, slurmctld and 4 slurmd "nodes" node1..node4, each slurmd in its
# own network, UTS and mount namespace on a private bridge, crest's SPANK
# plugin in plugstack.conf when --prefix has it.  Run as root.
#
#   up.sh [--state DIR] [--prefix DIR] [--proctrack cgroup|linuxproc]
#
# Plugin arguments come from $CREST_PLUGSTACK_ARGS.  Prints the state
# directory's env.sh to source.  Stop everything with down.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/tmp/crest-cluster
PREFIX=
PROCTRACK=cgroup
while [ $# -gt 0 ]; do
	case $1 in
	--state) STATE=$2; shift 2 ;;
	--prefix) PREFIX=$2; shift 2 ;;
	--proctrack) PROCTRACK=$2; shift 2 ;;
	*) echo "usage: $0 [--state DIR] [--prefix DIR] [--proctrack cgroup|linuxproc]" >&2; exit 2 ;;
	esac
done
case $PROCTRACK in cgroup | linuxproc) ;; *) echo "up.sh: --proctrack cgroup or linuxproc" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "up.sh: run as root" >&2; exit 1; }
for b in slurmctld slurmd munged sinfo; do
	command -v "$b" >/dev/null || { echo "up.sh: $b is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
if [ -e "$STATE/env.sh" ]; then
	echo "up.sh: a cluster is up in $STATE already; tests/cluster/down.sh --state $STATE first" >&2
	exit 1
fi
USER_NAME=crest-test
NODES=4
ID=$(printf '%04x' $((RANDOM % 65536)))

# a /24 that exists on no interface of this machine
for o in 220 221 222 223 224 225 226 227 228 229; do
	ip -4 addr | grep -q "inet 10\.$o\." || break
done
NET=10.$o.0
CTL_ADDR=$NET.254
BR=crcl$ID

mkdir -p "$STATE"/{etc,log,ctld,munge,run}
chmod 0755 "$STATE" "$STATE"/{etc,log,run}
cat >"$STATE/cluster.vars" <<EOV
STATE=$STATE
BR=$BR
ID=$ID
NET=$NET
NODES=$NODES
PROCTRACK=$PROCTRACK
EOV

# the test user, who submits every job
if ! id "$USER_NAME" >/dev/null 2>&1; then
	useradd -m -s /bin/bash "$USER_NAME"
fi

# munge: one daemon, its own key and socket
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chown -R munge: "$STATE/munge"
chmod 0700 "$STATE/munge"
chmod 0400 "$STATE/munge/munge.key"
mkdir -p "$STATE/munge-sock"
chown munge: "$STATE/munge-sock"
chmod 0755 "$STATE/munge-sock"
SOCK=$STATE/munge-sock/munge.socket
runuser -u munge -- munged --socket="$SOCK" --key-file="$STATE/munge/munge.key" \
	--pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
	--seed-file="$STATE/munge/munged.seed"
for ((i = 0; i < 50; i++)); do [ -S "$SOCK" ] && break; sleep 0.1; done
cp "$STATE/munge/munged.pid" "$STATE/run/munged.pid"

# each node mounts its own memory at /dev/shm and /local (node.sh): a
# mount point for the second, empty on the host
[ -d /local ] || mkdir -m 0755 /local

# the network: a bridge holding the controller's address, a namespace per node
ip link add "$BR" type bridge
ip addr add "$CTL_ADDR/24" dev "$BR"
ip link set "$BR" up
hosts=$STATE/etc/hosts
{
	echo "127.0.0.1 localhost"
	echo "$CTL_ADDR ctl"
	for n in $(seq 1 $NODES); do echo "$NET.$n node$n"; done
} >"$hosts"
chmod 0644 "$hosts"
for n in $(seq 1 $NODES); do
	ns=crcl$ID-node$n
	ip netns add "$ns"
	ip link add "cc${ID}h$n" type veth peer name "cc${ID}n$n"
	ip link set "cc${ID}n$n" netns "$ns"
	ip link set "cc${ID}h$n" master "$BR" up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "cc${ID}n$n" name eth0
	ip -n "$ns" addr add "$NET.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	mkdir -p "$STATE/node$n/spool" "$STATE/node$n/tmp"
	chmod 1777 "$STATE/node$n/tmp"
	chmod 0755 "$STATE/node$n"
done

# configuration
plug=$STATE/etc/plugstack.conf
: >"$plug"
if [ -n "$PREFIX" ] && [ -e "$PREFIX/lib/crest/spank_crest.so" ]; then
	echo "required $PREFIX/lib/crest/spank_crest.so ${CREST_PLUGSTACK_ARGS:-}" >"$plug"
fi
cat >"$STATE/etc/taskprolog.sh" <<EOT
#!/bin/sh
# each node's own TMPDIR for the job, as a site's TaskProlog would make it
d=$STATE/\$(hostname)/tmp/\$SLURM_JOB_ID
mkdir -p "\$d" && chmod 0700 "\$d"
echo "export TMPDIR=\$d"
EOT
chmod 0755 "$STATE/etc/taskprolog.sh"
cat >"$STATE/etc/cgroup.conf" <<EOC
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
CgroupAutomount=no
ConstrainCores=no
ConstrainRAMSpace=no
EOC
conf=$STATE/etc/slurm.conf
{
	cat <<EOC
ClusterName=crest
SlurmctldHost=ctl($CTL_ADDR)
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/%n/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/$PROCTRACK
TaskPlugin=task/none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
SlurmdTimeout=10
ReturnToService=2
KillWait=10
JobRequeue=1
MinJobAge=30
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
PlugStackConfig=$plug
TaskProlog=$STATE/etc/taskprolog.sh
MpiDefault=none
EOC
	for n in $(seq 1 $NODES); do
		echo "NodeName=node$n NodeAddr=$NET.$n Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN"
	done
	echo "PartitionName=low Nodes=node[1-$NODES] Default=YES PriorityTier=1 GraceTime=20 PreemptMode=REQUEUE MaxTime=INFINITE State=UP"
	echo "PartitionName=high Nodes=node[1-$NODES] PriorityTier=10 PreemptMode=OFF MaxTime=INFINITE State=UP"
} >"$conf"
chmod 0644 "$conf" "$plug" "$STATE/etc/cgroup.conf"

# the controller: root network namespace, its own UTS namespace
unshare --uts sh -c "hostname ctl; exec slurmctld -D -i -f '$conf'" \
	>"$STATE/log/slurmctld.out" 2>&1 </dev/null &
echo $! >"$STATE/run/slurmctld.daemon.pid"

# the nodes
for n in $(seq 1 $NODES); do
	"$HERE/node.sh" --state "$STATE" start "$n"
done

cat >"$STATE/env.sh" <<EOE
# source me: the test cluster of tests/cluster/up.sh
export SLURM_CONF=$conf
export CREST_CLUSTER_STATE=$STATE
export CREST_CLUSTER_USER=$USER_NAME
EOE
chmod 0644 "$STATE/env.sh"

export SLURM_CONF=$conf
for ((i = 0; i < 600; i++)); do
	idle=$(sinfo -h -N -p low -t idle -o '%N' 2>/dev/null | sort -u | grep -c . || true)
	[ "$idle" -eq "$NODES" ] && break
	sleep 0.1
done
if [ "$idle" -ne "$NODES" ]; then
	echo "up.sh: only $idle of $NODES nodes became idle in 60 s; see $STATE/log/slurmctld.log and $STATE/log/slurmd.node*.log" >&2
	sinfo >&2 || true
	exit 1
fi
echo "$STATE/env.sh"
