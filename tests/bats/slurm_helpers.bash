# Shared by the bats tests of crest under Slurm (slurm.bats,
# slurm_linuxproc.bats): a cluster of tests/cluster/up.sh per file, crest
# installed in a prefix with spank_crest.so in plugstack.conf, jobs
# submitted by the unprivileged user crest-test, the workload
# slurm_app.py.
# shellcheck shell=bash

# slurm_setup_file PROCTRACK [PLUGSTACK_ARGS]: the cluster, the prefix, the
# work folder; PLUGSTACK_ARGS are more of crest's plugstack.conf keys
slurm_setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to run a Slurm cluster"
	command -v slurmd >/dev/null || skip "slurmd is missing (scripts/install-deps.sh)"
	[ -e "$TOP/build/lib/crest/spank_crest.so" ] || skip "spank_crest.so was not built (libslurm-dev)"
	if ! ip netns add "crest-probe-$$" 2>/dev/null; then
		skip "ip netns cannot be used here: no cluster of network namespaces"
	fi
	ip netns del "crest-probe-$$"
	if [ "$1" = cgroup ]; then
		mountpoint -q /sys/fs/cgroup/freezer && mkdir "/sys/fs/cgroup/freezer/crest-probe-$$" 2>/dev/null ||
			skip "no cgroup v1 freezer to give each node (proctrack/cgroup); slurm_linuxproc.bats runs without"
		rmdir "/sys/fs/cgroup/freezer/crest-probe-$$"
	fi
	export S=$(mktemp -d /tmp/crest-slurm.XXXXXX)
	chmod 0755 "$S"
	export P=$S/prefix CKB=$S/ck W=$S/work STATE=$S/cluster
	make -C "$TOP" -s install PREFIX="$P" >/dev/null
	chmod -R a+rX "$P"
	mkdir -p "$CKB" "$W"
	chmod 1777 "$CKB"
	# the nodes share the host's /tmp: it stands for a shared file system
	# (if it is a tmpfs here, crest must be told that this is fine)
	local shared=
	[ "$(stat -f -c %T /tmp)" = tmpfs ] && shared=local_ok=yes
	CREST_PLUGSTACK_ARGS="dir=$CKB/%u interval_min=1s timeout=10 $shared ${2:-}" \
		"$TOP/tests/cluster/up.sh" --state "$STATE" --prefix "$P" --proctrack "$1" >"$S/up.log" 2>&1 || {
		cat "$S/up.log" >&3
		return 1
	}
	chown crest-test "$W"
	cp "$TOP/tests/bats/slurm_app.py" "$W/"
	cat >"$W/job.sh" <<'JOB'
#!/bin/bash
echo "run SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST"
export CREST_LOG=info	# libcrest says what it does, in the job's output
if [ -n "${MARKS:-}" ]; then mkdir -p "$MARKS" || exit 1; fi
srun python3 slurm_app.py "$STEPS" 0.1
echo "job done (srun exit $?)"
JOB
	chmod 0755 "$W/job.sh"
	chmod a+r "$W/slurm_app.py"
	# the TCP ring (tcp_ring.py): one rank per task, each connected to the
	# tasks of ranks r-1 and r+1, on the same node or another; its
	# rendezvous folder is rdv.<job id> in $W
	cp "$TOP/tests/bats/tcp_ring.py" "$W/"
	chmod a+r "$W/tcp_ring.py"
	cat >"$W/ring.sh" <<'JOB'
#!/bin/bash
echo "run SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST"
export CREST_LOG=info
srun python3 tcp_ring.py --steps "$STEPS" --delay "$DELAY" --every 10
echo "job done"
JOB
	chmod 0755 "$W/ring.sh"
	# the same step twice in one job (folders <key> and <key>.2)
	cat >"$W/twice.sh" <<'JOB'
#!/bin/bash
echo "run SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST"
srun python3 slurm_app.py "$STEPS" 0.1
echo "between the steps"
srun python3 slurm_app.py "$STEPS" 0.1
echo "job done (srun exit $?)"
JOB
	chmod 0755 "$W/twice.sh"
}

slurm_teardown_file() {
	[ -n "${STATE:-}" ] && "$TOP/tests/cluster/down.sh" --state "$STATE"
	[ -n "${S:-}" ] && rm -rf "$S"
	true
}

slurm_teardown() {
	# a node a failed test left down
	if [ -n "${FAILED_NODE:-}" ]; then
		"$TOP/tests/cluster/node.sh" --state "$STATE" return "$FAILED_NODE"
		FAILED_NODE=
	fi
	# what a failed test left in the queue
	as_user scancel -u crest-test 2>/dev/null
	local f
	for f in "$W"/out.*; do
		[ -e "$f" ] && { echo "--- $f"; cat "$f"; }
	done
	for f in "$CKB"/crest-test/*/*/coord.log "$CKB"/crest-test/*/*/nodes/n*/coord.log; do
		[ -e "$f" ] && { echo "--- $f"; grep -v -e 'stopped for' -e registered -e disconnected "$f" | tail -n 25; }
	done
	for f in "$STATE"/log/slurmd.node*.log; do
		[ -e "$f" ] && { echo "--- $f"; grep -v -e 'debug' "$f" | tail -n 15; }
	done
	rm -f "$W"/out.*
	true
}

as_user() {
	(cd "$W" && "$TOP/tests/cluster/as-user.sh" --state "$STATE" "$@")
}

# submit ARGS...: sbatch as the user; the job id in J
submit() {
	run_logged as_user sbatch --parsable -o "out.%j" --open-mode=append "$@"
	[ "$status" -eq 0 ]
	J=${output%%;*}
}

job_field() {
	as_user scontrol show job "$1" -o 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# wait_state JOB REGEX SECONDS: until the job's state matches
wait_state() {
	local i st
	for ((i = 0; i < $3 * 5; i++)); do
		st=$(job_field "$1" JobState)
		[[ "$st" =~ ^($2)$ ]] && return 0
		sleep 0.2
	done
	echo "job $1 is $st after $3 s, expected $2"
	as_user scontrol show job "$1" || true
	return 1
}

# the step folder of job $1 (one checkpointed step)
step_dir() {
	ls -d "$CKB"/crest-test/"$1"/*/ 2>/dev/null | head -n 1 | sed 's,/$,,'
}

# wait_log JOB TEXT SECONDS: until the step's root log says TEXT
wait_log() {
	local i d
	for ((i = 0; i < $3 * 10; i++)); do
		d=$(step_dir "$1")
		[ -n "$d" ] && grep -q "$2" "$d/coord.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "job $1: '$2' not in its coordinator's log after $3 s"
	return 1
}

# check_results STEPS JOB [RANKS]: the answers in out.JOB are those of an
# uninterrupted run of STEPS steps, one for each of RANKS (default: the 4
# tasks) and no other
check_results() {
	local r want n=0
	for r in ${3:-0 1 2 3}; do
		want=$(python3 "$W/slurm_app.py" --expect "$r" "$1")
		grep -qx "$want" "$W/out.$2" || { echo "task $r: expected '$want'"; return 1; }
		n=$((n + 1))
	done
	[ "$(grep -c '^result ' "$W/out.$2")" -eq "$n" ]
}

# the ring's answers (ring.sh, 4 tasks, $1 steps) in out.$2 are those of an
# uninterrupted ring, and no rank failed
check_ring_results() {
	local r want
	for r in 0 1 2 3; do
		want=$(python3 "$W/tcp_ring.py" --expect --size 4 --steps "$1" --rank "$r")
		grep -qx "$want" "$W/out.$2" || { echo "rank $r: expected '$want'"; return 1; }
	done
	[ "$(grep -c '^result ' "$W/out.$2")" -eq 4 ]
	! grep -e '^FAIL' -e '^Traceback' "$W/out.$2" || false
}

# rerun_to_end JOB SECONDS: Slurm requeues JOB within SECONDS, and the
# rerun completes.  Slurm holds a requeued job for about 2 minutes
# (measured here: 123 s); the test lets it go at once, as root, once it is
# pending again.
rerun_to_end() {
	local i
	for ((i = 0; i < $2 * 2; i++)); do
		[ "$(job_field "$1" Restarts)" = 1 ] && break
		sleep 0.5
	done
	[ "$(job_field "$1" Restarts)" = 1 ] || { echo "job $1 was not requeued within $2 s"; return 1; }
	wait_state "$1" 'PENDING|RUNNING' 60
	SLURM_CONF=$STATE/etc/slurm.conf scontrol update JobId="$1" StartTime=now || true
	wait_state "$1" COMPLETED 120
}

# release_until_done JOB SECONDS: until JOB completes, each time Slurm holds
# it after a requeue (about 2 minutes, Reason=BeginTime) let it go at once
release_until_done() {
	local i st
	for ((i = 0; i < $2 * 2; i++)); do
		st=$(job_field "$1" JobState)
		[ "$st" = COMPLETED ] && return 0
		[[ "$st" =~ ^(FAILED|CANCELLED|TIMEOUT|NODE_FAIL)$ ]] && break
		if [ "$st" = PENDING ] && [ "$(job_field "$1" Reason)" = BeginTime ]; then
			SLURM_CONF=$STATE/etc/slurm.conf scontrol update JobId="$1" StartTime=now || true
		fi
		sleep 0.5
	done
	echo "job $1 is $st, not COMPLETED"
	as_user scontrol show job "$1" || true
	return 1
}

# the preemption flow (both proctrack plugins): a low-partition job gets
# SIGTERM, takes a final checkpoint, holds, is requeued at the end of its
# grace time, and its rerun continues from that checkpoint
slurm_preemption() {
	submit -N2 --ntasks-per-node=2 -p low --requeue --checkpoint=0 --export=ALL,STEPS=200 job.sh
	local low=$J
	wait_log "$low" 'the step has started' 30
	sleep 2
	# a high-priority job that needs every core of every node
	run_logged as_user sbatch --parsable -p high -N4 --ntasks-per-node=2 -o /dev/null --wrap "sleep 2"
	[ "$status" -eq 0 ]
	wait_log "$low" 'a final checkpoint' 40
	# requeued, then run again after the high job
	rerun_to_end "$low" 60
	run_logged cat "$W/out.$low"
	grep -q 'run SLURM_RESTART_COUNT=0' "$W/out.$low"
	grep -q 'run SLURM_RESTART_COUNT=1' "$W/out.$low"
	check_results 200 "$low"
	# each task started once, in the first run: the rerun continued
	[ "$(grep -c '^start' "$W/out.$low")" -eq 4 ]
}
